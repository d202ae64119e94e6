//! Better Auth's organization plugin (§3 of the facts), on the platform's
//! [`Organizations`](neutrino_auth::org::Organizations): organizations are
//! the platform's tenants.

use axum::http::StatusCode;
use neutrino_auth::org::{Member, NewOrganization, Organization, OrganizationUpdate};
use neutrino_auth::{AuthError, GetSessionOptions};
use neutrino_core::ids::TenantId;
use serde_json::{Value, json};

use super::Ctx;
use super::session::{Current, require, set_session_cookies, with_cookies, with_token};
use super::wire::{Fields, Reply, query_get};
use crate::ApiError;

type Answer = Result<Reply, ApiError>;

/// Declares the organization endpoints once: each one's method, path under
/// `/organization/`, route and handler (called with the request's `ctx`).
/// Makes [`OrgRoute`], [`route`] and [`handle`] from that one table.
macro_rules! org_endpoints {
    ($ctx:ident; $($method:ident $path:literal => $name:ident: $call:expr,)*) => {
        /// The organization endpoints.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(super) enum OrgRoute {
            $($name,)*
        }

        pub(super) fn route(get: bool, post: bool, path: &str) -> Option<OrgRoute> {
            let rest = path.strip_prefix("/organization/")?;
            $(if rest == $path && org_endpoints!(@$method get post) {
                return Some(OrgRoute::$name);
            })*
            None
        }

        pub(super) async fn handle(route: OrgRoute, $ctx: &Ctx) -> Answer {
            match route {
                $(OrgRoute::$name => $call.await,)*
            }
        }
    };
    (@get $get:ident $post:ident) => { $get };
    (@post $get:ident $post:ident) => { $post };
}

org_endpoints! { ctx;
    post "create" => Create: create(ctx),
    post "update" => Update: update(ctx),
    post "delete" => Delete: delete(ctx),
    get "list" => List: list(ctx),
    post "set-active" => SetActive: set_active(ctx),
    get "get-full-organization" => GetFull: get_full(ctx, true),
    get "get-organization" => GetOrganization: get_full(ctx, false),
    post "check-slug" => CheckSlug: check_slug(ctx),
    post "invite-member" => InviteMember: invite_member(ctx),
    post "accept-invitation" => AcceptInvitation: answer_invitation(ctx, Answering::Accept),
    post "reject-invitation" => RejectInvitation: answer_invitation(ctx, Answering::Reject),
    post "cancel-invitation" => CancelInvitation: answer_invitation(ctx, Answering::Cancel),
    get "list-invitations" => ListInvitations: list_invitations(ctx),
    get "list-user-invitations" => ListUserInvitations: list_user_invitations(ctx),
    post "remove-member" => RemoveMember: remove_member(ctx),
    post "update-member-role" => UpdateMemberRole: update_member_role(ctx),
    post "leave" => Leave: leave(ctx),
    get "get-active-member" => GetActiveMember: active_member(ctx, false),
    get "get-active-member-role" => GetActiveMemberRole: active_member(ctx, true),
    get "list-members" => ListMembers: list_members(ctx),
    post "has-permission" => HasPermission: has_permission(ctx),
    get "get-invitation" => GetInvitation: get_invitation(ctx),
}

/// An organization as Better Auth's `list`, `get-full-organization` and
/// `set-active` show it: `metadata` as its stored JSON text.
fn org_json(org: &Organization) -> Value {
    serde_json::to_value(org).unwrap_or(Value::Null)
}

/// An organization as Better Auth's `create` shows it: `metadata` parsed
/// (quirk a, kept).
fn org_json_object_metadata(org: &Organization) -> Value {
    let mut v = org_json(org);
    if let Some(text) = &org.metadata
        && let Ok(parsed) = serde_json::from_str::<Value>(text)
    {
        v["metadata"] = parsed;
    }
    v
}

fn member_json(m: &Member) -> Value {
    serde_json::to_value(m).unwrap_or(Value::Null)
}

