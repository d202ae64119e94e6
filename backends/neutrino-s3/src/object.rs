//! [`S3ObjectStore`]: the object-store port over one S3 bucket.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use neutrino_core::object::{
    ListedObject, Object, ObjectMeta, ObjectPage, ObjectStore, PutOptions, validate_key,
    validate_list,
};
use neutrino_core::trace::{Port, port_span};
use neutrino_core::{Error, Result};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::S3Client;
use crate::error::{BACKEND, Subject, map};

/// A user-metadata name that marks an object stored without a content type.
///
/// S3 answers a default content type (`binary/octet-stream`) for such objects,
/// which would read back as if the caller had chosen it. The `.` keeps the name
/// out of the names [`PutOptions`] allows, so it can never collide with one.
const NO_CONTENT_TYPE: &str = "neutrino.no-content-type";

/// An [`ObjectStore`] over one bucket of an S3-compatible service.
///
/// * Puts of up to the client's multipart threshold are one `PutObject`; larger
///   ones a multipart upload whose parts are slices of the caller's [`Bytes`]
///   (no copy), sent a few at a time and aborted on failure.
/// * Gets read the body into one [`Bytes`].
/// * Listing is `ListObjectsV2` with `start-after` set to the cursor, so a cursor
///   is the last key returned and works on any backend.
/// * A missing key is [`Error::NotFound`]; throttling, timeouts, transport
///   failures and 5xx answers are retryable [`Error::Backend`]s.
/// * The [`ObjectMeta`] a put returns carries the local time the upload
///   finished; [`ObjectStore::head`] gives the service's own time.
///
/// ```no_run
/// # async fn demo() -> neutrino::Result<()> {
/// use neutrino::object::{ObjectStore, PutOptions};
/// use neutrino::s3::{S3ClientBuilder, S3ObjectStore};
/// let client = S3ClientBuilder::r2("0123456789abcdef0123456789abcdef")
///     .with_credentials("key-id", "secret")
///     .build()
///     .await?;
/// let bucket = S3ObjectStore::new(client, "k3m9p2xw7q-default-storage")?;
/// bucket.put("avatars/u1.png", vec![1, 2, 3].into(), &PutOptions::default()).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct S3ObjectStore {
    client: S3Client,
    bucket: String,
}

/// Checks a bucket name loosely: S3's own rules (3-63 characters of `a-z0-9.-`),
/// so buckets made outside Neutrino can be opened too.
fn check_bucket(bucket: &str) -> Result<()> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "bucket name",
            "must be 3-63 characters of a-z0-9.-",
        ))
    }
}

