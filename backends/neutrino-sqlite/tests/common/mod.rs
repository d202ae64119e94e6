//! Helpers shared by this backend's integration tests.

use neutrino_core::sql::{SqlExecutorExt, Statement};
use neutrino_sqlite::SqliteExecutor;

/// The column "n" of the one row `count` reads from the table "t".
pub(crate) async fn count_n(db: &SqliteExecutor, count: &Statement) -> i64 {
    db.query_one(count, "count", "t")
        .await
        .unwrap()
        .get("n")
        .unwrap()
}
