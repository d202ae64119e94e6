//! The registry's tables, as migrations of this crate.
//!
//! Neutrino's own tables use `snake_case`, times are integer milliseconds since
//! the Unix epoch, and every table is keyed by `platform_id` first, so that every
//! registry query can (and does) filter by the platform.

use neutrino_core::migrate::{Migration, Migrations};

/// The registry's tables, shared by both engines' first migration: the
/// statements of `$triggers` follow them.
macro_rules! registry_v1 {
    ($($trigger:expr),* $(,)?) => {
        &[
                r#"CREATE TABLE "neutrino_platform" (
                "id" TEXT PRIMARY KEY NOT NULL,
                "name" TEXT NOT NULL,
                "class" TEXT NOT NULL CHECK ("class" IN ('platform', 'user_project')),
                "status" TEXT NOT NULL CHECK ("status" IN ('active', 'suspended', 'deleted')),
                "app_domain" TEXT UNIQUE,
                "created_at" INTEGER NOT NULL,
                "updated_at" INTEGER NOT NULL
            )"#,
                r#"CREATE TABLE "neutrino_tenant" (
                "platform_id" TEXT NOT NULL REFERENCES "neutrino_platform" ("id"),
                "id" TEXT NOT NULL,
                "slug" TEXT NOT NULL,
                "name" TEXT NOT NULL,
                "parent_id" TEXT,
                "depth" INTEGER NOT NULL,
                "created_at" INTEGER NOT NULL,
                "updated_at" INTEGER NOT NULL,
                PRIMARY KEY ("platform_id", "id"),
                UNIQUE ("platform_id", "slug"),
                FOREIGN KEY ("platform_id", "parent_id") REFERENCES "neutrino_tenant" ("platform_id", "id")
            )"#,
                r#"CREATE INDEX "neutrino_tenant_parent" ON "neutrino_tenant" ("platform_id", "parent_id")"#,
                r#"CREATE TABLE "neutrino_stack" (
                "platform_id" TEXT NOT NULL REFERENCES "neutrino_platform" ("id"),
                "id" TEXT NOT NULL,
                "template" TEXT NOT NULL,
                "template_version" INTEGER NOT NULL,
                "status" TEXT NOT NULL,
                "created_at" INTEGER NOT NULL,
                "updated_at" INTEGER NOT NULL,
                PRIMARY KEY ("platform_id", "id")
            )"#,
                r#"CREATE TABLE "neutrino_resource" (
                "platform_id" TEXT NOT NULL REFERENCES "neutrino_platform" ("id"),
                "stack_id" TEXT NOT NULL,
                "kind" TEXT NOT NULL,
                "logical_name" TEXT NOT NULL,
                "provider" TEXT NOT NULL,
                "provider_id" TEXT,
                "status" TEXT NOT NULL,
                "created_at" INTEGER NOT NULL,
                "updated_at" INTEGER NOT NULL,
                PRIMARY KEY ("platform_id", "kind", "logical_name")
            )"#,
                r#"CREATE TABLE "neutrino_feature" (
                "platform_id" TEXT NOT NULL,
                "tenant_id" TEXT NOT NULL,
                "key" TEXT NOT NULL,
                "version" INTEGER NOT NULL,
                "enabled" INTEGER NOT NULL CHECK ("enabled" IN (0, 1)),
                "config" TEXT NOT NULL,
                "updated_at" INTEGER NOT NULL,
                PRIMARY KEY ("platform_id", "tenant_id", "key"),
                FOREIGN KEY ("platform_id", "tenant_id") REFERENCES "neutrino_tenant" ("platform_id", "id")
            )"#,
                r#"CREATE TABLE "neutrino_host" (
                "id" INTEGER PRIMARY KEY,
                "host" TEXT NOT NULL,
                "platform_id" TEXT NOT NULL,
                "tenant_id" TEXT NOT NULL,
                "kind" TEXT NOT NULL CHECK ("kind" IN ('default', 'custom')),
                "status" TEXT NOT NULL CHECK ("status" IN ('pending', 'verified', 'active', 'removed')),
                "verification_token" TEXT,
                "created_at" INTEGER NOT NULL,
                "updated_at" INTEGER NOT NULL,
                FOREIGN KEY ("platform_id", "tenant_id") REFERENCES "neutrino_tenant" ("platform_id", "id")
            )"#,
                r#"CREATE UNIQUE INDEX "neutrino_host_claimed" ON "neutrino_host" ("host") WHERE "status" != 'removed'"#,
                r#"CREATE INDEX "neutrino_host_lookup" ON "neutrino_host" ("host", "status")"#,
                r#"CREATE INDEX "neutrino_host_tenant" ON "neutrino_host" ("platform_id", "tenant_id")"#,
                r#"CREATE TABLE "neutrino_audit_log" (
                "id" INTEGER PRIMARY KEY AUTOINCREMENT,
                "at" INTEGER NOT NULL,
                "platform_id" TEXT NOT NULL,
                "tenant_id" TEXT,
                "actor" TEXT NOT NULL,
                "action" TEXT NOT NULL,
                "reason" TEXT NOT NULL
            )"#,
            $($trigger),*
        ]
    };
}

