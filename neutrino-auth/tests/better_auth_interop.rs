//! Interoperability with the real Better Auth (the npm package pinned in
//! `tests/interop/package.json`), on shared SQLite files.
//!
//! Needs Node and the packages installed by `scripts/setup-node-tests` (which
//! `scripts/test` runs). Without them this test fails and says what is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use neutrino_auth::{Auth, AuthBuilder, RequestMeta, SignInEmail, SignUpEmail};
use neutrino_core::sql::{SqlExecutor, SqlExecutorExt, Statement};
use neutrino_sqlite::SqliteExecutor;
use serde_json::{Value, json};

const SECRET: &str = "interop-secret-0123456789abcdef0123456789";
const PASSWORD: &str = "correct horse battery";

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Runs the Better Auth script and parses its JSON output.
fn better_auth(args: &[&str]) -> Value {
    better_auth_env(args, &[])
}

/// Runs the Better Auth script with the environment variables `env` and
/// parses its JSON output.
fn better_auth_env(args: &[&str], env: &[(&str, &str)]) -> Value {
    let dir = interop_dir();
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => panic!(
            "the Better Auth interop test needs Node.js 20 or later on PATH \
             (then run scripts/setup-node-tests)"
        ),
    }
    assert!(
        dir.join("node_modules/better-auth").is_dir()
            && dir.join("node_modules/better-sqlite3").is_dir(),
        "Better Auth is not installed for the interop test: run scripts/setup-node-tests"
    );
    let out = Command::new("node")
        .current_dir(&dir)
        .envs(env.iter().copied())
        .arg("better-auth.mjs")
        .args(args)
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "better-auth.mjs {} failed: {}",
        args[0],
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "better-auth.mjs printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

