//! Organizations as tenants: creation, sub-organizations, roles and their
//! rules, platform admins, the active tenant and the scopes minted from it,
//! operator access.

use neutrino_core::clock::ManualClock;

use super::fixtures::{AuthStores, World, activate, code, create_org, member, meta};
use crate::access::PlatformRole;
use crate::audit::AuditEvent;
use crate::org::NewOrganization;

/// Creating an organization creates its tenant owner and active scope.
pub async fn creating_an_organization_creates_its_tenant_owner_and_active_scope(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let w = World::new(stores, clock).await;
    let ada = w.a.user("Ada").await;
    let tok = &ada.session.token;
    let acme = w.a.acme(tok).await;
    let tenant = w.registry.tenant(w.a.id, acme.id).await.unwrap();
    assert_eq!(tenant.slug, "acme");
    assert_eq!(tenant.name, "Acme");
    let members = w.a.orgs.list_members(tok, &acme.id).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].user_id, ada.user.id);
    assert_eq!(members[0].role, "owner");
    let scope = w.a.orgs.scope(tok).await.unwrap();
    assert_eq!(scope.tenant(), acme.id);
    assert_eq!(scope.platform(), w.a.id);
    assert_eq!(scope.tenant_scope().tenant(), acme.id);
    assert!(w.a.orgs.has_permission(&scope, "organization", "delete"));
    assert_eq!(
        w.a.orgs.list_organizations(tok).await.unwrap(),
        vec![acme.clone()]
    );
    // The slug is taken, whether by an organization or a plain registry tenant.
    let again =
        w.a.orgs
            .create_organization(tok, NewOrganization::new("Acme 2", "acme"), &meta())
            .await;
    assert_eq!(code(again), "ORGANIZATION_ALREADY_EXISTS");
    w.registry
        .create_tenant(w.a.id, neutrino_tenancy::NewTenant::new("plain", "Plain"))
        .await
        .unwrap();
    let clash =
        w.a.orgs
            .create_organization(tok, NewOrganization::new("Plain", "plain"), &meta())
            .await;
    assert_eq!(code(clash), "ORGANIZATION_ALREADY_EXISTS");
    assert_eq!(
        code(w.a.orgs.check_slug("acme").await),
        "ORGANIZATION_SLUG_ALREADY_TAKEN"
    );
    w.a.orgs.check_slug("free-slug").await.unwrap();
    let bad =
        w.a.orgs
            .create_organization(tok, NewOrganization::new("Bad", "Not A Slug"), &meta())
            .await;
    assert_eq!(code(bad), "VALIDATION_ERROR");
    assert_eq!(code(w.a.orgs.scope("no-such-token").await), "UNAUTHORIZED");
    // The active member: the creator, as owner; none without an active
    // organization; none once the membership is gone.
    let me = w.a.orgs.active_member(tok).await.unwrap();
    assert_eq!(
        (me.organization_id, me.user_id, me.role.as_str()),
        (acme.id, ada.user.id, "owner")
    );
    assert_eq!(
        code(w.a.orgs.active_member("no-such-token").await),
        "UNAUTHORIZED"
    );
    let bob = w.a.user("Bob").await;
    assert_eq!(
        code(w.a.orgs.active_member(&bob.session.token).await),
        "NO_ACTIVE_ORGANIZATION"
    );
    w.a.db
        .execute(
            &neutrino_core::sql::Statement::new(r#"DELETE FROM "member" WHERE "userId" = ?1"#)
                .bind(ada.user.id.as_str()),
        )
        .await
        .unwrap();
    assert_eq!(code(w.a.orgs.active_member(tok).await), "MEMBER_NOT_FOUND");
}

/// Sub organizations are sub tenants and need rights on the parent.
pub async fn sub_organizations_are_sub_tenants_and_need_rights_on_the_parent(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let w = World::new(stores, clock).await;
    let [ada, bob] = w.a.users(["Ada", "Bob"]).await;
    let acme = w.a.acme(&ada.session.token).await;
    let eu = create_org(
        &w.a.orgs,
        &ada.session.token,
        NewOrganization::new("Acme EU", "acme-eu").with_parent(acme.id),
    )
    .await;
    assert_eq!(
        w.registry.tenant(w.a.id, eu.id).await.unwrap().parent,
        Some(acme.id)
    );
    assert_eq!(w.registry.subtree(w.a.id, acme.id).await.unwrap().len(), 2);
    // A stranger to Acme may not make a sub-organization of it; a plain
    // member neither.
    let us = || NewOrganization::new("Acme US", "acme-us").with_parent(acme.id);
    let m = meta();
    let by_bob = || w.a.orgs.create_organization(&bob.session.token, us(), &m);
    let stranger = by_bob().await;
    assert_eq!(code(stranger), "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION");
    member(
        &w.a.orgs,
        &ada.session.token,
        &acme.id,
        &bob.user.id,
        "member",
    )
    .await;
    let plain_member = by_bob().await;
    assert_eq!(
        code(plain_member),
        "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_NEW_ORGANIZATION"
    );
}

