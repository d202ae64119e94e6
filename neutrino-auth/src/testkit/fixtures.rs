//! The shared fixtures of the suite: the stores a case runs on, an [`Auth`]
//! on them, platforms with their [`Organizations`], and two tenants with their
//! people ([`two_orgs`]).
//!
//! [`organizations`] is the one place that constructs an [`Organizations`]:
//! every case and every integration test of this crate goes through it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use neutrino_core::clock::ManualClock;
use neutrino_core::ids::{PlatformId, TenantId, UserId};
use neutrino_core::kv::KvStore;
use neutrino_core::sql::{SqlExecutor, Statement};
use neutrino_tenancy::{
    ColumnType, NewPlatform, PlatformClass, Registry, RegistryOptions, ScopeMinter, TenantScope,
    TenantStore, TenantTable,
};

use crate::apikey::{CreatedApiKey, NewApiKey};
use crate::invitation::Invitation;
use crate::mail::RecordingMailer;
use crate::org::{Member, NewOrganization, Organization, Organizations};
use crate::password::PasswordConfig;
use crate::{Auth, AuthBuilder, AuthError, RequestMeta, SignUpEmail, SignedIn};

/// The secret of every [`Auth`] the suite builds.
pub const SECRET: &str = "auth-suite-secret-0123456789abcdefghij";
/// The password of every user the suite signs up.
pub const PASSWORD: &str = "correct horse battery";
/// The client address of [`meta`].
pub const IP: &str = "198.51.100.4";
/// The user agent of [`meta`].
pub const USER_AGENT: &str = "neutrino-tests/1.0";

/// The stores a case runs on: a backend's factory makes fresh, empty ones
/// for every case.
#[derive(Clone, Debug)]
pub struct AuthStores {
    /// The auth database of the suite's first platform.
    pub auth_db: Arc<dyn SqlExecutor>,
    /// The auth database of a second platform on the same registry (each
    /// platform has its own).
    pub second_auth_db: Arc<dyn SqlExecutor>,
    /// The registry's database (also the database of the tenanted tables).
    pub registry_db: Arc<dyn SqlExecutor>,
    /// The registry's KV namespace (platform statuses).
    pub registry_kv: Arc<dyn KvStore>,
    /// The rate limiter's store: one with atomic counters, on the case's clock.
    pub counters: Arc<dyn KvStore>,
    /// Where the cross-tenant matrix's tenant store runs, if not on
    /// `registry_db` (on PostgreSQL, the application role's executor on the
    /// registry's schema, which row-level security holds).
    pub tenant_db: Option<neutrino_tenancy::testkit::TenantDb>,
}

/// The request metadata of the suite's calls.
pub fn meta() -> RequestMeta {
    RequestMeta::new(IP, USER_AGENT)
}

/// A fresh address, so that cases never collide.
pub fn unique_email() -> String {
    format!("user-{}@example.com", neutrino_core::ids::generate_id())
}

/// Cheap hashing, for cases that measure anything but password hashing:
/// argon2id with tiny parameters (Better Auth's scrypt parameters are fixed,
/// so the default policy cannot be made cheap).
pub fn fast_passwords() -> PasswordConfig {
    PasswordConfig {
        policy: crate::PasswordPolicy::Argon2id,
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
        max_concurrent_hashes: 4,
        ..PasswordConfig::default()
    }
}

/// The suite's builder on `db`: its secret, the case's clock, cheap hashing.
pub fn builder(db: &Arc<dyn SqlExecutor>, clock: &ManualClock) -> AuthBuilder {
    AuthBuilder::new_shared(db.clone(), SECRET)
        .with_clock(Arc::new(clock.clone()))
        .with_passwords(fast_passwords())
}

/// Builds `configure(builder(db, clock))` and migrates its database.
pub fn auth_with(
    db: &Arc<dyn SqlExecutor>,
    clock: &ManualClock,
    configure: impl FnOnce(AuthBuilder) -> AuthBuilder,
) -> impl Future<Output = Auth> + Send + 'static {
    let auth = configure(builder(db, clock)).build().expect("auth config");
    async move {
        auth.migrate().await.expect("auth migrations");
        auth
    }
}

