//! The cross-tenant matrix: one table, [`OPERATIONS`], over every public
//! operation of tenancy and auth that takes a tenant, a record of one, a user,
//! an ID or a credential. Each row runs its operation against tenant B of
//! platform P as the owner of tenant A of the same platform and as the owner
//! of a tenant of another platform Q (or only as the latter, for operator
//! paths and credentials that are the caller's proof on their own platform),
//! and checks the refusal: a typed error that is not a server error, or an
//! answer holding nothing of B; and B unchanged.
//!
//! [`EXEMPT`] lists the operations that the source scan
//! ([`super::scan::tenant_taking_operations`]) finds but that take no tenant,
//! each with the reason. A test of this crate fails naming any operation the
//! scan finds that is in neither list.

use std::time::Duration;

use neutrino_core::clock::ManualClock;
use neutrino_core::ids::{TenantId, UserId};
use neutrino_core::testkit::{join_all, unique};
use neutrino_tenancy::{
    ColumnType, Feature, ListQuery, NewTenant, PlatformRegistry, Record, Registry, ScopeMinter,
    TenantScope, TenantStore, TenantTable,
};

use super::fixtures::{
    AuthStores, PASSWORD, Platform, TwoOrgs, meta, new_key, org_key, tenant_store, two_orgs,
};
use super::race::{TwoFactorUser, challenge, code_at, two_factor_user};
use crate::access::PlatformRole;
use crate::apikey::CreatedApiKey;
use crate::invitation::Invitation;
use crate::mail::EmailKind;
use crate::org::{Member, NewOrganization, OrganizationUpdate, Organizations};
use crate::sso::{ClientSecret, NewSsoProvider, SsoPolicy, SsoProviderUpdate};
use crate::twofactor::PERIOD;
use crate::{Auth, ChangePassword, GetSessionOptions, SignUpEmail};

/// Who runs a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Actor {
    /// The owner of tenant A, on platform P (B's platform).
    SamePlatform,
    /// The owner of a tenant of platform Q, on platform Q.
    OtherPlatform,
}

/// Which actors a row runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actors {
    /// Both.
    Both,
    /// Only [`Actor::OtherPlatform`]: on B's own platform the operation is an
    /// operator path (no caller to judge) or its argument is the credential
    /// that proves the caller (B's session token, API key, mailed secret).
    OtherPlatformOnly,
}

macro_rules! operations {
    ($($op:ident => $name:literal, $actors:ident;)*) => {
        /// One row of the matrix.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum Op { $($op,)* }

        /// Every row of the matrix, in order.
        pub const OPERATIONS: &[Op] = &[$(Op::$op,)*];

        impl Op {
            /// The public operation the row attacks, `Type::method`.
            pub fn operation(self) -> &'static str {
                match self { $(Op::$op => $name,)* }
            }

            /// Who runs the row.
            pub fn actors(self) -> Actors {
                match self { $(Op::$op => Actors::$actors,)* }
            }
        }
    };
}

