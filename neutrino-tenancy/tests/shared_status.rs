//! One registry database, many handles in one process: two executors opened
//! separately on the same SQLite file (each with its own KV handle) share the
//! status cache, the host cache and the scope minter; a different database
//! shares nothing, even for a platform with the same ID.

mod common;

use neutrino_core::Error;
use neutrino_core::ids::PlatformId;
use neutrino_tenancy::*;

/// A registry on the file `db` in `dir`, its statuses in the KV file `kv`.
async fn open(dir: &tempfile::TempDir, db: &str, kv: &str) -> Registry {
    common::open_files(&dir.path().join(db), &dir.path().join(kv))
        .await
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_on_one_file_share_status_hosts_and_the_minter_and_other_files_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let one = open(&dir, "registry.sqlite", "kv.sqlite").await;
    let two = open(&dir, "registry.sqlite", "kv.sqlite").await;
    let other_db = open(&dir, "other.sqlite", "kv2.sqlite").await;

    let id = PlatformId::generate();
    let p = one
        .create_platform(
            NewPlatform::new("Shared", PlatformClass::Platform)
                .with_id(id)
                .with_app_domain("shared.example.com"),
        )
        .await
        .unwrap()
        .id;
    let a = one
        .create_tenant(p, NewTenant::new("acme", "Acme"))
        .await
        .unwrap()
        .id;
    // The same platform ID registered in another database.
    other_db
        .create_platform(NewPlatform::new("Elsewhere", PlatformClass::Platform).with_id(id))
        .await
        .unwrap();
    let b = other_db
        .create_tenant(id, NewTenant::new("beta", "Beta"))
        .await
        .unwrap()
        .id;

    // The minter: once for the file, whichever handle; the other file has its own.
    let minter = two.scope_minter().expect("first minter of the file");
    assert!(matches!(
        one.scope_minter().unwrap_err(),
        Error::PermissionDenied { .. }
    ));
    let other_minter = other_db
        .scope_minter()
        .expect("another database has its own minter");

    // Warm every cache, then suspend through the first handle.
    minter.mint(p, a).await.unwrap();
    other_minter.mint(id, b).await.unwrap();
    assert_eq!(
        two.resolve("acme.shared.example.com").await.unwrap(),
        Some((p, a))
    );
    one.suspend(p, "ops", "test").await.unwrap();
    assert!(matches!(
        minter.mint(p, a).await.unwrap_err(),
        Error::Suspended { .. }
    ));
    assert!(matches!(
        two.operator_scope(p, a, "ops", "look").await.unwrap_err(),
        Error::Suspended { .. }
    ));
    assert!(matches!(
        two.create_tenant(p, NewTenant::new("late", "Late"))
            .await
            .unwrap_err(),
        Error::Suspended { .. }
    ));
    // The other database's platform of the same ID is untouched.
    other_minter
        .mint(id, b)
        .await
        .expect("another database is independent");
    assert_eq!(
        other_db.platform_status(id).await.unwrap(),
        PlatformStatus::Active
    );

    // Host changes through one handle are seen by the other at once.
    one.reinstate(p, "ops", "test").await.unwrap();
    minter.mint(p, a).await.expect("reinstated");
    let custom = one
        .add_custom_domain(p, a, "app.acme-corp.example")
        .await
        .unwrap();
    one.verify_custom_domain(p, &custom.host).await.unwrap();
    one.activate_custom_domain(p, &custom.host).await.unwrap();
    assert_eq!(two.resolve(&custom.host).await.unwrap(), Some((p, a)));
    one.remove_host(p, &custom.host).await.unwrap();
    assert_eq!(two.resolve(&custom.host).await.unwrap(), None);
}

/// A tenant remembered as existing by a minter of one database is remembered
/// for its own platform and its own database only: the same tenant ID through
/// another platform, or through another database with a platform of the same
/// ID, is still `NotFound`.
#[tokio::test]
async fn a_known_tenant_is_known_for_its_platform_and_database_only() {
    let dir = tempfile::tempdir().unwrap();
    let one = open(&dir, "registry.sqlite", "kv.sqlite").await;
    let other_db = open(&dir, "other.sqlite", "kv2.sqlite").await;
    let id = PlatformId::generate();
    let p = one
        .create_platform(NewPlatform::new("P", PlatformClass::Platform).with_id(id))
        .await
        .unwrap()
        .id;
    let q = one
        .create_platform(NewPlatform::new("Q", PlatformClass::Platform))
        .await
        .unwrap()
        .id;
    other_db
        .create_platform(NewPlatform::new("P elsewhere", PlatformClass::Platform).with_id(id))
        .await
        .unwrap();
    let t = one
        .create_tenant(p, NewTenant::new("acme", "Acme"))
        .await
        .unwrap()
        .id;
    let minter = one.scope_minter().unwrap();
    let other_minter = other_db.scope_minter().unwrap();
    for _ in 0..2 {
        assert_eq!(minter.mint(p, t).await.unwrap().tenant(), t);
        assert!(minter.mint(q, t).await.unwrap_err().is_not_found());
        assert!(other_minter.mint(id, t).await.unwrap_err().is_not_found());
    }
    // A restricted minter refuses another platform before anything else.
    let only_q = minter.restricted_to(q).unwrap();
    assert!(matches!(
        only_q.mint(p, t).await.unwrap_err(),
        Error::PermissionDenied { .. }
    ));
}