/// An [`Auth`] on the first platform's database with the suite's settings.
pub async fn auth(stores: &AuthStores, clock: &ManualClock) -> Auth {
    auth_with(&stores.auth_db, clock, |b| b).await
}

/// The base URL of the Auth of [`mailing_auth`]: the auth host of a platform.
pub const BASE_URL: &str = "https://auth.svc.default.k3m9p2xw7q.nno.app";

/// An [`Auth`] on the first platform's database with the suite's settings,
/// [`BASE_URL`] and a recording mailer, then `configure`; and that mailer.
pub async fn mailing_auth(
    stores: &AuthStores,
    clock: &ManualClock,
    configure: impl FnOnce(AuthBuilder) -> AuthBuilder,
) -> (Auth, RecordingMailer) {
    let mailer = RecordingMailer::new();
    let m = Arc::new(mailer.clone());
    let auth = auth_with(&stores.auth_db, clock, |b| {
        configure(b.with_base_url(BASE_URL).with_mailer(m))
    })
    .await;
    (auth, mailer)
}

/// A registry on the stores, on the case's clock.
pub async fn registry(stores: &AuthStores, clock: &ManualClock) -> Registry {
    Registry::open(
        stores.registry_db.clone(),
        stores.registry_kv.clone(),
        RegistryOptions::default().with_clock(Arc::new(clock.clone())),
    )
    .await
    .expect("registry")
}

/// The one constructor call of [`Organizations`] in the suite and the tests.
pub fn organizations(
    auth: Auth,
    registry: Registry,
    platform: PlatformId,
    minter: ScopeMinter,
) -> Organizations {
    Organizations::new(auth, registry.platform(platform), minter).expect("organizations")
}

/// The code of the error `r` must be.
pub fn code<T: std::fmt::Debug>(r: Result<T, AuthError>) -> &'static str {
    r.expect_err("should fail").code()
}

/// Signs a fresh user up on `auth`; returns the user and its session.
pub async fn user(auth: &Auth, name: &str) -> SignedIn {
    user_at(auth, name, &unique_email()).await
}

/// Signs a user up on `auth` with `email` and [`PASSWORD`]; returns the user
/// and its session.
pub async fn user_at(auth: &Auth, name: &str, email: &str) -> SignedIn {
    auth.sign_up_email(SignUpEmail::new(name, email, PASSWORD), &meta())
        .await
        .expect("sign up")
        .signed_in()
        .expect("sign-up without required verification signs in")
}

/// Creates `new` on `orgs` as the user of `owner_token`.
pub async fn create_org(
    orgs: &Organizations,
    owner_token: &str,
    new: NewOrganization,
) -> Organization {
    orgs.create_organization(owner_token, new, &meta())
        .await
        .expect("create organization")
}

/// Adds `user` to `org` with `role`, as the user of `token`.
pub async fn member(
    orgs: &Organizations,
    token: &str,
    org: &TenantId,
    user: &UserId,
    role: &str,
) -> Member {
    orgs.add_member(token, org, user, role, &meta())
        .await
        .expect("add member")
}

/// Makes `org` the active organization of the session of `token`.
pub async fn activate(orgs: &Organizations, token: &str, org: &TenantId) {
    orgs.set_active(token, Some(org), &meta())
        .await
        .expect("set active organization");
}

/// Runs `sql` on the suite's auth database with `value` as `?1`, the way
/// an operator changes a row by hand.
pub(crate) async fn operator_sql(stores: &AuthStores, sql: &str, value: &str) {
    stores
        .auth_db
        .execute(&Statement::new(sql).bind(value))
        .await
        .expect("an operator's write");
}

/// A key "ci" of `org`, created by the user of `token`: it may create
/// invitations and expires in an hour.
pub async fn ci_key(orgs: &Organizations, token: &str, org: TenantId) -> CreatedApiKey {
    let mut perms = BTreeMap::new();
    perms.insert("invitation".to_owned(), vec!["create".to_owned()]);
    orgs.create_api_key(
        token,
        NewApiKey {
            name: Some("ci".into()),
            organization: Some(org),
            expires_in: Some(Duration::from_secs(3600)),
            permissions: Some(perms),
            prefix: None,
            ..NewApiKey::default()
        },
        &meta(),
    )
    .await
    .expect("create API key")
}

