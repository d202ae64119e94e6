//! The registry's records.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use neutrino_core::Error;
use neutrino_core::ids::{PlatformId, StackId, TenantId};
use neutrino_core::naming::ResourceRole;
use neutrino_core::provision::ResourceKind;
use neutrino_core::sql::Row;

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vdoc])* $variant),*
        }

        impl $name {
            /// The stored text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                match s {
                    $($text => Ok(Self::$variant),)*
                    other => Err(Error::Decode {
                        what: $what.into(),
                        reason: format!("unknown value {other:?}"),
                    }),
                }
            }
        }
    };
}

text_enum!(
    /// Who a platform is for.
    PlatformClass, "platform class" {
        /// A client product run by an operator.
        Platform = "platform",
        /// An end-user developer's project.
        UserProject = "user_project",
    }
);

text_enum!(
    /// Whether a platform may act.
    PlatformStatus, "platform status" {
        /// In service.
        Active = "active",
        /// Stopped by an operator; every scope of it fails with `Suspended`.
        Suspended = "suspended",
        /// Torn down; kept as a tombstone.
        Deleted = "deleted",
    }
);

text_enum!(
    /// Where a resource stands in its lifecycle.
    ResourceStatus, "resource status" {
        /// Planned, not created yet.
        Pending = "pending",
        /// Created by the provisioner.
        Ready = "ready",
        /// Creation failed.
        Failed = "failed",
        /// Deleted; kept as a tombstone.
        Deleted = "deleted",
    }
);

text_enum!(
    /// Where a host stands in its lifecycle.
    HostStatus, "host status" {
        /// Claimed, ownership not verified yet.
        Pending = "pending",
        /// Ownership verified, not serving yet.
        Verified = "verified",
        /// Serving: resolves to its tenant.
        Active = "active",
        /// Released; it may be claimed again.
        Removed = "removed",
    }
);

text_enum!(
    /// How a host came to belong to a tenant.
    HostKind, "host kind" {
        /// `{slug}.{app domain}`, made with the tenant.
        Default = "default",
        /// A domain the tenant owns.
        Custom = "custom",
    }
);

/// A platform: one client product.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    /// Its ID.
    pub id: PlatformId,
    /// Its display name.
    pub name: String,
    /// Who it is for.
    pub class: PlatformClass,
    /// Whether it may act.
    pub status: PlatformStatus,
    /// The domain under which its tenants get default hosts (`{slug}.{domain}`).
    pub app_domain: Option<String>,
    /// When it was registered.
    pub created_at: SystemTime,
    /// When it last changed.
    pub updated_at: SystemTime,
}

/// A tenant of a platform (an auth organization).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    /// Its platform.
    pub platform: PlatformId,
    /// Its ID.
    pub id: TenantId,
    /// Its slug, unique within the platform.
    pub slug: String,
    /// Its display name.
    pub name: String,
    /// The tenant it is a sub-tenant of.
    pub parent: Option<TenantId>,
    /// 0 for a top-level tenant, parent's depth + 1 otherwise.
    pub depth: u32,
    /// When it was created.
    pub created_at: SystemTime,
}

/// Which resources a stack holds, by role, in a versioned template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackTemplate {
    /// The template's name, e.g. `"app"`.
    pub name: String,
    /// Its version; a stack records the version it was made from.
    pub version: u32,
    /// The resources, by role.
    pub resources: Vec<ResourceRole>,
}

/// A stack of a platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stack {
    /// Its platform.
    pub platform: PlatformId,
    /// Its ID.
    pub id: StackId,
    /// The template it was made from.
    pub template: String,
    /// That template's version.
    pub template_version: u32,
    /// `active` or `deleted`.
    pub status: String,
}

/// A resource the registry knows about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceRecord {
    /// Its platform.
    pub platform: PlatformId,
    /// Its stack.
    pub stack: StackId,
    /// Its kind.
    pub kind: ResourceKind,
    /// Its logical name (a resource name or a hostname).
    pub logical_name: String,
    /// The provisioner that made it, e.g. `"local"`.
    pub provider: String,
    /// The provider's ID for it, once created.
    pub provider_id: Option<String>,
    /// Its lifecycle status.
    pub status: ResourceStatus,
}

/// A feature's setting for a tenant.
#[derive(Clone, Debug, PartialEq)]
pub struct Feature {
    /// The feature key, e.g. `"billing.invoices"`.
    pub key: String,
    /// The feature version the setting is for.
    pub version: u32,
    /// Whether it is on.
    pub enabled: bool,
    /// Its configuration.
    pub config: serde_json::Value,
}

/// A host of a tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRecord {
    /// The normalised host.
    pub host: String,
    /// Its platform.
    pub platform: PlatformId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Default or custom.
    pub kind: HostKind,
    /// Its lifecycle status.
    pub status: HostStatus,
    /// For a custom domain: the value the owner publishes (e.g. in a TXT record)
    /// to prove ownership.
    pub verification_token: Option<String>,
}

/// The text column `col` of `row`, parsed (an ID, a kind, a status).
pub(crate) fn parse<T: std::str::FromStr<Err = Error>>(row: &Row, col: &str) -> Result<T, Error> {
    row.get::<String>(col)?.parse()
}

pub(crate) fn millis(t: SystemTime) -> i64 {
    neutrino_core::clock::millis_since_epoch(t)
}

pub(crate) fn time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

pub(crate) fn kind_from_str(s: &str) -> Result<ResourceKind, Error> {
    ResourceKind::ALL
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| Error::Decode {
            what: "resource kind".into(),
            reason: format!("unknown value {s:?}"),
        })
}
