//! Organizations Better Auth created on the shared auth database (rows with
//! no registry tenant) are adopted: by `reconcile()`, idempotently and once
//! each when several processes reconcile at once, and on first use. Each gets
//! a host label made from its slug, whatever the slug, distinct from every
//! other tenant's on the platform; its row stays as Better Auth wrote it.
//!
//! The rows are written here as Better Auth writes them (the interop test
//! has the real Better Auth write them).

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::SystemTime;

use common::{PASSWORD, SECRET, meta, unique_email};
use neutrino_auth::apikey::{ApiKeyScope, NewApiKey};
use neutrino_auth::org::Organizations;
use neutrino_auth::{Auth, AuthBuilder, IdFormat, SignUpEmail, SignedIn};
use neutrino_core::ids::{PlatformId, TenantId};
use neutrino_core::naming::rules::is_valid_dns_label;
use neutrino_core::naming::tenant_host_labels;
use neutrino_core::sql::{SqlExecutor, Statement};
use neutrino_sqlite::SqliteExecutor;
use neutrino_tenancy::{
    ListQuery, NewPlatform, NewTenant, PlatformClass, Record, Registry, ScopeMinter, TenantStore,
    TenantTable,
};
use proptest::prelude::*;
use tempfile::TempDir;

const APP_DOMAIN: &str = "apps.example.test";

/// A platform with an app domain, its registry and auth database on SQLite
/// files, and a tenant store; [`Fx::handle`] opens more handles on the same
/// files, as another process would.
struct Fx {
    dir: TempDir,
    registry: Registry,
    minter: ScopeMinter,
    platform: PlatformId,
    raw: SqliteExecutor,
    auth: Auth,
    orgs: Organizations,
    store: TenantStore,
    notes: TenantTable,
}

