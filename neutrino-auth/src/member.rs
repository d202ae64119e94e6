//! Memberships and roles: [`Members`] reads a user's standing in an
//! organization (a member with roles, or a platform admin), adds, lists,
//! changes and removes members under the access policy, and sets platform
//! roles. The last owner of an organization can neither leave nor be demoted
//! or removed: the database decides it inside the write.

use std::time::SystemTime;

use neutrino_core::ids::{TenantId, UserId};
use neutrino_core::sql::{Row, Statement, Value};

use crate::access::{self, AccessPolicy, OWNER, PlatformRole};
use crate::audit::{self, AuditEvent, AuditRecord, Operator, WriteAudited};
use crate::caller::{Actor, Callers};
use crate::date;
use crate::error::{AuthError, Result};
use crate::model::RequestMeta;
use crate::random::random_id;

/// A `member` row: a user's membership of an organization and its roles.
///
/// Serializes as Better Auth's member object:
/// `{"id","organizationId","userId","role","createdAt"}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// Membership ID.
    pub id: String,
    /// The organization.
    pub organization_id: TenantId,
    /// The user.
    pub user_id: UserId,
    /// Comma-separated tenant roles, e.g. `"owner"` or `"admin,member"`.
    pub role: String,
    /// When the user joined.
    #[serde(serialize_with = "crate::date::serialize")]
    pub created_at: SystemTime,
}

pub(crate) const MEMBER_COLUMNS: &str = r#""id", "organizationId", "userId", "role", "createdAt""#;
/// SQL: whether the `"role"` column of the row in scope contains `owner`.
const IS_OWNER_SQL: &str = r#"(',' || REPLACE("role", ' ', '') || ',') LIKE '%,owner,%'"#;

/// The columns [`standing_from_row`] reads: whether the organization row
/// exists, then the membership (all `NULL` when there is none), from the
/// `o` and `m` of [`standing_joins`].
pub(crate) const STANDING_COLUMNS: &str =
    r#"o."id", m."id", m."organizationId", m."userId", m."role", m."createdAt""#;

/// `LEFT JOIN`s of the organization `org` (as `o`) and of `user`'s
/// membership of it (as `m`), both SQL expressions.
pub(crate) fn standing_joins(org: &str, user: &str) -> String {
    format!(
        r#"LEFT JOIN "organization" o ON o."id" = {org} LEFT JOIN "member" m ON m."organizationId" = {org} AND m."userId" = {user}"#
    )
}

/// Reads a member from `r`'s columns `at..at + 5` ([`MEMBER_COLUMNS`]).
fn member_at(r: &Row, at: usize) -> Result<Member> {
    let org: String = r.get(at + 1)?;
    let user: String = r.get(at + 2)?;
    Ok(Member {
        id: r.get(at)?,
        organization_id: org
            .parse()
            .map_err(|_| AuthError::corrupt("member.organizationId"))?,
        user_id: user
            .parse()
            .map_err(|_| AuthError::corrupt("member.userId"))?,
        role: r.get(at + 3)?,
        created_at: date::column(r, at + 4, "member.createdAt")?,
    })
}

pub(crate) fn member_from_row(r: &Row) -> Result<Member> {
    member_at(r, 0)
}

/// The caller's standing read from [`STANDING_COLUMNS`] at `at`: a member, or
/// a platform admin. Anyone else gets
/// `USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION`, whether or not the
/// organization exists; a platform admin, `ORGANIZATION_NOT_FOUND` for an
/// organization that does not exist.
pub(crate) fn standing_from_row(r: &Row, at: usize, platform_admin: bool) -> Result<Standing> {
    let org: Option<String> = r.get(at)?;
    let member_id: Option<String> = r.get(at + 1)?;
    let member = match member_id {
        Some(_) => Some(member_at(r, at + 1)?),
        None => None,
    };
    match (member, platform_admin, org.is_some()) {
        (Some(m), _, _) => Ok(Standing {
            member: Some(m),
            platform_admin,
        }),
        (None, true, true) => Ok(Standing {
            member: None,
            platform_admin: true,
        }),
        (None, true, false) => Err(AuthError::OrganizationNotFound),
        (None, false, _) => Err(AuthError::NotAMember),
    }
}

/// The caller's standing in one organization.
#[derive(Clone, Debug)]
pub(crate) struct Standing {
    pub(crate) member: Option<Member>,
    pub(crate) platform_admin: bool,
}

impl Standing {
    pub(crate) fn roles(&self) -> &str {
        self.member.as_ref().map_or("", |m| m.role.as_str())
    }

    pub(crate) fn is_owner(&self) -> bool {
        self.platform_admin || access::has_role(self.roles(), OWNER)
    }
}

/// Memberships, tenant roles and platform roles of one auth database, under
/// one access policy.
#[derive(Clone)]
pub(crate) struct Members {
    callers: Callers,
    policy: AccessPolicy,
}