/// A member with `user: {id, name, email, image}`.
async fn member_with_user(ctx: &Ctx, m: &Member) -> Result<Value, ApiError> {
    let mut v = member_json(m);
    if let Some(u) = ctx.platform.auth().get_user(&m.user_id).await? {
        v["user"] = json!({"id": u.id, "name": u.name, "email": u.email, "image": u.image});
    }
    Ok(v)
}

/// An endpoint's answer: its JSON with the session's cookies, or its error
/// with them.
fn reply(result: Result<Value, ApiError>, cookies: Vec<String>) -> Answer {
    match result {
        Ok(v) => Ok(Reply::json(v).cookies(cookies)),
        Err(e) => Err(with_cookies(e, cookies)),
    }
}

/// The organization session middleware: 401 `UNAUTHORIZED` without a
/// session.
async fn session(ctx: &Ctx) -> Result<(Current, Vec<String>), ApiError> {
    require(ctx).await
}

fn parse_org(id: &str) -> Result<TenantId, ApiError> {
    id.parse::<TenantId>()
        .map_err(|_| AuthError::OrganizationNotFound.into())
}

/// [`with_token`] in the organization named by `explicit`, or the session's
/// active one: `missing` when there is none.
async fn in_org(
    ctx: &Ctx,
    explicit: Option<&str>,
    missing: AuthError,
    run: impl AsyncFnOnce(&str, &TenantId) -> Result<Value, ApiError>,
) -> Answer {
    with_token(ctx, async |token| {
        let org = org_or_active(ctx, token, explicit, missing).await?;
        run(token, &org).await
    })
    .await
}

/// The organization named by `explicit`, or the session's active one:
/// `missing` when there is none.
async fn org_or_active(
    ctx: &Ctx,
    token: &str,
    explicit: Option<&str>,
    missing: AuthError,
) -> Result<TenantId, ApiError> {
    if let Some(id) = explicit {
        return parse_org(id);
    }
    match ctx.platform.orgs().scope(token).await {
        Ok(scope) => Ok(scope.tenant()),
        Err(AuthError::NoActiveOrganization) => Err(missing.into()),
        Err(e) => Err(e.into()),
    }
}

/// A role given as a string or a list of strings, as one comma list.
fn role_of(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(items)) => {
            let parts: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            parts.map(|p| p.join(","))
        }
        _ => None,
    }
}

/// Ends the reading of `f` (its issues first), then takes the `role` it
/// read: a string or a list of strings, as one comma list.
fn finish_with_role(f: Fields<'_>, role: Option<&Value>) -> Result<String, ApiError> {
    f.finish()?;
    if let Some(i) = role_issue(role) {
        return Err(ApiError::validation(i));
    }
    Ok(role_of(role).unwrap_or_default())
}

fn role_issue(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(_)) => None,
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => None,
        other => Some(format!(
            "[body.role] Invalid input: expected string, received {}",
            match other {
                None => "undefined",
                Some(Value::Null) => "null",
                Some(Value::Array(_)) => "array",
                Some(Value::Object(_)) => "object",
                Some(Value::Bool(_)) => "boolean",
                Some(Value::Number(_)) => "number",
                Some(Value::String(_)) => "string",
            }
        )),
    }
}

