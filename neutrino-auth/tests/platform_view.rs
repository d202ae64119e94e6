//! The auth layer holds one platform's view of the registry: nothing reached
//! through platform A's organizations names a tenant of platform B, even when
//! A's auth database holds rows that claim one (as a database written by
//! Better Auth, or by hand, may), and an auth database belongs to one platform.

mod common;

use std::sync::Arc;

use common::world::World;
use common::{PASSWORD, SECRET, meta, unique_email};
use neutrino_auth::apikey::NewApiKey;
use neutrino_auth::org::{NewOrganization, Organizations};
use neutrino_auth::{AuthBuilder, AuthError, SignUpEmail};
use neutrino_core::sql::{SqlExecutor, Statement};
use neutrino_sqlite::SqliteExecutor;
use neutrino_tenancy::{NewPlatform, PlatformClass};

fn code<T: std::fmt::Debug>(r: Result<T, AuthError>) -> &'static str {
    r.expect_err("should fail").code()
}

#[tokio::test]
async fn another_platforms_tenant_is_not_found_through_this_platforms_organizations() {
    let w = World::new().await;
    let bea = w.b.user("Bea").await;
    let globex =
        w.b.orgs
            .create_organization(
                &bea.session.token,
                NewOrganization::new("Globex", "globex"),
                &meta(),
            )
            .await
            .unwrap();
    // B's tenant is known to this process's registry: a scope of it was
    // minted through B.
    assert_eq!(
        w.b.orgs.scope(&bea.session.token).await.unwrap().tenant(),
        globex.id
    );
    let before = w.b.snapshot(&globex.id).await;

    // On platform A, Ada's auth database claims B's tenant as an organization
    // she owns, and makes it her session's active one.
    let ada = w.a.user("Ada").await;
    let tok = ada.session.token.clone();
    for stmt in [
        Statement::new(
            r#"INSERT INTO "organization" ("id", "name", "slug", "createdAt") VALUES (?1, 'Globex', 'globex', '2026-01-01T00:00:00.000Z')"#,
        )
        .bind(globex.id.as_str()),
        Statement::new(
            r#"INSERT INTO "member" ("id", "organizationId", "userId", "role", "createdAt") VALUES ('forged', ?1, ?2, 'owner', '2026-01-01T00:00:00.000Z')"#,
        )
        .bind(globex.id.as_str())
        .bind(ada.user.id.as_str()),
        Statement::new(r#"UPDATE "session" SET "activeOrganizationId" = ?1 WHERE "token" = ?2"#)
            .bind(globex.id.as_str())
            .bind(tok.as_str()),
    ] {
        w.a.raw_auth_db.execute(&stmt).await.unwrap();
    }

    // Every way to a scope refuses it, concurrently and repeatedly.
    let orgs = &w.a.orgs;
    let attempt = || async {
        let m = meta();
        let (scope, active, operator) = tokio::join!(
            orgs.scope(&tok),
            orgs.set_active(&tok, Some(&globex.id), &m),
            orgs.operator_scope(&globex.id, "ops@example.com", "support", &m),
        );
        assert_eq!(code(scope), "ORGANIZATION_NOT_FOUND");
        assert_eq!(code(active), "ORGANIZATION_NOT_FOUND");
        assert_eq!(code(operator), "ORGANIZATION_NOT_FOUND");
    };
    tokio::join!(attempt(), attempt(), attempt(), attempt());
    // An API key bound to it is made (the forged membership says so) but
    // never verifies into B's tenant.
    let key = orgs
        .create_api_key(
            &tok,
            NewApiKey {
                organization: Some(globex.id),
                ..NewApiKey::default()
            },
            &meta(),
        )
        .await
        .unwrap();
    assert_eq!(
        code(orgs.verify_api_key(&key.key).await),
        "ORGANIZATION_NOT_FOUND"
    );
    // Nor does reconcile adopt the row: it is reported, and A has no tenant
    // under B's tenant's ID.
    let report = orgs.reconcile().await.unwrap();
    assert_eq!(report.adopted, 0, "{report:?}");
    assert!(
        report.failed.iter().any(|f| f.id == globex.id.as_str()),
        "{report:?}"
    );
    assert!(
        w.registry
            .platform(w.a.id)
            .tenant(globex.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(code(orgs.scope(&tok).await), "ORGANIZATION_NOT_FOUND");
    assert_eq!(before, w.b.snapshot(&globex.id).await);
}

#[tokio::test]
async fn an_auth_database_belongs_to_one_platform() {
    let dir = tempfile::tempdir().unwrap();
    let registry = neutrino_tenancy::testkit::memory_kv_registry(Arc::new(
        SqliteExecutor::open(dir.path().join("registry.sqlite"))
            .await
            .unwrap(),
    ))
    .await;
    let platform = |name: &'static str| {
        let registry = registry.clone();
        async move {
            registry
                .create_platform(NewPlatform::new(name, PlatformClass::Platform))
                .await
                .unwrap()
                .id
        }
    };
    let (a, b) = (platform("A").await, platform("B").await);
    let minter = registry.scope_minter().unwrap();
    let auth = AuthBuilder::new(
        SqliteExecutor::open(dir.path().join("auth.sqlite"))
            .await
            .unwrap(),
        SECRET,
    )
    .build()
    .unwrap();
    auth.migrate().await.unwrap();

    // A minter restricted to A is refused for B's view.
    let only_a = minter.restricted_to(a).unwrap();
    assert!(Organizations::new(auth.clone(), registry.platform(b), only_a).is_err());
    let orgs_a = Organizations::new(
        auth.clone(),
        registry.platform(a),
        minter.restricted_to(a).unwrap(),
    )
    .unwrap();
    assert_eq!(orgs_a.platform(), a);
    // The auth database is A's now: B's organizations cannot be put on it.
    let err = Organizations::new(
        auth.clone(),
        registry.platform(b),
        minter.restricted_to(b).unwrap(),
    )
    .expect_err("another platform");
    assert_eq!(err.code(), "VALIDATION_ERROR");
    // The same platform again is fine.
    Organizations::new(
        auth.clone(),
        registry.platform(a),
        minter.restricted_to(a).unwrap(),
    )
    .unwrap();

    // The auth's writes follow A's status, not B's.
    registry.suspend(b, "ops", "test").await.unwrap();
    auth.sign_up_email(SignUpEmail::new("Ada", unique_email(), PASSWORD), &meta())
        .await
        .unwrap();
    registry.suspend(a, "ops", "test").await.unwrap();
    let refused = auth
        .sign_up_email(SignUpEmail::new("Bea", unique_email(), PASSWORD), &meta())
        .await;
    assert!(refused.unwrap_err().is_suspended());
}
