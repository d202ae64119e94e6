//! Naming conventions: resource names, hostnames, cookie domains and KV keys.
//!
//! Names are never built by hand. Every function here takes typed IDs, so a name
//! cannot be malformed, and every resource name is valid for every provider it may
//! be sent to (R2/S3 bucket, D1 database, Worker script, KV namespace title).
//!
//! ```
//! use neutrino::ids::{PlatformId, StackId};
//! use neutrino::naming::{Domain, HostParts, ResourceName};
//!
//! let p: PlatformId = "k3m9p2xw7q".parse().unwrap();
//! assert_eq!(ResourceName::auth_database(p).as_str(), "k3m9p2xw7q-default-auth-db");
//!
//! let domain = Domain::default(); // nno.app
//! let host = domain.auth_host(p, StackId::DEFAULT);
//! assert_eq!(host, "auth.svc.default.k3m9p2xw7q.nno.app");
//! assert_eq!(domain.cookie_domain(p), ".k3m9p2xw7q.nno.app");
//! assert_eq!(
//!     domain.parse_host(&host).unwrap(),
//!     HostParts::AuthService { platform: p, stack: StackId::DEFAULT }
//! );
//! ```

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::ids::{PlatformId, StackId, TenantId, truncate_for_message};

/// What a resource of a stack is for; each role gives one resource name per
/// (platform, stack).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ResourceRole {
    /// The platform's auth worker, `{p}-default-auth` (default stack only).
    AuthWorker,
    /// The platform's auth database, `{p}-default-auth-db` (default stack only).
    AuthDatabase,
    /// The platform's console app, `{p}-default-console` (default stack only).
    Console,
    /// A stack's database, `{p}-{s}-db`.
    Database,
    /// A stack's object storage bucket, `{p}-{s}-storage`.
    Storage,
    /// A stack's KV namespace, `{p}-{s}-kv`.
    Kv,
}

impl ResourceRole {
    /// Every role, in a stable order.
    pub const ALL: [ResourceRole; 6] = [
        Self::AuthWorker,
        Self::AuthDatabase,
        Self::Console,
        Self::Database,
        Self::Storage,
        Self::Kv,
    ];

    /// The suffix after `{p}-{s}-`.
    fn suffix(self) -> &'static str {
        match self {
            Self::AuthWorker => "auth",
            Self::AuthDatabase => "auth-db",
            Self::Console => "console",
            Self::Database => "db",
            Self::Storage => "storage",
            Self::Kv => "kv",
        }
    }

    /// Whether this role exists only in the default stack.
    pub fn default_stack_only(self) -> bool {
        matches!(self, Self::AuthWorker | Self::AuthDatabase | Self::Console)
    }
}

/// A resource name such as `k3m9p2xw7q-default-auth-db` or `k3m9p2xw7q-a1b2c3d4e5-storage`.
///
/// Built only from typed IDs; valid as an R2/S3 bucket name, a D1 database name, a
/// Worker script name and a KV namespace title. Distinct (platform, stack, role)
/// triples give distinct names, and [`ResourceName::parse`] recovers them.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceName {
    name: String,
    platform: PlatformId,
    stack: StackId,
    role: ResourceRole,
}

impl ResourceName {
    /// The name of `role` in `stack` of `platform`.
    ///
    /// Roles that exist only in the default stack ([`ResourceRole::default_stack_only`])
    /// are refused for another stack.
    pub fn new(platform: PlatformId, stack: StackId, role: ResourceRole) -> Result<Self> {
        if role.default_stack_only() && !stack.is_default() {
            return Err(Error::invalid(
                "resource name",
                format!("{role:?} exists only in the default stack, not in stack {stack}"),
            ));
        }
        Ok(Self::build(platform, stack, role))
    }

    fn build(platform: PlatformId, stack: StackId, role: ResourceRole) -> Self {
        let name = format!("{platform}-{stack}-{}", role.suffix());
        Self {
            name,
            platform,
            stack,
            role,
        }
    }

    /// `{p}-default-auth`: the platform's auth worker.
    pub fn auth_worker(platform: PlatformId) -> Self {
        Self::build(platform, StackId::DEFAULT, ResourceRole::AuthWorker)
    }

    /// `{p}-default-auth-db`: the platform's auth database.
    pub fn auth_database(platform: PlatformId) -> Self {
        Self::build(platform, StackId::DEFAULT, ResourceRole::AuthDatabase)
    }

