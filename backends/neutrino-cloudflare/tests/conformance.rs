//! The shared conformance suites against the Cloudflare adapters, through the
//! contract-checking fake of the v4 API.

mod fake;

use std::sync::Arc;

use fake::FakeCloudflare;
use neutrino_cloudflare::{CloudflareProvisionerBuilder, D1Executor, WorkersKv};
use neutrino_core::clock::ManualClock;
use neutrino_core::kv::KvStore;
use neutrino_core::provision::Provisioner;
use neutrino_core::sql::SqlExecutor;
use neutrino_tenancy::testkit::Stores;

async fn d1() -> (Arc<dyn SqlExecutor>, FakeCloudflare) {
    let fake = FakeCloudflare::start().await;
    let id = fake.create_database("conformance-db");
    (Arc::new(D1Executor::new(fake.client(), id)), fake)
}

async fn workers_kv(clock: ManualClock) -> (Arc<dyn KvStore>, FakeCloudflare) {
    let fake = FakeCloudflare::start_with_clock(Arc::new(clock)).await;
    let id = fake.create_namespace("conformance-kv");
    (Arc::new(WorkersKv::new(fake.client(), id)), fake)
}

async fn provisioner() -> (Arc<dyn Provisioner>, FakeCloudflare) {
    let fake = FakeCloudflare::start().await;
    let p = CloudflareProvisionerBuilder::new(fake.client())
        .with_zone_id(fake.zone_id())
        .build()
        .expect("provisioner");
    (Arc::new(p), fake)
}

async fn provisioner_without_zone() -> (Arc<dyn Provisioner>, FakeCloudflare) {
    let fake = FakeCloudflare::start().await;
    let p = CloudflareProvisionerBuilder::new(fake.client())
        .build()
        .expect("provisioner");
    (Arc::new(p), fake)
}

async fn d1_with_workers_kv() -> (Stores, FakeCloudflare) {
    let fake = FakeCloudflare::start().await;
    let db = fake.create_database("registry");
    let ns = fake.create_namespace("status");
    let stores = Stores {
        db: Arc::new(D1Executor::new(fake.client(), db)),
        kv: Arc::new(WorkersKv::new(fake.client(), ns)),
    };
    (stores, fake)
}

/// The SQL suite, case by case. `values_round_trip_with_their_types` is left
/// out because it cannot hold on D1's HTTP API: D1 carries parameters and
/// cells as JSON numbers (JavaScript doubles), so integers beyond ±(2^53 - 1)
/// and blob parameters cannot travel; the adapter refuses them with
/// `InvalidInput` (see `d1_refuses_what_it_cannot_carry` in `tests/client.rs`).
mod sql_conformance {
    use super::*;
    use neutrino_core::testkit::sql;

    macro_rules! cases {
        ($($case:ident),* $(,)?) => {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (db, _fake) = d1().await;
                sql::$case(&*db).await;
            }
        )*};
    }

    cases!(
        typed_getters_convert_and_report_mismatches,
        unique_violation_is_already_exists,
        bad_sql_is_invalid_input,
        batch_is_atomic,
        batch_reports_each_outcome,
        execute_reports_rows_affected,
        numbered_placeholders_can_repeat,
        writes_are_visible_to_later_reads,
        concurrent_writes_all_land,
        query_that_writes_is_applied,
        migrations_apply_once_and_refuse_changes,
    );
}

neutrino_core::kv_suite!(workers_kv);
neutrino_core::provisioner_suite!(provisioner);
neutrino_tenancy::tenancy_suite!(d1_with_workers_kv);

mod without_zone {
    use super::*;
    neutrino_core::provisioner_suite!(provisioner_without_zone);
}