async fn neutrino(db: &SqliteExecutor) -> Auth {
    let auth = AuthBuilder::new(db.clone(), SECRET).build().unwrap();
    auth.migrate().await.unwrap();
    auth
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_better_auth_database_user_and_cookie_work_in_neutrino() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("better-auth.sqlite");
    let email = "ada@example.com";
    let made = better_auth(&["init", path_str(&path), SECRET, email, PASSWORD]);
    let cookie = made["cookieValue"].as_str().unwrap();
    let user_id = made["userId"].as_str().unwrap();
    // Better Auth's own cookie value: URL-encoded token.signature.
    assert!(cookie.ends_with("%3D"), "{cookie}");
    assert!(
        made["setCookie"]
            .as_str()
            .unwrap()
            .contains("Max-Age=604800; Path=/; HttpOnly; SameSite=Lax")
    );

    let db = SqliteExecutor::open(&path).await.unwrap();
    let auth = neutrino(&db).await;

    // The cookie Better Auth issued validates here.
    let found = auth
        .get_session_from_cookie(cookie)
        .await
        .unwrap()
        .expect("Better Auth's session validates in Neutrino");
    assert_eq!(found.user.id.as_str(), user_id);
    assert_eq!(found.user.email, email);
    assert_eq!(found.session.token, made["token"].as_str().unwrap());
    // Neutrino signs the same token into the same cookie value.
    assert_eq!(auth.cookies().sign(&found.session.token), cookie);

    // The user signs in with the same password (Better Auth's scrypt hash).
    let meta = RequestMeta::new("198.51.100.9", "interop");
    let signed = auth
        .sign_in_email(SignInEmail::new(email, PASSWORD), &meta)
        .await
        .unwrap();
    assert_eq!(signed.user.id.as_str(), user_id);
    let wrong = auth
        .sign_in_email(SignInEmail::new(email, "not the password"), &meta)
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), "INVALID_EMAIL_OR_PASSWORD");
    let stored: String = db
        .query_one(
            &Statement::new(r#"SELECT "password" FROM "account" WHERE "userId" = ?1"#)
                .bind(user_id),
            "account",
            user_id,
        )
        .await
        .unwrap()
        .get(0)
        .unwrap();
    // The default policy never replaces Better Auth's hash: the user still
    // signs in on Better Auth afterwards.
    assert!(
        !stored.starts_with('$') && stored.contains(':'),
        "Better Auth's scrypt hash kept: {stored}"
    );
    let theirs_in = better_auth(&[
        "call",
        path_str(&path),
        SECRET,
        "-",
        "signInEmail",
        &json!({"body": {"email": email, "password": PASSWORD}}).to_string(),
    ]);
    assert_eq!(theirs_in["status"], 200, "{theirs_in}");

    // And the reverse on Better Auth's database: Neutrino's session validates
    // in Better Auth's getSession.
    let ours = auth.cookies().sign(&signed.session.token);
    let theirs = better_auth(&["get-session", path_str(&path), SECRET, &ours]);
    assert_eq!(theirs["session"]["token"], signed.session.token.as_str());
    assert_eq!(theirs["session"]["userId"], user_id);
    assert_eq!(theirs["user"]["email"], email);

    // Sign-out here is seen there.
    auth.sign_out(&signed.session.token, &meta).await.unwrap();
    let gone = better_auth(&["get-session", path_str(&path), SECRET, &ours]);
    assert!(gone.is_null(), "{gone}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_neutrino_database_and_session_work_in_better_auth() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("neutrino.sqlite");
    let db = SqliteExecutor::open(&path).await.unwrap();
    let auth = neutrino(&db).await;
    let meta = RequestMeta::new("198.51.100.10", "interop");
    let signed = auth
        .sign_up_email(
            SignUpEmail::new("Grace", "grace@example.com", PASSWORD),
            &meta,
        )
        .await
        .unwrap()
        .signed_in()
        .expect("signed in");

    // Better Auth's migrations (with the organization, two-factor and admin
    // plugins) find nothing to add to Neutrino's schema.
    let pending = better_auth(&["pending-migrations", path_str(&path), SECRET]);
    assert_eq!(pending["toBeCreated"], Value::Array(vec![]), "{pending}");
    assert_eq!(pending["toBeAdded"], Value::Array(vec![]), "{pending}");

    let cookie = auth.cookies().sign(&signed.session.token);
    let theirs = better_auth(&["get-session", path_str(&path), SECRET, &cookie]);
    assert_eq!(theirs["session"]["token"], signed.session.token.as_str());
    assert_eq!(theirs["session"]["id"], signed.session.id.as_str());
    assert_eq!(theirs["user"]["id"], signed.user.id.as_str());
    assert_eq!(theirs["user"]["name"], "Grace");
    assert_eq!(theirs["user"]["emailVerified"], false);
    assert_eq!(
        theirs["session"]["expiresAt"],
        neutrino_auth::date::format(signed.session.expires_at).as_str()
    );

    // A cookie signed with another secret is refused by Better Auth too.
    let forged = AuthBuilder::new(db.clone(), format!("{SECRET}-other"))
        .build()
        .unwrap()
        .cookies()
        .sign(&signed.session.token);
    let refused = better_auth(&["get-session", path_str(&path), SECRET, &forged]);
    assert!(refused.is_null(), "{refused}");
}

/// Two-factor secrets and backup codes are encrypted in Better Auth's
/// `symmetricEncrypt` format: each side decrypts what the other encrypted.
#[test]
fn two_factor_encryption_reads_both_ways() {
    use neutrino_auth::twofactor::{symmetric_decrypt, symmetric_encrypt};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crypt.sqlite");
    let ours = symmetric_encrypt(SECRET.as_bytes(), "secret-from-neutrino").unwrap();
    let out = better_auth(&[
        "crypt",
        path_str(&path),
        SECRET,
        &ours,
        "secret-from-better-auth",
    ]);
    assert_eq!(out["decrypted"], "secret-from-neutrino");
    let theirs = out["encrypted"].as_str().unwrap();
    assert_eq!(
        symmetric_decrypt(SECRET.as_bytes(), theirs).unwrap(),
        "secret-from-better-auth"
    );
}

// ---- parity: passwords, admin plugin, user lifecycle, IDs, defaults ----

/// Runs the Better Auth script with `BA_GENERATE_ID=uuid` when `uuid`.
fn better_auth_ids(args: &[&str], uuid: bool) -> Value {
    if !uuid {
        return better_auth(args);
    }
    better_auth_env(args, &[("BA_GENERATE_ID", "uuid")])
}

/// Calls Better Auth's `auth.api[endpoint]` on the database at `path`, with
/// the session cookie `cookie` (a `better-auth.session_token` value, or a
/// whole Cookie header when it contains `=`), and `input` as `{body, query}`.
fn ba_call(path: &Path, cookie: Option<&str>, endpoint: &str, input: Value) -> Value {
    ba_call_ids(path, cookie, endpoint, input, false)
}

fn ba_call_ids(
    path: &Path,
    cookie: Option<&str>,
    endpoint: &str,
    input: Value,
    uuid: bool,
) -> Value {
    let header = match cookie {
        None => "-".to_owned(),
        Some("server") => "server".to_owned(),
        Some(c) if c.contains('=') => c.to_owned(),
        Some(c) => format!("better-auth.session_token={c}"),
    };
    better_auth_ids(
        &[
            "call",
            path_str(path),
            SECRET,
            &header,
            endpoint,
            &input.to_string(),
        ],
        uuid,
    )
}

fn ba_sign_in(path: &Path, email: &str) -> Value {
    ba_call(
        path,
        None,
        "signInEmail",
        json!({"body": {"email": email, "password": PASSWORD}}),
    )
}

fn ba_sign_up(path: &Path, name: &str, email: &str) -> Value {
    let out = ba_call(
        path,
        None,
        "signUpEmail",
        json!({"body": {"name": name, "email": email, "password": PASSWORD}}),
    );
    assert_eq!(out["status"], 200, "{out}");
    out
}

async fn neutrino_with(db: &SqliteExecutor, b: impl Fn(AuthBuilder) -> AuthBuilder) -> Auth {
    let auth = b(AuthBuilder::new(db.clone(), SECRET)).build().unwrap();
    auth.migrate().await.unwrap();
    auth
}

fn meta() -> RequestMeta {
    RequestMeta::new("198.51.100.11", "interop")
}

async fn set_role(db: &SqliteExecutor, user: &str, role: &str) {
    db.execute(
        &Statement::new(r#"UPDATE "user" SET "role" = ?1 WHERE "id" = ?2"#)
            .bind(role)
            .bind(user),
    )
    .await
    .unwrap();
}

/// Passwords both ways: under the default policy every user signs in on both
/// sides whoever wrote the hash; under argon2id a user Neutrino rehashed
/// cannot sign in on stock Better Auth (the documented trade-off), and the
/// default policy gives them back Better Auth's format at the next sign-in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_sign_in_on_both_sides_under_both_policies() {
    use neutrino_auth::PasswordPolicy;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwords.sqlite");
    let db = SqliteExecutor::open(&path).await.unwrap();
    let compat = neutrino(&db).await;
    let argon = neutrino_with(&db, |b| b.with_password_policy(PasswordPolicy::Argon2id)).await;

    // Neutrino signs up (default policy) -> Better Auth signs in.
    compat
        .sign_up_email(SignUpEmail::new("N", "n@example.com", PASSWORD), &meta())
        .await
        .unwrap();
    let r = ba_sign_in(&path, "n@example.com");
    assert_eq!(r["status"], 200, "{r}");

    // Better Auth signs up -> Neutrino signs in, twice, and Better Auth still does.
    ba_sign_up(&path, "B", "b@example.com");
    for _ in 0..2 {
        compat
            .sign_in_email(SignInEmail::new("b@example.com", PASSWORD), &meta())
            .await
            .unwrap();
    }
    let r = ba_sign_in(&path, "b@example.com");
    assert_eq!(r["status"], 200, "{r}");

    // Argon2id: what Neutrino writes is not Better Auth's format any more.
    argon
        .sign_up_email(SignUpEmail::new("A", "a2@example.com", PASSWORD), &meta())
        .await
        .unwrap();
    argon
        .sign_in_email(SignInEmail::new("b@example.com", PASSWORD), &meta())
        .await
        .unwrap();
    for email in ["a2@example.com", "b@example.com"] {
        let r = ba_sign_in(&path, email);
        assert_ne!(r["status"], 200, "{email}: {r}");
        // Neutrino still signs them in under either policy.
        compat
            .sign_in_email(SignInEmail::new(email, PASSWORD), &meta())
            .await
            .unwrap();
        // ...and the default policy has turned the hash back into Better Auth's.
        let r = ba_sign_in(&path, email);
        assert_eq!(r["status"], 200, "{email}: {r}");
    }
}

/// The admin plugin both ways: roles, bans, impersonation, defaults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_plugin_works_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.sqlite");
    let db = SqliteExecutor::open(&path).await.unwrap();
    let auth = neutrino(&db).await;
    let m = meta();
    let up = |name: &'static str, email: &'static str| {
        let auth = auth.clone();
        async move {
            auth.sign_up_email(SignUpEmail::new(name, email, PASSWORD), &meta())
                .await
                .unwrap()
                .signed_in()
                .unwrap()
        }
    };
    let a = up("Admin", "admin@example.com").await;
    let v = up("Victim", "victim@example.com").await;
    set_role(&db, a.user.id.as_str(), "admin").await;
    let w = ba_sign_up(&path, "Their user", "w@example.com");
    let w_id: neutrino_core::ids::UserId =
        w["body"]["user"]["id"].as_str().unwrap().parse().unwrap();

    // Defaults Neutrino writes read back in Better Auth as its own.
    let theirs = better_auth(&[
        "get-session",
        path_str(&path),
        SECRET,
        &auth.cookies().sign(&v.session.token),
    ]);
    assert_eq!(theirs["user"]["role"], "user", "{theirs}");
    assert_eq!(theirs["user"]["twoFactorEnabled"], false, "{theirs}");
    assert_eq!(theirs["user"]["banned"], false, "{theirs}");
    assert_eq!(theirs["session"]["impersonatedBy"], Value::Null, "{theirs}");

    // Neutrino's admin bans Better Auth's user: Better Auth refuses the sign-in.
    auth.admin_ban_user(
        &a.session.token,
        &w_id,
        Some("spam"),
        Some(std::time::Duration::from_secs(3600)),
        &m,
    )
    .await
    .unwrap();
    let r = ba_sign_in(&path, "w@example.com");
    assert_eq!(r["status"], 403, "{r}");
    assert_eq!(r["body"]["code"], "BANNED_USER");

    // Better Auth's admin (a Neutrino user with role admin) acts in Better Auth.
    let a_ba = ba_sign_in(&path, "admin@example.com");
    assert_eq!(a_ba["status"], 200, "{a_ba}");
    let a_cookie = a_ba["cookies"]["better-auth.session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = ba_call(&path, Some(&a_cookie), "listUsers", json!({"query": {}}));
    assert_eq!(listed["status"], 200, "{listed}");
    assert_eq!(listed["body"]["total"], 3, "{listed}");
    let r = ba_call(
        &path,
        Some(&a_cookie),
        "unbanUser",
        json!({"body": {"userId": w_id.as_str()}}),
    );
    assert_eq!(r["status"], 200, "{r}");
    let r = ba_call(
        &path,
        Some(&a_cookie),
        "banUser",
        json!({"body": {"userId": v.user.id.as_str(), "banReason": "theirs"}}),
    );
    assert_eq!(r["status"], 200, "{r}");
    // Better Auth's ban is Neutrino's: sessions gone, sign-in refused.
    assert!(auth.get_session(&v.session.token).await.unwrap().is_none());
    let e = auth
        .sign_in_email(SignInEmail::new("victim@example.com", PASSWORD), &m)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "BANNED_USER");
    let seen = auth.get_admin_user(&v.user.id).await.unwrap().unwrap();
    assert!(seen.banned);
    assert_eq!(seen.ban_reason.as_deref(), Some("theirs"));
    // Neutrino unbans what Better Auth banned; both sides sign in again.
    auth.admin_unban_user(&a.session.token, &v.user.id, &m)
        .await
        .unwrap();
    let v2 = auth
        .sign_in_email(SignInEmail::new("victim@example.com", PASSWORD), &m)
        .await
        .unwrap();
    assert_eq!(ba_sign_in(&path, "victim@example.com")["status"], 200);
    assert_eq!(ba_sign_in(&path, "w@example.com")["status"], 200);

    // Roles both ways: Better Auth's set-role is read by Neutrino, and back.
    let r = ba_call(
        &path,
        Some(&a_cookie),
        "setRole",
        json!({"body": {"userId": w_id.as_str(), "role": "admin"}}),
    );
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(
        auth.platform_role_of(
            auth.get_admin_user(&w_id)
                .await
                .unwrap()
                .unwrap()
                .role
                .as_deref()
        ),
        neutrino_auth::access::PlatformRole::Admin
    );
    auth.admin_set_role(&a.session.token, &w_id, &["user"], &m)
        .await
        .unwrap();
    let w_in = ba_sign_in(&path, "w@example.com");
    let w_cookie = w_in["cookies"]["better-auth.session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = ba_call(&path, Some(&w_cookie), "listUsers", json!({"query": {}}));
    assert_eq!(r["status"], 403, "{r}");

    // Better Auth impersonates: Neutrino validates the session as the
    // target's and leaves it out of the target's session list.
    let r = ba_call(
        &path,
        Some(&a_cookie),
        "impersonateUser",
        json!({"body": {"userId": v.user.id.as_str()}}),
    );
    assert_eq!(r["status"], 200, "{r}");
    let imp_token = r["body"]["session"]["token"].as_str().unwrap().to_owned();
    assert_eq!(r["body"]["session"]["impersonatedBy"], a.user.id.as_str());
    let seen = auth
        .get_session(&imp_token)
        .await
        .unwrap()
        .expect("valid in Neutrino");
    assert_eq!(seen.user.id, v.user.id);
    let ids: Vec<_> = auth
        .list_sessions(&v.user.id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.token)
        .collect();
    assert!(!ids.contains(&imp_token));
    assert!(ids.contains(&v2.session.token));

    // Neutrino impersonates: Better Auth sees the mark, hides the session from
    // list-sessions, and stops it with its admin_session cookie.
    let imp = auth
        .admin_impersonate_user(&a.session.token, &v.user.id, &m)
        .await
        .unwrap();
    let imp_cookie = auth.cookies().sign(&imp.session.token);
    let theirs = better_auth(&["get-session", path_str(&path), SECRET, &imp_cookie]);
    assert_eq!(
        theirs["session"]["impersonatedBy"],
        a.user.id.as_str(),
        "{theirs}"
    );
    assert_eq!(theirs["user"]["id"], v.user.id.as_str());
    let r = ba_call(&path, Some(&imp_cookie), "listSessions", json!({}));
    assert_eq!(r["status"], 200, "{r}");
    let listed: Vec<_> = r["body"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!listed.contains(&imp.session.id), "{r}");
    let admin_cookie = auth.cookies().sign(&format!("{}:", a.session.token));
    let header =
        format!("better-auth.session_token={imp_cookie}; better-auth.admin_session={admin_cookie}");
    let r = ba_call(
        &path,
        Some(&header),
        "stopImpersonating",
        json!({"body": {}}),
    );
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["body"]["user"]["id"], a.user.id.as_str());
    assert!(
        auth.get_session(&imp.session.token)
            .await
            .unwrap()
            .is_none()
    );
}

