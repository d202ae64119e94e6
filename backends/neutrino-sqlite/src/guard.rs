//! The guarded calls on SQLite: the engine's authorizer judges every table a
//! statement reads or writes, after parsing, through views and triggers.
//!
//! The authorizer judges for the whole job (prepare and every step: SQLite
//! re-prepares a statement after a schema change and asks the authorizer
//! again), and stops when the job ends, by a drop guard, on success, error and
//! panic alike. What is allowed is listed; every other action is denied.
//!
//! A guarded job also has a time limit: SQLite's progress handler, installed
//! with the authorizer, interrupts the statement running once the job is past
//! it (see [`install_authorizer`]).

use std::cell::RefCell;
use std::time::{Duration, Instant};

use neutrino_core::sql::{SqlGuard, leading_keyword, shadows_function};
use neutrino_core::{Error, Result};
use rusqlite::Connection;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};

/// Read-only pragmas a guarded statement may run: they show the shape of a
/// table, never its rows.
const PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
];

/// Functions a guarded statement may not call.
const FUNCTIONS: &[&str] = &[
    "load_extension",
    "fts3_tokenizer",
    "readfile",
    "writefile",
    "edit",
];

/// Tables a guarded statement may neither read nor write, besides the guard's:
/// sampled index keys of every table, and raw pages of the file.
fn internal(table: &str) -> bool {
    let t = table.to_ascii_lowercase();
    t.starts_with("sqlite_stat") || t == "sqlite_dbpage" || t == "dbstat"
}

/// The rule: `None` allows `action`, `Some(reason)` denies it.
fn judge(guard: &SqlGuard, ctx: &AuthContext<'_>) -> Option<String> {
    let guarded = |what: &str, name: &str| {
        (guard.guards(name) || internal(name))
            .then(|| format!("{what} {}", name.to_ascii_lowercase()))
    };
    match ctx.action {
        AuthAction::Select | AuthAction::Recursive => None,
        AuthAction::Read { table_name, .. } => guarded("reading the guarded table", table_name),
        // Writes to the schema tables come from SQLite's own code for CREATE,
        // ALTER and DROP; a statement cannot write them directly unless
        // `writable_schema` is on, and that pragma is denied.
        // `sqlite_sequence` holds the AUTOINCREMENT counters of every table,
        // guarded ones included (SQLite's own updates of it are not reported).
        AuthAction::Insert { table_name }
        | AuthAction::Update { table_name, .. }
        | AuthAction::Delete { table_name }
            if table_name.eq_ignore_ascii_case("sqlite_sequence") =>
        {
            Some("writing sqlite_sequence is not allowed in guarded SQL".into())
        }
        AuthAction::Insert { table_name } => guarded("writing the guarded table", table_name),
        AuthAction::Update { table_name, .. } => guarded("writing the guarded table", table_name),
        AuthAction::Delete { table_name } => guarded("writing the guarded table", table_name),
        AuthAction::CreateTable { table_name } | AuthAction::CreateTempTable { table_name }
            if shadows_function(table_name) =>
        {
            Some(format!(
                "a table named {} would shadow a function of the same name",
                table_name.to_ascii_lowercase()
            ))
        }
        // A table or index named like a guarded table would shadow it (TEMP
        // objects are looked up first) for every later statement on the
        // connection.
        AuthAction::CreateTable { table_name }
        | AuthAction::CreateTempTable { table_name }
        | AuthAction::DropTable { table_name }
        | AuthAction::DropTempTable { table_name }
        | AuthAction::AlterTable { table_name, .. }
        | AuthAction::DropView {
            view_name: table_name,
        }
        | AuthAction::DropTempView {
            view_name: table_name,
        } => guarded("changing the schema of the guarded table", table_name),
        AuthAction::CreateIndex {
            index_name,
            table_name,
        }
        | AuthAction::CreateTempIndex {
            index_name,
            table_name,
        }
        | AuthAction::DropIndex {
            index_name,
            table_name,
        }
        | AuthAction::DropTempIndex {
            index_name,
            table_name,
        }
        | AuthAction::DropTrigger {
            trigger_name: index_name,
            table_name,
        }
        | AuthAction::DropTempTrigger {
            trigger_name: index_name,
            table_name,
        } => guarded("changing the schema of the guarded table", table_name)
            .or_else(|| guarded("changing the schema of the guarded table", index_name)),
        AuthAction::Reindex { index_name } => {
            guarded("changing the schema of the guarded table", index_name)
        }
        // These take a table or index name as their argument, never a setting.
        AuthAction::Pragma { pragma_name, .. }
            if PRAGMAS.iter().any(|p| p.eq_ignore_ascii_case(pragma_name)) =>
        {
            None
        }
        AuthAction::Pragma { pragma_name, .. } => Some(format!(
            "PRAGMA {} is not allowed in guarded SQL",
            pragma_name.to_ascii_lowercase()
        )),
        AuthAction::Function { function_name } => FUNCTIONS
            .iter()
            .any(|f| f.eq_ignore_ascii_case(function_name))
            .then(|| {
                format!(
                    "the function {} is not allowed in guarded SQL",
                    function_name.to_ascii_lowercase()
                )
            }),
        // A trigger's or view's body runs later, under another caller's
        // authority, and cannot be judged when it is created.
        AuthAction::CreateTrigger { .. } | AuthAction::CreateTempTrigger { .. } => {
            Some("creating a trigger is not allowed in guarded SQL".into())
        }
        AuthAction::CreateView { .. } | AuthAction::CreateTempView { .. } => {
            Some("creating a view is not allowed in guarded SQL".into())
        }
        AuthAction::CreateVtable { .. } | AuthAction::DropVtable { .. } => {
            Some("virtual tables are not allowed in guarded SQL".into())
        }
        // VACUUM is reported as an ATTACH of its target.
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => {
            Some("ATTACH, DETACH and VACUUM are not allowed in guarded SQL".into())
        }
        AuthAction::Analyze { .. } => Some("ANALYZE is not allowed in guarded SQL".into()),
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => {
            Some("transaction control is not allowed in guarded SQL".into())
        }
        _ => Some("this statement is not allowed in guarded SQL".into()),
    }
}

