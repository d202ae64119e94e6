//! Neutrino's quickstart, on the embedded SQLite default; runs offline.
//!
//! Run with `cargo run --example quickstart` (optionally followed by a folder to
//! keep the platform's resources in; a temporary folder otherwise).
//!
//! It generates a platform, prints its resource names and hostnames, provisions
//! the default stack's database, bucket and KV namespace with the
//! `LocalProvisioner`, and writes and reads back a row, a KV key and an object.
//! Then it provisions the platform's auth database, signs a user up with email
//! and password, and validates the session cookie it was given.

use std::io::Write;
use std::path::Path;

use neutrino::Result;
use neutrino::auth::{Auth, CookieConfig, CookieDomain, RequestMeta, SignUpEmail};
use neutrino::ids::{PlatformId, StackId};
use neutrino::kv::KvStore;
use neutrino::naming::{AppName, Domain, ResourceName, platform_status_key};
use neutrino::object::{ObjectStore, PutOptions};
use neutrino::provision::{Provisioner, ResourceKind, ResourceSpec};
use neutrino::sql::{SqlExecutor, SqlExecutorExt, Statement};
use neutrino::sqlite::LocalProvisioner;

/// What the quickstart did, for its test.
#[derive(Debug)]
pub(crate) struct Summary {
    /// The platform it generated.
    pub(crate) platform: PlatformId,
    /// The provider IDs of the resources it provisioned.
    pub(crate) provider_ids: Vec<String>,
    /// The row, KV value and object it read back.
    pub(crate) read_back: (String, String, String),
    /// The provider ID of the platform's auth database.
    pub(crate) auth_database: String,
    /// The `Set-Cookie` header the new user got.
    pub(crate) set_cookie: String,
    /// The email of the user whose cookie validated.
    pub(crate) validated_email: String,
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

    let db = local.database(db_name.as_str()).await?;
    db.execute(&Statement::new(
        r#"CREATE TABLE IF NOT EXISTS "note" ("id" INTEGER PRIMARY KEY, "body" TEXT NOT NULL)"#,
    ))
    .await?;
    db.execute(
        &Statement::new(r#"INSERT INTO "note" ("body") VALUES (?1)"#).bind("hello from SQLite"),
    )
    .await?;
    let row = db
        .query_one(
            &Statement::new(r#"SELECT "body" FROM "note" ORDER BY "id" DESC LIMIT 1"#),
            "note",
            "latest",
        )
        .await?;
    let body: String = row.get("body")?;
    say(out, format!("row             {body}"));

    let kv = local.kv(kv_name.as_str()).await?;
    let status_key = platform_status_key(platform);
    kv.put(&status_key, "active".into(), None).await?;
    let status = kv
        .get(&status_key)
        .await?
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .ok_or_else(|| neutrino::Error::not_found("kv key", status_key.as_str()))?;
    say(out, format!("kv              {status_key} = {status}"));

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

    // Identity: the platform's own auth database, Better Auth's schema.
    let auth_name = ResourceName::auth_database(platform);
    let auth_db = local
        .create(&ResourceSpec::new(
            ResourceKind::Database,
            auth_name.as_str(),
        ))
        .await?;
    say(
        out,
        format!(
            "provisioned     database {auth_name} -> {}",
            auth_db.provider_id
        ),
    );
    // A real deployment reads the secret from its environment (BETTER_AUTH_SECRET).
    let auth = Auth::builder(
        local.database(auth_name.as_str()).await?,
        "quickstart-only secret, replace me: 32+ bytes",
    )
    .with_base_url(format!("https://{}", domain.auth_host(platform, stack)))
    .with_cookies(CookieConfig {
        secure: true,
        domain: CookieDomain::platform(platform, &domain),
        ..CookieConfig::default()
    })
    .build()
    .map_err(auth_error)?;
    auth.migrate().await.map_err(auth_error)?;
    let meta = RequestMeta::new("127.0.0.1", "neutrino-quickstart");
    let signed = auth
        .sign_up_email(
            SignUpEmail::new("Ada", "ada@example.com", "correct horse battery"),
            &meta,
        )
        .await
        .map_err(auth_error)?;
    let cookie = auth.cookies().session_cookie(&signed.session.token, true);
    let set_cookie = cookie.to_string();
    say(
        out,
        format!("signed up       {} ({})", signed.user.email, signed.user.id),
    );
    say(out, format!("set-cookie      {}", cookie.name()));
    let session = auth
        .get_session_from_cookie(cookie.value())
        .await
        .map_err(auth_error)?
        .ok_or_else(|| neutrino::Error::not_found("session", "from the cookie"))?;
    say(out, format!("cookie valid    user {}", session.user.email));

    Ok(Summary {
        platform,
        provider_ids,
        read_back: (body, status, text),
        auth_database: auth_db.provider_id,
        set_cookie,
        validated_email: session.user.email.clone(),
    })
}

/// Auth errors carry Better Auth's codes; the quickstart reports them as
/// backend errors of its `Result`.
fn auth_error(e: neutrino::auth::AuthError) -> neutrino::Error {
    match e {
        neutrino::auth::AuthError::Store(e) => e,
        other => neutrino::Error::backend("auth", false, other),
    }
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
    println!(
        "auth database {} has user {}, whose cookie validated ({} bytes of Set-Cookie)",
        summary.auth_database,
        summary.validated_email,
        summary.set_cookie.len()
    );
    match kept {
        Some(_) => println!("resources kept under {}", root.display()),
        None => println!("resources were in a temporary folder (pass a folder to keep them)"),
    }
    Ok(())
}