/// Update, change email, delete and list accounts, each way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_lifecycle_works_both_ways() {
    use neutrino_auth::mail::{EmailKind, RecordingMailer};
    use neutrino_auth::user::{UpdateUser, UserConfig};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.sqlite");
    let db = SqliteExecutor::open(&path).await.unwrap();
    let mailer = RecordingMailer::new();
    let auth = neutrino_with(&db, |b| {
        b.with_mailer(std::sync::Arc::new(mailer.clone()))
            .with_users(UserConfig {
                delete_user: true,
                change_email: true,
            })
    })
    .await;
    let m = meta();
    let n = auth
        .sign_up_email(SignUpEmail::new("Ours", "ours@example.com", PASSWORD), &m)
        .await
        .unwrap()
        .signed_in()
        .unwrap();
    let t = ba_sign_up(&path, "Theirs", "theirs@example.com");
    let t_id: neutrino_core::ids::UserId =
        t["body"]["user"]["id"].as_str().unwrap().parse().unwrap();
    let t_cookie = t["cookies"]["better-auth.session_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Update: each side's change is read by the other.
    let r = ba_call(
        &path,
        Some(&t_cookie),
        "updateUser",
        json!({"body": {"name": "Theirs renamed"}}),
    );
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(
        auth.get_user(&t_id).await.unwrap().unwrap().name,
        "Theirs renamed"
    );
    auth.update_user(
        &n.session.token,
        UpdateUser {
            name: Some("Ours renamed".into()),
            image: None,
        },
        &m,
    )
    .await
    .unwrap();
    let theirs = better_auth(&[
        "get-session",
        path_str(&path),
        SECRET,
        &auth.cookies().sign(&n.session.token),
    ]);
    assert_eq!(theirs["user"]["name"], "Ours renamed");

    // List accounts: the same credential account on both sides.
    let r = ba_call(
        &path,
        Some(&auth.cookies().sign(&n.session.token)),
        "listUserAccounts",
        json!({}),
    );
    assert_eq!(r["status"], 200, "{r}");
    let ours = auth.list_accounts(&n.user.id).await.unwrap();
    assert_eq!(r["body"][0]["id"], ours[0].id.as_str());
    assert_eq!(r["body"][0]["providerId"], "credential");

    // Change email: Neutrino's link works in Better Auth...
    auth.change_email(&n.session.token, "ours-new@example.com", None, &m)
        .await
        .unwrap();
    let mail = mailer
        .last_to("ours-new@example.com", EmailKind::ChangeEmail)
        .unwrap();
    let r = ba_call(
        &path,
        None,
        "verifyEmail",
        json!({"query": {"token": mail.token}}),
    );
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(
        auth.get_user(&n.user.id).await.unwrap().unwrap().email,
        "ours-new@example.com"
    );
    // ...and Better Auth's in Neutrino.
    let r = ba_call(
        &path,
        Some(&t_cookie),
        "changeEmail",
        json!({"body": {"newEmail": "theirs-new@example.com"}}),
    );
    assert_eq!(r["status"], 200, "{r}");
    let token = r["mails"][0]["token"]
        .as_str()
        .expect("Better Auth mailed a token")
        .to_owned();
    let u = auth.verify_email(&token, &m).await.unwrap();
    assert_eq!(u.email, "theirs-new@example.com");
    assert_eq!(ba_sign_in(&path, "theirs-new@example.com")["status"], 200);

    // Delete: Better Auth deletes Neutrino's user, Neutrino deletes Better Auth's.
    let r = ba_call(
        &path,
        Some(&auth.cookies().sign(&n.session.token)),
        "deleteUser",
        json!({"body": {"password": PASSWORD}}),
    );
    assert_eq!(r["status"], 200, "{r}");
    assert!(auth.get_user(&n.user.id).await.unwrap().is_none());
    let t_in = auth
        .sign_in_email(SignInEmail::new("theirs-new@example.com", PASSWORD), &m)
        .await
        .unwrap();
    auth.delete_user(&t_in.session.token, Some(PASSWORD), &m)
        .await
        .unwrap();
    let r = ba_sign_in(&path, "theirs-new@example.com");
    assert_eq!(r["status"], 401, "{r}");
}

