//! Bootstraps a platform on a real Cloudflare account.
//!
//! Needs `CLOUDFLARE_ACCOUNT_ID` and `CLOUDFLARE_API_TOKEN` (a token with D1, R2,
//! Workers KV and Workers Scripts edit permissions); with `CLOUDFLARE_ZONE_ID`
//! (and DNS edit permission) it also creates the auth worker's DNS record.
//! Without the two required variables it says what it needs and exits.
//!
//! ```sh
//! CLOUDFLARE_ACCOUNT_ID=… CLOUDFLARE_API_TOKEN=… \
//!   cargo run --example cloudflare_bootstrap --features cloudflare
//! ```
//!
//! It generates a platform ID, creates the platform's auth database (D1) and
//! runs the registry's migrations on it, creates the default stack's database,
//! bucket and KV namespace, uploads the auth worker bound to them, registers
//! the platform and records every resource with its provider ID. Every step is
//! idempotent: running it again with `NEUTRINO_PLATFORM_ID` set to the same ID
//! resumes where it stopped.

use std::sync::Arc;

use neutrino::Result;
use neutrino::cloudflare::{
    CloudflareClientBuilder, CloudflareProvisionerBuilder, D1Executor, WorkersKv,
};
use neutrino::ids::{PlatformId, StackId};
use neutrino::naming::{Domain, ResourceName};
use neutrino::provision::{Provisioner, Resource, ResourceKind, ResourceSpec};
use neutrino::tenancy::{
    NewPlatform, PlatformClass, Registry, RegistryOptions, ResourceRecord, ResourceStatus,
};

const AUTH_WORKER: &str = r#"export default {
  async fetch(request, env) {
    return new Response("auth service of platform " + env.PLATFORM_ID);
  },
};
"#;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let missing: Vec<&str> = ["CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_TOKEN"]
        .into_iter()
        .filter(|v| std::env::var(v).map_or(true, |s| s.is_empty()))
        .collect();
    if !missing.is_empty() {
        println!(
            "this example bootstraps a platform on a real Cloudflare account.\n\
             set {} (and optionally CLOUDFLARE_ZONE_ID for DNS) and run it again.",
            missing.join(" and ")
        );
        return Ok(());
    }
    let platform = match std::env::var("NEUTRINO_PLATFORM_ID") {
        Ok(id) => id.parse::<PlatformId>()?,
        Err(_) => PlatformId::generate(),
    };
    run(platform).await
}

async fn run(platform: PlatformId) -> Result<()> {
    let client = CloudflareClientBuilder::from_env().build()?;
    let mut builder = CloudflareProvisionerBuilder::new(client.clone());
    let zone = std::env::var("CLOUDFLARE_ZONE_ID").ok();
    if let Some(z) = &zone {
        builder = builder.with_zone_id(z);
    }
    let provisioner = builder.build()?;
    let stack = StackId::DEFAULT;
    println!("platform {platform}");

    let create = |kind: ResourceKind, name: String| {
        let p = provisioner.clone();
        async move {
            let r = p.create(&ResourceSpec::new(kind, name)).await?;
            println!("  {:<14} {:<34} {}", kind.as_str(), r.name, r.provider_id);
            Ok::<Resource, neutrino::Error>(r)
        }
    };

    // The auth database holds the registry; the stack KV mirrors statuses.
    let auth_db = create(
        ResourceKind::Database,
        ResourceName::auth_database(platform).as_str().to_owned(),
    )
    .await?;
    let db = create(
        ResourceKind::Database,
        ResourceName::stack_database(platform, stack)
            .as_str()
            .to_owned(),
    )
    .await?;
    let bucket = create(
        ResourceKind::Bucket,
        ResourceName::stack_bucket(platform, stack)
            .as_str()
            .to_owned(),
    )
    .await?;
    let kv = create(
        ResourceKind::KvNamespace,
        ResourceName::stack_kv(platform, stack).as_str().to_owned(),
    )
    .await?;

    let registry = Registry::open(
        Arc::new(D1Executor::new(client.clone(), auth_db.provider_id.clone())),
        Arc::new(WorkersKv::new(client.clone(), kv.provider_id.clone())),
        RegistryOptions::default(),
    )
    .await?;
    match registry
        .create_platform(
            NewPlatform::new("Bootstrapped on Cloudflare", PlatformClass::Platform)
                .with_id(platform),
        )
        .await
    {
        Ok(_) => {}
        Err(e) if e.is_already_exists() => println!("  platform already registered: resuming"),
        Err(e) => return Err(e),
    }

    let worker_spec = ResourceSpec::new(
        ResourceKind::Worker,
        ResourceName::auth_worker(platform).as_str(),
    )
    .param("script", AUTH_WORKER)
    .param("d1:DB", &auth_db.provider_id)
    .param("kv:KV", &kv.provider_id)
    .param("r2:BUCKET", &bucket.provider_id)
    .param("var:PLATFORM_ID", platform.as_str());
    let worker = provisioner.create(&worker_spec).await?;
    println!(
        "  {:<14} {:<34} {}",
        "worker", worker.name, worker.provider_id
    );

    let mut made = vec![auth_db, db, bucket, kv, worker.clone()];
    if zone.is_some() {
        let host = Domain::default().auth_host(platform, stack);
        let rec = provisioner
            .create(
                &ResourceSpec::new(ResourceKind::DnsRecord, host)
                    .param("content", format!("{}.workers.dev", worker.name)),
            )
            .await?;
        println!(
            "  {:<14} {:<34} {}",
            "dns_record", rec.name, rec.provider_id
        );
        made.push(rec);
    }

    for r in made {
        registry
            .record_resource(&ResourceRecord {
                platform,
                stack,
                kind: r.kind,
                logical_name: r.name,
                provider: provisioner.provider().to_owned(),
                provider_id: Some(r.provider_id),
                status: ResourceStatus::Ready,
            })
            .await?;
    }
    println!(
        "recorded {} resources in the registry",
        registry.resources(platform).await?.len()
    );
    Ok(())
}