/// A new key for `org` with the default settings: the organization's own
/// (`referenceId` = the organization) when `own`, else its creator's.
pub fn new_key(org: TenantId, own: bool) -> NewApiKey {
    NewApiKey {
        organization: Some(org),
        owned_by_organization: own,
        ..NewApiKey::default()
    }
}

/// Creates [`new_key`]`(org, own)` as the user of `token`.
pub async fn org_key(orgs: &Organizations, token: &str, org: TenantId, own: bool) -> CreatedApiKey {
    orgs.create_api_key(token, new_key(org, own), &meta())
        .await
        .expect("create API key")
}

/// Every row of `table` on `db` whose `column` is `value`, as text, for
/// before/after comparisons.
pub async fn rows_of(db: &dyn SqlExecutor, table: &str, column: &str, value: &str) -> Vec<String> {
    let rows = db
        .query(
            &Statement::new(format!(
                r#"SELECT * FROM "{table}" WHERE "{column}" = ?1 ORDER BY "id""#
            ))
            .bind(value),
        )
        .await
        .expect("rows");
    rows.iter().map(|r| format!("{:?}", r.values())).collect()
}

/// The rows an organization owns in its auth database, as (table, column
/// holding the organization's ID): its row, members, invitations, and the
/// sessions that have it active.
pub const ORGANIZATION_ROWS: [(&str, &str); 4] = [
    ("organization", "id"),
    ("member", "organizationId"),
    ("invitation", "organizationId"),
    ("session", "activeOrganizationId"),
];

/// A user's rows, as (table, column holding the user's ID): the user, its
/// sessions, accounts, API keys and two-factor row.
pub const USER_ROWS: [(&str, &str); 5] = [
    ("user", "id"),
    ("session", "userId"),
    ("account", "userId"),
    ("apikey", "referenceId"),
    ("twoFactor", "userId"),
];

/// Every row of `tables` (table, column) on `db` whose column is `value`, as
/// text prefixed with its table: a snapshot for before/after comparisons.
pub async fn snapshot_of(
    db: &dyn SqlExecutor,
    tables: &[(&str, &str)],
    value: &str,
) -> Vec<String> {
    let mut all = Vec::new();
    for (t, c) in tables {
        let rows = rows_of(db, t, c, value).await;
        all.extend(rows.into_iter().map(|r| format!("{t}: {r}")));
    }
    all
}

/// One platform: its auth database, [`Auth`], [`Organizations`] and the
/// mailer its emails go to.
#[derive(Debug)]
pub struct Platform {
    /// The platform's ID.
    pub id: PlatformId,
    /// Its auth database.
    pub db: Arc<dyn SqlExecutor>,
    /// Its `Auth`.
    pub auth: Auth,
    /// Its organizations.
    pub orgs: Arc<Organizations>,
    /// The mailer of its `Auth`.
    pub mailer: RecordingMailer,
    /// A scope minter restricted to it (the one its organizations hold is
    /// another copy).
    pub minter: ScopeMinter,
}

impl Platform {
    /// Signs a fresh user up; returns the user and its session.
    pub async fn user(&self, name: &str) -> SignedIn {
        user(&self.auth, name).await
    }

    /// Fresh users, one per name, signed up in turn.
    pub async fn users<const N: usize>(&self, names: [&str; N]) -> [SignedIn; N] {
        let mut all = Vec::with_capacity(N);
        for name in names {
            all.push(self.user(name).await);
        }
        all.try_into()
            .unwrap_or_else(|_: Vec<SignedIn>| unreachable!("one user per name"))
    }

    /// A fresh organization created by `owner_token`.
    pub async fn org(&self, owner_token: &str, name: &str) -> Organization {
        create_org(
            &self.orgs,
            owner_token,
            NewOrganization::new(name, neutrino_core::testkit::unique("org-")),
        )
        .await
    }

