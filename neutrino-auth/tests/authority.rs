//! `reconcile` reports what it cannot finish and goes on, after an injected
//! failure of the registry. The backend-independent authority behaviour is
//! in the conformance suite (`neutrino_auth::testkit::authority`).

mod common;

use common::meta;
use common::world::World;
use neutrino_auth::AuthError;
use neutrino_auth::org::NewOrganization;
use neutrino_auth::testkit::{deepest_sub_organization, pending_organizations};
use neutrino_core::ids::TenantId;
use neutrino_core::sql::{SqlExecutor, Statement};

#[tokio::test]
async fn reconcile_reports_what_it_cannot_finish_and_goes_on() {
    let w = World::new().await;
    let ada = w.a.user("Ada").await;
    let t = &ada.session.token;
    let (deep, _) = deepest_sub_organization(&w.a.orgs, t).await;
    // 1. A row that cannot be read, first in line.
    let insert = r#"INSERT INTO "neutrinoPendingOrganization" ("id", "slug", "name", "parentId", "logo", "metadata", "creatorId", "createdAt") VALUES (?1, ?2, 'X', ?3, NULL, NULL, ?4, ?5)"#;
    w.a.raw_auth_db
        .execute(
            &Statement::new(insert)
                .bind("not-a-tenant-id")
                .bind("broken")
                .bind(None::<String>)
                .bind(ada.user.id.as_str())
                .bind("2000-01-01T00:00:00.000Z"),
        )
        .await
        .unwrap();
    // 2. A creation the registry now refuses for good (too deep).
    w.a.raw_auth_db
        .execute(
            &Statement::new(insert)
                .bind(TenantId::generate().as_str())
                .bind("too-deep")
                .bind(Some(deep.as_str().to_owned()))
                .bind(ada.user.id.as_str())
                .bind("2000-01-01T00:00:01.000Z"),
        )
        .await
        .unwrap();
    // 3. A creation interrupted by a registry failure.
    w.registry_db.fail_next(r#"INSERT INTO "neutrino_tenant""#);
    assert!(
        w.a.orgs
            .create_organization(t, NewOrganization::new("Acme", "acme"), &meta())
            .await
            .is_err()
    );
    assert_eq!(pending_organizations(&w.a.raw_auth_db).await, 3);

    let report = w.a.orgs.reconcile().await.unwrap();
    assert_eq!(report.completed, 1, "{report:?}");
    assert_eq!(report.abandoned, 1, "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(report.failed[0].id, "not-a-tenant-id");
    assert!(matches!(
        report.failed[0].error,
        AuthError::Store(neutrino_core::Error::Decode { .. })
    ));
    assert!(
        w.a.orgs
            .list_organizations(t)
            .await
            .unwrap()
            .iter()
            .any(|o| o.slug == "acme")
    );
    // Later runs keep going and keep reporting the broken row.
    let again = w.a.orgs.reconcile().await.unwrap();
    assert_eq!((again.completed, again.abandoned), (0, 0));
    assert_eq!(again.failed.len(), 1);
    assert_eq!(pending_organizations(&w.a.raw_auth_db).await, 1);
}
