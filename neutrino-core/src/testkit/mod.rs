//! Conformance suites: one `pub async fn` per behaviour of a port's contract, and
//! a macro per port that expands to one `#[tokio::test]` per case.
//!
//! A backend runs a suite by naming a factory. The factory builds a fresh,
//! empty instance and returns it with a guard that lives until the case ends
//! (a temporary folder, a server handle, or `()`):
//!
//! ```no_run
//! use std::sync::Arc;
//! use neutrino_core::{clock::ManualClock, kv::KvStore, memory::MemoryKv};
//!
//! async fn memory_kv(clock: ManualClock) -> (Arc<dyn KvStore>, ()) {
//!     (Arc::new(MemoryKv::with_clock(Arc::new(clock))), ())
//! }
//!
//! neutrino_core::kv_suite!(memory_kv);
//! # fn main() {}
//! ```
//!
//! The suites are written once here and never copied: a behaviour a backend must
//! have is a case in this module.

pub mod kv;
pub mod object;
pub mod provisioner;
pub mod sql;

/// A random lowercase name, for tables, prefixes and resources that must not
/// collide between cases.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", crate::ids::generate_id())
}

/// A runtime of the calling thread with every driver on, for benchmarks and
/// tests driven from synchronous code.
pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
}

/// A runtime of `workers` worker threads with every driver on, for
/// benchmarks and tests driven from synchronous code.
pub fn multi_thread_runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a multi-thread runtime")
}

/// Polls futures concurrently on the current task; returns their outputs in
/// order.
pub async fn join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    use std::pin::Pin;
    use std::task::Poll;
    let mut futs: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futs.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *slot = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// One `#[tokio::test]` per case, each running `$run!(case)`. With a module,
/// `$run` gets the path of a case of this crate's testkit; without one (the
/// form other crates' suites build on), `$run` gets the case's name and knows
/// where the cases live.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($module:ident, $run:ident, [$($case:ident),* $(,)?]) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $run!($crate::testkit::$module::$case);
            }
        )*
    };
    ($run:ident, [$($case:ident),* $(,)?]) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $run!($case);
            }
        )*
    };
}

/// Runs the [`SqlExecutor`](crate::sql::SqlExecutor) suite: `$factory` is an
/// `async fn() -> (Arc<dyn SqlExecutor>, Guard)`. A backend whose wire format
/// cannot carry every value names what it carries as a second argument, a
/// [`sql::SqlCaps`]; the values case then checks that it refuses the rest.
#[macro_export]
macro_rules! sql_suite {
    ($factory:path) => {
        $crate::sql_suite!($factory, $crate::testkit::sql::SqlCaps::FULL);
    };
    ($factory:path, $caps:expr) => {
        mod sql_conformance {
            #[allow(unused_imports)]
            use super::*;
            macro_rules! run {
                ($case:path) => {{
                    let (db, _guard) = $factory().await;
                    $case(&*db).await;
                }};
            }
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn values_round_trip_with_their_types() {
                let (db, _guard) = $factory().await;
                $crate::testkit::sql::values_round_trip_within(&*db, $caps).await;
            }
            $crate::__conformance_cases!(
                sql,
                run,
                [
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
                    bound_calls_answer_as_plain_calls,
                ]
            );
        }
    };
}

/// Runs the [`KvStore`](crate::kv::KvStore) suite: `$factory` is an
/// `async fn(ManualClock) -> (Arc<dyn KvStore>, Guard)`; the store must use the
/// given clock for TTLs.
#[macro_export]
macro_rules! kv_suite {
    ($factory:path) => {
        mod kv_conformance {
            #[allow(unused_imports)]
            use super::*;
            macro_rules! run {
                ($case:path) => {{
                    let clock = $crate::clock::ManualClock::new();
                    let (kv, _guard) = $factory(clock.clone()).await;
                    $case(&*kv, &clock).await;
                }};
            }
            $crate::__conformance_cases!(
                kv,
                run,
                [
                    round_trip,
                    missing_key_is_none,
                    put_overwrites,
                    delete_removes_and_is_idempotent,
                    binary_and_empty_values_round_trip,
                    ttl_expires_keys,
                    short_ttl_is_rejected,
                    list_by_prefix_in_byte_order,
                    list_pages_visit_every_key_once,
                    invalid_keys_are_rejected,
                    invalid_list_limits_are_rejected,
                    counters_are_atomic_or_refused,
                ]
            );
        }
    };
}

/// Runs the [`ObjectStore`](crate::object::ObjectStore) suite: `$factory` is an
/// `async fn() -> (Arc<dyn ObjectStore>, Guard)` giving an empty bucket.
#[macro_export]
macro_rules! object_suite {
    ($factory:path) => {
        mod object_conformance {
            #[allow(unused_imports)]
            use super::*;
            macro_rules! run {
                ($case:path) => {{
                    let (store, _guard) = $factory().await;
                    $case(&*store).await;
                }};
            }
            $crate::__conformance_cases!(
                object,
                run,
                [
                    round_trip_with_metadata,
                    missing_object_is_not_found,
                    delete_removes_and_is_idempotent,
                    put_overwrites,
                    empty_object_round_trips,
                    list_by_prefix_in_byte_order,
                    list_pages_visit_every_object_once,
                    traversal_keys_are_rejected,
                    unicode_and_space_keys_round_trip,
                    invalid_metadata_is_rejected,
                ]
            );
        }
    };
}

/// Runs the [`Provisioner`](crate::provision::Provisioner) suite: `$factory` is an
/// `async fn() -> (Arc<dyn Provisioner>, Guard)`.
///
/// `provisioner_suite!(factory, refused_delete = refusal)` also runs
/// [`provisioner::refused_delete_leaves_the_resource_as_it_was`]: `refusal` is an
/// `async fn() -> (Arc<dyn Provisioner>, Arc<dyn provisioner::RefusedDelete>, Guard)`
/// giving a provisioner and the way to make its deletes fail. Every backend with
/// a way for a delete to be refused or to fail runs it.
#[macro_export]
macro_rules! provisioner_suite {
    ($factory:path, refused_delete = $refusal:path) => {
        $crate::provisioner_suite!($factory);
        mod provisioner_refused_delete {
            #[allow(unused_imports)]
            use super::*;
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn refused_delete_leaves_the_resource_as_it_was() {
                let (p, refusal, _guard) = $refusal().await;
                $crate::testkit::provisioner::refused_delete_leaves_the_resource_as_it_was(
                    &*p, &*refusal,
                )
                .await;
            }
        }
    };
    ($factory:path) => {
        mod provisioner_conformance {
            #[allow(unused_imports)]
            use super::*;
            macro_rules! run {
                ($case:path) => {{
                    let (p, _guard) = $factory().await;
                    $case(&*p).await;
                }};
            }
            $crate::__conformance_cases!(
                provisioner,
                run,
                [
                    create_is_idempotent,
                    get_after_delete_is_not_found,
                    delete_of_missing_resource_succeeds,
                    list_filters_by_kind_and_prefix,
                    invalid_names_are_rejected,
                    unsupported_kinds_are_refused,
                ]
            );
        }
    };
}