async fn create(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let name = f.string("name");
    let slug = f.string("slug");
    let logo = f.nullable_string("logo");
    let keep = f.opt_bool("keepCurrentActiveOrganization");
    let metadata = f.raw("metadata").cloned();
    let metadata_ok = matches!(metadata, None | Some(Value::Object(_)));
    f.finish()?;
    if !metadata_ok {
        return Err(ApiError::validation(
            "[body.metadata] Invalid input: expected record",
        ));
    }
    if name.is_empty() || slug.is_empty() {
        return Err(ApiError::validation(
            "[body.name] Too small: expected string to have >=1 characters",
        ));
    }
    // Better Auth checks the session itself here: 401 without a body.
    let (current, cookies) = require(ctx)
        .await
        .map_err(|_| ApiError::empty(StatusCode::UNAUTHORIZED))?;
    let mut new = NewOrganization::new(name, slug);
    new.logo = logo.flatten();
    new.metadata = metadata;
    new.keep_current_active = keep.unwrap_or(false);
    let orgs = ctx.platform.orgs();
    let token = &current.found.session.token;
    let org = orgs
        .create_organization(token, new, &ctx.meta)
        .await
        .map_err(|e| with_cookies(e.into(), cookies.clone()))?;
    let members = orgs.list_members(token, &org.id).await.unwrap_or_default();
    let mut body = org_json_object_metadata(&org);
    // Better Auth's create leaves out metadata it was not given.
    if let (None, Value::Object(m)) = (&org.metadata, &mut body) {
        m.remove("metadata");
    }
    body["members"] = Value::Array(members.iter().map(member_json).collect());
    Ok(Reply::json(body).cookies(cookies))
}

/// `POST /organization/update`: `{data: {name?, slug?, logo?, metadata?},
/// organizationId?}` (the active organization by default); the updated
/// organization, `metadata` as an object.
async fn update(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let data = f.raw("data").cloned();
    let explicit = f.opt_string("organizationId");
    f.finish()?;
    let Some(Value::Object(data)) = data else {
        return Err(ApiError::validation(
            "[body.data] Invalid input: expected object",
        ));
    };
    let mut update = OrganizationUpdate::default();
    for (key, value) in &data {
        match (key.as_str(), value) {
            ("name", Value::String(s)) => update.name = Some(s.clone()),
            ("slug", Value::String(s)) => update.slug = Some(s.clone()),
            ("logo", Value::String(s)) => update.logo = Some(Some(s.clone())),
            ("logo", Value::Null) => update.logo = Some(None),
            ("metadata", Value::Object(_)) => update.metadata = Some(Some(value.clone())),
            ("metadata", Value::Null) => update.metadata = Some(None),
            ("name" | "slug" | "logo" | "metadata", _) => {
                return Err(ApiError::validation(format!(
                    "[body.data.{key}] Invalid input"
                )));
            }
            // Other fields are a host's additional fields, which Neutrino
            // does not store: left out, as Better Auth's schema strips them.
            _ => {}
        }
    }
    in_org(
        ctx,
        explicit.as_deref(),
        AuthError::OrganizationNotFound,
        async |token, org| {
            let updated = ctx
                .platform
                .orgs()
                .update_organization(token, org, update, &ctx.meta)
                .await?;
            Ok(org_json_object_metadata(&updated))
        },
    )
    .await
}

/// `POST /organization/delete`: `{organizationId}`; the deleted
/// organization. Its registry tenant goes with it (see
/// `Organizations::delete_organization`).
async fn delete(ctx: &Ctx) -> Answer {
    let org = Fields::only_string(&ctx.body, "organizationId")?;
    // Better Auth checks the session itself here: 401 without a body.
    let (current, cookies) = require(ctx)
        .await
        .map_err(|_| ApiError::empty(StatusCode::UNAUTHORIZED))?;
    let token = &current.found.session.token;
    let run = async {
        let org = parse_org(&org)?;
        let deleted = ctx
            .platform
            .orgs()
            .delete_organization(token, &org, &ctx.meta)
            .await?;
        Ok::<_, ApiError>(org_json(&deleted))
    };
    reply(run.await, cookies)
}

async fn list(ctx: &Ctx) -> Answer {
    let (current, cookies) = session(ctx).await?;
    let list = ctx
        .platform
        .orgs()
        .list_organizations(&current.found.session.token)
        .await?;
    Ok(Reply::json(Value::Array(list.iter().map(org_json).collect())).cookies(cookies))
}

