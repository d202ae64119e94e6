//! An invitation's ID is no proof of the invitee's mailbox: signing up
//! through an invitation needs the secret mailed to the invitee (on two
//! platforms of one registry, sign-up open and closed). The rest of the
//! proof-of-address behaviour is in the conformance suite
//! (`neutrino_auth::testkit::proof_of_address`).

mod common;

use std::sync::Arc;

use common::world::World;
use common::{PASSWORD, meta, unique_email};
use neutrino_auth::mail::{EmailKind, RecordingMailer};
use neutrino_auth::org::NewOrganization;
use neutrino_auth::{AuthError, SignUpEmail};
use neutrino_core::sql::{SqlExecutor, Statement};

fn code<T: std::fmt::Debug>(r: Result<T, AuthError>) -> &'static str {
    r.expect_err("should fail").code()
}

async fn users_with_email(db: &dyn SqlExecutor, email: &str) -> usize {
    db.query(&Statement::new(r#"SELECT 1 FROM "user" WHERE "email" = ?1"#).bind(email))
        .await
        .unwrap()
        .len()
}

/// Whoever knows an invitation's ID (an admin who lists them, a guesser)
/// cannot sign up as the invitee: only the secret mailed to the invitee
/// works, for the invited address, once — sign-up open or not.
#[tokio::test]
async fn an_invitation_id_is_no_proof_of_the_mailbox() {
    for disable_sign_up in [false, true] {
        let mailer = RecordingMailer::new();
        let w = World::with(
            |b| {
                b.with_mailer(Arc::new(mailer.clone()))
                    .with_disable_sign_up(disable_sign_up)
            },
            |o| o,
        )
        .await;
        let o = &w.a.orgs;
        let open = neutrino_auth::AuthBuilder::new(w.a.raw_auth_db.clone(), common::SECRET)
            .build()
            .unwrap();
        let sign_up = |name: &'static str| {
            let open = open.clone();
            async move {
                open.sign_up_email(SignUpEmail::new(name, unique_email(), PASSWORD), &meta())
                    .await
                    .unwrap()
                    .signed_in()
                    .unwrap()
            }
        };
        let ada = sign_up("Ada").await;
        let bob = sign_up("Bob").await;
        let ta = &ada.session.token;
        let acme = o
            .create_organization(ta, NewOrganization::new("Acme", "acme"), &meta())
            .await
            .unwrap();
        o.add_member(ta, &acme.id, &bob.user.id, "admin", &meta())
            .await
            .unwrap();
        let inv = o
            .invite_member(ta, &acme.id, "victim@example.com", "owner", &meta())
            .await
            .unwrap();
        let admin_inv = o
            .invite_member(
                &bob.session.token,
                &acme.id,
                "victim2@example.com",
                "admin",
                &meta(),
            )
            .await
            .unwrap();
        // Bob sees the admin invitation's ID, and tries it, and a guess.
        let seen = o
            .list_invitations(&bob.session.token, &acme.id)
            .await
            .unwrap();
        assert!(seen.iter().any(|i| i.id == admin_inv.id));
        for (id, email) in [
            (admin_inv.id.as_str(), "victim2@example.com"),
            (inv.id.as_str(), "victim@example.com"),
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "victim@example.com"),
            ("", "victim@example.com"),
        ] {
            let taken = o
                .sign_up_with_invitation(id, SignUpEmail::new("Mallory", email, PASSWORD), &meta())
                .await;
            assert_eq!(code(taken), "INVITATION_NOT_FOUND", "{id:?}");
            assert_eq!(users_with_email(&w.a.raw_auth_db, email).await, 0);
        }
        // The mailed secret works for the invited address only, once.
        let secret = mailer
            .last_to("victim2@example.com", EmailKind::Invitation)
            .unwrap()
            .token;
        let other_secret = mailer
            .last_to("victim@example.com", EmailKind::Invitation)
            .unwrap()
            .token;
        let cross = o
            .sign_up_with_invitation(
                &other_secret,
                SignUpEmail::new("V", "victim2@example.com", PASSWORD),
                &meta(),
            )
            .await;
        assert_eq!(code(cross), "INVITATION_NOT_FOUND");
        let (v, member) = o
            .sign_up_with_invitation(
                &secret,
                SignUpEmail::new("V", "Victim2@Example.com", PASSWORD),
                &meta(),
            )
            .await
            .unwrap();
        assert_eq!(member.role, "admin");
        assert!(v.user.email_verified);
        let again = o
            .sign_up_with_invitation(
                &secret,
                SignUpEmail::new("V", "victim2@example.com", PASSWORD),
                &meta(),
            )
            .await;
        assert!(again.is_err());
        // A canceled invitation's secret is dead.
        o.cancel_invitation(ta, &inv.id, &meta()).await.unwrap();
        let canceled = o
            .sign_up_with_invitation(
                &other_secret,
                SignUpEmail::new("V", "victim@example.com", PASSWORD),
                &meta(),
            )
            .await;
        assert_eq!(code(canceled), "INVITATION_NOT_FOUND");
        assert_eq!(
            users_with_email(&w.a.raw_auth_db, "victim@example.com").await,
            0
        );
    }
}
