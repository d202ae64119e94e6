//! An S3-compatible server inside the test process, shared by the tests and the
//! benchmark.
//!
//! The protocol side is the `s3s` crate: HTTP routing, SigV4 signature checks
//! (so requests must be signed with the test credentials), aws-chunked bodies and
//! the S3 XML and error formats. Storage is a small in-memory bucket map written
//! here, with the answers real S3 gives: `NoSuchKey`, `NoSuchBucket`,
//! `BucketAlreadyOwnedByYou` for a second create by the owner, `BucketNotEmpty`
//! when deleting a bucket that still has objects (or noncurrent versions),
//! versioning (a delete under versioning, enabled or suspended, keeps the object
//! as a noncurrent version behind a delete marker) and object lock status, byte-ordered listings with
//! `start-after` and continuation tokens, and multipart uploads.
//!
//! `s3s-fs` (the file-system service from the same project) was tried first and
//! differs from S3 where the conformance suite looks: keys become file paths, so
//! a key with a path segment over 255 bytes (the suite's 800-byte key) cannot be
//! stored; a second create of one's own bucket is `BucketAlreadyExists`; and
//! deleting a bucket with objects succeeds instead of `BucketNotEmpty`.
#![allow(dead_code)] // each test binary and the bench use a part of it

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use bytes::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use neutrino_s3::{S3Client, S3ClientBuilder};
use s3s::dto::*;
use s3s::service::S3ServiceBuilder;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The access key ID the server accepts.
pub(crate) const ACCESS_KEY_ID: &str = "neutrino-test-key";
/// Its secret.
pub(crate) const SECRET_ACCESS_KEY: &str = "neutrino-test-secret-do-not-print";
/// The region the server claims.
pub(crate) const REGION: &str = "us-east-1";
/// The largest body the server takes in one request.
const MAX_BODY: usize = 64 * 1024 * 1024;

#[derive(Clone)]
struct Obj {
    data: Bytes,
    content_type: Option<String>,
    metadata: HashMap<String, String>,
    modified: SystemTime,
    etag: String,
}

struct Upload {
    key: String,
    content_type: Option<String>,
    metadata: HashMap<String, String>,
    initiated: SystemTime,
    parts: BTreeMap<i32, (Bytes, String)>,
}

struct BucketData {
    created: SystemTime,
    objects: BTreeMap<String, Obj>,
    uploads: BTreeMap<String, Upload>,
    /// `Enabled` or `Suspended` once versioning was configured.
    versioning: Option<String>,
    /// Object versions that are no longer current (a delete under versioning
    /// hides the object behind a delete marker and keeps it here).
    noncurrent: Vec<(String, Obj)>,
    /// Whether object lock is on.
    object_lock: bool,
}

impl BucketData {
    fn new() -> Self {
        Self {
            created: SystemTime::now(),
            objects: BTreeMap::new(),
            uploads: BTreeMap::new(),
            versioning: None,
            noncurrent: Vec::new(),
            object_lock: false,
        }
    }

    /// Deletes the current version of `key`: gone when versioning was never
    /// configured, kept as a noncurrent version (behind a delete marker)
    /// otherwise, as S3 does.
    fn delete_current(&mut self, key: &str) {
        if let Some(obj) = self.objects.remove(key)
            && self.versioning.is_some()
        {
            self.noncurrent.push((key.to_owned(), obj));
        }
    }
}

#[derive(Default)]
struct State {
    buckets: BTreeMap<String, BucketData>,
    next_upload: u64,
}

/// The in-memory storage behind the server.
#[derive(Clone, Default)]
struct MemS3 {
    state: Arc<Mutex<State>>,
    faults: Arc<Faults>,
}

/// Errors to answer to the next object reads, for error-mapping tests.
#[derive(Default)]
struct Faults {
    remaining: AtomicU32,
    code: Mutex<Option<S3ErrorCode>>,
}

impl std::fmt::Debug for MemS3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemS3")
    }
}

fn etag_of(data: &[u8]) -> String {
    let mut h = DefaultHasher::new();
    data.hash(&mut h);
    format!("{:016x}{:08x}", h.finish(), data.len())
}

async fn read_body(body: Option<StreamingBlob>) -> S3Result<Bytes> {
    match body {
        None => Ok(Bytes::new()),
        Some(b) => s3s::Body::from(b)
            .store_all_limited(MAX_BODY)
            .await
            .map_err(|e| S3Error::with_message(S3ErrorCode::IncompleteBody, e.to_string())),
    }
}

