//! Row-level security of the tenanted tables on PostgreSQL: the policies
//! [`TenantStore::migrate`](crate::TenantStore::migrate) creates, and the
//! start-up check [`TenantStore::open`](crate::TenantStore::open) runs.
//!
//! Each tenanted table has row-level security enabled and forced (so that
//! its owner is held by it too) and four permissive policies, one per
//! command, on both scope columns. They read the one setting a bound call
//! ([`SqlExecutor::execute_bound`], [`SqlExecutor::query_bound`]) sets for
//! its transaction only, `neutrino.scope`: the comma-separated
//! `platform/tenant` pairs the binding reaches, the tenant it writes as
//! first and its further readable tenants (a tenant's sub-tenants) after.
//!
//! * `neutrino_read`, for `SELECT`: a row is read when its
//!   `platform_id || '/' || tenant_id` is one of the pairs;
//! * `neutrino_insert`, `neutrino_update`, `neutrino_delete`: a row is
//!   written, and a row written must be, the first pair's.
//!
//! The IDs of a binding are of the ID alphabet (letters, digits and `-`),
//! so a pair has exactly one `/` and no `,`: a row's two columns match a
//! pair only when each equals its half. Unbound, `current_setting(…, true)`
//! is `NULL` or empty: no row is visible and no row can be written.
//!
//! One setting and one policy per command is the cheapest shape found for
//! the server (see BENCHMARKS.md, "One setting, one policy per command"):
//! each `set_config` call and each function in the policies that a
//! statement meets is work at every executor start. The read policy splits
//! the setting for each row it checks, so a read bound to many sub-tenants
//! costs rows × sub-tenants; a hashed lookup would not, but its set-up would
//! make every point read dearer (measured there too).

use neutrino_core::sql::{Row, SqlExecutor, Statement};
use neutrino_core::{Error, Result};

use crate::TenantTable;

/// The policies, each with the command it is for, its `USING` condition and
/// its `WITH CHECK` condition, as written.
const POLICIES: [(&str, &str, Option<&str>, Option<&str>); 4] = [
    ("neutrino_read", "SELECT", Some(READ_CONDITION), None),
    ("neutrino_insert", "INSERT", None, Some(WRITE_CONDITION)),
    (
        "neutrino_update",
        "UPDATE",
        Some(WRITE_CONDITION),
        Some(WRITE_CONDITION),
    ),
    ("neutrino_delete", "DELETE", Some(WRITE_CONDITION), None),
];

/// Policies of earlier releases, dropped by [`policy_sql`].
const OLD_POLICIES: [&str; 2] = ["neutrino_tenant", "neutrino_subtenants"];

/// A row is one of the pairs of the binding.
const READ_CONDITION: &str = r#"("platform_id" || '/' || "tenant_id") = ANY (string_to_array(current_setting('neutrino.scope', true), ','))"#;
/// A row is the first pair's: the tenant the binding writes as.
const WRITE_CONDITION: &str = r#"("platform_id" || '/' || "tenant_id") = split_part(current_setting('neutrino.scope', true), ',', 1)"#;

/// [`READ_CONDITION`] as PostgreSQL shows it back (`pg_policies.qual`).
const READ_CONDITION_STORED: &str = "(((platform_id || '/'::text) || tenant_id) = ANY (string_to_array(current_setting('neutrino.scope'::text, true), ','::text)))";
/// [`WRITE_CONDITION`] as PostgreSQL shows it back.
const WRITE_CONDITION_STORED: &str = "(((platform_id || '/'::text) || tenant_id) = split_part(current_setting('neutrino.scope'::text, true), ','::text, 1))";

/// The condition as stored, for one written.
fn stored(written: &str) -> &'static str {
    if written == READ_CONDITION {
        READ_CONDITION_STORED
    } else {
        WRITE_CONDITION_STORED
    }
}

