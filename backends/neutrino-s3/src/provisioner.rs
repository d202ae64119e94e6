//! [`S3Provisioner`]: buckets as provisioned resources.

use async_trait::async_trait;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, ObjectIdentifier,
};
use neutrino_core::provision::{
    Provisioner, Resource, ResourceKind, ResourceSpec, check_kind, check_request,
};
use neutrino_core::trace::{Port, port_span};
use neutrino_core::{Error, Result};
use tracing::Instrument;

use crate::error::{BACKEND, Subject, code_and_status, map};
use crate::{S3Client, S3ObjectStore};

/// How many times delete empties a bucket that others keep writing to.
const DELETE_ROUNDS: usize = 3;

/// A [`Provisioner`] of buckets on an S3-compatible service.
///
/// * Only [`ResourceKind::Bucket`] is supported; the provider ID is the bucket
///   name.
/// * Create is idempotent: `BucketAlreadyOwnedByYou` is success, and so is
///   `BucketAlreadyExists` when the bucket then answers `HeadBucket` (some
///   compatible stores give that code to the owner too); otherwise it is
///   [`Error::AlreadyExists`] (the name is taken by another account).
/// * Delete removes every object and aborts unfinished multipart uploads before
///   deleting the bucket, so no data remains. A bucket with versioning (enabled
///   or suspended) or object lock would keep its objects as old versions behind
///   delete markers, and S3 would then refuse to delete it: such a delete is
///   [`Error::Unsupported`], found out by reading the bucket's versioning and
///   object lock configuration *before* anything is touched, so the bucket is
///   left as it was (every object still reads). A store that does not implement
///   those calls (`NotImplemented`) has neither; any other error reading them
///   (e.g. a credential without `s3:GetBucketVersioning` or
///   `s3:GetBucketObjectLockConfiguration`) fails the delete, again before
///   anything is touched. Versioning turned on while a delete runs is beyond
///   what S3 lets a client check.
///
/// ```no_run
/// # async fn demo(client: neutrino::s3::S3Client) -> neutrino::Result<()> {
/// use neutrino::provision::{Provisioner, ResourceKind, ResourceSpec};
/// use neutrino::s3::S3Provisioner;
/// let s3 = S3Provisioner::new(client);
/// let bucket = s3
///     .create(&ResourceSpec::new(ResourceKind::Bucket, "k3m9p2xw7q-default-storage"))
///     .await?;
/// let store = s3.bucket(&bucket.name).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct S3Provisioner {
    client: S3Client,
}

impl S3Provisioner {
    /// A provisioner on the service `client` talks to.
    pub fn new(client: S3Client) -> Self {
        Self { client }
    }

    /// The object store of a bucket that exists.
    pub async fn bucket(&self, name: &str) -> Result<S3ObjectStore> {
        self.get(ResourceKind::Bucket, name).await?;
        S3ObjectStore::new(self.client.clone(), name)
    }

    fn resource(name: &str) -> Resource {
        Resource {
            kind: ResourceKind::Bucket,
            name: name.to_owned(),
            provider_id: name.to_owned(),
        }
    }

    async fn head_bucket(&self, name: &str) -> Result<()> {
        self.client
            .sdk
            .head_bucket()
            .bucket(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| map(e, Subject::Bucket(name)))
    }

    /// Refuses, before anything is touched, to delete a bucket whose objects a
    /// delete would only hide: versioning enabled or suspended, or object lock.
    /// `Ok(false)` if the bucket does not exist.
    async fn check_deletable(&self, name: &str) -> Result<bool> {
        let refuse = |why: &str| Error::Unsupported {
            operation: format!(
                "deleting bucket {name}, which has {why} (its objects would only be hidden behind delete markers); nothing was changed"
            ),
            backend: BACKEND,
        };
        match self
            .client
            .sdk
            .get_bucket_versioning()
            .bucket(name)
            .send()
            .await
        {
            Ok(out) => {
                if let Some(status) = out.status() {
                    return Err(refuse(&format!("versioning {}", status.as_str())));
                }
            }
            Err(e) => match code_and_status(&e) {
                (Some("NoSuchBucket"), _) | (_, Some(404)) => return Ok(false),
                (Some("NotImplemented"), _) | (_, Some(501)) => {}
                _ => return Err(map(e, Subject::Bucket(name))),
            },
        }
        match self
            .client
            .sdk
            .get_object_lock_configuration()
            .bucket(name)
            .send()
            .await
        {
            Ok(out) => {
                let enabled = out
                    .object_lock_configuration()
                    .and_then(|c| c.object_lock_enabled())
                    .is_some_and(|e| e.as_str() == "Enabled");
                if enabled {
                    return Err(refuse("object lock"));
                }
            }
            Err(e) => match code_and_status(&e) {
                (Some("ObjectLockConfigurationNotFoundError"), _)
                | (Some("NotImplemented"), _)
                | (_, Some(501)) => {}
                (Some("NoSuchBucket"), _) => return Ok(false),
                _ => return Err(map(e, Subject::Bucket(name))),
            },
        }
        Ok(true)
    }

