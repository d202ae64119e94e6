//! Organizations on SQLite files: a crash at each creation step repaired by
//! `reconcile`, and migrations of databases written before this crate or by
//! older versions of it. The backend-independent behaviour of organizations
//! is in the conformance suite (`neutrino_auth::testkit::organizations`).

mod common;

use common::world::World;
use common::{Fixture, PASSWORD, meta, unique_email};
use neutrino_auth::SignUpEmail;
use neutrino_auth::org::NewOrganization;
use neutrino_core::sql::{SqlExecutor, Statement};
use neutrino_sqlite::SqliteExecutor;

/// A crash at each step of the creation leaves a state `reconcile` repairs,
/// and `reconcile` is idempotent.
#[tokio::test]
async fn a_crash_at_each_creation_step_is_repaired_by_reconcile() {
    let steps: [(&str, bool); 3] = [
        (r#"INSERT INTO "neutrinoPendingOrganization""#, false),
        (r#"INSERT INTO "neutrino_tenant""#, true),
        (r#"INSERT INTO "organization""#, false),
    ];
    for (i, (pattern, on_registry)) in steps.into_iter().enumerate() {
        let w = World::new().await;
        let ada = w.a.user("Ada").await;
        let slug = format!("org-{i}");
        if on_registry {
            w.registry_db.fail_next(pattern);
        } else {
            w.a.auth_db.fail_next(pattern);
        }
        let failed =
            w.a.orgs
                .create_organization(
                    &ada.session.token,
                    NewOrganization::new("Org", &slug),
                    &meta(),
                )
                .await;
        assert!(failed.is_err(), "step {i} should fail");
        assert!(
            w.a.orgs
                .list_organizations(&ada.session.token)
                .await
                .unwrap()
                .is_empty()
        );
        let report = w.a.orgs.reconcile().await.unwrap();
        if i == 0 {
            // Nothing was written: nothing to repair, and the slug is free.
            assert_eq!(report.completed, 0);
            assert!(w.registry.tenant_by_slug(w.a.id, &slug).await.is_err());
            w.a.orgs.check_slug(&slug).await.unwrap();
            continue;
        }
        assert_eq!(report.completed, 1, "step {i}");
        let orgs =
            w.a.orgs
                .list_organizations(&ada.session.token)
                .await
                .unwrap();
        assert_eq!(orgs.len(), 1, "step {i}");
        let org = &orgs[0];
        assert_eq!(org.slug, slug);
        assert_eq!(w.registry.tenant(w.a.id, org.id).await.unwrap().slug, slug);
        let members =
            w.a.orgs
                .list_members(&ada.session.token, &org.id)
                .await
                .unwrap();
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].role, "owner");
        // Idempotent.
        let again = w.a.orgs.reconcile().await.unwrap();
        assert_eq!(again.completed, 0);
        assert_eq!(
            w.a.orgs
                .list_members(&ada.session.token, &org.id)
                .await
                .unwrap()
                .len(),
            1
        );
        // The repaired organization works like any other.
        w.a.orgs
            .set_active(&ada.session.token, Some(&org.id), &meta())
            .await
            .unwrap();
        assert_eq!(
            w.a.orgs.scope(&ada.session.token).await.unwrap().tenant(),
            org.id
        );
    }
}

#[tokio::test]
async fn better_auth_databases_with_plugin_columns_still_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let db = neutrino_sqlite::SqliteExecutor::open(dir.path().join("ba.sqlite"))
        .await
        .unwrap();
    use neutrino_core::sql::{SqlExecutor, Statement};
    for sql in [
        r#"CREATE TABLE "user" ("id" text not null primary key, "name" text not null, "email" text not null unique, "emailVerified" integer not null, "image" text, "createdAt" date not null, "updatedAt" date not null, "role" text, "banned" integer, "banReason" text, "banExpires" date)"#,
        r#"CREATE TABLE "session" ("id" text not null primary key, "expiresAt" date not null, "token" text not null unique, "createdAt" date not null, "updatedAt" date not null, "ipAddress" text, "userAgent" text, "userId" text not null references "user" ("id") on delete cascade, "activeOrganizationId" text, "impersonatedBy" text)"#,
    ] {
        db.execute(&Statement::new(sql)).await.unwrap();
    }
    let added = neutrino_auth::schema::ensure_columns(&db).await;
    // The audit log does not exist yet: migrations first.
    assert!(added.is_err());
    neutrino_auth::schema::MIGRATIONS.run(&db).await.unwrap();
    let added = neutrino_auth::schema::ensure_columns(&db).await.unwrap();
    assert_eq!(added, vec!["neutrinoAuditLog.organizationId".to_owned()]);
    assert!(
        neutrino_auth::schema::ensure_columns(&db)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn member_rows(db: &SqliteExecutor, org: &str, user: &str) -> Vec<(String, String)> {
    db.query(
        &Statement::new(
            r#"SELECT "id", "role" FROM "member" WHERE "organizationId" = ?1 AND "userId" = ?2 ORDER BY "id""#,
        )
        .bind(org)
        .bind(user),
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0).unwrap(), r.get(1).unwrap()))
    .collect()
}