/// The statements that enable and force row-level security on `table`,
/// drop its earlier policies and (re)create its four, as one batch.
pub(crate) fn policy_sql(table: &TenantTable) -> Vec<Statement> {
    policy_sql_on(&format!(r#""{}""#, table.name()))
}

/// [`policy_sql`] on `target`, a quoted (and possibly schema-qualified)
/// table name.
fn policy_sql_on(t: &str) -> Vec<Statement> {
    let mut sql = vec![
        format!(r#"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY"#),
        format!(r#"ALTER TABLE {t} FORCE ROW LEVEL SECURITY"#),
    ];
    for name in OLD_POLICIES {
        sql.push(format!(r#"DROP POLICY IF EXISTS "{name}" ON {t}"#));
    }
    for (name, cmd, using, check) in POLICIES {
        sql.push(format!(r#"DROP POLICY IF EXISTS "{name}" ON {t}"#));
        let using = using.map_or(String::new(), |c| format!(" USING ({c})"));
        let check = check.map_or(String::new(), |c| format!(" WITH CHECK ({c})"));
        sql.push(format!(
            r#"CREATE POLICY "{name}" ON {t} AS PERMISSIVE FOR {cmd} TO PUBLIC{using}{check}"#
        ));
    }
    sql.into_iter().map(Statement::new).collect()
}

/// Which way [`kin_sql`] walks the inheritance of a table.
#[derive(Clone, Copy)]
enum Kin {
    /// The tables that inherit from it, at any depth: its partitions and
    /// child tables. Each holds rows that a query on it reads, and reached
    /// by its own name it is held by its own row-level security.
    Descendants,
    /// The tables it inherits from, at any depth: the partitioned tables it
    /// is a partition of and its parent tables. A query on one of them
    /// reads its rows under that one's policies.
    Ancestors,
}

/// The tables of `kin` of the table named `?1` in the executor's schema,
/// each with its quoted name (`target`), schema, name, row-level security
/// and owner.
fn kin_sql(kin: Kin) -> String {
    // The column that leads to the next table, and the one that links
    // back to the table found before.
    let (next, from) = match kin {
        Kin::Descendants => ("inhrelid", "inhparent"),
        Kin::Ancestors => ("inhparent", "inhrelid"),
    };
    format!(
        r#"WITH RECURSIVE "d" ("oid") AS (
           SELECT "i"."{next}" FROM pg_catalog.pg_inherits AS "i"
           WHERE "i"."{from}" = (SELECT "c"."oid" FROM pg_catalog.pg_class AS "c"
                                 WHERE "c"."relname" = ?1
                                   AND "c"."relnamespace" = (SELECT "oid" FROM pg_catalog.pg_namespace
                                                             WHERE "nspname" = current_schema()))
           UNION
           SELECT "i"."{next}" FROM pg_catalog.pg_inherits AS "i" JOIN "d" ON "i"."{from}" = "d"."oid"
       )
       SELECT quote_ident("n"."nspname") || '.' || quote_ident("c"."relname") AS "target",
              "n"."nspname"::TEXT AS "schema", "c"."relname"::TEXT AS "name",
              "c"."relrowsecurity" AS "enabled", "c"."relforcerowsecurity" AS "forced",
              pg_get_userbyid("c"."relowner")::TEXT AS "owner",
              pg_has_role(current_user, "c"."relowner", 'MEMBER') AS "owns"
       FROM "d" JOIN pg_catalog.pg_class AS "c" ON "c"."oid" = "d"."oid"
       JOIN pg_catalog.pg_namespace AS "n" ON "n"."oid" = "c"."relnamespace"
       ORDER BY 1"#
    )
}

/// [`policy_sql`] for the partitions and child tables of `table` that exist
/// now, at any depth: `migrate` gives each its parent's row-level security.
pub(crate) async fn descendants_policy_sql(
    db: &dyn SqlExecutor,
    table: &TenantTable,
) -> Result<Vec<Statement>> {
    let rows = db
        .query(&Statement::new(kin_sql(Kin::Descendants)).bind(table.name()))
        .await?;
    let mut sql = Vec::new();
    for r in &rows {
        sql.extend(policy_sql_on(&r.get::<String>("target")?));
    }
    Ok(sql)
}

fn refuse(reason: String) -> Error {
    Error::Config {
        backend: "postgres",
        key: "row-level security",
        reason,
    }
}

/// The whitespace-insensitive form of a policy expression.
fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Refuses (with [`Error::Config`] naming the table or role and what is
/// wrong) unless the executor's role can bypass no row-level security and
/// every table of `tables` exists in its schema with its scope columns, row
/// security enabled and forced, exactly the four policies of
/// [`policy_sql`] among its permissive ones, not owned by the role (nor by a
/// role it belongs to) and with the role's grants to read and write rows;
/// and every partition or child table of it, and every table it is a
/// partition or child table of, at any depth, likewise (bar the grants).
pub(crate) async fn check(db: &dyn SqlExecutor, tables: &[TenantTable]) -> Result<()> {
    // The role itself, or any role it may act as (`SET ROLE`), is a
    // superuser or has BYPASSRLS: policies would not hold it.
    let bypass = db
        .query(&Statement::new(
            r#"SELECT current_user::TEXT AS "me", "r"."rolname"::TEXT AS "role",
                      "r"."rolsuper" AS "super", "r"."rolbypassrls" AS "bypass"
               FROM pg_catalog.pg_roles AS "r"
               WHERE ("r"."rolsuper" OR "r"."rolbypassrls")
                 AND pg_has_role(current_user, "r"."oid", 'MEMBER')
               ORDER BY "r"."rolname" LIMIT 1"#,
        ))
        .await?;
    if let Some(r) = bypass.first() {
        let me: String = r.get("me")?;
        let role: String = r.get("role")?;
        let what = if r.get::<bool>("super")? {
            "is a superuser"
        } else {
            "has BYPASSRLS"
        };
        let who = if me == role {
            format!("role {me} {what}")
        } else {
            format!("role {me} is a member of role {role}, which {what}")
        };
        return Err(refuse(format!(
            "{who}: row-level security would not hold it; connect the tenant store as a role without SUPERUSER and BYPASSRLS"
        )));
    }
    for table in tables {
        check_table(db, table).await?;
    }
    Ok(())
}

async fn check_table(db: &dyn SqlExecutor, table: &TenantTable) -> Result<()> {
    let t = table.name();
    let rows = db
        .query(
            &Statement::new(
                r#"SELECT "c"."relrowsecurity" AS "enabled", "c"."relforcerowsecurity" AS "forced",
                          pg_get_userbyid("c"."relowner")::TEXT AS "owner",
                          pg_has_role(current_user, "c"."relowner", 'MEMBER') AS "owns",
                          current_schema()::TEXT AS "schema",
                          has_table_privilege("c"."oid", 'SELECT') AS "can_select",
                          has_table_privilege("c"."oid", 'INSERT') AS "can_insert",
                          has_table_privilege("c"."oid", 'UPDATE') AS "can_update",
                          has_table_privilege("c"."oid", 'DELETE') AS "can_delete",
                          (SELECT count(*) FROM pg_catalog.pg_attribute AS "a"
                             WHERE "a"."attrelid" = "c"."oid" AND NOT "a"."attisdropped"
                               AND "a"."attname" IN ('id', 'platform_id', 'tenant_id')) AS "scope_columns"
                   FROM pg_catalog.pg_class AS "c"
                   WHERE "c"."relname" = ?1 AND "c"."relkind" IN ('r', 'p')
                     AND "c"."relnamespace" = (SELECT "oid" FROM pg_catalog.pg_namespace
                                               WHERE "nspname" = current_schema())"#,
            )
            .bind(t),
        )
        .await?;
    let Some(r) = rows.first() else {
        return Err(refuse(format!(
            "table {t} does not exist in the schema; create it with TenantStore::migrate as the tables' owner"
        )));
    };
    if r.get::<i64>("scope_columns")? != 3 {
        return Err(refuse(format!(
            "table {t} lacks its scope columns; run TenantStore::migrate as the tables' owner"
        )));
    }
    check_held(r, t)?;
    for privilege in ["select", "insert", "update", "delete"] {
        if !r.get::<bool>(format!("can_{privilege}").as_str())? {
            return Err(refuse(format!(
                "the tenant store's role may not {privilege} rows of table {t}; grant it SELECT, INSERT, UPDATE and DELETE"
            )));
        }
    }
    check_policies(db, &r.get::<String>("schema")?, t, t).await?;
    // A partition or child table holds rows of `t` that a statement naming
    // it reaches past `t`'s policies, and a statement naming a table that
    // `t` inherits from reaches `t`'s rows under that table's policies: each
    // must be held as `t` is.
    for (kin, relation) in [
        (Kin::Descendants, "a partition or child table of table"),
        (
            Kin::Ancestors,
            "which table a query on it reads the rows of, under its own policies: the partitioned or parent table of table",
        ),
    ] {
        for d in &db.query(&Statement::new(kin_sql(kin)).bind(t)).await? {
            let (schema, name): (String, String) = (d.get("schema")?, d.get("name")?);
            let shown = format!("{schema}.{name} ({relation} {t})");
            check_held(d, &shown)?;
            check_policies(db, &schema, &name, &shown).await?;
        }
    }
    Ok(())
}

/// Refuses unless the table of `row` (its `enabled`, `forced`, `owns` and
/// `owner` columns; `t` in messages) has row-level security enabled and
/// forced and is not owned by the role or a role it belongs to.
fn check_held(row: &Row, t: &str) -> Result<()> {
    if !row.get::<bool>("enabled")? {
        return Err(refuse(format!(
            "table {t} does not have row-level security enabled; run TenantStore::migrate as the tables' owner"
        )));
    }
    if !row.get::<bool>("forced")? {
        return Err(refuse(format!(
            "table {t} does not force row-level security (its owner would bypass it); run TenantStore::migrate as the tables' owner"
        )));
    }
    if row.get::<bool>("owns")? {
        let owner: String = row.get("owner")?;
        return Err(refuse(format!(
            "table {t} is owned by role {owner}, which the tenant store's role is or belongs to: an owner can turn row-level security off; connect as a role that only has row grants"
        )));
    }
    Ok(())
}

/// Refuses unless `table` of `schema` (`t` in messages) has exactly the
/// four policies of [`policy_sql`] among its permissive ones.
async fn check_policies(db: &dyn SqlExecutor, schema: &str, table: &str, t: &str) -> Result<()> {
    let policies = db
        .query(
            &Statement::new(
                r#"SELECT "policyname"::TEXT AS "name", "permissive"::TEXT AS "permissive",
                          "cmd"::TEXT AS "cmd", array_to_string("roles", ',') AS "roles",
                          "qual"::TEXT AS "qual", "with_check"::TEXT AS "with_check"
                   FROM pg_catalog.pg_policies
                   WHERE "schemaname" = ?1 AND "tablename" = ?2"#,
            )
            .bind(schema)
            .bind(table),
        )
        .await?;
    let mut found = [false; POLICIES.len()];
    for p in &policies {
        let name: String = p.get("name")?;
        let permissive = p.get::<String>("permissive")? == "PERMISSIVE";
        let shape = (
            p.get::<String>("cmd")?,
            p.get::<String>("roles")?,
            p.get::<Option<String>>("qual")?.map(|q| squeeze(&q)),
            p.get::<Option<String>>("with_check")?.map(|q| squeeze(&q)),
        );
        let ours = POLICIES.iter().position(|(n, cmd, using, check)| {
            *n == name
                && shape
                    == (
                        (*cmd).to_owned(),
                        "public".to_owned(),
                        using.map(|c| squeeze(stored(c))),
                        check.map(|c| squeeze(stored(c))),
                    )
        });
        match ours {
            Some(i) if permissive => found[i] = true,
            // Permissive policies add up: any other one widens what a
            // binding reaches. Restrictive ones only narrow it.
            _ if permissive => {
                return Err(refuse(format!(
                    "table {t} has policy {name}, which is not one of Neutrino's four or differs from them; run TenantStore::migrate as the tables' owner and drop other permissive policies"
                )));
            }
            _ => {}
        }
    }
    for (ok, (name, ..)) in found.iter().zip(POLICIES) {
        if !ok {
            return Err(refuse(format!(
                "table {t} lacks policy {name}; run TenantStore::migrate as the tables' owner"
            )));
        }
    }
    Ok(())
}
