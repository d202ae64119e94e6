//! The provisioner port on Cloudflare: D1 databases, R2 buckets, KV namespaces,
//! Worker scripts, DNS records and custom hostnames.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use neutrino_core::object::{ObjectStore, ObjectStoreExt};
use neutrino_core::provision::{Provisioner, Resource, ResourceKind, ResourceSpec, check_request};
use neutrino_core::trace::{Port, port_span};
use neutrino_core::{Error, Result};
use reqwest::Method;
use serde_json::{Value as Json, json};
use tracing::Instrument;

use crate::client::{ApiRequest, Body, CloudflareClient, Paging, Part};
use crate::error::{BACKEND, CloudflareError, not_found_or};

/// The compatibility date a Worker is uploaded with when its spec names none.
pub const DEFAULT_COMPATIBILITY_DATE: &str = "2024-09-23";

/// Opens the objects of an R2 bucket by name, so that deleting a bucket can empty
/// it first (R2's control plane refuses to delete a bucket that holds objects).
///
/// Any `Fn(&str) -> Result<Arc<dyn ObjectStore>>` is an opener. In production it
/// builds the S3 adapter with R2's preset for the named bucket: endpoint
/// `https://<account id>.r2.cloudflarestorage.com`, region `auto`, path-style
/// addressing, and an R2 API token's ID and SHA-256 of its value as the access
/// key pair. This crate does not depend on the S3 adapter, so the host app
/// wires it in:
///
/// ```text
/// let provisioner = CloudflareProvisionerBuilder::new(client)
///     .with_bucket_opener(move |bucket: &str| {
///         let store = S3ObjectStoreBuilder::r2(&account_id, &r2_credentials)
///             .with_bucket(bucket)
///             .build()?;
///         Ok(Arc::new(store) as Arc<dyn ObjectStore>)
///     })
///     .build()?;
/// ```
pub trait BucketOpener: Send + Sync + 'static {
    /// The object store of bucket `name`.
    fn open(&self, name: &str) -> Result<Arc<dyn ObjectStore>>;
}

impl<F> BucketOpener for F
where
    F: Fn(&str) -> Result<Arc<dyn ObjectStore>> + Send + Sync + 'static,
{
    fn open(&self, name: &str) -> Result<Arc<dyn ObjectStore>> {
        self(name)
    }
}

/// The verification state of a custom hostname (Cloudflare for SaaS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomHostnameStatus {
    /// Cloudflare's ID of the hostname.
    pub id: String,
    /// The hostname.
    pub hostname: String,
    /// The hostname's status, e.g. `pending`, `active`, `moved`, `blocked`.
    pub status: String,
    /// The certificate's status, e.g. `pending_validation`, `active`.
    pub ssl_status: Option<String>,
    /// Why verification has not succeeded yet, as Cloudflare words it.
    pub verification_errors: Vec<String>,
    /// The TXT record (`name`, `value`) that proves ownership, when offered.
    pub ownership_txt: Option<(String, String)>,
}

impl CustomHostnameStatus {
    /// Whether the hostname is verified and serving.
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

/// Builds a [`CloudflareProvisioner`].
pub struct CloudflareProvisionerBuilder {
    client: CloudflareClient,
    zone_id: Option<String>,
    opener: Option<Arc<dyn BucketOpener>>,
}

impl fmt::Debug for CloudflareProvisionerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudflareProvisionerBuilder")
            .field("client", &self.client)
            .field("zone_id", &self.zone_id)
            .field("bucket_opener", &self.opener.is_some())
            .finish()
    }
}

impl CloudflareProvisionerBuilder {
    /// A provisioner for `client`'s account: databases, buckets, KV namespaces
    /// and workers. DNS records and custom hostnames need a zone.
    pub fn new(client: CloudflareClient) -> Self {
        Self {
            client,
            zone_id: None,
            opener: None,
        }
    }

    /// The zone that DNS records and custom hostnames are created in.
    pub fn with_zone_id(mut self, zone_id: impl Into<String>) -> Self {
        self.zone_id = Some(zone_id.into());
        self
    }

    /// How to reach a bucket's objects, to empty it before deleting it.
    pub fn with_bucket_opener(mut self, opener: impl BucketOpener) -> Self {
        self.opener = Some(Arc::new(opener));
        self
    }

