//! Cases: an organization's life after its creation (update, delete,
//! get-full-organization), the crash points of a deletion and what
//! `reconcile` makes of them, and organization-owned API keys.

use neutrino_core::clock::ManualClock;
use neutrino_core::sql::Statement;
use neutrino_core::testkit::unique;
use neutrino_tenancy::{ColumnType, ListQuery, Record, TenantStore, TenantTable};

use super::fixtures::{
    AuthStores, TwoOrgs, World, code, member, meta, org_key, tenant_store, two_orgs,
};
use crate::apikey::{ApiKeyOwner, ApiKeyScope, NewApiKey};
use crate::org::{NewOrganization, OrganizationUpdate};

/// A store with one tenanted table on the registry database.
async fn store(t: &TwoOrgs, stores: &AuthStores) -> (TenantStore, TenantTable) {
    tenant_store(&t.world, stores, "life_", &[("label", ColumnType::Text)]).await
}

/// Update needs `organization:update` (owners and admins, not members); the
/// registry tenant's slug and name follow; a slug held by another
/// organization is `ORGANIZATION_SLUG_ALREADY_TAKEN` and changes nothing on
/// either side.
pub async fn updating_an_organization_needs_the_right_and_the_tenant_follows(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let t = two_orgs(stores, clock).await;
    let (p, b, ob) = t.on_b();
    let rename = |slug: &str| OrganizationUpdate {
        name: Some("Globex Renamed".into()),
        slug: Some(slug.to_owned()),
        ..OrganizationUpdate::default()
    };
    // A plain member may not; another tenant's owner neither; A's slug is
    // taken: nothing changes anywhere.
    let slug = unique("globex-");
    for (tok, to, want) in [
        (
            &t.member_b.session.token[..],
            &slug,
            "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION",
        ),
        (
            &t.owner_a.session.token,
            &slug,
            "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION",
        ),
        (ob, &t.org_a.slug, "ORGANIZATION_SLUG_ALREADY_TAKEN"),
    ] {
        let r = p
            .orgs
            .update_organization(tok, &b, rename(to), &meta())
            .await;
        assert_eq!(code(r), want);
    }
    let view = t.world.registry.platform(p.id);
    assert_eq!(view.tenant(b).await.expect("tenant").slug, t.org_b.slug);
    // An admin may; the tenant follows.
    member(&p.orgs, ob, &b, &t.outsider.user.id, "admin").await;
    let updated = p
        .orgs
        .update_organization(
            &t.outsider.session.token,
            &b,
            OrganizationUpdate {
                metadata: Some(Some(serde_json::json!({ "plan": "pro" }))),
                logo: Some(Some("https://example.com/logo.png".into())),
                ..rename(&slug)
            },
            &meta(),
        )
        .await
        .expect("admin updates");
    assert_eq!(updated.slug, slug);
    assert_eq!(updated.name, "Globex Renamed");
    assert_eq!(updated.metadata.as_deref(), Some(r#"{"plan":"pro"}"#));
    let tenant = view.tenant(b).await.expect("tenant");
    assert_eq!(
        (tenant.slug.as_str(), tenant.name.as_str()),
        (slug.as_str(), "Globex Renamed")
    );
    assert_eq!(view.tenant_by_slug(&slug).await.expect("by slug").id, b);
    assert!(
        view.tenant_by_slug(&t.org_b.slug)
            .await
            .unwrap_err()
            .is_not_found()
    );
    // The old slug is free again.
    p.orgs
        .check_slug(&t.org_b.slug)
        .await
        .expect("old slug free");
    assert_eq!(
        p.orgs.organization(ob, &b).await.expect("read back"),
        updated
    );
    // Bad input is a typed error.
    let bad_slug = rename("Not A Slug");
    let r = p.orgs.update_organization(ob, &b, bad_slug, &meta()).await;
    assert_eq!(code(r), "VALIDATION_ERROR");
}

/// Delete needs `organization:delete` (owners only); it deletes the
/// organization, its members, invitations and own keys and clears it as any
/// session's active organization; its tenant goes with it: a scope minted
/// before is refused at the next store call, no new one is minted, its rows
/// are reached by no scope until they are purged, and its ID is never reused.
pub async fn deleting_an_organization_deletes_its_tenant_and_everything_of_it(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let t = two_orgs(stores, clock).await;
    let (p, b, ob) = t.on_b();
    let (store, table) = store(&t, stores).await;
    let old_scope = t.scope_b().await;
    let row = store
        .insert(&old_scope, &table, Record::new().set("label", "b's"))
        .await
        .expect("B's row");
    let inv = p
        .orgs
        .invite_member(ob, &b, &crate::testkit::unique_email(), "member", &meta())
        .await
        .expect("invite");
    let key = org_key(&p.orgs, ob, b, false).await;
    let own_key = org_key(&p.orgs, ob, b, true).await;
    // An admin may not delete; a member neither; another tenant's owner neither.
    member(&p.orgs, ob, &b, &t.outsider.user.id, "admin").await;
    let refused = "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_ORGANIZATION";
    for (tok, want) in [
        (&t.outsider.session.token, refused),
        (&t.member_b.session.token, refused),
        (
            &t.owner_a.session.token,
            "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION",
        ),
    ] {
        let r = p.orgs.delete_organization(tok, &b, &meta()).await;
        assert_eq!(code(r), want);
    }
    assert!(store.get(&old_scope, &table, &row).await.is_ok());

    let deleted = p
        .orgs
        .delete_organization(ob, &b, &meta())
        .await
        .expect("owner deletes");
    assert_eq!(deleted.id, b);
    // The auth rows.
    assert!(
        p.snapshot(&b).await.is_empty(),
        "{:?}",
        p.snapshot(&b).await
    );
    assert!(
        p.rows_of("apikey", "referenceId", b.as_str())
            .await
            .is_empty()
    );
    assert!(p.rows_of("invitation", "id", &inv.id).await.is_empty());
    // The tenant, and every way in.
    let view = t.world.registry.platform(p.id);
    assert!(view.tenant(b).await.unwrap_err().is_not_found());
    assert!(view.is_tenant_deleted(b).await.expect("tombstone"));
    let gone = store.get(&old_scope, &table, &row).await;
    assert!(gone.unwrap_err().is_not_found());
    assert!(
        store
            .insert(&old_scope, &table, Record::new().set("label", "late"))
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        store
            .list(&old_scope, &table, &ListQuery::new())
            .await
            .is_err()
    );
    assert_eq!(code(p.orgs.scope(ob).await), "NO_ACTIVE_ORGANIZATION");
    assert_eq!(
        code(p.orgs.scope(&t.member_b.session.token).await),
        "NO_ACTIVE_ORGANIZATION"
    );
    assert_eq!(
        code(p.orgs.set_active(ob, Some(&b), &meta()).await),
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION"
    );
    assert!(p.orgs.verify_api_key(&key.key).await.is_err());
    assert_eq!(
        code(p.orgs.verify_api_key(&own_key.key).await),
        "INVALID_API_KEY"
    );
    assert!(p.minter.mint(p.id, b).await.unwrap_err().is_not_found());
    assert!(
        view.operator_scope(b, "ops", "after the deletion")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(
        code(p.orgs.get_full_organization(ob, Some(&b)).await),
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION"
    );
    assert!(
        p.orgs
            .list_organizations(ob)
            .await
            .expect("list")
            .is_empty()
    );
    // The ID is never given again, and the slug is free.
    let again = view
        .create_tenant(neutrino_tenancy::NewTenant::new(unique("t-"), "Again").with_id(b))
        .await;
    assert!(again.unwrap_err().is_already_exists());
    p.orgs.check_slug(&t.org_b.slug).await.expect("slug free");
    // A deletion again is NotFound; the rows go with the purge.
    assert_eq!(
        code(p.orgs.delete_organization(ob, &b, &meta()).await),
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION"
    );
    assert_eq!(store.purge_deleted_tenant(p.id, b).await.expect("purge"), 1);
    assert!(
        store
            .purge_deleted_tenant(p.id, t.org_a.id)
            .await
            .unwrap_err()
            .to_string()
            .contains("not deleted")
    );
    // A is untouched.
    assert!(t.scope_a().await.tenant() == t.org_a.id);
}

/// The crash points of a deletion: after the registry half alone, the
/// organization lets no one in and `reconcile` finishes it; after the auth
/// half alone (as when Better Auth deletes it), `reconcile` deletes the
/// tenant; after a registry rename alone, `reconcile` makes the tenant follow
/// the organization again.
pub async fn a_deletion_interrupted_between_its_databases_is_finished_by_reconcile(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let t = two_orgs(stores, clock).await;
    let p = t.p();
    let view = t.world.registry.platform(p.id);
    let (store, table) = store(&t, stores).await;

    // Crash after step 1 (the registry's half) of B's deletion.
    let b = t.org_b.id;
    let old_scope = t.scope_b().await;
    let row = store
        .insert(&old_scope, &table, Record::new().set("label", "b"))
        .await
        .expect("row");
    view.delete_tenant(b, "test", "crash after the registry half")
        .await
        .expect("registry half");
    // Nobody gets in, though the organization and its members are there.
    assert!(!p.snapshot(&b).await.is_empty());
    let gone = store.get(&old_scope, &table, &row).await;
    assert!(gone.unwrap_err().is_not_found());
    assert_eq!(
        code(p.orgs.scope(&t.owner_b.session.token).await),
        "ORGANIZATION_NOT_FOUND"
    );
    assert_eq!(
        code(p.orgs.scope(&t.member_b.session.token).await),
        "ORGANIZATION_NOT_FOUND"
    );
    assert_eq!(
        code(
            p.orgs
                .set_active(&t.owner_b.session.token, Some(&b), &meta())
                .await
        ),
        "ORGANIZATION_NOT_FOUND"
    );
    let report = p.orgs.reconcile().await.expect("reconcile");
    assert_eq!(report.deleted, 1, "{report:?}");
    assert!(p.snapshot(&b).await.is_empty());
    assert!(p.orgs.reconcile().await.expect("again").deleted == 0);

    // Step 2 alone (Better Auth's own delete): the tenant stays live until
    // reconcile deletes it.
    let a = t.org_a.id;
    let scope_a = t.scope_a().await;
    for sql in [
        r#"DELETE FROM "member" WHERE "organizationId" = ?1"#,
        r#"UPDATE "session" SET "activeOrganizationId" = NULL WHERE "activeOrganizationId" = ?1"#,
        r#"DELETE FROM "organization" WHERE "id" = ?1"#,
    ] {
        p.db.execute(&Statement::new(sql).bind(a.as_str()))
            .await
            .expect("auth half");
    }
    let report = p.orgs.reconcile().await.expect("reconcile");
    assert_eq!(report.deleted, 1, "{report:?}");
    assert!(view.is_tenant_deleted(a).await.expect("tombstone"));
    assert!(
        store
            .list(&scope_a, &table, &ListQuery::new())
            .await
            .unwrap_err()
            .is_not_found()
    );

    // A tenant made in the registry alone is no organization: left alone.
    let plain = view
        .create_tenant(neutrino_tenancy::NewTenant::new(unique("plain-"), "Plain"))
        .await
        .expect("plain tenant");
    // A rename of the registry alone (a crash inside update): the tenant
    // follows the organization again.
    let c = p.org(&t.outsider.session.token, "Initrode").await;
    view.rename_tenant(c.id, &unique("half-"), "Half")
        .await
        .expect("registry half of a rename");
    let report = p.orgs.reconcile().await.expect("reconcile");
    assert_eq!((report.deleted, report.renamed), (0, 1), "{report:?}");
    assert_eq!(view.tenant(c.id).await.expect("tenant").slug, c.slug);
    assert!(view.tenant(plain.id).await.is_ok());
}

/// Better Auth's `get-full-organization`: the organization, its members with
/// their users, and its invitations for those who may invite (owner-role
/// invitations for owners only); the active organization by default; members
/// only.
pub async fn get_full_organization_answers_better_auths_shape_to_members_only(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let t = two_orgs(stores, clock).await;
    let (p, b, ob) = t.on_b();
    p.orgs
        .invite_member(ob, &b, &crate::testkit::unique_email(), "owner", &meta())
        .await
        .expect("owner invitation");
    p.orgs
        .invite_member(ob, &b, &crate::testkit::unique_email(), "member", &meta())
        .await
        .expect("member invitation");
    let full = p
        .orgs
        .get_full_organization(ob, None)
        .await
        .expect("full")
        .expect("B is active");
    assert_eq!(full.organization.id, b);
    assert_eq!(full.members.len(), 2);
    let owner = full
        .members
        .iter()
        .find(|m| m.member.user_id == t.owner_b.user.id)
        .expect("the owner is listed");
    assert_eq!(owner.user.email, t.owner_b.user.email);
    assert_eq!(owner.member.role, "owner");
    assert_eq!(full.invitations.len(), 2);
    let json = serde_json::to_value(&full).expect("json");
    for k in ["id", "name", "slug", "createdAt", "members", "invitations"] {
        assert!(json.get(k).is_some(), "{k} missing in {json}");
    }
    let m = &json["members"][0];
    for k in ["id", "organizationId", "userId", "role", "createdAt"] {
        assert!(m.get(k).is_some(), "member {k} missing in {m}");
    }
    assert!(m["user"]["email"].is_string(), "{m}");
    // A plain member sees no invitations.
    let seen = p
        .orgs
        .get_full_organization(&t.member_b.session.token, Some(&b))
        .await
        .expect("member")
        .expect("some");
    assert!(seen.invitations.is_empty());
    // No active organization: none.
    assert!(
        p.orgs
            .get_full_organization(&t.outsider.session.token, None)
            .await
            .expect("none")
            .is_none()
    );
    // Not a member.
    let oa = &t.owner_a.session.token;
    let not_member = p.orgs.get_full_organization(oa, Some(&b)).await;
    assert_eq!(code(not_member), "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION");
}

/// An organization's own key: made by an owner (`apiKey:create`; admins and
/// members are refused with Better Auth's codes), `referenceId` = the
/// organization; it acts as the organization with only its own permissions,
/// keeps working after its creator leaves and is deleted, and stops with the
/// organization.
pub async fn organization_keys_outlive_their_creator_and_die_with_the_organization(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let t = two_orgs(stores, clock).await;
    let (p, b, ob) = t.on_b();
    let own = |org| NewApiKey {
        organization: org,
        owned_by_organization: true,
        ..NewApiKey::default()
    };
    member(&p.orgs, ob, &b, &t.outsider.user.id, "admin").await;
    let insufficient = "INSUFFICIENT_API_KEY_PERMISSIONS";
    for (tok, org, want) in [
        (&t.outsider.session.token[..], Some(b), insufficient),
        (&t.member_b.session.token, Some(b), insufficient),
        (
            &t.owner_a.session.token,
            Some(b),
            "USER_NOT_MEMBER_OF_ORGANIZATION",
        ),
        (ob, None, "ORGANIZATION_ID_REQUIRED"),
    ] {
        let r = p.orgs.create_api_key(tok, own(org), &meta()).await;
        assert_eq!(code(r), want);
    }
    // A second owner makes the key, then leaves and deletes their account.
    let maker = p.user("Maker").await;
    member(&p.orgs, ob, &b, &maker.user.id, "owner").await;
    let key = p
        .orgs
        .create_api_key(&maker.session.token, own(Some(b)), &meta())
        .await
        .expect("owner makes an organization key");
    assert_eq!(key.record.owner, ApiKeyOwner::Organization(b));
    assert_eq!(
        serde_json::to_value(&key.record).expect("json")["referenceId"],
        b.as_str()
    );
    // Not the maker's key.
    assert!(
        p.orgs
            .list_api_keys(&maker.session.token)
            .await
            .expect("list")
            .is_empty()
    );
    let check = |r: crate::Result<ApiKeyScope>| match r.expect("the key verifies") {
        ApiKeyScope::Organization { scope, .. } => assert_eq!(scope.tenant(), b),
        other => panic!("an organization key became {other:?}"),
    };
    check(p.orgs.verify_api_key(&key.key).await);
    p.orgs
        .leave(&maker.session.token, &b, &meta())
        .await
        .expect("leave");
    check(p.orgs.verify_api_key(&key.key).await);
    p.db.execute(
        &Statement::new(r#"DELETE FROM "user" WHERE "id" = ?1"#).bind(maker.user.id.as_str()),
    )
    .await
    .expect("the maker's account deleted");
    check(p.orgs.verify_api_key(&key.key).await);
    // Its organization manages it: a plain member may not, another tenant's
    // owner does not see it, an owner disables and deletes it.
    let spare = p
        .orgs
        .create_api_key(ob, own(Some(b)), &meta())
        .await
        .expect("a second key");
    for (tok, want) in [
        (
            &t.member_b.session.token,
            "INSUFFICIENT_API_KEY_PERMISSIONS",
        ),
        (&t.owner_a.session.token, "KEY_NOT_FOUND"),
    ] {
        let r = p.orgs.delete_api_key(tok, &spare.record.id, &meta()).await;
        assert_eq!(code(r), want);
    }
    let off = p
        .orgs
        .update_api_key(
            ob,
            &spare.record.id,
            crate::apikey::ApiKeyUpdate {
                enabled: Some(false),
                ..Default::default()
            },
            &meta(),
        )
        .await
        .expect("owner disables");
    assert!(!off.enabled);
    assert_eq!(
        code(p.orgs.verify_api_key(&spare.key).await),
        "INVALID_API_KEY"
    );
    p.orgs
        .delete_api_key(ob, &spare.record.id, &meta())
        .await
        .expect("owner deletes");
    assert!(p.rows_of("apikey", "id", &spare.record.id).await.is_empty());
    // The organization goes: so does the key.
    p.orgs
        .delete_organization(ob, &b, &meta())
        .await
        .expect("delete");
    assert_eq!(
        code(p.orgs.verify_api_key(&key.key).await),
        "INVALID_API_KEY"
    );
    // A key of a deleted organization is not made.
    assert!(
        p.orgs
            .create_api_key(ob, own(Some(b)), &meta())
            .await
            .is_err()
    );

    // Better Auth deletes an organization (its rows only: its keys and its
    // tenant stay until reconcile): the key is refused at once.
    let oa = &t.owner_a.session.token;
    let a = t.org_a.id;
    let key_a = p
        .orgs
        .create_api_key(oa, own(Some(a)), &meta())
        .await
        .expect("A's key");
    check_a(p.orgs.verify_api_key(&key_a.key).await, a);
    p.db.execute(&Statement::new(r#"DELETE FROM "organization" WHERE "id" = ?1"#).bind(a.as_str()))
        .await
        .expect("Better Auth's delete");
    assert_eq!(
        code(p.orgs.verify_api_key(&key_a.key).await),
        "INVALID_API_KEY"
    );
    let _ = NewOrganization::new("unused", "unused");
}

fn check_a(r: crate::Result<ApiKeyScope>, org: neutrino_core::ids::TenantId) {
    match r.expect("the key verifies") {
        ApiKeyScope::Organization { scope, .. } => assert_eq!(scope.tenant(), org),
        other => panic!("an organization key became {other:?}"),
    }
}

/// With the session cache on, deleting an organization clears it from the
/// cached sessions that had it active at once (the members' and the
/// deleter's), as set-active and member removal do, instead of after the
/// cache's TTL.
pub async fn deleting_an_organization_clears_it_from_cached_sessions_at_once(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let world = World::configured(stores, clock, |b| {
        b.with_session_cache(crate::SessionCacheConfig {
            ttl: std::time::Duration::from_secs(300),
            max_entries: 100,
        })
    })
    .await;
    let t = super::fixtures::two_orgs_in(world).await;
    let (p, b, ob) = t.on_b();
    let active = |token: String| async move {
        p.auth
            .get_session(&token)
            .await
            .expect("get session")
            .expect("a session")
            .session
            .active_organization_id
            .clone()
    };
    let member_token = t.member_b.session.token.clone();
    let other_token = t.owner_a.session.token.clone();
    // Cached, with B active (A for A's owner).
    assert_eq!(
        active(member_token.clone()).await.as_deref(),
        Some(b.as_str())
    );
    assert_eq!(active(ob.to_owned()).await.as_deref(), Some(b.as_str()));
    let a_active = active(other_token.clone()).await;
    assert_eq!(a_active.as_deref(), Some(t.org_a.id.as_str()));
    assert!(p.auth.cached_sessions() >= 3);
    p.orgs.delete_organization(ob, &b, &meta()).await.unwrap();
    assert_eq!(active(member_token).await, None);
    assert_eq!(active(ob.to_owned()).await, None);
    // Another organization's sessions keep theirs.
    assert_eq!(active(other_token).await, a_active);
}
