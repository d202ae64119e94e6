//! # neutrino-s3
//!
//! Neutrino's S3 backend: object storage and bucket provisioning on AWS S3,
//! Cloudflare R2 and any S3-compatible store, over the official `aws-sdk-s3`.
//!
//! * [`S3ClientBuilder`] → [`S3Client`]: endpoint, region, path-style
//!   addressing, static credentials (or, with the `default-credentials`
//!   feature, the default AWS chain), an [R2 preset](S3ClientBuilder::r2) and
//!   multipart tuning. Secrets never appear in `Debug`.
//! * [`S3ObjectStore`]: the [`ObjectStore`](neutrino_core::object::ObjectStore)
//!   port over one bucket — multipart uploads above a threshold, listing with
//!   portable cursors (`start-after`), errors mapped to the core kinds.
//! * [`S3Provisioner`]: the [`Provisioner`](neutrino_core::provision::Provisioner)
//!   port for buckets — idempotent create, delete that empties the bucket first.
//!
//! TLS is rustls with the ring provider; the SDK's own retries (standard mode)
//! stay on and are tunable with [`S3ClientBuilder::with_max_attempts`]. Both
//! types pass the conformance suites of `neutrino_core::testkit` against an S3
//! server started in the test process.
//!
//! ```no_run
//! # async fn demo() -> neutrino::Result<()> {
//! use neutrino::object::{ObjectStore, PutOptions};
//! use neutrino::provision::{Provisioner, ResourceKind, ResourceSpec};
//! use neutrino::s3::{S3ClientBuilder, S3Provisioner};
//!
//! let client = S3ClientBuilder::new()
//!     .with_endpoint("http://127.0.0.1:9000")
//!     .with_region("us-east-1")
//!     .with_path_style(true)
//!     .with_credentials("access-key-id", "secret-access-key")
//!     .build()
//!     .await?;
//! let s3 = S3Provisioner::new(client);
//! s3.create(&ResourceSpec::new(ResourceKind::Bucket, "k3m9p2xw7q-default-storage")).await?;
//! let bucket = s3.bucket("k3m9p2xw7q-default-storage").await?;
//! bucket.put("hello.txt", "hi".into(), &PutOptions::default()).await?;
//! assert_eq!(bucket.get("hello.txt").await?.data, "hi");
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod client;
mod error;
mod object;
mod provisioner;

pub use client::{
    DEFAULT_MULTIPART_THRESHOLD, DEFAULT_PART_CONCURRENCY, DEFAULT_PART_SIZE, MAX_PARTS,
    MIN_PART_SIZE, S3Client, S3ClientBuilder,
};
pub use object::S3ObjectStore;
pub use provisioner::S3Provisioner;
