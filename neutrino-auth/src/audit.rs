//! The append-only audit log (`neutrinoAuditLog`).
//!
//! Sign-ups, sign-ins, failed sign-ins, sign-outs, password changes and resets,
//! email verifications and session revocations are recorded with the actor (the
//! user, when known), the session, the email attempted, the IP address and the
//! user agent. Entries are written in the same atomic batch as the change they
//! record where there is one. Triggers reject every `UPDATE` and `DELETE` on the
//! table, so the log can only grow; no secret (password, token, hash) is ever
//! written to it.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use async_trait::async_trait;
use neutrino_core::sql::{Dialect, ExecOutcome, Row, SqlExecutor, Statement};

use crate::date;
use crate::error::{AuthError, Result};
use crate::model::RequestMeta;
use crate::random::random_id;

/// An operator acting outside any session, as the audit log names it: who
/// (`name`) and why (`reason`), each 1-2000 bytes of text without control
/// characters. Written as `operator {name}: {reason}`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Operator<'a> {
    name: &'a str,
    reason: &'a str,
}

impl<'a> Operator<'a> {
    /// `name` acting for `reason`; `VALIDATION_ERROR` naming the field that
    /// is empty, too long or holds a control character.
    pub(crate) fn new(name: &'a str, reason: &'a str) -> Result<Self> {
        for (field, v) in [("operator", name), ("reason", reason)] {
            if v.trim().is_empty() || v.len() > 2000 || v.chars().any(char::is_control) {
                return Err(AuthError::validation(
                    field,
                    "must be 1-2000 bytes of text without control characters",
                ));
            }
        }
        Ok(Self { name, reason })
    }
}

impl fmt::Display for Operator<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "operator {}: {}", self.name, self.reason)
    }
}

/// What an audit entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditEvent {
    /// A user signed up (and was signed in).
    SignUp,
    /// A user signed in.
    SignIn,
    /// A sign-in failed (unknown email or wrong password).
    SignInFailed,
    /// A session was ended by its holder.
    SignOut,
    /// A user changed their password.
    PasswordChanged,
    /// A password was reset with a reset token.
    PasswordReset,
    /// A password reset was requested.
    PasswordResetRequested,
    /// An email address was verified.
    EmailVerified,
    /// One or more sessions were revoked.
    SessionRevoked,
    /// An organization (and its registry tenant) was created.
    OrganizationCreated,
    /// An organization's name, slug, logo or metadata changed.
    OrganizationUpdated,
    /// An organization was deleted (its registry tenant with it).
    OrganizationDeleted,
    /// A user became a member of an organization.
    MemberAdded,
    /// A member was removed from an organization.
    MemberRemoved,
    /// A member left an organization.
    MemberLeft,
    /// A member's roles changed.
    MemberRoleChanged,
    /// A session's active organization changed.
    ActiveOrganizationSet,
    /// A user's platform role changed.
    PlatformRoleChanged,
    /// An operator took a scope on a tenant.
    OperatorAccess,
    /// An operator created a session for a user without the user's credential.
    OperatorSession,
    /// An invitation was sent.
    InvitationCreated,
    /// An invitation was accepted.
    InvitationAccepted,
    /// An invitation was rejected.
    InvitationRejected,
    /// An invitation was canceled.
    InvitationCanceled,
    /// An API key was created.
    ApiKeyCreated,
    /// An API key was enabled, disabled or changed.
    ApiKeyUpdated,
    /// An API key was deleted.
    ApiKeyDeleted,
    /// Two-factor authentication was set up or confirmed.
    TwoFactorEnabled,
    /// Two-factor authentication was turned off.
    TwoFactorDisabled,
    /// A two-factor code was wrong.
    TwoFactorFailed,
    /// New backup codes were generated.
    BackupCodesGenerated,
    /// A platform admin banned a user (and ended their sessions).
    UserBanned,
    /// A ban was lifted, by an admin or because it expired.
    UserUnbanned,
    /// A platform admin started impersonating a user (one entry for each).
    ImpersonationStarted,
    /// An impersonation ended (one entry for the admin, one for the user).
    ImpersonationStopped,
    /// A platform admin removed a user.
    UserRemoved,
    /// A user changed their name or image.
    UserUpdated,
    /// A change of email address was requested (the new address is mailed).
    EmailChangeRequested,
    /// A user's email address changed.
    EmailChanged,
    /// A user deleted their own account.
    UserDeleted,
    /// A tenant admin registered an SSO provider.
    SsoProviderRegistered,
    /// A tenant admin changed an SSO provider.
    SsoProviderUpdated,
    /// A tenant admin deleted an SSO provider.
    SsoProviderDeleted,
    /// An SSO provider's email domain was verified.
    SsoDomainVerified,
    /// A tenant admin changed the tenant's SSO policy.
    SsoPolicyChanged,
    /// A user signed in through an SSO provider.
    SsoSignIn,
    /// A user was created, or linked, and made a member by an SSO sign-in.
    SsoUserProvisioned,
}

