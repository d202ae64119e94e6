//! Declaring a host app's tenanted tables.

use std::fmt;
use std::sync::Arc;

use neutrino_core::sql::Value;
use neutrino_core::{Error, Result};

/// A column's declared SQL type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// `TEXT`
    Text,
    /// `INTEGER`
    Integer,
    /// `REAL`
    Real,
    /// `BLOB`
    Blob,
}

impl ColumnType {
    fn sql(self) -> &'static str {
        match self {
            Self::Text => "TEXT",
            Self::Integer => "INTEGER",
            Self::Real => "REAL",
            Self::Blob => "BLOB",
        }
    }
}

/// Columns every tenanted table has, managed by Neutrino.
pub(crate) const RESERVED: [&str; 3] = ["id", "platform_id", "tenant_id"];

/// Checks an identifier: 1–48 characters of `A-Za-z0-9_`, not starting with a
/// digit, and not in Neutrino's own namespace (`neutrino_…`, `_neutrino_…`,
/// `sqlite_…`).
pub(crate) fn check_identifier(what: &'static str, name: &str) -> Result<()> {
    let b = name.as_bytes();
    let shape = (1..=48).contains(&b.len())
        && !b[0].is_ascii_digit()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
    let lower = name.to_ascii_lowercase();
    if !shape {
        return Err(Error::invalid(
            what,
            format!(
                "must be 1-48 characters of A-Za-z0-9_ not starting with a digit, got {:?}",
                name.chars().take(60).collect::<String>()
            ),
        ));
    }
    if lower.starts_with("neutrino_")
        || lower.starts_with("_neutrino")
        || lower.starts_with("sqlite_")
    {
        return Err(Error::invalid(
            what,
            format!("{name:?} is in a reserved namespace"),
        ));
    }
    Ok(())
}

pub(crate) struct TableDef {
    pub(crate) name: String,
    pub(crate) columns: Vec<(String, ColumnType)>,
    pub(crate) get_sql: Arc<str>,
    pub(crate) delete_sql: Arc<str>,
}

/// A host app's table whose rows belong to tenants.
///
/// Declared once with its own columns; Neutrino adds `id` (text, unique within a
/// tenant), `platform_id` and `tenant_id`, and every access through a
/// [`crate::TenantStore`] is filtered by the caller's [`crate::TenantScope`].
///
/// ```
/// use neutrino::tenancy::{ColumnType, TenantTable};
/// let notes = TenantTable::new("note", &[("title", ColumnType::Text), ("stars", ColumnType::Integer)]).unwrap();
/// assert_eq!(notes.name(), "note");
/// assert!(TenantTable::new("note", &[("tenant_id", ColumnType::Text)]).is_err());
/// assert!(TenantTable::new("User", &[]).is_err());
/// ```
#[derive(Clone)]
pub struct TenantTable {
    pub(crate) def: Arc<TableDef>,
}

impl fmt::Debug for TenantTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantTable")
            .field("name", &self.def.name)
            .field("columns", &self.def.columns)
            .finish()
    }
}