impl Members {
    pub(crate) fn new(callers: Callers, policy: AccessPolicy) -> Self {
        Self { callers, policy }
    }

    pub(crate) async fn membership(&self, org: &TenantId, user: &UserId) -> Result<Option<Member>> {
        let stmt = Statement::new(format!(
            r#"SELECT {MEMBER_COLUMNS} FROM "member" WHERE "organizationId" = ?1 AND "userId" = ?2"#
        ))
        .bind(org.as_str())
        .bind(user.as_str());
        let row = self.callers.row(stmt).await?;
        row.as_ref().map(member_from_row).transpose()
    }

    async fn member_by_id(&self, org: &TenantId, member_id: &str) -> Result<Member> {
        let stmt = Statement::new(format!(
            r#"SELECT {MEMBER_COLUMNS} FROM "member" WHERE "id" = ?1 AND "organizationId" = ?2"#
        ))
        .bind(member_id)
        .bind(org.as_str());
        let row = self
            .callers
            .row(stmt)
            .await?
            .ok_or(AuthError::MemberNotFound)?;
        member_from_row(&row)
    }

    /// The caller's standing in `org`: a member, or a platform admin (see
    /// [`standing_from_row`]). One query.
    pub(crate) async fn standing(&self, actor: &Actor, org: &TenantId) -> Result<Standing> {
        self.standing_of(&actor.user_id, actor.platform_admin, org)
            .await
    }

    /// [`Members::standing`] of `user`, a platform admin or not.
    pub(crate) async fn standing_of(
        &self,
        user: &UserId,
        platform_admin: bool,
        org: &TenantId,
    ) -> Result<Standing> {
        let row = self
            .callers
            .row(
                Statement::new(format!(
                    r#"SELECT {STANDING_COLUMNS} FROM (SELECT ?1 AS "org", ?2 AS "user") q {}"#,
                    standing_joins(r#"q."org""#, r#"q."user""#)
                ))
                .bind(org.as_str())
                .bind(user.as_str()),
            )
            .await?
            .ok_or_else(|| AuthError::corrupt("standing"))?;
        standing_from_row(&row, 0, platform_admin)
    }

    pub(crate) fn can(&self, s: &Standing, resource: &str, action: &str) -> bool {
        s.platform_admin || self.policy.allows(s.roles(), resource, action)
    }

    /// Validates a role list against the policy; returns it normalized
    /// (`"admin,member"`).
    pub(crate) fn normalize_roles(&self, roles: &str) -> Result<String> {
        let list: Vec<&str> = access::split_roles(roles).collect();
        if list.is_empty() || list.iter().any(|r| !self.policy.has_role(r)) {
            return Err(AuthError::RoleNotFound);
        }
        Ok(list.join(","))
    }

    /// [`crate::org::Organizations::add_member`].
    pub(crate) async fn add_member(
        &self,
        actor: &Actor,
        org: &TenantId,
        user: &UserId,
        role: &str,
        meta: &RequestMeta,
    ) -> Result<Member> {
        let s = self.standing(actor, org).await?;
        if !self.can(&s, "member", "create") {
            return Err(AuthError::NotAllowed {
                code: "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION",
            });
        }
        let role = self.normalize_roles(role)?;
        if access::has_role(&role, OWNER) && !s.is_owner() {
            return Err(AuthError::NotAllowed {
                code: "YOU_ARE_NOT_ALLOWED_TO_INVITE_USER_WITH_THIS_ROLE",
            });
        }
        if self.callers.auth().get_user(user).await?.is_none() {
            return Err(AuthError::UserNotFound);
        }
        let member = self
            .insert_member(
                org,
                user,
                &role,
                actor,
                AuditEvent::MemberAdded,
                meta,
                None,
                |_| Ok(Vec::new()),
            )
            .await?
            // Not inserted: the organization is gone.
            .ok_or(AuthError::OrganizationNotFound)?;
        Ok(member)
    }

    /// Inserts a membership and its audit entry, with `extra` statements in
    /// the same batch (made from the new membership and placed after it, so
    /// they may be guarded on it). The unique index on `member ("organizationId", "userId")` decides
    /// whether the user is already a member (`AlreadyAMember`). With `guard`
    /// (SQL with placeholders from `?1`, and its values), the membership is
    /// inserted only if it holds inside the batch; `None` comes back if it did
    /// not.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn insert_member(
        &self,
        org: &TenantId,
        user: &UserId,
        role: &str,
        actor: &Actor,
        event: AuditEvent,
        meta: &RequestMeta,
        guard: Option<(&str, Vec<Value>)>,
        extra: impl FnOnce(&Member) -> Result<Vec<Statement>>,
    ) -> Result<Option<Member>> {
        let now = self.callers.now();
        let stamp = date::format(now);
        let member = Member {
            id: random_id()?,
            organization_id: *org,
            user_id: *user,
            role: role.to_owned(),
            created_at: date::parse(&stamp).unwrap_or(now),
        };
        let (cond, cond_params) = match guard {
            Some((sql, params)) => (crate::stmt::renumber(sql, 5), params),
            None => ("TRUE".to_owned(), Vec::new()),
        };
        let mut params = vec![
            Value::from(member.id.clone()),
            Value::from(org.as_str().to_owned()),
            Value::from(user.as_str().to_owned()),
            Value::from(role.to_owned()),
            Value::from(stamp.clone()),
        ];
        params.extend(cond_params);
        let insert = Statement::with_params(
            format!(
                r#"INSERT INTO "member" ({MEMBER_COLUMNS}) SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM "organization" WHERE "id" = ?2) AND {cond}"#
            ),
            params,
        );
        let entry = audit::insert_where(
            event,
            actor.record(org, Some(format!("member={} role={role}", user))),
            meta,
            now,
            r#"EXISTS (SELECT 1 FROM "member" WHERE "id" = ?11)"#,
            vec![Value::from(member.id.clone())],
        )?;
        let mut writes = vec![insert];
        writes.extend(extra(&member)?);
        match self.callers.db().write_audited(writes, entry).await {
            Ok(out) if out.first().is_some_and(|o| o.rows_affected == 1) => Ok(Some(member)),
            Ok(_) => Ok(None),
            // The unique membership index: one membership per user and tenant.
            Err(e) if e.is_already_exists() => Err(AuthError::AlreadyAMember),
            Err(e) => Err(e.into()),
        }
    }

