//! Finding a platform again by its name: `Registry::open_or_create_platform`
//! gives one platform per live name, however many callers race for it, on
//! separately opened handles of one SQLite file (as separate processes would).

mod common;

use std::collections::HashSet;
use std::path::Path;

use neutrino_core::Error;
use neutrino_core::ids::PlatformId;
use neutrino_tenancy::*;

async fn open(dir: &Path) -> Registry {
    common::open_files(&dir.join("registry.sqlite"), &dir.join("kv.sqlite"))
        .await
        .0
}

fn named(name: &str) -> NewPlatform {
    NewPlatform::new(name, PlatformClass::Platform)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_open_or_create_with_one_name_gives_one_platform() {
    let dir = tempfile::tempdir().unwrap();
    let handles = [open(dir.path()).await, open(dir.path()).await];
    for round in 0..5 {
        let name = format!("Racing {round}");
        let mut tasks = Vec::new();
        for i in 0..16 {
            let registry = handles[i % 2].clone();
            let new = named(&name);
            tasks.push(tokio::spawn(async move {
                registry.open_or_create_platform(new).await
            }));
        }
        let mut ids = HashSet::new();
        let mut created = 0;
        for t in tasks {
            let (platform, made) = t.await.unwrap().expect("open or create");
            assert_eq!(platform.name, name);
            assert_eq!(platform.status, PlatformStatus::Active);
            ids.insert(platform.id);
            created += usize::from(made);
        }
        assert_eq!(ids.len(), 1, "one platform per name, got {ids:?}");
        assert_eq!(created, 1, "exactly one call created it");
        let stored = handles[0]
            .platforms()
            .await
            .unwrap()
            .into_iter()
            .filter(|p| p.name == name)
            .count();
        assert_eq!(stored, 1, "one row registered under {name:?}");
        let id = *ids.iter().next().unwrap();
        // Its status mirror was written like create_platform's.
        assert_eq!(
            handles[1].platform_status(id).await.unwrap(),
            PlatformStatus::Active
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_or_create_finds_the_same_platform_after_a_reopen_and_keeps_its_fields() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let registry = open(dir.path()).await;
        let (p, created) = registry
            .open_or_create_platform(named("Quickstart").with_app_domain("app.example.com"))
            .await
            .unwrap();
        assert!(created);
        p
    };
    let registry = open(dir.path()).await;
    // Other fields only apply on creation: the stored platform comes back as is.
    let (again, created) = registry
        .open_or_create_platform(NewPlatform::new("Quickstart", PlatformClass::UserProject))
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again, first);
    assert_eq!(again.class, PlatformClass::Platform);
    assert_eq!(again.app_domain.as_deref(), Some("app.example.com"));
    // Names match exactly.
    let (other, created) = registry
        .open_or_create_platform(named("quickstart"))
        .await
        .unwrap();
    assert!(created);
    assert_ne!(other.id, first.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_platform_is_returned_and_a_deleted_one_releases_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let registry = open(dir.path()).await;
    let (p, _) = registry
        .open_or_create_platform(named("Acme"))
        .await
        .unwrap();
    registry.suspend(p.id, "ops", "unpaid").await.unwrap();
    let (again, created) = registry
        .open_or_create_platform(named("Acme"))
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again.id, p.id);
    assert_eq!(again.status, PlatformStatus::Suspended);

    registry
        .mark_platform_deleted(p.id, "ops", "closed")
        .await
        .unwrap();
    let (fresh, created) = registry
        .open_or_create_platform(named("Acme"))
        .await
        .unwrap();
    assert!(created, "a deleted platform does not hold its name");
    assert_ne!(fresh.id, p.id);
    assert_eq!(fresh.status, PlatformStatus::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_platform_claims_no_name_and_bad_input_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let registry = open(dir.path()).await;
    let plain = registry.create_platform(named("Shared")).await.unwrap();
    let twin = registry.create_platform(named("Shared")).await.unwrap();
    assert_ne!(plain.id, twin.id, "display names stay free-form");
    let (opened, created) = registry
        .open_or_create_platform(named("Shared"))
        .await
        .unwrap();
    assert!(created);
    assert!(opened.id != plain.id && opened.id != twin.id);

    for bad in ["", "   ", "tab\there", &"x".repeat(201)] {
        let e = registry
            .open_or_create_platform(named(bad))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{bad:?}: {e:?}");
    }
    let e = registry
        .open_or_create_platform(named("Domain").with_app_domain("not a host"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");

    // A given ID that another platform has is AlreadyExists, not that platform.
    let e = registry
        .open_or_create_platform(named("Taken id").with_id(plain.id))
        .await
        .unwrap_err();
    assert!(e.is_already_exists(), "{e:?}");
    // So is an app domain in use.
    registry
        .open_or_create_platform(named("First domain").with_app_domain("app.example.com"))
        .await
        .unwrap();
    let e = registry
        .open_or_create_platform(named("Second domain").with_app_domain("app.example.com"))
        .await
        .unwrap_err();
    assert!(e.is_already_exists(), "{e:?}");
    // A given ID is used when the name is free.
    let id = PlatformId::generate();
    let (p, created) = registry
        .open_or_create_platform(named("Given id").with_id(id))
        .await
        .unwrap();
    assert!(created);
    assert_eq!(p.id, id);
    // Repeating the same call opens it.
    let (again, created) = registry
        .open_or_create_platform(named("Given id").with_id(id))
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again, p);
}
