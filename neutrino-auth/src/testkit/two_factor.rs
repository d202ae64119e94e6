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

/// A user of platform `p` with two-factor on who signed in with a backup
/// code and trusted the device: its backup codes and the trust value.
async fn trusted_user(
    p: &super::fixtures::Platform,
    clock: &ManualClock,
    email: &str,
) -> (Vec<String>, String) {
    let u = user_at(&p.auth, "Ada", email).await;
    let tok = &u.session.token;
    let setup = p
        .auth
        .enable_two_factor(tok, PASSWORD, "Neutrino", &meta())
        .await
        .unwrap();
    let b32 = setup.totp_uri.split("secret=").nth(1).unwrap();
    let key = base32_decode(b32.split('&').next().unwrap());
    let secs = clock.now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    p.auth
        .verify_two_factor_setup(tok, &hotp(&key, secs / PERIOD, DIGITS), &meta())
        .await
        .unwrap();
    let ch = challenge_of(&p.auth, email).await;
    let signed = p
        .auth
        .verify_backup_code(&ch, &setup.backup_codes[0], &meta())
        .await
        .unwrap();
    let value = p.auth.trust_device(&signed.session.token).await.unwrap();
    (setup.backup_codes, value)
}

async fn challenge_of(auth: &crate::Auth, email: &str) -> TwoFactorChallenge {
    match auth
        .sign_in_email_2fa(SignInEmail::new(email, PASSWORD), &meta())
        .await
        .unwrap()
    {
        SignInOutcome::TwoFactorRequired(c) => c,
        SignInOutcome::SignedIn(_) => panic!("no second factor asked"),
    }
}

/// Whether a sign-in of `email` with `trust` skipped the second factor;
/// the new trust value if it did.
async fn trusted_sign_in(auth: &crate::Auth, email: &str, trust: &str) -> Option<String> {
    let r = auth
        .sign_in_email_trusting(SignInEmail::new(email, PASSWORD), Some(trust), &meta())
        .await
        .unwrap();
    match r.outcome {
        SignInOutcome::SignedIn(_) => Some(r.trust_device.expect("a new trust value")),
        SignInOutcome::TwoFactorRequired(_) => {
            assert!(r.trust_device.is_none());
            None
        }
    }
}

/// Trusted devices (Better Auth's `trust_device` cookie value): a value
/// skips the second factor once, for its own user on its own platform, and
/// is replaced; forged values, another user's or platform's, a spent one,
/// one from before two-factor was turned off, and any of a banned user do
/// not.
pub async fn trusted_devices_skip_the_second_factor_for_their_user_only(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let w = super::fixtures::World::new(stores, clock).await;
    let (_, ada) = trusted_user(&w.a, clock, "ada@example.com").await;
    let (_, bob) = trusted_user(&w.a, clock, "bob@example.com").await;
    // The same address on the other platform, with the same secret.
    let (_, q_ada) = trusted_user(&w.b, clock, "ada@example.com").await;
    let (mac, identifier) = ada.split_once('!').unwrap();
    assert_eq!(mac.len(), 43);
    assert_eq!(identifier.len(), "trust-device-".len() + 32);

    // Another user's value, or the other platform's, or forged.
    assert!(
        trusted_sign_in(&w.a.auth, "bob@example.com", &ada)
            .await
            .is_none()
    );
    assert!(
        trusted_sign_in(&w.a.auth, "ada@example.com", &q_ada)
            .await
            .is_none()
    );
    assert!(
        trusted_sign_in(&w.b.auth, "ada@example.com", &ada)
            .await
            .is_none()
    );
    let (_, bob_id) = bob.split_once('!').unwrap();
    for forged in [
        format!("{mac}!{bob_id}"),
        format!("{mac}x!{identifier}"),
        format!("!{identifier}"),
        identifier.to_owned(),
        format!("{mac}!"),
        String::new(),
    ] {
        assert!(
            trusted_sign_in(&w.a.auth, "ada@example.com", &forged)
                .await
                .is_none(),
            "{forged}"
        );
    }
    // The value itself: once, then its replacement.
    let next = trusted_sign_in(&w.a.auth, "ada@example.com", &ada)
        .await
        .unwrap();
    assert_ne!(next, ada);
    assert!(
        trusted_sign_in(&w.a.auth, "ada@example.com", &ada)
            .await
            .is_none()
    );
    let next = trusted_sign_in(&w.a.auth, "ada@example.com", &next)
        .await
        .unwrap();

    // Two-factor turned off forgets the user's devices.
    let (bob_session, bob_next) = user_session(&w.a.auth, "bob@example.com", &bob).await;
    w.a.auth
        .disable_two_factor(&bob_session, PASSWORD, &meta())
        .await
        .unwrap();
    let (_, bob_next_id) = bob_next.split_once('!').unwrap();
    let rows =
        w.a.db
            .query(
                &Statement::new(
                    r#"SELECT 1 FROM "verification" WHERE "identifier" = ?1 OR "identifier" = ?2"#,
                )
                .bind(bob_id)
                .bind(bob_next_id),
            )
            .await
            .unwrap();
    assert!(rows.is_empty(), "a trusted device outlived two-factor");
    // Off: an ordinary sign-in, no trust involved.
    let r =
        w.a.auth
            .sign_in_email_trusting(
                SignInEmail::new("bob@example.com", PASSWORD),
                Some(&bob_next),
                &meta(),
            )
            .await
            .unwrap();
    assert!(matches!(r.outcome, SignInOutcome::SignedIn(_)));
    assert!(r.trust_device.is_none());

    // A banned user gets no session with a trusted device.
    let (_, cat) = trusted_user(&w.a, clock, "cat@example.com").await;
    w.a.db
        .execute(
            &Statement::new(r#"UPDATE "user" SET "banned" = 1 WHERE "email" = ?1"#)
                .bind("cat@example.com"),
        )
        .await
        .unwrap();
    assert_eq!(
        code(
            w.a.auth
                .sign_in_email_trusting(
                    SignInEmail::new("cat@example.com", PASSWORD),
                    Some(&cat),
                    &meta()
                )
                .await
        ),
        "BANNED_USER"
    );

    // Expired after 30 days.
    clock.advance(crate::TRUST_DEVICE_TTL + Duration::from_secs(1));
    assert!(
        trusted_sign_in(&w.a.auth, "ada@example.com", &next)
            .await
            .is_none()
    );
}

/// A session of `email` signed in through its trusted device `trust`, and
/// the device's new value.
async fn user_session(auth: &crate::Auth, email: &str, trust: &str) -> (String, String) {
    let r = auth
        .sign_in_email_trusting(SignInEmail::new(email, PASSWORD), Some(trust), &meta())
        .await
        .unwrap();
    match r.outcome {
        SignInOutcome::SignedIn(s) => (s.session.token, r.trust_device.unwrap()),
        SignInOutcome::TwoFactorRequired(_) => panic!("the trusted device was refused"),
    }
}

/// RFC 4648 base32 without padding, as the `otpauth://` URI carries a
/// TOTP secret: the key's bytes (other characters are skipped).
pub fn base32_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u64, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => continue,
        };
        buf = (buf << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}
