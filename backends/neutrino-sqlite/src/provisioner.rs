//! [`LocalProvisioner`]: databases, buckets and KV namespaces under a root folder.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use neutrino_core::clock::{SharedClock, system_clock};
use neutrino_core::migrate::{Migration, Migrations};
use neutrino_core::provision::{
    DatabaseConnector, Provisioner, Resource, ResourceKind, ResourceSpec, check_kind, check_request,
};
use neutrino_core::sql::{Dialect, SqlExecutor, Statement};
use neutrino_core::trace::{Port, port_span};
use neutrino_core::{Error, Result};
use tokio::sync::Mutex;
use tracing::Instrument;

use crate::error::{io, map};
use crate::object::blocking;
use crate::{LocalObjectStore, SqliteExecutor, SqliteKv};

const PROVIDER: &str = "local";
const DATABASES: &str = "databases";
const BUCKETS: &str = "buckets";
const STATE_FILE: &str = "state.sqlite";
/// Where a deleted database file or bucket folder is moved before its data is
/// removed: the move is the delete (one rename), so a delete that fails leaves
/// the resource whole, never half emptied.
const TRASH: &str = ".trash";

/// One row per resource the provisioner made: (kind, name) → parameters.
const RESOURCE_TABLE: &str = r#"CREATE TABLE IF NOT EXISTS "_neutrino_local_resource" ("kind" TEXT NOT NULL, "name" TEXT NOT NULL, "params" TEXT NOT NULL, "created_at" INTEGER NOT NULL, PRIMARY KEY ("kind", "name"))"#;

static STATE_MIGRATIONS: Migrations = Migrations::new(
    "neutrino-sqlite-local-state",
    &[Migration::first("local resources", &[RESOURCE_TABLE])],
);

/// A [`Provisioner`] over a root folder: the embedded default.
///
/// | kind | where | provider ID |
/// |---|---|---|
/// | database | `databases/{name}.sqlite` | `databases/{name}.sqlite` |
/// | bucket | `buckets/{name}/` | `buckets/{name}` |
/// | KV namespace | rows of `state.sqlite` | `kv/{name}` |
/// | worker | a record of its name and parameters in `state.sqlite` | `worker/{name}` |
/// | DNS record | likewise | `dns/{name}` |
/// | custom hostname | likewise | `hostname/{name}` |
///
/// Workers, DNS records and custom hostnames are **records only**: nothing
/// runs a worker's script, no DNS name is published and no hostname is served
/// locally. They are kept (name and parameters) so that a platform's whole
/// bootstrap plan applies, resumes, rolls back and verifies on the embedded
/// default as it would on Cloudflare; on one machine the host app itself
/// serves the auth endpoints and apps those records stand for. Deleting a database removes its file and its WAL; deleting a bucket
/// removes its folder and every object; deleting a KV namespace removes its keys.
/// A database file or bucket folder is first moved out of place in one rename,
/// then removed, so a delete that fails leaves the resource as it was (whole
/// and readable), or gone. Open handles with [`LocalProvisioner::database`],
/// [`LocalProvisioner::bucket`] and [`LocalProvisioner::kv`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> neutrino::Result<()> {
/// use neutrino::provision::{Provisioner, ResourceKind, ResourceSpec};
/// use neutrino::sqlite::LocalProvisioner;
/// let root = tempfile::tempdir().unwrap();
/// let local = LocalProvisioner::open(root.path()).await?;
/// let db = local.create(&ResourceSpec::new(ResourceKind::Database, "k3m9p2xw7q-default-db")).await?;
/// assert_eq!(db.provider_id, "databases/k3m9p2xw7q-default-db.sqlite");
/// let again = local.create(&ResourceSpec::new(ResourceKind::Database, "k3m9p2xw7q-default-db")).await?;
/// assert_eq!(db, again);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct LocalProvisioner {
    root: PathBuf,
    state: SqliteExecutor,
    clock: SharedClock,
    /// Serialises creates and deletes in this process.
    lock: Mutex<()>,
    /// Taken before the blocking work that creates or removes database files
    /// and bucket folders is spawned, and held by that work: it runs to its end
    /// even when the call that started it is abandoned, and a later create or
    /// delete waits for it.
    files: Arc<Mutex<()>>,
}

