//! Invitations: invite, accept (the email must match), reject, cancel, list,
//! expiry, one pending invitation per email, the limit, invitation-only
//! sign-up.

use std::time::Duration;

use neutrino_core::clock::ManualClock;

use super::fixtures::{
    AuthStores, PASSWORD, SECRET, World, code, create_org, member, meta, user_at,
};
use crate::SignUpEmail;
use crate::audit::AuditEvent;
use crate::invitation::InvitationStatus;
use crate::mail::EmailKind;
use crate::org::NewOrganization;

/// Invite accept reject cancel and list.
pub async fn invite_accept_reject_cancel_and_list(stores: &AuthStores, clock: &ManualClock) {
    let w = World::new(stores, clock).await;
    let o = &w.a.orgs;
    let [ada, bob, cat] = w.a.users(["Ada", "Bob", "Cat"]).await;
    let ta = &ada.session.token;
    let acme = w.a.acme(ta).await;
    let globex = create_org(o, ta, NewOrganization::new("Globex", "globex")).await;
    // Invite Bob by his email in another case.
    let inv =
        w.a.invite(ta, &acme.id, &bob.user.email.to_uppercase(), "admin")
            .await;
    assert_eq!(inv.status, InvitationStatus::Pending);
    assert_eq!(inv.email, bob.user.email);
    assert_eq!(
        inv.expires_at.duration_since(inv.created_at).unwrap(),
        Duration::from_secs(48 * 3600)
    );
    assert_eq!(
        code(
            o.invite_member(ta, &acme.id, &bob.user.email, "member", &meta())
                .await
        ),
        "USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION"
    );
    assert_eq!(
        code(
            o.invite_member(ta, &acme.id, &ada.user.email, "member", &meta())
                .await
        ),
        "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION"
    );
    // Only Bob can accept it; anyone else sees nothing.
    assert_eq!(
        code(
            o.accept_invitation(&cat.session.token, &inv.id, &meta())
                .await
        ),
        "INVITATION_NOT_FOUND"
    );
    assert_eq!(
        o.list_user_invitations(&bob.session.token)
            .await
            .unwrap()
            .len(),
        1
    );
    let (accepted, member) = o
        .accept_invitation(&bob.session.token, &inv.id, &meta())
        .await
        .unwrap();
    assert_eq!(accepted.status, InvitationStatus::Accepted);
    assert_eq!(member.role, "admin");
    // Accepting made the tenant active.
    assert_eq!(o.scope(&bob.session.token).await.unwrap().tenant(), acme.id);
    assert_eq!(
        code(
            o.accept_invitation(&bob.session.token, &inv.id, &meta())
                .await
        ),
        "INVITATION_NOT_FOUND"
    );
    // An admin invites, but no owners.
    assert_eq!(
        code(
            o.invite_member(
                &bob.session.token,
                &acme.id,
                &cat.user.email,
                "owner",
                &meta()
            )
            .await
        ),
        "YOU_ARE_NOT_ALLOWED_TO_INVITE_USER_WITH_THIS_ROLE"
    );
    let to_cat =
        w.a.invite(&bob.session.token, &acme.id, &cat.user.email, "member")
            .await;
    let rejected = o
        .reject_invitation(&cat.session.token, &to_cat.id, &meta())
        .await
        .unwrap();
    assert_eq!(rejected.status, InvitationStatus::Rejected);
    // Reinvited after a rejection, then canceled.
    let again = w.a.invite(ta, &acme.id, &cat.user.email, "member").await;
    let canceled = o.cancel_invitation(ta, &again.id, &meta()).await.unwrap();
    assert_eq!(canceled.status, InvitationStatus::Canceled);
    assert_eq!(
        code(
            o.accept_invitation(&cat.session.token, &again.id, &meta())
                .await
        ),
        "INVITATION_NOT_FOUND"
    );
    let listed = o.list_invitations(ta, &acme.id).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(o.list_invitations(ta, &globex.id).await.unwrap().is_empty());
    // A plain member cannot list another tenant's invitations.
    assert_eq!(
        code(o.list_invitations(&cat.session.token, &acme.id).await),
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION"
    );
    let log = o.tenant_audit_log(&acme.id, 100).await.unwrap();
    for e in [
        AuditEvent::InvitationCreated,
        AuditEvent::InvitationAccepted,
        AuditEvent::InvitationRejected,
        AuditEvent::InvitationCanceled,
    ] {
        assert!(log.iter().any(|x| x.event == e), "{e} missing");
    }
}