impl Fx {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let registry = Self::open_registry(&dir).await;
        let platform = registry
            .create_platform(
                NewPlatform::new("Adoption", PlatformClass::Platform).with_app_domain(APP_DOMAIN),
            )
            .await
            .unwrap()
            .id;
        let minter = registry.scope_minter().unwrap();
        let raw = SqliteExecutor::open(dir.path().join("auth.sqlite"))
            .await
            .unwrap();
        let auth = AuthBuilder::new(raw.clone(), SECRET).build().unwrap();
        auth.migrate().await.unwrap();
        let orgs = neutrino_auth::testkit::organizations(
            auth.clone(),
            registry.clone(),
            platform,
            minter.restricted_to(platform).unwrap(),
        );
        let (store, notes) = common::note_store(dir.path(), &registry).await;
        Self {
            dir,
            registry,
            minter,
            platform,
            raw,
            auth,
            orgs,
            store,
            notes,
        }
    }

    async fn open_registry(dir: &TempDir) -> Registry {
        let db = SqliteExecutor::open(dir.path().join("registry.sqlite"))
            .await
            .unwrap();
        neutrino_tenancy::testkit::memory_kv_registry(Arc::new(db)).await
    }

    /// Organizations of the same platform through new handles on the same
    /// files: another process.
    async fn handle(&self) -> Organizations {
        let registry = Self::open_registry(&self.dir).await;
        let raw = SqliteExecutor::open(self.dir.path().join("auth.sqlite"))
            .await
            .unwrap();
        let auth = AuthBuilder::new(raw, SECRET).build().unwrap();
        neutrino_auth::testkit::organizations(
            auth,
            registry,
            self.platform,
            self.minter.restricted_to(self.platform).unwrap(),
        )
    }

    async fn user(&self, name: &str) -> SignedIn {
        self.auth
            .sign_up_email(SignUpEmail::new(name, unique_email(), PASSWORD), &meta())
            .await
            .unwrap()
            .signed_in()
            .unwrap()
    }

    /// An organization as Better Auth's `createOrganization` writes it: the
    /// row and its owner's membership, no tenant.
    async fn better_auth_org(&self, id: &str, slug: &str, owner: &SignedIn) {
        let now = neutrino_auth::date::format(SystemTime::now());
        self.raw
            .batch(&[
                Statement::new(
                    r#"INSERT INTO "organization" ("id", "name", "slug", "logo", "createdAt", "metadata") VALUES (?1, ?2, ?3, NULL, ?4, NULL)"#,
                )
                .bind(id)
                .bind(format!("Org {slug}"))
                .bind(slug)
                .bind(now.as_str()),
                Statement::new(
                    r#"INSERT INTO "member" ("id", "organizationId", "userId", "role", "createdAt") VALUES (?1, ?2, ?3, 'owner', ?4)"#,
                )
                .bind(IdFormat::BetterAuth.generate())
                .bind(id)
                .bind(owner.user.id.as_str())
                .bind(now.as_str()),
            ])
            .await
            .unwrap();
    }

    /// The rows Better Auth reads for organizations and members, as text.
    async fn auth_rows(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in ["organization", "member"] {
            let rows = self
                .raw
                .query(&Statement::new(format!(
                    r#"SELECT * FROM "{t}" ORDER BY "id""#
                )))
                .await
                .unwrap();
            out.extend(rows.iter().map(|r| format!("{t}: {:?}", r.values())));
        }
        out
    }

    /// The platform's tenants as (id, label).
    async fn tenants(&self) -> Vec<(TenantId, String)> {
        let mut t: Vec<_> = self
            .registry
            .tenants(self.platform)
            .await
            .unwrap()
            .into_iter()
            .map(|t| (t.id, t.slug))
            .collect();
        t.sort();
        t
    }

    /// How many adoptions the audit log of `org` holds.
    async fn adoptions(&self, org: &TenantId) -> usize {
        let log = self.orgs.tenant_audit_log(org, 50).await.unwrap();
        let adopted = |d: &str| d.starts_with("adopted:");
        log.iter()
            .filter(|e| e.detail.as_deref().is_some_and(adopted))
            .count()
    }

    async fn label(&self, id: TenantId) -> String {
        self.registry.tenant(self.platform, id).await.unwrap().slug
    }

    /// The member's scope on `org` works end to end: `set_active`, `scope()`,
    /// a row written and read in the tenant store, the host resolving.
    async fn works(&self, who: &SignedIn, org: TenantId) {
        let o = &self.orgs;
        let t = &who.session.token;
        let set = o.set_active(t, Some(&org), &meta()).await.unwrap();
        assert_eq!(set.map(|o| o.id), Some(org));
        let scope = o.scope(t).await.unwrap();
        assert_eq!(scope.tenant(), org);
        let ts = scope.tenant_scope();
        let note = self
            .store
            .insert(ts, &self.notes, Record::new().set("body", org.as_str()))
            .await
            .unwrap();
        let row = self.store.get(ts, &self.notes, &note).await.unwrap();
        assert_eq!(row.get::<String>("body").unwrap(), org.as_str());
        let listed = self
            .store
            .list(ts, &self.notes, &ListQuery::new())
            .await
            .unwrap()
            .rows;
        assert_eq!(listed.len(), 1, "only the tenant's own row");
        let label = self.label(org).await;
        assert_eq!(
            self.registry
                .resolve(&format!("{label}.{APP_DOMAIN}"))
                .await
                .unwrap(),
            Some((self.platform, org))
        );
    }
}

fn ba_id() -> String {
    IdFormat::BetterAuth.generate()
}

