//! [`TenantStore`]: tenant-scoped access to a host app's tables, and
//! [`GuardedExecutor`] for the raw SQL that remains.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use neutrino_core::ids::{PlatformId, TenantId};
use neutrino_core::migrate::schema_batch;
use neutrino_core::naming::RESERVED_TABLES;
use neutrino_core::sql::{
    Dialect, ExecOutcome, Row, SqlExecutor, SqlGuard, Statement, TenantBinding, Value,
};
use neutrino_core::{Error, Result};

use crate::table::{Record, TenantTable};
use crate::{PlatformRegistry, Registry, TenantScope};

/// Most rows one [`TenantStore::list`] call returns.
pub const MAX_PAGE: usize = 1000;

/// A comparison in a [`ListQuery`] filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `LIKE` (the value is a pattern)
    Like,
    /// `IS NULL` (the value is ignored)
    IsNull,
    /// `IS NOT NULL` (the value is ignored)
    IsNotNull,
}

impl Op {
    fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Like => "LIKE",
            Op::IsNull => "IS NULL",
            Op::IsNotNull => "IS NOT NULL",
        }
    }
}

/// Sort direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Ascending (`NULL`s first).
    Asc,
    /// Descending (`NULL`s last).
    Desc,
}

/// What [`TenantStore::list`] returns: filters (values bound, columns checked
/// against the table), one ordering column (ties broken by `id`), a page size and
/// a cursor, and whether sub-tenants' rows are included.
///
/// ```
/// use neutrino::tenancy::{ListQuery, Op, Order};
/// let q = ListQuery::new()
///     .filter("stars", Op::Ge, 3_i64)
///     .order_by("stars", Order::Desc)
///     .limit(20)
///     .including_subtenants();
/// # let _ = q;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ListQuery {
    filters: Vec<(String, Op, Value)>,
    order: Option<(String, Order)>,
    limit: usize,
    cursor: Option<String>,
    subtenants: bool,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            filters: Vec::new(),
            order: None,
            limit: 50,
            cursor: None,
            subtenants: false,
        }
    }
}

impl ListQuery {
    /// All rows of the scope's tenant, by `id`, 50 per page.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a condition `column op value` (all conditions must hold).
    pub fn filter(mut self, column: impl Into<String>, op: Op, value: impl Into<Value>) -> Self {
        self.filters.push((column.into(), op, value.into()));
        self
    }

    /// Orders by `column` (then by `id`).
    pub fn order_by(mut self, column: impl Into<String>, order: Order) -> Self {
        self.order = Some((column.into(), order));
        self
    }

    /// At most `n` rows per page (1–1000).
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = n;
        self
    }

    /// Continues after the page that returned `cursor`.
    pub fn after(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    /// Includes the rows of the scope tenant's sub-tenants, at any depth.
    pub fn including_subtenants(mut self) -> Self {
        self.subtenants = true;
        self
    }
}

/// One page of rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// The rows, in the query's order.
    pub rows: Vec<Row>,
    /// Pass to [`ListQuery::after`] for the next page; `None` at the end.
    pub cursor: Option<String>,
}

/// Tenant-scoped access to a host app's declared tables in one database.
///
/// Every read, update and delete carries `platform_id = ? AND tenant_id = ?` from
/// the caller's [`TenantScope`]; inserts set both columns and refuse values for
/// them; updates cannot write them, so a row never moves to another tenant. A row
/// of another tenant is [`Error::NotFound`], exactly like a missing row. Every
/// call first checks that the scope's platform is active
/// ([`Error::Suspended`] otherwise).
///
/// On PostgreSQL the database enforces the same under the store's filter:
/// the tables have row-level security with policies on both scope columns,
/// and every statement runs bound to the scope (see [`TenantStore::open`]).
///
/// A store opened with [`TenantStore::open`] serves the scopes of every platform
/// of its registry: the scope carries its platform, and each call works through
/// that platform's [`PlatformRegistry`]. A component that serves one platform
/// holds [`TenantStore::restricted_to`] that platform instead, which refuses
/// the scopes of any other.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> neutrino::Result<()> {
/// use std::sync::Arc;
/// use neutrino::memory::MemoryKv;
/// use neutrino::sqlite::SqliteExecutor;
/// use neutrino::tenancy::*;
///
/// let db = Arc::new(SqliteExecutor::memory().await?);
/// let registry = Registry::open(db.clone(), Arc::new(MemoryKv::new()), RegistryOptions::default()).await?;
/// let p = registry.create_platform(NewPlatform::new("Acme", PlatformClass::Platform)).await?.id;
/// let a = registry.create_tenant(p, NewTenant::new("a", "A")).await?.id;
/// let b = registry.create_tenant(p, NewTenant::new("b", "B")).await?.id;
/// let notes = TenantTable::new("note", &[("title", ColumnType::Text)])?;
/// let store = TenantStore::open(&registry, db, vec![notes.clone()]).await?;
///
/// let scope_a = registry.operator_scope(p, a, "ops@acme", "example").await?;
/// let scope_b = registry.operator_scope(p, b, "ops@acme", "example").await?;
/// let id = store.insert(&scope_a, &notes, Record::new().set("title", "mine")).await?;
/// assert!(store.get(&scope_a, &notes, &id).await.is_ok());
/// assert!(store.get(&scope_b, &notes, &id).await.unwrap_err().is_not_found());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TenantStore {
    registry: Registry,
    /// `Some` for a store narrowed to one platform.
    platform: Option<PlatformId>,
    db: Arc<dyn SqlExecutor>,
    tables: Vec<TenantTable>,
    guard: SqlGuard,
    /// Whether statements carry the scope's `WHERE`; off only in tests of
    /// row-level security alone.
    app_filter: bool,
}