    /// [`crate::org::Organizations::list_members`].
    pub(crate) async fn list_members(&self, token: &str, org: &TenantId) -> Result<Vec<Member>> {
        let actor = self.callers.actor(token).await?;
        self.standing(&actor, org).await?;
        let rows = self.callers.db()
            .query(
                &Statement::new(format!(
                    r#"SELECT {MEMBER_COLUMNS} FROM "member" WHERE "organizationId" = ?1 ORDER BY "createdAt", "id""#
                ))
                .bind(org.as_str()),
            )
            .await?;
        rows.iter().map(member_from_row).collect()
    }

    /// [`crate::org::Organizations::update_member_role`].
    pub(crate) async fn update_member_role(
        &self,
        actor: &Actor,
        org: &TenantId,
        member_id: &str,
        role: &str,
        meta: &RequestMeta,
    ) -> Result<Member> {
        const NOT_ALLOWED: AuthError = AuthError::NotAllowed {
            code: "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER",
        };
        let s = self.standing(actor, org).await?;
        if !self.can(&s, "member", "update") {
            return Err(NOT_ALLOWED);
        }
        let role = self.normalize_roles(role)?;
        let target = self.member_by_id(org, member_id).await?;
        let was_owner = access::has_role(&target.role, OWNER);
        let becomes_owner = access::has_role(&role, OWNER);
        if (was_owner || becomes_owner) && !s.is_owner() {
            return Err(NOT_ALLOWED);
        }
        let demotes_owner = was_owner && !becomes_owner;
        let guard = format!(
            r#"(?4 = 0 OR (SELECT COUNT(*) FROM "member" WHERE "organizationId" = ?3 AND {IS_OWNER_SQL}) > 1)"#
        );
        let update = Statement::new(format!(
            r#"UPDATE "member" SET "role" = ?1 WHERE "id" = ?2 AND "organizationId" = ?3 AND {guard}"#
        ))
        .bind(role.as_str())
        .bind(member_id)
        .bind(org.as_str())
        .bind(demotes_owner);
        let audit_stmt = audit::insert_where(
            AuditEvent::MemberRoleChanged,
            actor.record(
                org,
                Some(format!(
                    "member={} role={} (was {})",
                    target.user_id, role, target.role
                )),
            ),
            meta,
            self.callers.now(),
            r#"EXISTS (SELECT 1 FROM "member" WHERE "id" = ?11 AND "role" = ?12)"#,
            vec![Value::from(member_id.to_owned()), Value::from(role.clone())],
        )?;
        let out = self
            .callers
            .db()
            .write_audited(vec![update], audit_stmt)
            .await?;
        if out.first().map_or(0, |o| o.rows_affected) == 0 {
            return Err(if demotes_owner {
                AuthError::NoOwnerLeft
            } else {
                AuthError::MemberNotFound
            });
        }
        Ok(Member { role, ..target })
    }