/// Slugs of every shape Better Auth accepts are adopted with a label each,
/// once; a second run changes nothing; an ID that cannot be a tenant ID is
/// reported, not skipped; the rows Better Auth reads are unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_adopts_every_organization_better_auth_created_once() {
    let fx = Fx::new().await;
    let ada = fx.user("Ada").await;
    // A tenant made here holds `globex`; an organization made here keeps its
    // exact slug as label.
    fx.registry
        .create_tenant(fx.platform, NewTenant::new("globex", "Globex"))
        .await
        .unwrap();
    let ours = fx
        .orgs
        .create_organization(
            &ada.session.token,
            neutrino_auth::org::NewOrganization::new("Ours", "ours--co"),
            &meta(),
        )
        .await
        .unwrap();
    let long = format!("{}_Tail", "Long".repeat(40));
    let slugs = [
        "Initech_Labs",
        "initech-labs",
        "globex",
        "Café Ünïcode!!",
        "___",
        long.as_str(),
        "ours-co",
        "UPPER",
    ];
    let mut made = Vec::new();
    for slug in slugs {
        let id = ba_id();
        fx.better_auth_org(&id, slug, &ada).await;
        made.push((id.parse::<TenantId>().unwrap(), slug));
    }
    let uuid = IdFormat::Uuid.generate();
    fx.better_auth_org(&uuid, "uuid-org", &ada).await;
    made.push((uuid.parse().unwrap(), "uuid-org"));
    // Better Auth's `generateId: "serial"` (or a custom generator) writes IDs
    // that are not tenant IDs.
    fx.better_auth_org("42", "serial_org", &ada).await;
    let before = fx.auth_rows().await;

    let report = fx.orgs.reconcile().await.unwrap();
    assert_eq!(report.adopted, made.len(), "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(report.failed[0].id, "42");
    assert!(
        report.failed[0]
            .error
            .to_string()
            .contains("organization.id"),
        "{}",
        report.failed[0].error
    );

    let mut labels = HashSet::new();
    for (id, slug) in &made {
        let label = fx.label(*id).await;
        assert!(is_valid_dns_label(&label), "{slug:?} -> {label:?}");
        assert!(labels.insert(label.clone()), "{label} given twice");
        assert!(tenant_host_labels(slug, id).contains(&label), "{slug:?}");
        fx.works(&ada, *id).await;
    }
    // The label is the slug when it is a free DNS label, else a suffixed one.
    assert_eq!(fx.label(made[1].0).await, "initech-labs");
    let mapped = fx.label(made[0].0).await;
    assert!(
        mapped.starts_with("initech-labs-") && mapped.len() == 19,
        "{mapped}"
    );
    let globex = fx.label(made[2].0).await;
    assert!(globex.starts_with("globex-"), "{globex}");
    assert_eq!(fx.label(made[4].0).await.len(), 6, "a slug with no letters");
    assert!(fx.label(made[5].0).await.len() <= 63);
    assert_eq!(fx.label(ours.id).await, "ours--co");
    assert_eq!(fx.label(made[6].0).await, "ours-co");
    assert!(fx.label(made[7].0).await.starts_with("upper-"));

    // Again: nothing changes, the bad row is reported again.
    let tenants = fx.tenants().await;
    let again = fx.orgs.reconcile().await.unwrap();
    assert_eq!((again.adopted, again.failed.len()), (0, 1), "{again:?}");
    assert_eq!(fx.tenants().await, tenants);
    // Better Auth's rows are as it wrote them (the sessions Neutrino made
    // active are in the session table, not here).
    assert_eq!(fx.auth_rows().await, before);

    // An organization adopted under a suffixed label (its slug is another
    // tenant's) keeps it: renaming it changes the tenant's name only, and
    // reconciling leaves the label as it is.
    let renamed = fx
        .orgs
        .update_organization(
            &ada.session.token,
            &made[2].0,
            neutrino_auth::org::OrganizationUpdate {
                name: Some("Globex Two".into()),
                ..Default::default()
            },
            &meta(),
        )
        .await
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.slug.as_str()),
        ("Globex Two", "globex")
    );
    let tenant = fx.registry.tenant(fx.platform, made[2].0).await.unwrap();
    assert_eq!(
        (tenant.slug.as_str(), tenant.name.as_str()),
        (globex.as_str(), "Globex Two")
    );
    let third = fx.orgs.reconcile().await.unwrap();
    assert_eq!((third.renamed, third.failed.len()), (0, 1), "{third:?}");
    assert_eq!(fx.label(made[2].0).await, globex);
    // Each adoption is in the organization's audit log once.
    for (id, _) in &made {
        let adopted = fx.adoptions(id).await;
        assert_eq!(adopted, 1);
    }
}

