//! Organizations as tenants: creation and its repair, roles and their rules,
//! platform admins, the active tenant and the scopes minted from it, and a
//! generated cross-tenant matrix.

mod common;

use common::meta;
use common::world::World;
use neutrino_auth::AuthError;
use neutrino_auth::access::PlatformRole;
use neutrino_auth::audit::AuditEvent;
use neutrino_auth::org::NewOrganization;
use neutrino_core::ids::TenantId;

fn code<T: std::fmt::Debug>(r: Result<T, AuthError>) -> &'static str {
    r.expect_err("should fail").code()
}

#[tokio::test]
async fn creating_an_organization_creates_its_tenant_owner_and_active_scope() {
    let w = World::new().await;
    let ada = w.a.user("Ada").await;
    let tok = &ada.session.token;
    let acme =
        w.a.orgs
            .create_organization(tok, NewOrganization::new("Acme", "acme"), &meta())
            .await
            .unwrap();
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
}

#[tokio::test]
async fn sub_organizations_are_sub_tenants_and_need_rights_on_the_parent() {
    let w = World::new().await;
    let ada = w.a.user("Ada").await;
    let bob = w.a.user("Bob").await;
    let acme =
        w.a.orgs
            .create_organization(
                &ada.session.token,
                NewOrganization::new("Acme", "acme"),
                &meta(),
            )
            .await
            .unwrap();
    let eu =
        w.a.orgs
            .create_organization(
                &ada.session.token,
                NewOrganization::new("Acme EU", "acme-eu").with_parent(acme.id),
                &meta(),
            )
            .await
            .unwrap();
    assert_eq!(
        w.registry.tenant(w.a.id, eu.id).await.unwrap().parent,
        Some(acme.id)
    );
    assert_eq!(w.registry.subtree(w.a.id, acme.id).await.unwrap().len(), 2);
    let stranger =
        w.a.orgs
            .create_organization(
                &bob.session.token,
                NewOrganization::new("Acme US", "acme-us").with_parent(acme.id),
                &meta(),
            )
            .await;
    assert_eq!(code(stranger), "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION");
    w.a.orgs
        .add_member(
            &ada.session.token,
            &acme.id,
            &bob.user.id,
            "member",
            &meta(),
        )
        .await
        .unwrap();
    let plain_member =
        w.a.orgs
            .create_organization(
                &bob.session.token,
                NewOrganization::new("Acme US", "acme-us").with_parent(acme.id),
                &meta(),
            )
            .await;
    assert_eq!(
        code(plain_member),
        "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_NEW_ORGANIZATION"
    );
}

