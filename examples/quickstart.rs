//! Neutrino's quickstart, on the embedded SQLite default (offline), or on
//! PostgreSQL when `NEUTRINO_DATABASE_URL` is set.
//!
//! Run with `cargo run --example quickstart` (optionally followed by a folder to
//! keep the platform in; a temporary folder otherwise). Run it twice on the same
//! folder and the second run reuses everything the first one made. On
//! PostgreSQL (the registry and each platform database a schema of that
//! database; run it again and it finds everything again):
//!
//! ```sh
//! eval "$(scripts/postgres start)"
//! NEUTRINO_DATABASE_URL=$NEUTRINO_TEST_POSTGRES_URL cargo run --example quickstart --features postgres
//! scripts/postgres stop
//! ```
//!
//! On PostgreSQL the tenanted tables are made by the connecting role, and the
//! tenant store connects as an application role that row-level security
//! holds: `NEUTRINO_APP_DATABASE_URL`, or else the role
//! `neutrino_quickstart_app` (no superuser, no `BYPASSRLS`, no password),
//! created if missing on the same server.
//!
//! One call opens the platform's runtime: the platform is registered, its
//! databases (and, on the embedded default, its bucket and KV namespace)
//! provisioned, its auth database migrated. Ada signs up, creates two
//! organizations (the platform's tenants) and invites Bob to one; each
//! request's tenant scope comes from a session, and each scope sees only its
//! own tenant's rows. Only the opening differs between the engines.

use std::io::Write;
use std::path::Path;

use neutrino::auth::org::{NewOrganization, Organization};
use neutrino::auth::{AuthError, RequestMeta, SignInEmail, SignUpEmail, SignedIn};
use neutrino::ids::{PlatformId, StackId};
use neutrino::kv::KvStore;
use neutrino::naming::{ResourceName, platform_status_key};
use neutrino::object::ObjectStore;
use neutrino::provision::ResourceKind;
use neutrino::tenancy::provision::{Plan, Provisioning};
use neutrino::tenancy::{ColumnType, ListQuery, Record, TenantTable};
use neutrino::{Error, LocalPlatforms, Platform, Platforms, Result};

/// What the quickstart did, for its test.
#[derive(Debug)]
pub(crate) struct Summary {
    pub(crate) platform: PlatformId,
    /// Whether the platform existed already (a second run).
    pub(crate) reused: bool,
    /// The provider IDs of the default stack's database, bucket and KV
    /// namespace (those the provisioner makes).
    pub(crate) provider_ids: Vec<String>,
    /// The row it read back, and on the embedded default the KV value and
    /// object.
    pub(crate) read_back: (String, Option<(String, String)>),
    /// The `Set-Cookie` header Ada got, and the email its session belongs to.
    pub(crate) set_cookie: String,
    pub(crate) validated_email: String,
    /// Members of acme after the invitation, and notes Bob's scope lists.
    pub(crate) acme_members: usize,
    pub(crate) bob_rows: usize,
}

/// Signs a user up on the platform's first run, in on later ones.
async fn sign_in(app: &Platform, name: &str, email: &str) -> Result<SignedIn> {
    let (meta, password) = (
        RequestMeta::new("127.0.0.1", "quickstart"),
        "correct horse battery",
    );
    Ok(if app.is_new() {
        let up = app
            .auth()
            .sign_up_email(SignUpEmail::new(name, email, password), &meta);
        up.await?.signed_in().ok_or(AuthError::EmailNotVerified)?
    } else {
        app.auth()
            .sign_in_email(SignInEmail::new(email, password), &meta)
            .await?
    })
}

/// Ada's organization with this slug: found among hers, or created.
async fn org(app: &Platform, token: &str, slug: &str, name: &str) -> Result<Organization> {
    let mine = app.orgs().list_organizations(token).await?;
    if let Some(o) = mine.into_iter().find(|o| o.slug == slug) {
        return Ok(o);
    }
    let meta = RequestMeta::new("127.0.0.1", "quickstart");
    Ok(app
        .orgs()
        .create_organization(token, NewOrganization::new(name, slug), &meta)
        .await?)
}

/// The platform's name and secret. A real deployment reads the secret from
/// its environment.
const NAME: &str = "Quickstart";
const SECRET: &str = "quickstart-only secret, replace me: 32+ bytes";