    /// An invitation of `email` to `org` as `role`, sent by `token`'s user;
    /// it must succeed.
    pub async fn invite(&self, token: &str, org: &TenantId, email: &str, role: &str) -> Invitation {
        self.orgs
            .invite_member(token, org, email, role, &meta())
            .await
            .unwrap()
    }

    /// The organization "Acme" (slug `acme`) created by `owner_token`.
    pub async fn acme(&self, owner_token: &str) -> Organization {
        create_org(
            &self.orgs,
            owner_token,
            NewOrganization::new("Acme", "acme"),
        )
        .await
    }

    /// Every row of `table` whose `column` is `value`, as text, for
    /// before/after comparisons.
    pub async fn rows_of(&self, table: &str, column: &str, value: &str) -> Vec<String> {
        rows_of(&*self.db, table, column, value).await
    }

    /// A snapshot of everything an organization owns in the auth database:
    /// [`ORGANIZATION_ROWS`].
    pub async fn snapshot(&self, org: &TenantId) -> Vec<String> {
        snapshot_of(&*self.db, &ORGANIZATION_ROWS, org.as_str()).await
    }

    /// A snapshot of a user's rows: [`USER_ROWS`].
    pub async fn user_snapshot(&self, user: &UserId) -> Vec<String> {
        snapshot_of(&*self.db, &USER_ROWS, user.as_str()).await
    }
}

/// A registry with two platforms, P and Q, each with its own auth database.
#[derive(Debug)]
pub struct World {
    /// The registry (the handle of platform P).
    pub registry: Registry,
    /// Platform P, on [`AuthStores::auth_db`].
    pub a: Platform,
    /// Platform Q, on [`AuthStores::second_auth_db`], through a second
    /// registry handle.
    pub b: Platform,
}

impl World {
    /// Two platforms with the suite's settings.
    pub async fn new(stores: &AuthStores, clock: &ManualClock) -> Self {
        Self::with(stores, clock, |b| b, |o| o).await
    }

    /// [`World::new`] and Ada, signed up on platform A.
    pub async fn with_ada(stores: &AuthStores, clock: &ManualClock) -> (Self, SignedIn) {
        let w = Self::new(stores, clock).await;
        let ada = w.a.user("Ada").await;
        (w, ada)
    }

    /// Two platforms, their `Auth` built by `configure`.
    pub async fn configured(
        stores: &AuthStores,
        clock: &ManualClock,
        configure: impl Fn(AuthBuilder) -> AuthBuilder + Send + Sync,
    ) -> Self {
        Self::with(stores, clock, configure, |o| o).await
    }

    /// Two platforms, their `Auth` built by `configure` and their
    /// organizations adjusted by `configure_orgs`.
    pub async fn with(
        stores: &AuthStores,
        clock: &ManualClock,
        configure: impl Fn(AuthBuilder) -> AuthBuilder + Send + Sync,
        configure_orgs: impl Fn(Organizations) -> Organizations + Send + Sync,
    ) -> Self {
        let registry = registry(stores, clock).await;
        // A second handle on the same registry for platform Q. Handles on one
        // database share the one scope minter: each platform gets a copy
        // narrowed to it.
        let registry_q = self::registry(stores, clock).await;
        let minter = registry.scope_minter().expect("minter");
        let mut platforms = Vec::new();
        for (name, reg, db) in [
            ("P", registry.clone(), &stores.auth_db),
            ("Q", registry_q, &stores.second_auth_db),
        ] {
            let id = reg
                .create_platform(NewPlatform::new(
                    format!("Platform {name}"),
                    PlatformClass::Platform,
                ))
                .await
                .expect("platform")
                .id;
            let mailer = RecordingMailer::new();
            let m = Arc::new(mailer.clone());
            let auth = auth_with(db, clock, |b| configure(b.with_mailer(m))).await;
            let minter = minter.restricted_to(id).expect("minter");
            let orgs = configure_orgs(organizations(
                auth.clone(),
                reg,
                id,
                minter.restricted_to(id).expect("minter"),
            ));
            platforms.push(Platform {
                id,
                db: db.clone(),
                auth,
                orgs: Arc::new(orgs),
                mailer,
                minter,
            });
        }
        let b = platforms.pop().expect("Q");
        let a = platforms.pop().expect("P");
        Self { registry, a, b }
    }
}