/// The ID of the organization with this slug among the caller's;
/// `ORGANIZATION_NOT_FOUND`, setting `cookies`, when they have none.
async fn org_by_slug(
    ctx: &Ctx,
    token: &str,
    slug: &str,
    cookies: &[String],
) -> Result<TenantId, ApiError> {
    let all = ctx.platform.orgs().list_organizations(token).await?;
    match all.into_iter().find(|o| o.slug == slug) {
        Some(o) => Ok(o.id),
        None => Err(with_cookies(
            AuthError::OrganizationNotFound.into(),
            cookies.to_vec(),
        )),
    }
}

async fn set_active(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, false);
    let id = f.nullable_string("organizationId");
    let slug = f.opt_string("organizationSlug");
    f.finish()?;
    let (current, cookies) = session(ctx).await?;
    let orgs = ctx.platform.orgs();
    let token = &current.found.session.token;
    let target: Option<TenantId> = match (id, slug) {
        (_, Some(slug)) => Some(org_by_slug(ctx, token, &slug, &cookies).await?),
        (Some(Some(id)), None) => Some(parse_org(&id)?),
        (Some(None), None) => None,
        // An empty body keeps the current active organization.
        (None, None) => match orgs.scope(token).await {
            Ok(scope) => Some(scope.tenant()),
            Err(AuthError::NoActiveOrganization) => None,
            Err(e) => return Err(with_cookies(e.into(), cookies)),
        },
    };
    // Clearing an active organization the session does not have changes
    // nothing, and Better Auth then sets no cookie.
    let unchanged = target.is_none() && current.found.session.active_organization_id.is_none();
    let org = orgs
        .set_active(token, target.as_ref(), &ctx.meta)
        .await
        .map_err(|e| with_cookies(e.into(), cookies.clone()))?;
    let body = org.as_ref().map_or(Value::Null, org_json);
    if unchanged {
        return Ok(Reply::json(body).cookies(cookies));
    }
    // Better Auth sets the session cookies again, with the session as it
    // now is (in `session_data` too), as on sign-in.
    let again = ctx
        .platform
        .auth()
        .get_session_with(
            token,
            GetSessionOptions {
                disable_refresh: true,
                disable_cache: true,
            },
        )
        .await
        .map_err(|e| with_cookies(e.into(), cookies.clone()))?;
    match again {
        Some(found) => {
            Ok(Reply::json(body).cookies(set_session_cookies(ctx, &found, current.dont_remember)))
        }
        // Ended meanwhile: nothing to set again.
        None => Ok(Reply::json(body).cookies(cookies)),
    }
}

async fn get_full(ctx: &Ctx, full: bool) -> Answer {
    let (current, cookies) = session(ctx).await?;
    let orgs = ctx.platform.orgs();
    let token = &current.found.session.token;
    let explicit = match query_get(&ctx.query, "organizationSlug") {
        Some(slug) => Some(org_by_slug(ctx, token, slug, &cookies).await?),
        None => match query_get(&ctx.query, "organizationId") {
            Some(id) => Some(parse_org(id)?),
            None => None,
        },
    };
    let org_id = match explicit {
        Some(id) => id,
        None => match orgs.scope(token).await {
            Ok(scope) => scope.tenant(),
            Err(AuthError::NoActiveOrganization) => {
                return Ok(Reply::json(Value::Null).cookies(cookies));
            }
            Err(e) => return Err(with_cookies(e.into(), cookies)),
        },
    };
    let org = orgs
        .organization(token, &org_id)
        .await
        .map_err(|e| with_cookies(e.into(), cookies.clone()))?;
    let mut body = org_json(&org);
    if full {
        let mut members = orgs.list_members(token, &org_id).await?;
        if let Some(limit) = members_limit(ctx) {
            members.truncate(limit);
        }
        let mut list = Vec::with_capacity(members.len());
        for m in &members {
            list.push(member_with_user(ctx, m).await?);
        }
        // Invitations only for those who may invite, as in Better Auth.
        let invitations = orgs
            .list_invitations(token, &org_id)
            .await
            .unwrap_or_default();
        body["members"] = Value::Array(list);
        body["invitations"] = serde_json::to_value(invitations).unwrap_or(json!([]));
    }
    Ok(Reply::json(body).cookies(cookies))
}

