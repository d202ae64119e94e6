//! Neutrino's quickstart, on the embedded SQLite default; runs offline.
//!
//! Run with `cargo run --example quickstart` (optionally followed by a folder to
//! keep the platform in; a temporary folder otherwise). Run it twice on the same
//! folder and the second run reuses everything the first one made.
//!
//! One call opens the platform's runtime: the platform is registered, its
//! databases, bucket and KV namespace provisioned, its auth database migrated.
//! Ada signs up, creates two organizations (the platform's tenants) and invites
//! Bob to one; each request's tenant scope comes from a session, and each
//! scope sees only its own tenant's rows.

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
use neutrino::{Error, LocalPlatforms, Platform, Result};

/// What the quickstart did, for its test.
#[derive(Debug)]
pub(crate) struct Summary {
    pub(crate) platform: PlatformId,
    /// Whether the platform existed already (a second run).
    pub(crate) reused: bool,
    /// The provider IDs of the default stack's database, bucket and KV namespace.
    pub(crate) provider_ids: Vec<String>,
    /// The row, KV value and object it read back.
    pub(crate) read_back: (String, String, String),
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

/// Runs the platform's story in `root`, reporting to `out`.
pub(crate) async fn run(root: &Path, out: &mut impl Write) -> Result<Summary> {
    let mut say =
        |line: String| writeln!(out, "{line}").map_err(|e| Error::backend("stdout", false, e));
    // The host app's tenanted table: every access to it goes through a scope.
    let notes = TenantTable::new("note", &[("body", ColumnType::Text)])?;
    // Start-up, once: the folder, then the platform found by its name (made on
    // the first run). A real deployment reads the secret from its environment.
    let folder = LocalPlatforms::open(root).await?;
    let app = folder
        .platform(
            "Quickstart",
            "quickstart-only secret, replace me: 32+ bytes",
        )
        .tables(vec![notes.clone()])
        .build()
        .await?;
    let reused = !app.is_new();
    // What the folder holds for the platform: its databases, bucket and KV.
    let (provider_ids, greeting, text) = tour(&folder, &app, &mut say).await?;

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
    let row = Record::new().set("body", "hello from SQLite");
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
        read_back: (body, greeting, text),
        set_cookie: set_cookie.to_string(),
        validated_email,
        acme_members,
        bob_rows,
    })
}

/// A tour of what the runtime provisioned in the folder (printed): the plan
/// it ran, the default stack's resources, and a KV key and an object written
/// and read back, for the host app's own use.
async fn tour(
    folder: &LocalPlatforms,
    app: &Platform,
    say: &mut impl FnMut(String) -> Result<()>,
) -> Result<(Vec<String>, String, String)> {
    let (p, reused, stack) = (app.id(), !app.is_new(), StackId::DEFAULT);
    let domain = folder.registry().base_domain();
    say(format!(
        "platform        {p}{}",
        if reused { " (reused)" } else { "" }
    ))?;
    say(format!("auth host       {}", domain.auth_host(p, stack)))?;
    say(format!("cookie domain   {}", domain.cookie_domain(p)))?;
    say(Plan::bootstrap(p, domain, &[&neutrino::auth::schema::MIGRATIONS]).to_string())?;
    let local = folder.provisioner().clone();
    let mut provider_ids = Vec::new();
    for (kind, name) in [
        (
            ResourceKind::Database,
            ResourceName::stack_database(p, stack),
        ),
        (ResourceKind::Bucket, ResourceName::stack_bucket(p, stack)),
        (ResourceKind::KvNamespace, ResourceName::stack_kv(p, stack)),
    ] {
        let rec = app.registry().resource(kind, name.as_str()).await?;
        let id = rec
            .provider_id
            .ok_or_else(|| Error::not_found("provider id", name.as_str()))?;
        say(format!("provisioned     {kind} {name} -> {id}"))?;
        provider_ids.push(id);
    }
    let drift = Provisioning::new(folder.registry().clone(), local.clone())
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
    // The stack's KV namespace and bucket, for the host app's own use.
    let kv = local.kv(ResourceName::stack_kv(p, stack).as_str()).await?;
    kv.put("greeting", "hello from KV".into(), None).await?;
    let greeting =
        String::from_utf8_lossy(&kv.get("greeting").await?.unwrap_or_default()).into_owned();
    let bucket = local
        .bucket(ResourceName::stack_bucket(p, stack).as_str())
        .await?;
    bucket
        .put(
            "welcome.txt",
            "hello from the bucket".into(),
            &Default::default(),
        )
        .await?;
    let text = String::from_utf8_lossy(&bucket.get("welcome.txt").await?.data).into_owned();

    Ok((provider_ids, greeting, text))
}

#[tokio::main]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let kept = std::env::args_os().nth(1);
    let temp = tempfile::tempdir()?;
    let root = kept.as_deref().map_or(temp.path(), Path::new);
    let s = run(root, &mut std::io::stdout()).await?;
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
    match kept {
        Some(_) => println!("the platform is kept under {}", root.display()),
        None => println!("the platform was in a temporary folder (pass a folder to keep it)"),
    }
    Ok(())
}