/// Role rules and last owner cases.
pub async fn role_rules_and_last_owner_cases(stores: &AuthStores, clock: &ManualClock) {
    let w = World::new(stores, clock).await;
    let o = &w.a.orgs;
    let [ada, bob, cat] = w.a.users(["Ada", "Bob", "Cat"]).await;
    let (ta, tb, tc) = (&ada.session.token, &bob.session.token, &cat.session.token);
    let acme = w.a.acme(ta).await;
    let org = &acme.id;
    let ada_m = o.list_members(ta, org).await.unwrap().remove(0);
    // The only owner cannot leave, be removed or demoted.
    assert_eq!(
        code(o.leave(ta, org, &meta()).await),
        "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER"
    );
    assert_eq!(
        code(o.remove_member(ta, org, &ada_m.id, &meta()).await),
        "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER"
    );
    let r = o
        .update_member_role(ta, org, &ada_m.id, "admin", &meta())
        .await;
    assert_eq!(
        code(r),
        "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER"
    );
    assert_eq!(
        code(o.add_member(ta, org, &bob.user.id, "wizard", &meta()).await),
        "ROLE_NOT_FOUND"
    );
    let bob_m = member(o, ta, org, &bob.user.id, "member").await;
    assert_eq!(
        code(o.add_member(ta, org, &bob.user.id, "member", &meta()).await),
        "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION"
    );
    // A plain member manages nobody.
    assert_eq!(
        code(o.add_member(tb, org, &cat.user.id, "member", &meta()).await),
        "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION"
    );
    assert_eq!(
        code(o.remove_member(tb, org, &ada_m.id, &meta()).await),
        "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER"
    );
    // Promote Bob to admin (multi-role as Better Auth stores it).
    let bob_m = o
        .update_member_role(ta, org, &bob_m.id, "admin, member", &meta())
        .await
        .unwrap();
    assert_eq!(bob_m.role, "admin,member");
    // An admin adds members but no owners, and touches no owner.
    assert_eq!(
        code(o.add_member(tb, org, &cat.user.id, "owner", &meta()).await),
        "YOU_ARE_NOT_ALLOWED_TO_INVITE_USER_WITH_THIS_ROLE"
    );
    let cat_m = member(o, tb, org, &cat.user.id, "member").await;
    for (m, role) in [(&cat_m.id, "owner"), (&ada_m.id, "member")] {
        let r = o.update_member_role(tb, org, m, role, &meta()).await;
        assert_eq!(code(r), "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER");
    }
    assert_eq!(
        code(o.remove_member(tb, org, &ada_m.id, &meta()).await),
        "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER"
    );
    // An owner promotes an owner; then either owner may leave, not both.
    o.update_member_role(ta, org, &cat_m.id, "owner", &meta())
        .await
        .unwrap();
    activate(o, tc, org).await;
    let cat_scope = o.scope(tc).await.unwrap();
    assert!(o.has_permission(&cat_scope, "organization", "delete"));
    o.leave(ta, org, &meta()).await.unwrap();
    assert_eq!(
        code(o.leave(tc, org, &meta()).await),
        "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER"
    );
    assert_eq!(
        code(o.list_members(ta, org).await),
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION"
    );
    // Bob, removed, loses his active organization and his scope.
    activate(o, tb, org).await;
    let bob_scope = o.scope(tb).await.unwrap();
    assert!(o.has_permission(&bob_scope, "member", "create"));
    assert!(!o.has_permission(&bob_scope, "organization", "delete"));
    o.remove_member(tc, org, &bob_m.id, &meta()).await.unwrap();
    assert_eq!(code(o.scope(tb).await), "NO_ACTIVE_ORGANIZATION");
    // Every change is in the tenant's audit log.
    let log = o.tenant_audit_log(org, 100).await.unwrap();
    let has = |e: AuditEvent| log.iter().any(|x| x.event == e);
    for e in [
        AuditEvent::OrganizationCreated,
        AuditEvent::MemberAdded,
        AuditEvent::MemberRoleChanged,
        AuditEvent::MemberLeft,
        AuditEvent::MemberRemoved,
        AuditEvent::ActiveOrganizationSet,
    ] {
        assert!(has(e), "{e} missing");
    }
    // Refused changes left no entry.
    let removals = log
        .iter()
        .filter(|x| x.event == AuditEvent::MemberRemoved)
        .count();
    assert_eq!(removals, 1);
}

