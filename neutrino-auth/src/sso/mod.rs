//! Per-tenant single sign-on: Better Auth's `sso` plugin's providers, with
//! verified email domains, an "SSO required" switch per tenant, and
//! just-in-time membership.
//!
//! * **Providers** ([`Sso::register_provider`]): an owner or admin of an
//!   organization registers an OIDC identity provider for it, as a row of
//!   Better Auth's `ssoProvider` table (its `oidcConfig` JSON holds the
//!   issuer, client ID, scopes, PKCE and discovery endpoint). The
//!   `providerId` is unique (a database constraint). The client secret is
//!   stored encrypted under the platform secret (the cipher of two-factor
//!   secrets, [`crate::twofactor::symmetric_encrypt`]): **a deliberate
//!   difference**, Better Auth's own sso plugin reading the row sees the
//!   ciphertext as `clientSecret` (it stores it in clear). Anyone but an
//!   owner or admin of the provider's organization (or a platform admin) is
//!   answered as if the provider did not exist (`PROVIDER_NOT_FOUND`, 404);
//!   a plain member of it gets `YOU_DONT_HAVE_ACCESS_TO_THIS_PROVIDER` (403).
//!   A provider may not take the ID of one of the platform's social
//!   providers (their accounts share the `account` table), nor an ID that
//!   existing accounts are under; its issuer,
//!   client ID and discovery endpoint change only while no account is linked
//!   to it, and deleting it deletes its accounts (as in Better Auth).
//! * **Domains**: a provider claims one email domain
//!   ([`normalize_domain`]: lowercase, IDN as A-label, no trailing dot); it
//!   routes no one until verified ([`Sso::verify_domain`]) by a DNS TXT
//!   record (Better Auth's: `_better-auth-token-{providerId}.{domain}` with
//!   the value `_better-auth-token-{providerId}={token}` or the bare token,
//!   through [`DnsTxtCheck`] and a [`TxtLookup`] such as [`DnsResolver`]) or
//!   by the token served at [`http::WELL_KNOWN_PATH`] over HTTPS
//!   ([`HttpTokenCheck`], which refuses private, loopback, link-local and
//!   metadata addresses). Several tenants may claim a domain; a unique index
//!   on verified domains lets one provider at most hold it verified, decided
//!   by the database (`DOMAIN_ALREADY_VERIFIED_BY_ANOTHER_PROVIDER`, 409).
//!   A domain covers its subdomains (Better Auth's `domainMatches`).
//! * **Enforcement** ([`Sso::set_policy`]): with `sso_required` on, an
//!   email in a verified domain of the tenant cannot sign in (the
//!   two-factor step included), sign up or reset a password with a
//!   password: `SSO_REQUIRED` (403, Neutrino's code; Better Auth has none).
//!   The write decides: the session, user or password statement carries
//!   the condition, so a policy switched on, or a domain verified, while
//!   such a request runs refuses it. The email's domain is compared in its canonical
//!   form, so case, a trailing dot, `+` tags (they are in the local part) or
//!   full-width look-alikes do not escape it.
//! * **Sign-in** (the seam with the OIDC handshake):
//!   [`Sso::provider_for_sign_in`] resolves the provider of an email,
//!   domain, organization slug or provider ID (only a verified domain
//!   routes), and [`Sso::complete_sign_in`] takes the identity the handshake
//!   verified: it finds the user by the provider's account (`account` row
//!   with `providerId` = the provider ID, `accountId` = the subject), else by
//!   email only when the provider says the email is verified and it is in
//!   the provider's verified domain (no linking on an unverified email:
//!   `ACCOUNT_NOT_LINKED`, 401), else creates the user; and makes them a
//!   member of the provider's organization with the tenant's default role
//!   (`member` unless set), in the batch that writes the account and the
//!   session. Concurrent callbacks for one identity create one user, one
//!   account and one membership (unique constraints, and a retry that then
//!   finds them). Each of those writes holds only while the provider is
//!   the one the sign-in checked (deleted, re-registered or given another
//!   issuer meanwhile: nothing is written, `SSO_PROVIDER_CHANGED`).
//! * **The handshake** ([`Sso::sign_in`], [`Sso::callback`]): the OIDC
//!   handshake of social sign-in with the tenant's provider, its state
//!   bound to the browser and to that one SSO provider.

mod dns;
mod domain;
mod flow;
pub mod http;

use std::fmt;
use std::time::Duration;

use neutrino_core::ids::{TenantId, UserId};
use neutrino_core::sql::{Row, SqlExecutor, Statement, Value};

pub use self::dns::DnsResolver;
pub use self::domain::{
    DNS_LABEL_MAX_LEN, DnsTxtCheck, DomainChallenge, DomainCheck, TOKEN_PREFIX, TxtLookup,
    VerificationToken, normalize_domain, record_label, record_name,
};
pub use self::flow::{SsoCallback, SsoSignIn};
pub use self::http::HttpTokenCheck;

use crate::access::{self, MEMBER, OWNER};
use crate::audit::{self, AuditEvent, AuditRecord, WriteAudited};
use crate::caller::{Actor, Callers};
use crate::date;
use crate::email::normalize_email;
use crate::error::{AuthError, Result};
use crate::member::Members;
use crate::model::{RequestMeta, SignedIn};
use crate::random::{random_id, random_string};
use crate::rows;
use crate::session::{INSERT_SESSION_SELECT, not_banned};
use crate::twofactor::{symmetric_decrypt, symmetric_encrypt};
use crate::{MAX_IMAGE_LEN, MAX_NAME_LEN};

/// How long a domain-verification token stays valid (Better Auth's week).
pub const VERIFICATION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The longest provider ID: its record label,
/// `_better-auth-token-{providerId}`, must fit in a DNS label.
pub const MAX_PROVIDER_ID_LEN: usize = DNS_LABEL_MAX_LEN - TOKEN_PREFIX.len() - 2;
/// The longest issuer, endpoint or client ID.
pub const MAX_URL_LEN: usize = 2048;

/// Provider IDs an SSO provider may not take: they name Better Auth's
/// built-in accounts and its social providers.
const RESERVED_PROVIDER_IDS: &[&str] = &[
    "credential",
    "email-password",
    "anonymous",
    "apple",
    "discord",
    "facebook",
    "github",
    "gitlab",
    "google",
    "linkedin",
    "microsoft",
    "twitter",
];

fn sso(code: &'static str, status: u16) -> AuthError {
    AuthError::Sso { code, status }
}

const NOT_FOUND: AuthError = AuthError::Sso {
    code: "PROVIDER_NOT_FOUND",
    status: 404,
};

