//! No stuck state, no hidden authority: a refused organization creation
//! leaves nothing pending, and the paths that skip the usual checks (a
//! session without a credential, a platform role) are operator paths, named,
//! reasoned and audited.

use neutrino_core::clock::ManualClock;
use neutrino_core::ids::{TenantId, UserId};
use neutrino_core::sql::{SqlExecutor, Statement};

use super::fixtures::{AuthStores, PASSWORD, World, create_org, meta};
use crate::SignInEmail;
use crate::access::PlatformRole;
use crate::audit::AuditEvent;
use crate::org::{NewOrganization, Organizations};

/// How many organization creations are pending on the auth database `db`
/// (begun and neither finished nor rolled back).
pub async fn pending_organizations(db: &dyn SqlExecutor) -> usize {
    db.query(&Statement::new(
        r#"SELECT 1 FROM "neutrinoPendingOrganization""#,
    ))
    .await
    .unwrap()
    .len()
}

/// Creates a chain of sub-organizations until the registry refuses one for
/// depth, as the user of `token`; returns the deepest organization and the
/// refused slug.
pub async fn deepest_sub_organization(o: &Organizations, token: &str) -> (TenantId, String) {
    let mut parent = create_org(o, token, NewOrganization::new("L0", "level-0"))
        .await
        .id;
    for depth in 1..20 {
        let slug = format!("level-{depth}");
        match o
            .create_organization(
                token,
                NewOrganization::new("L", &slug).with_parent(parent),
                &meta(),
            )
            .await
        {
            Ok(org) => parent = org.id,
            Err(e) => {
                assert_eq!(e.code(), "VALIDATION_ERROR", "{e:?}");
                return (parent, slug);
            }
        }
    }
    panic!("no depth limit");
}

/// A refused sub organization leaves nothing pending.
pub async fn a_refused_sub_organization_leaves_nothing_pending(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let w = World::new(stores, clock).await;
    let ada = w.a.user("Ada").await;
    let t = &ada.session.token;
    let (_, refused) = deepest_sub_organization(&w.a.orgs, t).await;
    assert_eq!(pending_organizations(&w.a.db).await, 0);
    w.a.orgs.check_slug(&refused).await.unwrap();
    let report = w.a.orgs.reconcile().await.unwrap();
    assert_eq!((report.completed, report.abandoned), (0, 0));
    assert!(report.failed.is_empty());
    // The slug is free for a top-level organization.
    create_org(&w.a.orgs, t, NewOrganization::new("Top", &refused)).await;
    // A sub-organization of an unknown parent leaves nothing either.
    let ghost =
        w.a.orgs
            .create_organization(
                t,
                NewOrganization::new("G", "ghost").with_parent(TenantId::generate()),
                &meta(),
            )
            .await;
    assert!(ghost.is_err());
    assert_eq!(pending_organizations(&w.a.db).await, 0);
    w.a.orgs.check_slug("ghost").await.unwrap();
}

/// Operator paths need a name and a reason and are audited.
pub async fn operator_paths_need_a_name_and_a_reason_and_are_audited(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let w = World::new(stores, clock).await;
    let auth = &w.a.auth;
    let ada = w.a.user("Ada").await;
    for (op, reason) in [("", "ticket 9"), ("ops@example.com", ""), ("ops", "a\nb")] {
        let e = auth
            .operator_session(&ada.user.id, true, op, reason, &meta())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "VALIDATION_ERROR");
        let e =
            w.a.orgs
                .operator_set_platform_role(&ada.user.id, PlatformRole::Admin, op, reason, &meta())
                .await
                .unwrap_err();
        assert_eq!(e.code(), "VALIDATION_ERROR");
    }
    let sessions_before = auth.list_sessions(&ada.user.id).await.unwrap().len();
    let ghost = UserId::generate();
    let e = auth
        .operator_session(&ghost, true, "ops@example.com", "ticket 9", &meta())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "USER_NOT_FOUND");
    assert!(auth.list_sessions(&ghost).await.unwrap().is_empty());
    assert!(auth.audit_log(Some(&ghost), 10).await.unwrap().is_empty());

    let s = auth
        .operator_session(&ada.user.id, true, "ops@example.com", "ticket 9", &meta())
        .await
        .unwrap();
    assert_eq!(
        auth.get_session(&s.token).await.unwrap().unwrap().user.id,
        ada.user.id
    );
    assert_eq!(
        auth.list_sessions(&ada.user.id).await.unwrap().len(),
        sessions_before + 1
    );
    let log = auth.audit_log(Some(&ada.user.id), 10).await.unwrap();
    let entry = log
        .iter()
        .find(|e| e.event == AuditEvent::OperatorSession)
        .expect("audited");
    assert_eq!(entry.session_id.as_deref(), Some(s.id.as_str()));
    let detail = entry.detail.as_deref().unwrap();
    assert!(detail.contains("ops@example.com") && detail.contains("ticket 9"));

    w.a.orgs
        .operator_set_platform_role(
            &ada.user.id,
            PlatformRole::Admin,
            "ops@example.com",
            "ticket 10",
            &meta(),
        )
        .await
        .unwrap();
    let log = auth.audit_log(Some(&ada.user.id), 10).await.unwrap();
    let entry = log
        .iter()
        .find(|e| e.event == AuditEvent::PlatformRoleChanged)
        .expect("audited");
    assert!(entry.detail.as_deref().unwrap().contains("ticket 10"));
    // The credential paths are unchanged.
    auth.sign_in_email(SignInEmail::new(&ada.user.email, PASSWORD), &meta())
        .await
        .unwrap();
}
