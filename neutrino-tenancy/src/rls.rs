//! Row-level security of the tenanted tables on PostgreSQL: the policies
//! [`TenantStore::migrate`](crate::TenantStore::migrate) creates, and the
//! start-up check [`TenantStore::open`](crate::TenantStore::open) runs.
//!
//! Each tenanted table has row-level security enabled and forced (so that
//! its owner is held by it too) and two permissive policies, on both scope
//! columns, which read the settings a bound call
//! ([`SqlExecutor::execute_bound`], [`SqlExecutor::query_bound`]) sets for
//! its transaction only:
//!
//! * `neutrino_tenant`, for every command: a row is reached, and a row
//!   written must be, the bound tenant's (`neutrino.platform`,
//!   `neutrino.tenant`);
//! * `neutrino_subtenants`, for `SELECT` only: a read also reaches the rows
//!   of the binding's further readable tenants (`neutrino.subtenants`,
//!   comma-separated), a tenant's sub-tenants.
//!
//! Unbound, `current_setting(…, true)` is `NULL` or empty: no row is visible
//! and no row can be written.

use neutrino_core::sql::{SqlExecutor, Statement};
use neutrino_core::{Error, Result};

use crate::TenantTable;

/// The policy for every command.
pub(crate) const TENANT_POLICY: &str = "neutrino_tenant";
/// The policy that widens reads to sub-tenants.
pub(crate) const SUBTENANTS_POLICY: &str = "neutrino_subtenants";

/// The condition of [`TENANT_POLICY`], as written.
const TENANT_CONDITION: &str = r#""platform_id" = current_setting('neutrino.platform', true) AND "tenant_id" = current_setting('neutrino.tenant', true)"#;
/// The condition of [`SUBTENANTS_POLICY`], as written.
const SUBTENANTS_CONDITION: &str = r#""platform_id" = current_setting('neutrino.platform', true) AND "tenant_id" = ANY (string_to_array(current_setting('neutrino.subtenants', true), ','))"#;

/// [`TENANT_CONDITION`] as PostgreSQL shows it back (`pg_policies.qual`).
const TENANT_CONDITION_STORED: &str = "((platform_id = current_setting('neutrino.platform'::text, true)) AND (tenant_id = current_setting('neutrino.tenant'::text, true)))";
/// [`SUBTENANTS_CONDITION`] as PostgreSQL shows it back.
const SUBTENANTS_CONDITION_STORED: &str = "((platform_id = current_setting('neutrino.platform'::text, true)) AND (tenant_id = ANY (string_to_array(current_setting('neutrino.subtenants'::text, true), ','::text))))";

/// The statements that enable and force row-level security on `table` and
/// (re)create its two policies, as one batch.
pub(crate) fn policy_sql(table: &TenantTable) -> Vec<Statement> {
    let t = table.name();
    [
        format!(r#"ALTER TABLE "{t}" ENABLE ROW LEVEL SECURITY"#),
        format!(r#"ALTER TABLE "{t}" FORCE ROW LEVEL SECURITY"#),
        format!(r#"DROP POLICY IF EXISTS "{TENANT_POLICY}" ON "{t}""#),
        format!(
            r#"CREATE POLICY "{TENANT_POLICY}" ON "{t}" AS PERMISSIVE FOR ALL TO PUBLIC USING ({TENANT_CONDITION}) WITH CHECK ({TENANT_CONDITION})"#
        ),
        format!(r#"DROP POLICY IF EXISTS "{SUBTENANTS_POLICY}" ON "{t}""#),
        format!(
            r#"CREATE POLICY "{SUBTENANTS_POLICY}" ON "{t}" AS PERMISSIVE FOR SELECT TO PUBLIC USING ({SUBTENANTS_CONDITION})"#
        ),
    ]
    .into_iter()
    .map(Statement::new)
    .collect()
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
/// security enabled and forced, exactly the two policies of
/// [`policy_sql`] among its permissive ones, not owned by the role (nor by a
/// role it belongs to) and with the role's grants to read and write rows.
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
    if !r.get::<bool>("enabled")? {
        return Err(refuse(format!(
            "table {t} does not have row-level security enabled; run TenantStore::migrate as the tables' owner"
        )));
    }
    if !r.get::<bool>("forced")? {
        return Err(refuse(format!(
            "table {t} does not force row-level security (its owner would bypass it); run TenantStore::migrate as the tables' owner"
        )));
    }
    if r.get::<bool>("owns")? {
        let owner: String = r.get("owner")?;
        return Err(refuse(format!(
            "table {t} is owned by role {owner}, which the tenant store's role is or belongs to: an owner can turn row-level security off; connect as a role that only has row grants"
        )));
    }
    for privilege in ["select", "insert", "update", "delete"] {
        if !r.get::<bool>(format!("can_{privilege}").as_str())? {
            return Err(refuse(format!(
                "the tenant store's role may not {privilege} rows of table {t}; grant it SELECT, INSERT, UPDATE and DELETE"
            )));
        }
    }
    let policies = db
        .query(
            &Statement::new(
                r#"SELECT "policyname"::TEXT AS "name", "permissive"::TEXT AS "permissive",
                          "cmd"::TEXT AS "cmd", array_to_string("roles", ',') AS "roles",
                          "qual"::TEXT AS "qual", "with_check"::TEXT AS "with_check"
                   FROM pg_catalog.pg_policies
                   WHERE "schemaname" = current_schema() AND "tablename" = ?1"#,
            )
            .bind(t),
        )
        .await?;
    let mut found = [false, false];
    for p in &policies {
        let name: String = p.get("name")?;
        let permissive = p.get::<String>("permissive")? == "PERMISSIVE";
        let shape = (
            p.get::<String>("cmd")?,
            p.get::<String>("roles")?,
            p.get::<Option<String>>("qual")?.map(|q| squeeze(&q)),
            p.get::<Option<String>>("with_check")?.map(|q| squeeze(&q)),
        );
        let tenant = (
            "ALL".to_owned(),
            "public".to_owned(),
            Some(squeeze(TENANT_CONDITION_STORED)),
            Some(squeeze(TENANT_CONDITION_STORED)),
        );
        let subtenants = (
            "SELECT".to_owned(),
            "public".to_owned(),
            Some(squeeze(SUBTENANTS_CONDITION_STORED)),
            None,
        );
        if permissive && name == TENANT_POLICY && shape == tenant {
            found[0] = true;
        } else if permissive && name == SUBTENANTS_POLICY && shape == subtenants {
            found[1] = true;
        } else if permissive {
            // Permissive policies add up: any other one widens what a
            // binding reaches. Restrictive ones only narrow it.
            return Err(refuse(format!(
                "table {t} has policy {name}, which is not one of Neutrino's two or differs from them; run TenantStore::migrate as the tables' owner and drop other permissive policies"
            )));
        }
    }
    for (ok, name) in found.iter().zip([TENANT_POLICY, SUBTENANTS_POLICY]) {
        if !ok {
            return Err(refuse(format!(
                "table {t} lacks policy {name}; run TenantStore::migrate as the tables' owner"
            )));
        }
    }
    Ok(())
}