impl AuditEvent {
    /// The stored name, e.g. `"sign_in_failed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignUp => "sign_up",
            Self::SignIn => "sign_in",
            Self::SignInFailed => "sign_in_failed",
            Self::SignOut => "sign_out",
            Self::PasswordChanged => "password_changed",
            Self::PasswordReset => "password_reset",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::EmailVerified => "email_verified",
            Self::SessionRevoked => "session_revoked",
            Self::OrganizationCreated => "organization_created",
            Self::OrganizationUpdated => "organization_updated",
            Self::OrganizationDeleted => "organization_deleted",
            Self::MemberAdded => "member_added",
            Self::MemberRemoved => "member_removed",
            Self::MemberLeft => "member_left",
            Self::MemberRoleChanged => "member_role_changed",
            Self::ActiveOrganizationSet => "active_organization_set",
            Self::PlatformRoleChanged => "platform_role_changed",
            Self::OperatorAccess => "operator_access",
            Self::OperatorSession => "operator_session",
            Self::InvitationCreated => "invitation_created",
            Self::InvitationAccepted => "invitation_accepted",
            Self::InvitationRejected => "invitation_rejected",
            Self::InvitationCanceled => "invitation_canceled",
            Self::ApiKeyCreated => "api_key_created",
            Self::ApiKeyUpdated => "api_key_updated",
            Self::ApiKeyDeleted => "api_key_deleted",
            Self::TwoFactorEnabled => "two_factor_enabled",
            Self::TwoFactorDisabled => "two_factor_disabled",
            Self::TwoFactorFailed => "two_factor_failed",
            Self::BackupCodesGenerated => "backup_codes_generated",
            Self::UserBanned => "user_banned",
            Self::UserUnbanned => "user_unbanned",
            Self::ImpersonationStarted => "impersonation_started",
            Self::ImpersonationStopped => "impersonation_stopped",
            Self::UserRemoved => "user_removed",
            Self::UserUpdated => "user_updated",
            Self::EmailChangeRequested => "email_change_requested",
            Self::EmailChanged => "email_changed",
            Self::UserDeleted => "user_deleted",
            Self::SsoProviderRegistered => "sso_provider_registered",
            Self::SsoProviderUpdated => "sso_provider_updated",
            Self::SsoProviderDeleted => "sso_provider_deleted",
            Self::SsoDomainVerified => "sso_domain_verified",
            Self::SsoPolicyChanged => "sso_policy_changed",
            Self::SsoSignIn => "sso_sign_in",
            Self::SsoUserProvisioned => "sso_user_provisioned",
        }
    }
}

impl fmt::Display for AuditEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuditEvent {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "sign_up" => Self::SignUp,
            "sign_in" => Self::SignIn,
            "sign_in_failed" => Self::SignInFailed,
            "sign_out" => Self::SignOut,
            "password_changed" => Self::PasswordChanged,
            "password_reset" => Self::PasswordReset,
            "password_reset_requested" => Self::PasswordResetRequested,
            "email_verified" => Self::EmailVerified,
            "session_revoked" => Self::SessionRevoked,
            "organization_created" => Self::OrganizationCreated,
            "organization_updated" => Self::OrganizationUpdated,
            "organization_deleted" => Self::OrganizationDeleted,
            "member_added" => Self::MemberAdded,
            "member_removed" => Self::MemberRemoved,
            "member_left" => Self::MemberLeft,
            "member_role_changed" => Self::MemberRoleChanged,
            "active_organization_set" => Self::ActiveOrganizationSet,
            "platform_role_changed" => Self::PlatformRoleChanged,
            "operator_access" => Self::OperatorAccess,
            "operator_session" => Self::OperatorSession,
            "invitation_created" => Self::InvitationCreated,
            "invitation_accepted" => Self::InvitationAccepted,
            "invitation_rejected" => Self::InvitationRejected,
            "invitation_canceled" => Self::InvitationCanceled,
            "api_key_created" => Self::ApiKeyCreated,
            "api_key_updated" => Self::ApiKeyUpdated,
            "api_key_deleted" => Self::ApiKeyDeleted,
            "two_factor_enabled" => Self::TwoFactorEnabled,
            "two_factor_disabled" => Self::TwoFactorDisabled,
            "two_factor_failed" => Self::TwoFactorFailed,
            "backup_codes_generated" => Self::BackupCodesGenerated,
            "user_banned" => Self::UserBanned,
            "user_unbanned" => Self::UserUnbanned,
            "impersonation_started" => Self::ImpersonationStarted,
            "impersonation_stopped" => Self::ImpersonationStopped,
            "user_removed" => Self::UserRemoved,
            "user_updated" => Self::UserUpdated,
            "email_change_requested" => Self::EmailChangeRequested,
            "email_changed" => Self::EmailChanged,
            "user_deleted" => Self::UserDeleted,
            "sso_provider_registered" => Self::SsoProviderRegistered,
            "sso_provider_updated" => Self::SsoProviderUpdated,
            "sso_provider_deleted" => Self::SsoProviderDeleted,
            "sso_domain_verified" => Self::SsoDomainVerified,
            "sso_policy_changed" => Self::SsoPolicyChanged,
            "sso_sign_in" => Self::SsoSignIn,
            "sso_user_provisioned" => Self::SsoUserProvisioned,
            _ => {
                return Err(AuthError::corrupt("neutrinoAuditLog.event"));
            }
        })
    }
}