    /// `{p}-default-console`: the platform's console app.
    pub fn console(platform: PlatformId) -> Self {
        Self::build(platform, StackId::DEFAULT, ResourceRole::Console)
    }

    /// `{p}-{s}-db`: a stack's database.
    pub fn stack_database(platform: PlatformId, stack: StackId) -> Self {
        Self::build(platform, stack, ResourceRole::Database)
    }

    /// `{p}-{s}-storage`: a stack's bucket.
    pub fn stack_bucket(platform: PlatformId, stack: StackId) -> Self {
        Self::build(platform, stack, ResourceRole::Storage)
    }

    /// `{p}-{s}-kv`: a stack's KV namespace.
    pub fn stack_kv(platform: PlatformId, stack: StackId) -> Self {
        Self::build(platform, stack, ResourceRole::Kv)
    }

    /// Parses a name produced by this module back into its parts.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                "resource name",
                format!(
                    "expected {{platform}}-{{stack}}-{{role}}, got {:?}",
                    truncate_for_message(s)
                ),
            )
        };
        let (p, rest) = s.split_once('-').ok_or_else(bad)?;
        let (st, suffix) = rest.split_once('-').ok_or_else(bad)?;
        let platform: PlatformId = p.parse()?;
        let stack: StackId = st.parse()?;
        let role = ResourceRole::ALL
            .into_iter()
            .find(|r| r.suffix() == suffix)
            .ok_or_else(bad)?;
        Self::new(platform, stack, role)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The platform the resource belongs to.
    pub fn platform(&self) -> PlatformId {
        self.platform
    }

    /// The stack the resource belongs to.
    pub fn stack(&self) -> StackId {
        self.stack
    }

    /// What the resource is for.
    pub fn role(&self) -> ResourceRole {
        self.role
    }
}

impl fmt::Display for ResourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl fmt::Debug for ResourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResourceName({})", self.name)
    }
}

impl AsRef<str> for ResourceName {
    fn as_ref(&self) -> &str {
        &self.name
    }
}

impl FromStr for ResourceName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// Providers' naming rules, checked by [`ResourceName`]'s property tests and by
/// provisioners before they send a name anywhere.
pub mod rules {
    /// R2/S3 bucket: 3–63 characters of `a-z0-9-`, beginning and ending alphanumeric.
    pub fn is_valid_bucket_name(s: &str) -> bool {
        let b = s.as_bytes();
        (3..=63).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    }

    /// D1 database: `^[a-z0-9][a-z0-9-_]*$` (the stricter of the published rules).
    pub fn is_valid_d1_name(s: &str) -> bool {
        let b = s.as_bytes();
        !b.is_empty()
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
    }

    /// Worker script: lowercase alphanumerics and `-`, no leading or trailing `-`,
    /// at most 63 characters.
    pub fn is_valid_worker_name(s: &str) -> bool {
        let b = s.as_bytes();
        (1..=63).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    }

    /// KV namespace title: non-empty, at most 512 bytes.
    pub fn is_valid_kv_title(s: &str) -> bool {
        !s.is_empty() && s.len() <= 512
    }

    /// A DNS label: 1–63 characters of `a-z0-9-`, not beginning or ending with `-`.
    pub fn is_valid_dns_label(s: &str) -> bool {
        is_valid_worker_name(s)
    }
}

/// A single DNS label naming an app of a stack, e.g. `console` in
/// `console.app.default.k3m9p2xw7q.nno.app`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppName(String);

impl AppName {
    /// Validates an app name: 1–63 characters of `a-z0-9-`, not beginning or
    /// ending with `-`.
    pub fn new(name: &str) -> Result<Self> {
        if rules::is_valid_dns_label(name) {
            Ok(Self(name.to_owned()))
        } else {
            Err(Error::invalid(
                "app name",
                format!(
                    "must be 1-63 characters of a-z0-9- not beginning or ending with '-', got {:?}",
                    truncate_for_message(name)
                ),
            ))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppName({})", self.0)
    }
}

/// What a hostname under the base domain names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostParts {
    /// `auth.svc.{stack}.{platform}.{base}`
    AuthService {
        /// The platform.
        platform: PlatformId,
        /// The stack.
        stack: StackId,
    },
    /// `{app}.app.{stack}.{platform}.{base}`
    App {
        /// The platform.
        platform: PlatformId,
        /// The stack.
        stack: StackId,
        /// The app.
        app: AppName,
    },
}

