//! Better Auth's admin routes on one user (get, create, update, their
//! sessions, their password, the caller's permissions) and impersonation's
//! one-time stop, on every backend.

use std::sync::Arc;

use neutrino_core::clock::ManualClock;
use neutrino_core::ids::UserId;

use super::fixtures::{
    AuthStores, PASSWORD, auth, auth_with, code, meta, operator_sql, unique_email, user,
};
use crate::admin::{AdminConfig, AdminUpdateUser, CreateUser};
use crate::{Auth, SignInEmail, SignedIn};

/// Makes `user` an admin the way an operator does: in the database.
async fn make_admin(stores: &AuthStores, user: &UserId) {
    operator_sql(
        stores,
        r#"UPDATE "user" SET "role" = 'admin' WHERE "id" = ?1"#,
        user.as_str(),
    )
    .await;
}

async fn admin(stores: &AuthStores, auth: &Auth) -> SignedIn {
    let a = user(auth, "Admin").await;
    make_admin(stores, &a.user.id).await;
    a
}

fn perms(list: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    list.iter()
        .map(|(r, a)| (r.to_string(), a.iter().map(|s| s.to_string()).collect()))
        .collect()
}

async fn signs_in(auth: &Auth, email: &str, password: &str) -> bool {
    auth.sign_in_email(SignInEmail::new(email, password), &meta())
        .await
        .is_ok()
}