/// One entry of the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// Entry ID.
    pub id: String,
    /// When it happened.
    pub created_at: SystemTime,
    /// What happened.
    pub event: AuditEvent,
    /// The user concerned, when known.
    pub user_id: Option<String>,
    /// The session concerned, when there is one.
    pub session_id: Option<String>,
    /// The email address attempted (failed sign-ins, reset requests).
    pub email: Option<String>,
    /// The request's IP address.
    pub ip_address: Option<String>,
    /// The request's user agent.
    pub user_agent: Option<String>,
    /// Extra detail, e.g. how many sessions a revocation ended.
    pub detail: Option<String>,
    /// The organization (tenant) concerned, for organization events.
    pub organization_id: Option<String>,
}

/// The fields of an entry to write.
#[derive(Clone, Debug, Default)]
pub(crate) struct AuditRecord<'a> {
    pub(crate) user_id: Option<&'a str>,
    pub(crate) session_id: Option<&'a str>,
    pub(crate) email: Option<&'a str>,
    pub(crate) detail: Option<String>,
    pub(crate) organization_id: Option<&'a str>,
}

impl<'a> AuditRecord<'a> {
    /// The record of something `user_id` did in session `session_id`.
    pub(crate) fn in_session(user_id: &'a str, session_id: &'a str) -> Self {
        Self {
            user_id: Some(user_id),
            session_id: Some(session_id),
            ..Self::default()
        }
    }
}

pub(crate) const INSERT: &str = r#"INSERT INTO "neutrinoAuditLog" ("id", "createdAt", "event", "userId", "sessionId", "email", "ipAddress", "userAgent", "detail") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"#;

pub(crate) const INSERT_WITH_ORG: &str = r#"INSERT INTO "neutrinoAuditLog" ("id", "createdAt", "event", "userId", "sessionId", "email", "ipAddress", "userAgent", "detail", "organizationId") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"#;

pub(crate) fn insert(
    event: AuditEvent,
    rec: AuditRecord<'_>,
    meta: &RequestMeta,
    now: SystemTime,
) -> Result<Statement> {
    let stmt = Statement::new(if rec.organization_id.is_some() {
        INSERT_WITH_ORG
    } else {
        INSERT
    })
    .bind(random_id()?)
    .bind(date::format(now))
    .bind(event.as_str())
    .bind(rec.user_id)
    .bind(rec.session_id)
    .bind(rec.email)
    .bind(meta.ip_address.as_deref())
    .bind(meta.user_agent.as_deref())
    .bind(rec.detail);
    Ok(match rec.organization_id {
        Some(org) => stmt.bind(org),
        None => stmt,
    })
}

/// The one way this crate writes a change with its audit entry: the writes
/// and then the entry in one atomic batch, so the entry lands if and only if
/// the writes do (an entry from [`insert_where`] also only if its guard
/// holds). The outcomes are the batch's, the writes' first.
#[async_trait]
pub(crate) trait WriteAudited {
    /// Runs `writes` and `entry` in one batch.
    async fn write_audited(
        &self,
        writes: Vec<Statement>,
        entry: Statement,
    ) -> neutrino_core::Result<Vec<ExecOutcome>>;
}