/// A database from before the unique membership index: exact duplicates are
/// merged by the migration; duplicates in different roles stop it with an
/// error naming the rows, and nothing is changed until they are resolved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_membership_migration_merges_exact_duplicates_and_names_conflicts() {
    let f = Fixture::new().await;
    let auth = f.auth().await;
    let mut users = Vec::new();
    for _ in 0..2 {
        users.push(
            auth.sign_up_email(SignUpEmail::new("U", unique_email(), PASSWORD), &meta())
                .await
                .unwrap()
                .user
                .id
                .to_string(),
        );
    }
    // Back to the schema before migration 6.
    f.db.batch(&[
        Statement::new(r#"DROP INDEX "member_organizationId_userId_uidx""#),
        Statement::new(
            r#"DELETE FROM "_neutrino_migrations" WHERE "component" = 'neutrino-auth' AND "version" = 6"#,
        ),
        Statement::new(
            r#"INSERT INTO "organization" ("id", "name", "slug", "createdAt") VALUES ('org0000001', 'O', 'o-dup', '2026-01-01T00:00:00.000Z')"#,
        ),
    ])
    .await
    .unwrap();
    let insert = |id: &str, user: &str, role: &str| {
        Statement::new(
            r#"INSERT INTO "member" ("id", "organizationId", "userId", "role", "createdAt") VALUES (?1, 'org0000001', ?2, ?3, '2026-01-01T00:00:00.000Z')"#,
        )
        .bind(id)
        .bind(user)
        .bind(role)
    };
    f.db.batch(&[
        insert("m-a-1", &users[0], "member"),
        insert("m-a-2", &users[0], "member"),
        insert("m-a-3", &users[0], "member"),
        insert("m-b-1", &users[1], "member"),
        insert("m-b-2", &users[1], "admin"),
    ])
    .await
    .unwrap();

    let e = auth.migrate().await.expect_err("differing duplicates");
    let msg = e.to_string();
    assert!(
        msg.contains("m-b-1 (member)") && msg.contains("m-b-2 (admin)") && msg.contains(&users[1]),
        "{msg}"
    );
    assert!(
        !msg.contains("m-a-"),
        "exact duplicates are not conflicts: {msg}"
    );
    assert_eq!(member_rows(&f.db, "org0000001", &users[0]).await.len(), 3);

    // Resolved by hand: the migration runs and merges the exact duplicates.
    f.db.execute(&Statement::new(
        r#"DELETE FROM "member" WHERE "id" = 'm-b-2'"#,
    ))
    .await
    .unwrap();
    assert_eq!(auth.migrate().await.unwrap(), vec![6]);
    assert_eq!(
        member_rows(&f.db, "org0000001", &users[0]).await,
        vec![("m-a-1".to_owned(), "member".to_owned())]
    );
    assert_eq!(member_rows(&f.db, "org0000001", &users[1]).await.len(), 1);
    // From now on the database refuses a second membership.
    let dup = f.db.execute(&insert("m-a-4", &users[0], "admin")).await;
    assert!(dup.unwrap_err().is_already_exists());
}