/// The guard of the job running on this thread, its first denial, when it
/// started, and the limit it overran if it did.
struct Active {
    guard: SqlGuard,
    denial: Option<String>,
    started: Instant,
    overran: Option<Duration>,
}

/// How many SQLite virtual-machine steps run between two checks of a guarded
/// job's clock.
const CHECK_EVERY: i32 = 1000;

thread_local! {
    /// A guarded job runs from start to end on one thread without yielding
    /// (the writer's thread, or the thread that runs a read: the caller's, a
    /// `block_in_place` section or the blocking pool), and a connection is used
    /// by one job at a time, so the guard of the job in progress is the
    /// thread's.
    static ACTIVE: RefCell<Option<Active>> = const { RefCell::new(None) };
}

/// Installs the authorizer on a new connection, once: it allows everything
/// unless a guarded job is running ([`Authorized`]), and then applies [`judge`].
///
/// Installing it once, rather than per guarded call, matters twice: SQLite
/// expires every prepared statement of the connection when an authorizer is
/// installed (so a per-call install would re-prepare the trusted callers'
/// statements after every guarded call), and a statement stays cached across
/// calls, so guarded statements are cached under their own keys
/// ([`cache_key`]) and never share an entry with a trusted caller's.
///
/// With `time_limit`, it also installs a progress handler that interrupts the
/// statement running (every [`CHECK_EVERY`] steps, from the first) once the
/// guarded job in progress has run longer than the limit; the job then fails
/// with [`Error::InvalidInput`] naming the limit ([`Authorized::judged`]).
/// Trusted calls are never interrupted. SQLite keeps one progress handler
/// per connection: a pooled reader's read budget replaces this one with a
/// handler that makes both checks (`reader::install_budget`).
pub(crate) fn install_authorizer(conn: &Connection, time_limit: Option<Duration>) {
    conn.authorizer(Some(|ctx: AuthContext<'_>| {
        ACTIVE.with(|a| match a.borrow_mut().as_mut() {
            None => Authorization::Allow,
            Some(active) => match judge(&active.guard, &ctx) {
                None => Authorization::Allow,
                Some(reason) => {
                    active.denial.get_or_insert(reason);
                    Authorization::Deny
                }
            },
        })
    }));
    if let Some(limit) = time_limit {
        conn.progress_handler(CHECK_EVERY, Some(move || past_time_limit(limit)));
    }
}

