//! Interoperability with the real Better Auth (the npm package pinned in
//! `tests/interop/package.json`), on shared SQLite files.
//!
//! Needs Node and the packages installed by `scripts/setup-node-tests` (which
//! `scripts/test` runs). Without them this test fails and says what is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use neutrino_auth::{Auth, AuthBuilder, RequestMeta, SignInEmail, SignUpEmail};
use neutrino_core::sql::{SqlExecutorExt, Statement};
use neutrino_sqlite::SqliteExecutor;
use serde_json::Value;

const SECRET: &str = "interop-secret-0123456789abcdef0123456789";
const PASSWORD: &str = "correct horse battery";

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Runs the Better Auth script and parses its JSON output.
fn better_auth(args: &[&str]) -> Value {
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
    assert!(stored.starts_with("$argon2id$"), "rehashed to argon2id");

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

    // Better Auth's migrations find nothing to add to Neutrino's schema.
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
