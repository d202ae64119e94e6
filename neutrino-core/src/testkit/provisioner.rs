//! Cases of the [`Provisioner`] contract. Names are unique per case, so the
//! cases also run against shared real accounts.

use async_trait::async_trait;

use crate::error::Error;
use crate::provision::{Provisioner, ResourceKind, ResourceSpec};

use super::unique;

/// The kinds of the stack resources every provisioner is tested with, where
/// supported.
fn kinds(p: &dyn Provisioner) -> Vec<ResourceKind> {
    [
        ResourceKind::Database,
        ResourceKind::Bucket,
        ResourceKind::KvNamespace,
    ]
    .into_iter()
    .filter(|k| p.supports(*k))
    .collect()
}

/// Creating twice returns the same resource; get returns it too.
pub async fn create_is_idempotent(p: &dyn Provisioner) {
    assert!(
        !kinds(p).is_empty(),
        "a provisioner must support at least one stack kind"
    );
    for kind in kinds(p) {
        let name = unique("ci-");
        let a = p
            .create(&ResourceSpec::new(kind, &name))
            .await
            .expect("create");
        assert_eq!(a.kind, kind);
        assert_eq!(a.name, name);
        assert!(!a.provider_id.is_empty());
        let b = p
            .create(&ResourceSpec::new(kind, &name))
            .await
            .expect("create again");
        assert_eq!(a, b, "{kind}");
        assert_eq!(p.get(kind, &name).await.expect("get"), a);
        let listed = p.list(kind, &name).await.expect("list");
        assert_eq!(listed, [a], "exactly one {kind} after two creates");
        p.delete(kind, &name).await.expect("clean up");
    }
}

/// A deleted resource is `NotFound`, and creating it again gives a fresh one.
pub async fn get_after_delete_is_not_found(p: &dyn Provisioner) {
    for kind in kinds(p) {
        let name = unique("gd-");
        p.create(&ResourceSpec::new(kind, &name))
            .await
            .expect("create");
        p.delete(kind, &name).await.expect("delete");
        let e = p.get(kind, &name).await.unwrap_err();
        assert!(e.is_not_found(), "{kind}: {e:?}");
        assert!(p.list(kind, &name).await.expect("list").is_empty());
        p.create(&ResourceSpec::new(kind, &name))
            .await
            .expect("create again");
        p.delete(kind, &name).await.expect("clean up");
    }
}

/// Deleting a resource that does not exist succeeds.
pub async fn delete_of_missing_resource_succeeds(p: &dyn Provisioner) {
    for kind in kinds(p) {
        p.delete(kind, &unique("dm-"))
            .await
            .expect("delete missing");
    }
}

/// `list` returns only resources of the kind with the prefix, sorted.
pub async fn list_filters_by_kind_and_prefix(p: &dyn Provisioner) {
    let prefix = unique("lf-");
    let ks = kinds(p);
    for kind in &ks {
        for n in ["b", "a"] {
            p.create(&ResourceSpec::new(*kind, format!("{prefix}-{n}")))
                .await
                .expect("create");
        }
    }
    for kind in &ks {
        let names: Vec<String> = p
            .list(*kind, &prefix)
            .await
            .expect("list")
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(
            names,
            [format!("{prefix}-a"), format!("{prefix}-b")],
            "{kind}"
        );
        assert!(
            p.list(*kind, &unique("none-"))
                .await
                .expect("list")
                .is_empty()
        );
    }
    for kind in &ks {
        for n in ["a", "b"] {
            p.delete(*kind, &format!("{prefix}-{n}"))
                .await
                .expect("clean up");
        }
    }
}

/// Names that some provider would refuse are `InvalidInput` everywhere.
pub async fn invalid_names_are_rejected(p: &dyn Provisioner) {
    for kind in kinds(p) {
        for name in ["", "-leading", "UPPER", "has space", "../escape"] {
            if kind == ResourceKind::KvNamespace && !name.is_empty() {
                continue; // KV titles are free-form
            }
            let e = p.create(&ResourceSpec::new(kind, name)).await.unwrap_err();
            assert!(
                matches!(e, Error::InvalidInput { .. }),
                "{kind} {name:?}: {e:?}"
            );
        }
    }
    if p.supports(ResourceKind::Bucket) {
        let e = p
            .create(&ResourceSpec::new(ResourceKind::Bucket, "x".repeat(64)))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    }
}

/// Kinds the provisioner does not support are `Unsupported`, never half done.
pub async fn unsupported_kinds_are_refused(p: &dyn Provisioner) {
    for kind in ResourceKind::ALL.into_iter().filter(|k| !p.supports(*k)) {
        let e = p
            .create(&ResourceSpec::new(kind, "example.com"))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{kind}: {e:?}");
        let e = p.get(kind, "example.com").await.unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{kind}: {e:?}");
    }
}

/// How a backend's tests make deleting a resource fail (what the provisioner
/// must refuse, e.g. a versioned S3 bucket, or an injected storage failure) and
/// check the resource's content afterwards, for
/// [`refused_delete_leaves_the_resource_as_it_was`].
#[async_trait]
pub trait RefusedDelete: Send + Sync {
    /// The kinds whose delete this can make fail.
    fn kinds(&self) -> Vec<ResourceKind>;
    /// Puts content into the existing resource `name` and sets it up so that
    /// deleting it must fail.
    async fn arrange(&self, kind: ResourceKind, name: &str);
    /// Whether the content [`RefusedDelete::arrange`] put is all still there and
    /// readable as it was.
    async fn content_intact(&self, kind: ResourceKind, name: &str) -> bool;
    /// Lifts what makes the delete fail, so the case can clean up.
    async fn release(&self, kind: ResourceKind, name: &str);
}

/// A refused or failed delete leaves the resource as it was: it still exists,
/// is listed, and its content reads as before; once the cause is lifted the
/// delete works.
pub async fn refused_delete_leaves_the_resource_as_it_was(
    p: &dyn Provisioner,
    refusal: &dyn RefusedDelete,
) {
    let kinds = refusal.kinds();
    assert!(!kinds.is_empty(), "a refusal for at least one kind");
    for kind in kinds {
        let name = unique("rd-");
        let made = p
            .create(&ResourceSpec::new(kind, &name))
            .await
            .expect("create");
        refusal.arrange(kind, &name).await;
        assert!(
            refusal.content_intact(kind, &name).await,
            "{kind}: the content is readable before the delete"
        );
        let e = p
            .delete(kind, &name)
            .await
            .expect_err("the delete must fail");
        assert!(!e.is_not_found(), "{kind}: {e:?}");
        assert_eq!(
            p.get(kind, &name).await.expect("still there"),
            made,
            "{kind}: {e}"
        );
        assert_eq!(
            p.list(kind, &name).await.expect("list"),
            std::slice::from_ref(&made)
        );
        assert!(
            refusal.content_intact(kind, &name).await,
            "{kind}: a refused delete ({e}) changed the content"
        );
        // Refused again, still unchanged: nothing is half done per attempt.
        p.delete(kind, &name)
            .await
            .expect_err("the delete must fail again");
        assert!(refusal.content_intact(kind, &name).await, "{kind}");
        refusal.release(kind, &name).await;
        p.delete(kind, &name).await.expect("delete once released");
        assert!(p.get(kind, &name).await.unwrap_err().is_not_found());
    }
}
