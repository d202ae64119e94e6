//! Invitations (Better Auth's `invitation` table): invite by email with a
//! role, accept, reject, cancel, list. See [`crate::org::Organizations::invite_member`].
//!
//! An invitation is proof of an address, never of an ID: accepting needs a
//! session whose email is the invited one (verified, when the platform
//! requires verification), and signing up through an invitation needs the
//! secret mailed to the invited address ([`crate::mail::EmailKind::Invitation`];
//! only its hash is stored, in `verification`). Listing a tenant's
//! invitations needs `invitation:create`, and `owner` invitations are shown
//! to owners only.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use neutrino_core::ids::{TenantId, UserId};
use neutrino_core::sql::{Row, Statement, Value};

use crate::access::{self, OWNER};
use crate::audit::{self, AuditEvent, WriteAudited};
use crate::caller::{Actor, Callers};
use crate::date;
use crate::digest::sha256_base64url;
use crate::email::normalize_email;
use crate::error::{AuthError, Result};
use crate::mail::{Email, EmailKind};
use crate::member::{Member, Members};
use crate::model::{RequestMeta, SignUpEmail, SignedIn};
use crate::random::{random_id, random_string};

/// Where an invitation stands (`invitation.status`); serializes as its stored
/// name, e.g. `"pending"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InvitationStatus {
    /// Sent, not answered.
    Pending,
    /// Accepted: the invitee is a member.
    Accepted,
    /// Rejected by the invitee.
    Rejected,
    /// Canceled by the organization.
    Canceled,
}

impl InvitationStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Canceled => "canceled",
        }
    }
}

impl fmt::Display for InvitationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InvitationStatus {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "pending" => Self::Pending,
            "accepted" => Self::Accepted,
            "rejected" => Self::Rejected,
            "canceled" => Self::Canceled,
            _ => {
                return Err(AuthError::corrupt("invitation.status"));
            }
        })
    }
}

/// An `invitation` row.
///
/// Serializes as Better Auth's invitation object: `{"id","organizationId",
/// "email","role","status","expiresAt","createdAt","inviterId"}`. The secret
/// mailed to the invitee is not part of it (only its hash is stored, elsewhere).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    /// Its ID.
    pub id: String,
    /// The organization.
    pub organization_id: TenantId,
    /// The invitee's email, lowercase.
    pub email: String,
    /// The roles the invitee gets, comma-separated.
    pub role: String,
    /// Where it stands.
    pub status: InvitationStatus,
    /// When it expires (48 h after sending by default).
    #[serde(serialize_with = "crate::date::serialize")]
    pub expires_at: SystemTime,
    /// When it was sent.
    #[serde(serialize_with = "crate::date::serialize")]
    pub created_at: SystemTime,
    /// Who sent it.
    pub inviter_id: UserId,
}

/// Length of an invitation email's secret.
const INVITATION_TOKEN_LEN: usize = 32;
/// `verification.identifier` prefix of an invitation secret's hash.
pub(crate) const TOKEN_PREFIX: &str = "invitation-token:";

/// The `verification.identifier` of an invitation secret: its hash, so the
/// database never holds the secret itself.
fn token_identifier(secret: &str) -> String {
    format!("{TOKEN_PREFIX}{}", sha256_base64url(secret))
}

/// Deletes the sign-up secrets of an invitation that is no longer open.
fn drop_tokens(invitation_id: &str) -> Statement {
    Statement::new(format!(
        r#"DELETE FROM "verification" WHERE "identifier" LIKE '{TOKEN_PREFIX}%' AND "value" = ?1"#
    ))
    .bind(invitation_id)
}

pub(crate) const COLUMNS: &str =
    r#""id", "organizationId", "email", "role", "status", "expiresAt", "createdAt", "inviterId""#;

pub(crate) fn from_row(r: &Row) -> Result<Invitation> {
    let org: String = r.get(1)?;
    let status: String = r.get(4)?;
    let inviter: String = r.get(7)?;
    let role: Option<String> = r.get(3)?;
    Ok(Invitation {
        id: r.get(0)?,
        organization_id: org
            .parse()
            .map_err(|_| AuthError::corrupt("invitation.organizationId"))?,
        email: r.get(2)?,
        role: role.unwrap_or_else(|| access::MEMBER.to_owned()),
        status: status.parse()?,
        expires_at: date::column(r, 5, "invitation.expiresAt")?,
        created_at: date::column(r, 6, "invitation.createdAt")?,
        inviter_id: inviter
            .parse()
            .map_err(|_| AuthError::corrupt("invitation.inviterId"))?,
    })
}