/// An OIDC client secret. Its `Debug` does not show it, and it is stored
/// encrypted.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret, for the token request.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// Better Auth's `POST /sso/register` body, for an OIDC provider.
#[derive(Clone, Debug)]
pub struct NewSsoProvider {
    /// The provider's ID (`providerId`): 1 to [`MAX_PROVIDER_ID_LEN`]
    /// characters of `[A-Za-z0-9_-]`, unique on the platform.
    pub provider_id: String,
    /// The organization (tenant) it signs people into.
    pub organization_id: TenantId,
    /// The OIDC issuer (`https://…`, or `http://` on a loopback host).
    pub issuer: String,
    /// The email domain it claims.
    pub domain: String,
    /// The OIDC client ID.
    pub client_id: String,
    /// The OIDC client secret.
    pub client_secret: ClientSecret,
    /// The scopes to ask for (Better Auth's default when empty:
    /// `openid email profile offline_access`).
    pub scopes: Vec<String>,
    /// The discovery document's URL (default: the issuer's
    /// `/.well-known/openid-configuration`).
    pub discovery_endpoint: Option<String>,
    /// Whether to use PKCE (Better Auth's default: on).
    pub pkce: bool,
}

impl NewSsoProvider {
    /// A provider with Better Auth's defaults (default scopes, PKCE on).
    pub fn new(
        provider_id: impl Into<String>,
        organization_id: TenantId,
        issuer: impl Into<String>,
        domain: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: ClientSecret,
    ) -> Self {
        Self {
            provider_id: provider_id.into(),
            organization_id,
            issuer: issuer.into(),
            domain: domain.into(),
            client_id: client_id.into(),
            client_secret,
            scopes: Vec::new(),
            discovery_endpoint: None,
            pkce: true,
        }
    }
}

/// Changes to a provider; `None` keeps a field. A new domain is unverified.
#[derive(Clone, Debug, Default)]
pub struct SsoProviderUpdate {
    /// A new issuer.
    pub issuer: Option<String>,
    /// A new email domain (unverified until verified again).
    pub domain: Option<String>,
    /// A new client ID.
    pub client_id: Option<String>,
    /// A new client secret.
    pub client_secret: Option<ClientSecret>,
    /// New scopes.
    pub scopes: Option<Vec<String>>,
    /// A new discovery endpoint.
    pub discovery_endpoint: Option<String>,
    /// Whether to use PKCE.
    pub pkce: Option<bool>,
}

/// A provider as its tenant's admins see it: no client secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsoProvider {
    /// The row's ID.
    pub id: String,
    /// The provider ID.
    pub provider_id: String,
    /// The organization.
    pub organization_id: TenantId,
    /// The issuer.
    pub issuer: String,
    /// The claimed email domain.
    pub domain: String,
    /// Whether the domain is verified (it routes sign-ins only then).
    pub domain_verified: bool,
    /// The client ID.
    pub client_id: String,
    /// The scopes.
    pub scopes: Vec<String>,
    /// Whether PKCE is used.
    pub pkce: bool,
    /// The discovery endpoint.
    pub discovery_endpoint: String,
    /// Who registered it.
    pub user_id: Option<String>,
}

/// What [`Sso::register_provider`] answers: the provider, and the token to
/// publish to verify its domain.
#[derive(Clone, Debug)]
pub struct RegisteredProvider {
    /// The provider.
    pub provider: SsoProvider,
    /// The domain-verification token.
    pub domain_verification_token: VerificationToken,
}

/// Which provider a sign-in asks for (Better Auth's `/sign-in/sso` body:
/// `email`, `domain`, `organizationSlug` or `providerId`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SsoTarget {
    /// The provider of this email's domain (or a parent domain).
    Email(String),
    /// The provider of this domain (or a parent domain).
    Domain(String),
    /// The provider of the organization with this slug.
    OrganizationSlug(String),
    /// The provider with this ID.
    ProviderId(String),
}

/// What the OIDC handshake needs of a provider.
#[derive(Clone, Debug)]
pub struct SsoProviderConfig {
    /// The provider ID (the callback is `/sso/callback/{provider_id}`).
    pub provider_id: String,
    /// The issuer the ID token must name.
    pub issuer: String,
    /// The discovery document's URL.
    pub discovery_endpoint: String,
    /// The client ID (the ID token's audience).
    pub client_id: String,
    /// The client secret, decrypted.
    pub client_secret: ClientSecret,
    /// The scopes to ask for.
    pub scopes: Vec<String>,
    /// Whether to use PKCE.
    pub pkce: bool,
    /// The organization the provider signs people into.
    pub organization_id: TenantId,
    /// The provider's verified domain.
    pub domain: String,
}

/// The identity the OIDC handshake verified (from the ID token's claims).
#[derive(Clone, Debug)]
pub struct SsoIdentity {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `email`.
    pub email: String,
    /// `email_verified` (strictly: only a `true`).
    pub email_verified: bool,
    /// `name`.
    pub name: Option<String>,
    /// `picture`.
    pub image: Option<String>,
}

/// A tenant's SSO policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsoPolicy {
    /// Whether password sign-in, sign-up and reset are refused for emails
    /// in the tenant's verified domains.
    pub sso_required: bool,
    /// The role of members who join by SSO (not `owner`).
    pub default_role: String,
}

impl Default for SsoPolicy {
    fn default() -> Self {
        Self {
            sso_required: false,
            default_role: MEMBER.to_owned(),
        }
    }
}

/// The stored `oidcConfig` JSON (Better Auth's field names).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct OidcConfig {
    issuer: String,
    client_id: String,
    /// Encrypted ([`symmetric_encrypt`]).
    client_secret: String,
    #[serde(default)]
    discovery_endpoint: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    pkce: Option<bool>,
}

const PROVIDER_COLUMNS: &str = r#""id", "providerId", "organizationId", "issuer", "domain", "domainVerified", "oidcConfig", "userId""#;

/// A provider row: the public view and the stored config.
struct Stored {
    provider: SsoProvider,
    config: OidcConfig,
    /// The `oidcConfig` column as stored.
    raw_config: String,
}

fn stored_from_row(r: &Row) -> Result<Stored> {
    let org: Option<String> = r.get(2)?;
    let organization_id = org
        .as_deref()
        .and_then(|o| o.parse().ok())
        .ok_or_else(|| AuthError::corrupt("ssoProvider.organizationId"))?;
    let verified: Option<bool> = r.get(5)?;
    let raw: Option<String> = r.get(6)?;
    let config: OidcConfig = raw
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
        .ok_or_else(|| AuthError::corrupt("ssoProvider.oidcConfig"))?;
    let raw_config = raw.unwrap_or_default();
    let issuer: String = r.get(3)?;
    Ok(Stored {
        provider: SsoProvider {
            id: r.get(0)?,
            provider_id: r.get(1)?,
            organization_id,
            discovery_endpoint: config
                .discovery_endpoint
                .clone()
                .unwrap_or_else(|| default_discovery(&issuer)),
            issuer,
            domain: r.get(4)?,
            domain_verified: verified.unwrap_or(false),
            client_id: config.client_id.clone(),
            scopes: config.scopes.clone().unwrap_or_else(default_scopes),
            pkce: config.pkce.unwrap_or(true),
            user_id: r.get(7)?,
        },
        config,
        raw_config,
    })
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile", "offline_access"]
        .map(String::from)
        .to_vec()
}