/// Invitations expire after 48 hours and are limited per tenant.
pub async fn invitations_expire_after_48_hours_and_are_limited_per_tenant(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let w = World::new(stores, clock).await;
    let o = &w.a.orgs;
    let [ada, bob] = w.a.users(["Ada", "Bob"]).await;
    let ta = &ada.session.token;
    let acme = w.a.acme(ta).await;
    let inv = w.a.invite(ta, &acme.id, &bob.user.email, "member").await;
    clock.advance(Duration::from_secs(48 * 3600 + 1));
    // Keep Bob's and Ada's sessions alive past the jump.
    let bob_again =
        w.a.auth
            .sign_in_email(crate::SignInEmail::new(&bob.user.email, PASSWORD), &meta())
            .await
            .unwrap();
    let ada_again =
        w.a.auth
            .sign_in_email(crate::SignInEmail::new(&ada.user.email, PASSWORD), &meta())
            .await
            .unwrap();
    let ta = &ada_again.session.token;
    assert_eq!(
        code(
            o.accept_invitation(&bob_again.session.token, &inv.id, &meta())
                .await
        ),
        "INVITATION_NOT_FOUND"
    );
    // An expired invitation does not block a new one.
    w.a.invite(ta, &acme.id, &bob.user.email, "member").await;
}

/// Pending invitations per tenant are limited.
pub async fn pending_invitations_per_tenant_are_limited(stores: &AuthStores, clock: &ManualClock) {
    let w = World::with(stores, clock, |b| b, |o| o.with_invitation_limit(2)).await;
    let o = &w.a.orgs;
    let ada = w.a.user("Ada").await;
    let ta = &ada.session.token;
    let acme = w.a.acme(ta).await;
    let first = w.a.invite(ta, &acme.id, "one@example.com", "member").await;
    w.a.invite(ta, &acme.id, "two@example.com", "member").await;
    assert_eq!(
        code(
            o.invite_member(ta, &acme.id, "three@example.com", "member", &meta())
                .await
        ),
        "INVITATION_LIMIT_REACHED"
    );
    o.cancel_invitation(ta, &first.id, &meta()).await.unwrap();
    w.a.invite(ta, &acme.id, "three@example.com", "member")
        .await;
}

/// With sign up disabled an invitation is the only way in.
pub async fn with_sign_up_disabled_an_invitation_is_the_only_way_in(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let w = World::configured(stores, clock, |b| b.with_disable_sign_up(true)).await;
    let mailer = &w.a.mailer;
    let o = &w.a.orgs;
    // The first user comes in through the host app (e.g. an operator tool):
    // with sign-up disabled, plain sign-up is refused.
    let refused =
        w.a.auth
            .sign_up_email(
                SignUpEmail::new("Eve", "eve@example.com", PASSWORD),
                &meta(),
            )
            .await;
    assert_eq!(code(refused), "EMAIL_PASSWORD_SIGN_UP_DISABLED");
    // Seed an owner directly in this platform's database through an open
    // Auth on the same file.
    let open_auth = crate::AuthBuilder::new_shared(w.a.db.clone(), SECRET)
        .build()
        .unwrap();
    let ada = user_at(&open_auth, "Ada", "ada@example.com").await;
    let ta = &ada.session.token;
    let acme = w.a.acme(ta).await;
    let inv = w.a.invite(ta, &acme.id, "Bob@Example.com", "member").await;
    // The secret went to the invitee's mailbox only.
    let mail = mailer
        .last_to("bob@example.com", EmailKind::Invitation)
        .expect("invitation mail");
    assert!(mail.url.contains(&inv.id) && mail.url.ends_with(&mail.token));
    // The invitation's ID is no proof of the mailbox.
    let by_id = o
        .sign_up_with_invitation(
            &inv.id,
            SignUpEmail::new("Bob", "bob@example.com", PASSWORD),
            &meta(),
        )
        .await;
    assert_eq!(code(by_id), "INVITATION_NOT_FOUND");
    // The wrong email cannot use it.
    let wrong = o
        .sign_up_with_invitation(
            &mail.token,
            SignUpEmail::new("Eve", "eve@example.com", PASSWORD),
            &meta(),
        )
        .await;
    assert_eq!(code(wrong), "INVITATION_NOT_FOUND");
    let (bob, member) = o
        .sign_up_with_invitation(
            &mail.token,
            SignUpEmail::new("Bob", "bob@example.com", PASSWORD),
            &meta(),
        )
        .await
        .unwrap();
    assert_eq!(member.organization_id, acme.id);
    assert_eq!(o.scope(&bob.session.token).await.unwrap().tenant(), acme.id);
    assert!(bob.user.email_verified, "the mailbox is proven");
    // Used once.
    let twice = o
        .sign_up_with_invitation(
            &mail.token,
            SignUpEmail::new("Bob", "bob2@example.com", PASSWORD),
            &meta(),
        )
        .await;
    assert_eq!(code(twice), "INVITATION_NOT_FOUND");
}