operations! {
    // The tenant store, with the actor's own tenant scope on B's rows.
    StoreGet => "TenantStore::get", Both;
    StoreUpdate => "TenantStore::update", Both;
    StoreDelete => "TenantStore::delete", Both;
    StoreList => "TenantStore::list", Both;
    StoreInsertIntoB => "TenantStore::insert", Both;
    // The platform view of the actor's platform on B's IDs and records.
    ViewTenant => "PlatformRegistry::tenant", OtherPlatformOnly;
    ViewSubtree => "PlatformRegistry::subtree", OtherPlatformOnly;
    ViewReparentB => "PlatformRegistry::reparent", OtherPlatformOnly;
    ViewReparentUnderB => "PlatformRegistry::reparent", OtherPlatformOnly;
    ViewCreateTenantUnderB => "NewTenant::with_parent", OtherPlatformOnly;
    ViewAddCustomDomain => "PlatformRegistry::add_custom_domain", OtherPlatformOnly;
    ViewHosts => "PlatformRegistry::hosts", OtherPlatformOnly;
    ViewVerifyCustomDomain => "PlatformRegistry::verify_custom_domain", OtherPlatformOnly;
    ViewActivateCustomDomain => "PlatformRegistry::activate_custom_domain", OtherPlatformOnly;
    ViewRemoveHost => "PlatformRegistry::remove_host", OtherPlatformOnly;
    ViewResolve => "PlatformRegistry::resolve", OtherPlatformOnly;
    ViewSetFeature => "PlatformRegistry::set_feature", OtherPlatformOnly;
    ViewFeature => "PlatformRegistry::feature", Both;
    ViewIsEnabled => "PlatformRegistry::is_enabled", Both;
    ViewFeatureWithBsScope => "PlatformRegistry::feature", OtherPlatformOnly;
    ViewOperatorScope => "PlatformRegistry::operator_scope", OtherPlatformOnly;
    // The registry with the actor's platform and B's IDs.
    RegistryTenant => "Registry::tenant", OtherPlatformOnly;
    RegistrySubtree => "Registry::subtree", OtherPlatformOnly;
    RegistryReparent => "Registry::reparent", OtherPlatformOnly;
    RegistryAddCustomDomain => "Registry::add_custom_domain", OtherPlatformOnly;
    RegistryHosts => "Registry::hosts", OtherPlatformOnly;
    RegistryVerifyCustomDomain => "Registry::verify_custom_domain", OtherPlatformOnly;
    RegistryActivateCustomDomain => "Registry::activate_custom_domain", OtherPlatformOnly;
    RegistryRemoveHost => "Registry::remove_host", OtherPlatformOnly;
    RegistrySetFeature => "Registry::set_feature", OtherPlatformOnly;
    RegistryFeature => "Registry::feature", Both;
    RegistryIsEnabled => "Registry::is_enabled", Both;
    RegistryOperatorScope => "Registry::operator_scope", OtherPlatformOnly;
    MinterMintB => "ScopeMinter::mint", OtherPlatformOnly;
    MinterMintBOnItsPlatform => "ScopeMinter::mint", OtherPlatformOnly;
    // The tenant lifecycle with B's ID.
    ViewDeleteTenant => "PlatformRegistry::delete_tenant", OtherPlatformOnly;
    ViewIsTenantDeleted => "PlatformRegistry::is_tenant_deleted", OtherPlatformOnly;
    ViewRenameTenant => "PlatformRegistry::rename_tenant", OtherPlatformOnly;
    RegistryDeleteTenant => "Registry::delete_tenant", OtherPlatformOnly;
    RegistryIsTenantDeleted => "Registry::is_tenant_deleted", OtherPlatformOnly;
    RegistryRenameTenant => "Registry::rename_tenant", OtherPlatformOnly;
    StorePurgeDeletedTenant => "TenantStore::purge_deleted_tenant", Both;
    // Organizations and members.
    Organization => "Organizations::organization", Both;
    GetFullOrganization => "Organizations::get_full_organization", Both;
    UpdateOrganization => "Organizations::update_organization", Both;
    DeleteOrganization => "Organizations::delete_organization", Both;
    ListOrganizations => "Organizations::list_organizations", Both;
    ListMembers => "Organizations::list_members", Both;
    AddMember => "Organizations::add_member", Both;
    AddBsMemberToOwnOrg => "Organizations::add_member", OtherPlatformOnly;
    UpdateMemberRole => "Organizations::update_member_role", Both;
    UpdateBsMemberViaOwnOrg => "Organizations::update_member_role", Both;
    RemoveMember => "Organizations::remove_member", Both;
    RemoveBsMemberViaOwnOrg => "Organizations::remove_member", Both;
    Leave => "Organizations::leave", Both;
    SetActive => "Organizations::set_active", Both;
    SetActiveUnknown => "Organizations::set_active", Both;
    Scope => "Organizations::scope", Both;
    ScopeIn => "Organizations::scope_in", Both;
    ScopeInUnknown => "Organizations::scope_in", Both;
    ActiveMember => "Organizations::active_member", Both;
    CreateSubOrganization => "NewOrganization::with_parent", Both;
    CreateOrganization => "Organizations::create_organization", Both;
    OperatorScope => "Organizations::operator_scope", OtherPlatformOnly;
    TenantAuditLog => "Organizations::tenant_audit_log", OtherPlatformOnly;
    PlatformRoleOfB => "Organizations::platform_role", OtherPlatformOnly;
    OperatorSetPlatformRole => "Organizations::operator_set_platform_role", OtherPlatformOnly;
    // Invitations.
    InviteMember => "Organizations::invite_member", Both;
    ListInvitations => "Organizations::list_invitations", Both;
    ListUserInvitations => "Organizations::list_user_invitations", Both;
    CancelInvitation => "Organizations::cancel_invitation", Both;
    AcceptInvitation => "Organizations::accept_invitation", Both;
    RejectInvitation => "Organizations::reject_invitation", Both;
    SignUpWithInvitation => "Organizations::sign_up_with_invitation", OtherPlatformOnly;
    // API keys.
    CreateApiKey => "Organizations::create_api_key", Both;
    CreateOrganizationApiKey => "Organizations::create_api_key", Both;
    ListApiKeys => "Organizations::list_api_keys", Both;
    ListOrganizationApiKeys => "Organizations::list_organization_api_keys", Both;
    UpdateApiKey => "Organizations::update_api_key", Both;
    DeleteApiKey => "Organizations::delete_api_key", Both;
    VerifyApiKey => "Organizations::verify_api_key", OtherPlatformOnly;
    VerifyOrganizationApiKey => "Organizations::verify_api_key", OtherPlatformOnly;
    // Sessions, users and two-factor with B's people's tokens and IDs.
    GetSession => "Auth::get_session", OtherPlatformOnly;
    GetSessionWith => "Auth::get_session_with", OtherPlatformOnly;
    GetSessionFromCookie => "Auth::get_session_from_cookie", OtherPlatformOnly;
    SignOut => "Auth::sign_out", OtherPlatformOnly;
    RevokeSession => "Auth::revoke_session", Both;
    RevokeSessions => "Auth::revoke_sessions", OtherPlatformOnly;
    RevokeOtherSessions => "Auth::revoke_other_sessions", OtherPlatformOnly;
    ListSessions => "Auth::list_sessions", OtherPlatformOnly;
    GetUser => "Auth::get_user", OtherPlatformOnly;
    AuditLog => "Auth::audit_log", OtherPlatformOnly;
    ChangePasswordOfB => "Auth::change_password", OtherPlatformOnly;
    OperatorSession => "Auth::operator_session", OtherPlatformOnly;
    EnableTwoFactor => "Auth::enable_two_factor", OtherPlatformOnly;
    VerifyTwoFactorSetup => "Auth::verify_two_factor_setup", OtherPlatformOnly;
    GenerateBackupCodes => "Auth::generate_backup_codes", OtherPlatformOnly;
    DisableTwoFactor => "Auth::disable_two_factor", OtherPlatformOnly;
    VerifyTotp => "Auth::verify_totp", OtherPlatformOnly;
    VerifyBackupCode => "Auth::verify_backup_code", OtherPlatformOnly;
    ResetPassword => "Auth::reset_password", OtherPlatformOnly;
    VerifyEmail => "Auth::verify_email", OtherPlatformOnly;
    // The admin plugin, called by a tenant's owner (no platform admin) on B's
    // people, and the user lifecycle with B's tokens and IDs.
    AdminListUsers => "Auth::admin_list_users", Both;
    AdminSetRole => "Auth::admin_set_role", Both;
    AdminBanUser => "Auth::admin_ban_user", Both;
    AdminUnbanUser => "Auth::admin_unban_user", Both;
    AdminImpersonateUser => "Auth::admin_impersonate_user", Both;
    AdminRemoveUser => "Auth::admin_remove_user", Both;
    AdminRevokeUserSessions => "Auth::admin_revoke_user_sessions", Both;
    AdminGetUser => "Auth::admin_get_user", Both;
    AdminCreateUser => "Auth::admin_create_user", Both;
    AdminUpdateUser => "Auth::admin_update_user", Both;
    AdminListUserSessions => "Auth::admin_list_user_sessions", Both;
    AdminRevokeUserSession => "Auth::admin_revoke_user_session", Both;
    AdminSetUserPassword => "Auth::admin_set_user_password", Both;
    AdminHasPermission => "Auth::admin_has_permission", Both;
    StopImpersonating => "Auth::stop_impersonating", OtherPlatformOnly;
    GetAdminUser => "Auth::get_admin_user", OtherPlatformOnly;
    ListAccounts => "Auth::list_accounts", OtherPlatformOnly;
    UpdateUser => "Auth::update_user", OtherPlatformOnly;
    ChangeEmail => "Auth::change_email", OtherPlatformOnly;
    DeleteUser => "Auth::delete_user", OtherPlatformOnly;
    // SSO providers, domains and the policy of B.
    SsoRegisterForB => "Sso::register_provider", Both;
    SsoNewProviderForB => "NewSsoProvider::new", Both;
    SsoProviderOfB => "Sso::provider", Both;
    SsoListProvidersOfB => "Sso::list_providers", Both;
    SsoUpdateProviderOfB => "Sso::update_provider", Both;
    SsoDeleteProviderOfB => "Sso::delete_provider", Both;
    SsoRequestDomainVerificationOfB => "Sso::request_domain_verification", Both;
    SsoVerifyDomainOfB => "Sso::verify_domain", Both;
    SsoPolicyOfB => "Sso::policy", Both;
    SsoSetPolicyOfB => "Sso::set_policy", Both;
    // Last: it leaves the other platform a tenant of its own with B's ID
    // (tenant IDs are per platform), which the rows above must not meet.
    ViewCreateTenantWithBsId => "NewTenant::with_id", OtherPlatformOnly;
}