    /// Deletes a membership unless it is the last owner's, clears it as the
    /// active organization of the user's sessions, and audits it, atomically.
    async fn delete_member(
        &self,
        target: &Member,
        actor: &Actor,
        event: AuditEvent,
        meta: &RequestMeta,
    ) -> Result<()> {
        let org = &target.organization_id;
        let is_owner = access::has_role(&target.role, OWNER);
        let delete = Statement::new(format!(
            r#"DELETE FROM "member" WHERE "id" = ?1 AND "organizationId" = ?2 AND (?3 = 0 OR (SELECT COUNT(*) FROM "member" WHERE "organizationId" = ?2 AND {IS_OWNER_SQL}) > 1)"#
        ))
        .bind(target.id.as_str())
        .bind(org.as_str())
        .bind(is_owner);
        let audit_stmt = audit::insert_where(
            event,
            actor.record(
                org,
                Some(format!("member={} role={}", target.user_id, target.role)),
            ),
            meta,
            self.callers.now(),
            r#"NOT EXISTS (SELECT 1 FROM "member" WHERE "id" = ?11)"#,
            vec![Value::from(target.id.clone())],
        )?;
        let clear = Statement::new(
            r#"UPDATE "session" SET "activeOrganizationId" = NULL WHERE "userId" = ?1 AND "activeOrganizationId" = ?2 AND NOT EXISTS (SELECT 1 FROM "member" WHERE "id" = ?3)"#,
        )
        .bind(target.user_id.as_str())
        .bind(org.as_str())
        .bind(target.id.as_str());
        let out = self
            .callers
            .db()
            .write_audited(vec![delete, clear], audit_stmt)
            .await?;
        if out.first().map_or(0, |o| o.rows_affected) == 0 {
            return Err(if is_owner {
                AuthError::LastOwner
            } else {
                AuthError::MemberNotFound
            });
        }
        // Cached sessions carry their `activeOrganizationId`.
        self.callers.auth().evict_user(target.user_id.as_str());
        Ok(())
    }

    /// [`crate::org::Organizations::remove_member`].
    pub(crate) async fn remove_member(
        &self,
        actor: &Actor,
        org: &TenantId,
        member_id: &str,
        meta: &RequestMeta,
    ) -> Result<Member> {
        const NOT_ALLOWED: AuthError = AuthError::NotAllowed {
            code: "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER",
        };
        let s = self.standing(actor, org).await?;
        if !self.can(&s, "member", "delete") {
            return Err(NOT_ALLOWED);
        }
        let target = self.member_by_id(org, member_id).await?;
        if access::has_role(&target.role, OWNER) && !s.is_owner() {
            return Err(NOT_ALLOWED);
        }
        self.delete_member(&target, actor, AuditEvent::MemberRemoved, meta)
            .await?;
        Ok(target)
    }

    /// [`crate::org::Organizations::leave`].
    pub(crate) async fn leave(
        &self,
        actor: &Actor,
        org: &TenantId,
        meta: &RequestMeta,
    ) -> Result<Member> {
        let me = self
            .membership(org, &actor.user_id)
            .await?
            .ok_or(AuthError::NotAMember)?;
        self.delete_member(&me, actor, AuditEvent::MemberLeft, meta)
            .await?;
        Ok(me)
    }

    /// [`crate::org::Organizations::platform_role`].
    pub(crate) async fn platform_role(&self, user: &UserId) -> Result<PlatformRole> {
        let row = self
            .callers
            .row(Statement::new(r#"SELECT "role" FROM "user" WHERE "id" = ?1"#).bind(user.as_str()))
            .await?
            .ok_or(AuthError::UserNotFound)?;
        let role: Option<String> = row.get(0)?;
        Ok(self.callers.auth().platform_role_of(role.as_deref()))
    }

    /// [`crate::org::Organizations::operator_set_platform_role`].
    pub(crate) async fn operator_set_platform_role(
        &self,
        user: &UserId,
        role: PlatformRole,
        operator: Operator<'_>,
        meta: &RequestMeta,
    ) -> Result<()> {
        self.callers.ensure_writable().await?;
        let now = self.callers.now();
        let out = self
            .callers
            .db()
            .write_audited(
                vec![
                    Statement::new(
                        r#"UPDATE "user" SET "role" = ?1, "updatedAt" = ?2 WHERE "id" = ?3"#,
                    )
                    .bind(role.as_str())
                    .bind(date::format(now))
                    .bind(user.as_str()),
                ],
                audit::insert_where(
                    AuditEvent::PlatformRoleChanged,
                    AuditRecord {
                        user_id: Some(user.as_str()),
                        detail: Some(format!("role={role} by {operator}")),
                        ..AuditRecord::default()
                    },
                    meta,
                    now,
                    audit::USER_EXISTS,
                    vec![user.as_str().into()],
                )?,
            )
            .await?;
        if out.first().map_or(0, |o| o.rows_affected) == 0 {
            return Err(AuthError::UserNotFound);
        }
        self.callers.auth().evict_user(user.as_str());
        Ok(())
    }
}