/// Better Auth's `generateId: "uuid"` users sign in on Neutrino, and a
/// Neutrino platform writing UUIDs is read by Better Auth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uuid_ids_work_both_ways() {
    use neutrino_auth::IdFormat;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("uuid.sqlite");
    let made = better_auth_ids(
        &["init", path_str(&path), SECRET, "u@example.com", PASSWORD],
        true,
    );
    let user_id = made["userId"].as_str().unwrap();
    assert_eq!(user_id.len(), 36, "{made}");
    let db = SqliteExecutor::open(&path).await.unwrap();
    let auth = neutrino_with(&db, |b| b.with_id_format(IdFormat::Uuid)).await;
    let found = auth
        .get_session_from_cookie(made["cookieValue"].as_str().unwrap())
        .await
        .unwrap()
        .expect("Better Auth's UUID user's session validates");
    assert_eq!(found.user.id.as_str(), user_id);
    let s = auth
        .sign_in_email(SignInEmail::new("u@example.com", PASSWORD), &meta())
        .await
        .unwrap();
    assert_eq!(s.user.id.as_str(), user_id);

    let ours = auth
        .sign_up_email(SignUpEmail::new("Uuid", "v@example.com", PASSWORD), &meta())
        .await
        .unwrap()
        .signed_in()
        .unwrap();
    assert_eq!(ours.user.id.format(), IdFormat::Uuid);
    let r = ba_call_ids(
        &path,
        None,
        "signInEmail",
        json!({"body": {"email": "v@example.com", "password": PASSWORD}}),
        true,
    );
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["body"]["user"]["id"], ours.user.id.as_str());
}