/// Runs the platform's story in the folder `root`, reporting to `out`.
pub(crate) async fn run(root: &Path, out: &mut impl Write) -> Result<Summary> {
    // Start-up, once: the folder, then the platform found by its name (made on
    // the first run).
    let folder = LocalPlatforms::open(root).await?;
    let mut summary = story(folder.platforms(), out).await?;
    // The plan the folder ran, and the stack's KV namespace and bucket, for
    // the host app's own use.
    let p = summary.platform;
    let domain = folder.registry().base_domain();
    let mut say = printer(out);
    say(Plan::bootstrap(p, domain, &[&neutrino::auth::schema::MIGRATIONS]).to_string())?;
    let local = folder.provisioner();
    let kv = local
        .kv(ResourceName::stack_kv(p, StackId::DEFAULT).as_str())
        .await?;
    kv.put("greeting", "hello from KV".into(), None).await?;
    let greeting =
        String::from_utf8_lossy(&kv.get("greeting").await?.unwrap_or_default()).into_owned();
    let bucket = local
        .bucket(ResourceName::stack_bucket(p, StackId::DEFAULT).as_str())
        .await?;
    bucket
        .put(
            "welcome.txt",
            "hello from the bucket".into(),
            &Default::default(),
        )
        .await?;
    let text = String::from_utf8_lossy(&bucket.get("welcome.txt").await?.data).into_owned();
    say(format!("kv and bucket   {greeting}; {text}"))?;
    summary.read_back.1 = Some((greeting, text));
    Ok(summary)
}

/// Runs the platform's story on the PostgreSQL database at `url`, reporting
/// to `out`: the registry and each platform's databases are schemas of it.
#[cfg(feature = "postgres")]
pub(crate) async fn run_postgres(url: &str, out: &mut impl Write) -> Result<Summary> {
    story(&postgres_platforms(url).await?, out).await
}

/// The platforms of the PostgreSQL database at `url`: the registry in a
/// schema of its own, each platform's databases schemas made by the
/// connecting role, and the tenant stores on the application role.
#[cfg(feature = "postgres")]
pub(crate) async fn postgres_platforms(url: &str) -> Result<Platforms> {
    use std::sync::Arc;

    use neutrino::postgres::{PostgresExecutor, PostgresKv, PostgresProvisioner};
    use neutrino::provision::{Provisioner, ResourceSpec};
    use neutrino::tenancy::{Registry, RegistryOptions};

    let admin = PostgresExecutor::connect(url).await?;
    let provisioner = Arc::new(PostgresProvisioner::new(admin.clone()));
    // The registry's database, with its status KV in it: a schema of its own.
    let spec = ResourceSpec::new(ResourceKind::Database, "neutrino-registry");
    let schema = provisioner.create(&spec).await?.provider_id;
    let registry_db = admin.settings().schema(&schema)?.connect().await?;
    let kv = PostgresKv::open(registry_db.clone(), "status").await?;
    let registry = Registry::open(
        Arc::new(registry_db),
        Arc::new(kv),
        RegistryOptions::default(),
    )
    .await?;
    let minter = registry.scope_minter()?;
    // The tenant store connects as an application role, which row-level
    // security holds; the tables are created as the connecting role.
    let app_url = match std::env::var("NEUTRINO_APP_DATABASE_URL") {
        Ok(u) => u,
        Err(_) => quickstart_app_role(&admin, url).await?,
    };
    let rows = provisioner.role_connector(PostgresExecutor::builder(&app_url)?);
    Ok(
        Platforms::new(registry, minter, provisioner.clone(), provisioner)
            .with_store_connector(Arc::new(rows)),
    )
}

/// The quickstart's application role on PostgreSQL.
#[cfg(feature = "postgres")]
pub(crate) const APP_ROLE: &str = "neutrino_quickstart_app";

/// Makes the quickstart's application role if missing (no superuser, no
/// `BYPASSRLS`, no password: for a server that trusts local connections) and
/// answers `url` with it as the user.
#[cfg(feature = "postgres")]
pub(crate) async fn quickstart_app_role(
    admin: &dyn neutrino::sql::SqlExecutor,
    url: &str,
) -> Result<String> {
    use neutrino::sql::Statement;

    admin
        .execute(&Statement::new(format!(
            "DO $$ BEGIN CREATE ROLE \"{APP_ROLE}\" LOGIN NOSUPERUSER NOBYPASSRLS; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )))
        .await?;
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        Error::invalid(
            "NEUTRINO_DATABASE_URL",
            "set NEUTRINO_APP_DATABASE_URL when NEUTRINO_DATABASE_URL is not a postgres:// URL",
        )
    })?;
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    Ok(format!("{scheme}://{APP_ROLE}@{host}"))
}

/// Writes lines to `out`.
fn printer(out: &mut impl Write) -> impl FnMut(String) -> Result<()> + '_ {
    |line: String| writeln!(out, "{line}").map_err(|e| Error::backend("stdout", false, e))
}

