//! Shared set-up of the integration tests: a real SQLite file per test.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use neutrino_auth::{Auth, AuthBuilder, RequestMeta};
use neutrino_core::clock::ManualClock;
use neutrino_sqlite::SqliteExecutor;
use tempfile::TempDir;

pub mod world;

pub const SECRET: &str = "integration-test-secret-0123456789abcdef";
pub const PASSWORD: &str = "correct horse battery";

pub struct Fixture {
    pub dir: TempDir,
    pub db: SqliteExecutor,
    pub clock: ManualClock,
}

impl Fixture {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = SqliteExecutor::open(dir.path().join("auth.sqlite"))
            .await
            .expect("open sqlite");
        Self {
            dir,
            db,
            clock: ManualClock::new(),
        }
    }

    pub fn builder(&self) -> AuthBuilder {
        AuthBuilder::new(self.db.clone(), SECRET).with_clock(Arc::new(self.clock.clone()))
    }

    pub async fn auth(&self) -> Auth {
        self.build(self.builder()).await
    }

    pub async fn build(&self, builder: AuthBuilder) -> Auth {
        let auth = builder.build().expect("valid config");
        auth.migrate().await.expect("migrations");
        auth
    }
}

pub fn meta() -> RequestMeta {
    RequestMeta::new("198.51.100.4", "neutrino-tests/1.0")
}

pub fn unique_email() -> String {
    format!("user-{}@example.com", neutrino_core::ids::generate_id())
}
