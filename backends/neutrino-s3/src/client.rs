//! [`S3ClientBuilder`] and [`S3Client`]: where the store is and how to sign in.

use std::fmt;
use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use aws_smithy_http_client::tls;
use neutrino_core::{Error, Result};

use crate::error::BACKEND;

/// Objects larger than this are uploaded in parts by default (8 MiB).
pub const DEFAULT_MULTIPART_THRESHOLD: usize = 8 * 1024 * 1024;
/// The default part size of a multipart upload (8 MiB).
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;
/// The smallest part S3 and R2 accept (5 MiB), and so the smallest part size.
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// The most parts one multipart upload may have.
pub const MAX_PARTS: usize = 10_000;
/// How many parts of one upload are sent at once by default.
pub const DEFAULT_PART_CONCURRENCY: usize = 4;

/// The region R2 expects.
const R2_REGION: &str = "auto";

/// Where the credentials come from.
#[derive(Clone)]
enum CredentialSource {
    /// An access key ID and its secret.
    Static {
        access_key_id: String,
        secret_access_key: String,
    },
    /// The default AWS chain (environment, profiles, web identity, metadata).
    #[cfg(feature = "default-credentials")]
    DefaultChain,
    /// None chosen yet: `build` refuses.
    Unset,
}

impl fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Neither the secret nor the key ID is printed.
        f.write_str(match self {
            Self::Static { .. } => "static",
            #[cfg(feature = "default-credentials")]
            Self::DefaultChain => "default chain",
            Self::Unset => "unset",
        })
    }
}

/// Builds an [`S3Client`]: endpoint, region, addressing style, credentials and
/// upload tuning.
///
/// AWS S3 needs only a region and credentials; R2 and other S3-compatible stores
/// an endpoint too ([`S3ClientBuilder::r2`] fills in R2's). `Debug` never shows
/// the credentials.
///
/// ```
/// use neutrino::s3::S3ClientBuilder;
/// let builder = S3ClientBuilder::r2("0123456789abcdef0123456789abcdef")
///     .with_credentials("key-id", "top-secret");
/// assert_eq!(
///     builder.endpoint(),
///     Some("https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com")
/// );
/// assert!(!format!("{builder:?}").contains("top-secret"));
/// ```
#[derive(Clone, Debug)]
pub struct S3ClientBuilder {
    endpoint: Option<String>,
    region: Option<String>,
    path_style: bool,
    credentials: CredentialSource,
    multipart_threshold: usize,
    part_size: usize,
    part_concurrency: usize,
    max_attempts: Option<u32>,
    connect_timeout: Duration,
}