impl fmt::Debug for TenantStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantStore")
            .field("platform", &self.platform)
            .field("db", &self.db)
            .field(
                "tables",
                &self
                    .tables
                    .iter()
                    .map(TenantTable::name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The scope condition of the statements on one row; `?1` is the platform and
/// `?2` the tenant.
const SCOPE_FILTER: &str = r#""platform_id" = ?1 AND "tenant_id" = ?2"#;

/// What replaces the scope condition when the application filter is off (a
/// test of row-level security alone): true, with the same parameters.
const NO_FILTER: &str = "?1 = ?1 AND ?2 = ?2";

fn tenant_filter_sql(subtenants: bool, dialect: Dialect, app_filter: bool) -> &'static str {
    if !app_filter {
        NO_FILTER
    } else if subtenants && dialect == Dialect::Postgres {
        r#""platform_id" = ?1 AND "tenant_id" IN (SELECT jsonb_array_elements_text(CAST(?2 AS jsonb)))"#
    } else if subtenants {
        r#""platform_id" = ?1 AND "tenant_id" IN (SELECT "value" FROM json_each(?2))"#
    } else {
        r#""platform_id" = ?1 AND "tenant_id" = ?2"#
    }
}

impl TenantStore {
    /// Creates `tables` in `db` if missing, and adds to an existing one any
    /// missing declared column, including `id`, `platform_id` and `tenant_id`
    /// (rows that existed before have no tenant and are invisible to every
    /// scope).
    ///
    /// On PostgreSQL, run it as the role that owns the tenanted tables (never
    /// the role [`TenantStore::open`] is given): it also enables and forces
    /// row-level security on each table and (re)creates its four policies,
    /// one per command: `neutrino_read` (a row is the bound scope's tenant's
    /// or one of its bound sub-tenants') and `neutrino_insert`,
    /// `neutrino_update` and `neutrino_delete` (a row written is the bound
    /// scope's tenant's), so a statement bound to no scope reads and writes
    /// no row. It does the same on each partition or child table of a
    /// tenanted table that exists then (reached by its own name, a
    /// partition is held by its own policies, not its parent's). It drops
    /// the two policies of earlier releases (`neutrino_tenant`,
    /// `neutrino_subtenants`). The application role needs `USAGE` on
    /// the schema and `SELECT, INSERT, UPDATE, DELETE` on the tables; see
    /// the PostgreSQL backend's docs for setting up the roles. On SQLite and
    /// D1, [`TenantStore::open`] runs it itself.
    pub async fn migrate(db: &dyn SqlExecutor, tables: &[TenantTable]) -> Result<()> {
        check_distinct(tables)?;
        let postgres = db.dialect() == Dialect::Postgres;
        for t in tables {
            // The table first; its index once the scope columns it is on
            // exist (an older table may lack them until they are added below).
            // Each step one schema change at a time across processes
            // (`schema_batch`): concurrent first starts would race in the
            // catalogs otherwise.
            let mut create = t.create_sql().into_iter();
            if let Some(sql) = create.next() {
                schema_batch(db, &[Statement::new(sql)]).await?;
            }
            let columns = if postgres {
                r#"SELECT "column_name"::TEXT AS "name" FROM information_schema.columns
                   WHERE "table_schema" = current_schema() AND "table_name" = ?1"#
            } else {
                r#"SELECT "name" FROM pragma_table_info(?1)"#
            };
            let rows = db.query(&Statement::new(columns).bind(t.name())).await?;
            let existing: HashSet<String> = rows
                .iter()
                .map(|r| r.get::<String>("name"))
                .collect::<Result<_>>()?;
            let mut changes: Vec<Statement> = t
                .all_columns()
                .filter(|c| !existing.contains(*c))
                .filter_map(|c| t.add_column_sql(c))
                .map(|sql| {
                    // Another start may have added it since the read above.
                    if postgres {
                        sql.replacen(" ADD COLUMN ", " ADD COLUMN IF NOT EXISTS ", 1)
                    } else {
                        sql
                    }
                })
                .map(Statement::new)
                .collect();
            changes.extend(create.map(Statement::new));
            if postgres {
                changes.extend(crate::rls::policy_sql(t));
                // The host's partitions and child tables of it hold its rows.
                changes.extend(crate::rls::descendants_policy_sql(db, t).await?);
            }
            if !changes.is_empty() {
                schema_batch(db, &changes).await?;
            }
        }
        Ok(())
    }

    /// Opens the store of `tables` on `db`.
    ///
    /// On SQLite and D1, each table is created if missing and an existing one
    /// gets any missing declared column ([`TenantStore::migrate`]).
    ///
    /// On PostgreSQL the store changes no table: the tables are the owner
    /// role's, created and extended by [`TenantStore::migrate`] run as that
    /// role beforehand, and `db` is the application role's. Opening refuses
    /// with [`Error::Config`], naming the table or role and what is wrong,
    /// unless row-level security holds `db`'s role: it is no superuser, has
    /// no `BYPASSRLS` and may not act as a role that has either; and every
    /// table exists with its scope columns, row-level security enabled and
    /// forced, exactly the four policies `migrate` creates among its
    /// permissive ones, an owner that is not `db`'s role nor one it belongs
    /// to, and grants to `SELECT`, `INSERT`, `UPDATE` and `DELETE`; and each
    /// of its partitions and child tables, and each table it is a partition
    /// or child table of (whose queries read its rows under their own
    /// policies), the same (bar the grants). Every statement of the store
    /// then runs bound to its scope's platform and tenant ([`SqlExecutor::execute_bound`]), so the database itself keeps
    /// each scope to its tenant's rows, under the store's own filter.
    pub async fn open(
        registry: &Registry,
        db: Arc<dyn SqlExecutor>,
        tables: Vec<TenantTable>,
    ) -> Result<Self> {
        check_distinct(&tables)?;
        if db.dialect() == Dialect::Postgres {
            crate::rls::check(db.as_ref(), &tables).await?;
        } else {
            Self::migrate(db.as_ref(), &tables).await?;
        }
        let guard = guard_with_host_objects(
            db.as_ref(),
            tables
                .iter()
                .map(|t| t.name().to_ascii_lowercase())
                .chain(RESERVED_TABLES.iter().map(|t| (*t).to_owned()))
                .collect(),
        )
        .await?;
        Ok(Self {
            registry: registry.clone(),
            platform: None,
            db,
            tables,
            guard,
            app_filter: true,
        })
    }

    /// This store without its own scope condition on reads, updates and
    /// deletes, so that a test shows row-level security alone keeping each
    /// scope to its tenant's rows (on PostgreSQL). Never for production:
    /// only with the `testkit` feature.
    #[cfg(feature = "testkit")]
    #[doc(hidden)]
    pub fn without_app_filter_for_tests(&self) -> TenantStore {
        TenantStore {
            app_filter: false,
            ..self.clone()
        }
    }

    /// The binding of a statement for `scope`.
    fn binding(scope: &TenantScope) -> TenantBinding {
        TenantBinding::new(scope.platform(), scope.tenant())
    }

    /// `sql` (whose scope condition is [`SCOPE_FILTER`]) as this store runs it.
    fn filtered(&self, sql: &Arc<str>) -> Arc<str> {
        if self.app_filter {
            Arc::clone(sql)
        } else {
            sql.replace(SCOPE_FILTER, NO_FILTER).into()
        }
    }

    /// Raw SQL on the same database, for code that needs SQL outside the scoped
    /// helpers: hand it this, never the executor itself.
    ///
    /// Every statement goes through the executor's guarded calls
    /// ([`SqlExecutor::execute_guarded`] …) with one guard built at
    /// [`TenantStore::open`]: the declared tenanted tables and every table in
    /// [`RESERVED_TABLES`] (the registry's, the auth layer's, the migration log
    /// and KV tables), since the registry and the auth layer may share this
    /// database. A statement that could read or write one of them, however it
    /// spells the name, is [`Error::PermissionDenied`] and has no effect.
    ///
    /// * On SQLite the engine's authorizer decides after parsing: tables reached
    ///   through views and triggers count, and `ATTACH`, `DETACH`, `VACUUM`,
    ///   `ANALYZE`, transaction control, pragmas other than a few read-only ones
    ///   (`table_info` …), creating triggers, views or virtual tables, DDL naming
    ///   a guarded table, reading `sqlite_stat*` and `load_extension` are
    ///   refused. A string literal that happens to contain a guarded name is
    ///   fine. Each call has a time limit (10 s by default, set on the
    ///   executor's builder): a statement still running then is interrupted
    ///   and the call fails with [`Error::InvalidInput`], a batch rolled back
    ///   whole, so a runaway statement cannot hold the database's writer.
    /// * On backends without an authorizer (D1) the text decides,
    ///   conservatively: a guarded name anywhere in the statement, even in a
    ///   string literal or a comment, and the statement kinds above are refused
    ///   (see [`SqlGuard::check_text`]). D1 stops any query after 30 s.
    pub fn raw(&self) -> GuardedExecutor {
        GuardedExecutor {
            db: self.db.clone(),
            guard: self.guard.clone(),
        }
    }

    fn declared(&self, table: &TenantTable) -> Result<()> {
        if self.tables.iter().any(|t| Arc::ptr_eq(&t.def, &table.def)) {
            Ok(())
        } else {
            Err(Error::invalid(
                "table",
                format!("{} is not declared in this store", table.name()),
            ))
        }
    }

    /// A store that serves only `platform`'s scopes, for a component that
    /// serves one platform: a scope of another platform is
    /// [`Error::PermissionDenied`] before anything is read or written. Narrowing
    /// only: a store already restricted to another platform refuses with
    /// [`Error::PermissionDenied`]. Shares the tables and the raw guard.
    pub fn restricted_to(&self, platform: PlatformId) -> Result<TenantStore> {
        match self.platform {
            Some(p) if p != platform => Err(Error::PermissionDenied {
                reason: format!("this tenant store serves only platform {p}"),
            }),
            _ => Ok(TenantStore {
                platform: Some(platform),
                ..self.clone()
            }),
        }
    }

    /// The platform this store is restricted to, if any.
    pub fn platform(&self) -> Option<PlatformId> {
        self.platform
    }

    /// The registry seen from the scope's platform, after checking the table is
    /// declared and the scope is one this store serves.
    fn view(&self, scope: &TenantScope, table: &TenantTable) -> Result<PlatformRegistry> {
        self.declared(table)?;
        if let Some(p) = self.platform
            && p != scope.platform()
        {
            return Err(Error::PermissionDenied {
                reason: format!("this tenant store serves only platform {p}"),
            });
        }
        Ok(self.registry.platform(scope.platform()))
    }

    async fn check(&self, scope: &TenantScope, table: &TenantTable) -> Result<PlatformRegistry> {
        let view = self.view(scope, table)?;
        view.check_active().await?;
        // A scope outlives its tenant only until the deletion is seen.
        view.check_tenant_live(scope.tenant()).await?;
        Ok(view)
    }

    /// Deletes every row a deleted tenant left in this store's declared
    /// tables (the teardown after [`crate::Registry::delete_tenant`]) and
    /// returns how many went. Idempotent. A tenant that is not deleted is
    /// [`Error::InvalidInput`] and keeps its rows; a platform this store does
    /// not serve is [`Error::PermissionDenied`].
    pub async fn purge_deleted_tenant(
        &self,
        platform: PlatformId,
        tenant: TenantId,
    ) -> Result<u64> {
        if let Some(p) = self.platform
            && p != platform
        {
            return Err(Error::PermissionDenied {
                reason: format!("this tenant store serves only platform {p}"),
            });
        }
        if !self.registry.is_tenant_deleted(platform, tenant).await? {
            return Err(Error::invalid(
                "tenant",
                format!("tenant {tenant} is not deleted: its rows stay"),
            ));
        }
        let batch: Vec<Statement> = self
            .tables
            .iter()
            .map(|t| {
                Statement::new(format!(
                    r#"DELETE FROM "{}" WHERE "platform_id" = ?1 AND "tenant_id" = ?2"#,
                    t.name()
                ))
                .bind(platform.as_str())
                .bind(tenant.as_str())
            })
            .collect();
        // Bound to the deleted tenant, so that row-level security lets the
        // store reach its rows (and only them); one table at a time, each
        // delete idempotent, so a purge interrupted half-way is run again.
        let binding = TenantBinding::new(platform, tenant);
        let mut purged = 0;
        for stmt in &batch {
            purged += self.db.execute_bound(&binding, stmt).await?.rows_affected;
        }
        Ok(purged)
    }

    /// Inserts a row for the scope's tenant and returns its `id` (a fresh one
    /// unless the record sets `id`). Setting `platform_id` or `tenant_id` is
    /// [`Error::InvalidInput`]; an `id` the tenant already uses is
    /// [`Error::AlreadyExists`].
    pub async fn insert(
        &self,
        scope: &TenantScope,
        table: &TenantTable,
        record: Record,
    ) -> Result<String> {
        self.check(scope, table).await?;
        let mut id = None;
        let mut cols = String::from(r#""platform_id", "tenant_id", "id""#);
        let mut values = vec![
            Value::Text(scope.platform().to_string()),
            Value::Text(scope.tenant().to_string()),
        ];
        let mut rest = Vec::with_capacity(record.values.len());
        for (c, v) in record.values {
            if c == "id" {
                match v {
                    Value::Text(s) if !s.is_empty() && s.len() <= 255 => id = Some(s),
                    _ => return Err(Error::invalid("id", "must be text of 1-255 bytes")),
                }
                continue;
            }
            table.check_writable(&c)?;
            cols.push_str(&format!(r#", "{c}""#));
            rest.push(v);
        }
        let id = id.unwrap_or_else(|| TenantId::generate().to_string());
        values.push(Value::Text(id.clone()));
        values.extend(rest);
        let placeholders: Vec<String> = (1..=values.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            r#"INSERT INTO "{}" ({cols}) VALUES ({})"#,
            table.name(),
            placeholders.join(", ")
        );
        self.db
            .execute_bound(&Self::binding(scope), &Statement::with_params(sql, values))
            .await
            .map_err(|e| match e {
                Error::AlreadyExists { .. } => Error::AlreadyExists {
                    entity: "row",
                    id: format!("{} {id}", table.name()),
                },
                other => other,
            })?;
        Ok(id)
    }

    /// The row `id` of the scope's tenant; any other row is [`Error::NotFound`].
    pub async fn get(&self, scope: &TenantScope, table: &TenantTable, id: &str) -> Result<Row> {
        self.check(scope, table).await?;
        let st = Statement::new(self.filtered(&table.def.get_sql))
            .bind(scope.platform().as_str())
            .bind(scope.tenant().as_str())
            .bind(id);
        self.db
            .query_bound(&Self::binding(scope), &st)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::not_found("row", format!("{} {id}", table.name())))
    }

    /// Updates columns of the row `id` of the scope's tenant. Writing `id`,
    /// `platform_id` or `tenant_id` is [`Error::InvalidInput`]; another tenant's
    /// row is [`Error::NotFound`] and unchanged.
    pub async fn update(
        &self,
        scope: &TenantScope,
        table: &TenantTable,
        id: &str,
        record: Record,
    ) -> Result<()> {
        self.check(scope, table).await?;
        if record.is_empty() {
            return Err(Error::invalid(
                "record",
                "an update must set at least one column",
            ));
        }
        let mut sets = Vec::with_capacity(record.len());
        let mut values = vec![
            Value::Text(scope.platform().to_string()),
            Value::Text(scope.tenant().to_string()),
            Value::Text(id.to_owned()),
        ];
        for (c, v) in record.values {
            table.check_writable(&c)?;
            values.push(v);
            sets.push(format!(r#""{c}" = ?{}"#, values.len()));
        }
        let sql: Arc<str> = format!(
            r#"UPDATE "{}" SET {} WHERE {SCOPE_FILTER} AND "id" = ?3"#,
            table.name(),
            sets.join(", ")
        )
        .into();
        let out = self
            .db
            .execute_bound(
                &Self::binding(scope),
                &Statement::with_params(self.filtered(&sql), values),
            )
            .await?;
        found(out, table, id)
    }

    /// Deletes the row `id` of the scope's tenant; another tenant's row is
    /// [`Error::NotFound`] and stays.
    pub async fn delete(&self, scope: &TenantScope, table: &TenantTable, id: &str) -> Result<()> {
        self.check(scope, table).await?;
        let st = Statement::new(self.filtered(&table.def.delete_sql))
            .bind(scope.platform().as_str())
            .bind(scope.tenant().as_str())
            .bind(id);
        let out = self.db.execute_bound(&Self::binding(scope), &st).await?;
        found(out, table, id)
    }

    /// One page of the scope's tenant's rows (and its sub-tenants', if asked).
    pub async fn list(
        &self,
        scope: &TenantScope,
        table: &TenantTable,
        q: &ListQuery,
    ) -> Result<Page> {
        let view = self.check(scope, table).await?;
        if !(1..=MAX_PAGE).contains(&q.limit) {
            return Err(Error::invalid(
                "limit",
                format!("must be 1-{MAX_PAGE}, got {}", q.limit),
            ));
        }
        let mut binding = Self::binding(scope);
        let tenants = if q.subtenants {
            let subtree = view.subtree(scope.tenant()).await?;
            let ids: Vec<String> = subtree.iter().map(|t| t.to_string()).collect();
            binding = binding.reading_also(subtree.into_iter().filter(|t| *t != scope.tenant()));
            Value::Text(
                serde_json::to_string(&ids).map_err(|e| Error::backend("tenancy", false, e))?,
            )
        } else {
            Value::Text(scope.tenant().to_string())
        };
        let mut values = vec![Value::Text(scope.platform().to_string()), tenants];
        let mut sql = format!(
            r#"SELECT * FROM "{}" WHERE {}"#,
            table.name(),
            tenant_filter_sql(q.subtenants, self.db.dialect(), self.app_filter)
        );
        for (c, op, v) in &q.filters {
            table.check_column(c)?;
            match op {
                Op::IsNull | Op::IsNotNull => sql.push_str(&format!(r#" AND "{c}" {}"#, op.sql())),
                _ => {
                    values.push(v.clone());
                    sql.push_str(&format!(r#" AND "{c}" {} ?{}"#, op.sql(), values.len()));
                }
            }
        }
        let (order_col, order) = match &q.order {
            Some((c, o)) => {
                table.check_column(c)?;
                (Some(c.as_str()), *o)
            }
            None => (None, Order::Asc),
        };
        if let Some(cursor) = &q.cursor {
            let (last_value, last_id) = decode_cursor(cursor)?;
            values.push(Value::Text(last_id));
            let id_p = values.len();
            let (cmp, nulls_first) = match order {
                Order::Asc => (">", true),
                Order::Desc => ("<", false),
            };
            match (order_col, last_value) {
                (None, _) => sql.push_str(&format!(r#" AND "id" {cmp} ?{id_p}"#)),
                (Some(c), Value::Null) => {
                    if nulls_first {
                        sql.push_str(&format!(
                            r#" AND (("{c}" IS NULL AND "id" > ?{id_p}) OR "{c}" IS NOT NULL)"#
                        ));
                    } else {
                        sql.push_str(&format!(r#" AND ("{c}" IS NULL AND "id" < ?{id_p})"#));
                    }
                }
                (Some(c), v) => {
                    values.push(v);
                    let v_p = values.len();
                    let nulls_after = if nulls_first {
                        String::new()
                    } else {
                        format!(r#" OR "{c}" IS NULL"#)
                    };
                    sql.push_str(&format!(
                        r#" AND ("{c}" {cmp} ?{v_p} OR ("{c}" = ?{v_p} AND "id" {cmp} ?{id_p}){nulls_after})"#
                    ));
                }
            }
        }
        let dir = match order {
            Order::Asc => "ASC",
            Order::Desc => "DESC",
        };
        match order_col {
            Some(c) => {
                let nulls = if order == Order::Asc {
                    "NULLS FIRST"
                } else {
                    "NULLS LAST"
                };
                sql.push_str(&format!(r#" ORDER BY "{c}" {dir} {nulls}, "id" {dir}"#));
            }
            None => sql.push_str(&format!(r#" ORDER BY "id" {dir}"#)),
        }
        values.push(Value::Integer(q.limit as i64 + 1));
        sql.push_str(&format!(" LIMIT ?{}", values.len()));
        let mut rows = self
            .db
            .query_bound(&binding, &Statement::with_params(sql, values))
            .await?;
        let cursor = if rows.len() > q.limit {
            rows.truncate(q.limit);
            let last = rows
                .last()
                .ok_or_else(|| Error::invalid("limit", "must be at least 1"))?;
            let v = match order_col {
                Some(c) => last.value(c)?.clone(),
                None => Value::Null,
            };
            Some(encode_cursor(&v, &last.get::<String>("id")?))
        } else {
            None
        };
        Ok(Page { rows, cursor })
    }
}

/// The guard over `names`, widened by the host's views (materialized ones
/// too), triggers and foreign keys that exist now: a view whose definition
/// names a guarded table is guarded too, so is a table with a trigger whose body names one, and so is
/// the parent table of a guarded table's foreign key, whose deletes and updates
/// run the key's action on guarded rows (until a fixpoint, for views over
/// views). A backend without an authorizer judges raw SQL on its text and
/// cannot see through these objects; on SQLite the authorizer would catch them
/// anyway. Objects created after [`TenantStore::open`] are seen by SQLite's
/// authorizer only.
async fn guard_with_host_objects(
    db: &dyn SqlExecutor,
    mut names: HashSet<String>,
) -> Result<SqlGuard> {
    let postgres = db.dialect() == Dialect::Postgres;
    let objects_sql = if postgres {
        // Views, materialized views (copies of the rows they select, which
        // row-level security does not hold), rules (which rewrite a
        // statement on a table into others) and triggers with their
        // functions' bodies, of the executor's schema.
        r#"SELECT 'view' AS "type", "viewname"::TEXT AS "name", "viewname"::TEXT AS "tbl_name", "definition" AS "sql"
               FROM pg_catalog.pg_views WHERE "schemaname" = current_schema()
           UNION ALL
           SELECT 'view', "matviewname"::TEXT, "matviewname"::TEXT, "definition"
               FROM pg_catalog.pg_matviews WHERE "schemaname" = current_schema()
           UNION ALL
           SELECT 'trigger', "rulename"::TEXT, "tablename"::TEXT, "definition"
               FROM pg_catalog.pg_rules WHERE "schemaname" = current_schema()
           UNION ALL
           SELECT 'trigger', "t"."tgname"::TEXT, "c"."relname"::TEXT, pg_get_triggerdef("t"."oid") || ' ' || coalesce("p"."prosrc", '')
               FROM pg_catalog.pg_trigger AS "t"
               JOIN pg_catalog.pg_class AS "c" ON "c"."oid" = "t"."tgrelid"
               JOIN pg_catalog.pg_namespace AS "n" ON "n"."oid" = "c"."relnamespace"
               LEFT JOIN pg_catalog.pg_proc AS "p" ON "p"."oid" = "t"."tgfoid"
               WHERE NOT "t"."tgisinternal" AND "n"."nspname" = current_schema()"#
    } else {
        r#"SELECT "type", "name", "tbl_name", "sql" FROM sqlite_master WHERE "type" IN ('view', 'trigger')"#
    };
    let rows = db.query(&Statement::new(objects_sql)).await?;
    let objects: Vec<(String, String, String, String)> = rows
        .iter()
        .map(|r| {
            Ok((
                r.get::<String>("type")?,
                r.get::<String>("name")?,
                r.get::<String>("tbl_name")?,
                r.get::<Option<String>>("sql")?.unwrap_or_default(),
            ))
        })
        .collect::<Result<_>>()?;
    // Foreign keys: a delete or update of a parent row runs the child's ON
    // DELETE / ON UPDATE action (CASCADE, SET NULL, SET DEFAULT) on the child's
    // rows, so the parent of a guarded table is guarded too.
    let keys_sql = if postgres {
        r#"SELECT "ch"."relname"::TEXT AS "child", "pa"."relname"::TEXT AS "parent"
               FROM pg_catalog.pg_constraint AS "k"
               JOIN pg_catalog.pg_class AS "ch" ON "ch"."oid" = "k"."conrelid"
               JOIN pg_catalog.pg_class AS "pa" ON "pa"."oid" = "k"."confrelid"
               JOIN pg_catalog.pg_namespace AS "n" ON "n"."oid" = "ch"."relnamespace"
               WHERE "k"."contype" = 'f' AND "n"."nspname" = current_schema()"#
    } else {
        r#"SELECT "m"."name" AS "child", "f"."table" AS "parent"
               FROM sqlite_master AS "m", pragma_foreign_key_list("m"."name") AS "f"
               WHERE "m"."type" = 'table'"#
    };
    let keys = db.query(&Statement::new(keys_sql)).await?;
    let keys: Vec<(String, String)> = keys
        .iter()
        .map(|r| Ok((r.get::<String>("child")?, r.get::<String>("parent")?)))
        .collect::<Result<_>>()?;
    loop {
        let guard = SqlGuard::new(names.iter());
        let mut grew = false;
        for (kind, name, table, sql) in &objects {
            if guard.check_names(sql).is_err() {
                let target = if kind == "view" { name } else { table };
                grew |= names.insert(target.to_ascii_lowercase());
            }
        }
        for (child, parent) in &keys {
            if guard.guards(child) {
                grew |= names.insert(parent.to_ascii_lowercase());
            }
        }
        if !grew {
            return Ok(guard);
        }
    }
}

/// Refuses a table declared twice.
fn check_distinct(tables: &[TenantTable]) -> Result<()> {
    let mut seen = HashSet::new();
    for t in tables {
        if !seen.insert(t.name().to_ascii_lowercase()) {
            return Err(Error::invalid(
                "tables",
                format!("{} is declared twice", t.name()),
            ));
        }
    }
    Ok(())
}

fn found(out: ExecOutcome, table: &TenantTable, id: &str) -> Result<()> {
    if out.rows_affected == 0 {
        Err(Error::not_found("row", format!("{} {id}", table.name())))
    } else {
        Ok(())
    }
}

/// A cursor is the hex of a JSON array `[type, value, id]` of the last row.
fn encode_cursor(v: &Value, id: &str) -> String {
    let (tag, val) = match v {
        Value::Null => ("n", serde_json::Value::Null),
        Value::Integer(i) => ("i", serde_json::Value::from(*i)),
        Value::Real(f) => ("r", serde_json::Value::from(*f)),
        Value::Text(s) => ("t", serde_json::Value::from(s.as_str())),
        Value::Blob(b) => ("b", serde_json::Value::from(hex::encode(b))),
    };
    hex::encode(serde_json::json!([tag, val, id]).to_string())
}

fn decode_cursor(cursor: &str) -> Result<(Value, String)> {
    let bad = || Error::invalid("cursor", "not a cursor returned by this store");
    let bytes = hex::decode(cursor).map_err(|_| bad())?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let arr = json.as_array().filter(|a| a.len() == 3).ok_or_else(bad)?;
    let id = arr[2].as_str().ok_or_else(bad)?.to_owned();
    let v = match (arr[0].as_str().ok_or_else(bad)?, &arr[1]) {
        ("n", serde_json::Value::Null) => Value::Null,
        ("i", x) => Value::Integer(x.as_i64().ok_or_else(bad)?),
        ("r", x) => Value::Real(x.as_f64().ok_or_else(bad)?),
        ("t", x) => Value::Text(x.as_str().ok_or_else(bad)?.to_owned()),
        ("b", x) => Value::Blob(hex::decode(x.as_str().ok_or_else(bad)?).map_err(|_| bad())?),
        _ => return Err(bad()),
    };
    Ok((v, id))
}

/// A [`SqlExecutor`] whose every call is its database's guarded call with the
/// store's guard: statements that could reach a tenanted or reserved table are
/// [`Error::PermissionDenied`]; see [`TenantStore::raw`].
#[derive(Clone)]
pub struct GuardedExecutor {
    db: Arc<dyn SqlExecutor>,
    guard: SqlGuard,
}

impl fmt::Debug for GuardedExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedExecutor")
            .field("db", &self.db)
            .field("guard", &self.guard)
            .finish()
    }
}

#[async_trait]
impl SqlExecutor for GuardedExecutor {
    fn dialect(&self) -> neutrino_core::sql::Dialect {
        self.db.dialect()
    }

    async fn execute(&self, stmt: &Statement) -> Result<ExecOutcome> {
        self.db.execute_guarded(&self.guard, stmt).await
    }

    async fn query(&self, stmt: &Statement) -> Result<Vec<Row>> {
        self.db.query_guarded(&self.guard, stmt).await
    }

    async fn batch(&self, stmts: &[Statement]) -> Result<Vec<ExecOutcome>> {
        self.db.batch_guarded(&self.guard, stmts).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        for v in [
            Value::Null,
            Value::Integer(i64::MIN),
            Value::Real(2.5),
            Value::Text("é".into()),
            Value::Blob(vec![0, 255]),
        ] {
            let c = encode_cursor(&v, "row-1");
            assert_eq!(decode_cursor(&c).unwrap(), (v, "row-1".to_string()));
        }
        for bad in [
            "",
            "zz",
            &hex::encode("[1,2]"),
            &hex::encode(r#"["x",1,"a"]"#),
            &hex::encode(r#"["i","1","a"]"#),
        ] {
            assert!(
                matches!(decode_cursor(bad), Err(Error::InvalidInput { .. })),
                "{bad}"
            );
        }
    }
}
