//! The provisioner port: create, look up, list and delete named resources.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::ids::{PlatformId, StackId, truncate_for_message};
use crate::naming::{Domain, HostParts, ResourceName, rules};

/// What kind of resource a provisioner manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ResourceKind {
    /// A SQL database (SQLite file, D1 database).
    Database,
    /// An object storage bucket (folder, R2/S3 bucket).
    Bucket,
    /// A KV namespace.
    KvNamespace,
    /// A worker script.
    Worker,
    /// A DNS record.
    DnsRecord,
    /// A custom hostname (Cloudflare for SaaS).
    CustomHostname,
}

impl ResourceKind {
    /// Every kind, in a stable order.
    pub const ALL: [ResourceKind; 6] = [
        Self::Database,
        Self::Bucket,
        Self::KvNamespace,
        Self::Worker,
        Self::DnsRecord,
        Self::CustomHostname,
    ];

    /// A lowercase name for messages and records, e.g. `kv_namespace`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Database => "database",
            Self::Bucket => "bucket",
            Self::KvNamespace => "kv_namespace",
            Self::Worker => "worker",
            Self::DnsRecord => "dns_record",
            Self::CustomHostname => "custom_hostname",
        }
    }

    /// Checks `name` against the naming rules of every provider of this kind.
    pub fn validate_name(self, name: &str) -> Result<()> {
        let ok = match self {
            Self::Database => rules::is_valid_d1_name(name) && name.len() <= 63,
            Self::Bucket => rules::is_valid_bucket_name(name),
            Self::KvNamespace => rules::is_valid_kv_title(name),
            Self::Worker => rules::is_valid_worker_name(name),
            Self::DnsRecord | Self::CustomHostname => {
                name.len() <= 253
                    && name.split('.').count() >= 2
                    && name.split('.').all(rules::is_valid_dns_label)
            }
        };
        if ok {
            Ok(())
        } else {
            Err(Error::invalid(
                "resource name",
                format!(
                    "{:?} is not a valid {} name",
                    truncate_for_message(name),
                    self.as_str()
                ),
            ))
        }
    }
}

impl ResourceKind {
    /// The platform and stack a resource name of this kind belongs to, parsed
    /// back from the name: a [`ResourceName`] (`{platform}-{stack}-{role}`) for
    /// databases, buckets, KV namespaces and workers, a hostname built by
    /// `domain` ([`Domain::auth_host`], `auth.svc.{stack}.{platform}.{base}`, or
    /// [`Domain::app_host`], `{app}.app.{stack}.{platform}.{base}`) for DNS
    /// records and custom hostnames. A hostname counts only under exactly the
    /// given base domain: under any other base, `{platform}` would not be the
    /// label before the base, and the host could sit under another platform's
    /// cookie domain (`auth.svc.{s}.{p}.{q}.{base}` is under `.{q}.{base}`).
    /// A name of another shape belongs to no platform and is
    /// [`Error::InvalidInput`].
    ///
    /// ```
    /// use neutrino::ids::{PlatformId, StackId};
    /// use neutrino::naming::Domain;
    /// use neutrino::provision::ResourceKind;
    /// let p: PlatformId = "k3m9p2xw7q".parse().unwrap();
    /// let base = Domain::default();
    /// assert_eq!(
    ///     ResourceKind::Database.owner("k3m9p2xw7q-default-auth-db", &base).unwrap(),
    ///     (p, StackId::DEFAULT)
    /// );
    /// assert_eq!(
    ///     ResourceKind::DnsRecord.owner("auth.svc.default.k3m9p2xw7q.nno.app", &base).unwrap(),
    ///     (p, StackId::DEFAULT)
    /// );
    /// // Under another base (here another platform's domain) it is no one's.
    /// assert!(ResourceKind::DnsRecord
    ///     .owner("auth.svc.default.k3m9p2xw7q.a1b2c3d4e5.nno.app", &base)
    ///     .is_err());
    /// assert!(ResourceKind::Database.owner("shared-db", &base).is_err());
    /// ```
    pub fn owner(self, name: &str, domain: &Domain) -> Result<(PlatformId, StackId)> {
        self.validate_name(name)?;
        match self {
            Self::DnsRecord | Self::CustomHostname => match domain.parse_host(name)? {
                HostParts::AuthService { platform, stack }
                | HostParts::App {
                    platform, stack, ..
                } => Ok((platform, stack)),
            },
            _ => {
                let parsed = ResourceName::parse(name)?;
                Ok((parsed.platform(), parsed.stack()))
            }
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceSpec {
    /// The kind.
    pub kind: ResourceKind,
    /// The name, unique per kind (usually a [`crate::naming::ResourceName`]; a
    /// hostname for DNS records and custom hostnames).
    pub name: String,
    /// Kind-specific settings, documented by each provisioner (e.g. a worker's
    /// script, a DNS record's target). Empty for databases, buckets and KV
    /// namespaces.
    pub params: BTreeMap<String, String>,
}

impl ResourceSpec {
    /// A spec without parameters.
    pub fn new(kind: ResourceKind, name: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
            params: BTreeMap::new(),
        }
    }

    /// Adds a parameter.
    pub fn param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.insert(key.into(), value.into());
        self
    }
}

/// A resource as the provider reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// The kind.
    pub kind: ResourceKind,
    /// The name it was created with.
    pub name: String,
    /// The provider's own identifier (a D1 UUID, a path, …): what the registry
    /// records.
    pub provider_id: String,
}