/// The story, on any backend: the platform's runtime opened by name from
/// `platforms`, sign-ups, organizations, an invitation, and tenant rows.
async fn story(platforms: &Platforms, out: &mut impl Write) -> Result<Summary> {
    let mut say = printer(out);
    // The host app's tenanted table: every access to it goes through a scope.
    let notes = TenantTable::new("note", &[("body", ColumnType::Text)])?;
    let app = platforms
        .platform(NAME, SECRET)
        .tables(vec![notes.clone()])
        .build()
        .await?;
    let reused = !app.is_new();
    // What was provisioned for the platform.
    let provider_ids = tour(platforms, &app, &mut say).await?;

    // Ada signs up; her browser gets the session cookie and sends it back.
    let ada = sign_in(&app, "Ada", "ada@example.com").await?;
    say(format!(
        "{:<16}{} ({})",
        if reused { "signed in" } else { "signed up" },
        ada.user.email,
        ada.user.id
    ))?;
    let set_cookie = app
        .auth()
        .cookies()
        .session_cookie(&ada.session.token, true);
    let ada_cookie = format!("{}={}", set_cookie.name(), set_cookie.value());
    let session = app
        .auth()
        .get_session_from_cookie_header(&ada_cookie)
        .await?;
    let validated_email = session.map(|s| s.user.email.clone()).unwrap_or_default();
    say(format!(
        "cookie valid    {} for {validated_email}",
        set_cookie.name()
    ))?;

    // Her organizations are the platform's tenants; Bob accepts an invitation
    // to acme, which makes it his active tenant.
    let (token, meta) = (
        &ada.session.token,
        RequestMeta::new("127.0.0.1", "quickstart"),
    );
    let acme = org(&app, token, "acme", "Acme Inc.").await?;
    let globex = org(&app, token, "globex", "Globex Corp.").await?;
    say(format!(
        "tenants         acme {}, globex {}",
        acme.id, globex.id
    ))?;
    let bob = sign_in(&app, "Bob", "bob@example.com").await?;
    let orgs = app.orgs();
    if !orgs
        .list_members(token, &acme.id)
        .await?
        .iter()
        .any(|m| m.user_id == bob.user.id)
    {
        let inv = orgs
            .invite_member(token, &acme.id, "bob@example.com", "member", &meta)
            .await?;
        orgs.accept_invitation(&bob.session.token, &inv.id, &meta)
            .await?;
        say("invited         bob@example.com to acme (accepted)".into())?;
    } else {
        orgs.set_active(&bob.session.token, Some(&acme.id), &meta)
            .await?;
    }
    let acme_members = orgs.list_members(token, &acme.id).await?.len();
    say(format!("members         acme has {acme_members}"))?;

    // Per request: the scope comes from the cookie, never from the URL or the
    // body. Ada switches her active tenant from acme to globex.
    let store = app.store();
    orgs.set_active(token, Some(&acme.id), &meta).await?;
    let as_acme = app.scope_from_cookie_header(&ada_cookie).await?;
    let row = Record::new().set("body", "hello from the database");
    let acme_note = store.insert(as_acme.tenant_scope(), &notes, row).await?;
    orgs.set_active(token, Some(&globex.id), &meta).await?;
    let as_globex = app.scope_from_cookie_header(&ada_cookie).await?;
    say(format!(
        "active tenant   ada: {} -> {}",
        as_acme.tenant(),
        as_globex.tenant()
    ))?;
    let row = Record::new().set("body", "globex's secret plan");
    let globex_note = store.insert(as_globex.tenant_scope(), &notes, row).await?;
    let body: String = store
        .get(as_acme.tenant_scope(), &notes, &acme_note)
        .await?
        .get("body")?;
    say(format!("row             acme reads its note: {body}"))?;
    let acme_rows = store
        .list(as_acme.tenant_scope(), &notes, &ListQuery::new())
        .await?
        .rows;
    let leaked = acme_rows
        .iter()
        .any(|r| r.get::<String>("body").is_ok_and(|b| b.contains("globex")));
    let globex_reads_acme = store
        .get(as_globex.tenant_scope(), &notes, &acme_note)
        .await;
    let shown = |r: &Result<_>| {
        r.as_ref()
            .map_or_else(|e| e.to_string(), |_| "visible".into())
    };
    say(format!(
        "isolation       acme lists {} of its own notes; globex reading acme's note: {}",
        acme_rows.len(),
        shown(&globex_reads_acme)
    ))?;
    // Bob's scope, from his session: acme's rows only.
    let as_bob = app.scope(&bob.session.token).await?;
    let bob_rows = store
        .list(as_bob.tenant_scope(), &notes, &ListQuery::new())
        .await?
        .rows
        .len();
    let bob_reads_globex = store.get(as_bob.tenant_scope(), &notes, &globex_note).await;
    let bobs = if as_bob.tenant() == acme.id {
        "acme"
    } else {
        "other"
    };
    say(format!(
        "bob's scope     {bobs}: lists {bob_rows} notes; globex's note: {}",
        shown(&bob_reads_globex)
    ))?;
    if leaked
        || !globex_reads_acme.is_err_and(|e| e.is_not_found())
        || !bob_reads_globex.is_err_and(|e| e.is_not_found())
        || bob_rows != acme_rows.len()
    {
        return Err(Error::PermissionDenied {
            reason: "tenant isolation did not hold".into(),
        });
    }
    Ok(Summary {
        platform: app.id(),
        reused,
        provider_ids,
        read_back: (body, None),
        set_cookie: set_cookie.to_string(),
        validated_email,
        acme_members,
        bob_rows,
    })
}