// ---- API keys: remaining, refill and the per-key rate limit ----

mod common;

/// Better Auth's `verifyApiKey` on the database at `path`: `(valid, code)`.
fn ba_verify_key(path: &Path, key: &str) -> (bool, Option<String>) {
    let out = ba_call(path, None, "verifyApiKey", json!({"body": {"key": key}}));
    assert_eq!(out["status"], 200, "{out}");
    let body = &out["body"];
    (
        body["valid"].as_bool().expect("valid"),
        body["error"]["code"].as_str().map(str::to_owned),
    )
}

/// The API-key plugin's limits hold whoever wrote the key and whoever
/// verifies it, on one SQLite file: a key Better Auth made with
/// `remaining = 2` verifies twice in Neutrino, then `USAGE_EXCEEDED`; a key
/// with Better Auth's default rate limit (10 a day) verifies 10 times in
/// Neutrino, then `RATE_LIMITED`, and Better Auth counts Neutrino's uses; a
/// key Neutrino made with `remaining = 1` or a rate limit is refused by
/// Better Auth once Neutrino has used it up, and the other way round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_limits_hold_both_ways() {
    use neutrino_auth::apikey::{ApiKeyRateLimit, NewApiKey};
    let w = common::world::World::new().await;
    let path = w.dir.path().join("auth-a.sqlite");
    let orgs = &w.a.orgs;
    let ada = w.a.user("Ada").await;
    // Better Auth adds nothing to a database Neutrino migrated.
    better_auth(&["migrate", path_str(&path), SECRET]);
    let user = ada.user.id.as_str();

    // Better Auth makes a key with two uses: Neutrino gives exactly two.
    let made = ba_call(
        &path,
        Some("server"),
        "createApiKey",
        json!({"body": {"userId": user, "name": "two", "remaining": 2}}),
    );
    assert_eq!(made["status"], 200, "{made}");
    let two = made["body"]["key"].as_str().unwrap().to_owned();
    orgs.verify_api_key(&two).await.unwrap();
    orgs.verify_api_key(&two).await.unwrap();
    assert_eq!(
        orgs.verify_api_key(&two).await.unwrap_err().code(),
        "USAGE_EXCEEDED"
    );
    assert_eq!(
        ba_verify_key(&path, &two).1.as_deref(),
        Some("USAGE_EXCEEDED")
    );

    // Better Auth's default per-key rate limit (10 per day) holds in Neutrino,
    // and Better Auth sees Neutrino's uses.
    let made = ba_call(
        &path,
        Some("server"),
        "createApiKey",
        json!({"body": {"userId": user, "name": "daily"}}),
    );
    assert_eq!(made["status"], 200, "{made}");
    assert_eq!(made["body"]["rateLimitMax"], 10, "{made}");
    let daily = made["body"]["key"].as_str().unwrap().to_owned();
    assert_eq!(ba_verify_key(&path, &daily), (true, None));
    for i in 1..10 {
        orgs.verify_api_key(&daily)
            .await
            .unwrap_or_else(|e| panic!("use {}: {e}", i + 1));
    }
    match orgs.verify_api_key(&daily).await {
        Err(neutrino_auth::AuthError::ApiKeyRateLimited { retry_after }) => {
            assert!(retry_after <= std::time::Duration::from_secs(86_400));
        }
        other => panic!("the 11th use of the day: {other:?}"),
    }
    assert_eq!(
        ba_verify_key(&path, &daily).1.as_deref(),
        Some("RATE_LIMITED")
    );

    // Neutrino makes a key with one use: Better Auth takes it, Neutrino is
    // refused afterwards.
    let named = |name: &str| NewApiKey {
        name: Some(name.into()),
        ..NewApiKey::default()
    };
    let meta = common::meta();
    let key = |new| async {
        let made = orgs.create_api_key(&ada.session.token, new, &meta).await;
        made.unwrap().key
    };
    let one = key(NewApiKey {
        remaining: Some(1),
        ..named("one")
    })
    .await;
    assert_eq!(ba_verify_key(&path, &one), (true, None));
    assert_eq!(
        orgs.verify_api_key(&one).await.unwrap_err().code(),
        "USAGE_EXCEEDED"
    );
    // And the other way round: Neutrino takes the only use.
    let other = key(NewApiKey {
        remaining: Some(1),
        ..named("other")
    })
    .await;
    orgs.verify_api_key(&other).await.unwrap();
    assert_eq!(
        ba_verify_key(&path, &other).1.as_deref(),
        Some("USAGE_EXCEEDED")
    );

    // A Neutrino rate limit, counted on both sides.
    let window = std::time::Duration::from_secs(3600);
    let rate_limit = Some(ApiKeyRateLimit { window, max: 2 });
    let limited = key(NewApiKey {
        rate_limit,
        ..named("limited")
    })
    .await;
    orgs.verify_api_key(&limited).await.unwrap();
    assert_eq!(ba_verify_key(&path, &limited), (true, None));
    assert_eq!(
        orgs.verify_api_key(&limited).await.unwrap_err().code(),
        "RATE_LIMITED"
    );
    assert_eq!(
        ba_verify_key(&path, &limited).1.as_deref(),
        Some("RATE_LIMITED")
    );

    // Better Auth reads a key Neutrino made with Better Auth's default limit
    // and then renamed as Neutrino wrote it: name, limit, `updatedAt`.
    let made = orgs
        .create_api_key(
            &ada.session.token,
            NewApiKey {
                name: Some("rust".into()),
                rate_limit: Some(neutrino_auth::apikey::DEFAULT_RATE_LIMIT),
                ..NewApiKey::default()
            },
            &common::meta(),
        )
        .await
        .unwrap();
    w.clock.advance(std::time::Duration::from_secs(2));
    let renamed = orgs
        .update_api_key(
            &ada.session.token,
            &made.record.id,
            neutrino_auth::apikey::ApiKeyUpdate {
                name: Some("renamed".into()),
                ..Default::default()
            },
            &common::meta(),
        )
        .await
        .unwrap();
    assert!(renamed.updated_at > made.record.updated_at);
    let cookie = w.a.auth.cookies().sign(&ada.session.token);
    let got = ba_call_world(
        &w,
        Some(&cookie),
        "getApiKey",
        json!({"query": {"id": renamed.id}}),
    );
    assert_eq!(got["status"], 200, "{got}");
    let ours = serde_json::to_value(&renamed).unwrap();
    for field in [
        "name",
        "enabled",
        "rateLimitEnabled",
        "rateLimitMax",
        "rateLimitTimeWindow",
        "requestCount",
        "createdAt",
        "updatedAt",
    ] {
        assert_eq!(got["body"][field], ours[field], "{field}: {got}");
    }
    assert_eq!(got["body"]["rateLimitMax"], 10);
    assert_eq!(got["body"]["rateLimitTimeWindow"], 86_400_000);
    assert_eq!(got["body"]["name"], "renamed");
}