/// The base domain under which platforms' hostnames live (default `nno.app`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Domain {
    base: String,
}

/// The default base domain.
pub const DEFAULT_BASE_DOMAIN: &str = "nno.app";

impl Default for Domain {
    fn default() -> Self {
        Self {
            base: DEFAULT_BASE_DOMAIN.to_owned(),
        }
    }
}

/// Longest hostname DNS allows, in characters, without the trailing dot.
const MAX_HOSTNAME_LEN: usize = 253;
/// Longest `auth.svc.{s}.{p}.` / `{app}.app.{s}.{p}.` prefix a base is combined with.
const MAX_PREFIX_LEN: usize = 63 + ".app.".len() + 10 + 1 + 10 + 1;

impl Domain {
    /// A base domain such as `nno.app` or `platforms.example.com`.
    ///
    /// It is lowercased; each label must be a valid DNS label, there must be at
    /// least two labels, and the longest hostname built under it must still fit
    /// in 253 characters.
    pub fn new(base: &str) -> Result<Self> {
        let base = base.trim_end_matches('.').to_ascii_lowercase();
        let labels: Vec<&str> = base.split('.').collect();
        if labels.len() < 2 || !labels.iter().all(|l| rules::is_valid_dns_label(l)) {
            return Err(Error::invalid(
                "base domain",
                format!(
                    "must be at least two dot-separated DNS labels of a-z0-9-, got {:?}",
                    truncate_for_message(&base)
                ),
            ));
        }
        if base.len() + MAX_PREFIX_LEN > MAX_HOSTNAME_LEN {
            return Err(Error::invalid(
                "base domain",
                format!(
                    "must be at most {} characters, got {}",
                    MAX_HOSTNAME_LEN - MAX_PREFIX_LEN,
                    base.len()
                ),
            ));
        }
        Ok(Self { base })
    }

    /// The base domain, e.g. `nno.app`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `auth.svc.{stack}.{platform}.{base}`: the auth service of a stack.
    pub fn auth_host(&self, platform: PlatformId, stack: StackId) -> String {
        format!("auth.svc.{stack}.{platform}.{}", self.base)
    }

    /// `{app}.app.{stack}.{platform}.{base}`: an app of a stack.
    pub fn app_host(&self, platform: PlatformId, stack: StackId, app: &AppName) -> String {
        format!("{app}.app.{stack}.{platform}.{}", self.base)
    }

    /// `.{platform}.{base}`: the session cookie domain shared by all of a
    /// platform's hosts.
    pub fn cookie_domain(&self, platform: PlatformId) -> String {
        format!(".{platform}.{}", self.base)
    }

    /// Parses a hostname built by [`Domain::auth_host`] or [`Domain::app_host`].
    ///
    /// ASCII case and one trailing dot are ignored; anything else that is not
    /// exactly one of those shapes under this base domain is an
    /// [`Error::InvalidInput`] that says why.
    pub fn parse_host(&self, host: &str) -> Result<HostParts> {
        let bad = |reason: String| Error::invalid("hostname", reason);
        if host.len() > MAX_HOSTNAME_LEN + 1 {
            return Err(bad(format!(
                "must be at most {MAX_HOSTNAME_LEN} characters, got {}",
                host.len()
            )));
        }
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        let prefix = host
            .strip_suffix(self.base.as_str())
            .and_then(|p| p.strip_suffix('.'))
            .ok_or_else(|| {
                bad(format!(
                    "{:?} is not under the base domain {}",
                    truncate_for_message(&host),
                    self.base
                ))
            })?;
        let labels: Vec<&str> = prefix.split('.').collect();
        let (platform, stack) = match labels.as_slice() {
            [.., s, p] => (*p, *s),
            _ => {
                return Err(bad(format!(
                    "{:?} has too few labels before {}",
                    truncate_for_message(&host),
                    self.base
                )));
            }
        };
        let platform: PlatformId = platform.parse()?;
        let stack: StackId = stack.parse()?;
        match labels.as_slice() {
            ["auth", "svc", _, _] => Ok(HostParts::AuthService { platform, stack }),
            [app, "app", _, _] => Ok(HostParts::App {
                platform,
                stack,
                app: AppName::new(app)?,
            }),
            _ => Err(bad(format!(
                "expected auth.svc.{{stack}}.{{platform}}.{0} or {{app}}.app.{{stack}}.{{platform}}.{0}, got {1:?}",
                self.base,
                truncate_for_message(&host)
            ))),
        }
    }
}

