//! The auth database's schema, as migrations of this crate.
//!
//! Version 1 is Better Auth's core schema (`user`, `session`, `account`,
//! `verification`) with the same quoted camelCase tables, columns, types,
//! constraints and index names that Better Auth's own migrations create on
//! SQLite, so a database made by either side is used as is by the other. The
//! statements say `IF NOT EXISTS`: running them on a database Better Auth already
//! migrated only records the version.
//!
//! Values follow Better Auth's SQLite conventions: dates are ISO-8601 text with
//! milliseconds and `Z` ([`crate::date`]), booleans are `0`/`1`, IDs are 32
//! characters of `[A-Za-z0-9]`.
//!
//! Plugin columns (`user.role`, `user.banned`, `user.banReason`,
//! `user.banExpires`, `user.twoFactorEnabled`, `session.activeOrganizationId`,
//! `session.activeTeamId`, `session.impersonatedBy`) are all nullable in Better
//! Auth and arrive as later migrations (`ALTER TABLE … ADD COLUMN`) with the
//! features that use them; nothing here depends on their absence, and every
//! query names its columns.
//!
//! Version 2 adds Neutrino's append-only audit log (`neutrinoAuditLog`), a table
//! Better Auth ignores.

use neutrino_core::migrate::{Migration, Migrations};

/// The component name under which the migrations are recorded.
pub const COMPONENT: &str = "neutrino-auth";

/// The auth database's migrations; run them with [`crate::Auth::migrate`] or
/// `MIGRATIONS.run(&db)`.
pub static MIGRATIONS: Migrations = Migrations::new(
    COMPONENT,
    &[
        Migration {
            version: 1,
            name: "better auth core schema",
            statements: &[
                r#"CREATE TABLE IF NOT EXISTS "user" ("id" text not null primary key, "name" text not null, "email" text not null unique, "emailVerified" integer not null, "image" text, "createdAt" date not null, "updatedAt" date not null)"#,
                r#"CREATE TABLE IF NOT EXISTS "session" ("id" text not null primary key, "expiresAt" date not null, "token" text not null unique, "createdAt" date not null, "updatedAt" date not null, "ipAddress" text, "userAgent" text, "userId" text not null references "user" ("id") on delete cascade)"#,
                r#"CREATE TABLE IF NOT EXISTS "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null, "userId" text not null references "user" ("id") on delete cascade, "accessToken" text, "refreshToken" text, "idToken" text, "accessTokenExpiresAt" date, "refreshTokenExpiresAt" date, "scope" text, "password" text, "createdAt" date not null, "updatedAt" date not null)"#,
                r#"CREATE TABLE IF NOT EXISTS "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null, "expiresAt" date not null, "createdAt" date not null, "updatedAt" date not null)"#,
                r#"CREATE INDEX IF NOT EXISTS "session_userId_idx" on "session" ("userId")"#,
                r#"CREATE INDEX IF NOT EXISTS "account_userId_idx" on "account" ("userId")"#,
                r#"CREATE INDEX IF NOT EXISTS "verification_identifier_idx" on "verification" ("identifier")"#,
            ],
        },
        Migration {
            version: 2,
            name: "append-only audit log",
            statements: &[
                r#"CREATE TABLE IF NOT EXISTS "neutrinoAuditLog" ("id" text not null primary key, "createdAt" date not null, "event" text not null, "userId" text, "sessionId" text, "email" text, "ipAddress" text, "userAgent" text, "detail" text)"#,
                r#"CREATE INDEX IF NOT EXISTS "neutrinoAuditLog_userId_idx" on "neutrinoAuditLog" ("userId")"#,
                r#"CREATE TRIGGER IF NOT EXISTS "neutrinoAuditLog_no_update" BEFORE UPDATE ON "neutrinoAuditLog" BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"#,
                r#"CREATE TRIGGER IF NOT EXISTS "neutrinoAuditLog_no_delete" BEFORE DELETE ON "neutrinoAuditLog" BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"#,
            ],
        },
    ],
);