    /// Validates the settings and builds the provisioner.
    pub fn build(self) -> Result<CloudflareProvisioner> {
        if let Some(z) = &self.zone_id
            && (z.is_empty() || z.len() > 32 || !z.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return Err(Error::Config {
                backend: BACKEND,
                key: "zone_id",
                reason: "must be 1-32 ascii letters and digits".into(),
            });
        }
        Ok(CloudflareProvisioner {
            client: self.client,
            zone_id: self.zone_id,
            opener: self.opener,
        })
    }
}

/// Creates, finds and deletes Cloudflare resources by name.
///
/// | kind | Cloudflare resource | `provider_id` | `params` |
/// |---|---|---|---|
/// | `Database` | D1 database | its UUID | – |
/// | `Bucket` | R2 bucket | its name | – |
/// | `KvNamespace` | KV namespace (title = name) | its 32-hex ID | – |
/// | `Worker` | Worker script (ES module) | its name | `script` (required), `main_module` (default `worker.js`), `compatibility_date` (default [`DEFAULT_COMPATIBILITY_DATE`]), bindings `d1:<NAME>` = database UUID, `kv:<NAME>` = namespace ID, `r2:<NAME>` = bucket name, `var:<NAME>` = plain text |
/// | `DnsRecord` (needs a zone) | DNS record named by the hostname | its 32-hex ID | `content` (required), `type` (default `CNAME`), `proxied` (default `true`), `ttl` (default `1`, automatic) |
/// | `CustomHostname` (needs a zone) | Cloudflare for SaaS custom hostname | its UUID | `ssl_method` (`http` default, `txt`, `email`) |
///
/// Create looks the name up first and returns an existing resource; an
/// "already exists" answer (a race with another creator) is resolved by looking
/// it up again. Deleting a missing resource succeeds. Deleting a bucket first
/// deletes every object through the [`BucketOpener`]; without one, a bucket
/// that still holds objects is refused with [`Error::Config`] and left intact.
/// Worker scripts cannot be listed through the API subset used here:
/// `list(Worker, …)` is [`Error::Unsupported`].
#[derive(Clone)]
pub struct CloudflareProvisioner {
    client: CloudflareClient,
    zone_id: Option<String>,
    opener: Option<Arc<dyn BucketOpener>>,
}

impl fmt::Debug for CloudflareProvisioner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudflareProvisioner")
            .field("client", &self.client)
            .field("zone_id", &self.zone_id)
            .field("bucket_opener", &self.opener.is_some())
            .finish()
    }
}

fn items(result: Json) -> Result<Vec<Json>, CloudflareError> {
    match result {
        Json::Array(v) => Ok(v),
        Json::Null => Ok(Vec::new()),
        other => Err(CloudflareError::decode(
            "listing",
            format!("expected an array, got {other}"),
        )),
    }
}

fn str_field(v: &Json, field: &'static str) -> Result<String> {
    v.get(field)
        .and_then(Json::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            CloudflareError::decode("resource", format!("missing string field {field:?}")).into()
        })
}

fn resource(kind: ResourceKind, name: &str, id: String) -> Resource {
    Resource {
        kind,
        name: name.to_owned(),
        provider_id: id,
    }
}