/// Better Auth's call on World's platform A database, with World's secret and
/// `cookie` (a signed session cookie value) or none.
fn ba_call_world(
    w: &common::world::World,
    cookie: Option<&str>,
    endpoint: &str,
    input: Value,
) -> Value {
    let path = w.dir.path().join("auth-a.sqlite");
    let header = cookie.map_or("-".to_owned(), |c| format!("better-auth.session_token={c}"));
    better_auth(&[
        "call",
        path_str(&path),
        common::SECRET,
        &header,
        endpoint,
        &input.to_string(),
    ])
}

/// The active member both ways: Better Auth's `getActiveMember` answers for
/// a session whose organization Neutrino created and made active, and
/// Neutrino's `active_member` for a session whose organization Better Auth
/// created and made active.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_active_member_reads_both_ways() {
    use neutrino_auth::org::NewOrganization;
    let w = common::world::World::new().await;
    let path = w.dir.path().join("auth-a.sqlite");
    better_auth(&["migrate", path_str(&path), common::SECRET]);

    // Neutrino creates and activates; Better Auth reads.
    let ada = w.a.user("Ada").await;
    let acme =
        w.a.orgs
            .create_organization(
                &ada.session.token,
                NewOrganization::new("Acme", "acme"),
                &common::meta(),
            )
            .await
            .unwrap();
    let cookie = w.a.auth.cookies().sign(&ada.session.token);
    let theirs = ba_call_world(&w, Some(&cookie), "getActiveMember", json!({}));
    assert_eq!(theirs["status"], 200, "{theirs}");
    assert_eq!(theirs["body"]["organizationId"], acme.id.as_str());
    assert_eq!(theirs["body"]["userId"], ada.user.id.as_str());
    assert_eq!(theirs["body"]["role"], "owner");
    let ours = w.a.orgs.active_member(&ada.session.token).await.unwrap();
    assert_eq!(theirs["body"]["id"], ours.id.as_str());

    // Better Auth creates and activates; Neutrino reads.
    let up = ba_call_world(
        &w,
        None,
        "signUpEmail",
        json!({"body": {"name": "Bea", "email": "bea@example.com", "password": PASSWORD}}),
    );
    assert_eq!(up["status"], 200, "{up}");
    let bea_token = up["body"]["token"].as_str().unwrap().to_owned();
    let bea_cookie = up["cookies"]["better-auth.session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let org = ba_call_world(
        &w,
        Some(&bea_cookie),
        "createOrganization",
        json!({"body": {"name": "Bea Co", "slug": "bea-co"}}),
    );
    assert_eq!(org["status"], 200, "{org}");
    let member = w.a.orgs.active_member(&bea_token).await.unwrap();
    assert_eq!(member.organization_id.as_str(), org["body"]["id"]);
    assert_eq!(member.role, "owner");
    assert_eq!(member.user_id.as_str(), up["body"]["user"]["id"]);
}

// ---- organizations Better Auth created become registry tenants ----

/// Better Auth creates organizations, one with a slug that is not a DNS
/// label (`Initech_Labs`) and one with the slug it maps to
/// (`initech-labs`), and adds a member; Neutrino's `reconcile()` adopts
/// them: `set_active`, `scope()` and tenant-store rows work for each, each
/// host resolves by its label, a second reconcile changes nothing, and
/// Better Auth reads its organizations and members unchanged, and Neutrino
/// Better Auth's. With Better Auth's default IDs and with UUIDs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organizations_better_auth_created_are_adopted_as_tenants() {
    adopted_on(false).await;
    adopted_on(true).await;
}

