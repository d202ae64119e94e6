//! [`PostgresProvisioner`]: one schema per database resource.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use neutrino_core::provision::{
    DatabaseConnector, Provisioner, Resource, ResourceKind, ResourceSpec, check_request,
};
use neutrino_core::sql::{SqlExecutor, SqlExecutorExt, Statement};
use neutrino_core::{Error, Result};

use crate::executor::validate_schema;
use crate::{PostgresExecutor, PostgresExecutorBuilder};

/// The comment that marks a schema as one this provisioner made: it never
/// adopts, lists or drops any other.
const MARK: &str = "neutrino database";

const FIND: &str = r#"SELECT "nspname"::TEXT AS "name", obj_description("oid", 'pg_namespace') AS "mark"
    FROM pg_catalog.pg_namespace WHERE "nspname" = ?1"#;
const LIST: &str = r#"SELECT "nspname"::TEXT AS "name" FROM pg_catalog.pg_namespace
    WHERE obj_description("oid", 'pg_namespace') = ?1 AND left("nspname", length(?2)) = ?2
    ORDER BY "nspname" COLLATE "C""#;

/// Databases as schemas of one PostgreSQL database: a
/// [`ResourceKind::Database`] resource is a schema named after it (its
/// provider ID is the schema's name), marked as Neutrino's with a comment;
/// schemas without the mark are never adopted, listed or dropped.
///
/// [`Provisioner::delete`] drops the schema and everything in it in one
/// transaction, waiting at most the lock timeout (default 5 s) for tables in
/// use: a delete that fails leaves the schema whole. As a
/// [`DatabaseConnector`] it opens a [`PostgresExecutor`] bound to the schema,
/// with the settings of the executor it was made with.
///
/// ```no_run
/// # async fn run() -> neutrino::Result<()> {
/// use neutrino::postgres::{PostgresExecutor, PostgresProvisioner};
/// use neutrino::provision::{DatabaseConnector, Provisioner, ResourceKind, ResourceSpec};
/// let admin = PostgresExecutor::connect("postgres://admin@localhost/app").await?;
/// let p = PostgresProvisioner::new(admin);
/// let db = p.create(&ResourceSpec::new(ResourceKind::Database, "k3m9p2xw7q-default-db")).await?;
/// let exec = p.connect(&db).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresProvisioner {
    admin: PostgresExecutor,
    lock_timeout: Duration,
}

impl PostgresProvisioner {
    /// A provisioner creating schemas through `admin` (a role that may create
    /// schemas in its database).
    pub fn new(admin: PostgresExecutor) -> Self {
        Self {
            admin,
            lock_timeout: Duration::from_secs(5),
        }
    }

    /// How long a delete waits for the schema's tables to be free (at least
    /// 1 ms) before it fails, changing nothing.
    pub fn lock_timeout(mut self, t: Duration) -> Self {
        self.lock_timeout = t.max(Duration::from_millis(1));
        self
    }

    /// A [`DatabaseConnector`] that opens this provisioner's databases as the
    /// application role of `app` (its server, database, user and password;
    /// any schema it has is replaced): see [`RoleConnector`].
    pub fn role_connector(&self, app: PostgresExecutorBuilder) -> RoleConnector {
        RoleConnector {
            provisioner: self.clone(),
            app,
        }
    }

    /// The schema `name`, if it exists: whether it is one of ours.
    async fn find(&self, name: &str) -> Result<Option<bool>> {
        let row = self
            .admin
            .query_opt(&Statement::new(FIND).bind(name))
            .await?;
        row.map(|r| Ok(r.get::<Option<String>>("mark")?.as_deref() == Some(MARK)))
            .transpose()
    }

    fn resource(name: &str) -> Resource {
        Resource {
            kind: ResourceKind::Database,
            name: name.to_owned(),
            provider_id: name.to_owned(),
        }
    }

    fn foreign(name: &str) -> Error {
        Error::AlreadyExists {
            entity: "schema not made by neutrino",
            id: name.to_owned(),
        }
    }

    /// Refuses a resource that is not a database this provisioner made.
    async fn check_ours(&self, database: &Resource) -> Result<()> {
        if database.kind != ResourceKind::Database {
            return Err(Error::invalid(
                "resource",
                format!("{} is not a database", database.kind),
            ));
        }
        validate_schema(&database.provider_id)?;
        if self.find(&database.provider_id).await? != Some(true) {
            return Err(Error::not_found("database", database.name.clone()));
        }
        Ok(())
    }

    fn check(&self, kind: ResourceKind, name: &str) -> Result<()> {
        check_request(self, kind, name)?;
        validate_schema(name)
    }
}

