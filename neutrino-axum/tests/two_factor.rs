//! Better Auth's two-factor endpoints over real sockets: enabling TOTP, and
//! a two-factor sign-in completed through the `two_factor` cookie.

mod common;

use common::{PASSWORD, credentials, server};
use serde_json::json;

#[tokio::test]
async fn two_factor_is_enabled_then_asked_at_sign_in() {
    let s = server().await;
    let ada = s.cookie_of("ada@example.com").await;

    let res = s
        .post_password("/two-factor/enable", &ada, "wrong password!")
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["code"], "INVALID_PASSWORD");
    let res = s.post_password("/two-factor/enable", &ada, PASSWORD).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let body = res.json();
    assert_eq!(body["method"], "totp");
    assert_eq!(body["backupCodes"].as_array().unwrap().len(), 10);
    let uri = body["totpURI"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    let secret = common::secret_of(uri);
    let backup = body["backupCodes"][0].as_str().unwrap().to_owned();

    let res = s
        .post("/two-factor/verify-totp", &ada, json!({"code": "000000x"}))
        .await;
    assert!(res.status == 400 || res.status == 401, "{}", res.text);
    let res = s
        .post(
            "/two-factor/verify-totp",
            &ada,
            json!({"code": common::totp_now(&secret)}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert!(res.json()["token"].is_string());
    assert_eq!(res.json()["user"]["email"], "ada@example.com");

    // Sign-in now stops at the second factor.
    let res = s.try_sign_in("", credentials("ada@example.com")).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.json(),
        json!({"twoFactorRedirect": true, "twoFactorMethods": ["totp"]})
    );
    let tf = res.set_cookie("better-auth.two_factor").unwrap();
    assert!(
        tf.contains("; Max-Age=600; Path=/; HttpOnly; SameSite=Lax"),
        "{tf}"
    );
    assert!(
        res.set_cookie("better-auth.session_token")
            .unwrap()
            .contains("Max-Age=0")
    );
    let challenge = res.cookie_header();
    assert!(
        challenge.starts_with("better-auth.two_factor="),
        "{challenge}"
    );

    let res = s
        .post(
            "/two-factor/verify-backup-code",
            "",
            json!({"code": backup}),
        )
        .await;
    assert_eq!(res.status, 401);
    assert_eq!(res.json()["code"], "INVALID_TWO_FACTOR_COOKIE");
    let forged = challenge.replacen("two_factor=", "two_factor=x", 1);
    let res = s
        .post(
            "/two-factor/verify-backup-code",
            &forged,
            json!({"code": backup}),
        )
        .await;
    assert_eq!(res.status, 401);

    let res = s
        .post(
            "/two-factor/verify-backup-code",
            &challenge,
            json!({"code": backup}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json()["user"]["email"], "ada@example.com");
    assert!(
        res.set_cookie("better-auth.two_factor")
            .unwrap()
            .contains("Max-Age=0")
    );
    let session = res.cookie_header();
    assert_eq!(
        s.get("/get-session", &session).await.json()["user"]["email"],
        "ada@example.com"
    );
    // The backup code and the challenge are spent.
    let again = s
        .post(
            "/two-factor/verify-backup-code",
            &challenge,
            json!({"code": backup}),
        )
        .await;
    assert!(again.status >= 400 && again.status < 500, "{}", again.text);

    let res = s
        .post_password("/two-factor/disable", &session, PASSWORD)
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json(), json!({"status": true}));
    let res = s.try_sign_in("", credentials("ada@example.com")).await;
    assert!(res.json()["token"].is_string());
    assert_eq!(
        s.post("/two-factor/send-otp", "", json!({})).await.json()["code"],
        "OTP_NOT_CONFIGURED"
    );
}