async fn adopted_on(uuid: bool) {
    use std::sync::Arc;

    use neutrino_auth::IdFormat;
    use neutrino_core::ids::TenantId;
    use neutrino_tenancy::{ListQuery, NewPlatform, PlatformClass, Record};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("adopt.sqlite");
    let made = better_auth_ids(
        &[
            "init",
            path_str(&path),
            SECRET,
            "owner@example.com",
            PASSWORD,
        ],
        uuid,
    );
    let cookie = made["cookieValue"].as_str().unwrap().to_owned();
    let token = made["token"].as_str().unwrap().to_owned();
    let bob = {
        let up = better_auth_ids(
            &[
                "call",
                path_str(&path),
                SECRET,
                "-",
                "signUpEmail",
                &json!({"body": {"name": "Bob", "email": "bob@example.com", "password": PASSWORD}})
                    .to_string(),
            ],
            uuid,
        );
        assert_eq!(up["status"], 200, "{up}");
        up["body"]["user"]["id"].as_str().unwrap().to_owned()
    };
    let mut ids = Vec::new();
    for (name, slug) in [
        ("Initech Labs", "Initech_Labs"),
        ("Initech", "initech-labs"),
    ] {
        let org = ba_call_ids(
            &path,
            Some(&cookie),
            "createOrganization",
            json!({"body": {"name": name, "slug": slug}}),
            uuid,
        );
        assert_eq!(org["status"], 200, "{org}");
        assert_eq!(org["body"]["slug"], slug);
        let id = org["body"]["id"].as_str().unwrap().to_owned();
        assert_eq!(id.len(), if uuid { 36 } else { 32 }, "{id}");
        let added = ba_call_ids(
            &path,
            Some("server"),
            "addMember",
            json!({"body": {"userId": bob, "role": "member", "organizationId": id}}),
            uuid,
        );
        assert_eq!(added["status"], 200, "{added}");
        ids.push(id);
    }
    // What Better Auth reads before Neutrino adopts.
    let ba_view = |path: &Path| -> Vec<Value> {
        let mut v = vec![ba_call_ids(
            path,
            Some(&cookie),
            "listOrganizations",
            json!({}),
            uuid,
        )];
        for id in &ids {
            let mut full = ba_call_ids(
                path,
                Some(&cookie),
                "getFullOrganization",
                json!({"query": {"organizationId": id}}),
                uuid,
            );
            assert_eq!(full["status"], 200, "{full}");
            // Better Auth's own answer besides the rows: its cookies.
            full["cookies"] = Value::Null;
            // Better Auth lists members in no set order (the plan its query
            // gets decides it): compared by ID.
            if let Some(members) = full["body"]["members"].as_array_mut() {
                members.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
            }
            v.push(full);
        }
        v
    };
    let before = ba_view(&path);

    // Neutrino: a registry whose platform serves tenants under an app domain,
    // and the same auth database.
    let registry_db = SqliteExecutor::open(dir.path().join("registry.sqlite"))
        .await
        .unwrap();
    let registry = neutrino_tenancy::testkit::memory_kv_registry(Arc::new(registry_db)).await;
    let platform = registry
        .create_platform(
            NewPlatform::new("Interop", PlatformClass::Platform)
                .with_app_domain("apps.interop.test"),
        )
        .await
        .unwrap()
        .id;
    let db = SqliteExecutor::open(&path).await.unwrap();
    let format = if uuid {
        IdFormat::Uuid
    } else {
        IdFormat::BetterAuth
    };
    let auth = neutrino_with(&db, |b| b.with_id_format(format)).await;
    let orgs = neutrino_auth::testkit::organizations(
        auth,
        registry.clone(),
        platform,
        registry.scope_minter().unwrap(),
    );
    let (store, notes) = common::note_store(dir.path(), &registry).await;

    // Before adoption: no tenant, so no scope.
    let first: TenantId = ids[0].parse().unwrap();
    assert!(
        registry
            .tenant(platform, first)
            .await
            .unwrap_err()
            .is_not_found()
    );

    let report = orgs.reconcile().await.unwrap();
    assert_eq!((report.adopted, report.failed.len()), (2, 0), "{report:?}");
    let mut labels = Vec::new();
    for id in &ids {
        let id: TenantId = id.parse().unwrap();
        let label = registry.tenant(platform, id).await.unwrap().slug;
        assert_eq!(
            registry
                .resolve(&format!("{label}.apps.interop.test"))
                .await
                .unwrap(),
            Some((platform, id))
        );
        let set = orgs.set_active(&token, Some(&id), &meta()).await.unwrap();
        assert_eq!(set.map(|o| o.id), Some(id));
        let scope = orgs.scope(&token).await.unwrap();
        assert_eq!((scope.tenant(), scope.roles()), (id, "owner"));
        let ts = scope.tenant_scope();
        let note = store
            .insert(ts, &notes, Record::new().set("body", id.as_str()))
            .await
            .unwrap();
        assert!(store.get(ts, &notes, &note).await.is_ok());
        assert_eq!(
            store
                .list(ts, &notes, &ListQuery::new())
                .await
                .unwrap()
                .rows
                .len(),
            1
        );
        labels.push(label);
    }
    // `initech-labs` keeps its slug as label; `Initech_Labs` maps to it plus
    // a suffix from its ID.
    assert_eq!(labels[1], "initech-labs");
    assert!(
        labels[0].starts_with("initech-labs-") && labels[0].len() == 19,
        "{}",
        labels[0]
    );

    // Again: nothing to do.
    let tenants = registry.tenants(platform).await.unwrap();
    let again = orgs.reconcile().await.unwrap();
    assert_eq!((again.adopted, again.failed.len()), (0, 0), "{again:?}");
    assert_eq!(registry.tenants(platform).await.unwrap(), tenants);

    // Better Auth reads its organizations and members as before (the active
    // organization is the session's, which Neutrino did set: Better Auth
    // sees it too).
    assert_eq!(ba_view(&path), before);
    let active = ba_call_ids(&path, Some(&cookie), "getFullOrganization", json!({}), uuid);
    assert_eq!(active["body"]["id"], ids[1].as_str(), "{active}");
    // And Neutrino reads Better Auth's: slugs unchanged, Bob a member.
    let mine = orgs.list_organizations(&token).await.unwrap();
    let mut slugs: Vec<_> = mine.iter().map(|o| o.slug.as_str()).collect();
    slugs.sort_unstable();
    assert_eq!(slugs, ["Initech_Labs", "initech-labs"]);
    for id in &ids {
        let members = orgs
            .list_members(&token, &id.parse().unwrap())
            .await
            .unwrap();
        assert!(
            members
                .iter()
                .any(|m| m.user_id.as_str() == bob && m.role == "member")
        );
    }
}