/// Creates and deletes named resources.
///
/// # Contract
/// Every implementation, checked by `testkit::provisioner`:
/// * A kind the provisioner does not support is [`Error::Unsupported`] on every
///   call, and [`Provisioner::supports`] says so up front.
/// * Names are checked with [`ResourceKind::validate_name`].
/// * [`Provisioner::create`] is idempotent by (kind, name): creating an existing
///   resource returns it, with the same provider ID, and creates nothing new.
/// * [`Provisioner::get`] of a missing resource is [`Error::NotFound`].
/// * [`Provisioner::delete`] removes the resource and all its data (a bucket's
///   objects, a database's rows); deleting a missing resource succeeds.
/// * A refused operation changes nothing. [`Provisioner::delete`] checks
///   everything that would make the provider refuse it (e.g. an S3 bucket with
///   versioning, enabled or suspended, or with object lock; an R2 bucket with
///   objects and no way to empty it) *before* touching anything: after the
///   refusal the resource still exists and all its content reads as before
///   (the suite's `refused_delete_leaves_the_resource_as_it_was` case, run by
///   every backend that can be made to refuse or fail). Where the provider can
///   remove a resource in one step (a local file or folder moved out of place,
///   a D1 database, a KV namespace), a delete that fails leaves it whole too;
///   where it cannot (an S3 or R2 bucket is emptied object by object), a delete
///   that fails midway on a transient error may have removed some objects, and
///   retrying it finishes the job.
/// * [`Provisioner::list`] returns the resources of a kind whose names start
///   with a prefix, sorted by name.
#[async_trait]
pub trait Provisioner: Send + Sync + fmt::Debug + 'static {
    /// A short name of the provider, e.g. `"local"` or `"cloudflare"`.
    fn provider(&self) -> &'static str;

    /// Whether this provisioner manages `kind`.
    fn supports(&self, kind: ResourceKind) -> bool;

    /// Creates the resource, or returns it if it exists.
    async fn create(&self, spec: &ResourceSpec) -> Result<Resource>;

    /// Looks a resource up by name.
    async fn get(&self, kind: ResourceKind, name: &str) -> Result<Resource>;

    /// Deletes a resource and its data; a refused delete leaves the resource
    /// as it was (see the contract).
    async fn delete(&self, kind: ResourceKind, name: &str) -> Result<()>;

    /// The resources of `kind` whose names start with `prefix`, sorted by name.
    async fn list(&self, kind: ResourceKind, prefix: &str) -> Result<Vec<Resource>>;
}

#[async_trait]
impl<T: Provisioner + ?Sized> Provisioner for Arc<T> {
    fn provider(&self) -> &'static str {
        (**self).provider()
    }
    fn supports(&self, kind: ResourceKind) -> bool {
        (**self).supports(kind)
    }
    async fn create(&self, spec: &ResourceSpec) -> Result<Resource> {
        (**self).create(spec).await
    }
    async fn get(&self, kind: ResourceKind, name: &str) -> Result<Resource> {
        (**self).get(kind, name).await
    }
    async fn delete(&self, kind: ResourceKind, name: &str) -> Result<()> {
        (**self).delete(kind, name).await
    }
    async fn list(&self, kind: ResourceKind, prefix: &str) -> Result<Vec<Resource>> {
        (**self).list(kind, prefix).await
    }
}

/// The check every provisioner runs first: the kind is supported and the name is
/// valid for it.
pub fn check_request(p: &dyn Provisioner, kind: ResourceKind, name: &str) -> Result<()> {
    check_kind(p, kind)?;
    kind.validate_name(name)
}

/// The check of a call that names no resource ([`Provisioner::list`]): the
/// kind is supported, or the call is [`Error::Unsupported`].
pub fn check_kind(p: &dyn Provisioner, kind: ResourceKind) -> Result<()> {
    if p.supports(kind) {
        return Ok(());
    }
    Err(Error::Unsupported {
        operation: format!("{kind} resources"),
        backend: p.provider(),
    })
}

/// Opens SQL connections to databases a provisioner created, so that migrations
/// can run on them right after they are made.
///
/// # Contract
/// [`DatabaseConnector::connect`] takes a [`Resource`] of kind
/// [`ResourceKind::Database`] as the provisioner returned it, and gives an
/// executor on that database; a resource of another kind is
/// [`Error::InvalidInput`], a database that does not exist [`Error::NotFound`].
#[async_trait]
pub trait DatabaseConnector: Send + Sync + fmt::Debug + 'static {
    /// An executor on the database.
    async fn connect(&self, database: &Resource) -> Result<Arc<dyn crate::sql::SqlExecutor>>;
}
