//! Neutrino's quickstart, on the embedded SQLite default; runs offline.
//!
//! Run with `cargo run --example quickstart` (optionally followed by a folder to
//! keep the platform's resources in; a temporary folder otherwise).
//!
//! It generates a platform, prints its resource names and hostnames, provisions
//! the default stack's database, bucket and KV namespace with the
//! `LocalProvisioner`, registers two tenants, shows that neither can see the
//! other's rows, and writes and reads back a KV key and an object.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use neutrino::Result;
use neutrino::ids::{PlatformId, StackId};
use neutrino::kv::KvStore;
use neutrino::naming::{AppName, Domain, ResourceName, platform_status_key};
use neutrino::object::{ObjectStore, PutOptions};
use neutrino::provision::{Provisioner, ResourceKind, ResourceSpec};
use neutrino::sqlite::{LocalProvisioner, SqliteExecutor};
use neutrino::tenancy::{
    ColumnType, ListQuery, NewPlatform, NewTenant, PlatformClass, Record, Registry,
    RegistryOptions, TenantStore, TenantTable,
};

/// What the quickstart did, for its test.
#[derive(Debug)]
pub(crate) struct Summary {
    /// The platform it generated.
    pub(crate) platform: PlatformId,
    /// The provider IDs of the resources it provisioned.
    pub(crate) provider_ids: Vec<String>,
    /// The row, KV value and object it read back.
    pub(crate) read_back: (String, String, String),
}

/// Onboards a fresh platform under `root` and exercises each of its resources,
/// reporting to `out`.
pub(crate) async fn run(root: &Path, out: &mut impl Write) -> Result<Summary> {
    let platform = PlatformId::generate();
    let stack = StackId::DEFAULT;
    let domain = Domain::default();
    let db_name = ResourceName::stack_database(platform, stack);
    let bucket_name = ResourceName::stack_bucket(platform, stack);
    let kv_name = ResourceName::stack_kv(platform, stack);
    let console = AppName::new("console")?;

    let say = |out: &mut dyn Write, line: String| {
        let _ = writeln!(out, "{line}");
    };
    say(out, format!("platform        {platform}"));
    say(
        out,
        format!("auth database   {}", ResourceName::auth_database(platform)),
    );
    say(
        out,
        format!("auth worker     {}", ResourceName::auth_worker(platform)),
    );
    say(out, format!("stack database  {db_name}"));
    say(out, format!("stack bucket    {bucket_name}"));
    say(out, format!("stack kv        {kv_name}"));
    say(
        out,
        format!("auth host       {}", domain.auth_host(platform, stack)),
    );
    say(
        out,
        format!(
            "console host    {}",
            domain.app_host(platform, stack, &console)
        ),
    );
    say(
        out,
        format!("cookie domain   {}", domain.cookie_domain(platform)),
    );

    let local = LocalProvisioner::open(root).await?;
    let mut provider_ids = Vec::new();
    for (kind, name) in [
        (ResourceKind::Database, &db_name),
        (ResourceKind::Bucket, &bucket_name),
        (ResourceKind::KvNamespace, &kv_name),
    ] {
        let r = local
            .create(&ResourceSpec::new(kind, name.as_str()))
            .await?;
        say(
            out,
            format!("provisioned     {kind} {} -> {}", r.name, r.provider_id),
        );
        provider_ids.push(r.provider_id);
    }

    // The registry knows platforms and tenants; platform statuses are mirrored
    // in a KV namespace of their own.
    local
        .create(&ResourceSpec::new(
            ResourceKind::KvNamespace,
            "neutrino-registry",
        ))
        .await?;
    let registry = Registry::open(
        Arc::new(SqliteExecutor::open(root.join("registry.sqlite")).await?),
        Arc::new(local.kv("neutrino-registry").await?),
        RegistryOptions::default(),
    )
    .await?;
    registry
        .create_platform(NewPlatform::new("Quickstart", PlatformClass::Platform).with_id(platform))
        .await?;
    let acme = registry
        .create_tenant(platform, NewTenant::new("acme", "Acme Inc."))
        .await?;
    let globex = registry
        .create_tenant(platform, NewTenant::new("globex", "Globex Corp."))
        .await?;
    say(
        out,
        format!("tenants         acme {}, globex {}", acme.id, globex.id),
    );

    // A tenanted table in the stack database: every access goes through a scope.
    let db = local.database(db_name.as_str()).await?;
    let notes = TenantTable::new("note", &[("body", ColumnType::Text)])?;
    let store = TenantStore::open(&registry, Arc::new(db), vec![notes.clone()]).await?;
    // Until the auth layer mints scopes from sessions, an operator scope (audited).
    let as_acme = registry
        .operator_scope(platform, acme.id, "quickstart", "demo")
        .await?;
    let as_globex = registry
        .operator_scope(platform, globex.id, "quickstart", "demo")
        .await?;
    let acme_note = store
        .insert(
            &as_acme,
            &notes,
            Record::new().set("body", "hello from SQLite"),
        )
        .await?;
    store
        .insert(
            &as_globex,
            &notes,
            Record::new().set("body", "globex's secret plan"),
        )
        .await?;
    let row = store.get(&as_acme, &notes, &acme_note).await?;
    let body: String = row.get("body")?;
    say(out, format!("row             acme reads its note: {body}"));
    let acme_sees = store
        .list(&as_acme, &notes, &ListQuery::new())
        .await?
        .rows
        .len();
    let globex_reads_acme = store.get(&as_globex, &notes, &acme_note).await;
    say(
        out,
        format!(
            "isolation       acme lists {acme_sees} note; globex reading acme's note: {}",
            match &globex_reads_acme {
                Err(e) => e.to_string(),
                Ok(_) => "visible".into(),
            }
        ),
    );
    if acme_sees != 1 || !globex_reads_acme.as_ref().is_err_and(|e| e.is_not_found()) {
        return Err(neutrino::Error::PermissionDenied {
            reason: "tenant isolation did not hold".into(),
        });
    }

    let kv = local.kv(kv_name.as_str()).await?;
    kv.put("greeting", "hello from KV".into(), None).await?;
    let greeting = kv
        .get("greeting")
        .await?
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .ok_or_else(|| neutrino::Error::not_found("kv key", "greeting"))?;
    say(out, format!("kv              greeting = {greeting}"));
    let status = registry.platform_status(platform).await?;
    say(
        out,
        format!(
            "status          {} = {status}",
            platform_status_key(platform)
        ),
    );

    let bucket = local.bucket(bucket_name.as_str()).await?;
    let opts = PutOptions {
        content_type: Some("text/plain".into()),
        ..PutOptions::default()
    };
    bucket
        .put("welcome.txt", "hello from the bucket".into(), &opts)
        .await?;
    let object = bucket.get("welcome.txt").await?;
    let text = String::from_utf8_lossy(&object.data).into_owned();
    say(out, format!("object          welcome.txt = {text}"));

    Ok(Summary {
        platform,
        provider_ids,
        read_back: (body, greeting, text),
    })
}

#[tokio::main]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let kept = std::env::args_os().nth(1);
    let temp;
    let root = match &kept {
        Some(dir) => Path::new(dir),
        None => {
            temp = tempfile::tempdir()?;
            temp.path()
        }
    };
    let summary = run(root, &mut std::io::stdout()).await?;
    println!(
        "platform {} is ready with {} resources; read back {:?}",
        summary.platform,
        summary.provider_ids.len(),
        summary.read_back
    );
    match kept {
        Some(_) => println!("resources kept under {}", root.display()),
        None => println!("resources were in a temporary folder (pass a folder to keep them)"),
    }
    Ok(())
}
