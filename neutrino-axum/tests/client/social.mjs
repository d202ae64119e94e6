// Better Auth 1.7.25's official client doing `signIn.social` end to end
// against the Rust server and a test identity provider, for
// neutrino-axum's tests/social.rs:
//
//   node social.mjs <baseURL> <provider>
//
// The browser's part (following the authorization URL to the provider and
// the provider's redirect back to the callback) is done with fetch and a
// cookie jar shared with the client. Prints ONE JSON document:
// {"signIn": {status, redirect, hasUrl}, "callback": {status, location},
//  "session": {status, email, emailVerified}}.
import { createAuthClient } from "better-auth/client";
import { browser } from "./browser.mjs";

const [baseURL, provider] = process.argv.slice(2);
if (!baseURL || !provider) {
  console.error("usage: social.mjs <baseURL> <provider>");
  process.exit(2);
}
const { fetch: browserFetch, fetchOptions } = browser(baseURL);
const client = createAuthClient({ baseURL, fetchOptions });

const out = {};
const started = await client.signIn.social({
  provider,
  callbackURL: "/dashboard",
  disableRedirect: true,
});
out.signIn = {
  status: started.error ? started.error.status : 200,
  redirect: started.data?.redirect ?? null,
  hasUrl: typeof started.data?.url === "string",
};
if (started.data?.url) {
  const atProvider = await browserFetch(started.data.url);
  const back = atProvider.headers.get("location");
  const callback = await browserFetch(back);
  out.callback = { status: callback.status, location: callback.headers.get("location") };
  const session = await client.getSession();
  out.session = {
    status: session.error ? session.error.status : 200,
    email: session.data?.user?.email ?? null,
    emailVerified: session.data?.user?.emailVerified ?? null,
  };
}
console.log(JSON.stringify(out));