/// The invitations of one platform's auth database.
#[derive(Clone)]
pub(crate) struct Invitations {
    callers: Callers,
    members: Members,
    /// Most pending invitations per organization.
    limit: u32,
    /// Lifetime of an invitation.
    ttl: Duration,
}

impl Invitations {
    pub(crate) fn new(callers: Callers, members: Members, limit: u32, ttl: Duration) -> Self {
        Self {
            callers,
            members,
            limit,
            ttl,
        }
    }

    async fn invitation_row(&self, id: &str) -> Result<Option<Invitation>> {
        let row = self
            .callers
            .row(
                Statement::new(format!(
                    r#"SELECT {COLUMNS} FROM "invitation" WHERE "id" = ?1"#
                ))
                .bind(id),
            )
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// A pending, unexpired invitation addressed to `email`; anything else is
    /// `INVITATION_NOT_FOUND` (another person's invitation is not revealed).
    async fn open_invitation_for(&self, id: &str, email: &str) -> Result<Invitation> {
        let inv = self
            .invitation_row(id)
            .await?
            .ok_or(AuthError::InvitationNotFound)?;
        if inv.status != InvitationStatus::Pending
            || inv.expires_at <= self.callers.now()
            || !inv.email.eq_ignore_ascii_case(email)
        {
            return Err(AuthError::InvitationNotFound);
        }
        Ok(inv)
    }

    /// [`crate::org::Organizations::invite_member`].
    pub(crate) async fn invite_member(
        &self,
        actor: &Actor,
        org: &TenantId,
        email: &str,
        role: &str,
        meta: &RequestMeta,
    ) -> Result<Invitation> {
        let s = self.members.standing(actor, org).await?;
        if !self.members.can(&s, "invitation", "create") {
            return Err(AuthError::NotAllowed {
                code: "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION",
            });
        }
        let role = self.members.normalize_roles(role)?;
        if access::has_role(&role, OWNER) && !s.is_owner() {
            return Err(AuthError::NotAllowed {
                code: "YOU_ARE_NOT_ALLOWED_TO_INVITE_USER_WITH_THIS_ROLE",
            });
        }
        let email = normalize_email(email)?;
        let member = self.callers.db()
            .query(
                &Statement::new(
                    r#"SELECT 1 FROM "member" m JOIN "user" u ON u."id" = m."userId" WHERE m."organizationId" = ?1 AND u."email" = ?2"#,
                )
                .bind(org.as_str())
                .bind(email.as_str()),
            )
            .await?;
        if !member.is_empty() {
            return Err(AuthError::AlreadyAMember);
        }
        let now = self.callers.now();
        let stamp = date::format(now);
        let inv = Invitation {
            id: random_id()?,
            organization_id: *org,
            email,
            role,
            status: InvitationStatus::Pending,
            expires_at: date::parse(&date::format(now + self.ttl)).unwrap_or(now + self.ttl),
            created_at: date::parse(&stamp).unwrap_or(now),
            inviter_id: actor.user_id,
        };
        // Guarded: no other open invitation for the email, and room under the limit.
        let open = r#""organizationId" = ?2 AND "status" = 'pending' AND "expiresAt" > ?7"#;
        let insert = Statement::new(format!(
            r#"INSERT INTO "invitation" ({COLUMNS}) SELECT ?1, ?2, ?3, ?4, 'pending', ?5, ?7, ?6 WHERE NOT EXISTS (SELECT 1 FROM "invitation" WHERE {open} AND "email" = ?3) AND (SELECT COUNT(*) FROM "invitation" WHERE {open}) < ?8"#
        ))
        .bind(inv.id.as_str())
        .bind(org.as_str())
        .bind(inv.email.as_str())
        .bind(inv.role.as_str())
        .bind(date::format(inv.expires_at))
        .bind(actor.user_id.as_str())
        .bind(stamp.as_str())
        .bind(i64::from(self.limit));
        let audit_stmt = audit::insert_where(
            AuditEvent::InvitationCreated,
            actor.record(
                org,
                Some(format!("invitation={} role={}", inv.id, inv.role)),
            ),
            meta,
            now,
            r#"EXISTS (SELECT 1 FROM "invitation" WHERE "id" = ?11)"#,
            vec![Value::from(inv.id.clone())],
        )?;
        let mut writes = vec![insert];
        // The sign-up secret, for the invitee's mailbox only: its hash is
        // stored, the secret itself goes into the mail and nowhere else (not
        // to the inviter).
        let secret = match self.callers.auth().inner.mailer {
            Some(_) => {
                let secret = random_string(INVITATION_TOKEN_LEN)?;
                writes.push(
                    Statement::new(
                        r#"INSERT INTO "verification" ("id", "identifier", "value", "expiresAt", "createdAt", "updatedAt") SELECT ?1, ?2, ?3, ?4, ?5, ?5 WHERE EXISTS (SELECT 1 FROM "invitation" WHERE "id" = ?3)"#,
                    )
                    .bind(random_id()?)
                    .bind(token_identifier(&secret))
                    .bind(inv.id.as_str())
                    .bind(date::format(inv.expires_at))
                    .bind(stamp.as_str()),
                );
                Some(secret)
            }
            None => None,
        };
        let out = self.callers.db().write_audited(writes, audit_stmt).await?;
        if out.first().map_or(0, |o| o.rows_affected) == 0 {
            let dup = self.callers.db()
                .query(
                    &Statement::new(
                        r#"SELECT 1 FROM "invitation" WHERE "organizationId" = ?1 AND "status" = 'pending' AND "expiresAt" > ?2 AND "email" = ?3"#,
                    )
                    .bind(org.as_str())
                    .bind(stamp.as_str())
                    .bind(inv.email.as_str()),
                )
                .await?;
            return Err(if dup.is_empty() {
                AuthError::InvitationLimitReached
            } else {
                AuthError::AlreadyInvited
            });
        }
        if let (Some(secret), Some(mailer)) = (secret, self.callers.auth().inner.mailer.clone()) {
            let url = format!(
                "{}?token={secret}",
                self.callers
                    .auth()
                    .link(&format!("/accept-invitation/{}", inv.id))
            );
            let sent = mailer
                .send(Email {
                    kind: EmailKind::Invitation,
                    to: inv.email.clone(),
                    user_id: String::new(),
                    url,
                    token: secret,
                })
                .await;
            if let Err(e) = sent {
                // An invitation nobody received would block a new one for
                // the address: withdraw it.
                self.callers
                    .db()
                    .batch(&[
                        Statement::new(
                            r#"DELETE FROM "invitation" WHERE "id" = ?1 AND "status" = 'pending'"#,
                        )
                        .bind(inv.id.as_str()),
                        drop_tokens(&inv.id),
                    ])
                    .await?;
                return Err(AuthError::internal("mailer", e));
            }
        }
        Ok(inv)
    }

    /// Accepts `inv` for `actor`: membership, invitation status, active
    /// organization and audit in one batch. The membership is inserted only
    /// while the invitation is still pending and unexpired, inside the batch
    /// that then marks it accepted: an invitation is used once, and never
    /// after it was canceled or rejected.
    async fn accept(
        &self,
        actor: &Actor,
        inv: Invitation,
        meta: &RequestMeta,
    ) -> Result<(Invitation, Member)> {
        let now = self.callers.now();
        let stamp = date::format(now);
        let member_made = r#"EXISTS (SELECT 1 FROM "member" WHERE "id" = ?11)"#;
        let member = self
            .members
            .insert_member(
                &inv.organization_id,
                &actor.user_id,
                &inv.role,
                actor,
                AuditEvent::MemberAdded,
                meta,
                Some((
                    r#"EXISTS (SELECT 1 FROM "invitation" WHERE "id" = ?1 AND "organizationId" = ?2 AND "status" = 'pending' AND "expiresAt" > ?3)"#,
                    vec![
                        Value::from(inv.id.clone()),
                        Value::from(inv.organization_id.as_str().to_owned()),
                        Value::from(stamp.clone()),
                    ],
                )),
                |m: &Member| {
                    Ok(vec![
                        audit::insert_where(
                            AuditEvent::InvitationAccepted,
                            actor.record(&inv.organization_id,
                                Some(format!("invitation={}", inv.id)),
                            ),
                            meta,
                            now,
                            member_made,
                            vec![Value::from(m.id.clone())],
                        )?,
                        Statement::new(
                            r#"UPDATE "invitation" SET "status" = 'accepted' WHERE "id" = ?1 AND "status" = 'pending' AND EXISTS (SELECT 1 FROM "member" WHERE "id" = ?2)"#,
                        )
                        .bind(inv.id.as_str())
                        .bind(m.id.as_str()),
                        drop_tokens(&inv.id),
                        Statement::new(
                            r#"UPDATE "session" SET "activeOrganizationId" = ?1, "updatedAt" = ?2 WHERE "token" = ?3 AND EXISTS (SELECT 1 FROM "member" WHERE "id" = ?4)"#,
                        )
                        .bind(inv.organization_id.as_str())
                        .bind(stamp.as_str())
                        .bind(actor.token.as_str())
                        .bind(m.id.as_str()),
                    ])
                },
            )
            .await?
            // No longer pending: accepted, canceled or rejected meanwhile.
            .ok_or(AuthError::InvitationNotFound)?;
        // Cached sessions carry their `activeOrganizationId`.
        self.callers.auth().evict_user(actor.user_id.as_str());
        Ok((
            Invitation {
                status: InvitationStatus::Accepted,
                ..inv
            },
            member,
        ))
    }

    /// [`crate::org::Organizations::accept_invitation`].
    pub(crate) async fn accept_invitation(
        &self,
        actor: &Actor,
        invitation_id: &str,
        meta: &RequestMeta,
    ) -> Result<(Invitation, Member)> {
        self.check_invitee_verified(actor)?;
        let inv = self
            .open_invitation_for(invitation_id, &actor.email)
            .await?;
        self.accept(actor, inv, meta).await
    }

    fn check_invitee_verified(&self, actor: &Actor) -> Result<()> {
        if self.callers.auth().inner.require_email_verification && !actor.email_verified {
            return Err(AuthError::EmailVerificationRequiredForInvitation);
        }
        Ok(())
    }

    /// [`crate::org::Organizations::sign_up_with_invitation`].
    pub(crate) async fn sign_up_with_invitation(
        &self,
        invitation_token: &str,
        req: SignUpEmail,
        meta: &RequestMeta,
    ) -> Result<(SignedIn, Member)> {
        self.callers.ensure_writable().await?;
        let email = normalize_email(&req.email)?;
        let invitation_id = self.invitation_of_token(invitation_token).await?;
        self.open_invitation_for(&invitation_id, &email).await?;
        let signed = self
            .callers
            .auth()
            .sign_up_email_inner(req, meta, true)
            .await?
            .signed_in()
            .ok_or(AuthError::Unauthorized)?;
        let actor = self.callers.actor(&signed.session.token).await?;
        let inv = self.open_invitation_for(&invitation_id, &email).await?;
        let (_, member) = self.accept(&actor, inv, meta).await?;
        Ok((signed, member))
    }

    /// The invitation ID an invitation email's secret stands for;
    /// `INVITATION_NOT_FOUND` for an unknown, used or expired one.
    async fn invitation_of_token(&self, secret: &str) -> Result<String> {
        if secret.is_empty() || secret.len() > 256 {
            return Err(AuthError::InvitationNotFound);
        }
        let stmt = Statement::new(
            r#"SELECT "value" FROM "verification" WHERE "identifier" = ?1 AND "expiresAt" > ?2"#,
        )
        .bind(token_identifier(secret))
        .bind(date::format(self.callers.now()));
        let row = self
            .callers
            .row(stmt)
            .await?
            .ok_or(AuthError::InvitationNotFound)?;
        Ok(row.get(0)?)
    }

    /// [`crate::org::Organizations::get_invitation`].
    pub(crate) async fn get_invitation(
        &self,
        token: &str,
        invitation_id: &str,
    ) -> Result<Invitation> {
        let actor = self.callers.actor(token).await?;
        // The invitation, its organization and its inviter's membership,
        // read together.
        let cols = COLUMNS
            .split(", ")
            .map(|c| format!("i.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let row = self
            .callers
            .row(
                Statement::new(format!(
                    r#"SELECT {cols}, CASE WHEN EXISTS (SELECT 1 FROM "organization" o WHERE o."id" = i."organizationId") THEN 1 ELSE 0 END, CASE WHEN EXISTS (SELECT 1 FROM "member" m WHERE m."organizationId" = i."organizationId" AND m."userId" = i."inviterId") THEN 1 ELSE 0 END FROM "invitation" i WHERE i."id" = ?1"#
                ))
                .bind(invitation_id),
            )
            .await?
            .ok_or(AuthError::InvitationNotFound)?;
        let inv = from_row(&row)?;
        if inv.status != InvitationStatus::Pending
            || inv.expires_at <= self.callers.now()
            || !inv.email.eq_ignore_ascii_case(&actor.email)
        {
            // Someone else's invitation is not revealed.
            return Err(AuthError::InvitationNotFound);
        }
        if self.callers.auth().inner.require_email_verification && !actor.email_verified {
            return Err(AuthError::NotAllowed {
                code: "EMAIL_VERIFICATION_REQUIRED_FOR_INVITATION",
            });
        }
        let org_exists: bool = row.get(8)?;
        let inviter_member: bool = row.get(9)?;
        if !org_exists {
            return Err(AuthError::OrganizationNotFound);
        }
        if !inviter_member {
            return Err(AuthError::Refused {
                code: "INVITER_IS_NO_LONGER_A_MEMBER_OF_THE_ORGANIZATION",
            });
        }
        Ok(inv)
    }

    /// [`crate::org::Organizations::reject_invitation`].
    pub(crate) async fn reject_invitation(
        &self,
        actor: &Actor,
        invitation_id: &str,
        meta: &RequestMeta,
    ) -> Result<Invitation> {
        self.check_invitee_verified(actor)?;
        let inv = self
            .open_invitation_for(invitation_id, &actor.email)
            .await?;
        self.close(actor, inv, InvitationStatus::Rejected, meta)
            .await
    }

    /// [`crate::org::Organizations::cancel_invitation`].
    pub(crate) async fn cancel_invitation(
        &self,
        actor: &Actor,
        invitation_id: &str,
        meta: &RequestMeta,
    ) -> Result<Invitation> {
        let inv = self
            .invitation_row(invitation_id)
            .await?
            .ok_or(AuthError::InvitationNotFound)?;
        // Another organization's invitation is answered as one that does not
        // exist: its ID tells a non-member nothing.
        let s = self
            .members
            .standing(actor, &inv.organization_id)
            .await
            .map_err(|e| match e {
                AuthError::NotAMember | AuthError::OrganizationNotFound => {
                    AuthError::InvitationNotFound
                }
                e => e,
            })?;
        if !self.members.can(&s, "invitation", "cancel") {
            return Err(AuthError::NotAllowed {
                code: "YOU_ARE_NOT_ALLOWED_TO_CANCEL_THIS_INVITATION",
            });
        }
        if inv.status != InvitationStatus::Pending {
            return Err(AuthError::InvitationNotFound);
        }
        self.close(actor, inv, InvitationStatus::Canceled, meta)
            .await
    }

    async fn close(
        &self,
        actor: &Actor,
        inv: Invitation,
        status: InvitationStatus,
        meta: &RequestMeta,
    ) -> Result<Invitation> {
        let event = match status {
            InvitationStatus::Rejected => AuditEvent::InvitationRejected,
            _ => AuditEvent::InvitationCanceled,
        };
        let out = self.callers.db()
            .write_audited(vec![
                Statement::new(
                    r#"UPDATE "invitation" SET "status" = ?1 WHERE "id" = ?2 AND "status" = 'pending'"#,
                )
                .bind(status.as_str())
                .bind(inv.id.as_str()),
                drop_tokens(&inv.id)], audit::insert_where(
                    event,
                    actor.record(&inv.organization_id,
                        Some(format!("invitation={}", inv.id)),
                    ),
                    meta,
                    self.callers.now(),
                    r#"EXISTS (SELECT 1 FROM "invitation" WHERE "id" = ?11 AND "status" = ?12)"#,
                    vec![
                        Value::from(inv.id.clone()),
                        Value::from(status.as_str().to_owned()),
                    ],
                )?)
            .await?;
        if out.first().map_or(0, |o| o.rows_affected) == 0 {
            return Err(AuthError::InvitationNotFound);
        }
        Ok(Invitation { status, ..inv })
    }

    /// [`crate::org::Organizations::list_invitations`].
    pub(crate) async fn list_invitations(
        &self,
        token: &str,
        org: &TenantId,
    ) -> Result<Vec<Invitation>> {
        let actor = self.callers.actor(token).await?;
        let s = self.members.standing(&actor, org).await?;
        if !self.members.can(&s, "invitation", "create") {
            return Err(AuthError::NotAllowed {
                code: "YOU_ARE_NOT_ALLOWED_TO_LIST_INVITATIONS",
            });
        }
        let owner = s.is_owner();
        let rows = self.callers.db()
            .query(
                &Statement::new(format!(
                    r#"SELECT {COLUMNS} FROM "invitation" WHERE "organizationId" = ?1 ORDER BY "createdAt" DESC, "id""#
                ))
                .bind(org.as_str()),
            )
            .await?;
        let all = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        Ok(all
            .into_iter()
            .filter(|i| owner || !access::has_role(&i.role, OWNER))
            .collect())
    }

    /// [`crate::org::Organizations::list_user_invitations`].
    pub(crate) async fn list_user_invitations(&self, token: &str) -> Result<Vec<Invitation>> {
        let actor = self.callers.actor(token).await?;
        let rows = self.callers.db()
            .query(
                &Statement::new(format!(
                    r#"SELECT {COLUMNS} FROM "invitation" WHERE "email" = ?1 AND "status" = 'pending' AND "expiresAt" > ?2 ORDER BY "createdAt" DESC, "id""#
                ))
                .bind(actor.email.as_str())
                .bind(date::format(self.callers.now())),
            )
            .await?;
        rows.iter().map(from_row).collect()
    }
}