impl CloudflareProvisioner {
    fn acct(&self, rest: &[&str]) -> Vec<String> {
        self.client
            .account_path(rest)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    fn req(&self, op: &'static str, method: Method, segs: Vec<String>) -> ApiRequest {
        let refs: Vec<&str> = segs.iter().map(String::as_str).collect();
        ApiRequest::new(op, method, &refs)
    }

    fn zone(&self, kind: ResourceKind) -> Result<&str> {
        self.zone_id.as_deref().ok_or_else(|| Error::Unsupported {
            operation: format!("{kind} resources without a zone"),
            backend: BACKEND,
        })
    }

    fn zone_path(&self, kind: ResourceKind, rest: &[&str]) -> Result<Vec<String>> {
        let mut v = vec!["zones".to_owned(), self.zone(kind)?.to_owned()];
        v.extend(rest.iter().map(|s| (*s).to_owned()));
        Ok(v)
    }

    /// Every resource of `kind` with its name, as `(name, id)`.
    async fn all(&self, kind: ResourceKind, filter: Option<&str>) -> Result<Vec<(String, String)>> {
        let pairs = |name_field: &'static str, id_field: &'static str| {
            move |r: Json| -> Result<Vec<(String, String)>, CloudflareError> {
                items(r)?
                    .iter()
                    .map(|v| {
                        let get = |f: &'static str| {
                            v.get(f)
                                .and_then(Json::as_str)
                                .map(str::to_owned)
                                .ok_or_else(|| {
                                    CloudflareError::decode("listing", format!("missing {f:?}"))
                                })
                        };
                        Ok((get(name_field)?, get(id_field)?))
                    })
                    .collect()
            }
        };
        let out = match kind {
            ResourceKind::Database => {
                let mut req = self.req("d1.list", Method::GET, self.acct(&["d1", "database"]));
                if let Some(f) = filter {
                    req = req.query("name", f);
                }
                self.client
                    .list_all(req, Paging::Page { per_page: 100 }, pairs("name", "uuid"))
                    .await
            }
            ResourceKind::Bucket => {
                let mut req = self.req("r2.list", Method::GET, self.acct(&["r2", "buckets"]));
                if let Some(f) = filter.filter(|f| !f.is_empty()) {
                    req = req.query("name_contains", f);
                }
                self.client
                    .list_all(
                        req,
                        Paging::Cursor {
                            size_param: "per_page",
                            size: 1000,
                        },
                        |r: Json| {
                            // The live API answers `{"buckets": [...]}` (contract deviation 2).
                            let list = match r {
                                Json::Object(mut m) => m.remove("buckets").unwrap_or(Json::Null),
                                other => other,
                            };
                            pairs("name", "name")(list)
                        },
                    )
                    .await
            }
            ResourceKind::KvNamespace => {
                let req = self.req(
                    "kv.namespaces",
                    Method::GET,
                    self.acct(&["storage", "kv", "namespaces"]),
                );
                self.client
                    .list_all(req, Paging::Page { per_page: 100 }, pairs("title", "id"))
                    .await
            }
            ResourceKind::DnsRecord => {
                let mut req = self.req(
                    "dns.list",
                    Method::GET,
                    self.zone_path(kind, &["dns_records"])?,
                );
                if let Some(f) = filter {
                    req = req.query("name", f);
                }
                self.client
                    .list_all(req, Paging::Page { per_page: 100 }, pairs("name", "id"))
                    .await
            }
            ResourceKind::CustomHostname => {
                let mut req = self.req(
                    "hostnames.list",
                    Method::GET,
                    self.zone_path(kind, &["custom_hostnames"])?,
                );
                if let Some(f) = filter {
                    req = req.query("hostname", f);
                }
                self.client
                    .list_all(req, Paging::Page { per_page: 50 }, pairs("hostname", "id"))
                    .await
            }
            _ => {
                return Err(Error::Unsupported {
                    operation: format!("listing {kind} resources"),
                    backend: BACKEND,
                });
            }
        };
        Ok(out?)
    }