/// The organization lifecycle both ways on one SQLite file: Neutrino renames
/// and Better Auth's `getFullOrganization` and `listOrganizations` agree;
/// Better Auth renames and Neutrino reads it, and `reconcile` makes the
/// registry tenant follow; an organization-owned key made on either side
/// verifies on the other; Neutrino deletes and Better Auth no longer lists
/// it; Better Auth deletes and Neutrino no longer lists it, and `reconcile`
/// deletes the registry tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_organization_lifecycle_works_both_ways() {
    use neutrino_auth::apikey::{ApiKeyScope, NewApiKey};
    use neutrino_auth::org::{NewOrganization, OrganizationUpdate};
    let w = common::world::World::new().await;
    let path = w.dir.path().join("auth-a.sqlite");
    better_auth(&["migrate", path_str(&path), common::SECRET]);
    let orgs = &w.a.orgs;
    let view = w.registry.platform(w.a.id);
    let ada = w.a.user("Ada").await;
    let tok = &ada.session.token;
    let cookie = w.a.auth.cookies().sign(tok);
    let acme = orgs
        .create_organization(tok, NewOrganization::new("Acme", "acme"), &common::meta())
        .await
        .unwrap();

    // Neutrino renames; Better Auth agrees.
    orgs.update_organization(
        tok,
        &acme.id,
        OrganizationUpdate {
            name: Some("Acme Two".into()),
            slug: Some("acme-two".into()),
            metadata: Some(Some(json!({"plan": "pro"}))),
            ..OrganizationUpdate::default()
        },
        &common::meta(),
    )
    .await
    .unwrap();
    let full = ba_call_world(
        &w,
        Some(&cookie),
        "getFullOrganization",
        json!({"query": {"organizationId": acme.id.as_str()}}),
    );
    assert_eq!(full["status"], 200, "{full}");
    assert_eq!(full["body"]["slug"], "acme-two");
    assert_eq!(full["body"]["name"], "Acme Two");
    assert_eq!(full["body"]["members"][0]["userId"], ada.user.id.as_str());
    assert_eq!(full["body"]["metadata"], r#"{"plan":"pro"}"#);
    let ours = orgs
        .get_full_organization(tok, Some(&acme.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        full["body"]["members"][0]["id"],
        ours.members[0].member.id.as_str()
    );
    assert_eq!(view.tenant(acme.id).await.unwrap().slug, "acme-two");

    // Better Auth renames; Neutrino reads it, reconcile makes the tenant follow.
    let up = ba_call_world(
        &w,
        Some(&cookie),
        "updateOrganization",
        json!({"body": {"organizationId": acme.id.as_str(), "data": {"name": "Acme Three", "slug": "acme-three"}}}),
    );
    assert_eq!(up["status"], 200, "{up}");
    assert_eq!(
        orgs.organization(tok, &acme.id).await.unwrap().slug,
        "acme-three"
    );
    let report = orgs.reconcile().await.unwrap();
    assert_eq!(report.renamed, 1, "{report:?}");
    assert_eq!(view.tenant(acme.id).await.unwrap().slug, "acme-three");

    // An organization key made by Neutrino verifies in Better Auth, and one
    // made by Better Auth in Neutrino.
    let ours = orgs
        .create_api_key(
            tok,
            NewApiKey {
                organization: Some(acme.id),
                owned_by_organization: true,
                ..NewApiKey::default()
            },
            &common::meta(),
        )
        .await
        .unwrap();
    assert_eq!(ba_verify_key(&path, &ours.key), (true, None));
    let theirs = ba_call_world(
        &w,
        Some(&cookie),
        "createApiKey",
        json!({"body": {"configId": "organization", "organizationId": acme.id.as_str(), "name": "ci"}}),
    );
    assert_eq!(theirs["status"], 200, "{theirs}");
    assert_eq!(theirs["body"]["referenceId"], acme.id.as_str());
    let their_key = theirs["body"]["key"].as_str().unwrap().to_owned();
    match orgs.verify_api_key(&their_key).await.unwrap() {
        ApiKeyScope::Organization { scope, .. } => assert_eq!(scope.tenant(), acme.id),
        other => panic!("Better Auth's organization key became {other:?}"),
    }

    // Neutrino deletes; Better Auth no longer lists it, and the keys die.
    orgs.delete_organization(tok, &acme.id, &common::meta())
        .await
        .unwrap();
    let list = ba_call_world(&w, Some(&cookie), "listOrganizations", json!({}));
    assert_eq!(list["status"], 200, "{list}");
    assert_eq!(list["body"], json!([]), "{list}");
    let gone = ba_call_world(
        &w,
        Some(&cookie),
        "getFullOrganization",
        json!({"query": {"organizationId": acme.id.as_str()}}),
    );
    assert_ne!(gone["status"], 200, "{gone}");
    assert!(orgs.verify_api_key(&their_key).await.is_err());
    assert!(!ba_verify_key(&path, &ours.key).0);

    // Better Auth deletes; Neutrino no longer lists it, and reconcile deletes
    // the tenant.
    let beta = orgs
        .create_organization(tok, NewOrganization::new("Beta", "beta"), &common::meta())
        .await
        .unwrap();
    let del = ba_call_world(
        &w,
        Some(&cookie),
        "deleteOrganization",
        json!({"body": {"organizationId": beta.id.as_str()}}),
    );
    assert_eq!(del["status"], 200, "{del}");
    assert!(orgs.list_organizations(tok).await.unwrap().is_empty());
    assert!(view.tenant(beta.id).await.is_ok());
    let report = orgs.reconcile().await.unwrap();
    assert_eq!(report.deleted, 1, "{report:?}");
    assert!(view.is_tenant_deleted(beta.id).await.unwrap());
    assert!(w.a.orgs.scope(tok).await.is_err());
}