impl LocalProvisioner {
    /// Opens (creating if needed) the root folder.
    pub async fn open(root: impl AsRef<Path>) -> Result<Self> {
        Self::open_with_clock(root, system_clock()).await
    }

    /// As [`LocalProvisioner::open`], with KV TTLs measured on `clock`.
    pub async fn open_with_clock(root: impl AsRef<Path>, clock: SharedClock) -> Result<Self> {
        let root = root.as_ref().to_owned();
        let r = root.clone();
        blocking(move || {
            fs::create_dir_all(r.join(DATABASES)).map_err(|e| io(PROVIDER, e))?;
            fs::create_dir_all(r.join(BUCKETS)).map_err(|e| io(PROVIDER, e))?;
            fs::create_dir_all(r.join(TRASH)).map_err(|e| io(PROVIDER, e))?;
            empty_trash(&r.join(TRASH))
        })
        .await?;
        let state = SqliteExecutor::open(root.join(STATE_FILE)).await?;
        STATE_MIGRATIONS.run(&state).await?;
        SqliteKv::migrations(Dialect::Sqlite).run(&state).await?;
        Ok(Self {
            root,
            state,
            clock,
            lock: Mutex::new(()),
            files: Arc::new(Mutex::new(())),
        })
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn db_path(&self, name: &str) -> PathBuf {
        self.root.join(DATABASES).join(format!("{name}.sqlite"))
    }

    fn bucket_path(&self, name: &str) -> PathBuf {
        self.root.join(BUCKETS).join(name)
    }

    /// Opens a database created by this provisioner.
    pub async fn database(&self, name: &str) -> Result<SqliteExecutor> {
        self.get(ResourceKind::Database, name).await?;
        SqliteExecutor::open(self.db_path(name)).await
    }

    /// Opens a bucket created by this provisioner.
    pub async fn bucket(&self, name: &str) -> Result<LocalObjectStore> {
        self.get(ResourceKind::Bucket, name).await?;
        LocalObjectStore::open(self.bucket_path(name)).await
    }

    /// Opens a KV namespace created by this provisioner.
    pub async fn kv(&self, name: &str) -> Result<SqliteKv> {
        self.get(ResourceKind::KvNamespace, name).await?;
        SqliteKv::open_with_clock(self.state.clone(), name, self.clock.clone()).await
    }

    fn resource(kind: ResourceKind, name: &str) -> Resource {
        let provider_id = match kind {
            ResourceKind::Database => format!("{DATABASES}/{name}.sqlite"),
            ResourceKind::Bucket => format!("{BUCKETS}/{name}"),
            ResourceKind::KvNamespace => format!("kv/{name}"),
            ResourceKind::Worker => format!("worker/{name}"),
            ResourceKind::DnsRecord => format!("dns/{name}"),
            _ => format!("hostname/{name}"),
        };
        Resource {
            kind,
            name: name.to_owned(),
            provider_id,
        }
    }

    async fn exists(&self, kind: ResourceKind, name: &str) -> Result<bool> {
        match kind {
            ResourceKind::Database => {
                let p = self.db_path(name);
                blocking(move || Ok(p.is_file())).await
            }
            ResourceKind::Bucket => {
                let p = self.bucket_path(name);
                blocking(move || Ok(p.is_dir())).await
            }
            _ => {
                let rows = self
                    .state
                    .query(
                        &Statement::new(r#"SELECT 1 FROM "_neutrino_local_resource" WHERE "kind" = ?1 AND "name" = ?2"#)
                            .bind(kind.as_str())
                            .bind(name),
                    )
                    .await?;
                Ok(!rows.is_empty())
            }
        }
    }
}

/// Removes everything in the trash folder (what earlier deletes moved there).
fn empty_trash(trash: &Path) -> Result<()> {
    for entry in fs::read_dir(trash).map_err(|e| io(PROVIDER, e))? {
        let path = entry.map_err(|e| io(PROVIDER, e))?.path();
        let removed = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        match removed {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(PROVIDER, e)),
        }
    }
    Ok(())
}

/// Moves `from` into the trash folder in one rename; `false` if it was missing.
fn move_to_trash(from: &Path, trash: &Path, name: &str) -> Result<bool> {
    if !from.exists() {
        return Ok(false);
    }
    fs::create_dir_all(trash).map_err(|e| io(PROVIDER, e))?;
    let to = trash.join(format!("{}-{name}", neutrino_core::ids::generate_id()));
    match fs::rename(from, to) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !from.exists() => Ok(false),
        Err(e) => Err(io(PROVIDER, e)),
    }
}

