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
//! characters of `[A-Za-z0-9]` or, with Better Auth's `generateId: "uuid"`,
//! UUIDs ([`neutrino_core::ids::IdFormat`]).
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
//!
//! Version 5 adds Better Auth's two-factor plugin table (`twoFactor`).
//!
//! Version 4 adds Better Auth's API key plugin table (`apikey`).
//!
//! Version 6 makes a membership unique per user and organization (a unique
//! index on `member ("organizationId", "userId")`, which Better Auth's queries
//! are compatible with; exact duplicates are removed first, differing ones stop
//! [`crate::Auth::migrate`] with an error naming them) and adds
//! `neutrinoUsedCode`, Neutrino's single-use markers (a TOTP time step once
//! used by a user), a table Better Auth ignores.
//!
//! Version 7 makes an account unique per provider and provider account
//! (a unique index on `account ("providerId", "accountId")`): a provider
//! identity belongs to one user, and concurrent first sign-ins through a
//! provider create one account.
//!
//! Version 8 adds Better Auth's sso plugin table (`ssoProvider`, with the
//! domain-verification plugin option's `domainVerified` column), a unique
//! index on the verified domains (one provider, so one tenant, per verified
//! domain) and `neutrinoSsoPolicy`, Neutrino's per-tenant SSO settings (the
//! "SSO required" switch and the role of members who join by SSO), a table
//! Better Auth ignores. See [`crate::sso`].
//!
//! Better Auth's admin plugin columns (`user.role`, `user.banned`,
//! `user.banReason`, `user.banExpires`, `session.impersonatedBy`) are added by
//! [`ensure_columns`] where absent, with the types Better Auth's migrations
//! give them, so a database Better Auth migrated with the admin plugin keeps
//! its own and Better Auth finds nothing to add to one Neutrino migrated.
//!
//! Version 3 adds Better Auth's organization plugin tables (`organization`,
//! `member`, `invitation`) and Neutrino's `neutrinoPendingOrganization`, the
//! record of an organization whose creation has begun (see
//! [`crate::org::Organizations::reconcile`]). The plugin columns it needs
//! (`user.role`, `session.activeOrganizationId`, and the audit log's
//! `organizationId`) are added by [`ensure_columns`] only where they are
//! absent, so a database Better Auth already migrated with those plugins keeps
//! its columns; [`crate::Auth::migrate`] runs both.

use neutrino_core::migrate::{Migration, Migrations};
use neutrino_core::sql::{Dialect, SqlExecutor, Statement};

/// Better Auth's index on `table ("column")`, named `table_column_idx`.
macro_rules! index {
    ($table:literal, $column:literal) => {
        concat!(
            r#"CREATE INDEX IF NOT EXISTS ""#,
            $table,
            "_",
            $column,
            r#"_idx" on ""#,
            $table,
            r#"" (""#,
            $column,
            r#"")"#
        )
    };
}

/// A [`Migration`] of `version` and `name` with `statements`.
macro_rules! migration {
    ($version:literal, $name:literal, [$($statement:expr),* $(,)?]) => {
        Migration {
            version: $version,
            name: $name,
            statements: &[$($statement),*],
        }
    };
}

