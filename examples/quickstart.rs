//! Neutrino's quickstart, on the embedded SQLite default; runs offline.
//!
//! Run with `cargo run --example quickstart` (optionally followed by a folder to
//! keep the platform in; a temporary folder otherwise). Run it twice on the same
//! folder and the second run reuses the platform the first one made.
//!
//! It onboards a platform end to end with the `LocalProvisioner` (the bootstrap
//! plan, then the default stack's database, bucket and KV namespace), writes and
//! reads back a KV key and an object, signs a user up on the platform's auth
//! database (a second run signs the same user in) and validates the cookie.
//! Through the auth layer, Ada then creates two organizations (registry
//! tenants), invites Bob to one, switches her active tenant between them, and
//! each scope minted from a session sees only its own tenant's rows.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use neutrino::Result;
use neutrino::auth::org::{NewOrganization, Organization, Organizations};
use neutrino::auth::{
    Auth, AuthError, CookieConfig, CookieDomain, RequestMeta, SignInEmail, SignUpEmail, SignedIn,
};
use neutrino::ids::{PlatformId, StackId};
use neutrino::kv::KvStore;
use neutrino::naming::{AppName, Domain, ResourceName, ResourceRole, platform_status_key};
use neutrino::object::{ObjectStore, PutOptions};
use neutrino::provision::{Provisioner, ResourceKind, ResourceSpec};
use neutrino::sqlite::{LocalProvisioner, SqliteExecutor};
use neutrino::tenancy::provision::{Plan, Provisioning, StepState};
use neutrino::tenancy::{
    ColumnType, ListQuery, NewPlatform, PlatformClass, Record, Registry, RegistryOptions,
    StackTemplate, TenantStore, TenantTable,
};

/// The platform's name, by which a second run finds it again.
const NAME: &str = "Quickstart";

/// What the quickstart did, for its test.
#[derive(Debug)]
pub(crate) struct Summary {
    /// The platform it onboarded (or found).
    pub(crate) platform: PlatformId,
    /// Whether the platform existed already.
    pub(crate) reused: bool,
    /// The provider IDs of the default stack's database, bucket and KV namespace.
    pub(crate) provider_ids: Vec<String>,
    /// The row, KV value and object it read back.
    pub(crate) read_back: (String, String, String),
    /// The `Set-Cookie` header the user got.
    pub(crate) set_cookie: String,
    /// The email of the user whose cookie validated.
    pub(crate) validated_email: String,
    /// Members of acme after the invitation.
    pub(crate) acme_members: usize,
    /// Notes Bob's scope (acme) lists.
    pub(crate) bob_rows: usize,
}

fn say(out: &mut dyn Write, line: String) {
    let _ = writeln!(out, "{line}");
}

/// Signs a user up on the first run, in on later ones.
async fn sign_up_or_in(
    auth: &Auth,
    reused: bool,
    name: &str,
    email: &str,
    meta: &RequestMeta,
) -> Result<SignedIn> {
    let password = "correct horse battery";
    if reused {
        auth.sign_in_email(SignInEmail::new(email, password), meta)
            .await
    } else {
        // No email verification required here: sign-up signs in at once.
        auth.sign_up_email(SignUpEmail::new(name, email, password), meta)
            .await
            .and_then(|up| up.signed_in().ok_or(AuthError::EmailNotVerified))
    }
    .map_err(neutrino::Error::from)
}

/// Ada's organization with this slug: found among hers, or created.
async fn find_or_create_org(
    orgs: &Organizations,
    token: &str,
    slug: &str,
    name: &str,
    meta: &RequestMeta,
) -> Result<Organization> {
    let mine = orgs.list_organizations(token).await?;
    match mine.into_iter().find(|o| o.slug == slug) {
        Some(o) => Ok(o),
        None => orgs
            .create_organization(token, NewOrganization::new(name, slug), meta)
            .await
            .map_err(neutrino::Error::from),
    }
}