// The later migrations, the same on every engine.
const V6: Migration = Migration {
    version: 6,
    name: "tenant tombstones",
    statements: &[
        // A deleted tenant: its ID is never given again, and every query of
        // `neutrino_tenant` no longer sees it.
        r#"CREATE TABLE "neutrino_tenant_tombstone" (
                "platform_id" TEXT NOT NULL,
                "id" TEXT NOT NULL,
                "slug" TEXT NOT NULL,
                "deleted_at" INTEGER NOT NULL,
                PRIMARY KEY ("platform_id", "id")
            )"#,
    ],
};

const V7: Migration = Migration {
    version: 7,
    name: "tenant_id_unique",
    statements: &[
        // A tenant ID names one tenant in the whole registry: the index
        // decides between concurrent creations on different platforms. A
        // deleted tenant's row is gone, its tombstone keeps the ID from its
        // own platform.
        r#"CREATE UNIQUE INDEX "neutrino_tenant_id" ON "neutrino_tenant" ("id")"#,
    ],
};

const V2: Migration = Migration {
    version: 2,
    name: "registry instance",
    statements: &[
        // One row: the ID by which handles in one process recognise the same
        // registry database (and share its status cache and scope minter).
        r#"CREATE TABLE "neutrino_registry_instance" (
                "singleton" INTEGER PRIMARY KEY NOT NULL CHECK ("singleton" = 1),
                "id" TEXT NOT NULL
            )"#,
    ],
};

const V3: Migration = Migration {
    version: 3,
    name: "resource_created_by",
    statements: &[
        // Which plan created a resource (NULL: adopted, recorded by hand, or
        // recorded before this column existed): rollback deletes only its own.
        r#"ALTER TABLE "neutrino_resource" ADD COLUMN "created_by" TEXT"#,
    ],
};

const V4: Migration = Migration {
    version: 4,
    name: "platform_name_key",
    statements: &[
        // The name a platform made by `Registry::open_or_create_platform`
        // is found by (NULL for platforms made by `create_platform`, whose
        // names stay free-form). At most one live platform holds a name:
        // the unique index decides between concurrent callers, and a
        // deleted platform releases its name.
        r#"ALTER TABLE "neutrino_platform" ADD COLUMN "name_key" TEXT"#,
        r#"CREATE UNIQUE INDEX "neutrino_platform_name_key" ON "neutrino_platform" ("name_key") WHERE "status" != 'deleted'"#,
    ],
};