#[async_trait]
impl<T: SqlExecutor + ?Sized> WriteAudited for T {
    async fn write_audited(
        &self,
        mut writes: Vec<Statement>,
        entry: Statement,
    ) -> neutrino_core::Result<Vec<ExecOutcome>> {
        if self.dialect() == Dialect::Postgres
            && let Some(head) = entry.sql().strip_suffix(CHANGED_SUFFIX)
            && let Some(last) = writes.pop()
        {
            // PostgreSQL has no `changes()`: the last write and the entry
            // become one statement, the entry inserted from the rows the
            // write returns, so it lands if and only if the write changed a
            // row. Its outcome stands for both.
            let shift = last.params().len();
            let sql = format!(
                r#"WITH "changed" AS ({} RETURNING 1) {} WHERE EXISTS (SELECT 1 FROM "changed")"#,
                last.sql(),
                shift_placeholders(head, shift)
            );
            let mut params = last.params().to_vec();
            params.extend_from_slice(entry.params());
            writes.push(Statement::with_params(sql, params));
            let mut out = self.batch(&writes).await?;
            if let Some(both) = out.last().cloned() {
                out.push(both);
            }
            return Ok(out);
        }
        writes.push(entry);
        self.batch(&writes).await
    }
}

/// The condition for [`insert_where`] that the batch's last write changed a
/// row: SQLite's `changes()`, and on PostgreSQL the last write and the entry
/// made one statement by [`WriteAudited::write_audited`].
pub(crate) const CHANGED: &str = "changes() > 0";

const CHANGED_SUFFIX: &str = " WHERE changes() > 0";

/// `sql` (this module's own, without literals) with each `?N` made
/// `?{N + by}`.
fn shift_placeholders(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        out.push(c);
        if c != '?' {
            continue;
        }
        let mut n = String::new();
        while let Some(&(_, d)) = chars.peek()
            && d.is_ascii_digit()
        {
            n.push(d);
            chars.next();
        }
        match n.parse::<usize>() {
            Ok(v) => out.push_str(&(v + by).to_string()),
            Err(_) => out.push_str(&n),
        }
    }
    out
}

/// [`insert`] written only when `cond` holds (SQL whose placeholders start at
/// `?11`, bound to `extra`), so an entry lands in the same batch as a guarded
/// change and only if the change happened. A user event keeps a NULL
/// organization, as [`insert`] writes it.
pub(crate) fn insert_where(
    event: AuditEvent,
    rec: AuditRecord<'_>,
    meta: &RequestMeta,
    now: SystemTime,
    cond: &str,
    extra: Vec<neutrino_core::sql::Value>,
) -> Result<Statement> {
    let has_org = rec.organization_id.is_some();
    let base = insert(event, rec, meta, now)?;
    let mut params = base.params().to_vec();
    if !has_org {
        params.push(neutrino_core::sql::Value::Null);
    }
    params.extend(extra);
    let sql = format!(
        r#"INSERT INTO "neutrinoAuditLog" ("id", "createdAt", "event", "userId", "sessionId", "email", "ipAddress", "userAgent", "detail", "organizationId") SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 WHERE {cond}"#
    );
    Ok(Statement::with_params(sql, params))
}

/// The condition for [`insert_where`] that the user bound at `?11` exists
/// (after the batch's earlier writes): an entry about an unknown user is
/// never written.
pub(crate) const USER_EXISTS: &str = r#"EXISTS (SELECT 1 FROM "user" WHERE "id" = ?11)"#;

pub(crate) const SELECT_BY_USER: &str = r#"SELECT "id", "createdAt", "event", "userId", "sessionId", "email", "ipAddress", "userAgent", "detail", "organizationId" FROM "neutrinoAuditLog" WHERE "userId" = ?1 ORDER BY "createdAt" DESC, rowid DESC LIMIT ?2"#;
pub(crate) const SELECT_RECENT: &str = r#"SELECT "id", "createdAt", "event", "userId", "sessionId", "email", "ipAddress", "userAgent", "detail", "organizationId" FROM "neutrinoAuditLog" ORDER BY "createdAt" DESC, rowid DESC LIMIT ?1"#;

pub(crate) const SELECT_BY_ORGANIZATION: &str = r#"SELECT "id", "createdAt", "event", "userId", "sessionId", "email", "ipAddress", "userAgent", "detail", "organizationId" FROM "neutrinoAuditLog" WHERE "organizationId" = ?1 ORDER BY "createdAt" DESC, rowid DESC LIMIT ?2"#;

pub(crate) fn from_row(r: &Row) -> Result<AuditEntry> {
    let created: String = r.get(1)?;
    let event: String = r.get(2)?;
    Ok(AuditEntry {
        id: r.get(0)?,
        created_at: date::stored(&created, "neutrinoAuditLog.createdAt")?,
        event: event.parse()?,
        user_id: r.get(3)?,
        session_id: r.get(4)?,
        email: r.get(5)?,
        ip_address: r.get(6)?,
        user_agent: r.get(7)?,
        detail: r.get(8)?,
        organization_id: r.get(9)?,
    })
}