fn default_discovery(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// An issuer or endpoint: `https://host…`, or `http://` on a loopback host
/// (for tests and local identity providers); no credentials, fragment or
/// whitespace.
fn check_url(field: &'static str, url: &str) -> Result<()> {
    let bad = || AuthError::validation(field, "must be an https URL");
    if url.is_empty()
        || url.len() > MAX_URL_LEN
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    let rest = if let Some(r) = url.strip_prefix("https://") {
        r
    } else if let Some(r) = url.strip_prefix("http://") {
        let host = r.split(['/', '?']).next().unwrap_or("");
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        if !matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
            return Err(bad());
        }
        r
    } else {
        return Err(bad());
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') || url.contains('#') {
        return Err(bad());
    }
    Ok(())
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<()> {
    if value.trim().is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(AuthError::validation(
            field,
            format!("must be 1-{max} bytes of text without control characters"),
        ));
    }
    Ok(())
}

fn check_scopes(scopes: &[String]) -> Result<()> {
    if scopes.len() > 32
        || scopes.iter().any(|s| {
            s.is_empty()
                || s.len() > 128
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        })
    {
        return Err(AuthError::validation(
            "scopes",
            "must be at most 32 scope tokens",
        ));
    }
    Ok(())
}

/// A provider ID: 1 to [`MAX_PROVIDER_ID_LEN`] of `[A-Za-z0-9_-]`.
fn check_provider_id(id: &str) -> Result<()> {
    if id.is_empty()
        || id.len() > MAX_PROVIDER_ID_LEN
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(AuthError::validation(
            "providerId",
            format!("must be 1-{MAX_PROVIDER_ID_LEN} characters of letters, digits, '-' and '_'"),
        ));
    }
    Ok(())
}

/// Whether password sign-in, sign-up and reset are refused for `email` (a
/// normalised address): some tenant requires SSO and holds the email's
/// domain, or a parent domain, verified. Before the SSO tables exist
/// nothing is enforced.
pub(crate) fn sso_required_condition(email: &str, first: usize) -> Option<(String, Vec<Value>)> {
    let domains = domain::email_domains(email);
    if domains.is_empty() {
        return None;
    }
    let placeholders: Vec<String> = (0..domains.len())
        .map(|i| format!("?{}", first + i))
        .collect();
    Some((
        format!(
            r#"EXISTS (SELECT 1 FROM "ssoProvider" p JOIN "neutrinoSsoPolicy" s ON s."organizationId" = p."organizationId" WHERE p."domainVerified" = 1 AND s."ssoRequired" = 1 AND p."domain" IN ({}))"#,
            placeholders.join(", ")
        ),
        domains.into_iter().map(Value::from).collect(),
    ))
}

/// The guard that makes a password write (a session, a user, a credential)
/// conditional on SSO not being required for `email`: `NOT EXISTS (…)` with
/// its placeholders from `?first`, and their values; `None` for an email
/// without a domain. The write's statement carries it, so the database
/// decides in the same atomic write: a policy switched on, or a domain
/// verified, before the write commits refuses it.
pub(crate) fn password_allowed_guard(email: &str, first: usize) -> Option<(String, Vec<Value>)> {
    sso_required_condition(email, first).map(|(cond, params)| (format!("NOT {cond}"), params))
}

/// The error of a password write refused because SSO is required.
pub(crate) fn sso_required() -> AuthError {
    sso("SSO_REQUIRED", 403)
}

/// `SSO_REQUIRED` when [`sso_required_condition`] holds for `email`.
pub(crate) async fn ensure_password_allowed(db: &dyn SqlExecutor, email: &str) -> Result<()> {
    let Some((cond, params)) = sso_required_condition(email, 1) else {
        return Ok(());
    };
    let rows = db
        .query(&Statement::with_params(format!("SELECT {cond}"), params))
        .await?;
    let required: bool = match rows.first() {
        Some(r) => r.get(0)?,
        None => false,
    };
    if required {
        return Err(sso_required());
    }
    Ok(())
}

/// Per-tenant SSO providers, verified domains, the SSO policy and SSO
/// sign-in of one platform; see the module documentation. Reached through
/// [`crate::org::Organizations::sso`].
#[derive(Clone)]
pub struct Sso {
    callers: Callers,
    members: Members,
}

impl fmt::Debug for Sso {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sso").finish_non_exhaustive()
    }
}

impl Sso {
    pub(crate) fn new(callers: Callers, members: Members) -> Self {
        Self { callers, members }
    }

    fn db(&self) -> &dyn SqlExecutor {
        self.callers.db()
    }

    fn secret(&self) -> &[u8] {
        self.callers.auth().sso_secret()
    }

    /// The caller must be an owner or admin of `org` (or a platform admin):
    /// `not_member` for someone who is not a member, `not_admin` for a
    /// member without the role.
    async fn require_admin(
        &self,
        actor: &Actor,
        org: &TenantId,
        not_member: AuthError,
        not_admin: AuthError,
    ) -> Result<()> {
        let standing = match self.members.standing(actor, org).await {
            Ok(s) => s,
            Err(AuthError::NotAMember | AuthError::OrganizationNotFound) => return Err(not_member),
            Err(e) => return Err(e),
        };
        let roles = standing.roles();
        if standing.platform_admin
            || access::has_role(roles, OWNER)
            || access::has_role(roles, access::ADMIN)
        {
            Ok(())
        } else {
            Err(not_admin)
        }
    }

    async fn load(&self, provider_id: &str) -> Result<Option<Stored>> {
        if check_provider_id(provider_id).is_err() {
            return Ok(None);
        }
        let row = self
            .callers
            .row(
                Statement::new(format!(
                    r#"SELECT {PROVIDER_COLUMNS} FROM "ssoProvider" WHERE "providerId" = ?1"#
                ))
                .bind(provider_id),
            )
            .await?;
        row.as_ref().map(stored_from_row).transpose()
    }

    /// The provider, if the caller may manage it (Better Auth's
    /// `checkProviderAccess`).
    async fn accessible(&self, actor: &Actor, provider_id: &str) -> Result<Stored> {
        let stored = self.load(provider_id).await?.ok_or(NOT_FOUND)?;
        self.require_admin(
            actor,
            &stored.provider.organization_id,
            NOT_FOUND,
            sso("YOU_DONT_HAVE_ACCESS_TO_THIS_PROVIDER", 403),
        )
        .await?;
        Ok(stored)
    }

