//! Users and sessions written in bulk, for the benchmarks: the rows go in
//! straight, in one batch, and the sessions are made by an operator, so a
//! seed of a thousand users costs neither a thousand sign-ups nor a thousand
//! password hashes.

use neutrino_core::ids::UserId;
use neutrino_core::sql::{SqlExecutor, Statement};

use crate::{Auth, RequestMeta, Session, date};

/// Seeds `n` users (`User {i}`, `user{i}@example.com`) into `db`, the
/// migrated auth database of `auth`, each with one session of its own; with
/// `password_hash`, each also gets a credential account holding that hash.
/// The sessions, in the users' order.
pub async fn seed_sessions(
    auth: &Auth,
    db: &dyn SqlExecutor,
    n: usize,
    password_hash: Option<&str>,
) -> Vec<Session> {
    let now = date::format(std::time::SystemTime::now());
    let ids: Vec<UserId> = (0..n).map(|_| UserId::generate()).collect();
    let mut rows = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        rows.push(
            Statement::new(r#"INSERT INTO "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt") VALUES (?1, ?2, ?3, 0, NULL, ?4, ?4)"#)
                .bind(id.as_str())
                .bind(format!("User {i}"))
                .bind(format!("user{i}@example.com"))
                .bind(now.as_str()),
        );
        if let Some(hash) = password_hash {
            rows.push(
                Statement::new(r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt") VALUES (?1, ?2, 'credential', ?2, ?3, ?4, ?4)"#)
                    .bind(UserId::generate().as_str())
                    .bind(id.as_str())
                    .bind(hash)
                    .bind(now.as_str()),
            );
        }
    }
    db.batch(&rows).await.expect("seed users");
    let meta = RequestMeta::new("198.51.100.1", "bench");
    let mut sessions = Vec::with_capacity(n);
    for id in &ids {
        sessions.push(
            auth.operator_session(id, true, "bench", "seed sessions", &meta)
                .await
                .expect("seed a session"),
        );
    }
    sessions
}