/// Removes a database's WAL, shared-memory and journal files.
fn remove_sidecars(path: &Path) -> Result<()> {
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut p = path.to_owned().into_os_string();
        p.push(suffix);
        remove_if_present(Path::new(&p))?;
    }
    Ok(())
}

/// Removes a file; a missing one is fine.
fn remove_if_present(p: &Path) -> Result<()> {
    match fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(PROVIDER, e)),
    }
}

#[async_trait]
impl Provisioner for LocalProvisioner {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn supports(&self, kind: ResourceKind) -> bool {
        ResourceKind::ALL.contains(&kind)
    }

    async fn create(&self, spec: &ResourceSpec) -> Result<Resource> {
        async {
            check_request(self, spec.kind, &spec.name)?;
            let _guard = self.lock.lock().await;
            match spec.kind {
                ResourceKind::Database => {
                    let path = self.db_path(&spec.name);
                    // Taken before the blocking work is spawned and held by it until
                    // it ends, even if this future is dropped meanwhile: a
                    // delete can never run before an abandoned create.
                    let files = self.files.clone().lock_owned().await;
                    blocking(move || {
                        let _files = files;
                        if path.is_file() {
                            return Ok(());
                        }
                        // A delete that failed after moving the file out may
                        // have left its WAL behind: a new database must not
                        // pick it up.
                        remove_sidecars(&path)?;
                        let conn = rusqlite::Connection::open(&path).map_err(map)?;
                        let mode: String = conn
                            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
                            .map_err(map)?;
                        if !mode.eq_ignore_ascii_case("wal") {
                            return Err(Error::backend(
                                PROVIDER,
                                false,
                                format!("the database stayed in journal mode {mode}"),
                            ));
                        }
                        Ok(())
                    })
                    .await?;
                }
                ResourceKind::Bucket => {
                    let path = self.bucket_path(&spec.name);
                    // Taken before the blocking work is spawned and held by it until
                    // it ends, even if this future is dropped meanwhile: a
                    // delete can never run before an abandoned create.
                    let files = self.files.clone().lock_owned().await;
                    blocking(move || {
                        let _files = files;
                        fs::create_dir_all(&path).map_err(|e| io(PROVIDER, e))
                    })
                    .await?;
                }
                _ => {
                    let params = serde_json::to_string(&spec.params)
                        .map_err(|e| Error::backend(PROVIDER, false, e))?;
                    self.state
                        .execute(
                            &Statement::new(
                                r#"INSERT INTO "_neutrino_local_resource" ("kind", "name", "params", "created_at")
                                   VALUES (?1, ?2, ?3, ?4) ON CONFLICT ("kind", "name") DO NOTHING"#,
                            )
                            .bind(spec.kind.as_str())
                            .bind(spec.name.as_str())
                            .bind(params)
                            .bind(self.clock.now_millis()),
                        )
                        .await?;
                }
            }
            Ok(Self::resource(spec.kind, &spec.name))
        }
        .instrument(port_span(Port::Provision, PROVIDER, "create", &spec.name))
        .await
    }

    async fn get(&self, kind: ResourceKind, name: &str) -> Result<Resource> {
        async {
            check_request(self, kind, name)?;
            if self.exists(kind, name).await? {
                Ok(Self::resource(kind, name))
            } else {
                Err(Error::not_found("resource", format!("{kind} {name}")))
            }
        }
        .instrument(port_span(Port::Provision, PROVIDER, "get", name))
        .await
    }

