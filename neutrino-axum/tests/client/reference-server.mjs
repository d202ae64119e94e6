// Better Auth 1.7.25's own server, the reference of neutrino-axum's
// official-client test (tests/official_client.rs) and benchmark
// (benches/get_session.rs). It takes the same command line and environment as
// the Rust `auth_server` example:
//
//   node reference-server.mjs <folder> [--stop-with-stdin]
//
// * <folder> holds its SQLite database (better-sqlite3), created and migrated
//   with Better Auth's own migrations on start;
// * NEUTRINO_ADDR: the address to listen on (default 127.0.0.1:3000; port 0
//   picks a free one);
// * NEUTRINO_TRUSTED_ORIGINS: comma-separated trusted origins (default: the
//   server's own URL, which Better Auth always trusts);
// * NEUTRINO_SECRET: the secret that signs cookies (a fixed test value by
//   default);
// * NEUTRINO_SEED_ADMIN: optional `email:password` of a user created on start
//   with the role `admin` (the admin plugin's default admin role), as a host
//   app would bootstrap its first administrator.
//
// It prints `listening on http://…` once it accepts connections, and serves
// Better Auth's handler under /api/auth with the organization, two-factor,
// admin and API-key plugins. Rate limiting is Better Auth's default outside
// production: off. With --stop-with-stdin it also stops when its standard
// input closes (the test that spawned it ended, however it ended).
import http from "node:http";
import path from "node:path";
import fs from "node:fs";
import Database from "better-sqlite3";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import { admin, organization, twoFactor } from "better-auth/plugins";
import { apiKey } from "@better-auth/api-key";

const folder = process.argv[2];
const stopWithStdin = process.argv.includes("--stop-with-stdin");
if (!folder || folder.startsWith("--")) {
  console.error("usage: reference-server.mjs <folder> [--stop-with-stdin]");
  process.exit(2);
}
fs.mkdirSync(folder, { recursive: true });

const addr = process.env.NEUTRINO_ADDR || "127.0.0.1:3000";
const colon = addr.lastIndexOf(":");
const host = addr.slice(0, colon).replace(/^\[|\]$/g, "");
const port = Number(addr.slice(colon + 1));
if (!host || !Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`NEUTRINO_ADDR must be host:port, not ${addr}`);
  process.exit(2);
}
const secret = process.env.NEUTRINO_SECRET || "reference-server-secret-0123456789abcdef";

// Listen first: Better Auth's baseURL is the address actually bound.
let handler = (_req, res) => {
  res.statusCode = 503;
  res.end();
};
const server = http.createServer((req, res) => handler(req, res));
server.keepAliveTimeout = 60_000;
await new Promise((resolve, reject) => {
  server.once("error", reject);
  server.listen(port, host, resolve);
});
const bound = server.address();
const hostPart = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
const baseURL = `http://${hostPart}:${bound.port}`;
const trustedOrigins = (process.env.NEUTRINO_TRUSTED_ORIGINS || "")
  .split(",")
  .map((o) => o.trim())
  .filter(Boolean);

const db = new Database(path.join(folder, "better-auth.sqlite"));
db.pragma("journal_mode = WAL");
const auth = betterAuth({
  database: db,
  secret,
  baseURL,
  trustedOrigins,
  emailAndPassword: { enabled: true },
  plugins: [organization(), twoFactor(), admin(), apiKey()],
  logger: { disabled: true },
});
const migrations = await getMigrations(auth.options);
await migrations.runMigrations();

const seed = process.env.NEUTRINO_SEED_ADMIN;
if (seed) {
  const at = seed.indexOf(":");
  if (at < 1) {
    console.error("NEUTRINO_SEED_ADMIN must be email:password");
    process.exit(2);
  }
  const email = seed.slice(0, at);
  const password = seed.slice(at + 1);
  const exists = db.prepare('SELECT 1 FROM "user" WHERE "email" = ?').get(email);
  if (!exists) {
    await auth.api.signUpEmail({ body: { name: "Admin", email, password } });
  }
  db.prepare('UPDATE "user" SET "role" = \'admin\' WHERE "email" = ?').run(email);
}

handler = toNodeHandler(auth);
console.log(`listening on ${baseURL}`);

const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
if (stopWithStdin) {
  process.stdin.on("end", stop);
  process.stdin.resume();
}