const V5: Migration = Migration {
    version: 5,
    name: "registry probe",
    statements: &[
        // Random nonces written by a handle being opened and read back
        // through an executor of a handle already open on a database
        // with the same instance ID: found there only if both are the same
        // database, not a copy of it. Each row lives for one open.
        r#"CREATE TABLE "neutrino_registry_probe" (
                "nonce" TEXT PRIMARY KEY NOT NULL
            )"#,
    ],
};

/// The registry's migrations in order: `first` (the dialect's own), then
/// those whose SQL is the same on every dialect.
macro_rules! registry_migrations {
    ($first:expr) => {
        &[$first, V2, V3, V4, V5, V6, V7]
    };
}

/// The registry's migrations (component `neutrino-tenancy`); on PostgreSQL the
/// audit log's append-only triggers call a function instead of SQLite's
/// `RAISE`, everything else is the same SQL.
pub static MIGRATIONS: Migrations = Migrations::new(
    "neutrino-tenancy",
    registry_migrations!(Migration {
        version: 1,
        name: "registry",
        statements: registry_v1!(
            r#"CREATE TRIGGER "neutrino_audit_log_no_update" BEFORE UPDATE ON "neutrino_audit_log"
               BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"#,
            r#"CREATE TRIGGER "neutrino_audit_log_no_delete" BEFORE DELETE ON "neutrino_audit_log"
               BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"#,
        ),
    }),
)
.with_postgres(registry_migrations!(Migration {
    version: 1,
    name: "registry",
    statements: registry_v1!(
        r#"CREATE FUNCTION "neutrino_audit_log_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'check_violation'; END $$"#,
        r#"CREATE TRIGGER "neutrino_audit_log_no_update" BEFORE UPDATE ON "neutrino_audit_log"
               FOR EACH ROW EXECUTE FUNCTION "neutrino_audit_log_append_only"()"#,
        r#"CREATE TRIGGER "neutrino_audit_log_no_delete" BEFORE DELETE ON "neutrino_audit_log"
               FOR EACH ROW EXECUTE FUNCTION "neutrino_audit_log_append_only"()"#,
        r#"CREATE TRIGGER "neutrino_audit_log_no_truncate" BEFORE TRUNCATE ON "neutrino_audit_log"
               FOR EACH STATEMENT EXECUTE FUNCTION "neutrino_audit_log_append_only"()"#,
    ),
}));

#[cfg(test)]
mod tests {
    use neutrino_core::sql::Dialect;

    use super::MIGRATIONS;

    /// The SQLite migrations are exactly those already applied to existing
    /// databases (a changed one stops them from opening); that PostgreSQL's
    /// have the same versions and names is checked by every run.
    #[test]
    fn applied_migrations_never_change() {
        let sqlite: Vec<(u32, String)> = MIGRATIONS
            .for_dialect(Dialect::Sqlite)
            .iter()
            .map(|m| (m.version, m.checksum()))
            .collect();
        let want: Vec<(u32, String)> = [
            (
                1,
                "67d557e763ed08cceb0c60487446559b20df080071b86ff64f2049872ae194c6",
            ),
            (
                2,
                "5741009af8b3753d729ff4c746d79cd38a3aa859f21c974fa9c5ce1a8dcd9664",
            ),
            (
                3,
                "e7d03fd42ad58f73fa314593be8ada5a30d628d1e7f04352f53d47f39301e7ff",
            ),
            (
                4,
                "eae2b64ce7eefe641d6530cc983a72ae8bc6182b98213ae1f9a14784344f0f37",
            ),
            (
                5,
                "196f881da81a63976561a7ba083b4883e33399d1b87bad10e6e1c42dc03bdfa1",
            ),
            (
                6,
                "b3e5de2553a27befc4d8a6ae79575a32d4709741f7861e111dad3984a50f360f",
            ),
            (
                7,
                "75158ea2519167edcbe070e351932a5b6f8431001706f3753bda327ebdcba3ac",
            ),
        ]
        .into_iter()
        .map(|(v, c)| (v, c.to_owned()))
        .collect();
        assert_eq!(sqlite, want);
    }
}
