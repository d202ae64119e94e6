//! Better Auth's trusted devices over real sockets: `trustDevice: true` on a
//! second factor sets the signed `trust_device` cookie, and a later sign-in
//! with it skips the second factor once; `get-totp-uri`. The attacks: a
//! cookie of another user, of another platform, forged, used twice or
//! concurrently, from before two-factor was turned off, of a banned user.

mod common;

use base64::Engine as _;
use common::{PASSWORD, Res, Server, credentials, server};
use hmac::{Hmac, Mac};
use neutrino_core::sql::{SqlExecutor, Statement};
use serde_json::{Value, json};

const TRUST: &str = "better-auth.trust_device";

/// Signs `email` up with two-factor on; returns its backup codes.
async fn two_factor_user(s: &Server, email: &str) -> Vec<String> {
    s.two_factor_user(email).await.1.backup_codes
}

/// The TOTP code of an `otpauth://` URI `ahead` seconds from now.
fn code_at(uri: &str, ahead: u64) -> String {
    common::totp_at(&common::secret_of(uri), ahead)
}

async fn sign_in(s: &Server, email: &str, cookie: &str) -> Res {
    let res = s.try_sign_in(cookie, credentials(email)).await;
    assert_eq!(res.status, 200, "{}", res.text);
    res
}

fn asks_second_factor(res: &Res) -> bool {
    res.json().get("twoFactorRedirect") == Some(&Value::Bool(true))
}