/// Operations the source scan finds that take no tenant, a record of one or
/// another user's credential: each with the reason.
pub const EXEMPT: &[(&str, &str)] = &[
    (
        "Auth::social_provider",
        "reads the platform's configured social provider by its ID; takes no tenant or user",
    ),
    (
        "Auth::social_redirect_uri",
        "formats the callback URL of a provider ID; reads nothing",
    ),
    (
        "Auth::sso_redirect_uri",
        "formats the SSO callback URL of a provider ID; reads nothing",
    ),
    (
        "ProviderConfig::oidc",
        "a provider configuration value; the ID is the provider's, not a record's",
    ),
    (
        "ProviderConfig::oauth2",
        "a provider configuration value; the ID is the provider's, not a record's",
    ),
    (
        "Auth::verify_password",
        "checks the caller's own password; takes no tenant",
    ),
    (
        "Auth::link_social",
        "starts a link to the caller's own user, resolved from their session token; takes no tenant",
    ),
    (
        "Auth::unlink_account",
        "removes one of the caller's own accounts (another user's answers as missing); takes no tenant",
    ),
    (
        "Auth::account_access_token",
        "reads the caller's own account's provider token (another user's answers as missing); takes no tenant",
    ),
    (
        "Auth::refresh_account_token",
        "refreshes the caller's own account's provider tokens (another user's answers as missing); takes no tenant",
    ),
    (
        "Auth::account_info",
        "reads the provider's profile of the caller's own account (another user's answers as missing); takes no tenant",
    ),
    (
        "Auth::totp_uri",
        "reads the caller's own two-factor setup; takes no tenant",
    ),
    (
        "Auth::trust_device",
        "trusts the caller's own device; another user's or platform's value is refused in trusted_devices_skip_the_second_factor_for_their_user_only",
    ),
    (
        "Auth::request_delete_user",
        "mails the caller's own deletion link; takes no tenant",
    ),
    (
        "Auth::delete_user_with_token",
        "deletes the caller's own account; another user's or platform's link is refused in deletion_links_delete_their_owner_once",
    ),
    (
        "Organizations::get_invitation",
        "shows the invitee their own invitation only; other users, inviters and other platforms get INVITATION_NOT_FOUND in get_invitation_shows_the_invitee_only",
    ),
    (
        "Organizations::has_permission",
        "judges a scope the caller already holds; reads nothing",
    ),
    (
        "SessionCookies::session_cookie",
        "formats the caller's own token as a cookie; reads nothing",
    ),
    (
        "SessionCookies::sign_in_cookies",
        "formats the caller's own token as cookies; reads nothing",
    ),
    (
        "TenantStore::open",
        "opens the store on a database; takes no tenant",
    ),
    (
        "TenantStore::migrate",
        "creates and alters the declared tables as their owner; takes no tenant, reads and writes no row",
    ),
    (
        "Registry::resolve",
        "the registry root routes every platform's hosts (how a request finds its platform); the platform view's resolve has rows",
    ),
    (
        "AdminConfig::has_permission",
        "a pure function of the configuration and its input; reads nothing",
    ),
    (
        "AdminConfig::is_admin_user",
        "a pure function of the configuration and its input; reads nothing",
    ),
    ("neutrino_auth::hash_key", "a pure function of its input"),
    ("neutrino_auth::hotp", "a pure function of its input"),
    ("neutrino_auth::totp", "a pure function of its input"),
    (
        "neutrino_tenancy::normalize_host",
        "a pure function of its input",
    ),
];

/// What a row's operation gave.
#[derive(Debug)]
enum Outcome {
    /// Refused, with the error's code.
    Refused(String),
    /// Answered, with the answer's `Debug`.
    Answered(String),
}

fn auth_outcome<T: std::fmt::Debug>(r: crate::Result<T>) -> Outcome {
    match r {
        Ok(v) => Outcome::Answered(format!("{v:?}")),
        Err(e) => {
            assert!(
                e.status() < 500,
                "a refusal must be a typed client error, not {e:?}"
            );
            Outcome::Refused(e.code().to_owned())
        }
    }
}

fn core_outcome<T: std::fmt::Debug>(r: neutrino_core::Result<T>) -> Outcome {
    match r {
        Ok(v) => Outcome::Answered(format!("{v:?}")),
        Err(e) => {
            assert!(
                e.is_not_found()
                    || matches!(
                        e,
                        neutrino_core::Error::InvalidInput { .. }
                            | neutrino_core::Error::PermissionDenied { .. }
                            | neutrino_core::Error::AlreadyExists { .. }
                    ),
                "a refusal must be a typed error, not {e:?}"
            );
            Outcome::Refused(format!("{e:?}").chars().take(60).collect())
        }
    }
}

/// Everything of tenant B the rows aim at.
struct Target {
    t: TwoOrgs,
    store: TenantStore,
    table: TenantTable,
    b_row: String,
    b_label: String,
    b_member: Member,
    b_inv: Invitation,
    b_inv_secret: String,
    b_key: CreatedApiKey,
    b_org_key: CreatedApiKey,
    b_host: String,
    b_feature: Feature,
    tf: TwoFactorUser,
    tf_token: String,
    reset_token: String,
    verify_token: String,
    b_sso: String,
    b_sso_domain: String,
}

/// The actor's side: its platform, its tenant, its credentials.
struct Side<'a> {
    platform: &'a Platform,
    registry: &'a Registry,
    view: PlatformRegistry,
    minter: &'a ScopeMinter,
    token: &'a str,
    user: &'a UserId,
    org: &'a TenantId,
    scope: TenantScope,
    members: Vec<Member>,
}

impl Side<'_> {
    fn orgs(&self) -> &Organizations {
        &self.platform.orgs
    }
    fn auth(&self) -> &Auth {
        &self.platform.auth
    }
}

async fn target(stores: &AuthStores, clock: &ManualClock) -> Target {
    let t = two_orgs(stores, clock).await;
    let (p, b, ob) = t.on_b();

    let columns = [("label", ColumnType::Text), ("n", ColumnType::Integer)];
    let (store, table) = tenant_store(&t.world, stores, "matrix_", &columns).await;
    let b_label = unique("b-label-");
    let b_row = store
        .insert(
            &t.scope_b().await,
            &table,
            Record::new().set("label", b_label.as_str()).set("n", 1),
        )
        .await
        .expect("B's row");
    store
        .insert(
            &t.scope_a().await,
            &table,
            Record::new().set("label", "a").set("n", 2),
        )
        .await
        .expect("A's row");

    let b_member = p
        .orgs
        .list_members(ob, &b)
        .await
        .expect("B's members")
        .into_iter()
        .find(|m| m.user_id == t.member_b.user.id)
        .expect("B's member");
    let invitee = format!("{}@example.com", unique("invitee-"));
    let b_inv = p
        .orgs
        .invite_member(ob, &b, &invitee, "member", &meta())
        .await
        .expect("B's invitation");
    let b_inv_secret = p
        .mailer
        .last_to(&invitee, EmailKind::Invitation)
        .expect("invitation mailed")
        .token;
    let b_key = org_key(&p.orgs, ob, b, false).await;
    let b_org_key = org_key(&p.orgs, ob, b, true).await;

    let view = t.world.registry.platform(p.id);
    let b_host = format!("{}.example.org", unique("b"));
    view.add_custom_domain(b, &b_host).await.expect("B's host");
    view.verify_custom_domain(&b_host).await.expect("verify");
    view.activate_custom_domain(&b_host)
        .await
        .expect("activate");
    let b_feature = Feature {
        key: "matrix.feature".into(),
        version: 1,
        enabled: true,
        config: serde_json::json!({ "marker": unique("b-feature-") }),
    };
    view.set_feature(b, &b_feature).await.expect("B's feature");

    // A member of B with two-factor on, and a challenge of its sign-in.
    let tf = two_factor_user(&p.auth, clock).await;
    p.orgs
        .add_member(ob, &b, &tf.id, "member", &meta())
        .await
        .expect("two-factor member of B");
    let tf_token = p
        .auth
        .operator_session(
            &tf.id,
            true,
            "matrix",
            "a session of the two-factor member",
            &meta(),
        )
        .await
        .expect("session")
        .token;

    p.auth
        .request_password_reset(&t.owner_b.user.email, None, &meta())
        .await
        .expect("reset requested");
    let reset_token = p
        .mailer
        .last_to(&t.owner_b.user.email, EmailKind::ResetPassword)
        .expect("reset mailed")
        .token;
    p.auth
        .send_verification_email(&t.member_b.user.email, None)
        .await
        .expect("verification sent");
    let verify_token = p
        .mailer
        .last_to(&t.member_b.user.email, EmailKind::VerifyEmail)
        .expect("verification mailed")
        .token;

    // B's SSO provider, its domain pending verification.
    let b_sso = unique("b-sso-");
    let b_sso_domain = format!("{}.example", unique("b-domain-"));
    p.orgs
        .sso()
        .register_provider(
            ob,
            NewSsoProvider::new(
                b_sso.as_str(),
                b,
                "https://idp.example.com",
                b_sso_domain.as_str(),
                "b-client",
                ClientSecret::new("b-client-secret"),
            ),
            &meta(),
        )
        .await
        .expect("B's SSO provider");

    Target {
        b_sso,
        b_sso_domain,
        t,
        store,
        table,
        b_row,
        b_label,
        b_member,
        b_inv,
        b_inv_secret,
        b_key,
        b_org_key,
        b_host,
        b_feature,
        tf,
        tf_token,
        reset_token,
        verify_token,
    }
}