/// Get, create, update, list and revoke sessions, set passwords and check
/// permissions: admins only, every rule decided by the database, admins'
/// credentials out of other admins' reach.
pub async fn admin_routes_manage_users_sessions_and_passwords(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let auth = auth(stores, clock).await;
    let a = admin(stores, &auth).await;
    let at = a.session.token.as_str();
    let bob = user(&auth, "Bob").await;
    let bt = bob.session.token.as_str();

    // A non-admin is refused everything, with Better Auth's codes.
    assert_eq!(
        code(auth.admin_get_user(bt, &a.user.id).await),
        "YOU_ARE_NOT_ALLOWED_TO_GET_USER"
    );
    let carl_email = unique_email();
    let new_carl = || CreateUser {
        email: carl_email.to_uppercase(),
        password: Some(PASSWORD.into()),
        name: "Carl".into(),
        ..CreateUser::default()
    };
    assert_eq!(
        code(auth.admin_create_user(bt, new_carl(), &meta()).await),
        "YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS"
    );
    assert_eq!(
        code(
            auth.admin_set_user_password(bt, &a.user.id, "a new password 0123", &meta())
                .await
        ),
        "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD"
    );
    assert_eq!(
        code(auth.admin_list_user_sessions(bt, &a.user.id).await),
        "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS"
    );
    assert_eq!(
        code(auth.admin_revoke_user_session(bt, at, &meta()).await),
        "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS"
    );
    assert!(auth.get_session(at).await.unwrap().is_some());
    assert_eq!(
        code(auth.admin_get_user("no-such-token", &a.user.id).await),
        "UNAUTHORIZED"
    );

    // Get.
    let got = auth.admin_get_user(at, &bob.user.id).await.unwrap();
    assert_eq!(got.user.email, bob.user.email);
    assert_eq!(got.role.as_deref(), Some("user"));
    let nobody = UserId::generate();
    assert_eq!(
        code(auth.admin_get_user(at, &nobody).await),
        "USER_NOT_FOUND"
    );

    // Create: the address normalized, unique, the password as at sign-up.
    let carl = auth
        .admin_create_user(at, new_carl(), &meta())
        .await
        .unwrap();
    assert_eq!(carl.user.email, carl_email);
    assert_eq!(carl.role.as_deref(), Some("user"));
    assert!(!carl.banned);
    assert!(signs_in(&auth, &carl_email, PASSWORD).await);
    assert_eq!(
        code(auth.admin_create_user(at, new_carl(), &meta()).await),
        "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"
    );
    for (bad, want) in [
        (
            CreateUser {
                email: "not an address".into(),
                ..new_carl()
            },
            "INVALID_EMAIL",
        ),
        (
            CreateUser {
                email: unique_email(),
                password: Some("short".into()),
                ..new_carl()
            },
            "PASSWORD_TOO_SHORT",
        ),
        (
            CreateUser {
                email: unique_email(),
                roles: Some(vec!["a,b".into()]),
                ..new_carl()
            },
            "VALIDATION_ERROR",
        ),
    ] {
        assert_eq!(code(auth.admin_create_user(at, bad, &meta()).await), want);
    }
    // Without a password: no credential account, no sign-in.
    let dora_email = unique_email();
    let dora = auth
        .admin_create_user(
            at,
            CreateUser {
                email: dora_email.clone(),
                name: "Dora".into(),
                roles: Some(vec!["user".into(), "support".into()]),
                ..CreateUser::default()
            },
            &meta(),
        )
        .await
        .unwrap();
    assert_eq!(dora.role.as_deref(), Some("user,support"));
    assert!(!signs_in(&auth, &dora_email, PASSWORD).await);

    // Set a password: made when missing, replaced when present; sessions
    // are kept, as in Better Auth.
    auth.admin_set_user_password(at, &dora.user.id, "dora's password 0123", &meta())
        .await
        .unwrap();
    assert!(signs_in(&auth, &dora_email, "dora's password 0123").await);
    auth.admin_set_user_password(at, &bob.user.id, "bob's new password 0123", &meta())
        .await
        .unwrap();
    assert!(!signs_in(&auth, &bob.user.email, PASSWORD).await);
    assert!(signs_in(&auth, &bob.user.email, "bob's new password 0123").await);
    assert!(auth.get_session(bt).await.unwrap().is_some());
    assert_eq!(
        code(
            auth.admin_set_user_password(at, &bob.user.id, "short", &meta())
                .await
        ),
        "PASSWORD_TOO_SHORT"
    );
    assert_eq!(
        code(
            auth.admin_set_user_password(at, &nobody, "a new password 0123", &meta())
                .await
        ),
        "USER_NOT_FOUND"
    );

    // Update.
    let renamed = auth
        .admin_update_user(
            at,
            &carl.user.id,
            AdminUpdateUser {
                name: Some("Carl B.".into()),
                email_verified: Some(true),
                ..AdminUpdateUser::default()
            },
            &meta(),
        )
        .await
        .unwrap();
    assert_eq!(renamed.user.name, "Carl B.");
    assert!(renamed.user.email_verified);
    assert_eq!(
        code(
            auth.admin_update_user(at, &carl.user.id, AdminUpdateUser::default(), &meta())
                .await
        ),
        "NO_DATA_TO_UPDATE"
    );
    let taken = AdminUpdateUser {
        email: Some(bob.user.email.clone()),
        ..AdminUpdateUser::default()
    };
    assert_eq!(
        code(
            auth.admin_update_user(at, &carl.user.id, taken, &meta())
                .await
        ),
        "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"
    );
    let moved = unique_email();
    let to = AdminUpdateUser {
        email: Some(moved.clone()),
        ..AdminUpdateUser::default()
    };
    let carl2 = auth
        .admin_update_user(at, &carl.user.id, to, &meta())
        .await
        .unwrap();
    assert_eq!(carl2.user.email, moved);

    // Another admin's credentials are out of reach (the rule of
    // impersonation): no password, no address.
    let other = admin(stores, &auth).await;
    assert_eq!(
        code(
            auth.admin_set_user_password(at, &other.user.id, "taken over 0123456", &meta())
                .await
        ),
        "YOU_CANNOT_IMPERSONATE_ADMINS"
    );
    let steal = AdminUpdateUser {
        email: Some(unique_email()),
        ..AdminUpdateUser::default()
    };
    assert_eq!(
        code(
            auth.admin_update_user(at, &other.user.id, steal, &meta())
                .await
        ),
        "YOU_CANNOT_IMPERSONATE_ADMINS"
    );
    assert!(signs_in(&auth, &other.user.email, PASSWORD).await);

    // Sessions: listed with impersonation sessions, revoked by token or ID.
    let imp = auth
        .admin_impersonate_user(at, &bob.user.id, &meta())
        .await
        .unwrap();
    let listed = auth
        .admin_list_user_sessions(at, &bob.user.id)
        .await
        .unwrap();
    assert!(listed.iter().any(|s| s.impersonated_by == Some(a.user.id)));
    assert!(listed.iter().any(|s| s.id == bob.session.id));
    assert_eq!(
        auth.admin_revoke_user_session(at, &imp.session.id, &meta())
            .await
            .unwrap(),
        1
    );
    assert!(
        auth.get_session(&imp.session.token)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        auth.admin_revoke_user_session(at, bt, &meta())
            .await
            .unwrap(),
        1
    );
    assert!(auth.get_session(bt).await.unwrap().is_none());
    assert_eq!(
        auth.admin_revoke_user_session(at, "no-such-session", &meta())
            .await
            .unwrap(),
        0
    );

    // Permissions: the admin role's grants, nothing for a user.
    let ask = |list: &[(&str, &[&str])]| perms(list);
    assert!(
        auth.admin_has_permission(
            at,
            &ask(&[("user", &["create", "ban"]), ("session", &["revoke"])])
        )
        .await
        .unwrap()
    );
    for denied in [
        ask(&[("user", &["impersonate-admins"])]),
        ask(&[("user", &[])]),
        ask(&[("organization", &["update"])]),
        ask(&[]),
    ] {
        assert!(
            !auth.admin_has_permission(at, &denied).await.unwrap(),
            "{denied:?}"
        );
    }
    let carl_in = auth
        .sign_in_email(SignInEmail::new(&moved, PASSWORD), &meta())
        .await
        .unwrap();
    assert!(
        !auth
            .admin_has_permission(&carl_in.session.token, &ask(&[("user", &["get"])]))
            .await
            .unwrap()
    );

    // `adminUserIds`: every permission, admins' credentials included.
    let root = user(&auth, "Root").await;
    let with_root = auth_with(&stores.auth_db, clock, |b| {
        b.with_admin(AdminConfig {
            admin_user_ids: vec![root.user.id],
            ..AdminConfig::default()
        })
    })
    .await;
    let rt = root.session.token.as_str();
    assert!(
        with_root
            .admin_has_permission(rt, &ask(&[("user", &["impersonate-admins"])]))
            .await
            .unwrap()
    );
    with_root
        .admin_set_user_password(rt, &other.user.id, "reset by root 0123", &meta())
        .await
        .unwrap();
    assert!(
        with_root
            .admin_impersonate_user(rt, &other.user.id, &meta())
            .await
            .is_ok()
    );
}