/// A tour of what the runtime provisioned (printed): the platform's hosts,
/// the default stack's resources, drift and status. Returns the resources'
/// provider IDs.
async fn tour(
    platforms: &Platforms,
    app: &Platform,
    say: &mut impl FnMut(String) -> Result<()>,
) -> Result<Vec<String>> {
    let (p, reused, stack) = (app.id(), !app.is_new(), StackId::DEFAULT);
    let domain = platforms.registry().base_domain();
    say(format!(
        "platform        {p}{}",
        if reused { " (reused)" } else { "" }
    ))?;
    say(format!("auth host       {}", domain.auth_host(p, stack)))?;
    say(format!("cookie domain   {}", domain.cookie_domain(p)))?;
    let mut provider_ids = Vec::new();
    for (kind, name) in [
        (
            ResourceKind::Database,
            ResourceName::stack_database(p, stack),
        ),
        (ResourceKind::Bucket, ResourceName::stack_bucket(p, stack)),
        (ResourceKind::KvNamespace, ResourceName::stack_kv(p, stack)),
    ] {
        if !platforms.provisioner().supports(kind) {
            continue;
        }
        let rec = app.registry().resource(kind, name.as_str()).await?;
        let id = rec
            .provider_id
            .ok_or_else(|| Error::not_found("provider id", name.as_str()))?;
        say(format!("provisioned     {kind} {name} -> {id}"))?;
        provider_ids.push(id);
    }
    let drift = Provisioning::new(
        platforms.registry().clone(),
        platforms.provisioner().clone(),
    )
    .verify(p)
    .await?;
    say(format!(
        "drift           {}",
        if drift.is_clean() { "none" } else { "found" }
    ))?;
    say(format!(
        "status          {} = {}",
        platform_status_key(p),
        app.registry().status().await?
    ))?;
    Ok(provider_ids)
}

#[tokio::main]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let kept = std::env::args_os().nth(1);
    let temp = tempfile::tempdir()?;
    let root = kept.as_deref().map_or(temp.path(), Path::new);
    let url = std::env::var("NEUTRINO_DATABASE_URL").ok();
    let s = match url.as_deref() {
        None => run(root, &mut std::io::stdout()).await?,
        #[cfg(feature = "postgres")]
        Some(url) => run_postgres(url, &mut std::io::stdout()).await?,
        #[cfg(not(feature = "postgres"))]
        Some(_) => {
            return Err("NEUTRINO_DATABASE_URL is set: run with --features postgres".into());
        }
    };
    let state = if s.reused { "still there" } else { "ready" };
    println!(
        "platform {} is {state} with {} stack resources; read back {:?}",
        s.platform,
        s.provider_ids.len(),
        s.read_back
    );
    println!(
        "user {} has a valid session cookie ({} bytes of Set-Cookie)",
        s.validated_email,
        s.set_cookie.len()
    );
    println!(
        "acme has {} members; bob's scope lists {} acme notes and nothing of globex",
        s.acme_members, s.bob_rows
    );
    match (url, &kept) {
        (Some(_), _) => println!("the platform is kept in the PostgreSQL database"),
        (None, Some(_)) => println!("the platform is kept under {}", root.display()),
        (None, None) => {
            println!("the platform was in a temporary folder (pass a folder to keep it)")
        }
    }
    Ok(())
}