impl Target {
    /// Strings that only B's data holds: an answer carrying one leaks B.
    /// B's tenant and user IDs are left out: rows pass them in, and an
    /// answer may name what its caller gave (another platform's audit log
    /// records the IDs its callers passed).
    fn markers(&self) -> Vec<String> {
        let t = &self.t;
        vec![
            t.org_b.slug.clone(),
            t.owner_b.user.email.clone(),
            t.member_b.user.email.clone(),
            self.tf.email.clone(),
            self.b_row.clone(),
            self.b_label.clone(),
            self.b_member.id.clone(),
            self.b_inv.id.clone(),
            self.b_inv.email.clone(),
            self.b_key.record.id.clone(),
            self.b_org_key.record.id.clone(),
            self.b_host.clone(),
            self.b_sso.clone(),
            self.b_sso_domain.clone(),
            self.b_feature.config["marker"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ]
    }

    /// Everything of B, from B's side: its auth rows, its people's rows,
    /// its registry records and its tenanted rows.
    async fn snapshot(&self) -> Vec<String> {
        let t = &self.t;
        let p = t.p();
        let b = t.org_b.id;
        let mut all = p.snapshot(&b).await;
        for u in [&t.owner_b.user.id, &t.member_b.user.id, &self.tf.id] {
            all.extend(p.user_snapshot(u).await);
        }
        all.extend(p.rows_of("apikey", "id", &self.b_key.record.id).await);
        all.extend(p.rows_of("apikey", "id", &self.b_org_key.record.id).await);
        all.extend(p.rows_of("ssoProvider", "organizationId", b.as_str()).await);
        all.push(format!(
            "{:?}",
            p.orgs.sso().policy(&t.owner_b.session.token, &b).await
        ));
        all.extend(
            p.rows_of(
                "verification",
                "identifier",
                &crate::sso::record_label(&self.b_sso),
            )
            .await,
        );
        let view = t.world.registry.platform(p.id);
        all.push(format!("{:?}", view.tenant(b).await));
        all.push(format!("{:?}", view.is_tenant_deleted(b).await));
        all.push(format!("{:?}", view.subtree(b).await));
        all.push(format!("{:?}", view.hosts(b).await));
        let scope_b = t.scope_b().await;
        all.push(format!(
            "{:?}",
            view.feature(&scope_b, &self.b_feature.key).await
        ));
        let mut tenants: Vec<String> = view
            .tenants()
            .await
            .expect("tenants")
            .into_iter()
            .map(|x| format!("{x:?}"))
            .collect();
        tenants.sort();
        all.extend(tenants);
        all.push(format!(
            "{:?}",
            self.store
                .list(&scope_b, &self.table, &ListQuery::new())
                .await
                .map(|p| p.rows)
        ));
        all
    }

    async fn side(&self, actor: Actor) -> Side<'_> {
        let t = &self.t;
        let (platform, token, user, org) = match actor {
            Actor::SamePlatform => (
                t.p(),
                &t.owner_a.session.token,
                &t.owner_a.user.id,
                &t.org_a.id,
            ),
            Actor::OtherPlatform => (
                t.q(),
                &t.stranger.session.token,
                &t.stranger.user.id,
                &t.org_q.id,
            ),
        };
        let scope = platform
            .orgs
            .scope(token)
            .await
            .expect("the actor's scope")
            .tenant_scope()
            .clone();
        let members = platform
            .orgs
            .list_members(token, org)
            .await
            .expect("own members");
        Side {
            platform,
            registry: &t.world.registry,
            view: t.world.registry.platform(platform.id),
            minter: &platform.minter,
            token,
            user,
            org,
            scope,
            members,
        }
    }
}