#[async_trait]
impl Provisioner for PostgresProvisioner {
    fn provider(&self) -> &'static str {
        "postgres"
    }

    fn supports(&self, kind: ResourceKind) -> bool {
        kind == ResourceKind::Database
    }

    async fn create(&self, spec: &ResourceSpec) -> Result<Resource> {
        self.check(spec.kind, &spec.name)?;
        let name = spec.name.as_str();
        match self.find(name).await? {
            Some(true) => return Ok(Self::resource(name)),
            Some(false) => return Err(Self::foreign(name)),
            None => {}
        }
        // Validated: no quote can close the identifier.
        let made = self
            .admin
            .batch(&[
                Statement::new(format!(r#"CREATE SCHEMA "{name}""#)),
                Statement::new(format!(r#"COMMENT ON SCHEMA "{name}" IS '{MARK}'"#)),
            ])
            .await;
        match (made, self.find(name).await?) {
            // Made here, or by a concurrent create of the same name.
            (_, Some(true)) => Ok(Self::resource(name)),
            (_, Some(false)) => Err(Self::foreign(name)),
            (Err(e), None) => Err(e),
            (Ok(_), None) => Err(Error::not_found("database", name)),
        }
    }

    async fn get(&self, kind: ResourceKind, name: &str) -> Result<Resource> {
        self.check(kind, name)?;
        match self.find(name).await? {
            Some(true) => Ok(Self::resource(name)),
            _ => Err(Error::not_found("database", name)),
        }
    }

    async fn delete(&self, kind: ResourceKind, name: &str) -> Result<()> {
        self.check(kind, name)?;
        match self.find(name).await? {
            None => return Ok(()),
            Some(false) => {
                return Err(Error::PermissionDenied {
                    reason: format!("the schema {name} was not made by neutrino"),
                });
            }
            Some(true) => {}
        }
        let ms = self.lock_timeout.as_millis().min(i64::MAX as u128);
        self.admin
            .batch(&[
                Statement::new(format!("SET LOCAL lock_timeout = {ms}")),
                Statement::new(format!(r#"DROP SCHEMA IF EXISTS "{name}" CASCADE"#)),
            ])
            .await?;
        Ok(())
    }

    async fn list(&self, kind: ResourceKind, prefix: &str) -> Result<Vec<Resource>> {
        if !self.supports(kind) {
            return Err(Error::Unsupported {
                operation: format!("{kind} resources"),
                backend: self.provider(),
            });
        }
        let rows = self
            .admin
            .query(&Statement::new(LIST).bind(MARK).bind(prefix))
            .await?;
        rows.iter()
            .map(|r| Ok(Self::resource(&r.get::<String>("name")?)))
            .collect()
    }
}

#[async_trait]
impl DatabaseConnector for PostgresProvisioner {
    async fn connect(&self, database: &Resource) -> Result<Arc<dyn SqlExecutor>> {
        self.check_ours(database).await?;
        let exec = self
            .admin
            .settings()
            .schema(&database.provider_id)?
            .connect()
            .await?;
        Ok(Arc::new(exec))
    }
}

/// A [`DatabaseConnector`] that opens a [`PostgresProvisioner`]'s databases
/// (schemas) as an application role, one that row-level security holds (no
/// superuser, no `BYPASSRLS`, not the tables' owner), for a tenant store:
/// from [`PostgresProvisioner::role_connector`].
///
/// Before it connects, the provisioner's own role (which made the schema,
/// and creates its tables through the provisioner's connector) grants the
/// application role what a tenant store needs there and nothing more, in one
/// transaction: `USAGE` on the schema, `SELECT`, `INSERT`, `UPDATE` and
/// `DELETE` on the schema's tables, and the same on the tables it creates
/// there later (`ALTER DEFAULT PRIVILEGES`). It then connects as the
/// application role, bound to the schema. Connect through it only databases
/// whose every table is a tenanted table (a platform's stack database, as
/// `Platforms::with_store_connector` does), never the registry's or an auth
/// database: the role could read and write all of their rows.
///
/// The role must exist and may log in; it is never created or changed here.
/// A resource that is not a database this provisioner made is refused as by
/// the provisioner's own connector.
#[derive(Debug, Clone)]
pub struct RoleConnector {
    provisioner: PostgresProvisioner,
    app: PostgresExecutorBuilder,
}

/// `name` as a quoted identifier.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[async_trait]
impl DatabaseConnector for RoleConnector {
    async fn connect(&self, database: &Resource) -> Result<Arc<dyn SqlExecutor>> {
        self.provisioner.check_ours(database).await?;
        let schema = &database.provider_id;
        let exec = self.app.clone().schema(schema)?.connect().await?;
        let role: String = exec
            .query_one(
                &Statement::new(r#"SELECT current_user::TEXT AS "me""#),
                "role",
                "current_user",
            )
            .await?
            .get("me")?;
        let (role, rights) = (quoted(&role), "SELECT, INSERT, UPDATE, DELETE");
        // Validated: no quote can close the schema's identifier. Concurrent
        // grants on one object fail in PostgreSQL ("tuple concurrently
        // updated"): the transaction-scoped lock takes them in turn.
        self.provisioner
            .admin
            .batch(&[
                Statement::new("SELECT pg_advisory_xact_lock(hashtext('neutrino role grants'))"),
                Statement::new(format!(r#"GRANT USAGE ON SCHEMA "{schema}" TO {role}"#)),
                Statement::new(format!(
                    r#"ALTER DEFAULT PRIVILEGES IN SCHEMA "{schema}" GRANT {rights} ON TABLES TO {role}"#
                )),
                Statement::new(format!(
                    r#"GRANT {rights} ON ALL TABLES IN SCHEMA "{schema}" TO {role}"#
                )),
            ])
            .await?;
        Ok(Arc::new(exec))
    }
}