/// Two tenants of platform P and their people, and a tenant of platform Q.
#[derive(Debug)]
pub struct TwoOrgs {
    /// The platforms.
    pub world: World,
    /// Tenant A of platform P.
    pub org_a: Organization,
    /// Tenant B of platform P.
    pub org_b: Organization,
    /// A's owner, A active on its session.
    pub owner_a: SignedIn,
    /// B's owner, B active on its session.
    pub owner_b: SignedIn,
    /// A plain member of B (`member`), B active on its session.
    pub member_b: SignedIn,
    /// A user of P in no organization.
    pub outsider: SignedIn,
    /// The owner of a tenant of platform Q, active on its session.
    pub stranger: SignedIn,
    /// The stranger's tenant on platform Q.
    pub org_q: Organization,
}

impl TwoOrgs {
    /// Platform P.
    pub fn p(&self) -> &Platform {
        &self.world.a
    }

    /// Platform Q.
    pub fn q(&self) -> &Platform {
        &self.world.b
    }

    /// What most cases on tenant B start from: platform P, B's ID and its
    /// owner's session token.
    pub fn on_b(&self) -> (&Platform, TenantId, &str) {
        (self.p(), self.org_b.id, &self.owner_b.session.token)
    }

    /// The scope of A (from its owner's session).
    pub async fn scope_a(&self) -> TenantScope {
        self.p()
            .orgs
            .scope(&self.owner_a.session.token)
            .await
            .expect("A's scope")
            .tenant_scope()
            .clone()
    }

    /// The scope of B (from its owner's session).
    pub async fn scope_b(&self) -> TenantScope {
        self.p()
            .orgs
            .scope(&self.owner_b.session.token)
            .await
            .expect("B's scope")
            .tenant_scope()
            .clone()
    }

    /// The scope of the stranger's tenant on Q.
    pub async fn scope_q(&self) -> TenantScope {
        self.q()
            .orgs
            .scope(&self.stranger.session.token)
            .await
            .expect("Q's scope")
            .tenant_scope()
            .clone()
    }
}

/// A tenant store on the registry of `world` (on [`AuthStores::tenant_db`]
/// where there is one) with one fresh tenanted table, its name `prefix` and a
/// random ID, of `columns`.
pub async fn tenant_store(
    world: &World,
    stores: &AuthStores,
    prefix: &str,
    columns: &[(&str, ColumnType)],
) -> (TenantStore, TenantTable) {
    let table = TenantTable::new(&neutrino_core::testkit::unique(prefix), columns).expect("table");
    let store = neutrino_tenancy::testkit::open_store(
        &world.registry,
        &stores.registry_db,
        stores.tenant_db.as_ref(),
        vec![table.clone()],
    )
    .await
    .expect("store");
    (store, table)
}

/// Two tenants, A and B, on platform P, each with its owner (active on it);
/// a plain member of B; a user of P in no organization; and a second platform
/// Q whose user owns a tenant there.
pub async fn two_orgs(stores: &AuthStores, clock: &ManualClock) -> TwoOrgs {
    two_orgs_in(World::new(stores, clock).await).await
}

/// [`two_orgs`] on a [`World`] built by the caller.
pub async fn two_orgs_in(world: World) -> TwoOrgs {
    let p = &world.a;
    let [owner_a, owner_b, member_b, outsider] = p.users(["Ada", "Bea", "Ben", "Olga"]).await;
    let org_a = p.org(&owner_a.session.token, "Acme").await;
    let org_b = p.org(&owner_b.session.token, "Globex").await;
    member(
        &p.orgs,
        &owner_b.session.token,
        &org_b.id,
        &member_b.user.id,
        "member",
    )
    .await;
    activate(&p.orgs, &member_b.session.token, &org_b.id).await;
    let stranger = world.b.user("Quinn").await;
    let org_q = world.b.org(&stranger.session.token, "Initech").await;
    TwoOrgs {
        world,
        org_a,
        org_b,
        owner_a,
        owner_b,
        member_b,
        outsider,
        stranger,
        org_q,
    }
}