    async fn delete(&self, kind: ResourceKind, name: &str) -> Result<()> {
        async {
            check_request(self, kind, name)?;
            let _guard = self.lock.lock().await;
            match kind {
                ResourceKind::Database => {
                    let path = self.db_path(name);
                    let trash = self.root.join(TRASH);
                    let name = name.to_owned();
                    // Taken before the blocking work is spawned and held by it until
                    // it ends, even if this future is dropped meanwhile: a
                    // delete can never run before an abandoned create.
                    let files = self.files.clone().lock_owned().await;
                    blocking(move || {
                        let _files = files;
                        // The database file first, in one rename: if it fails,
                        // the database is untouched; once it is done, the
                        // database is gone, whatever fails after.
                        move_to_trash(&path, &trash, &format!("{name}.sqlite"))?;
                        remove_sidecars(&path)?;
                        // Unreachable from here on; what stays is removed by the
                        // next delete or open.
                        let _ = empty_trash(&trash);
                        Ok(())
                    })
                    .await
                }
                ResourceKind::Bucket => {
                    let path = self.bucket_path(name);
                    let trash = self.root.join(TRASH);
                    let name = name.to_owned();
                    // Taken before the blocking work is spawned and held by it until
                    // it ends, even if this future is dropped meanwhile: a
                    // delete can never run before an abandoned create.
                    let files = self.files.clone().lock_owned().await;
                    blocking(move || {
                        let _files = files;
                        // Never emptied in place: moved out whole, then removed.
                        move_to_trash(&path, &trash, &name)?;
                        let _ = empty_trash(&trash);
                        Ok(())
                    })
                    .await
                }
                _ => {
                    self.state
                        .batch(&[
                            // Only KV namespaces have data rows; for other kinds this deletes nothing.
                            Statement::new(r#"DELETE FROM "_neutrino_kv" WHERE "namespace" = ?1 AND ?2 = 'kv_namespace'"#)
                                .bind(name)
                                .bind(kind.as_str()),
                            Statement::new(r#"DELETE FROM "_neutrino_local_resource" WHERE "kind" = ?1 AND "name" = ?2"#)
                                .bind(kind.as_str())
                                .bind(name),
                        ])
                        .await?;
                    Ok(())
                }
            }
        }
        .instrument(port_span(Port::Provision, PROVIDER, "delete", name))
        .await
    }

    async fn list(&self, kind: ResourceKind, prefix: &str) -> Result<Vec<Resource>> {
        async {
            check_kind(self, kind)?;
            let mut names: Vec<String> = match kind {
                ResourceKind::Database | ResourceKind::Bucket => {
                    let dir = self.root.join(if kind == ResourceKind::Database {
                        DATABASES
                    } else {
                        BUCKETS
                    });
                    blocking(move || {
                        let mut out = Vec::new();
                        for entry in fs::read_dir(&dir).map_err(|e| io(PROVIDER, e))? {
                            let entry = entry.map_err(|e| io(PROVIDER, e))?;
                            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                                continue;
                            };
                            let name = match kind {
                                ResourceKind::Database => match name.strip_suffix(".sqlite") {
                                    Some(n) => n.to_owned(),
                                    None => continue, // -wal, -shm
                                },
                                _ if entry.path().is_dir() => name,
                                _ => continue,
                            };
                            out.push(name);
                        }
                        Ok(out)
                    })
                    .await?
                }
                _ => {
                    let rows = self
                        .state
                        .query(
                            &Statement::new(
                                r#"SELECT "name" FROM "_neutrino_local_resource"
                                   WHERE "kind" = ?1 AND "name" >= ?2 ORDER BY "name""#,
                            )
                            .bind(kind.as_str())
                            .bind(prefix),
                        )
                        .await?;
                    rows.iter()
                        .map(|r| r.get::<String>("name"))
                        .collect::<Result<_>>()?
                }
            };
            names.retain(|n| n.starts_with(prefix));
            names.sort();
            Ok(names.iter().map(|n| Self::resource(kind, n)).collect())
        }
        .instrument(port_span(Port::Provision, PROVIDER, "list", prefix))
        .await
    }
}

#[async_trait]
impl DatabaseConnector for LocalProvisioner {
    async fn connect(&self, database: &Resource) -> Result<Arc<dyn SqlExecutor>> {
        if database.kind != ResourceKind::Database {
            return Err(Error::invalid(
                "database resource",
                format!("{} is a {}, not a database", database.name, database.kind),
            ));
        }
        Ok(Arc::new(self.database(&database.name).await?))
    }
}