async fn check_slug(ctx: &Ctx) -> Answer {
    let slug = Fields::only_string(&ctx.body, "slug")?;
    let (_, cookies) = session(ctx).await?;
    ctx.platform
        .orgs()
        .check_slug(&slug)
        .await
        .map_err(|e| with_cookies(e.into(), cookies.clone()))?;
    Ok(Reply::json(json!({ "status": true })).cookies(cookies))
}

async fn invite_member(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let email = f.string("email");
    let role_value = f.raw("role");
    let org = f.opt_string("organizationId");
    let _resend = f.opt_bool("resend");
    let role = finish_with_role(f, role_value)?;
    in_org(
        ctx,
        org.as_deref(),
        AuthError::OrganizationNotFound,
        async |token, org| {
            // Better Auth's order: the address is judged before the inviter.
            neutrino_auth::email::normalize_email(&email)?;
            let inv = ctx
                .platform
                .orgs()
                .invite_member(token, org, &email, &role, &ctx.meta)
                .await
                // An inviter who is not a member (of an organization that may
                // not exist either): Better Auth's `MEMBER_NOT_FOUND`.
                .map_err(|e| match e {
                    AuthError::NotAMember => AuthError::MemberNotFound,
                    e => e,
                })?;
            Ok(serde_json::to_value(inv).unwrap_or(Value::Null))
        },
    )
    .await
}

enum Answering {
    Accept,
    Reject,
    Cancel,
}

async fn answer_invitation(ctx: &Ctx, answering: Answering) -> Answer {
    let id = Fields::only_string(&ctx.body, "invitationId")?;
    let (current, cookies) = session(ctx).await?;
    let orgs = ctx.platform.orgs();
    let token = &current.found.session.token;
    let body = match answering {
        Answering::Accept => orgs
            .accept_invitation(token, &id, &ctx.meta)
            .await
            .map(|(inv, member)| json!({ "invitation": inv, "member": member_json(&member) })),
        Answering::Reject => orgs
            .reject_invitation(token, &id, &ctx.meta)
            .await
            .map(|inv| json!({ "invitation": inv, "member": null })),
        // Someone outside the invitation's organization learns nothing of
        // it: the answer of an invitation that does not exist (Better Auth
        // answers `USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION`).
        Answering::Cancel => orgs
            .cancel_invitation(token, &id, &ctx.meta)
            .await
            .map_err(|e| match e {
                AuthError::NotAMember => AuthError::InvitationNotFound,
                e => e,
            })
            .map(|inv| serde_json::to_value(inv).unwrap_or(Value::Null)),
    };
    reply(body.map_err(ApiError::from), cookies)
}

async fn list_invitations(ctx: &Ctx) -> Answer {
    with_token(ctx, async |token| {
        let explicit = query_get(&ctx.query, "organizationId");
        let org = match org_or_active(ctx, token, explicit, AuthError::NoActiveOrganization).await {
            Ok(o) => o,
            Err(e) if e.code() == "NO_ACTIVE_ORGANIZATION" => {
                return Err(ApiError::message_only(
                    StatusCode::BAD_REQUEST,
                    "Organization ID is required",
                ));
            }
            Err(e) => return Err(e),
        };
        let list = ctx.platform.orgs().list_invitations(token, &org).await?;
        Ok(serde_json::to_value(list).unwrap_or(json!([])))
    })
    .await
}