impl Default for S3ClientBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl S3ClientBuilder {
    /// A builder with no endpoint (AWS S3), no region and no credentials yet.
    pub fn new() -> Self {
        Self {
            endpoint: None,
            region: None,
            path_style: false,
            credentials: CredentialSource::Unset,
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
            part_size: DEFAULT_PART_SIZE,
            part_concurrency: DEFAULT_PART_CONCURRENCY,
            max_attempts: None,
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// Cloudflare R2 of the account `account_id`: endpoint
    /// `https://{account_id}.r2.cloudflarestorage.com`, region `auto`, path-style
    /// addressing. Add the credentials of an R2 API token.
    pub fn r2(account_id: &str) -> Self {
        Self::new()
            .with_endpoint(format!("https://{account_id}.r2.cloudflarestorage.com"))
            .with_region(R2_REGION)
            .with_path_style(true)
    }

    /// The endpoint URL, e.g. `http://127.0.0.1:9000` (default: AWS S3's own).
    pub fn with_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The region, e.g. `eu-west-1`, or `auto` for R2.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Path-style addressing (`{endpoint}/{bucket}/{key}`) instead of
    /// virtual-hosted style (`{bucket}.{endpoint}/{key}`).
    pub fn with_path_style(mut self, path_style: bool) -> Self {
        self.path_style = path_style;
        self
    }

    /// A static access key ID and secret.
    pub fn with_credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        self.credentials = CredentialSource::Static {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
        };
        self
    }

    /// Credentials from the default AWS chain: environment variables, profile
    /// files, web identity, container and instance metadata (feature
    /// `default-credentials`; SSO and `credential_process` profiles are not
    /// compiled in).
    #[cfg(feature = "default-credentials")]
    pub fn with_default_credentials(mut self) -> Self {
        self.credentials = CredentialSource::DefaultChain;
        self
    }

    /// Objects larger than `bytes` are uploaded in parts (default 8 MiB).
    pub fn with_multipart_threshold(mut self, bytes: usize) -> Self {
        self.multipart_threshold = bytes;
        self
    }

    /// The size of each part but the last of a multipart upload (default 8 MiB,
    /// at least 5 MiB).
    pub fn with_part_size(mut self, bytes: usize) -> Self {
        self.part_size = bytes;
        self
    }

    /// How many parts of one upload are sent at once (default 4).
    pub fn with_part_concurrency(mut self, parts: usize) -> Self {
        self.part_concurrency = parts;
        self
    }

    /// How many times the SDK tries a call that failed in a retryable way
    /// (default: the SDK's standard mode, 3); `1` turns its retries off.
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// How long to wait for a connection (default 10 s).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The endpoint set, if any.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// The region set, if any.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// Checks the settings and builds the client (with the default chain, this
    /// resolves where credentials come from; it fetches none yet).
    pub async fn build(self) -> Result<S3Client> {
        let bad = |key: &'static str, reason: &str| Error::Config {
            backend: BACKEND,
            key,
            reason: reason.to_owned(),
        };
        let region = match self.region.as_deref() {
            Some(r) if !r.is_empty() && r.bytes().all(|b| b.is_ascii_graphic()) => r.to_owned(),
            Some(_) => return Err(bad("region", "must be non-empty printable ascii")),
            None => return Err(bad("region", "must be set (use \"auto\" for r2)")),
        };
        if let Some(url) = &self.endpoint {
            let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
            if !scheme_ok || url.contains(char::is_whitespace) {
                return Err(bad("endpoint", "must be an http or https url"));
            }
        }
        if self.part_size < MIN_PART_SIZE {
            return Err(bad("part_size", "must be at least 5 MiB"));
        }
        if self.multipart_threshold == 0 {
            return Err(bad("multipart_threshold", "must be at least 1 byte"));
        }
        if self.part_concurrency == 0 {
            return Err(bad("part_concurrency", "must be at least 1"));
        }
        if self.max_attempts == Some(0) {
            return Err(bad("max_attempts", "must be at least 1"));
        }
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let credentials = match self.credentials {
            CredentialSource::Static {
                access_key_id,
                secret_access_key,
            } => {
                if access_key_id.is_empty() || secret_access_key.is_empty() {
                    return Err(bad("credentials", "key id and secret must be non-empty"));
                }
                SharedCredentialsProvider::new(Credentials::new(
                    access_key_id,
                    secret_access_key,
                    None,
                    None,
                    "neutrino-static",
                ))
            }
            #[cfg(feature = "default-credentials")]
            CredentialSource::DefaultChain => {
                // The chain's own calls (STS, container and instance metadata) go
                // through the same client as the S3 calls.
                let provider_config = aws_config::provider_config::ProviderConfig::default()
                    .with_http_client(http.clone())
                    .with_region(Some(Region::new(region.clone())));
                let chain =
                    aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                        .configure(provider_config)
                        .region(Region::new(region.clone()))
                        .build()
                        .await;
                SharedCredentialsProvider::new(chain)
            }
            CredentialSource::Unset => {
                return Err(bad("credentials", "must be set"));
            }
        };
        let mut conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.clone()))
            .credentials_provider(credentials)
            .force_path_style(self.path_style)
            .http_client(http)
            .timeout_config(
                aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(self.connect_timeout)
                    .build(),
            );
        if let Some(url) = &self.endpoint {
            conf = conf.endpoint_url(url);
        }
        if let Some(n) = self.max_attempts {
            conf = conf.retry_config(
                aws_sdk_s3::config::retry::RetryConfig::standard().with_max_attempts(n),
            );
        }
        Ok(S3Client {
            sdk: aws_sdk_s3::Client::from_conf(conf.build()),
            settings: Settings {
                region,
                endpoint: self.endpoint,
                multipart_threshold: self.multipart_threshold,
                part_size: self.part_size,
                part_concurrency: self.part_concurrency,
            },
        })
    }
}

/// Tuning shared by the stores and provisioner of one client.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) region: String,
    pub(crate) endpoint: Option<String>,
    pub(crate) multipart_threshold: usize,
    pub(crate) part_size: usize,
    pub(crate) part_concurrency: usize,
}

/// A connection to one S3-compatible service, shared by the
/// [`S3ObjectStore`](crate::S3ObjectStore)s and the
/// [`S3Provisioner`](crate::S3Provisioner) made from it. Cheap to clone.
#[derive(Clone)]
pub struct S3Client {
    pub(crate) sdk: aws_sdk_s3::Client,
    pub(crate) settings: Settings,
}

impl fmt::Debug for S3Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Client")
            .field("endpoint", &self.settings.endpoint)
            .field("region", &self.settings.region)
            .field("multipart_threshold", &self.settings.multipart_threshold)
            .field("part_size", &self.settings.part_size)
            .finish_non_exhaustive()
    }
}

impl S3Client {
    /// A client over an `aws_sdk_s3::Client` the host app configured itself, with
    /// the default upload tuning. `region` is the one bucket creation asks for.
    pub fn from_sdk(sdk: aws_sdk_s3::Client, region: impl Into<String>) -> Self {
        Self {
            sdk,
            settings: Settings {
                region: region.into(),
                endpoint: None,
                multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
                part_size: DEFAULT_PART_SIZE,
                part_concurrency: DEFAULT_PART_CONCURRENCY,
            },
        }
    }

    /// The SDK client underneath, for calls the ports do not cover.
    pub fn sdk(&self) -> &aws_sdk_s3::Client {
        &self.sdk
    }

    /// The region buckets are created in.
    pub fn region(&self) -> &str {
        &self.settings.region
    }
}
