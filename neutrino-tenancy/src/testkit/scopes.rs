//! Scopes: operator scopes and the audit log, the scope minter.

use super::*;

/// Operator scopes write the audit log first, and the log refuses updates and
/// deletes.
pub async fn operator_scopes_are_audited_and_the_log_is_append_only(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let p = platform(&r).await;
    let a = tenant(&r, p).await;
    r.operator_scope(p, a, "support@neutrino", "ticket 4711")
        .await
        .unwrap();
    let log = r.audit_log(p).await.unwrap();
    let entry = log
        .iter()
        .find(|e| e.action == "operator_scope")
        .expect("audit entry");
    assert_eq!(
        (entry.actor.as_str(), entry.reason.as_str(), entry.tenant),
        ("support@neutrino", "ticket 4711", Some(a))
    );
    assert!(r.operator_scope(p, a, "", "no actor").await.is_err());
    assert!(r.operator_scope(p, a, "ops", " ").await.is_err());
    let upd = stores
        .db
        .execute(&Statement::new(
            r#"UPDATE "neutrino_audit_log" SET "reason" = 'edited'"#,
        ))
        .await;
    assert!(upd.is_err(), "updates are refused");
    let del = stores
        .db
        .execute(&Statement::new(r#"DELETE FROM "neutrino_audit_log""#))
        .await;
    assert!(del.is_err(), "deletes are refused");
    assert_eq!(r.audit_log(p).await.unwrap(), log);
}

/// The minter is given once; it refuses tenants of another platform and
/// suspended platforms.
pub async fn the_scope_minter_is_given_once_and_checks_tenants(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let minter = r.scope_minter().expect("first");
    assert!(matches!(
        r.scope_minter().unwrap_err(),
        Error::PermissionDenied { .. }
    ));
    let (p1, p2) = (platform(&r).await, platform(&r).await);
    let a = tenant(&r, p1).await;
    let s = minter.mint(p1, a).await.unwrap();
    assert_eq!((s.platform(), s.tenant()), (p1, a));
    assert!(minter.mint(p2, a).await.unwrap_err().is_not_found());
    assert!(
        minter
            .mint(p1, TenantId::generate())
            .await
            .unwrap_err()
            .is_not_found()
    );
    r.suspend(p1, "ops", "test").await.unwrap();
    assert!(matches!(
        minter.mint(p1, a).await.unwrap_err(),
        Error::Suspended { .. }
    ));
}
