// Better Auth 1.7.25's official client (createAuthClient with the organization,
// two-factor, admin and API-key client plugins) driving one auth server over
// HTTP, for neutrino-axum's differential test (tests/official_client.rs):
//
//   node client.mjs <baseURL> [admin-email:admin-password]
//
// <baseURL> is the server's origin (the client appends /api/auth). The server
// must trust that origin, which it does by default. The optional admin is a
// user the server was seeded with whose role is `admin` (without one the
// admin steps fail with the server's answer).
//
// It prints ONE JSON document: {"steps": [...]}, each step
// {step, section, status, code, body, cookies} where
// * step is `<section>: <what it does>`; the sections (core, organization,
//   two-factor, api-key, admin) each start with their own users;
// * status is the HTTP status of the step's own request (0 when no request
//   was made: `skipped` then says why);
// * code is the error body's `code` (null on success);
// * body is the answer with volatile values normalized: IDs and tokens
//   become placeholders naming the step that first showed them (the same
//   value gets the same placeholder, so "this is the user's ID" survives),
//   keys their prefix and length, dates become their distance from now
//   rounded to a unit, secrets and codes become placeholders; booleans, roles,
//   names, emails, counts and messages are kept; object keys are sorted;
// * cookies lists what the answer did to each cookie it named, as a browser
//   keeps it (the last Set-Cookie of a name wins): `name=set`,
//   `name=set,session` (no Max-Age or Expires) or `name=deleted`; sorted.
// A 404 with an empty body is what a server answers for a route it does not
// have: the step is recorded with `unsupported: true`, and the script goes on.
import { createAuthClient } from "better-auth/client";
import { adminClient, organizationClient, twoFactorClient } from "better-auth/client/plugins";
import { apiKeyClient } from "@better-auth/api-key/client";
import { createHmac } from "node:crypto";

const [baseURL, adminArg] = process.argv.slice(2);
if (!baseURL || !/^https?:\/\//.test(baseURL)) {
  console.error("usage: client.mjs <baseURL> [admin-email:admin-password]");
  process.exit(2);
}
const origin = new URL(baseURL).origin;
const PASSWORD = "correct horse battery staple";
const [adminEmail, adminPassword] = adminArg
  ? [adminArg.slice(0, adminArg.indexOf(":")), adminArg.slice(adminArg.indexOf(":") + 1)]
  : ["admin@example.com", PASSWORD];

// ---------------------------------------------------------------- the client

/** One browser-like user: the official client, a cookie jar and the log of
 * every response it received. */