impl TenantTable {
    /// Declares a table and its own columns (not `id`, `platform_id` or
    /// `tenant_id`, which every tenanted table has).
    /// The name may not be one of Neutrino's own tables
    /// ([`RESERVED_TABLES`](neutrino_core::naming::RESERVED_TABLES), e.g. the
    /// auth layer's `user`).
    pub fn new(name: &str, columns: &[(&str, ColumnType)]) -> Result<Self> {
        check_identifier("table name", name)?;
        if neutrino_core::naming::RESERVED_TABLES
            .iter()
            .any(|r| r.eq_ignore_ascii_case(name))
        {
            return Err(Error::invalid(
                "table name",
                format!("{name:?} is one of Neutrino's own tables"),
            ));
        }
        let mut cols: Vec<(String, ColumnType)> = Vec::with_capacity(columns.len());
        for (c, t) in columns {
            check_identifier("column name", c)?;
            if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(c)) {
                return Err(Error::invalid(
                    "column name",
                    format!("{c:?} is managed by Neutrino"),
                ));
            }
            if cols.iter().any(|(d, _)| d.eq_ignore_ascii_case(c)) {
                return Err(Error::invalid(
                    "column name",
                    format!("{c:?} is declared twice"),
                ));
            }
            cols.push(((*c).to_owned(), *t));
        }
        let get_sql = format!(
            r#"SELECT * FROM "{name}" WHERE "platform_id" = ?1 AND "tenant_id" = ?2 AND "id" = ?3"#
        );
        let delete_sql = format!(
            r#"DELETE FROM "{name}" WHERE "platform_id" = ?1 AND "tenant_id" = ?2 AND "id" = ?3"#
        );
        Ok(Self {
            def: Arc::new(TableDef {
                name: name.to_owned(),
                columns: cols,
                get_sql: get_sql.into(),
                delete_sql: delete_sql.into(),
            }),
        })
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.def.name
    }

    /// Whether `column` may be named in filters and ordering (declared, or `id`).
    pub(crate) fn check_column(&self, column: &str) -> Result<()> {
        if column == "id" || self.def.columns.iter().any(|(c, _)| c == column) {
            Ok(())
        } else {
            Err(Error::invalid(
                "column",
                format!("{column:?} is not a column of table {}", self.def.name),
            ))
        }
    }

    /// Whether `column` may be written (declared, not `id` or the scope columns).
    pub(crate) fn check_writable(&self, column: &str) -> Result<()> {
        if RESERVED.contains(&column) {
            return Err(Error::invalid(
                "column",
                format!("{column:?} is set by the scope and cannot be written"),
            ));
        }
        self.check_column(column)
    }

    /// The statements that create the table and its scope index if missing.
    pub(crate) fn create_sql(&self) -> Vec<String> {
        let name = &self.def.name;
        let mut cols = String::from(
            r#""platform_id" TEXT NOT NULL, "tenant_id" TEXT NOT NULL, "id" TEXT NOT NULL"#,
        );
        for (c, t) in &self.def.columns {
            cols.push_str(&format!(r#", "{c}" {}"#, t.sql()));
        }
        vec![
            format!(
                r#"CREATE TABLE IF NOT EXISTS "{name}" ({cols}, PRIMARY KEY ("platform_id", "tenant_id", "id"))"#
            ),
            format!(
                r#"CREATE INDEX IF NOT EXISTS "{name}_scope" ON "{name}" ("platform_id", "tenant_id", "id")"#
            ),
        ]
    }

    /// The statement adding `column` to an existing table.
    pub(crate) fn add_column_sql(&self, column: &str) -> Option<String> {
        let ty = if column == "platform_id" || column == "tenant_id" || column == "id" {
            "TEXT"
        } else {
            self.def.columns.iter().find(|(c, _)| c == column)?.1.sql()
        };
        Some(format!(
            r#"ALTER TABLE "{}" ADD COLUMN "{column}" {ty}"#,
            self.def.name
        ))
    }

    /// Every column the table must have.
    pub(crate) fn all_columns(&self) -> impl Iterator<Item = &str> {
        RESERVED
            .into_iter()
            .chain(self.def.columns.iter().map(|(c, _)| c.as_str()))
    }
}

/// Column values to insert or update.
///
/// ```
/// use neutrino::tenancy::Record;
/// let r = Record::new().set("title", "Hello").set("stars", 5_i64);
/// assert_eq!(r.len(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record {
    pub(crate) values: Vec<(String, Value)>,
}

impl Record {
    /// No values.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a column (a later `set` of the same column replaces the value).
    pub fn set(mut self, column: impl Into<String>, value: impl Into<Value>) -> Self {
        let column = column.into();
        let value = value.into();
        match self.values.iter_mut().find(|(c, _)| *c == column) {
            Some(slot) => slot.1 = value,
            None => self.values.push((column, value)),
        }
        self
    }

    /// How many columns are set.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no column is set.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}