impl MemS3 {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn injected_fault(&self) -> S3Result<()> {
        let took = self
            .faults
            .remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if took {
            let code = self
                .faults
                .code
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
                .unwrap_or(S3ErrorCode::InternalError);
            return Err(S3Error::new(code));
        }
        Ok(())
    }
}

fn bucket<'a>(state: &'a mut State, name: &str) -> S3Result<&'a mut BucketData> {
    state
        .buckets
        .get_mut(name)
        .ok_or_else(|| s3_error!(NoSuchBucket))
}

#[async_trait::async_trait]
impl S3 for MemS3 {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let mut st = self.lock();
        if st.buckets.contains_key(&req.input.bucket) {
            return Err(s3_error!(BucketAlreadyOwnedByYou));
        }
        let mut data = BucketData::new();
        data.object_lock = req.input.object_lock_enabled_for_bucket == Some(true);
        if data.object_lock {
            // S3 turns versioning on with object lock.
            data.versioning = Some(BucketVersioningStatus::ENABLED.to_owned());
        }
        st.buckets.insert(req.input.bucket, data);
        Ok(S3Response::new(CreateBucketOutput::default()))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        bucket(&mut self.lock(), &req.input.bucket)?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let mut st = self.lock();
        let b = bucket(&mut st, &req.input.bucket)?;
        if !b.objects.is_empty() || !b.uploads.is_empty() || !b.noncurrent.is_empty() {
            return Err(s3_error!(BucketNotEmpty));
        }
        st.buckets.remove(&req.input.bucket);
        Ok(S3Response::new(DeleteBucketOutput::default()))
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let st = self.lock();
        let prefix = req.input.prefix.unwrap_or_default();
        let buckets = st
            .buckets
            .iter()
            .filter(|(n, _)| n.starts_with(&prefix))
            .map(|(n, b)| Bucket {
                name: Some(n.clone()),
                creation_date: Some(b.created.into()),
                bucket_region: None,
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            ..Default::default()
        }))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        let data = read_body(input.body).await?;
        let etag = etag_of(&data);
        let mut st = self.lock();
        let b = bucket(&mut st, &input.bucket)?;
        b.objects.insert(
            input.key,
            Obj {
                data,
                content_type: input.content_type,
                metadata: input.metadata.unwrap_or_default(),
                modified: SystemTime::now(),
                etag: etag.clone(),
            },
        );
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.injected_fault()?;
        let obj = {
            let mut st = self.lock();
            let b = bucket(&mut st, &req.input.bucket)?;
            b.objects
                .get(&req.input.key)
                .cloned()
                .ok_or_else(|| s3_error!(NoSuchKey))?
        };
        Ok(S3Response::new(GetObjectOutput {
            content_length: Some(obj.data.len() as i64),
            body: Some(StreamingBlob::from(s3s::Body::from(obj.data))),
            content_type: Some(
                obj.content_type
                    .unwrap_or_else(|| "binary/octet-stream".to_owned()),
            ),
            metadata: Some(obj.metadata),
            last_modified: Some(obj.modified.into()),
            e_tag: Some(ETag::Strong(obj.etag)),
            ..Default::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.injected_fault()?;
        let mut st = self.lock();
        let b = bucket(&mut st, &req.input.bucket)?;
        let obj = b
            .objects
            .get(&req.input.key)
            .ok_or_else(|| s3_error!(NoSuchKey))?;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(obj.data.len() as i64),
            // S3's answer for an object stored without a content type.
            content_type: Some(
                obj.content_type
                    .clone()
                    .unwrap_or_else(|| "binary/octet-stream".to_owned()),
            ),
            metadata: Some(obj.metadata.clone()),
            last_modified: Some(obj.modified.into()),
            e_tag: Some(ETag::Strong(obj.etag.clone())),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let mut st = self.lock();
        bucket(&mut st, &req.input.bucket)?.delete_current(&req.input.key);
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        let mut st = self.lock();
        let b = bucket(&mut st, &input.bucket)?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        for id in input.delete.objects {
            b.delete_current(&id.key);
            if !quiet {
                deleted.push(DeletedObject {
                    key: Some(id.key),
                    ..Default::default()
                });
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let max = input.max_keys.unwrap_or(1000).clamp(0, 1000) as usize;
        let prefix = input.prefix.clone().unwrap_or_default();
        // As S3: the continuation token wins over start-after.
        let after = input
            .continuation_token
            .clone()
            .or_else(|| input.start_after.clone());
        let mut st = self.lock();
        let b = bucket(&mut st, &input.bucket)?;
        let mut matching = b
            .objects
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| after.as_ref().is_none_or(|a| k.as_str() > a.as_str()));
        let contents: Vec<Object> = matching
            .by_ref()
            .take(max)
            .map(|(k, o)| Object {
                key: Some(k.clone()),
                size: Some(o.data.len() as i64),
                last_modified: Some(o.modified.into()),
                e_tag: Some(ETag::Strong(o.etag.clone())),
                ..Default::default()
            })
            .collect();
        let truncated = matching.next().is_some();
        let next = if truncated {
            contents.last().and_then(|o| o.key.clone())
        } else {
            None
        };
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: input.prefix,
            max_keys: Some(max as i32),
            key_count: Some(contents.len() as i32),
            is_truncated: Some(truncated),
            contents: Some(contents),
            continuation_token: input.continuation_token,
            next_continuation_token: next,
            start_after: input.start_after,
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        let mut st = self.lock();
        st.next_upload += 1;
        let id = format!("upload-{}", st.next_upload);
        let b = bucket(&mut st, &input.bucket)?;
        b.uploads.insert(
            id.clone(),
            Upload {
                key: input.key.clone(),
                content_type: input.content_type,
                metadata: input.metadata.unwrap_or_default(),
                initiated: SystemTime::now(),
                parts: BTreeMap::new(),
            },
        );
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(id),
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        let data = read_body(input.body).await?;
        let etag = etag_of(&data);
        let mut st = self.lock();
        let b = bucket(&mut st, &input.bucket)?;
        let upload = b
            .uploads
            .get_mut(&input.upload_id)
            .filter(|u| u.key == input.key)
            .ok_or_else(|| s3_error!(NoSuchUpload))?;
        upload.parts.insert(input.part_number, (data, etag.clone()));
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let mut st = self.lock();
        let b = bucket(&mut st, &input.bucket)?;
        let upload = b
            .uploads
            .get(&input.upload_id)
            .filter(|u| u.key == input.key)
            .ok_or_else(|| s3_error!(NoSuchUpload))?;
        let listed = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default();
        if listed.is_empty() {
            return Err(s3_error!(MalformedXML));
        }
        let mut data = Vec::new();
        let mut last = 0;
        for (i, part) in listed.iter().enumerate() {
            let n = part.part_number.unwrap_or(0);
            if n <= last {
                return Err(s3_error!(InvalidPartOrder));
            }
            last = n;
            let (bytes, etag) = upload.parts.get(&n).ok_or_else(|| s3_error!(InvalidPart))?;
            let given = part.e_tag.as_ref().map(|e| match e {
                ETag::Strong(s) | ETag::Weak(s) => s.as_str(),
            });
            if given != Some(etag.as_str()) {
                return Err(s3_error!(InvalidPart));
            }
            // As S3 and R2: every part but the last is at least 5 MiB.
            if i + 1 < listed.len() && bytes.len() < 5 * 1024 * 1024 {
                return Err(s3_error!(EntityTooSmall));
            }
            data.extend_from_slice(bytes);
        }
        let upload = b
            .uploads
            .remove(&input.upload_id)
            .ok_or_else(|| s3_error!(NoSuchUpload))?;
        let data = Bytes::from(data);
        let etag = format!("{}-{}", etag_of(&data), listed.len());
        b.objects.insert(
            input.key.clone(),
            Obj {
                data,
                content_type: upload.content_type,
                metadata: upload.metadata,
                modified: SystemTime::now(),
                etag: etag.clone(),
            },
        );
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let mut st = self.lock();
        let b = bucket(&mut st, &req.input.bucket)?;
        b.uploads
            .remove(&req.input.upload_id)
            .ok_or_else(|| s3_error!(NoSuchUpload))?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let mut st = self.lock();
        let b = bucket(&mut st, &req.input.bucket)?;
        let status = req
            .input
            .versioning_configuration
            .status
            .ok_or_else(|| s3_error!(MalformedXML))?;
        b.versioning = Some(status.as_str().to_owned());
        Ok(S3Response::new(PutBucketVersioningOutput::default()))
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let mut st = self.lock();
        let b = bucket(&mut st, &req.input.bucket)?;
        Ok(S3Response::new(GetBucketVersioningOutput {
            status: b.versioning.clone().map(BucketVersioningStatus::from),
            ..Default::default()
        }))
    }

    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        let mut st = self.lock();
        let b = bucket(&mut st, &req.input.bucket)?;
        if !b.object_lock {
            return Err(s3_error!(ObjectLockConfigurationNotFoundError));
        }
        Ok(S3Response::new(GetObjectLockConfigurationOutput {
            object_lock_configuration: Some(ObjectLockConfiguration {
                object_lock_enabled: Some(ObjectLockEnabled::from_static(
                    ObjectLockEnabled::ENABLED,
                )),
                rule: None,
            }),
        }))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let mut st = self.lock();
        let b = bucket(&mut st, &req.input.bucket)?;
        let uploads = b
            .uploads
            .iter()
            .take(1000)
            .map(|(id, u)| MultipartUpload {
                key: Some(u.key.clone()),
                upload_id: Some(id.clone()),
                initiated: Some(u.initiated.into()),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(req.input.bucket),
            is_truncated: Some(b.uploads.len() > 1000),
            uploads: Some(uploads),
            ..Default::default()
        }))
    }
}

