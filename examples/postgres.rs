//! The tenancy part of the quickstart on PostgreSQL: the registry and a
//! platform's stack database as schemas made by the PostgreSQL provisioner,
//! platform statuses in a PostgreSQL KV, and two tenants' scopes each seeing
//! only their own rows.
//!
//! ```sh
//! eval "$(scripts/postgres start)"
//! NEUTRINO_DATABASE_URL=$NEUTRINO_TEST_POSTGRES_URL cargo run --example postgres --features postgres
//! scripts/postgres stop
//! ```
//!
//! The tenanted table is the connecting role's (it migrates it, with
//! row-level security forced and Neutrino's two policies); the tenant store
//! runs as an application role that only has row grants, as
//! `TenantStore::open` requires on PostgreSQL. Set
//! `NEUTRINO_APP_DATABASE_URL` to that role's URL; without it, the example
//! makes a role `neutrino_quickstart_app` (no password: for a local server
//! that trusts local connections, such as the throwaway one above).
//!
//! Runs again on the same database: the platform is found by name, the
//! tenants by slug. (Identity on PostgreSQL, and so the quickstart's sign-up,
//! comes with the auth layer's PostgreSQL migrations.)

use std::sync::Arc;

use neutrino::Result;
use neutrino::ids::StackId;
use neutrino::kv::KvStore;
use neutrino::naming::ResourceName;
use neutrino::postgres::{PostgresExecutor, PostgresKv, PostgresProvisioner};
use neutrino::provision::{DatabaseConnector, Provisioner, ResourceKind, ResourceSpec};
use neutrino::sql::{SqlExecutor, Statement};
use neutrino::tenancy::{
    ColumnType, ListQuery, NewPlatform, NewTenant, PlatformClass, Record, Registry,
    RegistryOptions, TenantStore, TenantTable,
};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let Ok(url) = std::env::var("NEUTRINO_DATABASE_URL") else {
        eprintln!(
            "set NEUTRINO_DATABASE_URL to a PostgreSQL URL (postgres://user@host/db); \
             `eval \"$(scripts/postgres start)\"` starts a throwaway server and sets \
             NEUTRINO_TEST_POSTGRES_URL"
        );
        std::process::exit(2);
    };
    let provisioner = PostgresProvisioner::new(PostgresExecutor::connect(&url).await?);

    // The registry's database and its status KV, in a schema of their own.
    let registry_db = provisioner
        .create(&ResourceSpec::new(
            ResourceKind::Database,
            "neutrino-registry",
        ))
        .await?;
    let registry_exec = provisioner.connect(&registry_db).await?;
    let kv: Arc<dyn KvStore> = Arc::new(
        PostgresKv::open(
            PostgresExecutor::connect(&url)
                .await?
                .settings()
                .schema(&registry_db.provider_id)?
                .connect()
                .await?,
            "status",
        )
        .await?,
    );
    let registry = Registry::open(registry_exec, kv, RegistryOptions::default()).await?;
    let (platform, created) = registry
        .open_or_create_platform(NewPlatform::new(
            "Postgres quickstart",
            PlatformClass::Platform,
        ))
        .await?;
    let platform = platform.id;
    println!(
        "platform        {platform}{}",
        if created { "" } else { " (reused)" }
    );

    // The platform's stack database: a schema named after it.
    let stack_db = provisioner
        .create(&ResourceSpec::new(
            ResourceKind::Database,
            ResourceName::stack_database(platform, StackId::DEFAULT).as_str(),
        ))
        .await?;
    println!("stack database  schema {}", stack_db.provider_id);

    let mut tenants = Vec::new();
    for (slug, name) in [("acme", "Acme"), ("globex", "Globex")] {
        let t = match registry.tenant_by_slug(platform, slug).await {
            Ok(t) => t,
            Err(e) if e.is_not_found() => {
                registry
                    .create_tenant(platform, NewTenant::new(slug, name))
                    .await?
            }
            Err(e) => return Err(e),
        };
        tenants.push(t.id);
    }

    // The table, migrated by its owner (the connecting role); the store on
    // the application role, which row-level security holds.
    let notes = TenantTable::new("note", &[("body", ColumnType::Text)])?;
    let owner = provisioner.connect(&stack_db).await?;
    TenantStore::migrate(owner.as_ref(), std::slice::from_ref(&notes)).await?;
    let app_url = match std::env::var("NEUTRINO_APP_DATABASE_URL") {
        Ok(u) => u,
        Err(_) => quickstart_app_role(owner.as_ref(), &url).await?,
    };
    let schema = &stack_db.provider_id;
    owner
        .batch(&[
            Statement::new(format!(
                r#"GRANT USAGE ON SCHEMA "{schema}" TO "{APP_ROLE}""#
            )),
            Statement::new(format!(
                r#"GRANT SELECT, INSERT, UPDATE, DELETE ON "note" TO "{APP_ROLE}""#
            )),
        ])
        .await?;
    let app = PostgresExecutor::builder(&app_url)?
        .schema(schema)?
        .connect()
        .await?;
    let store = TenantStore::open(&registry, Arc::new(app), vec![notes.clone()]).await?;
    let acme = registry
        .operator_scope(platform, tenants[0], "example", "postgres example")
        .await?;
    let globex = registry
        .operator_scope(platform, tenants[1], "example", "postgres example")
        .await?;
    let acme_note = store
        .insert(&acme, &notes, Record::new().set("body", "acme's plans"))
        .await?;
    store
        .insert(&globex, &notes, Record::new().set("body", "globex's plans"))
        .await?;
    let acme_rows = store.list(&acme, &notes, &ListQuery::new()).await?.rows;
    let globex_reads_acme = store.get(&globex, &notes, &acme_note).await;
    println!("acme sees       {} note(s), all its own", acme_rows.len());
    println!(
        "globex reads acme's note: {}",
        match globex_reads_acme {
            Err(e) if e.is_not_found() => "not found".to_owned(),
            other => format!("{other:?}"),
        }
    );
    Ok(())
}

/// The application role of the example.
const APP_ROLE: &str = "neutrino_quickstart_app";

/// Makes the example's application role if missing (no superuser, no
/// BYPASSRLS, no password) and answers `url` with it as the user.
async fn quickstart_app_role(admin: &dyn SqlExecutor, url: &str) -> Result<String> {
    admin
        .execute(&Statement::new(format!(
            "DO $$ BEGIN CREATE ROLE \"{APP_ROLE}\" LOGIN NOSUPERUSER NOBYPASSRLS; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )))
        .await?;
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        neutrino::Error::invalid(
            "NEUTRINO_DATABASE_URL",
            "set NEUTRINO_APP_DATABASE_URL when NEUTRINO_DATABASE_URL is not a postgres:// URL",
        )
    })?;
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    Ok(format!("{scheme}://{APP_ROLE}@{host}"))
}
