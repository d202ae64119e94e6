// The real Better Auth on a SQLite file, driven by neutrino-auth's interop test
// (tests/better_auth_interop.rs). Prints one JSON document on stdout.
//
//   node better-auth.mjs init <db> <secret> <email> <password>
//       Runs Better Auth's migrations, signs a user up and in, and prints the
//       user, the session token and the session cookie value Better Auth set.
//   node better-auth.mjs get-session <db> <secret> <cookie value>
//       Prints what auth.api.getSession answers for that session cookie.
//   node better-auth.mjs pending-migrations <db> <secret>
//       Prints the tables and columns Better Auth's migrations would still add.
//   node better-auth.mjs crypt <db> <secret> <hex ciphertext> <plain text>
//       Decrypts the ciphertext with Better Auth's symmetricDecrypt (as its
//       two-factor plugin reads twoFactor.secret) and encrypts the plain text
//       with symmetricEncrypt; prints both.
//   node better-auth.mjs migrate <db> <secret>
//       Runs Better Auth's migrations (with the plugins below) and nothing else.
//   node better-auth.mjs call <db> <secret> <cookie header, - or server> <endpoint> <json>
//       Calls auth.api[endpoint] with that Cookie header and the JSON's `body`
//       and `query`; prints the HTTP status, the JSON answer, the cookies set
//       and the verification emails Better Auth sent meanwhile.
//
// Better Auth runs with the organization, two-factor, admin and API-key
// (@better-auth/api-key, with its defaults, plus a configuration
// "organization" for organization-owned keys) plugins, user
// deletion and email change enabled, and emails captured. With
// BA_GENERATE_ID=uuid in the environment it writes UUIDs
// (advanced.database.generateId: "uuid").
import Database from "better-sqlite3";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { symmetricDecrypt, symmetricEncrypt } from "better-auth/crypto";
import { admin, organization, twoFactor } from "better-auth/plugins";
import { apiKey } from "@better-auth/api-key";

const [mode, dbPath, secret, ...rest] = process.argv.slice(2);
if (!mode || !dbPath || !secret) {
  console.error("usage: better-auth.mjs <init|get-session|pending-migrations|crypt|migrate|call> <db> <secret> ...");
  process.exit(2);
}

const db = new Database(dbPath);
const mails = [];
const auth = betterAuth({
  database: db,
  secret,
  baseURL: "http://localhost:3000",
  emailAndPassword: { enabled: true },
  emailVerification: {
    sendVerificationEmail: async ({ user, url, token }) => {
      mails.push({ to: user.email, url, token });
    },
  },
  user: {
    deleteUser: { enabled: true },
    changeEmail: { enabled: true },
  },
  advanced: process.env.BA_GENERATE_ID === "uuid" ? { database: { generateId: "uuid" } } : {},
  // The API-key plugin's default configuration (user keys) and one for
  // organization-owned keys (referenceId = the organization), as Neutrino
  // names it.
  plugins: [
    organization(),
    twoFactor(),
    admin(),
    apiKey([{ configId: "default" }, { configId: "organization", references: "organization" }]),
  ],
  logger: { disabled: true },
});

const COOKIE = "better-auth.session_token";

function sessionCookie(response) {
  for (const line of response.headers.getSetCookie()) {
    const [pair] = line.split(";");
    const eq = pair.indexOf("=");
    if (pair.slice(0, eq) === COOKIE) return { value: pair.slice(eq + 1), header: line };
  }
  throw new Error("no session cookie in the response");
}

async function init(email, password) {
  const migrations = await getMigrations(auth.options);
  await migrations.runMigrations();
  const up = await auth.api.signUpEmail({
    body: { name: "Better Auth User", email, password },
    asResponse: true,
  });
  if (!up.ok) throw new Error(`sign-up failed: ${up.status} ${await up.text()}`);
  const signUp = await up.json();
  const inn = await auth.api.signInEmail({ body: { email, password }, asResponse: true });
  if (!inn.ok) throw new Error(`sign-in failed: ${inn.status} ${await inn.text()}`);
  const signIn = await inn.json();
  const cookie = sessionCookie(inn);
  return {
    userId: signUp.user.id,
    email: signUp.user.email,
    token: signIn.token,
    cookieValue: cookie.value,
    setCookie: cookie.header,
  };
}

async function getSession(cookieValue) {
  const headers = new Headers({ cookie: `${COOKIE}=${cookieValue}` });
  const result = await auth.api.getSession({ headers });
  return result;
}

async function pendingMigrations() {
  const { toBeCreated, toBeAdded } = await getMigrations(auth.options);
  return {
    toBeCreated: toBeCreated.map((t) => t.table),
    toBeAdded: toBeAdded.map((t) => ({ table: t.table, fields: Object.keys(t.fields) })),
  };
}

async function call(cookie, endpoint, json) {
  const { body, query } = JSON.parse(json);
  const headers = new Headers();
  if (cookie !== "-") headers.set("cookie", cookie);
  const fn = auth.api[endpoint];
  if (!fn) throw new Error(`no endpoint ${endpoint}`);
  let response;
  try {
    // "server": a call of the server itself, without headers (the API-key
    // plugin takes its server-only fields only so).
    response = await fn({ headers: cookie === "server" ? undefined : headers, body, query, asResponse: true });
  } catch (e) {
    return { status: e.statusCode ?? 500, body: e.body ?? { message: String(e.message) }, cookies: {}, mails };
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { text };
  }
  const cookies = {};
  for (const line of response.headers.getSetCookie()) {
    const [pair] = line.split(";");
    const eq = pair.indexOf("=");
    cookies[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { status: response.status, body: parsed, cookies, mails };
}

let out;
if (mode === "init") out = await init(rest[0], rest[1]);
else if (mode === "migrate") {
  const migrations = await getMigrations(auth.options);
  await migrations.runMigrations();
  out = { migrated: true };
} else if (mode === "call") out = await call(rest[0], rest[1], rest[2]);
else if (mode === "get-session") out = await getSession(rest[0]);
else if (mode === "pending-migrations") out = await pendingMigrations();
else if (mode === "crypt")
  out = {
    decrypted: await symmetricDecrypt({ key: secret, data: rest[0] }),
    encrypted: await symmetricEncrypt({ key: secret, data: rest[1] }),
  };
else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
db.close();
process.stdout.write(JSON.stringify(out) + "\n");