    /// Better Auth's `POST /sso/register` (with domain verification on):
    /// registers an OIDC provider for an organization the caller is an
    /// owner or admin of, with its domain unverified, and answers it with
    /// the token to publish ([`Sso::verify_domain`]).
    ///
    /// Errors: `UNAUTHORIZED`; `YOU_ARE_NOT_A_MEMBER_OF_THE_ORGANIZATION`
    /// (400); `YOU_MUST_BE_AN_ORGANIZATION_OWNER_OR_ADMIN_TO_REGISTER_SSO_PROVIDERS`
    /// (403); `SSO_PROVIDER_WITH_THIS_PROVIDERID_ALREADY_EXISTS` (422);
    /// `THIS_PROVIDERID_IS_RESERVED_AND_CANNOT_BE_USED_FOR_AN_SSO_PROVIDER`
    /// (422); `INVALID_DOMAIN`; `VALIDATION_ERROR`.
    pub async fn register_provider(
        &self,
        token: &str,
        new: NewSsoProvider,
        meta: &RequestMeta,
    ) -> Result<RegisteredProvider> {
        let actor = self.callers.writer(token).await?;
        check_provider_id(&new.provider_id)?;
        check_url("issuer", &new.issuer)?;
        if let Some(d) = &new.discovery_endpoint {
            check_url("discoveryEndpoint", d)?;
        }
        check_text("clientId", &new.client_id, MAX_URL_LEN)?;
        check_text("clientSecret", new.client_secret.expose(), 4096)?;
        check_scopes(&new.scopes)?;
        let domain = normalize_domain(&new.domain)?;
        let org = new.organization_id;
        self.require_admin(
            &actor,
            &org,
            sso("YOU_ARE_NOT_A_MEMBER_OF_THE_ORGANIZATION", 400),
            sso(
                "YOU_MUST_BE_AN_ORGANIZATION_OWNER_OR_ADMIN_TO_REGISTER_SSO_PROVIDERS",
                403,
            ),
        )
        .await?;
        // Nor the ID of one of the platform's social providers: their
        // accounts share the `account` table, keyed by provider ID and
        // subject, and a tenant's identity provider could name a subject of
        // theirs.
        if RESERVED_PROVIDER_IDS
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&new.provider_id))
            || self
                .callers
                .auth()
                .social_provider(&new.provider_id)
                .is_some()
        {
            return Err(sso(
                "THIS_PROVIDERID_IS_RESERVED_AND_CANNOT_BE_USED_FOR_AN_SSO_PROVIDER",
                422,
            ));
        }
        let config = OidcConfig {
            issuer: new.issuer.clone(),
            client_id: new.client_id.clone(),
            client_secret: symmetric_encrypt(self.secret(), new.client_secret.expose())?,
            discovery_endpoint: new.discovery_endpoint.clone(),
            scopes: (!new.scopes.is_empty()).then(|| new.scopes.clone()),
            pkce: Some(new.pkce),
        };
        let config_json =
            serde_json::to_string(&config).map_err(|e| AuthError::internal("sso", e))?;
        let id = random_id()?;
        let now = self.callers.now();
        let stamp = date::format(now);
        let token_value = VerificationToken::new(random_string(24)?);
        let label = record_label(&new.provider_id);
        let insert = Statement::new(format!(
            r#"INSERT INTO "ssoProvider" ({PROVIDER_COLUMNS}) SELECT ?1, ?2, ?3, ?4, ?5, 0, ?6, ?7 WHERE EXISTS (SELECT 1 FROM "organization" WHERE "id" = ?3) AND NOT EXISTS (SELECT 1 FROM "account" WHERE "providerId" = ?2)"#
        ))
        .bind(id.as_str())
        .bind(new.provider_id.as_str())
        .bind(org.as_str())
        .bind(new.issuer.as_str())
        .bind(domain.as_str())
        .bind(config_json)
        .bind(actor.user_id.as_str());
        let clear = Statement::new(r#"DELETE FROM "verification" WHERE "identifier" = ?1"#)
            .bind(label.as_str());
        let pending = Statement::new(
            r#"INSERT INTO "verification" ("id", "identifier", "value", "expiresAt", "createdAt", "updatedAt") SELECT ?1, ?2, ?3, ?4, ?5, ?5 WHERE EXISTS (SELECT 1 FROM "ssoProvider" WHERE "id" = ?6)"#,
        )
        .bind(random_id()?)
        .bind(label.as_str())
        .bind(token_value.expose())
        .bind(date::format(now + VERIFICATION_TTL))
        .bind(stamp.as_str())
        .bind(id.as_str());
        let entry = audit::insert_where(
            AuditEvent::SsoProviderRegistered,
            actor.record(
                &org,
                Some(format!("provider={} domain={domain}", new.provider_id)),
            ),
            meta,
            now,
            r#"EXISTS (SELECT 1 FROM "ssoProvider" WHERE "id" = ?11)"#,
            vec![Value::from(id.clone())],
        )?;
        let out = match self
            .db()
            .write_audited(vec![insert, clear, pending], entry)
            .await
        {
            Ok(out) => out,
            Err(e) if e.is_already_exists() => {
                return Err(sso("SSO_PROVIDER_WITH_THIS_PROVIDERID_ALREADY_EXISTS", 422));
            }
            Err(e) => return Err(e.into()),
        };
        if out.first().map_or(0, |o| o.rows_affected) == 0 {
            // Accounts under this ID (a social provider taken out of the
            // configuration, say): a new provider under it could name their
            // subjects and sign in as their users.
            if self.has_accounts(&new.provider_id).await? {
                return Err(sso(
                    "THIS_PROVIDERID_IS_RESERVED_AND_CANNOT_BE_USED_FOR_AN_SSO_PROVIDER",
                    422,
                ));
            }
            return Err(AuthError::OrganizationNotFound);
        }
        let provider = SsoProvider {
            id,
            provider_id: new.provider_id,
            organization_id: org,
            discovery_endpoint: new
                .discovery_endpoint
                .unwrap_or_else(|| default_discovery(&new.issuer)),
            issuer: new.issuer,
            domain,
            domain_verified: false,
            client_id: new.client_id,
            scopes: config.scopes.unwrap_or_else(default_scopes),
            pkce: new.pkce,
            user_id: Some(actor.user_id.to_string()),
        };
        Ok(RegisteredProvider {
            provider,
            domain_verification_token: token_value,
        })
    }

    /// A provider, for an owner or admin of its organization (or a platform
    /// admin). Errors: `UNAUTHORIZED`, `PROVIDER_NOT_FOUND` (404, also for
    /// another tenant's provider), `YOU_DONT_HAVE_ACCESS_TO_THIS_PROVIDER`
    /// (403, a plain member).
    pub async fn provider(&self, token: &str, provider_id: &str) -> Result<SsoProvider> {
        let actor = self.callers.actor(token).await?;
        Ok(self.accessible(&actor, provider_id).await?.provider)
    }

    /// The providers of an organization, for its owners and admins.
    /// Errors: `UNAUTHORIZED`, `PROVIDER_NOT_FOUND` (not a member),
    /// `YOU_DONT_HAVE_ACCESS_TO_THIS_PROVIDER`.
    pub async fn list_providers(&self, token: &str, org: &TenantId) -> Result<Vec<SsoProvider>> {
        let actor = self.callers.actor(token).await?;
        self.require_admin(
            &actor,
            org,
            NOT_FOUND,
            sso("YOU_DONT_HAVE_ACCESS_TO_THIS_PROVIDER", 403),
        )
        .await?;
        let sql = format!(
            r#"SELECT {PROVIDER_COLUMNS} FROM "ssoProvider" WHERE "organizationId" = ?1 ORDER BY "providerId""#
        );
        let rows = self
            .db()
            .query(&Statement::new(sql).bind(org.as_str()))
            .await?;
        rows.iter()
            .map(|r| stored_from_row(r).map(|s| s.provider))
            .collect()
    }

    /// Changes a provider (Better Auth's `POST /sso/update-provider`); a
    /// new domain is unverified. The issuer, client ID and discovery
    /// endpoint change only while no account is linked to the provider.
    /// Errors as [`Sso::provider`], and `INVALID_DOMAIN`, `VALIDATION_ERROR`,
    /// `CANNOT_CHANGE_SSO_PROVIDER_IDENTITY_FIELDS_WHILE_LINKED_ACCOUNTS_EXIST`
    /// (409), `SSO_PROVIDER_CHANGED` (409, changed or deleted meanwhile).
    pub async fn update_provider(
        &self,
        token: &str,
        provider_id: &str,
        update: SsoProviderUpdate,
        meta: &RequestMeta,
    ) -> Result<SsoProvider> {
        let actor = self.callers.writer(token).await?;
        let Stored {
            mut provider,
            mut config,
            raw_config,
        } = self.accessible(&actor, provider_id).await?;
        let old_domain = provider.domain.clone();
        let old_issuer = provider.issuer.clone();
        let old_identity = (
            provider.issuer.clone(),
            provider.client_id.clone(),
            provider.discovery_endpoint.clone(),
        );
        if let Some(issuer) = update.issuer {
            check_url("issuer", &issuer)?;
            config.issuer = issuer.clone();
            provider.issuer = issuer;
        }
        if let Some(client_id) = update.client_id {
            check_text("clientId", &client_id, MAX_URL_LEN)?;
            config.client_id = client_id.clone();
            provider.client_id = client_id;
        }
        if let Some(secret) = update.client_secret {
            check_text("clientSecret", secret.expose(), 4096)?;
            config.client_secret = symmetric_encrypt(self.secret(), secret.expose())?;
        }
        if let Some(scopes) = update.scopes {
            check_scopes(&scopes)?;
            provider.scopes = if scopes.is_empty() {
                default_scopes()
            } else {
                scopes.clone()
            };
            config.scopes = (!scopes.is_empty()).then_some(scopes);
        }
        if let Some(endpoint) = update.discovery_endpoint {
            check_url("discoveryEndpoint", &endpoint)?;
            config.discovery_endpoint = Some(endpoint.clone());
            provider.discovery_endpoint = endpoint;
        } else if config.discovery_endpoint.is_none() {
            // The default follows the issuer.
            provider.discovery_endpoint = default_discovery(&provider.issuer);
        }
        if let Some(pkce) = update.pkce {
            config.pkce = Some(pkce);
            provider.pkce = pkce;
        }
        if let Some(domain) = update.domain {
            let domain = normalize_domain(&domain)?;
            if domain != provider.domain {
                provider.domain = domain;
                provider.domain_verified = false;
            }
        }
        let config_json =
            serde_json::to_string(&config).map_err(|e| AuthError::internal("sso", e))?;
        let now = self.callers.now();
        // Who the provider's accounts are (issuer, client, where its keys
        // come from) changes only while no account is linked to it (Better
        // Auth's identity boundary): another issuer could name an existing
        // account's subject. Decided in the update, so an account linked
        // meanwhile wins.
        let boundary_changed = old_identity
            != (
                provider.issuer.clone(),
                provider.client_id.clone(),
                provider.discovery_endpoint.clone(),
            );
        let mut update_stmt = Statement::new(
            r#"UPDATE "ssoProvider" SET "issuer" = ?1, "oidcConfig" = ?2, "domain" = ?3, "domainVerified" = CASE WHEN "domain" = ?3 THEN "domainVerified" ELSE 0 END WHERE "id" = ?4 AND "domain" = ?5 AND "organizationId" = ?6 AND "issuer" = ?7 AND "oidcConfig" = ?8"#,
        )
        .bind(provider.issuer.as_str())
        .bind(config_json)
        .bind(provider.domain.as_str())
        .bind(provider.id.as_str())
        .bind(old_domain.as_str())
        .bind(provider.organization_id.as_str())
        // Only over the row as read: a concurrent update is refused
        // (`SSO_PROVIDER_CHANGED`), never silently undone.
        .bind(old_issuer.as_str())
        .bind(raw_config.as_str());
        if boundary_changed {
            let mut params = update_stmt.params().to_vec();
            params.push(Value::from(provider_id));
            update_stmt = Statement::with_params(
                format!(
                    r#"{} AND NOT EXISTS (SELECT 1 FROM "account" WHERE "providerId" = ?9)"#,
                    update_stmt.sql()
                ),
                params,
            );
        }
        let entry = audit::insert_where(
            AuditEvent::SsoProviderUpdated,
            actor.record(
                &provider.organization_id,
                Some(format!("provider={provider_id} domain={}", provider.domain)),
            ),
            meta,
            now,
            r#"EXISTS (SELECT 1 FROM "ssoProvider" WHERE "id" = ?11 AND "domain" = ?12)"#,
            vec![
                Value::from(provider.id.clone()),
                Value::from(provider.domain.clone()),
            ],
        )?;
        let out = self.db().write_audited(vec![update_stmt], entry).await?;
        if out.first().map_or(0, |o| o.rows_affected) == 0 {
            if boundary_changed && self.has_accounts(provider_id).await? {
                return Err(sso(
                    "CANNOT_CHANGE_SSO_PROVIDER_IDENTITY_FIELDS_WHILE_LINKED_ACCOUNTS_EXIST",
                    409,
                ));
            }
            return Err(sso("SSO_PROVIDER_CHANGED", 409));
        }
        Ok(provider)
    }

    async fn has_accounts(&self, provider_id: &str) -> Result<bool> {
        let rows = self
            .db()
            .query(
                &Statement::new(r#"SELECT 1 FROM "account" WHERE "providerId" = ?1 LIMIT 1"#)
                    .bind(provider_id),
            )
            .await?;
        Ok(!rows.is_empty())
    }

    /// Deletes a provider (Better Auth's `POST /sso/delete-provider`), its
    /// pending verification and the accounts linked to it (their users
    /// stay). Errors as [`Sso::provider`].
    pub async fn delete_provider(
        &self,
        token: &str,
        provider_id: &str,
        meta: &RequestMeta,
    ) -> Result<()> {
        let actor = self.callers.writer(token).await?;
        let Stored { provider, .. } = self.accessible(&actor, provider_id).await?;
        let delete = Statement::new(
            r#"DELETE FROM "ssoProvider" WHERE "id" = ?1 AND "organizationId" = ?2"#,
        )
        .bind(provider.id.as_str())
        .bind(provider.organization_id.as_str());
        let clear = Statement::new(r#"DELETE FROM "verification" WHERE "identifier" = ?1"#)
            .bind(record_label(provider_id));
        // Its accounts go with it (as in Better Auth): a provider registered
        // later under the same ID, by any tenant, finds none of them.
        let accounts = Statement::new(
            r#"DELETE FROM "account" WHERE "providerId" = ?1 AND NOT EXISTS (SELECT 1 FROM "ssoProvider" WHERE "providerId" = ?1)"#,
        )
        .bind(provider_id);
        let entry = audit::insert_where(
            AuditEvent::SsoProviderDeleted,
            actor.record(
                &provider.organization_id,
                Some(format!("provider={provider_id}")),
            ),
            meta,
            self.callers.now(),
            r#"NOT EXISTS (SELECT 1 FROM "ssoProvider" WHERE "id" = ?11)"#,
            vec![Value::from(provider.id.clone())],
        )?;
        self.db()
            .write_audited(vec![delete, accounts, clear], entry)
            .await?;
        Ok(())
    }

    /// Better Auth's `POST /sso/request-domain-verification`: the pending
    /// token of the provider's domain, or a new one valid for a week.
    /// Errors as [`Sso::provider`], and `DOMAIN_VERIFIED` (409).
    pub async fn request_domain_verification(
        &self,
        token: &str,
        provider_id: &str,
    ) -> Result<VerificationToken> {
        let actor = self.callers.writer(token).await?;
        let Stored { provider, .. } = self.accessible(&actor, provider_id).await?;
        if provider.domain_verified {
            return Err(sso("DOMAIN_VERIFIED", 409));
        }
        if let Some(t) = self.pending_token(provider_id).await? {
            return Ok(t);
        }
        let now = self.callers.now();
        let value = VerificationToken::new(random_string(24)?);
        self.db()
            .execute(
                &Statement::new(
                    r#"INSERT INTO "verification" ("id", "identifier", "value", "expiresAt", "createdAt", "updatedAt") VALUES (?1, ?2, ?3, ?4, ?5, ?5)"#,
                )
                .bind(random_id()?)
                .bind(record_label(provider_id))
                .bind(value.expose())
                .bind(date::format(now + VERIFICATION_TTL))
                .bind(date::format(now)),
            )
            .await?;
        Ok(value)
    }

    /// The newest unexpired verification token of a provider.
    async fn pending_token(&self, provider_id: &str) -> Result<Option<VerificationToken>> {
        let row = self
            .callers
            .row(
                Statement::new(
                    r#"SELECT "value" FROM "verification" WHERE "identifier" = ?1 AND "expiresAt" > ?2 ORDER BY "createdAt" DESC LIMIT 1"#,
                )
                .bind(record_label(provider_id))
                .bind(date::format(self.callers.now())),
            )
            .await?;
        row.map(|r| r.get::<String>(0).map(VerificationToken::new))
            .transpose()
            .map_err(Into::into)
    }

    /// Better Auth's `POST /sso/verify-domain`: checks the proof with
    /// `check` (a [`DnsTxtCheck`] or an [`HttpTokenCheck`]) and marks the
    /// provider's domain verified, if its domain is still the one checked
    /// and no other provider holds it verified: the database decides, so of
    /// two concurrent verifications of a domain one wins.
    ///
    /// Errors as [`Sso::provider`], and `DOMAIN_VERIFIED` (409),
    /// `IDENTIFIER_TOO_LONG` (400), `NO_PENDING_VERIFICATION` (404),
    /// `DOMAIN_VERIFICATION_FAILED` (502: the proof was not found),
    /// `SSO_PROVIDER_CHANGED` (409), and
    /// `DOMAIN_ALREADY_VERIFIED_BY_ANOTHER_PROVIDER` (409, Neutrino's: another
    /// provider, of this tenant or another, holds it).
    pub async fn verify_domain(
        &self,
        token: &str,
        provider_id: &str,
        check: &dyn DomainCheck,
        meta: &RequestMeta,
    ) -> Result<()> {
        let actor = self.callers.writer(token).await?;
        let Stored { provider, .. } = self.accessible(&actor, provider_id).await?;
        if provider.domain_verified {
            return Err(sso("DOMAIN_VERIFIED", 409));
        }
        if record_label(provider_id).len() > DNS_LABEL_MAX_LEN {
            return Err(sso("IDENTIFIER_TOO_LONG", 400));
        }
        let pending = self
            .pending_token(provider_id)
            .await?
            .ok_or(sso("NO_PENDING_VERIFICATION", 404))?;
        let challenge = DomainChallenge {
            domain: &provider.domain,
            provider_id,
            token: &pending,
        };
        match check.holds(&challenge).await {
            Ok(true) => {}
            Ok(false) => return Err(sso("DOMAIN_VERIFICATION_FAILED", 502)),
            Err(e) => {
                tracing::warn!(code = e.code(), "sso domain verification could not run");
                return Err(sso("DOMAIN_VERIFICATION_FAILED", 502));
            }
        }
        self.callers.ensure_writable().await?;
        let now = self.callers.now();
        let mark = Statement::new(
            r#"UPDATE "ssoProvider" SET "domainVerified" = 1 WHERE "id" = ?1 AND "domain" = ?2 AND "organizationId" = ?3 AND ("domainVerified" IS NULL OR "domainVerified" = 0)"#,
        )
        .bind(provider.id.as_str())
        .bind(provider.domain.as_str())
        .bind(provider.organization_id.as_str());
        let entry = audit::insert_where(
            AuditEvent::SsoDomainVerified,
            actor.record(
                &provider.organization_id,
                Some(format!("provider={provider_id} domain={}", provider.domain)),
            ),
            meta,
            now,
            r#"EXISTS (SELECT 1 FROM "ssoProvider" WHERE "id" = ?11 AND "domainVerified" = 1)"#,
            vec![Value::from(provider.id.clone())],
        )?;
        match self.db().write_audited(vec![mark], entry).await {
            Ok(out) if out.first().is_some_and(|o| o.rows_affected == 1) => Ok(()),
            Ok(_) => Err(sso("SSO_PROVIDER_CHANGED", 409)),
            Err(e) if e.is_already_exists() => {
                Err(sso("DOMAIN_ALREADY_VERIFIED_BY_ANOTHER_PROVIDER", 409))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A tenant's SSO policy (default: not required, role `member`), for
    /// its members. Errors: `UNAUTHORIZED`,
    /// `USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION`.
    pub async fn policy(&self, token: &str, org: &TenantId) -> Result<SsoPolicy> {
        let actor = self.callers.actor(token).await?;
        self.members.standing(&actor, org).await?;
        self.stored_policy(org).await
    }

    async fn stored_policy(&self, org: &TenantId) -> Result<SsoPolicy> {
        let row = self
            .callers
            .row(
                Statement::new(
                    r#"SELECT "ssoRequired", "defaultRole" FROM "neutrinoSsoPolicy" WHERE "organizationId" = ?1"#,
                )
                .bind(org.as_str()),
            )
            .await?;
        match row {
            Some(r) => Ok(SsoPolicy {
                sso_required: r.get(0)?,
                default_role: r.get(1)?,
            }),
            None => Ok(SsoPolicy::default()),
        }
    }

    /// Sets a tenant's SSO policy; for its owners and admins. The default
    /// role must be one of the access policy's roles, and not `owner`.
    /// Errors: `UNAUTHORIZED`, `USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION`,
    /// `YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION`, `ROLE_NOT_FOUND`,
    /// `DEFAULT_ROLE_CANNOT_BE_OWNER` (400).
    pub async fn set_policy(
        &self,
        token: &str,
        org: &TenantId,
        policy: SsoPolicy,
        meta: &RequestMeta,
    ) -> Result<SsoPolicy> {
        let actor = self.callers.writer(token).await?;
        let s = self.members.standing(&actor, org).await?;
        if !self.members.can(&s, "organization", "update") {
            return Err(AuthError::NotAllowed {
                code: "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION",
            });
        }
        let role = self.members.normalize_roles(&policy.default_role)?;
        if access::has_role(&role, OWNER) {
            return Err(sso("DEFAULT_ROLE_CANNOT_BE_OWNER", 400));
        }
        let now = self.callers.now();
        let upsert = Statement::new(
            r#"INSERT INTO "neutrinoSsoPolicy" ("organizationId", "ssoRequired", "defaultRole", "updatedAt") SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM "organization" WHERE "id" = ?1) ON CONFLICT ("organizationId") DO UPDATE SET "ssoRequired" = excluded."ssoRequired", "defaultRole" = excluded."defaultRole", "updatedAt" = excluded."updatedAt""#,
        )
        .bind(org.as_str())
        .bind(policy.sso_required)
        .bind(role.as_str())
        .bind(date::format(now));
        let entry = audit::insert(
            AuditEvent::SsoPolicyChanged,
            actor.record(
                org,
                Some(format!("required={} role={role}", policy.sso_required)),
            ),
            meta,
            now,
        )?;
        let out = self.db().write_audited(vec![upsert], entry).await?;
        if out.first().map_or(0, |o| o.rows_affected) == 0 {
            return Err(AuthError::OrganizationNotFound);
        }
        Ok(SsoPolicy {
            sso_required: policy.sso_required,
            default_role: role,
        })
    }

    /// The provider a sign-in goes to (Better Auth's `/sign-in/sso`
    /// resolution), with its decrypted secret, for the OIDC handshake.
    /// Only a provider whose domain is verified routes anyone; for an email
    /// or a domain, the most specific verified domain that covers it wins.
    ///
    /// Errors: `NO_PROVIDER_FOUND_FOR_THE_ISSUER` (404: none, or none for an
    /// unknown organization), `PROVIDER_DOMAIN_HAS_NOT_BEEN_VERIFIED` (401: the
    /// providers found are not verified), `INVALID_EMAIL`, `INVALID_DOMAIN`.
    pub async fn provider_for_sign_in(&self, target: SsoTarget) -> Result<SsoProviderConfig> {
        let not_found = sso("NO_PROVIDER_FOUND_FOR_THE_ISSUER", 404);
        let unverified = sso("PROVIDER_DOMAIN_HAS_NOT_BEEN_VERIFIED", 401);
        let (filter, params): (String, Vec<Value>) = match &target {
            SsoTarget::Email(_) | SsoTarget::Domain(_) => {
                let domains = match &target {
                    SsoTarget::Email(e) => domain::email_domains(&normalize_email(e)?),
                    SsoTarget::Domain(d) => {
                        domain::email_domains(&format!("x@{}", normalize_domain(d)?))
                    }
                    _ => Vec::new(),
                };
                if domains.is_empty() {
                    return Err(not_found);
                }
                let ph: Vec<String> = (1..=domains.len()).map(|i| format!("?{i}")).collect();
                (
                    format!(r#""domain" IN ({})"#, ph.join(", ")),
                    domains.into_iter().map(Value::from).collect(),
                )
            }
            SsoTarget::OrganizationSlug(slug) => {
                if slug.is_empty() || slug.len() > 256 {
                    return Err(not_found);
                }
                (
                    r#""organizationId" = (SELECT "id" FROM "organization" WHERE "slug" = ?1)"#
                        .to_owned(),
                    vec![Value::from(slug.clone())],
                )
            }
            SsoTarget::ProviderId(id) => {
                if check_provider_id(id).is_err() {
                    return Err(not_found);
                }
                (
                    r#""providerId" = ?1"#.to_owned(),
                    vec![Value::from(id.clone())],
                )
            }
        };
        let rows = self
            .db()
            .query(&Statement::with_params(
                format!(
                    r#"SELECT {PROVIDER_COLUMNS} FROM "ssoProvider" WHERE {filter} ORDER BY "domainVerified" DESC, LENGTH("domain") DESC, "providerId""#
                ),
                params,
            ))
            .await?;
        let first = rows.first().ok_or(not_found)?;
        let Stored {
            provider, config, ..
        } = stored_from_row(first)?;
        if !provider.domain_verified {
            return Err(unverified);
        }
        Ok(SsoProviderConfig {
            client_secret: ClientSecret(symmetric_decrypt(self.secret(), &config.client_secret)?),
            provider_id: provider.provider_id,
            issuer: provider.issuer,
            discovery_endpoint: provider.discovery_endpoint,
            client_id: provider.client_id,
            scopes: provider.scopes,
            pkce: provider.pkce,
            organization_id: provider.organization_id,
            domain: provider.domain,
        })
    }

    /// Finishes an SSO sign-in with the identity the OIDC handshake
    /// verified for `provider_id` (Better Auth's `/sso/callback/:providerId`
    /// after the token exchange): finds or creates the user, links the
    /// provider's account, makes them a member of the provider's
    /// organization with its default role, and creates a session, in one
    /// batch; see the module documentation.
    ///
    /// Errors: `NO_PROVIDER_FOUND_FOR_THE_ISSUER` (404),
    /// `PROVIDER_DOMAIN_HAS_NOT_BEEN_VERIFIED` (401), `ISSUER_MISMATCH` (401:
    /// the identity's issuer is not the provider's), `ACCOUNT_NOT_LINKED`
    /// (401: a user has this email but the provider does not vouch for it:
    /// unverified, or outside its verified domain), `EMAIL_DOMAIN_MISMATCH`
    /// (401: a new user's email is outside the provider's verified domain),
    /// `BANNED_USER`, `INVALID_EMAIL`, `VALIDATION_ERROR`, and the
    /// platform's status error.
    pub async fn complete_sign_in(
        &self,
        provider_id: &str,
        identity: SsoIdentity,
        meta: &RequestMeta,
    ) -> Result<SignedIn> {
        Ok(self.complete(provider_id, identity, meta).await?.0)
    }

    /// [`Sso::complete_sign_in`], and whether the user was created.
    async fn complete(
        &self,
        provider_id: &str,
        identity: SsoIdentity,
        meta: &RequestMeta,
    ) -> Result<(SignedIn, bool)> {
        self.callers.ensure_writable().await?;
        let Stored {
            provider,
            raw_config,
            ..
        } = self
            .load(provider_id)
            .await?
            .ok_or(sso("NO_PROVIDER_FOUND_FOR_THE_ISSUER", 404))?;
        if !provider.domain_verified {
            return Err(sso("PROVIDER_DOMAIN_HAS_NOT_BEEN_VERIFIED", 401));
        }
        if identity.issuer != provider.issuer {
            return Err(sso("ISSUER_MISMATCH", 401));
        }
        check_text("sub", &identity.subject, 255)?;
        let email = normalize_email(&identity.email)?;
        let name = identity
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| email.split('@').next().unwrap_or(""))
            .to_owned();
        if name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
            return Err(AuthError::validation(
                "name",
                "too long or has control characters",
            ));
        }
        if identity
            .image
            .as_ref()
            .is_some_and(|i| i.len() > MAX_IMAGE_LEN)
        {
            return Err(AuthError::validation("image", "too long"));
        }
        let vouched = identity.email_verified && domain::email_in_domain(&email, &provider.domain);
        let org = provider.organization_id;
        let role = self.stored_policy(&org).await?.default_role;
        // Every write holds only while the provider is the one checked here
        // (same row, issuer and configuration, domain verified): a provider
        // deleted, re-registered or given another issuer meanwhile links no
        // account, creates no user and opens no session. Else an account
        // written for the old provider would be found by the next one
        // under the same ID, whose issuer could name its subject.
        let unchanged = r#"EXISTS (SELECT 1 FROM "ssoProvider" WHERE "id" = ?1 AND "providerId" = ?2 AND "issuer" = ?3 AND "oidcConfig" = ?4 AND "domainVerified" = 1)"#;
        let unchanged_params = || -> Vec<Value> {
            vec![
                provider.id.as_str().into(),
                provider_id.into(),
                provider.issuer.as_str().into(),
                raw_config.as_str().into(),
            ]
        };
        let and_unchanged = |stmt: Statement| {
            let shifted = crate::stmt::renumber(unchanged, stmt.params().len());
            let mut params = stmt.params().to_vec();
            params.extend(unchanged_params());
            Statement::with_params(format!("{} AND {shifted}", stmt.sql()), params)
        };
        let auth = self.callers.auth();
        // A lost race (another callback created the user or the account
        // first) is retried: the next round finds what the winner wrote.
        for _ in 0..4 {
            let now = self.callers.now();
            let stamp = date::format(now);
            let by_account = self
                .callers
                .row(
                    Statement::new(
                        r#"SELECT "userId" FROM "account" WHERE "providerId" = ?1 AND "accountId" = ?2"#,
                    )
                    .bind(provider_id)
                    .bind(identity.subject.as_str()),
                )
                .await?;
            let mut writes = Vec::new();
            let mut created = false;
            let mut claimed = false;
            let (user_id, event) = if let Some(r) = by_account {
                let id: String = r.get(0)?;
                (rows::parse_user_id(&id)?, AuditEvent::SsoSignIn)
            } else {
                let by_email = self
                    .callers
                    .row(
                        Statement::new(r#"SELECT "id" FROM "user" WHERE "email" = ?1"#)
                            .bind(email.as_str()),
                    )
                    .await?;
                let user_id = match by_email {
                    Some(r) => {
                        if !vouched {
                            return Err(sso("ACCOUNT_NOT_LINKED", 401));
                        }
                        let id: String = r.get(0)?;
                        let id = rows::parse_user_id(&id)?;
                        // The provider proves the address; a user who never
                        // did is handed over whole.
                        claimed = true;
                        writes.extend(
                            crate::oauth::claim_unproven_user(id.as_str(), &stamp)
                                .into_iter()
                                .map(and_unchanged),
                        );
                        id
                    }
                    None => {
                        if !domain::email_in_domain(&email, &provider.domain) {
                            return Err(sso("EMAIL_DOMAIN_MISMATCH", 401));
                        }
                        let id = UserId::generate_in(auth.id_format());
                        created = true;
                        writes.push(crate::stmt::insert_where(
                            &Statement::new(
                                r#"INSERT INTO "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt", "role", "banned", "twoFactorEnabled") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 'user', 0, 0)"#,
                            )
                            .bind(id.as_str())
                            .bind(name.as_str())
                            .bind(email.as_str())
                            .bind(vouched)
                            .bind(identity.image.as_deref())
                            .bind(stamp.as_str()),
                            unchanged,
                            unchanged_params(),
                        )?);
                        id
                    }
                };
                writes.push(crate::stmt::insert_where(
                    &Statement::new(
                        r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "createdAt", "updatedAt") VALUES (?1, ?2, ?3, ?4, ?5, ?5)"#,
                    )
                    .bind(random_id()?)
                    .bind(identity.subject.as_str())
                    .bind(provider_id)
                    .bind(user_id.as_str())
                    .bind(stamp.as_str()),
                    unchanged,
                    unchanged_params(),
                )?);
                (user_id, AuditEvent::SsoUserProvisioned)
            };
            writes.push(and_unchanged(
                Statement::new(
                    r#"INSERT INTO "member" ("id", "organizationId", "userId", "role", "createdAt") SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM "organization" WHERE "id" = ?2) AND NOT EXISTS (SELECT 1 FROM "member" WHERE "organizationId" = ?2 AND "userId" = ?3)"#,
                )
                .bind(random_id()?)
                .bind(org.as_str())
                .bind(user_id.as_str())
                .bind(role.as_str())
                .bind(stamp.as_str()),
            ));
            let (session, stmt) = auth.new_session(&user_id, true, meta, now)?;
            let session_at = writes.len();
            writes.push(and_unchanged(Statement::with_params(
                format!(
                    r#"{INSERT_SESSION_SELECT} WHERE EXISTS (SELECT 1 FROM "user" WHERE "id" = ?8) AND {}"#,
                    not_banned("?8", "?4")
                ),
                stmt.params().to_vec(),
            )));
            let entry = audit::insert(
                event,
                AuditRecord {
                    user_id: Some(user_id.as_str()),
                    session_id: Some(&session.id),
                    email: Some(&email),
                    detail: Some(format!("provider={provider_id}")),
                    organization_id: Some(org.as_str()),
                },
                meta,
                now,
            )?;
            match self.db().write_audited(writes, entry).await {
                Ok(out) => {
                    if out.get(session_at).map_or(0, |o| o.rows_affected) == 0 {
                        let still = self
                            .callers
                            .row(Statement::with_params(
                                format!("SELECT 1 WHERE {unchanged}"),
                                unchanged_params(),
                            ))
                            .await?;
                        return Err(if still.is_some() {
                            AuthError::BannedUser
                        } else {
                            sso("SSO_PROVIDER_CHANGED", 409)
                        });
                    }
                    if claimed {
                        // Its sessions may have been removed.
                        auth.evict_user(user_id.as_str());
                    }
                    let user = rows::load_user(self.db(), &user_id)
                        .await?
                        .ok_or(AuthError::UserNotFound)?;
                    return Ok((
                        SignedIn {
                            user,
                            session,
                            remember_me: true,
                        },
                        created,
                    ));
                }
                Err(e) if e.is_already_exists() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AuthError::internal(
            "sso",
            "concurrent sign-ins kept conflicting",
        ))
    }
}
