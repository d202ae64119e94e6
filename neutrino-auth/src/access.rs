//! Roles and the access-control policy of organizations (tenants).
//!
//! Tenant roles live on the membership (`member.role`), comma-separated as
//! Better Auth stores them (`"admin,member"`); a user holds a permission when
//! any of its roles grants it. [`AccessPolicy::better_auth_default`] is Better
//! Auth's default policy (`access/statement.ts`); a host app adds its own
//! resources, actions and roles with [`AccessPolicy::grant`].
//!
//! Platform roles live on the user (`user.role`): [`PlatformRole::Admin`]
//! (`platform-admin`) manages every tenant of its platform, [`PlatformRole::User`]
//! only those it is a member of.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The tenant role that holds every permission and alone may manage owners.
pub const OWNER: &str = "owner";
/// The tenant role that holds every permission but deleting the organization.
pub const ADMIN: &str = "admin";
/// The default tenant role.
pub const MEMBER: &str = "member";

/// The roles of a comma-separated role list, trimmed, empty entries skipped.
///
/// ```
/// let roles: Vec<_> = neutrino::auth::access::split_roles("admin, member,").collect();
/// assert_eq!(roles, ["admin", "member"]);
/// ```
pub fn split_roles(roles: &str) -> impl Iterator<Item = &str> {
    roles.split(',').map(str::trim).filter(|r| !r.is_empty())
}

/// Whether a comma-separated role list contains `role`.
pub fn has_role(roles: &str, role: &str) -> bool {
    split_roles(roles).any(|r| r == role)
}

/// A user's role on the platform (`user.role`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlatformRole {
    /// `platform-admin`: manages every tenant of the platform.
    Admin,
    /// `user`: acts only in the tenants it is a member of.
    User,
}

impl PlatformRole {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "platform-admin",
            Self::User => "user",
        }
    }

    /// The platform role of a stored `user.role` value by Neutrino's own
    /// name only (absent or unknown: [`PlatformRole::User`]). A platform's
    /// [`crate::Auth::platform_role_of`] also counts Better Auth's admin role
    /// names ([`crate::admin::AdminConfig::admin_roles`]).
    pub fn from_stored(role: Option<&str>) -> Self {
        match role {
            Some(r) if has_role(r, "platform-admin") => Self::Admin,
            _ => Self::User,
        }
    }
}

impl fmt::Display for PlatformRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which role may perform which actions on which resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessPolicy {
    roles: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        Self::better_auth_default()
    }
}

impl AccessPolicy {
    /// A policy with no roles.
    pub fn empty() -> Self {
        Self {
            roles: BTreeMap::new(),
        }
    }

    /// Better Auth's default statements and roles: `owner` holds everything,
    /// `admin` everything but `organization:delete`, `member` only `ac:read`.
    ///
    /// ```
    /// use neutrino::auth::access::AccessPolicy;
    /// let p = AccessPolicy::better_auth_default();
    /// assert!(p.allows("owner", "organization", "delete"));
    /// assert!(!p.allows("admin", "organization", "delete"));
    /// assert!(p.allows("member,admin", "invitation", "create"));
    /// assert!(!p.allows("member", "member", "create"));
    /// ```
    pub fn better_auth_default() -> Self {
        let all: &[(&str, &[&str])] = &[
            ("organization", &["update", "delete"]),
            ("member", &["create", "update", "delete"]),
            ("invitation", &["create", "cancel"]),
            ("team", &["create", "update", "delete"]),
            ("ac", &["create", "read", "update", "delete"]),
        ];
        let mut p = Self::empty();
        for (res, actions) in all {
            p = p.grant(OWNER, res, actions);
            let admin: Vec<&str> = actions
                .iter()
                .copied()
                .filter(|a| !(*res == "organization" && *a == "delete"))
                .collect();
            p = p.grant(ADMIN, res, &admin);
        }
        p.grant(MEMBER, "ac", &["read"])
    }

    /// Grants `role` the `actions` on `resource` (creating the role if needed);
    /// how a host app adds its own resources and roles.
    pub fn grant(mut self, role: &str, resource: &str, actions: &[&str]) -> Self {
        let res = self
            .roles
            .entry(role.to_owned())
            .or_default()
            .entry(resource.to_owned())
            .or_default();
        res.extend(actions.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Whether the policy knows `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.contains_key(role)
    }

    /// The roles the policy knows, sorted.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.roles.keys().map(String::as_str)
    }

    /// Whether any role of the comma-separated `roles` may perform `action` on
    /// `resource`.
    pub fn allows(&self, roles: &str, resource: &str, action: &str) -> bool {
        split_roles(roles).any(|r| {
            self.roles
                .get(r)
                .and_then(|res| res.get(resource))
                .is_some_and(|acts| acts.contains(action))
        })
    }
}

/// Whether a permissions JSON object (`{"resource": ["action", …]}`, Better
/// Auth's API key format) lists `action` on `resource`; malformed JSON permits
/// nothing.
pub fn permits(permissions: &str, resource: &str, action: &str) -> bool {
    serde_json::from_str::<std::collections::BTreeMap<String, Vec<String>>>(permissions).is_ok_and(
        |m| {
            m.get(resource)
                .is_some_and(|a| a.iter().any(|x| x == action))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_matches_better_auth_statements() {
        let p = AccessPolicy::better_auth_default();
        for (res, act) in [
            ("organization", "update"),
            ("member", "create"),
            ("member", "update"),
            ("member", "delete"),
            ("invitation", "create"),
            ("invitation", "cancel"),
            ("team", "create"),
            ("ac", "read"),
        ] {
            assert!(p.allows(OWNER, res, act), "owner {res}:{act}");
            assert!(p.allows(ADMIN, res, act), "admin {res}:{act}");
        }
        assert!(p.allows(OWNER, "organization", "delete"));
        assert!(!p.allows(ADMIN, "organization", "delete"));
        assert!(p.allows(MEMBER, "ac", "read"));
        assert!(!p.allows(MEMBER, "invitation", "create"));
        assert!(!p.allows("stranger", "ac", "read"));
        assert!(!p.allows("", "ac", "read"));
    }

    #[test]
    fn host_apps_extend_the_policy() {
        let p = AccessPolicy::better_auth_default()
            .grant(MEMBER, "project", &["read"])
            .grant("billing", "invoice", &["read", "pay"]);
        assert!(p.allows("member", "project", "read"));
        assert!(!p.allows("member", "project", "delete"));
        assert!(p.allows("member,billing", "invoice", "pay"));
        assert!(p.has_role("billing"));
        assert!(!p.has_role("auditor"));
    }

    #[test]
    fn platform_roles_parse_from_user_role() {
        assert_eq!(
            PlatformRole::from_stored(Some("user,platform-admin")),
            PlatformRole::Admin
        );
        assert_eq!(PlatformRole::from_stored(Some("admin")), PlatformRole::User);
        assert_eq!(PlatformRole::from_stored(None), PlatformRole::User);
    }
}