async fn list_user_invitations(ctx: &Ctx) -> Answer {
    if query_get(&ctx.query, "email").is_some() {
        return Err(ApiError::message_only(
            StatusCode::BAD_REQUEST,
            "User email cannot be passed for client side API calls.",
        ));
    }
    let (current, cookies) = session(ctx).await?;
    let orgs = ctx.platform.orgs();
    let list = orgs
        .list_user_invitations(&current.found.session.token)
        .await
        .map_err(|e| with_cookies(e.into(), cookies.clone()))?;
    let mut out = Vec::with_capacity(list.len());
    for inv in &list {
        let mut v = serde_json::to_value(inv).unwrap_or(Value::Null);
        // The invitee is not a member yet: the name comes from the
        // registry's tenant, not from a membership check.
        if let Ok(t) = ctx.platform.registry().tenant(inv.organization_id).await {
            v["organizationName"] = json!(t.name);
        }
        out.push(v);
    }
    Ok(Reply::json(Value::Array(out)).cookies(cookies))
}

async fn remove_member(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let who = f.string("memberIdOrEmail");
    let org = f.opt_string("organizationId");
    f.finish()?;
    in_org(
        ctx,
        org.as_deref(),
        AuthError::NoActiveOrganization,
        async |token, org| {
            let orgs = ctx.platform.orgs();
            let member_id = if who.contains('@') {
                let members = orgs.list_members(token, org).await?;
                let mut found = None;
                for m in &members {
                    if let Some(u) = ctx.platform.auth().get_user(&m.user_id).await?
                        && u.email.eq_ignore_ascii_case(who.trim())
                    {
                        found = Some(m.id.clone());
                    }
                }
                found.ok_or(ApiError::from(AuthError::MemberNotFound))?
            } else {
                who.clone()
            };
            let removed = orgs
                .remove_member(token, org, &member_id, &ctx.meta)
                .await?;
            let member = if who.contains('@') {
                member_with_user(ctx, &removed).await?
            } else {
                member_json(&removed)
            };
            Ok(json!({ "member": member }))
        },
    )
    .await
}

async fn update_member_role(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let member_id = f.string("memberId");
    let role_value = f.raw("role");
    let org = f.opt_string("organizationId");
    let role = finish_with_role(f, role_value)?;
    if role.trim().is_empty() {
        return Err(ApiError::empty(StatusCode::BAD_REQUEST));
    }
    in_org(
        ctx,
        org.as_deref(),
        AuthError::NoActiveOrganization,
        async |token, org| {
            let m = ctx
                .platform
                .orgs()
                .update_member_role(token, org, &member_id, &role, &ctx.meta)
                .await?;
            Ok(member_json(&m))
        },
    )
    .await
}

async fn leave(ctx: &Ctx) -> Answer {
    let org = Fields::only_string(&ctx.body, "organizationId")?;
    with_token(ctx, async |token| {
        let org = parse_org(&org)?;
        let m = ctx.platform.orgs().leave(token, &org, &ctx.meta).await?;
        member_with_user(ctx, &m).await
    })
    .await
}

async fn active_member(ctx: &Ctx, role_only: bool) -> Answer {
    with_token(ctx, async |token| {
        let m = ctx.platform.orgs().active_member(token).await?;
        if role_only {
            Ok(json!({ "role": m.role }))
        } else {
            member_with_user(ctx, &m).await
        }
    })
    .await
}

async fn list_members(ctx: &Ctx) -> Answer {
    let explicit = query_get(&ctx.query, "organizationId");
    in_org(
        ctx,
        explicit,
        AuthError::NoActiveOrganization,
        async |token, org| {
            let members = ctx.platform.orgs().list_members(token, org).await?;
            let mut out = Vec::with_capacity(members.len());
            for m in &members {
                out.push(member_with_user(ctx, m).await?);
            }
            Ok(json!({ "members": out, "total": members.len() }))
        },
    )
    .await
}

