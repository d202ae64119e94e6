//! Audit entries of guarded changes: written in the change's batch if and only
//! if the change happened, on every engine (SQLite decides with `changes()`,
//! PostgreSQL with the change's own returned rows).

use neutrino_core::clock::ManualClock;
use neutrino_core::ids::UserId;
use neutrino_core::sql::Statement;

use super::fixtures::{AuthStores, PASSWORD, auth_with, meta, unique_email};
use crate::audit::AuditEvent;
use crate::user::{UpdateUser, UserConfig};
use crate::{Auth, SignUpEmail, SignedIn};

async fn user(auth: &Auth, name: &str) -> SignedIn {
    auth.sign_up_email(
        SignUpEmail::new(name, unique_email().as_str(), PASSWORD),
        &meta(),
    )
    .await
    .expect("sign up")
    .signed_in()
    .expect("signed in")
}

/// How many entries of `event` the log holds about `user`.
async fn entries(auth: &Auth, user: &UserId, event: AuditEvent) -> usize {
    auth.audit_log(Some(user), 1000)
        .await
        .expect("audit log")
        .iter()
        .filter(|e| e.event == event)
        .count()
}

/// Role changes, unbans, user updates, removals and deletions each write one
/// entry when they change the user, and none when their guard refuses them (a
/// caller who is no admin, a revoked session, a user already gone).
pub async fn audited_changes_write_their_entry_only_when_the_change_happens(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let auth = auth_with(&stores.auth_db, clock, |b| {
        b.with_users(UserConfig {
            delete_user: true,
            change_email: false,
        })
    })
    .await;
    let admin = user(&auth, "Admin").await;
    stores
        .auth_db
        .execute(
            &Statement::new(r#"UPDATE "user" SET "role" = 'admin' WHERE "id" = ?1"#)
                .bind(admin.user.id.as_str()),
        )
        .await
        .expect("make an admin");
    let target = user(&auth, "Target").await;
    let other = user(&auth, "Other").await;
    let (a, t) = (admin.session.token.as_str(), &target.user.id);

    // Refused (no admin): no change, no entry.
    assert!(
        auth.admin_set_role(&other.session.token, t, &["admin"], &meta())
            .await
            .is_err()
    );
    assert_eq!(entries(&auth, t, AuditEvent::PlatformRoleChanged).await, 0);
    auth.admin_set_role(a, t, &["user"], &meta())
        .await
        .expect("set role");
    assert_eq!(entries(&auth, t, AuditEvent::PlatformRoleChanged).await, 1);

    assert!(
        auth.admin_unban_user(&other.session.token, t, &meta())
            .await
            .is_err()
    );
    assert_eq!(entries(&auth, t, AuditEvent::UserUnbanned).await, 0);
    auth.admin_unban_user(a, t, &meta()).await.expect("unban");
    assert_eq!(entries(&auth, t, AuditEvent::UserUnbanned).await, 1);

    let rename = || UpdateUser {
        name: Some("Renamed".into()),
        image: None,
    };
    auth.update_user(&target.session.token, rename(), &meta())
        .await
        .expect("update");
    assert_eq!(entries(&auth, t, AuditEvent::UserUpdated).await, 1);

    // Removal: once, then the user is gone and a second call writes nothing.
    auth.admin_remove_user(a, t, &meta()).await.expect("remove");
    assert!(auth.admin_remove_user(a, t, &meta()).await.is_err());
    assert!(
        auth.admin_set_role(a, t, &["admin"], &meta())
            .await
            .is_err()
    );
    assert!(auth.admin_unban_user(a, t, &meta()).await.is_err());
    assert!(
        auth.update_user(&target.session.token, rename(), &meta())
            .await
            .is_err()
    );
    assert_eq!(entries(&auth, t, AuditEvent::UserRemoved).await, 1);
    assert_eq!(entries(&auth, t, AuditEvent::PlatformRoleChanged).await, 1);
    assert_eq!(entries(&auth, t, AuditEvent::UserUnbanned).await, 1);
    assert_eq!(entries(&auth, t, AuditEvent::UserUpdated).await, 1);

    // Self-deletion: once; the session is gone with the user.
    let o = &other.user.id;
    auth.delete_user(&other.session.token, Some(PASSWORD), &meta())
        .await
        .expect("delete");
    assert!(
        auth.delete_user(&other.session.token, Some(PASSWORD), &meta())
            .await
            .is_err()
    );
    assert_eq!(entries(&auth, o, AuditEvent::UserDeleted).await, 1);
}
