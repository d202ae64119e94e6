// Better Auth's official client with its sso plugin doing `signIn.sso` end
// to end against the Rust server and a test identity provider, for
// neutrino-axum's tests/sso.rs:
//
//   node sso.mjs <baseURL> '<JSON of signIn.sso's arguments>'
//
// The arguments name the provider (`email`, `organizationSlug`,
// `providerId` or `domain`) and may carry a `loginHint`; `callbackURL` is
// "/dashboard" unless given. The browser's part (following the
// authorization URL to the provider and the provider's redirect back to
// `/sso/callback/:providerId`) is done with fetch and a cookie jar shared
// with the client. Prints ONE JSON document:
// {"signIn": {status, code, redirect, url},
//  "callback": {url, status, location, sessionCookie},
//  "session": {status, email, userId}}.
import { createAuthClient } from "better-auth/client";
import { ssoClient } from "@better-auth/sso/client";
import { browser } from "./browser.mjs";

const [baseURL, args] = process.argv.slice(2);
if (!baseURL || !args) {
  console.error("usage: sso.mjs <baseURL> <JSON of signIn.sso's arguments>");
  process.exit(2);
}
const { fetch: browserFetch, fetchOptions } = browser(baseURL);
const client = createAuthClient({ baseURL, plugins: [ssoClient()], fetchOptions });

const out = {};
const started = await client.signIn.sso({
  callbackURL: "/dashboard",
  ...JSON.parse(args),
});
out.signIn = {
  status: started.error ? started.error.status : 200,
  code: started.error?.code ?? null,
  redirect: started.data?.redirect ?? null,
  url: started.data?.url ?? null,
};
if (started.data?.url) {
  const atProvider = await browserFetch(started.data.url);
  const back = atProvider.headers.get("location");
  const callback = await browserFetch(back);
  const sessionCookieSet = callback.headers
    .getSetCookie()
    .some((c) => c.startsWith("better-auth.session_token=") && !c.startsWith("better-auth.session_token=;"));
  out.callback = {
    url: back,
    status: callback.status,
    location: callback.headers.get("location"),
    sessionCookie: sessionCookieSet,
  };
  const session = await client.getSession();
  out.session = {
    status: session.error ? session.error.status : 200,
    email: session.data?.user?.email ?? null,
    userId: session.data?.user?.id ?? null,
  };
}
console.log(JSON.stringify(out));