/// Better Auth's `get-invitation`: the invitee sees their pending
/// invitation; the inviter, another user, another platform's user with the
/// invitee's address, and the invitee once it is answered get
/// `INVITATION_NOT_FOUND`.
pub async fn get_invitation_shows_the_invitee_only(stores: &AuthStores, clock: &ManualClock) {
    let w = World::new(stores, clock).await;
    let o = &w.a.orgs;
    let ada = w.a.user("Ada").await;
    let bob = w.a.user("Bob").await;
    let cat = w.a.user("Cat").await;
    let ta = &ada.session.token;
    let acme = w.a.acme(ta).await;
    let inv =
        w.a.invite(ta, &acme.id, &bob.user.email.to_uppercase(), "member")
            .await;
    let got = o.get_invitation(&bob.session.token, &inv.id).await.unwrap();
    assert_eq!(got.id, inv.id);
    assert_eq!(got.organization_id, acme.id);
    assert_eq!(got.inviter_id, ada.user.id);
    for token in [ta, &cat.session.token] {
        assert_eq!(
            code(o.get_invitation(token, &inv.id).await),
            "INVITATION_NOT_FOUND"
        );
    }
    let q_bob = user_at(&w.b.auth, "Bob", &bob.user.email).await;
    assert_eq!(
        code(w.b.orgs.get_invitation(&q_bob.session.token, &inv.id).await),
        "INVITATION_NOT_FOUND"
    );
    assert_eq!(
        code(o.get_invitation("nope", &inv.id).await),
        "UNAUTHORIZED"
    );
    assert_eq!(
        code(o.get_invitation(&bob.session.token, "no-such-id").await),
        "INVITATION_NOT_FOUND"
    );
    o.reject_invitation(&bob.session.token, &inv.id, &meta())
        .await
        .unwrap();
    assert_eq!(
        code(o.get_invitation(&bob.session.token, &inv.id).await),
        "INVITATION_NOT_FOUND"
    );

    // An invitation whose inviter has left is Better Auth's
    // INVITER_IS_NO_LONGER_A_MEMBER_OF_THE_ORGANIZATION, to its invitee
    // only; someone else still gets INVITATION_NOT_FOUND.
    let dan = w.a.user("Dan").await;
    member(o, ta, &acme.id, &dan.user.id, "admin").await;
    let to_cat =
        w.a.invite(&dan.session.token, &acme.id, &cat.user.email, "member")
            .await;
    assert_eq!(
        o.get_invitation(&cat.session.token, &to_cat.id)
            .await
            .unwrap()
            .inviter_id,
        dan.user.id
    );
    o.leave(&dan.session.token, &acme.id, &meta())
        .await
        .unwrap();
    assert_eq!(
        code(o.get_invitation(&cat.session.token, &to_cat.id).await),
        "INVITER_IS_NO_LONGER_A_MEMBER_OF_THE_ORGANIZATION"
    );
    assert_eq!(
        code(o.get_invitation(&bob.session.token, &to_cat.id).await),
        "INVITATION_NOT_FOUND"
    );
}