/// An organization Better Auth created is adopted on first use: by
/// `set_active`, by `scope()` on a session Better Auth made it active on, by
/// a tenant API key; not by someone who is not a member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_better_auth_created_is_adopted_on_first_use() {
    let fx = Fx::new().await;
    let ada = fx.user("Ada").await;
    let eve = fx.user("Eve").await;
    let (one, two, three) = (ba_id(), ba_id(), ba_id());
    for (id, slug) in [(&one, "One_Co"), (&two, "two"), (&three, "Three.Co")] {
        fx.better_auth_org(id, slug, &ada).await;
    }
    let (one, two, three): (TenantId, TenantId, TenantId) = (
        one.parse().unwrap(),
        two.parse().unwrap(),
        three.parse().unwrap(),
    );

    // Not a member: refused, and nothing adopted.
    assert_eq!(
        fx.orgs
            .set_active(&eve.session.token, Some(&one), &meta())
            .await
            .unwrap_err()
            .code(),
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION"
    );
    assert!(
        fx.registry
            .tenant(fx.platform, one)
            .await
            .unwrap_err()
            .is_not_found()
    );

    // set_active adopts.
    fx.works(&ada, one).await;
    assert!(fx.label(one).await.starts_with("one-co-"));

    // Better Auth's set-active wrote the session; scope() adopts.
    fx.raw
        .execute(
            &Statement::new(
                r#"UPDATE "session" SET "activeOrganizationId" = ?1 WHERE "token" = ?2"#,
            )
            .bind(two.as_str())
            .bind(ada.session.token.as_str()),
        )
        .await
        .unwrap();
    assert_eq!(
        fx.orgs.scope(&ada.session.token).await.unwrap().tenant(),
        two
    );
    assert_eq!(fx.label(two).await, "two");

    // A tenant key adopts.
    let key = fx
        .orgs
        .create_api_key(
            &ada.session.token,
            NewApiKey {
                organization: Some(three),
                ..NewApiKey::default()
            },
            &meta(),
        )
        .await
        .unwrap();
    match fx.orgs.verify_api_key(&key.key).await.unwrap() {
        ApiKeyScope::Tenant(s) => assert_eq!(s.tenant(), three),
        other => panic!("a tenant scope, got {other:?}"),
    }
    assert!(fx.label(three).await.starts_with("three-co-"));

    // All adopted: reconcile finds nothing to do.
    let report = fx.orgs.reconcile().await.unwrap();
    assert_eq!((report.adopted, report.failed.len()), (0, 0));
}

