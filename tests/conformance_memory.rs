//! The conformance suites against the in-memory backends.

use std::sync::Arc;

use neutrino::clock::ManualClock;
use neutrino::kv::KvStore;
use neutrino::memory::{MemoryKv, MemoryObjectStore, MemoryProvisioner};
use neutrino::object::ObjectStore;
use neutrino::provision::{Provisioner, ResourceKind};

async fn memory_kv(clock: ManualClock) -> (Arc<dyn KvStore>, ()) {
    (Arc::new(MemoryKv::with_clock(Arc::new(clock))), ())
}

async fn memory_objects() -> (Arc<dyn ObjectStore>, ()) {
    (Arc::new(MemoryObjectStore::new()), ())
}

async fn memory_provisioner() -> (Arc<dyn Provisioner>, ()) {
    (Arc::new(MemoryProvisioner::new()), ())
}

neutrino_core::kv_suite!(memory_kv);
neutrino_core::object_suite!(memory_objects);
neutrino_core::provisioner_suite!(memory_provisioner);

/// The unsupported-kind case needs a provisioner that lacks some kinds.
mod partial {
    use super::*;

    async fn partial_provisioner() -> (Arc<dyn Provisioner>, ()) {
        (
            Arc::new(MemoryProvisioner::supporting(&[ResourceKind::Bucket])),
            (),
        )
    }

    neutrino_core::provisioner_suite!(partial_provisioner);
}