    /// The resource named `name`, if it exists.
    async fn find(&self, kind: ResourceKind, name: &str) -> Result<Option<Resource>> {
        match kind {
            ResourceKind::Bucket => {
                let req = self.req("r2.get", Method::GET, self.acct(&["r2", "buckets", name]));
                match self.client.call(&req).await {
                    Ok(_) => Ok(Some(resource(kind, name, name.to_owned()))),
                    Err(e) if e.status() == Some(404) => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
            ResourceKind::Worker => {
                let req = self.req(
                    "workers.get",
                    Method::GET,
                    self.acct(&["workers", "scripts", name]),
                );
                match self.client.send(&req).await {
                    Ok(_) => Ok(Some(resource(kind, name, name.to_owned()))),
                    Err(e) if e.status() == Some(404) => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
            _ => Ok(self
                .all(kind, Some(name))
                .await?
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(n, id)| resource(kind, &n, id))),
        }
    }

    async fn create_new(&self, spec: &ResourceSpec) -> Result<Resource, CloudflareError> {
        let kind = spec.kind;
        let name = spec.name.as_str();
        let param = |k: &str| spec.params.get(k).map(String::as_str);
        let (req, id_field) = match kind {
            ResourceKind::Database => (
                self.req("d1.create", Method::POST, self.acct(&["d1", "database"]))
                    .json(json!({ "name": name })),
                "uuid",
            ),
            ResourceKind::Bucket => (
                self.req("r2.create", Method::POST, self.acct(&["r2", "buckets"]))
                    .json(json!({ "name": name })),
                "name",
            ),
            ResourceKind::KvNamespace => (
                self.req(
                    "kv.create",
                    Method::POST,
                    self.acct(&["storage", "kv", "namespaces"]),
                )
                .json(json!({ "title": name })),
                "id",
            ),
            ResourceKind::DnsRecord => {
                let ttl: u32 = param("ttl").unwrap_or("1").parse().map_err(|_| {
                    CloudflareError::decode("dns record ttl parameter", "not a number")
                })?;
                (
                    self.req(
                        "dns.create",
                        Method::POST,
                        self.zone_path(kind, &["dns_records"])
                            .map_err(|e| CloudflareError::decode("zone", e))?,
                    )
                    .json(json!({
                        "type": param("type").unwrap_or("CNAME"),
                        "name": name,
                        "content": param("content").unwrap_or_default(),
                        "proxied": param("proxied") != Some("false"),
                        "ttl": ttl,
                    })),
                    "id",
                )
            }
            ResourceKind::CustomHostname => (
                self.req(
                    "hostnames.create",
                    Method::POST,
                    self.zone_path(kind, &["custom_hostnames"])
                        .map_err(|e| CloudflareError::decode("zone", e))?,
                )
                .json(json!({
                    "hostname": name,
                    "ssl": { "method": param("ssl_method").unwrap_or("http"), "type": "dv" },
                })),
                "id",
            ),
            ResourceKind::Worker => {
                self.client.send(&self.worker_upload(spec)).await?;
                return Ok(resource(kind, name, name.to_owned()));
            }
            _ => {
                return Err(CloudflareError::decode(
                    "resource kind",
                    format!("{kind} is not supported"),
                ));
            }
        };
        let env = self.client.call(&req.idempotent(true)).await?;
        let id = env
            .result
            .get(id_field)
            .and_then(Json::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                CloudflareError::decode("created resource", format!("no {id_field:?}"))
            })?;
        Ok(resource(kind, name, id))
    }

    fn worker_upload(&self, spec: &ResourceSpec) -> ApiRequest {
        let param = |k: &str| spec.params.get(k).map(String::as_str);
        let main = param("main_module").unwrap_or("worker.js").to_owned();
        let mut bindings = Vec::new();
        for (k, v) in &spec.params {
            let b = match k.split_once(':') {
                Some(("d1", n)) => json!({ "type": "d1", "name": n, "id": v }),
                Some(("kv", n)) => json!({ "type": "kv_namespace", "name": n, "namespace_id": v }),
                Some(("r2", n)) => json!({ "type": "r2_bucket", "name": n, "bucket_name": v }),
                Some(("var", n)) => json!({ "type": "plain_text", "name": n, "text": v }),
                _ => continue,
            };
            bindings.push(b);
        }
        let metadata = json!({
            "main_module": main,
            "compatibility_date": param("compatibility_date").unwrap_or(DEFAULT_COMPATIBILITY_DATE),
            "bindings": bindings,
        });
        let parts = vec![
            Part {
                name: "metadata".into(),
                file_name: None,
                content_type: "application/json".into(),
                data: Bytes::from(metadata.to_string()),
            },
            Part {
                name: main.clone(),
                file_name: Some(main),
                content_type: "application/javascript+module".into(),
                data: Bytes::from(param("script").unwrap_or_default().to_owned()),
            },
        ];
        self.req(
            "workers.upload",
            Method::PUT,
            self.acct(&["workers", "scripts", &spec.name]),
        )
        .body(Body::Multipart(parts))
    }

    fn check_params(spec: &ResourceSpec) -> Result<()> {
        let need = |k: &'static str| {
            if spec.params.get(k).is_none_or(|v| v.is_empty()) {
                Err(Error::invalid(
                    "resource params",
                    format!("a {} needs the {k:?} parameter", spec.kind),
                ))
            } else {
                Ok(())
            }
        };
        match spec.kind {
            ResourceKind::Worker => {
                need("script")?;
                if let Some(d) = spec.params.get("compatibility_date") {
                    let ok = d.len() == 10
                        && d.bytes().enumerate().all(|(i, b)| {
                            if i == 4 || i == 7 {
                                b == b'-'
                            } else {
                                b.is_ascii_digit()
                            }
                        });
                    if !ok {
                        return Err(Error::invalid(
                            "resource params",
                            "compatibility_date must be YYYY-MM-DD",
                        ));
                    }
                }
                Ok(())
            }
            ResourceKind::DnsRecord => need("content"),
            _ => Ok(()),
        }
    }

    /// Uploads (or replaces) a Worker script: unlike [`Provisioner::create`],
    /// this always sends the script, so it deploys a new version.
    pub async fn upload_worker(&self, spec: &ResourceSpec) -> Result<Resource> {
        check_request(self, ResourceKind::Worker, &spec.name)?;
        if spec.kind != ResourceKind::Worker {
            return Err(Error::invalid("resource spec", "not a worker"));
        }
        Self::check_params(spec)?;
        self.client.send(&self.worker_upload(spec)).await?;
        Ok(resource(
            ResourceKind::Worker,
            &spec.name,
            spec.name.clone(),
        ))
    }

    /// The verification state of custom hostname `hostname`.
    pub async fn custom_hostname_status(&self, hostname: &str) -> Result<CustomHostnameStatus> {
        let kind = ResourceKind::CustomHostname;
        check_request(self, kind, hostname)?;
        let r = self
            .find(kind, hostname)
            .await?
            .ok_or_else(|| Error::not_found("custom hostname", hostname))?;
        let req = self.req(
            "hostnames.get",
            Method::GET,
            self.zone_path(kind, &["custom_hostnames", &r.provider_id])?,
        );
        let v = self
            .client
            .call(&req)
            .await
            .map_err(|e| not_found_or(e, "custom hostname", hostname))?
            .result;
        let strs = |v: Option<&Json>| -> Vec<String> {
            v.and_then(Json::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Json::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let ownership = v.get("ownership_verification").and_then(|o| {
            Some((
                o.get("name")?.as_str()?.to_owned(),
                o.get("value")?.as_str()?.to_owned(),
            ))
        });
        Ok(CustomHostnameStatus {
            id: str_field(&v, "id")?,
            hostname: str_field(&v, "hostname")?,
            status: str_field(&v, "status")?,
            ssl_status: v
                .pointer("/ssl/status")
                .and_then(Json::as_str)
                .map(str::to_owned),
            verification_errors: strs(v.get("verification_errors")),
            ownership_txt: ownership,
        })
    }

    async fn empty_bucket(&self, name: &str) -> Result<()> {
        let Some(opener) = &self.opener else {
            return Ok(());
        };
        let store = opener.open(name)?;
        loop {
            let objects = store.list_all("").await?;
            if objects.is_empty() {
                return Ok(());
            }
            for o in objects {
                store.delete(&o.key).await?;
            }
        }
    }

    async fn delete_existing(&self, r: &Resource) -> Result<()> {
        let kind = r.kind;
        let id = r.provider_id.as_str();
        let req = match kind {
            ResourceKind::Database => self.req(
                "d1.delete",
                Method::DELETE,
                self.acct(&["d1", "database", id]),
            ),
            ResourceKind::Bucket => {
                self.empty_bucket(&r.name).await?;
                self.req(
                    "r2.delete",
                    Method::DELETE,
                    self.acct(&["r2", "buckets", id]),
                )
            }
            ResourceKind::KvNamespace => self.req(
                "kv.delete",
                Method::DELETE,
                self.acct(&["storage", "kv", "namespaces", id]),
            ),
            ResourceKind::Worker => self.req(
                "workers.delete",
                Method::DELETE,
                self.acct(&["workers", "scripts", id]),
            ),
            ResourceKind::DnsRecord => self.req(
                "dns.delete",
                Method::DELETE,
                self.zone_path(kind, &["dns_records", id])?,
            ),
            ResourceKind::CustomHostname => self.req(
                "hostnames.delete",
                Method::DELETE,
                self.zone_path(kind, &["custom_hostnames", id])?,
            ),
            _ => {
                return Err(Error::Unsupported {
                    operation: format!("{kind} resources"),
                    backend: BACKEND,
                });
            }
        };
        // Custom hostname deletes answer `{"id": …}` without the envelope, so
        // only the status is checked.
        match self.client.send(&req).await {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) if kind == ResourceKind::Bucket && e.has_code(10008) => Err(Error::Config {
                backend: BACKEND,
                key: "bucket_opener",
                reason: format!(
                    "bucket {} still holds objects and no bucket opener is configured to empty it",
                    r.name
                ),
            }),
            Err(e) => Err(e.into()),
        }
    }
}

#[async_trait]
impl Provisioner for CloudflareProvisioner {
    fn provider(&self) -> &'static str {
        BACKEND
    }

    fn supports(&self, kind: ResourceKind) -> bool {
        match kind {
            ResourceKind::Database
            | ResourceKind::Bucket
            | ResourceKind::KvNamespace
            | ResourceKind::Worker => true,
            ResourceKind::DnsRecord | ResourceKind::CustomHostname => self.zone_id.is_some(),
            _ => false,
        }
    }

    async fn create(&self, spec: &ResourceSpec) -> Result<Resource> {
        let span = port_span(Port::Provision, BACKEND, "create", &spec.name);
        async {
            check_request(self, spec.kind, &spec.name)?;
            Self::check_params(spec)?;
            if let Some(r) = self.find(spec.kind, &spec.name).await? {
                return Ok(r);
            }
            match self.create_new(spec).await {
                Ok(r) => Ok(r),
                // Another creator won the race: resolve to the existing resource.
                Err(e) if is_already_exists(spec.kind, &e) => self
                    .find(spec.kind, &spec.name)
                    .await?
                    .ok_or_else(|| e.into()),
                Err(e) => Err(e.into()),
            }
        }
        .instrument(span)
        .await
    }

    async fn get(&self, kind: ResourceKind, name: &str) -> Result<Resource> {
        let span = port_span(Port::Provision, BACKEND, "get", name);
        async {
            check_request(self, kind, name)?;
            self.find(kind, name)
                .await?
                .ok_or_else(|| Error::not_found("resource", format!("{kind} {name}")))
        }
        .instrument(span)
        .await
    }

    async fn delete(&self, kind: ResourceKind, name: &str) -> Result<()> {
        let span = port_span(Port::Provision, BACKEND, "delete", name);
        async {
            check_request(self, kind, name)?;
            match self.find(kind, name).await? {
                Some(r) => self.delete_existing(&r).await,
                None => Ok(()),
            }
        }
        .instrument(span)
        .await
    }

    async fn list(&self, kind: ResourceKind, prefix: &str) -> Result<Vec<Resource>> {
        let span = port_span(Port::Provision, BACKEND, "list", prefix);
        async {
            if !self.supports(kind) {
                return Err(Error::Unsupported {
                    operation: format!("{kind} resources"),
                    backend: BACKEND,
                });
            }
            let filter = (kind == ResourceKind::Bucket).then_some(prefix);
            let mut out: Vec<Resource> = self
                .all(kind, filter)
                .await?
                .into_iter()
                .filter(|(n, _)| n.starts_with(prefix))
                .map(|(n, id)| resource(kind, &n, id))
                .collect();
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        }
        .instrument(span)
        .await
    }
}

/// Whether a create failed because the name is taken (codes are per product).
fn is_already_exists(kind: ResourceKind, e: &CloudflareError) -> bool {
    let codes: &[u32] = match kind {
        ResourceKind::Database => &[7502],
        ResourceKind::Bucket => &[10073],
        ResourceKind::KvNamespace => &[10014],
        ResourceKind::DnsRecord => &[81053, 81054, 81057, 81058],
        ResourceKind::CustomHostname => &[1406],
        _ => &[],
    };
    codes.iter().any(|c| e.has_code(*c)) || e.status() == Some(409)
}