async fn run(m: &Target, s: &Side<'_>, op: Op, clock: &ManualClock) -> Outcome {
    let t = &m.t;
    let b = t.org_b.id;
    let bt = &t.owner_b.session.token;
    let o = s.orgs();
    let a = s.auth();
    match op {
        Op::StoreGet => core_outcome(m.store.get(&s.scope, &m.table, &m.b_row).await),
        Op::StoreUpdate => core_outcome(
            m.store
                .update(
                    &s.scope,
                    &m.table,
                    &m.b_row,
                    Record::new().set("label", "taken"),
                )
                .await,
        ),
        Op::StoreDelete => core_outcome(m.store.delete(&s.scope, &m.table, &m.b_row).await),
        Op::StoreList => core_outcome(
            m.store
                .list(&s.scope, &m.table, &ListQuery::new().including_subtenants())
                .await
                .map(|p| p.rows),
        ),
        Op::StoreInsertIntoB => core_outcome(
            m.store
                .insert(
                    &s.scope,
                    &m.table,
                    Record::new()
                        .set("tenant_id", b.as_str())
                        .set("label", "planted")
                        .set("n", 3),
                )
                .await,
        ),
        Op::ViewTenant => core_outcome(s.view.tenant(b).await),
        Op::ViewSubtree => core_outcome(s.view.subtree(b).await),
        Op::ViewReparentB => core_outcome(s.view.reparent(b, Some(*s.org)).await),
        Op::ViewReparentUnderB => core_outcome(s.view.reparent(*s.org, Some(b)).await),
        Op::ViewCreateTenantUnderB => core_outcome(
            s.view
                .create_tenant(NewTenant::new(unique("t-"), "Under B").with_parent(b))
                .await,
        ),
        Op::AdminListUsers => auth_outcome(
            a.admin_list_users(s.token, &crate::admin::ListUsers::default())
                .await,
        ),
        Op::AdminSetRole => auth_outcome(
            a.admin_set_role(s.token, &t.owner_b.user.id, &["admin"], &meta())
                .await,
        ),
        Op::AdminBanUser => auth_outcome(
            a.admin_ban_user(s.token, &t.owner_b.user.id, Some("matrix"), None, &meta())
                .await,
        ),
        Op::AdminUnbanUser => auth_outcome(
            a.admin_unban_user(s.token, &t.owner_b.user.id, &meta())
                .await,
        ),
        Op::AdminImpersonateUser => auth_outcome(
            a.admin_impersonate_user(s.token, &t.owner_b.user.id, &meta())
                .await,
        ),
        Op::AdminRemoveUser => auth_outcome(
            a.admin_remove_user(s.token, &t.owner_b.user.id, &meta())
                .await,
        ),
        Op::AdminRevokeUserSessions => auth_outcome(
            a.admin_revoke_user_sessions(s.token, &t.owner_b.user.id, &meta())
                .await,
        ),
        Op::AdminGetUser => auth_outcome(a.admin_get_user(s.token, &t.owner_b.user.id).await),
        Op::AdminCreateUser => auth_outcome(
            a.admin_create_user(
                s.token,
                crate::admin::CreateUser {
                    email: t.owner_b.user.email.clone(),
                    password: Some(PASSWORD.into()),
                    name: "Mallory".into(),
                    roles: Some(vec!["admin".into()]),
                    ..Default::default()
                },
                &meta(),
            )
            .await,
        ),
        Op::AdminUpdateUser => auth_outcome(
            a.admin_update_user(
                s.token,
                &t.owner_b.user.id,
                crate::admin::AdminUpdateUser {
                    email: Some(unique("mallory-").to_lowercase() + "@example.com"),
                    ..Default::default()
                },
                &meta(),
            )
            .await,
        ),
        Op::AdminListUserSessions => auth_outcome(
            a.admin_list_user_sessions(s.token, &t.owner_b.user.id)
                .await,
        ),
        Op::AdminRevokeUserSession => {
            auth_outcome(a.admin_revoke_user_session(s.token, bt, &meta()).await)
        }
        Op::AdminSetUserPassword => auth_outcome(
            a.admin_set_user_password(s.token, &t.owner_b.user.id, "a new password 0123", &meta())
                .await,
        ),
        Op::AdminHasPermission => auth_outcome(
            a.admin_has_permission(s.token, &[("user".into(), vec!["create".into()])])
                .await,
        ),
        Op::StopImpersonating => auth_outcome(a.stop_impersonating(bt, bt, &meta()).await),
        Op::GetAdminUser => auth_outcome(a.get_admin_user(&t.owner_b.user.id).await),
        Op::ListAccounts => auth_outcome(a.list_accounts(&t.owner_b.user.id).await),
        Op::UpdateUser => auth_outcome(
            a.update_user(
                bt,
                crate::user::UpdateUser {
                    name: Some("Mallory".into()),
                    image: None,
                },
                &meta(),
            )
            .await,
        ),
        Op::ChangeEmail => auth_outcome(
            a.change_email(bt, &format!("{}@example.com", unique("x-")), None, &meta())
                .await,
        ),
        Op::DeleteUser => auth_outcome(a.delete_user(bt, Some(PASSWORD), &meta()).await),
        Op::ViewCreateTenantWithBsId => {
            // Tenant IDs are per platform: another platform may hold the same
            // ID, as a tenant of its own that reaches nothing of B's.
            let r = s
                .view
                .create_tenant(NewTenant::new(unique("t-"), "B's ID").with_id(b))
                .await;
            match r {
                Ok(tenant) => {
                    assert_eq!(tenant.platform, s.platform.id);
                    assert_ne!(tenant.platform, t.p().id);
                    let scope = s
                        .view
                        .operator_scope(tenant.id, "matrix", "the same ID elsewhere")
                        .await
                        .expect("a scope of the new tenant");
                    assert!(
                        m.store.get(&scope, &m.table, &m.b_row).await.is_err(),
                        "a tenant of another platform with B's ID reads B's row"
                    );
                    assert_eq!(
                        m.store
                            .list(&scope, &m.table, &ListQuery::new())
                            .await
                            .expect("list")
                            .rows
                            .len(),
                        0
                    );
                    Outcome::Answered(String::new())
                }
                Err(e) => core_outcome::<()>(Err(e)),
            }
        }
        Op::ViewAddCustomDomain => core_outcome(
            s.view
                .add_custom_domain(b, &format!("{}.example.org", unique("x")))
                .await,
        ),
        Op::ViewHosts => core_outcome(s.view.hosts(b).await),
        Op::ViewVerifyCustomDomain => core_outcome(s.view.verify_custom_domain(&m.b_host).await),
        Op::ViewActivateCustomDomain => {
            core_outcome(s.view.activate_custom_domain(&m.b_host).await)
        }
        Op::ViewRemoveHost => core_outcome(s.view.remove_host(&m.b_host).await),
        Op::ViewResolve => core_outcome(s.view.resolve(&m.b_host).await),
        Op::ViewSetFeature => core_outcome(s.view.set_feature(b, &m.b_feature).await),
        Op::ViewFeature => core_outcome(s.view.feature(&s.scope, &m.b_feature.key).await),
        Op::ViewIsEnabled => core_outcome(
            s.view
                .is_enabled(&s.scope, &m.b_feature.key)
                .await
                .map(|on| assert!(!on, "B's feature is on for another tenant")),
        ),
        Op::ViewFeatureWithBsScope => {
            core_outcome(s.view.feature(&t.scope_b().await, &m.b_feature.key).await)
        }
        Op::ViewOperatorScope => core_outcome(s.view.operator_scope(b, "matrix", "attack").await),
        Op::RegistryTenant => core_outcome(s.registry.tenant(s.platform.id, b).await),
        Op::RegistrySubtree => core_outcome(s.registry.subtree(s.platform.id, b).await),
        Op::RegistryReparent => core_outcome(s.registry.reparent(s.platform.id, b, None).await),
        Op::RegistryAddCustomDomain => core_outcome(
            s.registry
                .add_custom_domain(s.platform.id, b, &format!("{}.example.org", unique("x")))
                .await,
        ),
        Op::RegistryHosts => core_outcome(s.registry.hosts(s.platform.id, b).await),
        Op::RegistryVerifyCustomDomain => core_outcome(
            s.registry
                .verify_custom_domain(s.platform.id, &m.b_host)
                .await,
        ),
        Op::RegistryActivateCustomDomain => core_outcome(
            s.registry
                .activate_custom_domain(s.platform.id, &m.b_host)
                .await,
        ),
        Op::RegistryRemoveHost => {
            core_outcome(s.registry.remove_host(s.platform.id, &m.b_host).await)
        }
        Op::RegistrySetFeature => {
            core_outcome(s.registry.set_feature(s.platform.id, b, &m.b_feature).await)
        }
        Op::RegistryFeature => core_outcome(s.registry.feature(&s.scope, &m.b_feature.key).await),
        Op::RegistryIsEnabled => core_outcome(
            s.registry
                .is_enabled(&s.scope, &m.b_feature.key)
                .await
                .map(|on| assert!(!on, "B's feature is on for another tenant")),
        ),
        Op::RegistryOperatorScope => core_outcome(
            s.registry
                .operator_scope(s.platform.id, b, "matrix", "attack")
                .await,
        ),
        Op::MinterMintB => core_outcome(s.minter.mint(s.platform.id, b).await),
        Op::MinterMintBOnItsPlatform => core_outcome(s.minter.mint(t.p().id, b).await),
        Op::Organization => auth_outcome(o.organization(s.token, &b).await),
        Op::GetFullOrganization => auth_outcome(o.get_full_organization(s.token, Some(&b)).await),
        Op::UpdateOrganization => auth_outcome(
            o.update_organization(
                s.token,
                &b,
                OrganizationUpdate {
                    name: Some("Mallory".into()),
                    slug: Some(unique("mallory-")),
                    logo: Some(None),
                    metadata: Some(None),
                },
                &meta(),
            )
            .await,
        ),
        Op::DeleteOrganization => auth_outcome(o.delete_organization(s.token, &b, &meta()).await),
        Op::ViewDeleteTenant => core_outcome(s.view.delete_tenant(b, "matrix", "attack").await),
        Op::ViewIsTenantDeleted => core_outcome(s.view.is_tenant_deleted(b).await),
        Op::ViewRenameTenant => core_outcome(
            s.view
                .rename_tenant(b, &unique("mallory-"), "Mallory")
                .await,
        ),
        Op::RegistryDeleteTenant => core_outcome(
            s.registry
                .delete_tenant(s.platform.id, b, "matrix", "attack")
                .await,
        ),
        Op::RegistryIsTenantDeleted => {
            core_outcome(s.registry.is_tenant_deleted(s.platform.id, b).await)
        }
        Op::RegistryRenameTenant => core_outcome(
            s.registry
                .rename_tenant(s.platform.id, b, &unique("mallory-"), "Mallory")
                .await,
        ),
        Op::StorePurgeDeletedTenant => {
            core_outcome(m.store.purge_deleted_tenant(s.platform.id, b).await)
        }
        Op::CreateOrganizationApiKey => {
            auth_outcome(o.create_api_key(s.token, new_key(b, true), &meta()).await)
        }
        Op::ListOrganizations => auth_outcome(o.list_organizations(s.token).await),
        Op::SsoRegisterForB | Op::SsoNewProviderForB => auth_outcome(
            o.sso()
                .register_provider(
                    s.token,
                    NewSsoProvider::new(
                        neutrino_core::testkit::unique("x-sso-"),
                        b,
                        "https://idp.example.com",
                        &m.b_sso_domain,
                        "x-client",
                        ClientSecret::new("x-secret"),
                    ),
                    &meta(),
                )
                .await,
        ),
        Op::SsoProviderOfB => auth_outcome(o.sso().provider(s.token, &m.b_sso).await),
        Op::SsoListProvidersOfB => auth_outcome(o.sso().list_providers(s.token, &b).await),
        Op::SsoUpdateProviderOfB => auth_outcome(
            o.sso()
                .update_provider(
                    s.token,
                    &m.b_sso,
                    SsoProviderUpdate {
                        issuer: Some("https://evil.example.com".into()),
                        domain: Some("evil.example".into()),
                        ..SsoProviderUpdate::default()
                    },
                    &meta(),
                )
                .await,
        ),
        Op::SsoDeleteProviderOfB => {
            auth_outcome(o.sso().delete_provider(s.token, &m.b_sso, &meta()).await)
        }
        Op::SsoRequestDomainVerificationOfB => {
            auth_outcome(o.sso().request_domain_verification(s.token, &m.b_sso).await)
        }
        Op::SsoVerifyDomainOfB => auth_outcome(
            o.sso()
                .verify_domain(s.token, &m.b_sso, &super::sso::AlwaysPublished, &meta())
                .await,
        ),
        Op::SsoPolicyOfB => auth_outcome(o.sso().policy(s.token, &b).await),
        Op::SsoSetPolicyOfB => auth_outcome(
            o.sso()
                .set_policy(
                    s.token,
                    &b,
                    SsoPolicy {
                        sso_required: true,
                        default_role: "admin".into(),
                    },
                    &meta(),
                )
                .await,
        ),
        Op::ListMembers => auth_outcome(o.list_members(s.token, &b).await),
        Op::AddMember => auth_outcome(o.add_member(s.token, &b, s.user, "owner", &meta()).await),
        Op::AddBsMemberToOwnOrg => auth_outcome(
            o.add_member(s.token, s.org, &t.member_b.user.id, "member", &meta())
                .await,
        ),
        Op::UpdateMemberRole => auth_outcome(
            o.update_member_role(s.token, &b, &m.b_member.id, "owner", &meta())
                .await,
        ),
        Op::UpdateBsMemberViaOwnOrg => auth_outcome(
            o.update_member_role(s.token, s.org, &m.b_member.id, "admin", &meta())
                .await,
        ),
        Op::RemoveMember => {
            auth_outcome(o.remove_member(s.token, &b, &m.b_member.id, &meta()).await)
        }
        Op::RemoveBsMemberViaOwnOrg => auth_outcome(
            o.remove_member(s.token, s.org, &m.b_member.id, &meta())
                .await,
        ),
        Op::Leave => auth_outcome(o.leave(s.token, &b, &meta()).await),
        Op::SetActive => auth_outcome(o.set_active(s.token, Some(&b), &meta()).await),
        Op::SetActiveUnknown => {
            let r = o
                .set_active(s.token, Some(&TenantId::generate()), &meta())
                .await;
            auth_outcome(r)
        }
        Op::Scope => {
            let r = o.scope(s.token).await;
            if let Ok(sc) = &r {
                assert_eq!(
                    sc.tenant(),
                    *s.org,
                    "the scope moved off the actor's tenant"
                );
            }
            auth_outcome(r)
        }
        Op::ScopeIn => auth_outcome(o.scope_in(s.token, &b).await),
        Op::ScopeInUnknown => auth_outcome(o.scope_in(s.token, &TenantId::generate()).await),
        Op::ActiveMember => {
            let r = o.active_member(s.token).await;
            if let Ok(m) = &r {
                assert_eq!(
                    m.organization_id, *s.org,
                    "the active member moved off the actor's tenant"
                );
            }
            auth_outcome(r)
        }
        Op::CreateSubOrganization => auth_outcome(
            o.create_organization(
                s.token,
                NewOrganization::new("Sub", unique("sub-")).with_parent(b),
                &meta(),
            )
            .await,
        ),
        Op::CreateOrganization => {
            // B's slug taken on P; on Q, a new tenant of Q that is not B.
            let r = o
                .create_organization(
                    s.token,
                    NewOrganization::new("Same slug", t.org_b.slug.clone()),
                    &meta(),
                )
                .await;
            match r {
                Ok(org) => {
                    assert_ne!(org.id, b);
                    assert_eq!(s.platform.id, t.q().id, "B's slug taken twice on P");
                    // The new organization became active: back to the actor's.
                    o.set_active(s.token, Some(s.org), &meta())
                        .await
                        .expect("back to the actor's tenant");
                    Outcome::Answered(String::new())
                }
                Err(e) => auth_outcome::<()>(Err(e)),
            }
        }
        Op::OperatorScope => auth_outcome(o.operator_scope(&b, "matrix", "attack", &meta()).await),
        Op::TenantAuditLog => auth_outcome(o.tenant_audit_log(&b, 100).await),
        Op::PlatformRoleOfB => auth_outcome(o.platform_role(&t.owner_b.user.id).await),
        Op::OperatorSetPlatformRole => auth_outcome(
            o.operator_set_platform_role(
                &t.owner_b.user.id,
                PlatformRole::Admin,
                "matrix",
                "attack",
                &meta(),
            )
            .await,
        ),
        Op::InviteMember => auth_outcome(
            o.invite_member(
                s.token,
                &b,
                &format!("{}@example.com", unique("x-")),
                "owner",
                &meta(),
            )
            .await,
        ),
        Op::ListInvitations => auth_outcome(o.list_invitations(s.token, &b).await),
        Op::ListUserInvitations => auth_outcome(o.list_user_invitations(s.token).await),
        Op::CancelInvitation => {
            auth_outcome(o.cancel_invitation(s.token, &m.b_inv.id, &meta()).await)
        }
        Op::AcceptInvitation => {
            auth_outcome(o.accept_invitation(s.token, &m.b_inv.id, &meta()).await)
        }
        Op::RejectInvitation => {
            auth_outcome(o.reject_invitation(s.token, &m.b_inv.id, &meta()).await)
        }
        Op::SignUpWithInvitation => auth_outcome(
            o.sign_up_with_invitation(
                &m.b_inv_secret,
                SignUpEmail::new("Mallory", m.b_inv.email.clone(), PASSWORD),
                &meta(),
            )
            .await,
        ),
        Op::CreateApiKey => {
            auth_outcome(o.create_api_key(s.token, new_key(b, false), &meta()).await)
        }
        Op::ListApiKeys => auth_outcome(o.list_api_keys(s.token).await),
        Op::ListOrganizationApiKeys => {
            auth_outcome(o.list_organization_api_keys(s.token, &b).await)
        }
        Op::UpdateApiKey => auth_outcome(
            o.update_api_key(
                s.token,
                &m.b_key.record.id,
                crate::apikey::ApiKeyUpdate {
                    enabled: Some(false),
                    ..Default::default()
                },
                &meta(),
            )
            .await,
        ),
        Op::DeleteApiKey => {
            auth_outcome(o.delete_api_key(s.token, &m.b_key.record.id, &meta()).await)
        }
        Op::VerifyApiKey => auth_outcome(o.verify_api_key(&m.b_key.key).await),
        Op::VerifyOrganizationApiKey => auth_outcome(o.verify_api_key(&m.b_org_key.key).await),
        Op::GetSession => auth_outcome(a.get_session(bt).await),
        Op::GetSessionWith => {
            auth_outcome(a.get_session_with(bt, GetSessionOptions::default()).await)
        }
        Op::GetSessionFromCookie => {
            let cookie = t.p().auth.cookies().session_cookie(bt, true);
            auth_outcome(a.get_session_from_cookie(cookie.value()).await)
        }
        Op::SignOut => auth_outcome(a.sign_out(bt, &meta()).await),
        Op::RevokeSession => auth_outcome(a.revoke_session(s.user, bt, &meta()).await.map(|n| {
            assert_eq!(n, 0, "another user's session revoked");
        })),
        Op::RevokeSessions => auth_outcome(a.revoke_sessions(&t.owner_b.user.id, &meta()).await),
        Op::RevokeOtherSessions => auth_outcome(
            a.revoke_other_sessions(&t.owner_b.user.id, s.token, &meta())
                .await,
        ),
        Op::ListSessions => auth_outcome(a.list_sessions(&t.owner_b.user.id).await),
        Op::GetUser => auth_outcome(a.get_user(&t.owner_b.user.id).await),
        Op::AuditLog => auth_outcome(a.audit_log(Some(&t.owner_b.user.id), 100).await),
        Op::ChangePasswordOfB => auth_outcome(
            a.change_password(
                &t.owner_b.user.id,
                ChangePassword {
                    current_password: PASSWORD.into(),
                    new_password: "a new password of B".into(),
                    revoke_other_sessions: true,
                },
                None,
                &meta(),
            )
            .await,
        ),
        Op::OperatorSession => auth_outcome(
            a.operator_session(&t.owner_b.user.id, true, "matrix", "attack", &meta())
                .await,
        ),
        Op::EnableTwoFactor => auth_outcome(a.enable_two_factor(bt, PASSWORD, "X", &meta()).await),
        Op::VerifyTwoFactorSetup => auth_outcome(
            a.verify_two_factor_setup(&m.tf_token, &code_at(&m.tf.secret, clock, 0), &meta())
                .await,
        ),
        Op::GenerateBackupCodes => auth_outcome(
            a.generate_backup_codes(&m.tf_token, PASSWORD, &meta())
                .await,
        ),
        Op::DisableTwoFactor => {
            auth_outcome(a.disable_two_factor(&m.tf_token, PASSWORD, &meta()).await)
        }
        Op::VerifyTotp => {
            let ch = challenge(&t.p().auth, &m.tf.email).await;
            auth_outcome(
                a.verify_totp(&ch, &code_at(&m.tf.secret, clock, 0), &meta())
                    .await,
            )
        }
        Op::VerifyBackupCode => {
            let ch = challenge(&t.p().auth, &m.tf.email).await;
            auth_outcome(
                a.verify_backup_code(&ch, &m.tf.backup_codes[0], &meta())
                    .await,
            )
        }
        Op::ResetPassword => auth_outcome(
            a.reset_password(&m.reset_token, "a new password of B", &meta())
                .await,
        ),
        Op::VerifyEmail => auth_outcome(a.verify_email(&m.verify_token, &meta()).await),
    }
}

