//! TOTP two-factor: setup with the password, encrypted storage readable with
//! Better Auth's format, the pending sign-in, replay protection, the attempt
//! limit, single-use backup codes, and turning it off.

use std::time::{Duration, UNIX_EPOCH};

use neutrino_core::clock::{Clock, ManualClock};
use neutrino_core::sql::Statement;

use super::fixtures::{AuthStores, PASSWORD, SECRET, auth, code, meta, user_at};
use crate::audit::AuditEvent;
use crate::twofactor::{DIGITS, PERIOD, hotp, symmetric_decrypt};
use crate::{SignInEmail, SignInOutcome, TwoFactorChallenge};

/// Totp two factor end to end.
pub async fn totp_two_factor_end_to_end(stores: &AuthStores, clock: &ManualClock) {
    let auth = auth(stores, clock).await;
    let ada = user_at(&auth, "Ada", "ada@example.com").await;
    let tok = &ada.session.token;
    assert_eq!(
        code(
            auth.enable_two_factor(tok, "wrong password!", "Neutrino", &meta())
                .await
        ),
        "INVALID_PASSWORD"
    );
    let setup = auth
        .enable_two_factor(tok, PASSWORD, "Neutrino", &meta())
        .await
        .unwrap();
    assert!(!format!("{setup:?}").contains(&setup.backup_codes[0]));
    assert!(
        setup
            .totp_uri
            .starts_with("otpauth://totp/Neutrino:ada%40example.com?secret="),
        "{}",
        setup.totp_uri
    );
    assert!(
        setup
            .totp_uri
            .ends_with("&issuer=Neutrino&digits=6&period=30")
    );
    assert_eq!(setup.backup_codes.len(), 10);
    for c in &setup.backup_codes {
        assert_eq!(c.len(), 11);
        assert_eq!(&c[5..6], "-");
        assert!(
            c.chars()
                .filter(|c| *c != '-')
                .all(|c| c.is_ascii_alphanumeric())
        );
    }
    // Encrypted at rest, in Better Auth's format under the platform secret.
    let row = stores
        .auth_db
        .query(&Statement::new(
            r#"SELECT "secret", "backupCodes", "verified" FROM "twoFactor""#,
        ))
        .await
        .unwrap()
        .remove(0);
    let enc_secret: String = row.get(0).unwrap();
    let enc_codes: String = row.get(1).unwrap();
    let verified: bool = row.get(2).unwrap();
    assert!(!verified);
    let secret = symmetric_decrypt(SECRET.as_bytes(), &enc_secret).unwrap();
    assert_eq!(secret.len(), 32);
    assert!(!enc_secret.contains(&secret));
    let codes: Vec<String> =
        serde_json::from_str(&symmetric_decrypt(SECRET.as_bytes(), &enc_codes).unwrap()).unwrap();
    assert_eq!(codes, setup.backup_codes);

    let now_code = |off: i64| {
        let secs = clock.now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        hotp(
            secret.as_bytes(),
            (secs / PERIOD).wrapping_add_signed(off),
            DIGITS,
        )
    };
    // Not on until a code is verified.
    auth.sign_in_email(SignInEmail::new("ada@example.com", PASSWORD), &meta())
        .await
        .unwrap();
    let wrong = if now_code(0) == "000000" {
        "111111"
    } else {
        "000000"
    };
    assert_eq!(
        code(auth.verify_two_factor_setup(tok, wrong, &meta()).await),
        "INVALID_CODE"
    );
    let setup_code = now_code(0);
    auth.verify_two_factor_setup(tok, &setup_code, &meta())
        .await
        .unwrap();

    // Sign-in now stops at a challenge.
    assert_eq!(
        code(
            auth.sign_in_email(SignInEmail::new("ada@example.com", PASSWORD), &meta())
                .await
        ),
        "TWO_FACTOR_REQUIRED"
    );
    let challenge = || async {
        match auth
            .sign_in_email_2fa(SignInEmail::new("ada@example.com", PASSWORD), &meta())
            .await
            .unwrap()
        {
            SignInOutcome::TwoFactorRequired(c) => c,
            SignInOutcome::SignedIn(_) => panic!("expected a challenge"),
        }
    };
    let ch = challenge().await;
    // The setup code cannot be replayed in its window.
    assert_eq!(
        code(auth.verify_totp(&ch, &setup_code, &meta()).await),
        "INVALID_CODE"
    );
    clock.advance(Duration::from_secs(PERIOD));
    let c1 = now_code(0);
    let signed = auth.verify_totp(&ch, &c1, &meta()).await.unwrap();
    assert_eq!(signed.user.email, "ada@example.com");
    assert!(
        auth.get_session(&signed.session.token)
            .await
            .unwrap()
            .is_some()
    );
    // The challenge is used up, and the code cannot be replayed on a new one.
    assert_eq!(
        code(auth.verify_totp(&ch, &c1, &meta()).await),
        "INVALID_CODE"
    );
    let ch2 = challenge().await;
    assert_eq!(
        code(auth.verify_totp(&ch2, &c1, &meta()).await),
        "INVALID_CODE"
    );
    // The previous step's code is still accepted (±1 step) if unused.
    clock.advance(Duration::from_secs(PERIOD));
    let prev = now_code(-1);
    assert_eq!(prev, c1, "the previous step is c1's, already used");
    assert_eq!(
        code(auth.verify_totp(&ch2, &prev, &meta()).await),
        "INVALID_CODE"
    );
    auth.verify_totp(&ch2, &now_code(1), &meta()).await.unwrap();

    // Five wrong codes lock the challenge.
    let ch3 = challenge().await;
    let bad = |i: u32| {
        let c = format!(
            "{:06}",
            (now_code(0).parse::<u32>().unwrap() + 1 + i) % 1_000_000
        );
        c
    };
    for i in 0..4 {
        assert_eq!(
            code(auth.verify_totp(&ch3, &bad(i), &meta()).await),
            "INVALID_CODE"
        );
    }
    assert_eq!(
        code(auth.verify_totp(&ch3, &bad(4), &meta()).await),
        "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE"
    );
    clock.advance(Duration::from_secs(PERIOD * 3));
    assert_eq!(
        code(auth.verify_totp(&ch3, &now_code(0), &meta()).await),
        "INVALID_CODE"
    );
    assert_eq!(
        code(
            auth.verify_totp(
                &TwoFactorChallenge {
                    id: "2fa-forged".into()
                },
                "123456",
                &meta()
            )
            .await
        ),
        "INVALID_CODE"
    );

    // Backup codes are single-use.
    let ch4 = challenge().await;
    auth.verify_backup_code(&ch4, &setup.backup_codes[0], &meta())
        .await
        .unwrap();
    let ch5 = challenge().await;
    assert_eq!(
        code(
            auth.verify_backup_code(&ch5, &setup.backup_codes[0], &meta())
                .await
        ),
        "INVALID_CODE"
    );
    auth.verify_backup_code(&ch5, &setup.backup_codes[1], &meta())
        .await
        .unwrap();

    // New backup codes replace the old ones.
    let fresh = auth
        .generate_backup_codes(tok, PASSWORD, &meta())
        .await
        .unwrap();
    assert_eq!(fresh.len(), 10);
    let ch6 = challenge().await;
    assert_eq!(
        code(
            auth.verify_backup_code(&ch6, &setup.backup_codes[2], &meta())
                .await
        ),
        "INVALID_CODE"
    );
    auth.verify_backup_code(&ch6, &fresh[0], &meta())
        .await
        .unwrap();

    let log = auth.audit_log(Some(&ada.user.id), 100).await.unwrap();
    for e in [
        AuditEvent::TwoFactorEnabled,
        AuditEvent::TwoFactorFailed,
        AuditEvent::BackupCodesGenerated,
    ] {
        assert!(log.iter().any(|x| x.event == e), "{e} missing");
    }

    // Off again with the password.
    assert_eq!(
        code(
            auth.disable_two_factor(tok, "wrong password!", &meta())
                .await
        ),
        "INVALID_PASSWORD"
    );
    auth.disable_two_factor(tok, PASSWORD, &meta())
        .await
        .unwrap();
    auth.sign_in_email(SignInEmail::new("ada@example.com", PASSWORD), &meta())
        .await
        .unwrap();
    assert!(
        log.iter()
            .all(|e| e.detail.as_deref().is_none_or(|d| !d.contains(&secret)))
    );
}