/// Onboards a platform under `root` (or finds the one a previous run made) and
/// exercises its resources, reporting to `out`.
pub(crate) async fn run(root: &Path, out: &mut impl Write) -> Result<Summary> {
    let local = Arc::new(LocalProvisioner::open(root).await?);

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
    // Found by its name on later runs: the registry keeps one live platform per
    // name given to `open_or_create_platform`, even under concurrent starts.
    let (platform, created) = registry
        .open_or_create_platform(NewPlatform::new(NAME, PlatformClass::Platform))
        .await?;
    let (platform, reused) = (platform.id, !created);

    let stack = StackId::DEFAULT;
    let domain = Domain::default();
    let console = AppName::new("console")?;
    say(
        out,
        format!(
            "platform        {platform}{}",
            if reused { " (reused)" } else { "" }
        ),
    );
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

    // Onboarding: the bootstrap plan, then the default stack. Both can be printed
    // first (a dry run), and are idempotent: a second run creates nothing new.
    let template = StackTemplate {
        name: "app".into(),
        version: 1,
        resources: vec![
            ResourceRole::Database,
            ResourceRole::Storage,
            ResourceRole::Kv,
        ],
    };
    let bootstrap = Plan::bootstrap(platform, &domain, &[&neutrino::auth::schema::MIGRATIONS]);
    let stack_plan = Plan::stack(platform, stack, &template)?;
    let _ = write!(out, "{bootstrap}");
    let (tx, rx) = std::sync::mpsc::channel();
    let provisioning = Provisioning::new(registry.clone(), local.clone())
        .with_connector(local.clone())
        .with_observer(move |ev| {
            if ev.state == StepState::Done {
                let _ = tx.send(format!(
                    "done            {}/{} {}",
                    ev.step + 1,
                    ev.total,
                    ev.description
                ));
            }
        });
    provisioning.apply(&bootstrap).await?;
    provisioning.apply(&stack_plan).await?;
    for line in rx.try_iter() {
        say(out, line);
    }
    let mut provider_ids = Vec::new();
    for (kind, role) in [
        (ResourceKind::Database, ResourceRole::Database),
        (ResourceKind::Bucket, ResourceRole::Storage),
        (ResourceKind::KvNamespace, ResourceRole::Kv),
    ] {
        let name = ResourceName::new(platform, stack, role)?;
        let rec = registry.resource(platform, kind, name.as_str()).await?;
        let id = rec
            .provider_id
            .ok_or_else(|| neutrino::Error::not_found("provider id", name.as_str()))?;
        say(out, format!("provisioned     {kind} {name} -> {id}"));
        provider_ids.push(id);
    }
    let drift = provisioning.verify(platform).await?;
    say(
        out,
        format!(
            "drift           {}",
            if drift.is_clean() { "none" } else { "found" }
        ),
    );

    let kv = local
        .kv(ResourceName::stack_kv(platform, stack).as_str())
        .await?;
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

    let bucket = local
        .bucket(ResourceName::stack_bucket(platform, stack).as_str())
        .await?;
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

    // Identity: the auth database the bootstrap made and migrated (Better Auth's
    // schema). A real deployment reads the secret from its environment.
    let auth_db = local
        .database(ResourceName::auth_database(platform).as_str())
        .await?;
    let auth = Auth::builder(auth_db, "quickstart-only secret, replace me: 32+ bytes")
        .with_base_url(format!("https://{}", domain.auth_host(platform, stack)))
        .with_cookies(CookieConfig {
            secure: true,
            domain: CookieDomain::platform(platform, &domain),
            ..CookieConfig::default()
        })
        .build()?;
    // The bootstrap ran the auth migrations when it created the database; an
    // app still calls `migrate` at every start (idempotent: applied ones are
    // skipped), since only this call applies those a newer version adds.
    auth.migrate().await?;
    let meta = RequestMeta::new("127.0.0.1", "neutrino-quickstart");
    let signed = sign_up_or_in(&auth, reused, "Ada", "ada@example.com", &meta).await?;
    let cookie = auth.cookies().session_cookie(&signed.session.token, true);
    say(
        out,
        format!(
            "{:<16}{} ({})",
            if reused { "signed in" } else { "signed up" },
            signed.user.email,
            signed.user.id
        ),
    );
    let session = auth
        .get_session_from_cookie(cookie.value())
        .await?
        .ok_or_else(|| neutrino::Error::not_found("session", "from the cookie"))?;
    say(
        out,
        format!(
            "cookie valid    {} for {}",
            cookie.name(),
            session.user.email
        ),
    );

    // Organizations are the registry's tenants; the auth layer alone mints
    // tenant scopes, from a session's active organization.
    let orgs = Organizations::new(
        auth.clone(),
        registry.platform(platform),
        registry.scope_minter()?,
    )?;
    orgs.reconcile().await?;
    let ada = &signed.session.token;
    let acme = find_or_create_org(&orgs, ada, "acme", "Acme Inc.", &meta).await?;
    let globex = find_or_create_org(&orgs, ada, "globex", "Globex Corp.", &meta).await?;
    say(
        out,
        format!("tenants         acme {}, globex {}", acme.id, globex.id),
    );

    // Ada invites Bob to Acme; Bob accepts, which makes Acme his active tenant.
    let bob = sign_up_or_in(&auth, reused, "Bob", "bob@example.com", &meta).await?;
    let members = orgs.list_members(ada, &acme.id).await?;
    if !members.iter().any(|m| m.user_id == bob.user.id) {
        let inv = orgs
            .invite_member(ada, &acme.id, "bob@example.com", "member", &meta)
            .await?;
        orgs.accept_invitation(&bob.session.token, &inv.id, &meta)
            .await?;
        say(
            out,
            "invited         bob@example.com to acme (accepted)".into(),
        );
    } else {
        orgs.set_active(&bob.session.token, Some(&acme.id), &meta)
            .await?;
    }
    let acme_members = orgs.list_members(ada, &acme.id).await?.len();
    say(out, format!("members         acme has {acme_members}"));

    // A tenanted table in the stack database: every access goes through a scope.
    let db = local
        .database(ResourceName::stack_database(platform, stack).as_str())
        .await?;
    let notes = TenantTable::new("note", &[("body", ColumnType::Text)])?;
    let store = TenantStore::open(&registry, Arc::new(db), vec![notes.clone()]).await?;
    // Ada switches her active tenant: acme, then globex; each scope comes from
    // her session.
    orgs.set_active(ada, Some(&acme.id), &meta).await?;
    let as_acme = orgs.scope(ada).await?;
    let acme_note = store
        .insert(
            as_acme.tenant_scope(),
            &notes,
            Record::new().set("body", "hello from SQLite"),
        )
        .await?;
    orgs.set_active(ada, Some(&globex.id), &meta).await?;
    let as_globex = orgs.scope(ada).await?;
    say(
        out,
        format!(
            "active tenant   ada: {} -> {}",
            as_acme.tenant(),
            as_globex.tenant()
        ),
    );
    let globex_note = store
        .insert(
            as_globex.tenant_scope(),
            &notes,
            Record::new().set("body", "globex's secret plan"),
        )
        .await?;
    let body: String = store
        .get(as_acme.tenant_scope(), &notes, &acme_note)
        .await?
        .get("body")?;
    say(out, format!("row             acme reads its note: {body}"));
    let acme_rows = store
        .list(as_acme.tenant_scope(), &notes, &ListQuery::new())
        .await?
        .rows;
    let acme_only = acme_rows.iter().all(|r| {
        r.get::<String>("body")
            .is_ok_and(|b| b != "globex's secret plan")
    });
    let globex_reads_acme = store
        .get(as_globex.tenant_scope(), &notes, &acme_note)
        .await;
    say(
        out,
        format!(
            "isolation       acme lists {} of its own notes; globex reading acme's note: {}",
            acme_rows.len(),
            match &globex_reads_acme {
                Err(e) => e.to_string(),
                Ok(_) => "visible".into(),
            }
        ),
    );
    // Bob's scope, from his session: acme's rows only.
    let as_bob = orgs.scope(&bob.session.token).await?;
    let bob_rows = store
        .list(as_bob.tenant_scope(), &notes, &ListQuery::new())
        .await?
        .rows
        .len();
    let bob_reads_globex = store.get(as_bob.tenant_scope(), &notes, &globex_note).await;
    say(
        out,
        format!(
            "bob's scope     {}: lists {bob_rows} notes; globex's note: {}",
            if as_bob.tenant() == acme.id {
                "acme"
            } else {
                "other"
            },
            match &bob_reads_globex {
                Err(e) => e.to_string(),
                Ok(_) => "visible".into(),
            }
        ),
    );
    if !acme_only
        || !globex_reads_acme.as_ref().is_err_and(|e| e.is_not_found())
        || !bob_reads_globex.as_ref().is_err_and(|e| e.is_not_found())
        || bob_rows != acme_rows.len()
    {
        return Err(neutrino::Error::PermissionDenied {
            reason: "tenant isolation did not hold".into(),
        });
    }

    Ok(Summary {
        platform,
        reused,
        provider_ids,
        read_back: (body, greeting, text),
        acme_members,
        bob_rows,
        set_cookie: cookie.to_string(),
        validated_email: session.user.email.clone(),
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
        "platform {} is {} with {} stack resources; read back {:?}",
        summary.platform,
        if summary.reused {
            "still there"
        } else {
            "ready"
        },
        summary.provider_ids.len(),
        summary.read_back
    );
    println!(
        "user {} has a valid session cookie ({} bytes of Set-Cookie)",
        summary.validated_email,
        summary.set_cookie.len()
    );
    println!(
        "acme has {} members; bob's scope lists {} acme notes and nothing of globex",
        summary.acme_members, summary.bob_rows
    );
    match kept {
        Some(_) => println!("the platform is kept under {}", root.display()),
        None => println!("the platform was in a temporary folder (pass a folder to keep it)"),
    }
    Ok(())
}