/// Longest DNS label, in characters.
pub const MAX_DNS_LABEL_LEN: usize = 63;

/// Lengths of the suffixes [`tenant_host_labels`] appends, shortest first.
const LABEL_SUFFIX_LENS: [usize; 3] = [6, 12, 24];

/// The host labels a tenant adopted from an organization with `slug` may
/// take, in the order to try them: deterministic in `(slug, tenant)`, each a
/// DNS label ([`rules::is_valid_dns_label`]).
///
/// A slug that is already a DNS label comes first, unchanged (a tenant keeps
/// its exact slug as its label when it can). The others are the slug mapped
/// to a label — ASCII lowercased, every run of other characters turned into
/// one `-`, trimmed of `-`, cut to fit — followed by `-` and a suffix of 6,
/// 12, then 24 characters of `0-9a-v` derived from the tenant ID (SHA-256),
/// so a slug the mapping changed never takes the label of the slug it maps
/// to, and two organizations whose slugs map alike get different labels.
/// Which candidate a tenant gets is decided by the registry's unique label
/// per platform, in the write that creates it.
///
/// ```
/// use neutrino::ids::TenantId;
/// use neutrino::naming::tenant_host_labels;
/// let id: TenantId = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6".parse().unwrap();
/// let labels = tenant_host_labels("Initech_Labs", &id);
/// assert!(labels[0].starts_with("initech-labs-") && labels[0].len() == 19);
/// assert_eq!(tenant_host_labels("initech-labs", &id)[0], "initech-labs");
/// assert_eq!(labels, tenant_host_labels("Initech_Labs", &id));
/// ```
pub fn tenant_host_labels(slug: &str, tenant: &TenantId) -> Vec<String> {
    use sha2::{Digest, Sha256};
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let mut labels = Vec::with_capacity(LABEL_SUFFIX_LENS.len() + 1);
    if rules::is_valid_dns_label(slug) {
        labels.push(slug.to_owned());
    }
    let mut base = String::new();
    let mut gap = false;
    for c in slug.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if gap && !base.is_empty() {
                base.push('-');
            }
            gap = false;
            base.push(c);
            if base.len() >= MAX_DNS_LABEL_LEN {
                break;
            }
        } else {
            gap = true;
        }
    }
    let mut hasher = Sha256::new();
    hasher.update(b"neutrino tenant host label\0");
    hasher.update(tenant.as_str().as_bytes());
    let digest = hasher.finalize();
    for n in LABEL_SUFFIX_LENS {
        let suffix: String = digest[..n]
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
            .collect();
        // ASCII only: every index is a character boundary.
        let room = MAX_DNS_LABEL_LEN - 1 - n;
        let head = base[..base.len().min(room)].trim_end_matches('-');
        labels.push(if head.is_empty() {
            suffix
        } else {
            format!("{head}-{suffix}")
        });
    }
    labels
}

/// `platform:{p}:status`: the KV key holding a platform's status.
pub fn platform_status_key(platform: PlatformId) -> String {
    format!("platform:{platform}:status")
}

