//! Better Auth's admin plugin on Neutrino: roles read from the database,
//! bans that take effect at once (and win against a concurrent sign-in),
//! time-boxed and audited impersonation, user removal.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::world::World;
use common::{Fixture, PASSWORD, meta, user_with_email as user};
use neutrino_auth::admin::{AdminConfig, ListUsers, SearchOperator};
use neutrino_auth::audit::AuditEvent;
use neutrino_auth::org::Organizations;
use neutrino_auth::{Auth, SessionCacheConfig, SignInEmail, SignedIn};
use neutrino_core::ids::UserId;
use neutrino_core::sql::{SqlExecutor, Statement};
use neutrino_sqlite::SqliteExecutor;

async fn set_role_raw(db: &SqliteExecutor, user: &UserId, role: &str) {
    db.execute(
        &Statement::new(r#"UPDATE "user" SET "role" = ?1 WHERE "id" = ?2"#)
            .bind(role)
            .bind(user.as_str()),
    )
    .await
    .unwrap();
}

async fn sessions_of(db: &SqliteExecutor, user: &UserId) -> i64 {
    db.query(
        &Statement::new(r#"SELECT COUNT(*) FROM "session" WHERE "userId" = ?1"#)
            .bind(user.as_str()),
    )
    .await
    .unwrap()[0]
        .get(0)
        .unwrap()
}

/// A fixture and an `Auth` on it with the session cache on (a minute).
async fn cached() -> (Fixture, Auth) {
    let fx = Fixture::new().await;
    let cache = SessionCacheConfig {
        ttl: Duration::from_secs(60),
        max_entries: 100,
    };
    let auth = fx.build(fx.builder().with_session_cache(cache)).await;
    (fx, auth)
}

async fn admin(fx: &Fixture, auth: &Auth, role: &str) -> SignedIn {
    let (a, email) = user(auth, "Admin").await;
    set_role_raw(&fx.db, &a.user.id, role).await;
    // A fresh session, so nothing cached about the old role matters.
    auth.sign_in_email(SignInEmail::new(email, PASSWORD), &meta())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_get_better_auths_defaults_and_admin_role_names_are_configurable() {
    let fx = Fixture::new().await;
    let auth = fx.auth().await;
    let (u, _) = user(&auth, "Plain").await;
    let row = fx
        .db
        .query(
            &Statement::new(r#"SELECT "role", "banned", "twoFactorEnabled", "banReason", "banExpires" FROM "user" WHERE "id" = ?1"#)
                .bind(u.user.id.as_str()),
        )
        .await
        .unwrap();
    assert_eq!(
        row[0].get::<Option<String>>(0).unwrap().as_deref(),
        Some("user")
    );
    assert_eq!(row[0].get::<Option<i64>>(1).unwrap(), Some(0));
    assert_eq!(row[0].get::<Option<i64>>(2).unwrap(), Some(0));
    assert_eq!(row[0].get::<Option<String>>(3).unwrap(), None);

    use neutrino_auth::access::PlatformRole;
    assert_eq!(auth.platform_role_of(Some("admin")), PlatformRole::Admin);
    assert_eq!(
        auth.platform_role_of(Some("user,platform-admin")),
        PlatformRole::Admin
    );
    assert_eq!(auth.platform_role_of(Some("user")), PlatformRole::User);
    let custom = fx
        .build(fx.builder().with_admin(AdminConfig {
            admin_roles: vec!["support".into()],
            ..AdminConfig::default()
        }))
        .await;
    assert_eq!(custom.platform_role_of(Some("admin")), PlatformRole::User);
    assert_eq!(
        custom.platform_role_of(Some("support")),
        PlatformRole::Admin
    );
    assert!(
        fx.builder()
            .with_admin(AdminConfig {
                admin_roles: vec!["a,b".into()],
                ..AdminConfig::default()
            })
            .build()
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn better_auths_admin_role_is_a_platform_admin_of_the_organizations() {
    let w = World::new().await;
    let u = w.a.user("Root").await;
    set_role_raw(&w.a.raw_auth_db, &u.user.id, "admin").await;
    assert_eq!(
        w.a.orgs.platform_role(&u.user.id).await.unwrap(),
        neutrino_auth::access::PlatformRole::Admin
    );
    let _: &Organizations = &w.a.orgs;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_admin_is_refused_every_admin_operation_and_changes_nothing() {
    let fx = Fixture::new().await;
    let auth = fx.auth().await;
    let (me, _) = user(&auth, "Mallory").await;
    let (victim, _) = user(&auth, "Victim").await;
    // An admin-looking role name that is not one.
    set_role_raw(&fx.db, &me.user.id, "user,administrator").await;
    let t = me.session.token.as_str();
    let v = &victim.user.id;
    let m = meta();
    let codes = [
        auth.admin_list_users(t, &ListUsers::default())
            .await
            .unwrap_err()
            .code(),
        auth.admin_set_role(t, &me.user.id, &["admin"], &m)
            .await
            .unwrap_err()
            .code(),
        auth.admin_ban_user(t, v, None, None, &m)
            .await
            .unwrap_err()
            .code(),
        auth.admin_unban_user(t, v, &m).await.unwrap_err().code(),
        auth.admin_impersonate_user(t, v, &m)
            .await
            .unwrap_err()
            .code(),
        auth.admin_remove_user(t, v, &m).await.unwrap_err().code(),
        auth.admin_revoke_user_sessions(t, v, &m)
            .await
            .unwrap_err()
            .code(),
    ];
    assert_eq!(
        codes,
        [
            "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS",
            "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE",
            "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS",
            "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS",
            "YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS",
            "YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS",
            "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS",
        ]
    );
    let after = auth.get_admin_user(v).await.unwrap().unwrap();
    assert!(!after.banned);
    assert_eq!(sessions_of(&fx.db, v).await, 1);
    assert_eq!(
        auth.get_admin_user(&me.user.id)
            .await
            .unwrap()
            .unwrap()
            .role
            .as_deref(),
        Some("user,administrator")
    );
    // No session at all.
    assert_eq!(
        auth.admin_list_users("no-such-token", &ListUsers::default())
            .await
            .unwrap_err()
            .code(),
        "UNAUTHORIZED"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_role_is_read_from_the_database_not_a_cache() {
    let (fx, auth) = cached().await;
    let a = admin(&fx, &auth, "admin").await;
    let (v, _) = user(&auth, "Victim").await;
    auth.admin_list_users(&a.session.token, &ListUsers::default())
        .await
        .unwrap();
    // Demoted behind the cache's back: refused at once.
    set_role_raw(&fx.db, &a.user.id, "user").await;
    let e = auth
        .admin_ban_user(&a.session.token, &v.user.id, None, None, &meta())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_ends_every_session_at_once_and_refuses_sign_in_until_it_expires() {
    let (fx, auth) = cached().await;
    let a = admin(&fx, &auth, "platform-admin").await;
    let (v, email) = user(&auth, "Victim").await;
    let second = auth
        .sign_in_email(SignInEmail::new(email.as_str(), PASSWORD), &meta())
        .await
        .unwrap();
    // Cached before the ban.
    assert!(auth.get_session(&v.session.token).await.unwrap().is_some());
    let banned = auth
        .admin_ban_user(
            &a.session.token,
            &v.user.id,
            Some("spam"),
            Some(Duration::from_secs(3600)),
            &meta(),
        )
        .await
        .unwrap();
    assert!(banned.banned);
    assert_eq!(banned.ban_reason.as_deref(), Some("spam"));
    assert!(banned.ban_expires.is_some());
    assert_eq!(sessions_of(&fx.db, &v.user.id).await, 0);
    assert!(auth.get_session(&v.session.token).await.unwrap().is_none());
    assert!(
        auth.get_session(&second.session.token)
            .await
            .unwrap()
            .is_none()
    );

    // The right password: BANNED_USER (403); a wrong one says nothing more.
    let e = auth
        .sign_in_email(SignInEmail::new(email.as_str(), PASSWORD), &meta())
        .await
        .unwrap_err();
    assert_eq!((e.code(), e.status()), ("BANNED_USER", 403));
    let e = auth
        .sign_in_email(SignInEmail::new(email.as_str(), "wrong password!"), &meta())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "INVALID_EMAIL_OR_PASSWORD");

    // A session row written behind Neutrino's back for a banned user does not
    // validate either.
    fx.db
        .execute(
            &Statement::new(r#"INSERT INTO "session" ("id", "expiresAt", "token", "createdAt", "updatedAt", "userId") VALUES ('smuggled', '2999-01-01T00:00:00.000Z', 'smuggled-token', '2020-01-01T00:00:00.000Z', '2020-01-01T00:00:00.000Z', ?1)"#)
                .bind(v.user.id.as_str()),
        )
        .await
        .unwrap();
    assert!(auth.get_session("smuggled-token").await.unwrap().is_none());
    fx.db
        .execute(&Statement::new(
            r#"DELETE FROM "session" WHERE "id" = 'smuggled'"#,
        ))
        .await
        .unwrap();

    // Nor does an operator get a session for them.
    let e = auth
        .operator_session(
            &v.user.id,
            false,
            "support@example.com",
            "ticket 1",
            &meta(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "BANNED_USER");

    // An admin cannot ban themselves.
    let e = auth
        .admin_ban_user(&a.session.token, &a.user.id, None, None, &meta())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "YOU_CANNOT_BAN_YOURSELF");

    // The ban lapses by itself, and the next sign-in lifts it as Better Auth does.
    fx.clock.advance(Duration::from_secs(3601));
    auth.sign_in_email(SignInEmail::new(email.as_str(), PASSWORD), &meta())
        .await
        .unwrap();
    let lifted = auth.get_admin_user(&v.user.id).await.unwrap().unwrap();
    assert!(!lifted.banned);
    assert_eq!(lifted.ban_reason, None);
    assert_eq!(lifted.ban_expires, None);

    // A ban until lifted, then unban.
    auth.admin_ban_user(&a.session.token, &v.user.id, None, None, &meta())
        .await
        .unwrap();
    let e = auth
        .sign_in_email(SignInEmail::new(email.as_str(), PASSWORD), &meta())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "BANNED_USER");
    let un = auth
        .admin_unban_user(&a.session.token, &v.user.id, &meta())
        .await
        .unwrap();
    assert!(!un.banned);
    auth.sign_in_email(SignInEmail::new(email.as_str(), PASSWORD), &meta())
        .await
        .unwrap();
    let events: Vec<_> = auth
        .audit_log(Some(&v.user.id), 50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert!(events.contains(&AuditEvent::UserBanned));
    assert!(events.contains(&AuditEvent::UserUnbanned));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ban_racing_sign_ins_always_wins() {
    let fx = Fixture::new().await;
    let auth = fx.auth().await;
    let a = admin(&fx, &auth, "admin").await;
    for round in 0..6 {
        let (v, email) = user(&auth, "Racer").await;
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let auth = auth.clone();
            let email = email.clone();
            tasks.push(tokio::spawn(async move {
                auth.sign_in_email(SignInEmail::new(email, PASSWORD), &meta())
                    .await
            }));
        }
        let ban = {
            let auth = auth.clone();
            let token = a.session.token.clone();
            let id = v.user.id;
            tokio::spawn(async move {
                if round % 2 == 0 {
                    tokio::task::yield_now().await;
                }
                auth.admin_ban_user(&token, &id, None, None, &meta()).await
            })
        };
        ban.await.unwrap().unwrap();
        for t in tasks {
            match t.await.unwrap() {
                Ok(s) => assert!(
                    auth.get_session(&s.session.token).await.unwrap().is_none(),
                    "round {round}: a session outlived the ban"
                ),
                Err(e) => assert_eq!(e.code(), "BANNED_USER", "round {round}"),
            }
        }
        assert_eq!(
            sessions_of(&fx.db, &v.user.id).await,
            0,
            "round {round}: the ban must win"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impersonation_is_admin_only_marked_time_boxed_hidden_and_audited_twice() {
    let fx = Fixture::new().await;
    let auth = fx.auth().await;
    let a = admin(&fx, &auth, "admin").await;
    let (v, _) = user(&auth, "Target").await;
    let (other_admin, _) = user(&auth, "Other admin").await;
    set_role_raw(&fx.db, &other_admin.user.id, "platform-admin").await;

    // Admins are not impersonated (Better Auth's default).
    let e = auth
        .admin_impersonate_user(&a.session.token, &other_admin.user.id, &meta())
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.status()),
        ("YOU_CANNOT_IMPERSONATE_ADMINS", 403)
    );
    // Nor an unknown user.
    let e = auth
        .admin_impersonate_user(&a.session.token, &UserId::generate(), &meta())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "USER_NOT_FOUND");

    let imp = auth
        .admin_impersonate_user(&a.session.token, &v.user.id, &meta())
        .await
        .unwrap();
    assert_eq!(imp.user.id, v.user.id);
    assert_eq!(
        imp.session.expires_at,
        imp.session.created_at + Duration::from_secs(3600)
    );
    let marked: Option<String> = fx
        .db
        .query(
            &Statement::new(r#"SELECT "impersonatedBy" FROM "session" WHERE "id" = ?1"#)
                .bind(imp.session.id.as_str()),
        )
        .await
        .unwrap()[0]
        .get(0)
        .unwrap();
    assert_eq!(marked.as_deref(), Some(a.user.id.as_str()));
    let seen = auth.get_session(&imp.session.token).await.unwrap().unwrap();
    assert_eq!(seen.user.id, v.user.id);
    assert_eq!(seen.session.impersonated_by, Some(a.user.id));
    assert_eq!(imp.session.impersonated_by, Some(a.user.id));
    let json = serde_json::to_value(&seen.session).unwrap();
    assert_eq!(json["impersonatedBy"], a.user.id.as_str());
    let own = auth.get_session(&v.session.token).await.unwrap().unwrap();
    assert_eq!(own.session.impersonated_by, None);
    // Not in the target's session list.
    let listed = auth.list_sessions(&v.user.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, v.session.id);

    // Stopping needs the impersonating admin's own session.
    let e = auth
        .stop_impersonating(&imp.session.token, &v.session.token, &meta())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "UNAUTHORIZED");
    let e = auth
        .stop_impersonating(&v.session.token, &a.session.token, &meta())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "NOT_IMPERSONATING");
    let back = auth
        .stop_impersonating(&imp.session.token, &a.session.token, &meta())
        .await
        .unwrap();
    assert_eq!(back.user.id, a.user.id);
    assert_eq!(back.session.id, a.session.id);
    assert!(
        auth.get_session(&imp.session.token)
            .await
            .unwrap()
            .is_none()
    );

    let count = |events: &[neutrino_auth::audit::AuditEntry], e: AuditEvent| {
        events.iter().filter(|x| x.event == e).count()
    };
    let for_admin = auth.audit_log(Some(&a.user.id), 50).await.unwrap();
    let for_target = auth.audit_log(Some(&v.user.id), 50).await.unwrap();
    assert_eq!(count(&for_admin, AuditEvent::ImpersonationStarted), 1);
    assert_eq!(count(&for_admin, AuditEvent::ImpersonationStopped), 1);
    assert_eq!(count(&for_target, AuditEvent::ImpersonationStarted), 1);
    assert_eq!(count(&for_target, AuditEvent::ImpersonationStopped), 1);

    // Time-boxed: gone after an hour, however often it is used.
    let imp = auth
        .admin_impersonate_user(&a.session.token, &v.user.id, &meta())
        .await
        .unwrap();
    for _ in 0..4 {
        fx.clock.advance(Duration::from_secs(14 * 60));
        assert!(
            auth.get_session(&imp.session.token)
                .await
                .unwrap()
                .is_some()
        );
    }
    fx.clock.advance(Duration::from_secs(5 * 60));
    assert!(
        auth.get_session(&imp.session.token)
            .await
            .unwrap()
            .is_none()
    );

    // A non-admin impersonation session cannot act as an admin either.
    let e = auth
        .admin_list_users(&v.session.token, &ListUsers::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_may_be_impersonated_only_when_configured() {
    let fx = Fixture::new().await;
    let auth = fx
        .build(fx.builder().with_admin(AdminConfig {
            allow_impersonating_admins: true,
            impersonation_duration: Duration::from_secs(600),
            ..AdminConfig::default()
        }))
        .await;
    let a = admin(&fx, &auth, "admin").await;
    let (b, _) = user(&auth, "Other").await;
    set_role_raw(&fx.db, &b.user.id, "admin").await;
    let imp = auth
        .admin_impersonate_user(&a.session.token, &b.user.id, &meta())
        .await
        .unwrap();
    assert_eq!(
        imp.session.expires_at,
        imp.session.created_at + Duration::from_secs(600)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_set_role_revoke_and_remove() {
    let fx = Fixture::new().await;
    let auth = fx.auth().await;
    let a = admin(&fx, &auth, "admin").await;
    let (v, email) = user(&auth, "Ada_100%").await;
    let (_w, _) = user(&auth, "Ada1000").await;
    let all = auth
        .admin_list_users(&a.session.token, &ListUsers::default())
        .await
        .unwrap();
    assert_eq!(all.total, 3);
    // `%` and `_` are matched literally.
    let found = auth
        .admin_list_users(
            &a.session.token,
            &ListUsers {
                search_value: Some("_100%".into()),
                search_field: neutrino_auth::admin::SearchField::Name,
                search_operator: SearchOperator::EndsWith,
                ..ListUsers::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(found.users[0].user.id, v.user.id);
    let page = auth
        .admin_list_users(
            &a.session.token,
            &ListUsers {
                limit: Some(1),
                offset: Some(1),
                ..ListUsers::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((page.users.len(), page.total), (1, 3));
    let json = serde_json::to_value(&page.users[0]).unwrap();
    for key in ["id", "email", "role", "banned", "banReason", "banExpires"] {
        assert!(json.get(key).is_some(), "{key} in {json}");
    }

    let set = auth
        .admin_set_role(&a.session.token, &v.user.id, &["user", "support"], &meta())
        .await
        .unwrap();
    assert_eq!(set.role.as_deref(), Some("user,support"));
    for bad in [&[][..], &[""][..], &["a,b"][..], &[" admin"][..]] {
        assert!(
            auth.admin_set_role(&a.session.token, &v.user.id, bad, &meta())
                .await
                .is_err(),
            "{bad:?}"
        );
    }

    assert_eq!(
        auth.admin_revoke_user_sessions(&a.session.token, &v.user.id, &meta())
            .await
            .unwrap(),
        1
    );
    assert!(auth.get_session(&v.session.token).await.unwrap().is_none());

    let e = auth
        .admin_remove_user(&a.session.token, &a.user.id, &meta())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "YOU_CANNOT_REMOVE_YOURSELF");
    let again = auth
        .sign_in_email(SignInEmail::new(email.as_str(), PASSWORD), &meta())
        .await
        .unwrap();
    auth.admin_remove_user(&a.session.token, &v.user.id, &meta())
        .await
        .unwrap();
    assert!(auth.get_user(&v.user.id).await.unwrap().is_none());
    assert!(
        auth.get_session(&again.session.token)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(sessions_of(&fx.db, &v.user.id).await, 0);
    assert!(auth.list_accounts(&v.user.id).await.unwrap().is_empty());
    let e = auth
        .admin_remove_user(&a.session.token, &v.user.id, &meta())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "USER_NOT_FOUND");
    let removed = auth.audit_log(Some(&v.user.id), 10).await.unwrap();
    assert_eq!(removed[0].event, AuditEvent::UserRemoved);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_platform_refuses_admin_operations() {
    let w = World::new().await;
    let a = w.a.user("Root").await;
    set_role_raw(&w.a.raw_auth_db, &a.user.id, "admin").await;
    let v = w.a.user("Victim").await;
    w.registry
        .suspend(w.a.id, "ops@example.com", "unpaid invoice")
        .await
        .unwrap();
    let t = a.session.token.as_str();
    let auth: &Auth = &w.a.auth;
    let m = meta();
    let results = [
        auth.admin_list_users(t, &ListUsers::default())
            .await
            .map(drop),
        auth.admin_set_role(t, &v.user.id, &["admin"], &m)
            .await
            .map(drop),
        auth.admin_ban_user(t, &v.user.id, None, None, &m)
            .await
            .map(drop),
        auth.admin_unban_user(t, &v.user.id, &m).await.map(drop),
        auth.admin_impersonate_user(t, &v.user.id, &m)
            .await
            .map(drop),
        auth.admin_remove_user(t, &v.user.id, &m).await.map(drop),
        auth.admin_revoke_user_sessions(t, &v.user.id, &m)
            .await
            .map(drop),
    ];
    for (i, r) in results.into_iter().enumerate() {
        assert!(r.unwrap_err().is_suspended(), "operation {i}");
    }
    let after = auth.get_admin_user(&v.user.id).await.unwrap().unwrap();
    assert_eq!(after.role.as_deref(), Some("user"));
    assert!(!after.banned);
    let _ = Arc::new(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_landing_during_a_two_factor_challenge_gives_no_session() {
    use neutrino_auth::SignInOutcome;
    use neutrino_auth::twofactor::{DIGITS, PERIOD, hotp, symmetric_decrypt};
    use neutrino_core::clock::Clock;
    use std::time::UNIX_EPOCH;
    let fx = Fixture::new().await;
    let auth = fx.auth().await;
    let a = admin(&fx, &auth, "admin").await;
    let (v, email) = user(&auth, "Two factor").await;
    let setup = auth
        .enable_two_factor(&v.session.token, PASSWORD, "Neutrino", &meta())
        .await
        .unwrap();
    let enc: String = fx
        .db
        .query(&Statement::new(r#"SELECT "secret" FROM "twoFactor""#))
        .await
        .unwrap()[0]
        .get(0)
        .unwrap();
    let secret = symmetric_decrypt(common::SECRET.as_bytes(), &enc).unwrap();
    let secs = fx.clock.now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    auth.verify_two_factor_setup(
        &v.session.token,
        &hotp(secret.as_bytes(), secs / PERIOD, DIGITS),
        &meta(),
    )
    .await
    .unwrap();
    let SignInOutcome::TwoFactorRequired(challenge) = auth
        .sign_in_email_2fa(SignInEmail::new(email.as_str(), PASSWORD), &meta())
        .await
        .unwrap()
    else {
        panic!("expected a challenge");
    };
    auth.admin_ban_user(&a.session.token, &v.user.id, None, None, &meta())
        .await
        .unwrap();
    let e = auth
        .verify_backup_code(&challenge, &setup.backup_codes[0], &meta())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "BANNED_USER");
    fx.clock.advance(Duration::from_secs(PERIOD));
    let secs = fx.clock.now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let e = auth
        .verify_totp(
            &challenge,
            &hotp(secret.as_bytes(), secs / PERIOD, DIGITS),
            &meta(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "BANNED_USER");
    assert_eq!(sessions_of(&fx.db, &v.user.id).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_banned_users_sessions_and_api_keys_open_no_organization() {
    let w = World::new().await;
    let p = &w.a;
    let owner = p.user("Owner").await;
    let org = p
        .orgs
        .create_organization(
            &owner.session.token,
            neutrino_auth::org::NewOrganization::new("Banned Co", "banned-co"),
            &meta(),
        )
        .await
        .unwrap();
    let key = p
        .orgs
        .create_api_key(
            &owner.session.token,
            neutrino_auth::apikey::NewApiKey {
                organization: Some(org.id),
                ..Default::default()
            },
            &meta(),
        )
        .await
        .unwrap()
        .key;
    assert!(matches!(
        p.orgs.verify_api_key(&key).await.unwrap(),
        neutrino_auth::apikey::ApiKeyScope::Tenant(s) if s.tenant() == org.id
    ));
    // Banned behind this process's back (another instance, or Better Auth),
    // with a session row left over: organizations take neither.
    p.raw_auth_db
        .execute(
            &Statement::new(r#"UPDATE "user" SET "banned" = 1 WHERE "id" = ?1"#)
                .bind(owner.user.id.as_str()),
        )
        .await
        .unwrap();
    let e = p.orgs.scope(&owner.session.token).await.unwrap_err();
    assert_eq!(e.code(), "UNAUTHORIZED");
    let e = p
        .orgs
        .list_members(&owner.session.token, &org.id)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "UNAUTHORIZED");
    let e = p.orgs.verify_api_key(&key).await.unwrap_err();
    assert_eq!((e.code(), e.status()), ("BANNED_USER", 403));
    // Lifted: both work again.
    p.raw_auth_db
        .execute(
            &Statement::new(r#"UPDATE "user" SET "banned" = 0 WHERE "id" = ?1"#)
                .bind(owner.user.id.as_str()),
        )
        .await
        .unwrap();
    assert_eq!(
        p.orgs.scope(&owner.session.token).await.unwrap().tenant(),
        org.id
    );
    assert!(matches!(
        p.orgs.verify_api_key(&key).await.unwrap(),
        neutrino_auth::apikey::ApiKeyScope::Tenant(s) if s.tenant() == org.id
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_to_an_unknown_user_write_no_audit_entry() {
    let w = World::new().await;
    let p = &w.a;
    let ghost: UserId = neutrino_core::ids::UserId::generate();
    let e = p
        .orgs
        .operator_set_platform_role(
            &ghost,
            neutrino_auth::access::PlatformRole::Admin,
            "ops",
            "ticket 1",
            &meta(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "USER_NOT_FOUND");
    assert_eq!(p.auth.revoke_sessions(&ghost, &meta()).await.unwrap(), 0);
    assert_eq!(
        p.auth
            .revoke_other_sessions(&ghost, "no-such-token", &meta())
            .await
            .unwrap(),
        0
    );
    let entries = p.auth.audit_log(Some(&ghost), 100).await.unwrap();
    assert!(entries.is_empty(), "{entries:?}");
    // A known user's revocation is still recorded, with no organization.
    let u = p.user("Known").await;
    p.auth.revoke_sessions(&u.user.id, &meta()).await.unwrap();
    let entries = p.auth.audit_log(Some(&u.user.id), 100).await.unwrap();
    let revoked: Vec<_> = entries
        .iter()
        .filter(|e| e.event == AuditEvent::SessionRevoked)
        .collect();
    assert_eq!(revoked.len(), 1, "{entries:?}");
    assert_eq!(revoked[0].organization_id, None);
}