/// Host apps extend the policy with their own resources.
pub async fn host_apps_extend_the_policy_with_their_own_resources(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let w = World::new(stores, clock).await;
    let policy = crate::access::AccessPolicy::better_auth_default()
        .grant("member", "project", &["read"])
        .grant("owner", "project", &["read", "delete"]);
    let reg = w.registry.clone();
    // A third platform on a fresh registry handle, with the extended policy.
    let _ = reg;
    let [ada, bob] = w.a.users(["Ada", "Bob"]).await;
    let ta = &ada.session.token;
    let acme = w.a.acme(ta).await;
    member(&w.a.orgs, ta, &acme.id, &bob.user.id, "member").await;
    activate(&w.a.orgs, &bob.session.token, &acme.id).await;
    let scope = w.a.orgs.scope(&bob.session.token).await.unwrap();
    assert!(!w.a.orgs.has_permission(&scope, "project", "read"));
    assert!(policy.allows(scope.roles(), "project", "read"));
    assert!(!policy.allows(scope.roles(), "project", "delete"));
}

/// Platform admins manage every tenant of their platform only.
pub async fn platform_admins_manage_every_tenant_of_their_platform_only(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let w = World::new(stores, clock).await;
    let [ada, root] = w.a.users(["Ada", "Root"]).await;
    let acme = w.a.acme(&ada.session.token).await;
    let tr = &root.session.token;
    assert_eq!(
        code(w.a.orgs.set_active(tr, Some(&acme.id), &meta()).await),
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION"
    );
    w.a.orgs
        .operator_set_platform_role(
            &root.user.id,
            PlatformRole::Admin,
            "ops@example.com",
            "support ticket 42",
            &meta(),
        )
        .await
        .unwrap();
    assert_eq!(
        w.a.orgs.platform_role(&root.user.id).await.unwrap(),
        PlatformRole::Admin
    );
    activate(&w.a.orgs, tr, &acme.id).await;
    let scope = w.a.orgs.scope(tr).await.unwrap();
    assert!(scope.is_platform_admin());
    assert!(w.a.orgs.has_permission(&scope, "organization", "delete"));
    let ada_m = w.a.orgs.list_members(tr, &acme.id).await.unwrap().remove(0);
    // Even a platform admin cannot remove the last owner.
    assert_eq!(
        code(
            w.a.orgs
                .remove_member(tr, &acme.id, &ada_m.id, &meta())
                .await
        ),
        "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER"
    );
    // Platform B: the admin's session does not exist there, and B's
    // organizations cannot be reached through platform A.
    let bea = w.b.user("Bea").await;
    let globex = create_org(
        &w.b.orgs,
        &bea.session.token,
        NewOrganization::new("Globex", "globex"),
    )
    .await;
    let before = w.b.snapshot(&globex.id).await;
    assert_eq!(
        code(w.b.orgs.set_active(tr, Some(&globex.id), &meta()).await),
        "UNAUTHORIZED"
    );
    assert_eq!(
        code(w.a.orgs.set_active(tr, Some(&globex.id), &meta()).await),
        "ORGANIZATION_NOT_FOUND"
    );
    assert_eq!(
        code(w.a.orgs.list_members(tr, &globex.id).await),
        "ORGANIZATION_NOT_FOUND"
    );
    assert_eq!(
        code(
            w.a.orgs
                .operator_scope(&globex.id, "ops@example.com", "support", &meta())
                .await
        ),
        "ORGANIZATION_NOT_FOUND"
    );
    assert_eq!(before, w.b.snapshot(&globex.id).await);
}