/// A running server; it stops when dropped.
pub(crate) struct Server {
    /// `http://127.0.0.1:{port}`.
    pub(crate) endpoint: String,
    storage: MemS3,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Starts a server on a free loopback port, on the current tokio runtime.
    pub(crate) async fn start() -> Self {
        let storage = MemS3::default();
        let service = {
            let mut b = S3ServiceBuilder::new(storage.clone());
            b.set_auth(s3s::auth::SimpleAuth::from_single(
                ACCESS_KEY_ID,
                SECRET_ACCESS_KEY,
            ));
            b.build()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let conn = http
                    .serve_connection(TokioIo::new(stream), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        Self {
            endpoint,
            storage,
            task,
        }
    }

    /// A builder for this server: endpoint, region, path style, credentials.
    pub(crate) fn builder(&self) -> S3ClientBuilder {
        S3ClientBuilder::new()
            .with_endpoint(&self.endpoint)
            .with_region(REGION)
            .with_path_style(true)
            .with_credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    }

    /// A client of this server with the default tuning.
    pub(crate) async fn client(&self) -> S3Client {
        self.builder().build().await.expect("client")
    }

    /// Creates a bucket directly in the storage.
    pub(crate) fn create_bucket(&self, name: &str) {
        self.storage
            .lock()
            .buckets
            .insert(name.to_owned(), BucketData::new());
    }

    /// Sets a bucket's versioning status (`Enabled` or `Suspended`) directly in
    /// the storage.
    pub(crate) fn set_versioning(&self, bucket: &str, status: &str) {
        self.storage
            .lock()
            .buckets
            .get_mut(bucket)
            .expect("bucket")
            .versioning = Some(status.to_owned());
    }

    /// Turns object lock on for a bucket directly in the storage (with
    /// versioning, as S3 does).
    pub(crate) fn enable_object_lock(&self, bucket: &str) {
        let mut st = self.storage.lock();
        let b = st.buckets.get_mut(bucket).expect("bucket");
        b.object_lock = true;
        b.versioning = Some("Enabled".to_owned());
    }

    /// Lifts versioning and object lock and forgets noncurrent versions, as
    /// if the bucket had never had them.
    pub(crate) fn clear_versions(&self, bucket: &str) {
        let mut st = self.storage.lock();
        let b = st.buckets.get_mut(bucket).expect("bucket");
        b.object_lock = false;
        b.versioning = None;
        b.noncurrent.clear();
    }

    /// Whether the storage holds the bucket.
    pub(crate) fn has_bucket(&self, name: &str) -> bool {
        self.storage.lock().buckets.contains_key(name)
    }

    /// How many objects and unfinished uploads all buckets hold.
    pub(crate) fn stored_items(&self) -> usize {
        self.storage
            .lock()
            .buckets
            .values()
            .map(|b| b.objects.len() + b.uploads.len() + b.noncurrent.len())
            .sum()
    }

    /// Starts a multipart upload directly in the storage and leaves it open.
    pub(crate) fn leave_open_upload(&self, bucket: &str, key: &str) {
        let mut st = self.storage.lock();
        st.next_upload += 1;
        let id = format!("upload-{}", st.next_upload);
        st.buckets.get_mut(bucket).expect("bucket").uploads.insert(
            id,
            Upload {
                key: key.to_owned(),
                content_type: None,
                metadata: HashMap::new(),
                initiated: SystemTime::now(),
                parts: BTreeMap::from([(1, (Bytes::from_static(b"part"), etag_of(b"part")))]),
            },
        );
    }

    /// Answers the next `n` object reads with the error `code`.
    pub(crate) fn fail_reads(&self, n: u32, code: S3ErrorCode) {
        *self
            .storage
            .faults
            .code
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(code);
        self.storage.faults.remaining.store(n, Ordering::SeqCst);
    }
}