/// A sign-in completed with a backup code, trusting the device.
async fn trusted_sign_in(s: &Server, email: &str, code: &str) -> Res {
    let res = sign_in(s, email, "").await;
    assert!(asks_second_factor(&res), "{}", res.text);
    let res = s
        .post(
            "/two-factor/verify-backup-code",
            &res.cookie_header(),
            json!({"code": code, "trustDevice": true}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    res
}

/// The `Cookie` header of a response's `trust_device`.
fn trust_cookie(res: &Res) -> String {
    let set = res.set_cookie(TRUST).expect("a trust_device cookie");
    set.split(';').next().unwrap().to_owned()
}

/// The unsigned value `<token>!<identifier>` of a trust cookie header.
fn trust_value(s: &Server, cookie: &str) -> String {
    let raw = cookie.strip_prefix(&format!("{TRUST}=")).unwrap();
    s.platform
        .auth()
        .cookies()
        .verify(raw)
        .unwrap()
        .into_owned()
}

#[tokio::test]
async fn a_trusted_device_skips_the_second_factor_once_and_gets_a_new_cookie() {
    let s = server().await;
    let codes = two_factor_user(&s, "ada@example.com").await;
    let res = trusted_sign_in(&s, "ada@example.com", &codes[0]).await;
    let set = res.set_cookie(TRUST).unwrap();
    assert!(
        set.contains("; Max-Age=2592000; Path=/; HttpOnly; SameSite=Lax"),
        "{set}"
    );
    assert!(
        res.set_cookie("better-auth.dont_remember")
            .unwrap()
            .contains("Max-Age=0")
    );
    let first = trust_cookie(&res);
    let value = trust_value(&s, &first);
    let (token, identifier) = value.split_once('!').unwrap();
    assert_eq!(token.len(), 43, "{value}");
    let id = identifier.strip_prefix("trust-device-").unwrap();
    assert_eq!(id.len(), 32);

    // The trusted device signs in without a second factor, and its cookie
    // is replaced.
    let res = sign_in(&s, "ada@example.com", &first).await;
    assert!(!asks_second_factor(&res), "{}", res.text);
    assert!(res.json()["token"].is_string());
    assert!(res.set_cookie("better-auth.session_token").is_some());
    let second = trust_cookie(&res);
    assert_ne!(first, second);

    // The old cookie is spent: the second factor, and the cookie expired.
    let res = sign_in(&s, "ada@example.com", &first).await;
    assert!(asks_second_factor(&res), "{}", res.text);
    assert!(res.set_cookie(TRUST).unwrap().contains("Max-Age=0"));
    assert!(
        res.set_cookie("better-auth.session_token")
            .unwrap()
            .contains("Max-Age=0")
    );

    let res = sign_in(&s, "ada@example.com", &second).await;
    assert!(!asks_second_factor(&res), "{}", res.text);

    // Without trustDevice no cookie is set.
    let res = sign_in(&s, "ada@example.com", "").await;
    let res = s
        .post(
            "/two-factor/verify-backup-code",
            &res.cookie_header(),
            json!({"code": codes[1]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert!(res.set_cookie(TRUST).is_none());
}

fn mac(user: &str, identifier: &str) -> String {
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(common::SECRET.as_bytes()).unwrap();
    m.update(format!("{user}!{identifier}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
}

fn signed_cookie(s: &Server, value: &str) -> String {
    format!("{TRUST}={}", s.platform.auth().cookies().sign(value))
}

#[tokio::test]
async fn another_users_or_a_forged_trust_cookie_does_not_skip_the_second_factor() {
    let s = server().await;
    let ada_codes = two_factor_user(&s, "ada@example.com").await;
    let _ = two_factor_user(&s, "bob@example.com").await;
    let bob_id = {
        let res = s.try_sign_in("", credentials("bob@example.com")).await;
        assert!(asks_second_factor(&res));
        let db = s.auth_db().await;
        let rows = db
            .query(
                &Statement::new(r#"SELECT "id" FROM "user" WHERE "email" = ?1"#)
                    .bind("bob@example.com"),
            )
            .await
            .unwrap();
        rows[0].get::<String>(0).unwrap()
    };
    let ada = trust_cookie(&trusted_sign_in(&s, "ada@example.com", &ada_codes[0]).await);
    let value = trust_value(&s, &ada);
    let (_, identifier) = value.split_once('!').unwrap();

    // Ada's cookie for Bob.
    let res = sign_in(&s, "bob@example.com", &ada).await;
    assert!(asks_second_factor(&res), "{}", res.text);
    // A token that is Bob's MAC of Ada's row: the row is not Bob's.
    let forged = signed_cookie(&s, &format!("{}!{identifier}", mac(&bob_id, identifier)));
    let res = sign_in(&s, "bob@example.com", &forged).await;
    assert!(asks_second_factor(&res), "{}", res.text);
    // Bob's MAC of an identifier with no row.
    let none = "trust-device-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let forged = signed_cookie(&s, &format!("{}!{none}", mac(&bob_id, none)));
    let res = sign_in(&s, "bob@example.com", &forged).await;
    assert!(asks_second_factor(&res), "{}", res.text);
    // A cookie signed with another secret, and one with a bad token.
    let res = sign_in(&s, "ada@example.com", &ada.replacen('=', "=x", 1)).await;
    assert!(asks_second_factor(&res), "{}", res.text);
    let bad = signed_cookie(&s, &format!("AAAA!{identifier}"));
    let res = sign_in(&s, "ada@example.com", &bad).await;
    assert!(asks_second_factor(&res), "{}", res.text);

    // Ada's own cookie still works: none of the above spent it.
    let res = sign_in(&s, "ada@example.com", &ada).await;
    assert!(!asks_second_factor(&res), "{}", res.text);
}

#[tokio::test]
async fn another_platforms_trust_cookie_does_not_skip_the_second_factor() {
    let a = server().await;
    let b = server().await;
    let codes = two_factor_user(&a, "ada@example.com").await;
    let _ = two_factor_user(&b, "ada@example.com").await;
    let from_a = trust_cookie(&trusted_sign_in(&a, "ada@example.com", &codes[0]).await);
    let res = sign_in(&b, "ada@example.com", &from_a).await;
    assert!(asks_second_factor(&res), "{}", res.text);
}

#[tokio::test]
async fn turning_two_factor_off_forgets_trusted_devices() {
    let s = server().await;
    let codes = two_factor_user(&s, "ada@example.com").await;
    let res = trusted_sign_in(&s, "ada@example.com", &codes[0]).await;
    let trusted = trust_cookie(&res);
    let session = res.cookie_header();
    let res = s
        .post_password("/two-factor/disable", &session, PASSWORD)
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    // On again, with a new setup.
    let res = s
        .post_password("/two-factor/enable", &session, PASSWORD)
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let uri = res.json()["totpURI"].as_str().unwrap().to_owned();
    // The next step's code (this step's was used by the first setup).
    let res = s
        .post(
            "/two-factor/verify-totp",
            &session,
            json!({"code": code_at(&uri, 30)}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = sign_in(&s, "ada@example.com", &trusted).await;
    assert!(asks_second_factor(&res), "{}", res.text);
}

#[tokio::test]
async fn a_banned_user_with_a_trust_cookie_gets_no_session() {
    let s = server().await;
    let codes = two_factor_user(&s, "ada@example.com").await;
    let trusted = trust_cookie(&trusted_sign_in(&s, "ada@example.com", &codes[0]).await);
    s.auth_db()
        .await
        .execute(
            &Statement::new(r#"UPDATE "user" SET "banned" = 1 WHERE "email" = ?1"#)
                .bind("ada@example.com"),
        )
        .await
        .unwrap();
    let res = s
        .try_sign_in(&trusted, credentials("ada@example.com"))
        .await;
    assert_eq!(res.status, 403, "{}", res.text);
    assert_eq!(res.json()["code"], "BANNED_USER");
    assert!(res.set_cookie("better-auth.session_token").is_none());
}

#[tokio::test]
async fn one_trust_cookie_gives_one_session_under_concurrency() {
    let s = std::sync::Arc::new(server().await);
    let codes = two_factor_user(&s, "ada@example.com").await;
    let trusted = trust_cookie(&trusted_sign_in(&s, "ada@example.com", &codes[0]).await);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = std::sync::Arc::clone(&s);
        let c = trusted.clone();
        tasks.push(tokio::spawn(async move {
            let res = sign_in(&s, "ada@example.com", &c).await;
            !asks_second_factor(&res)
        }));
    }
    let mut skipped = 0;
    for t in tasks {
        if t.await.unwrap() {
            skipped += 1;
        }
    }
    assert_eq!(skipped, 1);
}

#[tokio::test]
async fn get_totp_uri_checks_the_setup_then_the_password() {
    let s = server().await;
    let res = s
        .post_password("/two-factor/get-totp-uri", "", PASSWORD)
        .await;
    assert_eq!(res.status, 401);
    let ada = s.cookie_of("ada@example.com").await;
    let res = s
        .post_password("/two-factor/get-totp-uri", &ada, "wrong password!")
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(
        res.json(),
        json!({"code": "TOTP_NOT_ENABLED", "message": "TOTP not enabled"})
    );
    let res = s.post_password("/two-factor/enable", &ada, PASSWORD).await;
    let uri = res.json()["totpURI"].as_str().unwrap().to_owned();
    let res = s
        .post_password("/two-factor/get-totp-uri", &ada, "wrong password!")
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["code"], "INVALID_PASSWORD");
    let res = s.post("/two-factor/get-totp-uri", &ada, json!({})).await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["code"], "VALIDATION_ERROR");
    let res = s
        .post_password("/two-factor/get-totp-uri", &ada, PASSWORD)
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json(), json!({"totpURI": uri}));
}
