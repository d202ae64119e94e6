//! Shared set-up of the integration tests: a real SQLite file per test.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::sync::Arc;

use neutrino_auth::{Auth, AuthBuilder, RequestMeta, SignUpEmail, SignedIn};
use neutrino_core::clock::ManualClock;
use neutrino_sqlite::SqliteExecutor;
use neutrino_tenancy::{ColumnType, Registry, TenantStore, TenantTable};
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

/// A tenant store on a fresh SQLite file in `dir`, with one tenanted table,
/// `note` (`body` text), on `registry`.
pub async fn note_store(dir: &Path, registry: &Registry) -> (TenantStore, TenantTable) {
    let store_db = SqliteExecutor::open(dir.join("stack.sqlite"))
        .await
        .unwrap();
    let notes = TenantTable::new("note", &[("body", ColumnType::Text)]).unwrap();
    let store = TenantStore::open(registry, Arc::new(store_db), vec![notes.clone()])
        .await
        .unwrap();
    (store, notes)
}

/// Signs a fresh user up on `auth`: the user and its session, and its
/// address.
pub async fn user_with_email(auth: &Auth, name: &str) -> (SignedIn, String) {
    let email = unique_email();
    let s = auth
        .sign_up_email(SignUpEmail::new(name, email.as_str(), PASSWORD), &meta())
        .await
        .expect("sign up")
        .signed_in()
        .expect("signed in");
    (s, email)
}

pub fn meta() -> RequestMeta {
    RequestMeta::new("198.51.100.4", "neutrino-tests/1.0")
}

pub fn unique_email() -> String {
    format!("user-{}@example.com", neutrino_core::ids::generate_id())
}
