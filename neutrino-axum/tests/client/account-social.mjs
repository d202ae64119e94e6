// Better Auth 1.7.25's official client on the social account routes,
// against the Rust server and a test identity provider, for neutrino-axum's
// tests/account_social.rs:
//
//   node account-social.mjs <baseURL> <provider> <email>
//
// Signs up with <email> and a password, links <provider> with
// `linkSocial` (the browser's part done with fetch and a cookie jar shared
// with the client), then `listAccounts`, `getAccessToken`, `refreshToken`,
// `accountInfo` and `unlinkAccount` (twice: the second is the last
// account). Prints ONE JSON document.
import { createAuthClient } from "better-auth/client";
import { browser } from "./browser.mjs";

const [baseURL, provider, email] = process.argv.slice(2);
if (!baseURL || !provider || !email) {
  console.error("usage: account-social.mjs <baseURL> <provider> <email>");
  process.exit(2);
}
const { fetch: browserFetch, fetchOptions } = browser(baseURL);
const client = createAuthClient({ baseURL, fetchOptions });
const status = (r) => (r.error ? r.error.status : 200);

const out = {};
const up = await client.signUp.email({ email, password: "correct horse battery staple", name: "Ada" });
out.signUp = { status: status(up) };
const linked = await client.linkSocial({ provider, callbackURL: "/linked", disableRedirect: true });
out.linkSocial = {
  status: status(linked),
  redirect: linked.data?.redirect ?? null,
  hasUrl: typeof linked.data?.url === "string",
};
if (linked.data?.url) {
  const atProvider = await browserFetch(linked.data.url);
  const callback = await browserFetch(atProvider.headers.get("location"));
  out.callback = {
    status: callback.status,
    location: callback.headers.get("location"),
    setsSession: callback.headers.getSetCookie().some((c) => c.includes("session_token=")),
  };
}
const accounts = await client.listAccounts();
out.listAccounts = {
  status: status(accounts),
  providers: (accounts.data ?? []).map((a) => a.providerId).sort(),
};
const social = (accounts.data ?? []).find((a) => a.providerId === provider);
const credential = (accounts.data ?? []).find((a) => a.providerId === "credential");
if (social) {
  const token = await client.getAccessToken({ accountId: social.id });
  out.getAccessToken = {
    status: status(token),
    hasAccessToken: typeof token.data?.accessToken === "string" && token.data.accessToken.length > 0,
    scopes: token.data?.scopes ?? null,
  };
  const refreshed = await client.refreshToken({ accountId: social.id });
  out.refreshToken = {
    status: status(refreshed),
    changed: refreshed.data?.accessToken !== token.data?.accessToken,
    providerId: refreshed.data?.providerId ?? null,
  };
  const info = await client.accountInfo({ query: { accountId: social.id } });
  out.accountInfo = {
    status: status(info),
    email: info.data?.user?.email ?? null,
    accountId: info.data?.account?.accountId ?? null,
  };
  const unlinked = await client.unlinkAccount({ accountId: social.id });
  out.unlink = { status: status(unlinked), data: unlinked.data ?? null };
}
if (credential) {
  const last = await client.unlinkAccount({ accountId: credential.id });
  out.unlinkLast = { status: status(last), code: last.error?.code ?? null };
}
console.log(JSON.stringify(out));