function user(label) {
  const jar = new Map();
  const log = [];
  const customFetchImpl = async (input, init = {}) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const headers = new Headers(init.headers || (typeof input === "object" && input.headers) || {});
    if (jar.size > 0) {
      headers.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "));
    }
    headers.set("origin", origin);
    const response = await fetch(url, { ...init, headers, redirect: "manual" });
    const cookies = [];
    for (const line of response.headers.getSetCookie()) {
      const parts = line.split(";").map((p) => p.trim());
      const eq = parts[0].indexOf("=");
      const name = parts[0].slice(0, eq);
      const value = parts[0].slice(eq + 1);
      const maxAge = parts.find((p) => /^max-age=/i.test(p));
      const expires = parts.find((p) => /^expires=/i.test(p));
      const deleted =
        value === "" ||
        (maxAge && Number(maxAge.split("=")[1]) <= 0) ||
        (expires && Date.parse(expires.slice(8)) <= Date.now());
      if (deleted) {
        jar.delete(name);
        cookies.push(`${name}=deleted`);
      } else {
        jar.set(name, value);
        cookies.push(maxAge || expires ? `${name}=set` : `${name}=set,session`);
      }
    }
    // Read the body once here so the log can tell an empty 404 (no route)
    // from an error the route answered; hand the client a fresh response.
    const text = await response.text();
    log.push({ path: new URL(url).pathname, status: response.status, text, cookies });
    return new Response(text === "" && [204, 304].includes(response.status) ? null : text, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
  const client = createAuthClient({
    baseURL,
    plugins: [
      organizationClient(),
      twoFactorClient({ onTwoFactorRedirect() {} }),
      adminClient(),
      apiKeyClient(),
    ],
    fetchOptions: { customFetchImpl },
  });
  return { label, client, jar, log };
}

// ------------------------------------------------------------- normalization

// A volatile value's placeholder names the step that first showed it and its
// number within that step (`<id:core: sign-up#1>`), so "the same ID as the
// user of that step" survives normalization, and a difference in one step
// (a token not rotated) does not renumber every later one.
const placeholders = new Map();
const counters = new Map();
let currentStep = "";
function placeholder(kind, value) {
  const key = `${kind}\u0000${value}`;
  if (!placeholders.has(key)) {
    const counter = `${kind}\u0000${currentStep}`;
    const n = (counters.get(counter) ?? 0) + 1;
    counters.set(counter, n);
    placeholders.set(key, `<${kind}:${currentStep}#${n}>`);
  }
  return placeholders.get(key);
}

function relativeDate(ms) {
  const delta = (ms - Date.now()) / 1000;
  const abs = Math.abs(delta);
  const sign = delta < 0 ? "-" : "+";
  if (abs < 120) return "<date:now>";
  if (abs >= 86400 - 1800) return `<date:${sign}${Math.round(abs / 86400)}d>`;
  if (abs >= 3600 - 120) return `<date:${sign}${Math.round(abs / 3600)}h>`;
  return `<date:${sign}${Math.round(abs / 60)}m>`;
}

const DATE_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?(Z|[+-]\d\d:\d\d)$/;
const ID_KEYS = new Set([
  "accountId",
  "id",
  "userId",
  "organizationId",
  "inviterId",
  "referenceId",
  "impersonatedBy",
  "activeOrganizationId",
  "activeTeamId",
  "teamId",
  "keyId",
]);
const TOKEN_KEYS = new Set(["token"]);

function normalize(value, key = "") {
  if (value === null || value === undefined) return value ?? null;
  if (value instanceof Date) return relativeDate(value.getTime());
  if (Array.isArray(value)) {
    if (key === "backupCodes") {
      return value.map((c) =>
        typeof c === "string" && /^[A-Za-z0-9]{5}-[A-Za-z0-9]{5}$/.test(c) ? "<backup-code>" : normalize(c),
      );
    }
    return value.map((v) => normalize(v, key));
  }
  if (typeof value === "object") {
    const out = {};
    for (const k of Object.keys(value).sort()) out[k] = normalize(value[k], k);
    return out;
  }
  if (typeof value !== "string") return value;
  if (DATE_RE.test(value)) return relativeDate(Date.parse(value));
  if (ID_KEYS.has(key) && value !== "") return placeholder("id", value);
  if (TOKEN_KEYS.has(key) && value !== "") return placeholder("token", value);
  if (key === "key") {
    // An API key in clear: its prefix and length are the observable format.
    const prefix = value.match(/^[A-Za-z0-9]*_/)?.[0] ?? "";
    return `<api-key prefix=${prefix || "none"} length=${value.length}>`;
  }
  if (key === "start") return `<key-start length=${value.length}>`;
  if (key === "totpURI") {
    return value.replace(/secret=[A-Z2-7]+=*/i, "secret=<secret>");
  }
  if (key === "ipAddress" || key === "userAgent") return value === "" ? "" : `<${key}>`;
  return value;
}

// ------------------------------------------------------------------- steps

const steps = [];
let currentSection = "";

/** Starts a section of the flow: its steps are named `<section>: <step>`. */
function section(name) {
  currentSection = name;
}

/** Runs one call of the official client as a named step and records it. A
 * step that throws is recorded with the exception, never stops the run. */
async function step(title, who, call, { need = [] } = {}) {
  const name = `${currentSection}: ${title}`;
  const missing = need.filter(([, v]) => v === undefined || v === null).map(([n]) => n);
  if (missing.length > 0) {
    steps.push({ step: name, section: currentSection, status: 0, skipped: `needs ${missing.join(", ")} from an earlier step` });
    return undefined;
  }
  const from = who.log.length;
  let result;
  let thrown;
  try {
    result = await call(who.client);
  } catch (e) {
    thrown = e;
  }
  const own = who.log[from];
  currentStep = name;
  const entry = { step: name, section: currentSection, status: own ? own.status : 0 };
  if (thrown) entry.exception = String(thrown?.message ?? thrown);
  if (own && own.status === 404 && own.text === "") {
    entry.unsupported = true;
    entry.code = null;
    entry.body = null;
  } else if (result) {
    entry.code = result.error ? (result.error.code ?? null) : null;
    if (result.error) {
      const { status: _s, statusText: _t, ...rest } = result.error;
      entry.body = normalize(rest);
    } else {
      entry.body = normalize(result.data);
    }
  }
  // What the answer leaves in a browser's jar: the last Set-Cookie of each
  // name wins.
  const last = new Map();
  for (const c of own ? own.cookies : []) last.set(c.slice(0, c.indexOf("=")), c);
  entry.cookies = [...last.keys()].sort().map((k) => last.get(k));
  steps.push(entry);
  return result && !result.error ? result.data : undefined;
}

function base32Decode(s) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let acc = 0;
  const out = [];
  for (const ch of s.replace(/=+$/, "").toUpperCase()) {
    const v = alphabet.indexOf(ch);
    if (v < 0) throw new Error("bad base32 secret");
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((acc >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 6238 TOTP (HMAC-SHA1, 6 digits, 30 s) of the secret in an otpauth
 * URI, `offset` periods from now. */
function totp(uri, offset = 0) {
  const secret = new URL(uri).searchParams.get("secret");
  const counter = Math.floor(Date.now() / 1000 / 30) + offset;
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac("sha1", base32Decode(secret)).update(msg).digest();
  const o = mac[mac.length - 1] & 0xf;
  const n = ((mac.readUInt32BE(o) & 0x7fffffff) % 1_000_000).toString();
  return n.padStart(6, "0");
}

// -------------------------------------------------------------------- flow
//
// Five sections, each with its own users, so a section a server lacks leaves
// the others' state as it would be.

const aliceEmail = "alice@example.com";
const alice = user("alice");

section("core");
await step("sign-up", alice, (c) => c.signUp.email({ name: "Alice", email: aliceEmail, password: PASSWORD }));
await step("get-session after sign-up", alice, (c) => c.getSession());
await step("sign-up with a taken email", user("stranger"), (c) =>
  c.signUp.email({ name: "Alice again", email: aliceEmail, password: PASSWORD }),
);
await step("sign-up with a short password", user("stranger"), (c) =>
  c.signUp.email({ name: "Shorty", email: "shorty@example.com", password: "short" }),
);
await step("sign-out", alice, (c) => c.signOut());
await step("get-session after sign-out", alice, (c) => c.getSession());
await step("sign-in with a wrong password", alice, (c) =>
  c.signIn.email({ email: aliceEmail, password: "not the password" }),
);
await step("sign-in with an unknown email", user("stranger"), (c) =>
  c.signIn.email({ email: "nobody@example.com", password: PASSWORD }),
);
await step("sign-in", alice, (c) => c.signIn.email({ email: aliceEmail, password: PASSWORD }));
await step("get-session", alice, (c) => c.getSession());
await step("get-session without a cookie", user("stranger"), (c) => c.getSession());
await step("verify-password with a wrong password", alice, (c) =>
  c.$fetch("/verify-password", { method: "POST", body: { password: "not the password" } }),
);
await step("verify-password", alice, (c) => c.$fetch("/verify-password", { method: "POST", body: { password: PASSWORD } }));
await step("list-accounts", alice, (c) => c.listAccounts());
await step("list-accounts without a cookie", user("stranger"), (c) => c.listAccounts());

// Organizations: create, invite, accept, set-active, update role, leave.
section("organization");
const olivia = user("olivia");
const oscar = user("oscar");
const oscarEmail = "oscar@example.com";
await step("sign-up the owner", olivia, (c) =>
  c.signUp.email({ name: "Olivia", email: "olivia@example.com", password: PASSWORD }),
);
await step("sign-up the invitee", oscar, (c) => c.signUp.email({ name: "Oscar", email: oscarEmail, password: PASSWORD }));
const org = await step("organization create", olivia, (c) => c.organization.create({ name: "Acme", slug: "acme" }));
await step("organization create with a taken slug", oscar, (c) =>
  c.organization.create({ name: "Acme 2", slug: "acme" }),
);
const invitation = await step(
  "organization invite",
  olivia,
  (c) => c.organization.inviteMember({ email: oscarEmail, role: "member", organizationId: org.id }),
  { need: [["organization", org]] },
);
await step(
  "organization invite by a non-member",
  oscar,
  (c) => c.organization.inviteMember({ email: "carol@example.com", role: "member", organizationId: org.id }),
  { need: [["organization", org]] },
);
await step("organization get-invitation", oscar, (c) => c.organization.getInvitation({ query: { id: invitation.id } }), {
  need: [["invitation", invitation]],
});
await step(
  "organization accept invitation",
  oscar,
  (c) => c.organization.acceptInvitation({ invitationId: invitation.id }),
  { need: [["invitation", invitation]] },
);
await step(
  "organization accept invitation twice",
  oscar,
  (c) => c.organization.acceptInvitation({ invitationId: invitation.id }),
  { need: [["invitation", invitation]] },
);
await step(
  "organization set-active",
  oscar,
  (c) => c.organization.setActive({ organizationId: org.id }),
  { need: [["organization", org]] },
);
await step("get-session with an active organization", oscar, (c) => c.getSession());
const full = await step(
  "organization get-full-organization",
  olivia,
  (c) => c.organization.getFullOrganization({ query: { organizationId: org.id } }),
  { need: [["organization", org]] },
);
const oscarMember = full?.members?.find((m) => m.user?.email === oscarEmail);
await step(
  "organization update-member-role by a member",
  oscar,
  (c) => c.organization.updateMemberRole({ memberId: oscarMember.id, role: "owner", organizationId: org.id }),
  { need: [["member", oscarMember]] },
);
await step(
  "organization update-member-role",
  olivia,
  (c) => c.organization.updateMemberRole({ memberId: oscarMember.id, role: "admin", organizationId: org.id }),
  { need: [["member", oscarMember]] },
);
await step("organization get-active-member", oscar, (c) => c.organization.getActiveMember());
await step("organization has-permission", olivia, (c) =>
  c.organization.hasPermission({ permissions: { member: ["create"] }, organizationId: org.id }),
  { need: [["org", org]] },
);
await step("organization has-permission of a member", oscar, (c) =>
  c.organization.hasPermission({ permissions: { organization: ["delete"] }, organizationId: org.id }),
  { need: [["org", org]] },
);
await step(
  "organization get-full-organization by slug",
  olivia,
  (c) => c.organization.getFullOrganization({ query: { organizationSlug: "acme", membersLimit: 1 } }),
);
await step(
  "organization leave as the only owner",
  olivia,
  (c) => c.organization.leave({ organizationId: org.id }),
  { need: [["organization", org]] },
);
await step(
  "organization leave",
  oscar,
  (c) => c.organization.leave({ organizationId: org.id }),
  { need: [["organization", org]] },
);
await step("organization list after leaving", oscar, (c) => c.organization.list());
await step("organization list", olivia, (c) => c.organization.list());

// Two-factor: enable, sign in with a TOTP and with a backup code.
section("two-factor");
const tina = user("tina");
const tinaEmail = "tina@example.com";
await step("sign-up", tina, (c) => c.signUp.email({ name: "Tina", email: tinaEmail, password: PASSWORD }));
await step("two-factor enable with a wrong password", tina, (c) => c.twoFactor.enable({ password: "not the password" }));
const enabled = await step("two-factor enable", tina, (c) => c.twoFactor.enable({ password: PASSWORD }));
const uri = enabled?.totpURI;
const backupCodes = enabled?.backupCodes;
await step("two-factor verify-totp with a wrong code", tina, (c) => c.twoFactor.verifyTotp({ code: "000000" }), {
  need: [["totpURI", uri]],
});
// The enabling code is this period's; the sign-in code the next one (both
// inside the ±1 window), so a server that refuses a replayed code accepts it.
await step("two-factor get-totp-uri with a wrong password", tina, (c) =>
  c.twoFactor.getTotpUri({ password: "not the password" }),
);
await step("two-factor get-totp-uri", tina, (c) => c.twoFactor.getTotpUri({ password: PASSWORD }));
await step("two-factor verify-totp (enabling)", tina, (c) => c.twoFactor.verifyTotp({ code: totp(uri, 0) }), {
  need: [["totpURI", uri]],
});
await step("get-session with two-factor enabled", tina, (c) => c.getSession());
await step("sign-out before the TOTP sign-in", tina, (c) => c.signOut());
await step("sign-in with two-factor", tina, (c) => c.signIn.email({ email: tinaEmail, password: PASSWORD }));
await step("get-session while the second factor is pending", tina, (c) => c.getSession());
await step("two-factor verify-totp (sign-in)", tina, (c) => c.twoFactor.verifyTotp({ code: totp(uri, 1) }), {
  need: [["totpURI", uri]],
});
await step("get-session after the TOTP sign-in", tina, (c) => c.getSession());
await step("sign-out before the backup-code sign-in", tina, (c) => c.signOut());
await step("sign-in for the backup code", tina, (c) => c.signIn.email({ email: tinaEmail, password: PASSWORD }));
await step(
  "two-factor verify-backup-code",
  tina,
  (c) => c.twoFactor.verifyBackupCode({ code: backupCodes[0] }),
  { need: [["backupCodes", backupCodes]] },
);
await step("get-session after the backup-code sign-in", tina, (c) => c.getSession());
await step("sign-out before reusing the backup code", tina, (c) => c.signOut());
await step("sign-in to reuse the backup code", tina, (c) => c.signIn.email({ email: tinaEmail, password: PASSWORD }));
await step(
  "two-factor verify-backup-code reused",
  tina,
  (c) => c.twoFactor.verifyBackupCode({ code: backupCodes[0] }),
  { need: [["backupCodes", backupCodes]] },
);
await step(
  "two-factor verify-backup-code (second code)",
  tina,
  (c) => c.twoFactor.verifyBackupCode({ code: backupCodes[1] }),
  { need: [["backupCodes", backupCodes]] },
);

await step("sign-out before trusting the device", tina, (c) => c.signOut());
await step("sign-in to trust the device", tina, (c) => c.signIn.email({ email: tinaEmail, password: PASSWORD }));
await step(
  "two-factor verify-backup-code trusting the device",
  tina,
  (c) => c.twoFactor.verifyBackupCode({ code: backupCodes[2], trustDevice: true }),
  { need: [["backupCodes", backupCodes]] },
);
await step("sign-out on the trusted device", tina, (c) => c.signOut());
await step("sign-in on the trusted device", tina, (c) => c.signIn.email({ email: tinaEmail, password: PASSWORD }));
await step("get-session after the trusted sign-in", tina, (c) => c.getSession());

// API keys.
section("api-key");
const kim = user("kim");
await step("sign-up", kim, (c) => c.signUp.email({ name: "Kim", email: "kim@example.com", password: PASSWORD }));
const key = await step("api-key create", kim, (c) =>
  c.apiKey.create({ name: "ci", expiresIn: 60 * 60 * 24 * 2, prefix: "nt_" }),
);
await step("api-key create with a server-only field", kim, (c) => c.apiKey.create({ name: "ci", remaining: 5 }));
await step("api-key list", kim, (c) => c.apiKey.list());
await step("api-key get", kim, (c) => c.apiKey.get({ query: { id: key.id } }), { need: [["key", key]] });
await step("api-key get by another user", alice, (c) => c.apiKey.get({ query: { id: key.id } }), {
  need: [["key", key]],
});
await step("api-key update", kim, (c) => c.apiKey.update({ keyId: key.id, name: "ci-renamed" }), {
  need: [["key", key]],
});
await step("api-key delete", kim, (c) => c.apiKey.delete({ keyId: key.id }), { need: [["key", key]] });
await step("api-key get after delete", kim, (c) => c.apiKey.get({ query: { id: key.id } }), {
  need: [["key", key]],
});

// Admin: ban, impersonate, and the user routes.
section("admin");
const boss = user("admin");
const bob = user("bob");
const bobEmail = "bob@example.com";
const bobUp = await step("sign-up", bob, (c) => c.signUp.email({ name: "Bob", email: bobEmail, password: PASSWORD }));
const bobId = bobUp?.user?.id;
await step("admin list-users by a non-admin", bob, (c) => c.admin.listUsers({ query: { limit: 10 } }));
const bossIn = await step("admin sign-in", boss, (c) => c.signIn.email({ email: adminEmail, password: adminPassword }));
const bossId = bossIn?.user?.id;
await step("admin list-users", boss, (c) =>
  c.admin.listUsers({ query: { searchValue: "bob", searchField: "email", limit: 10 } }),
);
await step("admin ban-user", boss, (c) => c.admin.banUser({ userId: bobId, banReason: "spam" }), {
  need: [["bob's id", bobId]],
});
await step("get-session of the banned user", bob, (c) => c.getSession());
await step("sign-in of the banned user", bob, (c) => c.signIn.email({ email: bobEmail, password: PASSWORD }));
await step("admin unban-user", boss, (c) => c.admin.unbanUser({ userId: bobId }), { need: [["bob's id", bobId]] });
await step("sign-in after the unban", bob, (c) => c.signIn.email({ email: bobEmail, password: PASSWORD }));
await step("admin impersonate-user", boss, (c) => c.admin.impersonateUser({ userId: bobId }), {
  need: [["bob's id", bobId]],
});
await step("get-session while impersonating", boss, (c) => c.getSession());
await step("admin stop-impersonating", boss, (c) => c.admin.stopImpersonating());
await step("get-session after impersonating", boss, (c) => c.getSession());
await step("admin stop-impersonating when not impersonating", boss, (c) => c.admin.stopImpersonating());
await step("admin impersonate-user by a non-admin", bob, (c) => c.admin.impersonateUser({ userId: bossId }), {
  need: [["the admin's id", bossId]],
});
await step("admin impersonate an admin", boss, (c) => c.admin.impersonateUser({ userId: bossId }), {
  need: [["the admin's id", bossId]],
});
await step("admin get-user", boss, (c) => c.admin.getUser({ query: { id: bobId } }), {
  need: [["bob's id", bobId]],
});
await step("admin get-user by a non-admin", bob, (c) => c.admin.getUser({ query: { id: bobId } }), {
  need: [["bob's id", bobId]],
});
const carl = user("carl");
const carlEmail = "carl@example.com";
const created = await step("admin create-user", boss, (c) =>
  c.admin.createUser({ email: carlEmail, password: PASSWORD, name: "Carl", role: "user" }),
);
const carlId = created?.user?.id;
await step("admin create-user with a taken email", boss, (c) =>
  c.admin.createUser({ email: carlEmail, password: PASSWORD, name: "Carl again" }),
);
await step("admin update-user", boss, (c) => c.admin.updateUser({ userId: carlId, data: { name: "Carl B." } }), {
  need: [["carl's id", carlId]],
});
await step("admin update-user without data", boss, (c) => c.admin.updateUser({ userId: carlId, data: {} }), {
  need: [["carl's id", carlId]],
});
const carlPassword = "another password 0123";
await step(
  "admin set-user-password",
  boss,
  (c) => c.admin.setUserPassword({ userId: carlId, newPassword: carlPassword }),
  { need: [["carl's id", carlId]] },
);
await step("sign-in with the old password", carl, (c) => c.signIn.email({ email: carlEmail, password: PASSWORD }));
const carlIn = await step("sign-in with the password the admin set", carl, (c) =>
  c.signIn.email({ email: carlEmail, password: carlPassword }),
);
await step("admin list-user-sessions", boss, (c) => c.admin.listUserSessions({ userId: carlId }), {
  need: [["carl's id", carlId]],
});
await step(
  "admin revoke-user-session",
  boss,
  (c) => c.admin.revokeUserSession({ sessionToken: carlIn.token }),
  { need: [["carl's session", carlIn]] },
);
await step("get-session after the admin revoked it", carl, (c) => c.getSession());
await step("admin has-permission", boss, (c) => c.admin.hasPermission({ permissions: { user: ["create", "ban"] } }));
await step("admin has-permission to impersonate admins", boss, (c) =>
  c.admin.hasPermission({ permissions: { user: ["impersonate-admins"] } }),
);
await step("admin has-permission by a non-admin", bob, (c) =>
  c.admin.hasPermission({ permissions: { user: ["create"] } }),
);
await step("sign-out", boss, (c) => c.signOut());

console.log(JSON.stringify({ steps }, null, 1));