/// Operator access is recorded in the platform log and the tenants.
pub async fn operator_access_is_recorded_in_the_platform_log_and_the_tenants(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let w = World::new(stores, clock).await;
    let ada = w.a.user("Ada").await;
    let acme = w.a.acme(&ada.session.token).await;
    let scope =
        w.a.orgs
            .operator_scope(&acme.id, "ops@example.com", "ticket 42", &meta())
            .await
            .unwrap();
    assert_eq!(scope.tenant(), acme.id);
    let platform_log = w.registry.audit_log(w.a.id).await.unwrap();
    assert!(platform_log.iter().any(|e| e.tenant == Some(acme.id)
        && e.actor == "ops@example.com"
        && e.reason == "ticket 42"));
    let tenant_log = w.a.orgs.tenant_audit_log(&acme.id, 50).await.unwrap();
    assert!(
        tenant_log
            .iter()
            .any(|e| e.event == AuditEvent::OperatorAccess
                && e.detail.as_deref() == Some("operator ops@example.com: ticket 42"))
    );
}

/// A request names its tenant (`scope_in`), whatever the session's active
/// organization, with the membership checked on every call: a member of two
/// tenants gets each one's scope from one session; a non-member gets the same
/// refusal for an existing and an unknown tenant; a removal takes effect on
/// the next call; a platform admin gets any tenant of its platform.
pub async fn a_request_names_its_tenant_and_the_membership_is_checked_every_time(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let t = super::fixtures::two_orgs(stores, clock).await;
    let p = t.p();
    let (a, b) = (t.org_a.id, t.org_b.id);
    // Ben is a member of B (active) and now of A too; his active organization
    // stays B while each call names its own tenant.
    let ben = &t.member_b;
    let ben_in_a = member(
        &p.orgs,
        &t.owner_a.session.token,
        &a,
        &ben.user.id,
        "member",
    )
    .await;
    let in_a = p.orgs.scope_in(&ben.session.token, &a).await.unwrap();
    let in_b = p.orgs.scope_in(&ben.session.token, &b).await.unwrap();
    assert_eq!((in_a.tenant(), in_a.roles()), (a, "member"));
    assert_eq!(in_b.tenant(), b);
    assert_eq!(in_a.user_id(), ben.user.id);
    assert_eq!(p.orgs.scope(&ben.session.token).await.unwrap().tenant(), b);
    // A's owner naming B, or a tenant that does not exist: the same answer.
    let ta = &t.owner_a.session.token;
    assert_eq!(
        code(p.orgs.scope_in(ta, &b).await),
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION"
    );
    assert_eq!(
        code(
            p.orgs
                .scope_in(ta, &neutrino_core::ids::TenantId::generate())
                .await
        ),
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION"
    );
    // Another platform's tenant is not this platform's.
    assert_eq!(
        code(p.orgs.scope_in(ta, &t.org_q.id).await),
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION"
    );
    // Bad tokens.
    for bad in ["", "no-such-token", "a\0b", &"x".repeat(10_000)] {
        assert_eq!(code(p.orgs.scope_in(bad, &a).await), "UNAUTHORIZED");
    }
    // The stranger's session is of platform Q: unknown here.
    assert_eq!(
        code(p.orgs.scope_in(&t.stranger.session.token, &a).await),
        "UNAUTHORIZED"
    );
    // Removed from A: refused at once.
    p.orgs
        .remove_member(ta, &a, &ben_in_a.id, &meta())
        .await
        .unwrap();
    assert_eq!(
        code(p.orgs.scope_in(&ben.session.token, &a).await),
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION"
    );
    assert_eq!(
        p.orgs
            .scope_in(&ben.session.token, &b)
            .await
            .unwrap()
            .tenant(),
        b
    );
    // A platform admin gets any tenant of its platform, and not an unknown one.
    let olga = &t.outsider;
    p.orgs
        .operator_set_platform_role(&olga.user.id, PlatformRole::Admin, "ops", "test", &meta())
        .await
        .unwrap();
    let admin_b = p.orgs.scope_in(&olga.session.token, &b).await.unwrap();
    assert!(admin_b.is_platform_admin());
    assert_eq!(admin_b.tenant(), b);
    assert_eq!(
        code(
            p.orgs
                .scope_in(
                    &olga.session.token,
                    &neutrino_core::ids::TenantId::generate()
                )
                .await
        ),
        "ORGANIZATION_NOT_FOUND"
    );
}