/// Two processes reconciling at once (and members using the organizations
/// meanwhile) adopt each organization exactly once: one tenant per
/// organization, distinct labels, one adoption counted and audited each.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_reconciles_at_once_adopt_each_organization_exactly_once() {
    let fx = Fx::new().await;
    let ada = fx.user("Ada").await;
    let other = Arc::new(fx.handle().await);
    let third = Arc::new(fx.handle().await);
    let mut all = Vec::new();
    for round in 0..5 {
        let slugs = [
            format!("Dup_Co{round}"),
            format!("dup-co{round}"),
            format!("DUP co{round}"),
            format!("dup.co{round}"),
            format!("Solo{round}"),
            format!("solo{round}"),
        ];
        let mut ids = Vec::new();
        for s in &slugs {
            let id = ba_id();
            fx.better_auth_org(&id, s, &ada).await;
            ids.push(id.parse::<TenantId>().unwrap());
        }
        let a = tokio::spawn({
            let o = Arc::clone(&other);
            async move { o.reconcile().await }
        });
        let b = tokio::spawn({
            let o = Arc::clone(&third);
            async move { o.reconcile().await }
        });
        // A member's first use races the two reconciles.
        let m = meta();
        let c = fx.orgs.set_active(&ada.session.token, Some(&ids[0]), &m);
        let (ra, rb, rc) = tokio::join!(a, b, c);
        let (ra, rb) = (ra.unwrap().unwrap(), rb.unwrap().unwrap());
        rc.unwrap();
        assert!(
            ra.failed.is_empty() && rb.failed.is_empty(),
            "{ra:?} {rb:?}"
        );
        assert!(
            ra.adopted + rb.adopted <= ids.len() && ra.adopted + rb.adopted >= ids.len() - 1,
            "round {round}: {} + {} adoptions of {}",
            ra.adopted,
            rb.adopted,
            ids.len()
        );
        all.extend(ids);
    }
    let tenants = fx.tenants().await;
    assert_eq!(tenants.len(), all.len());
    let ids: HashSet<_> = tenants.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, all.iter().copied().collect());
    let labels: HashSet<_> = tenants.iter().map(|(_, l)| l.clone()).collect();
    assert_eq!(labels.len(), tenants.len(), "a label given twice");
    for id in &all {
        let adopted = fx.adoptions(id).await;
        assert_eq!(adopted, 1, "{id} adopted {adopted} times");
    }
}

/// A slug for the property test: any text Better Auth takes, DNS labels,
/// and near-misses of them.
fn slug() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]{1,3}(-[a-z0-9]{1,3}){0,2}",
        "[A-Za-z0-9_ .-]{0,12}",
        "\\PC{0,8}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Distinct organizations on one platform never share a label, and every
    /// label is a DNS label, even when slugs are chosen to be other
    /// organizations' labels (`copies`: slug `i` becomes candidate `k` of
    /// organization `j`).
    #[test]
    fn distinct_organizations_on_one_platform_never_share_a_label(
        slugs in proptest::collection::hash_set(slug(), 1..7),
        copies in proptest::collection::vec((0usize..7, 0usize..7, 0usize..4), 1..6),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let fx = Fx::new().await;
            let ada = fx.user("Ada").await;
            let mut orgs: Vec<(TenantId, String)> = slugs
                .into_iter()
                .map(|s| (ba_id().parse().unwrap(), s))
                .collect();
            let n = orgs.len();
            for (i, j, k) in copies {
                let (i, j) = (i % n, j % n);
                if i != j {
                    let labels = tenant_host_labels(&orgs[j].1, &orgs[j].0);
                    let copy = labels[k % labels.len()].clone();
                    if orgs.iter().all(|(_, s)| *s != copy) {
                        orgs[i].1 = copy;
                    }
                }
            }
            for (id, s) in &orgs {
                fx.better_auth_org(id.as_str(), s, &ada).await;
            }
            let report = fx.orgs.reconcile().await.unwrap();
            let tenants = fx.tenants().await;
            // Every organization is adopted or reported (every candidate
            // taken by the copies); none is left silently.
            assert_eq!(report.adopted + report.failed.len(), n, "{report:?}");
            assert_eq!(tenants.len(), report.adopted);
            let labels: HashSet<_> = tenants.iter().map(|(_, l)| l.clone()).collect();
            assert_eq!(labels.len(), tenants.len(), "a label given twice: {tenants:?}");
            for (id, label) in &tenants {
                assert!(is_valid_dns_label(label), "{label:?}");
                let slug = &orgs.iter().find(|(i, _)| i == id).unwrap().1;
                assert!(tenant_host_labels(slug, id).contains(label), "{slug:?} -> {label}");
            }
            // An organization is refused only when every label it could take
            // is another tenant's.
            for f in &report.failed {
                let (id, slug) = orgs.iter().find(|(i, _)| i.as_str() == f.id).unwrap();
                assert!(
                    tenant_host_labels(slug, id).iter().all(|l| labels.contains(l)),
                    "{slug:?} refused: {:?}", f.error
                );
            }
        });
    }
}
