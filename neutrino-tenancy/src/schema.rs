//! The registry's tables, as migrations of this crate.
//!
//! Neutrino's own tables use `snake_case`, times are integer milliseconds since
//! the Unix epoch, and every table is keyed by `platform_id` first, so that every
//! registry query can (and does) filter by the platform.

use neutrino_core::migrate::{Migration, Migrations};

/// The registry's migrations (component `neutrino-tenancy`).
pub static MIGRATIONS: Migrations = Migrations::new(
    "neutrino-tenancy",
    &[
        Migration {
            version: 1,
            name: "registry",
            statements: &[
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
                r#"CREATE TRIGGER "neutrino_audit_log_no_update" BEFORE UPDATE ON "neutrino_audit_log"
               BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"#,
                r#"CREATE TRIGGER "neutrino_audit_log_no_delete" BEFORE DELETE ON "neutrino_audit_log"
               BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"#,
            ],
        },
        Migration {
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
        },
        Migration {
            version: 3,
            name: "resource_created_by",
            statements: &[
                // Which plan created a resource (NULL: adopted, recorded by hand, or
                // recorded before this column existed): rollback deletes only its own.
                r#"ALTER TABLE "neutrino_resource" ADD COLUMN "created_by" TEXT"#,
            ],
        },
        Migration {
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
        },
        Migration {
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
        },
    ],
);
