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

    let notes = TenantTable::new("note", &[("body", ColumnType::Text)])?;
    let store = TenantStore::open(
        &registry,
        provisioner.connect(&stack_db).await?,
        vec![notes.clone()],
    )
    .await?;
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