/// Tables Neutrino keeps in a database it shares with a host app: the registry's,
/// the migration log, the SQLite KV store's and local provisioner's, and the auth layer's (Better Auth's
/// schema and Neutrino's additions). A host app's tenanted tables may not take
/// these names, and SQL handed to host code through a `TenantStore`'s raw
/// executor can never reach them. Lowercase; SQLite compares table names ASCII
/// case-insensitively.
pub const RESERVED_TABLES: &[&str] = &[
    // neutrino-tenancy's registry
    "neutrino_platform",
    "neutrino_tenant",
    "neutrino_stack",
    "neutrino_resource",
    "neutrino_feature",
    "neutrino_host",
    "neutrino_audit_log",
    "neutrino_registry_instance",
    "neutrino_registry_probe",
    "neutrino_tenant_tombstone",
    // migrations, the SQLite KV store, the local provisioner
    "_neutrino_migrations",
    "_neutrino_kv",
    "_neutrino_local_resource",
    // neutrino-auth: Better Auth's tables and Neutrino's additions
    "user",
    "session",
    "account",
    "verification",
    "organization",
    "member",
    "invitation",
    "apikey",
    "twofactor",
    "neutrinoauditlog",
    "neutrinopendingorganization",
    "neutrinousedcode",
    "ssoprovider",
    "neutrinossopolicy",
    // the facade's platform runtime: the platform an auth database serves
    "neutrino_auth_platform",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> PlatformId {
        "k3m9p2xw7q".parse().unwrap()
    }

    #[test]
    fn resource_names_follow_the_convention() {
        let s: StackId = "a1b2c3d4e5".parse().unwrap();
        assert_eq!(
            ResourceName::auth_worker(p()).as_str(),
            "k3m9p2xw7q-default-auth"
        );
        assert_eq!(
            ResourceName::auth_database(p()).as_str(),
            "k3m9p2xw7q-default-auth-db"
        );
        assert_eq!(
            ResourceName::console(p()).as_str(),
            "k3m9p2xw7q-default-console"
        );
        assert_eq!(
            ResourceName::stack_database(p(), s).as_str(),
            "k3m9p2xw7q-a1b2c3d4e5-db"
        );
        assert_eq!(
            ResourceName::stack_bucket(p(), s).as_str(),
            "k3m9p2xw7q-a1b2c3d4e5-storage"
        );
        assert_eq!(
            ResourceName::stack_kv(p(), s).as_str(),
            "k3m9p2xw7q-a1b2c3d4e5-kv"
        );
        assert_eq!(platform_status_key(p()), "platform:k3m9p2xw7q:status");
    }

    #[test]
    fn default_stack_roles_are_refused_elsewhere() {
        let s: StackId = "a1b2c3d4e5".parse().unwrap();
        let e = ResourceName::new(p(), s, ResourceRole::AuthDatabase).unwrap_err();
        assert!(e.to_string().contains("only in the default stack"), "{e}");
        let e = ResourceName::parse("k3m9p2xw7q-a1b2c3d4e5-auth-db").unwrap_err();
        assert!(e.to_string().contains("only in the default stack"), "{e}");
    }

    #[test]
    fn resource_name_parse_rejects_unknown_shapes() {
        for bad in [
            "",
            "k3m9p2xw7q",
            "k3m9p2xw7q-default",
            "k3m9p2xw7q-default-nope",
            "K3M9P2XW7Q-default-db",
        ] {
            assert!(ResourceName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostnames_round_trip_and_normalise_case_and_trailing_dot() {
        let d = Domain::new("Platforms.Example.com.").unwrap();
        assert_eq!(d.base(), "platforms.example.com");
        let app = AppName::new("console").unwrap();
        let h = d.app_host(p(), StackId::DEFAULT, &app);
        assert_eq!(h, "console.app.default.k3m9p2xw7q.platforms.example.com");
        let upper = format!("{}.", h.to_uppercase());
        assert_eq!(
            d.parse_host(&upper).unwrap(),
            HostParts::App {
                platform: p(),
                stack: StackId::DEFAULT,
                app
            }
        );
    }

    #[test]
    fn host_parser_explains_rejections() {
        let d = Domain::default();
        let e = d
            .parse_host("auth.svc.default.k3m9p2xw7q.example.com")
            .unwrap_err();
        assert!(
            e.to_string().contains("not under the base domain nno.app"),
            "{e}"
        );
        let e = d
            .parse_host("auth.api.default.k3m9p2xw7q.nno.app")
            .unwrap_err();
        assert!(e.to_string().contains("expected auth.svc"), "{e}");
        let e = d
            .parse_host("auth.svc.default.k3m9p2xw7.nno.app")
            .unwrap_err();
        assert!(e.to_string().contains("platform id"), "{e}");
        let e = d.parse_host("k3m9p2xw7q.nno.app").unwrap_err();
        assert!(e.to_string().contains("too few labels"), "{e}");
        let e = d
            .parse_host("a..app.default.k3m9p2xw7q.nno.app")
            .unwrap_err();
        assert!(e.to_string().contains("expected"), "{e}");
        let e = d
            .parse_host("auth.svc.default.k3m9p2xw7q.nno.app:443")
            .unwrap_err();
        assert!(e.to_string().contains("not under"), "{e}");
    }

    #[test]
    fn base_domain_is_validated() {
        assert!(Domain::new("localhost").is_err());
        assert!(Domain::new("-bad.com").is_err());
        assert!(Domain::new(&format!("{}.com", "a".repeat(63)).repeat(3)).is_err());
    }
}