/// `?membersLimit=`: a number (Better Auth's `z.number().or(z.string()
/// .transform(parseInt))`); anything else is no limit.
fn members_limit(ctx: &Ctx) -> Option<usize> {
    let v = query_get(&ctx.query, "membersLimit")?.trim();
    let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `permissions` as Better Auth's `Record<string, string[]>`, or the
/// validation error.
fn permissions_of(v: &Value) -> Result<Vec<(String, Vec<String>)>, ApiError> {
    let bad = || ApiError::validation("[body.permissions] Invalid input: expected record");
    let map = v.as_object().ok_or_else(bad)?;
    map.iter()
        .map(|(resource, actions)| {
            let list = actions.as_array().ok_or_else(bad)?;
            let actions = list
                .iter()
                .map(|a| a.as_str().map(str::to_owned).ok_or_else(bad))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((resource.clone(), actions))
        })
        .collect()
}

/// `POST /organization/has-permission`: `{permissions, organizationId?}` →
/// `{error: null, success}`. A role grants the request when it allows every
/// listed action of every listed resource (an empty request, or a resource
/// without actions, is not granted); any of the member's roles may. The
/// deprecated `permission` key is validated and evaluates as false, as in
/// Better Auth.
async fn has_permission(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let org = f.opt_string("organizationId");
    let permissions = f.raw("permissions").cloned();
    let legacy = f.raw("permission").cloned();
    f.finish()?;
    let requested = match (&permissions, &legacy) {
        (Some(p), None) => Some(permissions_of(p)?),
        (None, Some(p)) => {
            permissions_of(p)?;
            None
        }
        _ => {
            return Err(ApiError::validation(
                "Invalid input: exactly one of permission, permissions",
            ));
        }
    };
    with_token(ctx, async |token| {
        let orgs = ctx.platform.orgs();
        let scope = match org.as_deref().filter(|o| !o.is_empty()) {
            Some(id) => match id.parse::<TenantId>() {
                Ok(id) => orgs.scope_in(token, &id).await,
                Err(_) => Err(AuthError::NotAMember),
            },
            None => orgs.scope(token).await,
        };
        let scope = match scope {
            // A platform admin who is not a member has no role here.
            Ok(s) if !s.roles().trim().is_empty() => s,
            Ok(_) | Err(AuthError::NotAMember | AuthError::OrganizationNotFound) => {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION",
                    "You are not a member of this organization",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let policy = orgs.policy();
        let success = requested.as_ref().is_some_and(|req| {
            !req.is_empty()
                && neutrino_auth::access::split_roles(scope.roles()).any(|role| {
                    req.iter().all(|(resource, actions)| {
                        !actions.is_empty()
                            && actions.iter().all(|a| policy.allows(role, resource, a))
                    })
                })
        });
        Ok(json!({ "error": null, "success": success }))
    })
    .await
}

/// `GET /organization/get-invitation?id=`: the caller's own pending
/// invitation with `organizationName`, `organizationSlug` and
/// `inviterEmail`. Anyone else's (or a missing, expired or answered one) is
/// `INVITATION_NOT_FOUND`.
async fn get_invitation(ctx: &Ctx) -> Answer {
    let Some(id) = query_get(&ctx.query, "id") else {
        return Err(ApiError::validation(
            "[query.id] Invalid input: expected string, received undefined",
        ));
    };
    // Better Auth checks the session itself here.
    let (current, cookies) = require(ctx)
        .await
        .map_err(|_| ApiError::message_only(StatusCode::UNAUTHORIZED, "Not authenticated"))?;
    let token = &current.found.session.token;
    let run = async {
        let inv = ctx.platform.orgs().get_invitation(token, id).await?;
        let tenant = ctx
            .platform
            .registry()
            .tenant(inv.organization_id)
            .await
            .map_err(|_| ApiError::from(AuthError::OrganizationNotFound))?;
        let inviter = ctx.platform.auth().get_user(&inv.inviter_id).await?;
        let mut v = serde_json::to_value(&inv).unwrap_or(Value::Null);
        v["organizationName"] = json!(tenant.name);
        v["organizationSlug"] = json!(tenant.slug);
        v["inviterEmail"] = json!(inviter.map(|u| u.email));
        Ok(v)
    };
    reply(run.await, cookies)
}