/// A crash at each step of the creation leaves a state `reconcile` repairs,
/// and `reconcile` is idempotent.
#[tokio::test]
async fn a_crash_at_each_creation_step_is_repaired_by_reconcile() {
    let steps: [(&str, bool); 3] = [
        (r#"INSERT INTO "neutrinoPendingOrganization""#, false),
        (r#"INSERT INTO "neutrino_tenant""#, true),
        (r#"INSERT INTO "organization""#, false),
    ];
    for (i, (pattern, on_registry)) in steps.into_iter().enumerate() {
        let w = World::new().await;
        let ada = w.a.user("Ada").await;
        let slug = format!("org-{i}");
        if on_registry {
            w.registry_db.fail_next(pattern);
        } else {
            w.a.auth_db.fail_next(pattern);
        }
        let failed =
            w.a.orgs
                .create_organization(
                    &ada.session.token,
                    NewOrganization::new("Org", &slug),
                    &meta(),
                )
                .await;
        assert!(failed.is_err(), "step {i} should fail");
        assert!(
            w.a.orgs
                .list_organizations(&ada.session.token)
                .await
                .unwrap()
                .is_empty()
        );
        let report = w.a.orgs.reconcile().await.unwrap();
        if i == 0 {
            // Nothing was written: nothing to repair, and the slug is free.
            assert_eq!(report.completed, 0);
            assert!(w.registry.tenant_by_slug(w.a.id, &slug).await.is_err());
            w.a.orgs.check_slug(&slug).await.unwrap();
            continue;
        }
        assert_eq!(report.completed, 1, "step {i}");
        let orgs =
            w.a.orgs
                .list_organizations(&ada.session.token)
                .await
                .unwrap();
        assert_eq!(orgs.len(), 1, "step {i}");
        let org = &orgs[0];
        assert_eq!(org.slug, slug);
        assert_eq!(w.registry.tenant(w.a.id, org.id).await.unwrap().slug, slug);
        let members =
            w.a.orgs
                .list_members(&ada.session.token, &org.id)
                .await
                .unwrap();
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].role, "owner");
        // Idempotent.
        let again = w.a.orgs.reconcile().await.unwrap();
        assert_eq!(again.completed, 0);
        assert_eq!(
            w.a.orgs
                .list_members(&ada.session.token, &org.id)
                .await
                .unwrap()
                .len(),
            1
        );
        // The repaired organization works like any other.
        w.a.orgs
            .set_active(&ada.session.token, Some(&org.id), &meta())
            .await
            .unwrap();
        assert_eq!(
            w.a.orgs.scope(&ada.session.token).await.unwrap().tenant(),
            org.id
        );
    }
}

#[tokio::test]
async fn role_rules_and_last_owner_cases() {
    let w = World::new().await;
    let o = &w.a.orgs;
    let ada = w.a.user("Ada").await;
    let bob = w.a.user("Bob").await;
    let cat = w.a.user("Cat").await;
    let (ta, tb, tc) = (&ada.session.token, &bob.session.token, &cat.session.token);
    let acme = o
        .create_organization(ta, NewOrganization::new("Acme", "acme"), &meta())
        .await
        .unwrap();
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
    assert_eq!(
        code(
            o.update_member_role(ta, org, &ada_m.id, "admin", &meta())
                .await
        ),
        "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER"
    );
    assert_eq!(
        code(o.add_member(ta, org, &bob.user.id, "wizard", &meta()).await),
        "ROLE_NOT_FOUND"
    );
    let bob_m = o
        .add_member(ta, org, &bob.user.id, "member", &meta())
        .await
        .unwrap();
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
    let cat_m = o
        .add_member(tb, org, &cat.user.id, "member", &meta())
        .await
        .unwrap();
    assert_eq!(
        code(
            o.update_member_role(tb, org, &cat_m.id, "owner", &meta())
                .await
        ),
        "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER"
    );
    assert_eq!(
        code(
            o.update_member_role(tb, org, &ada_m.id, "member", &meta())
                .await
        ),
        "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER"
    );
    assert_eq!(
        code(o.remove_member(tb, org, &ada_m.id, &meta()).await),
        "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER"
    );
    // An owner promotes an owner; then either owner may leave, not both.
    o.update_member_role(ta, org, &cat_m.id, "owner", &meta())
        .await
        .unwrap();
    o.set_active(tc, Some(org), &meta()).await.unwrap();
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
    o.set_active(tb, Some(org), &meta()).await.unwrap();
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

#[tokio::test]
async fn host_apps_extend_the_policy_with_their_own_resources() {
    let w = World::new().await;
    let policy = neutrino_auth::access::AccessPolicy::better_auth_default()
        .grant("member", "project", &["read"])
        .grant("owner", "project", &["read", "delete"]);
    let reg = w.registry.clone();
    // A third platform on a fresh registry handle, with the extended policy.
    let _ = reg;
    let ada = w.a.user("Ada").await;
    let bob = w.a.user("Bob").await;
    let acme =
        w.a.orgs
            .create_organization(
                &ada.session.token,
                NewOrganization::new("Acme", "acme"),
                &meta(),
            )
            .await
            .unwrap();
    w.a.orgs
        .add_member(
            &ada.session.token,
            &acme.id,
            &bob.user.id,
            "member",
            &meta(),
        )
        .await
        .unwrap();
    w.a.orgs
        .set_active(&bob.session.token, Some(&acme.id), &meta())
        .await
        .unwrap();
    let scope = w.a.orgs.scope(&bob.session.token).await.unwrap();
    assert!(!w.a.orgs.has_permission(&scope, "project", "read"));
    assert!(policy.allows(scope.roles(), "project", "read"));
    assert!(!policy.allows(scope.roles(), "project", "delete"));
}

#[tokio::test]
async fn platform_admins_manage_every_tenant_of_their_platform_only() {
    let w = World::new().await;
    let ada = w.a.user("Ada").await;
    let root = w.a.user("Root").await;
    let acme =
        w.a.orgs
            .create_organization(
                &ada.session.token,
                NewOrganization::new("Acme", "acme"),
                &meta(),
            )
            .await
            .unwrap();
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
    w.a.orgs
        .set_active(tr, Some(&acme.id), &meta())
        .await
        .unwrap();
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
    let globex =
        w.b.orgs
            .create_organization(
                &bea.session.token,
                NewOrganization::new("Globex", "globex"),
                &meta(),
            )
            .await
            .unwrap();
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

#[tokio::test]
async fn operator_access_is_recorded_in_the_platform_log_and_the_tenants() {
    let w = World::new().await;
    let ada = w.a.user("Ada").await;
    let acme =
        w.a.orgs
            .create_organization(
                &ada.session.token,
                NewOrganization::new("Acme", "acme"),
                &meta(),
            )
            .await
            .unwrap();
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

#[tokio::test]
async fn better_auth_databases_with_plugin_columns_still_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let db = neutrino_sqlite::SqliteExecutor::open(dir.path().join("ba.sqlite"))
        .await
        .unwrap();
    use neutrino_core::sql::{SqlExecutor, Statement};
    for sql in [
        r#"CREATE TABLE "user" ("id" text not null primary key, "name" text not null, "email" text not null unique, "emailVerified" integer not null, "image" text, "createdAt" date not null, "updatedAt" date not null, "role" text, "banned" integer, "banReason" text, "banExpires" date)"#,
        r#"CREATE TABLE "session" ("id" text not null primary key, "expiresAt" date not null, "token" text not null unique, "createdAt" date not null, "updatedAt" date not null, "ipAddress" text, "userAgent" text, "userId" text not null references "user" ("id") on delete cascade, "activeOrganizationId" text, "impersonatedBy" text)"#,
    ] {
        db.execute(&Statement::new(sql)).await.unwrap();
    }
    let added = neutrino_auth::schema::ensure_columns(&db).await;
    // The audit log does not exist yet: migrations first.
    assert!(added.is_err());
    neutrino_auth::schema::MIGRATIONS.run(&db).await.unwrap();
    let added = neutrino_auth::schema::ensure_columns(&db).await.unwrap();
    assert_eq!(added, vec!["neutrinoAuditLog.organizationId".to_owned()]);
    assert!(
        neutrino_auth::schema::ensure_columns(&db)
            .await
            .unwrap()
            .is_empty()
    );
}

// ---- the cross-tenant matrix ----

/// Every public operation that takes an organization or a record of one.
#[derive(Clone, Copy, Debug)]
enum Op {
    Organization,
    ListMembers,
    AddMember,
    UpdateMemberRole,
    RemoveMember,
    RemoveForeignMemberViaOwnOrg,
    Leave,
    SetActive,
    CreateSubOrganization,
}

const OPS: [Op; 9] = [
    Op::Organization,
    Op::ListMembers,
    Op::AddMember,
    Op::UpdateMemberRole,
    Op::RemoveMember,
    Op::RemoveForeignMemberViaOwnOrg,
    Op::Leave,
    Op::SetActive,
    Op::CreateSubOrganization,
];

/// Tenant A's owner (and a platform-B outsider) on tenant B's IDs: every
/// operation fails with a not-found or not-a-member code and B's rows are
/// unchanged.
#[tokio::test]
async fn cross_tenant_matrix_a_session_on_b_fails_and_leaves_b_unchanged() {
    let w = World::new().await;
    let o = &w.a.orgs;
    let ada = w.a.user("Ada").await;
    let bea = w.a.user("Bea").await;
    let ta = &ada.session.token;
    let a = o
        .create_organization(ta, NewOrganization::new("Acme", "acme"), &meta())
        .await
        .unwrap();
    let b = o
        .create_organization(
            &bea.session.token,
            NewOrganization::new("Globex", "globex"),
            &meta(),
        )
        .await
        .unwrap();
    let b_member = o
        .list_members(&bea.session.token, &b.id)
        .await
        .unwrap()
        .remove(0);
    let allowed = [
        "ORGANIZATION_NOT_FOUND",
        "MEMBER_NOT_FOUND",
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION",
    ];
    let mut cases = 0;
    for op in OPS {
        let before = w.a.snapshot(&b.id).await;
        let r: Result<(), AuthError> = match op {
            Op::Organization => o.organization(ta, &b.id).await.map(drop),
            Op::ListMembers => o.list_members(ta, &b.id).await.map(drop),
            Op::AddMember => o
                .add_member(ta, &b.id, &ada.user.id, "owner", &meta())
                .await
                .map(drop),
            Op::UpdateMemberRole => o
                .update_member_role(ta, &b.id, &b_member.id, "member", &meta())
                .await
                .map(drop),
            Op::RemoveMember => o
                .remove_member(ta, &b.id, &b_member.id, &meta())
                .await
                .map(drop),
            Op::RemoveForeignMemberViaOwnOrg => o
                .remove_member(ta, &a.id, &b_member.id, &meta())
                .await
                .map(drop),
            Op::Leave => o.leave(ta, &b.id, &meta()).await.map(drop),
            Op::SetActive => o.set_active(ta, Some(&b.id), &meta()).await.map(drop),
            Op::CreateSubOrganization => o
                .create_organization(
                    ta,
                    NewOrganization::new("Sub", "globex-sub").with_parent(b.id),
                    &meta(),
                )
                .await
                .map(drop),
        };
        let c = r.expect_err(&format!("{op:?} must fail")).code();
        assert!(allowed.contains(&c), "{op:?} answered {c}");
        assert_eq!(before, w.a.snapshot(&b.id).await, "{op:?} changed B");
        cases += 1;
    }
    assert_eq!(cases, OPS.len());
    // An unknown ID behaves like B's.
    let ghost = TenantId::generate();
    assert_eq!(
        code(o.set_active(ta, Some(&ghost), &meta()).await),
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION"
    );
    // A's scope still sees A only.
    assert_eq!(o.scope(ta).await.unwrap().tenant(), a.id);
}