    /// Deletes every object of the bucket, a page of up to 1000 keys at a time.
    async fn empty(&self, name: &str) -> Result<()> {
        loop {
            let page = self
                .client
                .sdk
                .list_objects_v2()
                .bucket(name)
                .max_keys(1000)
                .send()
                .await
                .map_err(|e| map(e, Subject::Bucket(name)))?;
            let ids = page
                .contents()
                .iter()
                .filter_map(|o| o.key())
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Error::backend(BACKEND, false, e))?;
            if ids.is_empty() {
                return Ok(());
            }
            let delete = Delete::builder()
                .set_objects(Some(ids))
                .quiet(true)
                .build()
                .map_err(|e| Error::backend(BACKEND, false, e))?;
            let out = self
                .client
                .sdk
                .delete_objects()
                .bucket(name)
                .delete(delete)
                .send()
                .await
                .map_err(|e| map(e, Subject::Bucket(name)))?;
            if let Some(failed) = out.errors().first() {
                return Err(Error::backend(
                    BACKEND,
                    true,
                    format!(
                        "emptying bucket {name}: {} objects not deleted, first with code {}",
                        out.errors().len(),
                        failed.code().unwrap_or("unknown")
                    ),
                ));
            }
        }
    }

    /// Aborts every unfinished multipart upload of the bucket.
    async fn abort_uploads(&self, name: &str) -> Result<()> {
        loop {
            let out = self
                .client
                .sdk
                .list_multipart_uploads()
                .bucket(name)
                .send()
                .await
                .map_err(|e| map(e, Subject::Bucket(name)))?;
            if out.uploads().is_empty() {
                return Ok(());
            }
            for u in out.uploads() {
                let (Some(key), Some(id)) = (u.key(), u.upload_id()) else {
                    continue;
                };
                match self
                    .client
                    .sdk
                    .abort_multipart_upload()
                    .bucket(name)
                    .key(key)
                    .upload_id(id)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    // Completed or aborted meanwhile.
                    Err(e) if code_and_status(&e).0 == Some("NoSuchUpload") => {}
                    Err(e) => return Err(map(e, Subject::Bucket(name))),
                }
            }
        }
    }
}

#[async_trait]
impl Provisioner for S3Provisioner {
    fn provider(&self) -> &'static str {
        BACKEND
    }

    fn supports(&self, kind: ResourceKind) -> bool {
        kind == ResourceKind::Bucket
    }

    async fn create(&self, spec: &ResourceSpec) -> Result<Resource> {
        async {
            check_request(self, spec.kind, &spec.name)?;
            let region = self.client.settings.region.as_str();
            let mut req = self.client.sdk.create_bucket().bucket(&spec.name);
            // us-east-1 and R2's `auto` take no location constraint.
            if region != "us-east-1" && region != "auto" {
                req = req.create_bucket_configuration(
                    CreateBucketConfiguration::builder()
                        .location_constraint(BucketLocationConstraint::from(region))
                        .build(),
                );
            }
            match req.send().await {
                Ok(_) => Ok(Self::resource(&spec.name)),
                Err(e) => match code_and_status(&e).0 {
                    Some("BucketAlreadyOwnedByYou") => Ok(Self::resource(&spec.name)),
                    Some("BucketAlreadyExists") => match self.head_bucket(&spec.name).await {
                        Ok(()) => Ok(Self::resource(&spec.name)),
                        Err(_) => Err(Error::AlreadyExists {
                            entity: "bucket",
                            id: spec.name.clone(),
                        }),
                    },
                    _ => Err(map(e, Subject::Bucket(&spec.name))),
                },
            }
        }
        .instrument(port_span(Port::Provision, BACKEND, "create", &spec.name))
        .await
    }

    async fn get(&self, kind: ResourceKind, name: &str) -> Result<Resource> {
        async {
            check_request(self, kind, name)?;
            self.head_bucket(name).await.map_err(|e| match e {
                Error::NotFound { .. } => Error::not_found("resource", format!("{kind} {name}")),
                other => other,
            })?;
            Ok(Self::resource(name))
        }
        .instrument(port_span(Port::Provision, BACKEND, "get", name))
        .await
    }

    async fn delete(&self, kind: ResourceKind, name: &str) -> Result<()> {
        async {
            check_request(self, kind, name)?;
            if !self.check_deletable(name).await? {
                return Ok(());
            }
            let mut last = None;
            for _ in 0..DELETE_ROUNDS {
                let emptied = async {
                    self.abort_uploads(name).await?;
                    self.empty(name).await
                }
                .await;
                match emptied {
                    Ok(()) => {}
                    Err(Error::NotFound { .. }) => return Ok(()),
                    Err(e) => return Err(e),
                }
                match self.client.sdk.delete_bucket().bucket(name).send().await {
                    Ok(_) => return Ok(()),
                    Err(e) => match code_and_status(&e) {
                        (Some("NoSuchBucket"), _) | (_, Some(404)) => return Ok(()),
                        // Written to meanwhile: empty it again.
                        (Some("BucketNotEmpty"), _) => last = Some(map(e, Subject::Bucket(name))),
                        _ => return Err(map(e, Subject::Bucket(name))),
                    },
                }
            }
            Err(last.unwrap_or_else(|| {
                Error::backend(BACKEND, true, format!("bucket {name} did not stay empty"))
            }))
        }
        .instrument(port_span(Port::Provision, BACKEND, "delete", name))
        .await
    }

    async fn list(&self, kind: ResourceKind, prefix: &str) -> Result<Vec<Resource>> {
        async {
            check_kind(self, kind)?;
            let mut names = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let out = self
                    .client
                    .sdk
                    .list_buckets()
                    .set_continuation_token(token.take())
                    .send()
                    .await
                    .map_err(|e| Error::backend(BACKEND, crate::error::is_transient(&e), e))?;
                names.extend(
                    out.buckets()
                        .iter()
                        .filter_map(|b| b.name())
                        .filter(|n| n.starts_with(prefix))
                        .map(str::to_owned),
                );
                match out.continuation_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                    _ => break,
                }
            }
            names.sort();
            names.dedup();
            Ok(names.iter().map(|n| Self::resource(n)).collect())
        }
        .instrument(port_span(Port::Provision, BACKEND, "list", prefix))
        .await
    }
}