/// Many stops of one impersonation at once: one restores the admin.
pub async fn concurrent_stops_of_one_impersonation_restore_the_admin_once(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let auth = auth(stores, clock).await;
    let a = admin(stores, &auth).await;
    let v = user(&auth, "Victim").await;
    for _ in 0..3 {
        let imp = auth
            .admin_impersonate_user(&a.session.token, &v.user.id, &meta())
            .await
            .unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(16));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (auth, b) = (auth.clone(), Arc::clone(&barrier));
            let (t, at) = (imp.session.token.clone(), a.session.token.clone());
            tasks.push(tokio::spawn(async move {
                b.wait().await;
                auth.stop_impersonating(&t, &at, &meta()).await.is_ok()
            }));
        }
        let mut restored = 0;
        for t in tasks {
            if t.await.expect("task") {
                restored += 1;
            }
        }
        assert_eq!(restored, 1, "one impersonation restores its admin once");
        assert!(
            auth.get_session(&imp.session.token)
                .await
                .unwrap()
                .is_none()
        );
    }
}

/// Many admin creations of one address at once: one user.
pub async fn concurrent_creations_of_one_address_make_one_user(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let auth = auth(stores, clock).await;
    let a = admin(stores, &auth).await;
    let email = unique_email();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (auth, t, email) = (auth.clone(), a.session.token.clone(), email.clone());
        tasks.push(tokio::spawn(async move {
            auth.admin_create_user(
                &t,
                CreateUser {
                    email,
                    password: Some(PASSWORD.into()),
                    name: format!("Twin {i}"),
                    ..CreateUser::default()
                },
                &meta(),
            )
            .await
        }));
    }
    let mut made = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(_) => made += 1,
            Err(e) => assert_eq!(e.code(), "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"),
        }
    }
    assert_eq!(made, 1);
}