/// Every row of [`OPERATIONS`], as A's owner on P and as Q's owner on Q
/// (see [`Op::actors`]), against tenant B of P: refused or answered with
/// nothing of B, and B unchanged; afterwards B's people and keys still work
/// on B, and each actor's scope is still its own tenant.
pub async fn cross_tenant_matrix_refuses_every_operation_on_another_tenant(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let m = target(stores, clock).await;
    let t_b = &m.t;
    let markers = m.markers();
    // Slugs are per platform: the other platform may hold B's slug for a
    // tenant of its own (the `CreateOrganization` row makes one).
    let markers_q: Vec<String> = markers
        .iter()
        .filter(|x| **x != t_b.org_b.slug)
        .cloned()
        .collect();
    let markers_for = |actor: Actor| match actor {
        Actor::SamePlatform => markers.iter(),
        Actor::OtherPlatform => markers_q.iter(),
    };
    let mut ran = 0;
    let mut refusals = std::collections::HashMap::new();
    for actor in [Actor::SamePlatform, Actor::OtherPlatform] {
        for &op in OPERATIONS {
            if actor == Actor::SamePlatform && op.actors() == Actors::OtherPlatformOnly {
                continue;
            }
            // A fresh time step, so that a code refused on one row is not
            // replay-locked for the next.
            clock.advance(Duration::from_secs(3 * PERIOD));
            let side = m.side(actor).await;
            let before = m.snapshot().await;
            let own_before = side.members.clone();
            let out = run(&m, &side, op, clock).await;
            if let Outcome::Refused(code) = &out {
                assert!(!code.is_empty(), "{op:?} refused without a code");
                refusals.insert((actor, op), code.clone());
            }
            if let Outcome::Answered(text) = &out {
                for mark in markers_for(actor) {
                    assert!(
                        !text.contains(mark.as_str()),
                        "{op:?} ({}) as {actor:?} answered with B's {mark}: {text}",
                        op.operation()
                    );
                }
            }
            assert_eq!(
                before,
                m.snapshot().await,
                "{op:?} ({}) as {actor:?} changed B ({out:?})",
                op.operation()
            );
            // The actor's own tenant did not gain B's people.
            let own_after = side
                .orgs()
                .list_members(side.token, side.org)
                .await
                .expect("own members");
            for mem in &own_after {
                let of_b = [&t_b.owner_b.user.id, &t_b.member_b.user.id, &m.tf.id];
                assert!(
                    !of_b.contains(&&mem.user_id) || own_before.iter().any(|b| b.id == mem.id),
                    "{op:?} as {actor:?} brought B's user into the actor's tenant"
                );
            }
            ran += 1;
        }
    }
    let same = OPERATIONS
        .iter()
        .filter(|o| o.actors() == Actors::Both)
        .count();
    assert_eq!(ran, OPERATIONS.len() + same);

    // Every row again, all at once, as both actors: still nothing of B in an
    // answer and B unchanged.
    let before = m.snapshot().await;
    let sides = [
        m.side(Actor::SamePlatform).await,
        m.side(Actor::OtherPlatform).await,
    ];
    let mut rows = Vec::new();
    for (i, actor) in [Actor::SamePlatform, Actor::OtherPlatform]
        .into_iter()
        .enumerate()
    {
        for &op in OPERATIONS {
            if actor == Actor::OtherPlatform || op.actors() == Actors::Both {
                rows.push((i, op));
            }
        }
    }
    let outs = join_all(rows.iter().map(|&(i, op)| run(&m, &sides[i], op, clock))).await;
    for ((i, op), out) in rows.iter().zip(&outs) {
        if let Outcome::Answered(text) = out {
            for mark in markers_for([Actor::SamePlatform, Actor::OtherPlatform][*i]) {
                assert!(
                    !text.contains(mark.as_str()),
                    "{op:?} as {:?}, run with every other row at once, answered with B's {mark}",
                    [Actor::SamePlatform, Actor::OtherPlatform][*i]
                );
            }
        }
    }
    assert_eq!(before, m.snapshot().await, "the rows run at once changed B");

    // The operations on organizations, members, invitations and keys answer
    // as for a record that does not exist, or that the caller is not in it:
    // never a permission error that would confirm B's records.
    let expected: &[(&[Op], &str)] = &[
        (
            &[
                Op::Organization,
                Op::ListMembers,
                Op::AddMember,
                Op::UpdateMemberRole,
                Op::RemoveMember,
                Op::RemoveBsMemberViaOwnOrg,
                Op::Leave,
                Op::SetActive,
                Op::ScopeIn,
                Op::ScopeInUnknown,
                Op::CreateSubOrganization,
            ],
            "MEMBER_NOT_FOUND",
        ),
        (
            &[
                Op::InviteMember,
                Op::CancelInvitation,
                Op::AcceptInvitation,
                Op::RejectInvitation,
                Op::ListInvitations,
            ],
            "INVITATION_NOT_FOUND",
        ),
        (
            &[Op::CreateApiKey, Op::UpdateApiKey, Op::DeleteApiKey],
            "KEY_NOT_FOUND",
        ),
    ];
    for (ops, not_found) in expected {
        for &op in *ops {
            let code = refusals
                .get(&(Actor::SamePlatform, op))
                .unwrap_or_else(|| panic!("{op:?} was not refused"));
            assert!(
                [
                    "ORGANIZATION_NOT_FOUND",
                    "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION",
                    not_found,
                ]
                .contains(&code.as_str()),
                "{op:?} answered {code}"
            );
        }
    }
    // Another organization's invitation is answered as an unknown one: its
    // ID tells a non-member nothing.
    assert_eq!(
        refusals
            .get(&(Actor::SamePlatform, Op::CancelInvitation))
            .map(String::as_str),
        Some("INVITATION_NOT_FOUND")
    );
    // An unknown ID answers as B's does.
    assert_eq!(
        refusals.get(&(Actor::SamePlatform, Op::SetActiveUnknown)),
        refusals.get(&(Actor::SamePlatform, Op::SetActive))
    );
    assert_eq!(
        refusals
            .get(&(Actor::SamePlatform, Op::SetActive))
            .map(String::as_str),
        Some("USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION")
    );
    // Naming B or an unknown tenant per request answers alike.
    assert_eq!(
        refusals.get(&(Actor::SamePlatform, Op::ScopeInUnknown)),
        refusals.get(&(Actor::SamePlatform, Op::ScopeIn))
    );
    assert_eq!(
        refusals
            .get(&(Actor::SamePlatform, Op::ScopeIn))
            .map(String::as_str),
        Some("USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION")
    );

    // B still works for B.
    let t = &m.t;
    let p = t.p();
    assert_eq!(
        p.orgs
            .scope(&t.owner_b.session.token)
            .await
            .expect("B's scope")
            .tenant(),
        t.org_b.id
    );
    assert_eq!(
        p.orgs
            .scope(&t.member_b.session.token)
            .await
            .expect("B's member")
            .tenant(),
        t.org_b.id
    );
    assert_eq!(
        p.orgs
            .scope_in(&t.member_b.session.token, &t.org_b.id)
            .await
            .expect("B's member names B")
            .tenant(),
        t.org_b.id
    );
    match p.orgs.verify_api_key(&m.b_key.key).await.expect("B's key") {
        crate::apikey::ApiKeyScope::Tenant(s) => assert_eq!(s.tenant(), t.org_b.id),
        other => panic!("B's key became {other:?}"),
    }
    match p
        .orgs
        .verify_api_key(&m.b_org_key.key)
        .await
        .expect("B's own key")
    {
        crate::apikey::ApiKeyScope::Organization { scope, .. } => {
            assert_eq!(scope.tenant(), t.org_b.id)
        }
        other => panic!("B's own key became {other:?}"),
    }
    assert_eq!(
        t.world
            .registry
            .platform(p.id)
            .resolve(&m.b_host)
            .await
            .expect("resolve"),
        Some(t.org_b.id)
    );
    // Each actor's scope is still its own tenant.
    assert_eq!(
        p.orgs
            .scope(&t.owner_a.session.token)
            .await
            .expect("A's scope")
            .tenant(),
        t.org_a.id
    );
    assert_eq!(
        t.q()
            .orgs
            .scope(&t.stranger.session.token)
            .await
            .expect("Q's scope")
            .tenant(),
        t.org_q.id
    );
}