/// Whether the guarded job running on this thread has run longer than
/// `limit` (and is then marked so): `true` interrupts its statement.
pub(crate) fn past_time_limit(limit: Duration) -> bool {
    ACTIVE.with(|a| match a.borrow_mut().as_mut() {
        None => false,
        Some(active) if active.overran.is_some() => true,
        Some(active) if active.started.elapsed() > limit => {
            active.overran = Some(limit);
            true
        }
        Some(_) => false,
    })
}

/// A guarded job in progress on this thread, until dropped (on
/// success, error and panic alike): every statement prepared, or re-prepared
/// after a schema change, meanwhile is judged.
pub(crate) struct Authorized(());

impl Authorized {
    /// Starts judging with `guard`.
    pub(crate) fn install(guard: &SqlGuard) -> Self {
        ACTIVE.with(|a| {
            *a.borrow_mut() = Some(Active {
                guard: guard.clone(),
                denial: None,
                started: Instant::now(),
                overran: None,
            })
        });
        Self(())
    }

    /// `r`, with an error caused by a denial replaced by
    /// [`Error::PermissionDenied`], and one caused by the time limit by
    /// [`Error::InvalidInput`] naming the limit.
    pub(crate) fn judged<T>(&self, r: Result<T>) -> Result<T> {
        r.map_err(|e| {
            ACTIVE.with(|a| match a.borrow().as_ref() {
                Some(Active {
                    overran: Some(limit),
                    ..
                }) => Error::InvalidInput {
                    what: "sql statement",
                    reason: format!(
                        "stopped: a guarded call may run for at most {} ms",
                        limit.as_millis()
                    ),
                },
                Some(Active {
                    denial: Some(reason),
                    ..
                }) => Error::PermissionDenied {
                    reason: reason.clone(),
                },
                _ => e,
            })
        })
    }
}

impl Drop for Authorized {
    fn drop(&mut self) {
        ACTIVE.with(|a| *a.borrow_mut() = None);
    }
}

/// Checks made on the text before SQLite sees it: VACUUM (refused outright, on
/// top of its ATTACH being denied), and for statements that change the schema,
/// any guarded name anywhere in the text (the new name of `ALTER TABLE …
/// RENAME TO` and a foreign key's parent table reach no authorizer call).
pub(crate) fn check_text(guard: &SqlGuard, sql: &str) -> Result<()> {
    match leading_keyword(sql).as_deref() {
        Some("vacuum") => Err(Error::PermissionDenied {
            reason: "VACUUM is not allowed in guarded SQL".into(),
        }),
        Some("create" | "alter" | "drop") => {
            guard.check_names(sql)?;
            // A rename's new name reaches no authorizer call.
            match sql
                .split(|c: char| {
                    !(c.is_ascii_alphanumeric() || c == '_' || c == '$' || !c.is_ascii())
                })
                .find(|w| shadows_function(w))
            {
                Some(w) if leading_keyword(sql).as_deref() == Some("alter") => {
                    Err(Error::PermissionDenied {
                        reason: format!(
                            "a table named {} would shadow a function of the same name",
                            w.to_ascii_lowercase()
                        ),
                    })
                }
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// The statement-cache key of a guarded statement: tagged with the guard, so a
/// statement prepared (and approved) under one guard, or prepared by a trusted
/// caller without any, is never reused under another.
pub(crate) fn cache_key(guard: &SqlGuard, sql: &str) -> String {
    format!("/* neutrino-guard {} */ {sql}", guard.id())
}
