//! The guarded calls on SQLite: the engine's authorizer judges every table a
//! statement reads or writes, after parsing, through views and triggers.
//!
//! The authorizer is installed on the connection for the whole job (prepare and
//! every step: SQLite re-prepares a statement after a schema change and asks
//! the authorizer again) and removed by a drop guard, on success, error and
//! panic alike. What is allowed is listed; every other action is denied.

use std::sync::{Arc, Mutex};

use neutrino_core::sql::{SqlGuard, leading_keyword};
use neutrino_core::{Error, Result};
use rusqlite::Connection;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};

/// Read-only pragmas a guarded statement may run (without a value): they show
/// the shape of a table, never its rows.
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
        (guard.guards(name) || internal(name)).then(|| format!("{what} {}", name.to_ascii_lowercase()))
    };
    match ctx.action {
        AuthAction::Select | AuthAction::Recursive => None,
        AuthAction::Read { table_name, .. } => guarded("reading the guarded table", table_name),
        // Writes to the schema tables come from SQLite's own code for CREATE,
        // ALTER and DROP; a statement cannot write them directly unless
        // `writable_schema` is on, and that pragma is denied.
        AuthAction::Insert { table_name } => guarded("writing the guarded table", table_name),
        AuthAction::Update { table_name, .. } => guarded("writing the guarded table", table_name),
        AuthAction::Delete { table_name } => guarded("writing the guarded table", table_name),
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
        AuthAction::Pragma {
            pragma_name,
            pragma_value: None,
        } if PRAGMAS.iter().any(|p| p.eq_ignore_ascii_case(pragma_name)) => None,
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

/// The first denial of the current job.
pub(crate) type Denial = Arc<Mutex<Option<String>>>;

/// The authorizer, installed on a connection until dropped.
pub(crate) struct Authorized<'c> {
    conn: &'c Connection,
    denial: Denial,
}

impl<'c> Authorized<'c> {
    /// Installs `guard`'s authorizer on `conn`.
    pub(crate) fn install(conn: &'c Connection, guard: &SqlGuard) -> Self {
        let denial: Denial = Arc::default();
        let (g, d) = (guard.clone(), Arc::clone(&denial));
        conn.authorizer(Some(move |ctx: AuthContext<'_>| match judge(&g, &ctx) {
            None => Authorization::Allow,
            Some(reason) => {
                let mut slot = d.lock().unwrap_or_else(|p| p.into_inner());
                slot.get_or_insert(reason);
                Authorization::Deny
            }
        }));
        Self { conn, denial }
    }

    /// `r`, with an error caused by a denial replaced by
    /// [`Error::PermissionDenied`].
    pub(crate) fn judged<T>(&self, r: Result<T>) -> Result<T> {
        r.map_err(|e| {
            let slot = self.denial.lock().unwrap_or_else(|p| p.into_inner());
            match slot.as_ref() {
                Some(reason) => Error::PermissionDenied {
                    reason: reason.clone(),
                },
                None => e,
            }
        })
    }
}

impl Drop for Authorized<'_> {
    fn drop(&mut self) {
        self.conn
            .authorizer(None::<fn(AuthContext<'_>) -> Authorization>);
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
        Some("create" | "alter" | "drop") => guard.check_names(sql),
        _ => Ok(()),
    }
}

/// The statement-cache key of a guarded statement: tagged with the guard, so a
/// statement prepared (and approved) under one guard, or prepared by a trusted
/// caller without any, is never reused under another.
pub(crate) fn cache_key(guard: &SqlGuard, sql: &str) -> String {
    format!("/* neutrino-guard {} */ {sql}", guard.id())
}