/// The auth migrations, described once for both engines: `auth_migrations!`
/// expands to the list of one engine, given
/// - `date`: the column type of dates (`date` on SQLite, as Better Auth
///   creates them; `text` on PostgreSQL),
/// - `audit_log_order`: what ends the audit log's column list (nothing on
///   SQLite, whose rowid orders the entries; an identity column on PostgreSQL),
/// - `append_only`: the statements that make the audit log append-only, which
///   differ in kind (SQLite's `RAISE` triggers, PostgreSQL's trigger function).
///
/// The SQLite statements are byte-identical to those applied to existing
/// databases (the checksums are pinned in the tests below). A new migration
/// is appended at the end of the list, once; a statement whose difference
/// goes beyond a type gets its own parameter, as `append_only` does.
macro_rules! auth_migrations {
    (
        date = $date:literal,
        audit_log_order = $order:literal,
        append_only = [$($append_only:literal),* $(,)?] $(,)?
    ) => {
        &[
            migration!(1, "better auth core schema", [
                concat!(r#"CREATE TABLE IF NOT EXISTS "user" ("id" text not null primary key, "name" text not null, "email" text not null unique, "emailVerified" integer not null, "image" text, "createdAt" "#, $date, r#" not null, "updatedAt" "#, $date, r#" not null)"#),
                concat!(r#"CREATE TABLE IF NOT EXISTS "session" ("id" text not null primary key, "expiresAt" "#, $date, r#" not null, "token" text not null unique, "createdAt" "#, $date, r#" not null, "updatedAt" "#, $date, r#" not null, "ipAddress" text, "userAgent" text, "userId" text not null references "user" ("id") on delete cascade)"#),
                concat!(r#"CREATE TABLE IF NOT EXISTS "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null, "userId" text not null references "user" ("id") on delete cascade, "accessToken" text, "refreshToken" text, "idToken" text, "accessTokenExpiresAt" "#, $date, r#", "refreshTokenExpiresAt" "#, $date, r#", "scope" text, "password" text, "createdAt" "#, $date, r#" not null, "updatedAt" "#, $date, r#" not null)"#),
                concat!(r#"CREATE TABLE IF NOT EXISTS "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null, "expiresAt" "#, $date, r#" not null, "createdAt" "#, $date, r#" not null, "updatedAt" "#, $date, r#" not null)"#),
                index!("session", "userId"),
                index!("account", "userId"),
                index!("verification", "identifier"),
            ]),
            migration!(2, "append-only audit log", [
                concat!(r#"CREATE TABLE IF NOT EXISTS "neutrinoAuditLog" ("id" text not null primary key, "createdAt" "#, $date, r#" not null, "event" text not null, "userId" text, "sessionId" text, "email" text, "ipAddress" text, "userAgent" text, "detail" text"#, $order, ")"),
                index!("neutrinoAuditLog", "userId"),
                $($append_only,)*
            ]),
            migration!(3, "organizations, members, invitations", [
                concat!(r#"CREATE TABLE IF NOT EXISTS "organization" ("id" text not null primary key, "name" text not null, "slug" text not null unique, "logo" text, "createdAt" "#, $date, r#" not null, "metadata" text)"#),
                concat!(r#"CREATE TABLE IF NOT EXISTS "member" ("id" text not null primary key, "organizationId" text not null references "organization" ("id") on delete cascade, "userId" text not null references "user" ("id") on delete cascade, "role" text not null, "createdAt" "#, $date, r#" not null)"#),
                concat!(r#"CREATE TABLE IF NOT EXISTS "invitation" ("id" text not null primary key, "organizationId" text not null references "organization" ("id") on delete cascade, "email" text not null, "role" text, "teamId" text, "status" text not null, "expiresAt" "#, $date, r#" not null, "createdAt" "#, $date, r#" not null, "inviterId" text not null references "user" ("id") on delete cascade)"#),
                index!("member", "organizationId"),
                index!("member", "userId"),
                index!("invitation", "organizationId"),
                index!("invitation", "email"),
                concat!(r#"CREATE TABLE IF NOT EXISTS "neutrinoPendingOrganization" ("id" text not null primary key, "slug" text not null unique, "name" text not null, "parentId" text, "logo" text, "metadata" text, "creatorId" text not null, "createdAt" "#, $date, r#" not null)"#),
            ]),
            migration!(4, "api keys", [
                concat!(r#"CREATE TABLE IF NOT EXISTS "apikey" ("id" text not null primary key, "configId" text default 'default' not null, "name" text, "start" text, "referenceId" text not null, "prefix" text, "key" text not null, "refillInterval" integer, "refillAmount" integer, "lastRefillAt" "#, $date, r#", "enabled" integer, "rateLimitEnabled" integer, "rateLimitTimeWindow" integer, "rateLimitMax" integer, "requestCount" integer, "remaining" integer, "lastRequest" "#, $date, r#", "expiresAt" "#, $date, r#", "createdAt" "#, $date, r#" not null, "updatedAt" "#, $date, r#" not null, "permissions" text, "metadata" text)"#),
                index!("apikey", "configId"),
                index!("apikey", "referenceId"),
                index!("apikey", "key"),
            ]),
            migration!(5, "two factor", [
                concat!(r#"CREATE TABLE IF NOT EXISTS "twoFactor" ("id" text not null primary key, "secret" text not null, "backupCodes" text not null, "userId" text not null references "user" ("id") on delete cascade, "verified" integer default 1, "failedVerificationCount" integer, "lockedUntil" "#, $date, r#")"#),
                index!("twoFactor", "secret"),
                index!("twoFactor", "userId"),
            ]),
            migration!(6, "one membership per user and organization, single-use markers", [
                // Exact duplicates (same organization, user and role) keep
                // their oldest row; `Auth::migrate` has refused differing
                // ones before.
                r#"DELETE FROM "member" WHERE "id" NOT IN (SELECT MIN("id") FROM "member" GROUP BY "organizationId", "userId", "role")"#,
                r#"CREATE UNIQUE INDEX IF NOT EXISTS "member_organizationId_userId_uidx" on "member" ("organizationId", "userId")"#,
                concat!(r#"CREATE TABLE IF NOT EXISTS "neutrinoUsedCode" ("key" text not null primary key, "expiresAt" "#, $date, r#" not null)"#),
            ]),
            migration!(7, "one account per provider identity", [
                r#"CREATE UNIQUE INDEX IF NOT EXISTS "account_providerId_accountId_uidx" on "account" ("providerId", "accountId")"#,
            ]),
            migration!(8, "sso providers, verified domains, sso policy", [
                r#"CREATE TABLE IF NOT EXISTS "ssoProvider" ("id" text not null primary key, "issuer" text not null, "oidcConfig" text, "samlConfig" text, "userId" text references "user" ("id") on delete cascade, "providerId" text not null unique, "organizationId" text, "domain" text not null, "domainVerified" integer)"#,
                index!("ssoProvider", "organizationId"),
                index!("ssoProvider", "domain"),
                // A domain routes to one provider at most: the database
                // decides between concurrent verifications.
                r#"CREATE UNIQUE INDEX IF NOT EXISTS "ssoProvider_verifiedDomain_uidx" on "ssoProvider" ("domain") WHERE "domainVerified" = 1"#,
                concat!(r#"CREATE TABLE IF NOT EXISTS "neutrinoSsoPolicy" ("organizationId" text not null primary key references "organization" ("id") on delete cascade, "ssoRequired" integer not null, "defaultRole" text not null, "updatedAt" "#, $date, r#" not null)"#),
            ]),
        ]
    };
}

/// The component name under which the migrations are recorded.
pub const COMPONENT: &str = "neutrino-auth";

/// The auth database's migrations; run them with [`crate::Auth::migrate`] or
/// `MIGRATIONS.run(&db)`.
pub static MIGRATIONS: Migrations = Migrations::new(
    COMPONENT,
    auth_migrations!(date = "date", audit_log_order = "", append_only = [
        r#"CREATE TRIGGER IF NOT EXISTS "neutrinoAuditLog_no_update" BEFORE UPDATE ON "neutrinoAuditLog" BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"#,
        r#"CREATE TRIGGER IF NOT EXISTS "neutrinoAuditLog_no_delete" BEFORE DELETE ON "neutrinoAuditLog" BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"#,
    ]),
)
.with_postgres(POSTGRES);

/// The same migrations on PostgreSQL (same versions and names): dates are
/// `text` holding the same ISO-8601 strings as on SQLite (they sort and compare
/// as text in every query, and the port has no timestamp value), booleans are
/// `integer` (`bigint` on PostgreSQL) holding `0`/`1` as on SQLite, and the
/// audit log's append-only triggers call a function instead of SQLite's
/// `RAISE`; PostgreSQL has no rowid, so the audit log gets an identity column
/// named `rowid`, the insertion order its queries break ties on.
static POSTGRES: &[Migration] = auth_migrations!(
    date = "text",
    audit_log_order = r#", "rowid" bigint generated always as identity"#,
    append_only = [
        r#"CREATE OR REPLACE FUNCTION "neutrinoAuditLog_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'check_violation'; END $$"#,
        r#"CREATE OR REPLACE TRIGGER "neutrinoAuditLog_no_update" BEFORE UPDATE ON "neutrinoAuditLog" FOR EACH ROW EXECUTE FUNCTION "neutrinoAuditLog_append_only"()"#,
        r#"CREATE OR REPLACE TRIGGER "neutrinoAuditLog_no_delete" BEFORE DELETE ON "neutrinoAuditLog" FOR EACH ROW EXECUTE FUNCTION "neutrinoAuditLog_append_only"()"#,
        r#"CREATE OR REPLACE TRIGGER "neutrinoAuditLog_no_truncate" BEFORE TRUNCATE ON "neutrinoAuditLog" FOR EACH STATEMENT EXECUTE FUNCTION "neutrinoAuditLog_append_only"()"#,
    ],
);

/// Memberships that differ (in role) for one user and organization: what
/// migration 6 cannot merge by itself. Each item names the organization, the
/// user and the conflicting `member` rows as `id (role)`.
pub async fn conflicting_memberships(db: &dyn SqlExecutor) -> neutrino_core::Result<Vec<String>> {
    let postgres = db.dialect() == Dialect::Postgres;
    let exists = if postgres {
        db.query(&Statement::new(
            r#"SELECT 1 FROM information_schema.tables WHERE "table_schema" = current_schema() AND "table_name" = 'member'"#,
        ))
        .await?
    } else {
        db.query(&Statement::new(
            r#"SELECT 1 FROM pragma_table_info('member') LIMIT 1"#,
        ))
        .await?
    };
    if exists.is_empty() {
        return Ok(Vec::new());
    }
    let sql = if postgres {
        r#"SELECT "organizationId", "userId", string_agg("id" || ' (' || "role" || ')', ', ' ORDER BY "id") FROM "member" GROUP BY "organizationId", "userId" HAVING COUNT(DISTINCT "role") > 1 ORDER BY "organizationId", "userId""#
    } else {
        r#"SELECT "organizationId", "userId", group_concat("id" || ' (' || "role" || ')', ', ') FROM (SELECT * FROM "member" ORDER BY "id") GROUP BY "organizationId", "userId" HAVING COUNT(DISTINCT "role") > 1 ORDER BY "organizationId", "userId""#
    };
    let rows = db.query(&Statement::new(sql)).await?;
    rows.iter()
        .map(|r| {
            let org: String = r.get(0)?;
            let user: String = r.get(1)?;
            let ids: String = r.get(2)?;
            Ok(format!("organization {org}, user {user}: {ids}"))
        })
        .collect()
}

/// Nullable plugin columns added when absent: (table, column, type).
pub const PLUGIN_COLUMNS: &[(&str, &str, &str)] = &[
    ("user", "role", "text"),
    ("user", "twoFactorEnabled", "integer"),
    ("user", "banned", "integer"),
    ("user", "banReason", "text"),
    ("user", "banExpires", "date"),
    ("session", "activeOrganizationId", "text"),
    ("session", "impersonatedBy", "text"),
    ("neutrinoAuditLog", "organizationId", "text"),
];

/// Adds each of [`PLUGIN_COLUMNS`] to its table unless the table already has
/// it (a database made by Better Auth with the admin or organization plugin
/// does). Idempotent; run it after [`MIGRATIONS`]. Returns the columns added.
pub async fn ensure_columns(db: &dyn SqlExecutor) -> neutrino_core::Result<Vec<String>> {
    let postgres = db.dialect() == Dialect::Postgres;
    // A column of `table` named `column`, in the catalog of the engine.
    let has_column = if postgres {
        r#"SELECT "column_name" FROM information_schema.columns WHERE "table_schema" = current_schema() AND "table_name" = ?1 AND "column_name" = ?2"#
    } else {
        r#"SELECT "name" FROM pragma_table_info(?1) WHERE "name" = ?2"#
    };
    let mut added = Vec::new();
    for (table, column, ty) in PLUGIN_COLUMNS {
        let rows = db
            .query(&Statement::new(has_column).bind(*table).bind(*column))
            .await?;
        if rows.is_empty() {
            // Dates are text on PostgreSQL (see the migrations).
            let ty = if postgres && *ty == "date" {
                "text"
            } else {
                ty
            };
            let sql = format!(r#"ALTER TABLE "{table}" ADD COLUMN "{column}" {ty}"#);
            match db.execute(&Statement::new(sql)).await {
                Ok(_) => added.push(format!("{table}.{column}")),
                // Another process added it meanwhile.
                Err(e) => {
                    let again = db
                        .query(&Statement::new(has_column).bind(*table).bind(*column))
                        .await?;
                    if again.is_empty() {
                        return Err(e);
                    }
                }
            }
        }
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use neutrino_core::sql::Dialect;

    use super::MIGRATIONS;

    /// PostgreSQL has a list of its own (that its versions and names are
    /// SQLite's is checked by every run of the migrations).
    #[test]
    fn postgres_has_its_own_migrations() {
        assert!(!std::ptr::eq(
            MIGRATIONS.for_dialect(Dialect::Sqlite),
            MIGRATIONS.for_dialect(Dialect::Postgres)
        ));
    }

    /// The migrations of both engines are exactly those already applied to
    /// existing databases: a changed statement stops them from opening.
    #[test]
    fn applied_migrations_never_change() {
        let sums = |d| {
            MIGRATIONS
                .for_dialect(d)
                .iter()
                .map(|m| format!("{} {}", m.version, m.checksum()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            sums(Dialect::Sqlite),
            [
                "1 20743b41572d6bd81508e02de48191ace14e4cdc6920e8b36b5dc054b9f20a74",
                "2 7be826272428b035555c7eedcec2f70ea446c6d6cb99a890b00918bcc147b181",
                "3 598352ac77ce1b855b33648e133fbbab692fdb1b8601d5b0b1a045d9f008bdd8",
                "4 027ebcb9539c269137931214b608de4d8c3e381eb0ea80826d77461528c44678",
                "5 efd8806bbe0b98cb3a14f795aa4f05432d43d2415b6d978d18fc0efde8b0bcf1",
                "6 580ded95958780f4662462ddff461fbbd92c314d087281c685243e29ef29d521",
                "7 62ab078142f05aab4531f31faea72802ed52bde76698470ed74929497ccea335",
                "8 186b45bbb6b64a35704440c1b3cd50d3f520f47038d7948a33d7f0e699c992cb",
            ],
            "sqlite"
        );
        assert_eq!(
            sums(Dialect::Postgres),
            [
                "1 f453a13f3cff18e97aa8b4ce19e12ae291d12645454798462dbefdd57b790756",
                "2 9e98c25928d48651b8bdc7ef6baa5b86c02eee7d7fc2cf2f7b0580e501f0d10a",
                "3 fd3ef7194f4afa89f8fc430316e4adcc492e1e5bfc48a74338fe64758bc12f37",
                "4 b5bf6fac0bfe743439e3e1239a019dc2d71e2884695cd76e47629adbdb93e9e7",
                "5 af114eefca601792a3d0e3e4e903b32c30f94c01f75ec9c76dfca051adf4d343",
                "6 c894fb5d9ad38bc9f47075fe44b1d194092169db9456ab9c0d1f775b313e4a7b",
                "7 62ab078142f05aab4531f31faea72802ed52bde76698470ed74929497ccea335",
                "8 32b06661f4d7dbe32cf51064fe8eccfc7787b3176889022843fae05ec1af27e3",
            ],
            "postgres"
        );
    }
}