fn system_time(t: Option<&DateTime>) -> SystemTime {
    t.and_then(|t| SystemTime::try_from(*t).ok())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn size(len: Option<i64>) -> u64 {
    len.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
}

/// The SDK request `$op` on `$key` in the store's bucket, ready to send.
macro_rules! on_key {
    ($store:ident, $op:ident, $key:expr) => {
        $store.client.sdk.$op().bucket(&$store.bucket).key($key)
    };
}

/// An object's metadata as the port shows it, from S3's answer.
fn object_meta(
    key: &str,
    size: u64,
    last_modified: Option<&DateTime>,
    content_type: Option<&str>,
    metadata: Option<&HashMap<String, String>>,
) -> ObjectMeta {
    let (content_type, metadata) = port_meta(content_type, metadata);
    ObjectMeta {
        key: key.to_owned(),
        size,
        last_modified: system_time(last_modified),
        content_type,
        metadata,
    }
}

/// The content type and user metadata as the port shows them.
fn port_meta(
    content_type: Option<&str>,
    metadata: Option<&HashMap<String, String>>,
) -> (Option<String>, BTreeMap<String, String>) {
    let mut out: BTreeMap<String, String> = metadata
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let unset = out.remove(NO_CONTENT_TYPE).is_some();
    let content_type = if unset {
        None
    } else {
        content_type.map(str::to_owned)
    };
    (content_type, out)
}

/// The user metadata sent with a put.
fn wire_meta(opts: &PutOptions) -> HashMap<String, String> {
    let mut m: HashMap<String, String> = opts
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if opts.content_type.is_none() {
        m.insert(NO_CONTENT_TYPE.to_owned(), "1".to_owned());
    }
    m
}

impl S3ObjectStore {
    /// The store of `bucket` (which should exist; calls on a missing bucket are
    /// [`Error::NotFound`]).
    pub fn new(client: S3Client, bucket: impl Into<String>) -> Result<Self> {
        let bucket = bucket.into();
        check_bucket(&bucket)?;
        Ok(Self { client, bucket })
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The client this store calls through.
    pub fn client(&self) -> &S3Client {
        &self.client
    }

    fn span(&self, op: &'static str) -> tracing::Span {
        port_span(Port::Object, BACKEND, op, &self.bucket)
    }

    fn subject<'a>(&'a self, key: &'a str) -> Subject<'a> {
        Subject::Object {
            bucket: &self.bucket,
            key,
        }
    }

    async fn put_single(&self, key: &str, data: Bytes, opts: &PutOptions) -> Result<()> {
        self.client
            .sdk
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .set_content_type(opts.content_type.clone())
            .set_metadata(Some(wire_meta(opts)))
            .content_length(i64::try_from(data.len()).unwrap_or(i64::MAX))
            .body(ByteStream::from(data))
            .send()
            .await
            .map_err(|e| map(e, self.subject(key)))?;
        Ok(())
    }

    async fn put_multipart(&self, key: &str, data: Bytes, opts: &PutOptions) -> Result<()> {
        let s = &self.client.settings;
        // Grow the part size if the object would need more than MAX_PARTS parts.
        let part_size = s
            .part_size
            .max(data.len().div_ceil(crate::client::MAX_PARTS));
        let created = self
            .client
            .sdk
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .set_content_type(opts.content_type.clone())
            .set_metadata(Some(wire_meta(opts)))
            .send()
            .await
            .map_err(|e| map(e, self.subject(key)))?;
        let Some(upload_id) = created.upload_id().map(str::to_owned) else {
            return Err(Error::backend(
                BACKEND,
                false,
                "create multipart upload answered no upload id",
            ));
        };
        match self.upload_parts(key, &upload_id, data, part_size).await {
            Ok(parts) => self
                .client
                .sdk
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map(|_| ())
                .map_err(|e| map(e, self.subject(key))),
            Err(e) => {
                // Best effort: an upload left behind holds storage until aborted
                // (the provisioner's delete aborts leftovers too).
                let _ = self
                    .client
                    .sdk
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .send()
                    .await;
                Err(e)
            }
        }
    }

    /// Uploads `data` in parts of `part_size`, at most `part_concurrency` at once;
    /// returns the completed parts in order.
    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        data: Bytes,
        part_size: usize,
    ) -> Result<Vec<CompletedPart>> {
        let ranges: Vec<(i32, usize, usize)> = (0..data.len())
            .step_by(part_size)
            .enumerate()
            .map(|(i, start)| {
                let n = i32::try_from(i + 1).unwrap_or(i32::MAX);
                (n, start, (start + part_size).min(data.len()))
            })
            .collect();
        let mut pending = ranges.into_iter();
        let mut tasks: JoinSet<Result<CompletedPart>> = JoinSet::new();
        let mut done = Vec::new();
        let spawn = |tasks: &mut JoinSet<Result<CompletedPart>>, (n, a, b): (i32, usize, usize)| {
            let sdk = self.client.sdk.clone();
            let bucket = self.bucket.clone();
            let key = key.to_owned();
            let upload_id = upload_id.to_owned();
            let body = data.slice(a..b);
            let len = i64::try_from(b - a).unwrap_or(i64::MAX);
            tasks.spawn(
                async move {
                    let out = sdk
                        .upload_part()
                        .bucket(&bucket)
                        .key(&key)
                        .upload_id(upload_id)
                        .part_number(n)
                        .content_length(len)
                        .body(ByteStream::from(body))
                        .send()
                        .await
                        .map_err(|e| {
                            map(
                                e,
                                Subject::Object {
                                    bucket: &bucket,
                                    key: &key,
                                },
                            )
                        })?;
                    Ok(CompletedPart::builder()
                        .part_number(n)
                        .set_e_tag(out.e_tag().map(str::to_owned))
                        .set_checksum_crc32(out.checksum_crc32().map(str::to_owned))
                        .set_checksum_crc32_c(out.checksum_crc32_c().map(str::to_owned))
                        .set_checksum_sha1(out.checksum_sha1().map(str::to_owned))
                        .set_checksum_sha256(out.checksum_sha256().map(str::to_owned))
                        .build())
                }
                .in_current_span(),
            );
        };
        for range in pending.by_ref().take(self.client.settings.part_concurrency) {
            spawn(&mut tasks, range);
        }
        while let Some(joined) = tasks.join_next().await {
            let part = match joined {
                Ok(part) => part,
                Err(e) => Err(Error::backend(BACKEND, false, e)),
            };
            match part {
                Ok(part) => done.push(part),
                Err(e) => {
                    tasks.abort_all();
                    return Err(e);
                }
            }
            if let Some(range) = pending.next() {
                spawn(&mut tasks, range);
            }
        }
        done.sort_by_key(|p| p.part_number());
        Ok(done)
    }
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn put(&self, key: &str, data: Bytes, opts: &PutOptions) -> Result<ObjectMeta> {
        async {
            validate_key(key)?;
            opts.validate()?;
            let len = data.len() as u64;
            if data.len() > self.client.settings.multipart_threshold {
                self.put_multipart(key, data, opts).await?;
            } else {
                self.put_single(key, data, opts).await?;
            }
            Ok(ObjectMeta {
                key: key.to_owned(),
                size: len,
                last_modified: SystemTime::now(),
                content_type: opts.content_type.clone(),
                metadata: opts.metadata.clone(),
            })
        }
        .instrument(self.span("put"))
        .await
    }

    async fn get(&self, key: &str) -> Result<Object> {
        async {
            validate_key(key)?;
            let out = on_key!(self, get_object, key)
                .send()
                .await
                .map_err(|e| map(e, self.subject(key)))?;
            let mut meta = object_meta(
                key,
                0,
                out.last_modified(),
                out.content_type(),
                out.metadata(),
            );
            let data = out
                .body
                .collect()
                .await
                .map_err(|e| Error::backend(BACKEND, true, e))?
                .into_bytes();
            meta.size = data.len() as u64;
            Ok(Object { meta, data })
        }
        .instrument(self.span("get"))
        .await
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        async {
            validate_key(key)?;
            let out = on_key!(self, head_object, key)
                .send()
                .await
                .map_err(|e| map(e, self.subject(key)))?;
            Ok(object_meta(
                key,
                size(out.content_length()),
                out.last_modified(),
                out.content_type(),
                out.metadata(),
            ))
        }
        .instrument(self.span("head"))
        .await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        async {
            validate_key(key)?;
            match on_key!(self, delete_object, key).send().await {
                Ok(_) => Ok(()),
                // S3 answers success for a missing key; some compatible stores 404.
                Err(e) => match map(e, self.subject(key)) {
                    Error::NotFound {
                        entity: "object", ..
                    } => Ok(()),
                    other => Err(other),
                },
            }
        }
        .instrument(self.span("delete"))
        .await
    }

    async fn list(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<ObjectPage> {
        async {
            validate_list(prefix, limit)?;
            let max_keys = i32::try_from(limit).unwrap_or(i32::MAX);
            let mut token: Option<String> = None;
            loop {
                let out = self
                    .client
                    .sdk
                    .list_objects_v2()
                    .bucket(&self.bucket)
                    .prefix(prefix)
                    .set_start_after(cursor.map(str::to_owned))
                    .set_continuation_token(token.take())
                    .max_keys(max_keys)
                    .send()
                    .await
                    .map_err(|e| map(e, Subject::Bucket(&self.bucket)))?;
                let truncated = out.is_truncated().unwrap_or(false);
                let objects: Vec<ListedObject> = out
                    .contents()
                    .iter()
                    .filter_map(|o| {
                        Some(ListedObject {
                            key: o.key()?.to_owned(),
                            size: size(o.size()),
                            last_modified: system_time(o.last_modified()),
                        })
                    })
                    .collect();
                if objects.is_empty() && truncated {
                    // An empty but truncated page: follow the service's own token.
                    match out.next_continuation_token() {
                        Some(t) => {
                            token = Some(t.to_owned());
                            continue;
                        }
                        None => return Ok(ObjectPage::default()),
                    }
                }
                let cursor = if truncated {
                    objects.last().map(|o| o.key.clone())
                } else {
                    None
                };
                return Ok(ObjectPage { objects, cursor });
            }
        }
        .instrument(self.span("list"))
        .await
    }
}
