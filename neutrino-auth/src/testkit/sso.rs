//! Cases of per-tenant SSO ([`crate::sso`]): providers belong to their
//! tenant's admins, a domain is verified by one provider at most (races
//! included), only a verified domain routes sign-ins, "SSO required" cannot
//! be escaped by spelling, just-in-time membership links only vouched
//! emails and joins once, and secrets stay out of `Debug`, errors and rows.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use neutrino_core::clock::ManualClock;
use neutrino_core::testkit::{join_all, unique};

use super::fixtures::{AuthStores, PASSWORD, meta, rows_of, two_orgs};
use crate::sso::{
    ClientSecret, DnsTxtCheck, DomainChallenge, DomainCheck, NewSsoProvider, SsoIdentity,
    SsoPolicy, SsoTarget, TxtLookup, record_name,
};
use crate::{Result, SignInEmail, SignUpEmail};

/// A check that always finds the proof: for rows that must be refused
/// before any proof is looked at.
#[derive(Debug)]
pub struct AlwaysPublished;

#[async_trait]
impl DomainCheck for AlwaysPublished {
    async fn holds(&self, _: &DomainChallenge<'_>) -> Result<bool> {
        Ok(true)
    }
}

/// A DNS zone held in memory: names to TXT records, as an authoritative
/// server would answer them.
#[derive(Debug, Default)]
pub struct Zone(Mutex<HashMap<String, Vec<String>>>);

impl Zone {
    /// Publishes `value` at `name`.
    pub fn publish(&self, name: &str, value: &str) {
        self.0
            .lock()
            .expect("zone")
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(value.to_owned());
    }
}

#[async_trait]
impl TxtLookup for &Zone {
    async fn txt(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .0
            .lock()
            .expect("zone")
            .get(&name.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default())
    }
}

fn provider(id: &str, org: neutrino_core::ids::TenantId, domain: &str) -> NewSsoProvider {
    NewSsoProvider::new(
        id,
        org,
        "https://idp.example.com",
        domain,
        "client-id",
        ClientSecret::new("top-secret-client-value"),
    )
}

fn identity(subject: &str, email: &str, verified: bool) -> SsoIdentity {
    SsoIdentity {
        issuer: "https://idp.example.com".into(),
        subject: subject.into(),
        email: email.into(),
        email_verified: verified,
        name: Some("Sam".into()),
        image: None,
    }
}

/// Only an owner or admin of the provider's tenant registers, reads,
/// changes or verifies it; a member of another tenant sees nothing of it,
/// a plain member of the tenant is refused.
pub async fn sso_providers_belong_to_their_tenant_admins(stores: &AuthStores, clock: &ManualClock) {
    let t = two_orgs(stores, clock).await;
    let (p, b, ob) = t.on_b();
    let sso = p.orgs.sso();
    let id = unique("b-");
    let domain = format!("{}.example", unique("d"));
    // A's owner cannot register for B, B's plain member neither.
    let r = sso
        .register_provider(&t.owner_a.session.token, provider(&id, b, &domain), &meta())
        .await
        .unwrap_err();
    assert_eq!(r.code(), "YOU_ARE_NOT_A_MEMBER_OF_THE_ORGANIZATION");
    let r = sso
        .register_provider(
            &t.member_b.session.token,
            provider(&id, b, &domain),
            &meta(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        r.code(),
        "YOU_MUST_BE_AN_ORGANIZATION_OWNER_OR_ADMIN_TO_REGISTER_SSO_PROVIDERS"
    );
    let reg = sso
        .register_provider(ob, provider(&id, b, &domain), &meta())
        .await
        .expect("B's owner registers");
    assert!(!reg.provider.domain_verified);
    // The provider ID is unique.
    let dup = sso
        .register_provider(ob, provider(&id, b, "other.example"), &meta())
        .await
        .unwrap_err();
    assert_eq!(
        dup.code(),
        "SSO_PROVIDER_WITH_THIS_PROVIDERID_ALREADY_EXISTS"
    );
    // Another tenant's admin: as if it did not exist.
    let a = &t.owner_a.session.token;
    refused_everywhere(sso, a, &id, "PROVIDER_NOT_FOUND").await;
    let mb = &t.member_b.session.token;
    refused_everywhere(sso, mb, &id, "YOU_DONT_HAVE_ACCESS_TO_THIS_PROVIDER").await;
    // Nothing changed: still unverified.
    assert!(!sso.provider(ob, &id).await.expect("read").domain_verified);
    // The other platform does not know it at all.
    let q = t.q();
    assert_eq!(
        q.orgs
            .sso()
            .provider(&t.stranger.session.token, &id)
            .await
            .unwrap_err()
            .code(),
        "PROVIDER_NOT_FOUND"
    );
}

/// Two tenants claim one domain; both publish their proof and verify at
/// once: one wins, the other is refused, and the domain routes to the
/// winner only.
pub async fn a_domain_is_verified_by_one_tenant_at_most_even_concurrently(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let t = two_orgs(stores, clock).await;
    let p = t.p();
    let sso = p.orgs.sso();
    let domain = format!("{}.example", unique("contested"));
    let zone = Zone::default();
    let mut claims = Vec::new();
    for (token, org) in [
        (&t.owner_a.session.token, t.org_a.id),
        (&t.owner_b.session.token, t.org_b.id),
    ] {
        for _ in 0..2 {
            let id = unique("c-");
            // Spelled differently: one domain all the same.
            let spelled = if claims.len() % 2 == 0 {
                domain.to_uppercase()
            } else {
                format!("{domain}.")
            };
            let reg = sso
                .register_provider(token, provider(&id, org, &spelled), &meta())
                .await
                .expect("claim");
            assert_eq!(reg.provider.domain, domain);
            zone.publish(
                &record_name(&id, &domain),
                &reg.domain_verification_token.txt_value(&id),
            );
            claims.push((token.clone(), id));
        }
    }
    // Without verification, the domain routes no one.
    assert_eq!(
        sso.provider_for_sign_in(SsoTarget::Email(format!("x@{domain}")))
            .await
            .unwrap_err()
            .code(),
        "PROVIDER_DOMAIN_HAS_NOT_BEEN_VERIFIED"
    );
    let check = DnsTxtCheck::new(&zone);
    let m = meta();
    let outs = join_all(
        claims
            .iter()
            .map(|(token, id)| sso.verify_domain(token, id, &check, &m)),
    )
    .await;
    let won: Vec<_> = claims
        .iter()
        .zip(&outs)
        .filter(|(_, o)| o.is_ok())
        .map(|(c, _)| c.1.clone())
        .collect();
    assert_eq!(won.len(), 1, "exactly one verification wins: {outs:?}");
    for o in outs.iter().filter_map(|o| o.as_ref().err()) {
        assert_eq!(o.code(), "DOMAIN_ALREADY_VERIFIED_BY_ANOTHER_PROVIDER");
        assert_eq!(o.status(), 409);
    }
    let verified = rows_of(&*p.db, "ssoProvider", "domain", &domain)
        .await
        .into_iter()
        .filter(|r| r.contains(&won[0]))
        .count();
    assert_eq!(verified, 1);
    let routed = sso
        .provider_for_sign_in(SsoTarget::Email(format!("someone@{domain}")))
        .await
        .expect("routes");
    assert_eq!(routed.provider_id, won[0]);
    // A subdomain's email goes to the same provider.
    let routed = sso
        .provider_for_sign_in(SsoTarget::Domain(format!("eng.{}", domain.to_uppercase())))
        .await
        .expect("routes");
    assert_eq!(routed.provider_id, won[0]);
}

/// Only a verified domain routes a sign-in; a wrong token does not verify.
pub async fn sign_in_routes_only_to_a_verified_domain(stores: &AuthStores, clock: &ManualClock) {
    let t = two_orgs(stores, clock).await;
    let (p, b, ob) = t.on_b();
    let sso = p.orgs.sso();
    let id = unique("r-");
    let domain = format!("{}.example", unique("route"));
    sso.register_provider(ob, provider(&id, b, &domain), &meta())
        .await
        .expect("register");
    let zone = Zone::default();
    zone.publish(&record_name(&id, &domain), "not-the-token");
    let r = sso
        .verify_domain(ob, &id, &DnsTxtCheck::new(&zone), &meta())
        .await
        .unwrap_err();
    assert_eq!(r.code(), "DOMAIN_VERIFICATION_FAILED");
    assert_eq!(r.status(), 502);
    for target in [
        SsoTarget::Email(format!("a@{domain}")),
        SsoTarget::Domain(domain.clone()),
        SsoTarget::ProviderId(id.clone()),
        SsoTarget::OrganizationSlug(t.org_b.slug.clone()),
    ] {
        let e = sso.provider_for_sign_in(target.clone()).await.unwrap_err();
        assert_eq!(
            e.code(),
            "PROVIDER_DOMAIN_HAS_NOT_BEEN_VERIFIED",
            "{target:?}"
        );
        assert_eq!(e.status(), 401);
    }
    let e = sso
        .complete_sign_in(
            &id,
            identity("sub-1", &format!("a@{domain}"), true),
            &meta(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "PROVIDER_DOMAIN_HAS_NOT_BEEN_VERIFIED");
    assert_eq!(
        sso.provider_for_sign_in(SsoTarget::Email("a@unclaimed.example".into()))
            .await
            .unwrap_err()
            .code(),
        "NO_PROVIDER_FOUND_FOR_THE_ISSUER"
    );
    // The bare token verifies too.
    let token = sso
        .request_domain_verification(ob, &id)
        .await
        .expect("pending token");
    zone.publish(&record_name(&id, &domain), token.expose());
    sso.verify_domain(ob, &id, &DnsTxtCheck::new(&zone), &meta())
        .await
        .expect("verified");
    let cfg = sso
        .provider_for_sign_in(SsoTarget::OrganizationSlug(t.org_b.slug.clone()))
        .await
        .expect("routes");
    assert_eq!(cfg.client_secret.expose(), "top-secret-client-value");
    // A new domain is unverified again, and stops routing.
    sso.update_provider(
        ob,
        &id,
        crate::sso::SsoProviderUpdate {
            domain: Some(format!("new-{domain}")),
            ..Default::default()
        },
        &meta(),
    )
    .await
    .expect("update");
    assert_eq!(
        sso.provider_for_sign_in(SsoTarget::ProviderId(id.clone()))
            .await
            .unwrap_err()
            .code(),
        "PROVIDER_DOMAIN_HAS_NOT_BEEN_VERIFIED"
    );
}

/// Registers and verifies a provider for B on `domain`; returns its ID.
async fn verified_provider(t: &super::fixtures::TwoOrgs, domain: &str) -> String {
    let (p, b, ob) = t.on_b();
    let sso = p.orgs.sso();
    let id = unique("v-");
    let reg = sso
        .register_provider(ob, provider(&id, b, domain), &meta())
        .await
        .expect("register");
    let zone = Zone::default();
    zone.publish(
        &record_name(&id, &reg.provider.domain),
        &reg.domain_verification_token.txt_value(&id),
    );
    sso.verify_domain(ob, &id, &DnsTxtCheck::new(&zone), &meta())
        .await
        .map(|_| id)
        .expect("verify")
}

/// Two organizations, a fresh domain (tagged `tag`) verified by a provider
/// of B, and `pat@{domain}`, who signed up with a password before: the
/// organizations, the domain and Pat's address.
async fn pat_in_a_verified_domain(
    stores: &AuthStores,
    clock: &ManualClock,
    tag: &str,
) -> (super::fixtures::TwoOrgs, String, String) {
    let (t, domain) = two_orgs_and_domain(stores, clock, tag).await;
    let email = format!("pat@{domain}");
    t.on_b()
        .0
        .auth
        .sign_up_email(SignUpEmail::new("Pat", &email, PASSWORD), &meta())
        .await
        .expect("sign up before enforcement");
    verified_provider(&t, &domain).await;
    (t, domain, email)
}

/// With "SSO required", passwords are refused for the tenant's verified
/// domain however the address is spelled; with it off they work.
pub async fn sso_required_refuses_passwords_for_the_domain_in_every_spelling(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let (t, domain, email) = pat_in_a_verified_domain(stores, clock, "corp").await;
    let (p, b, ob) = t.on_b();
    // Off: the password still works.
    p.auth
        .sign_in_email(SignInEmail::new(&email, PASSWORD), &meta())
        .await
        .expect("password is the fallback");
    let sso = p.orgs.sso();
    let required = SsoPolicy {
        sso_required: true,
        ..SsoPolicy::default()
    };
    let m = meta();
    let by_member = sso.set_policy(&t.member_b.session.token, &b, required.clone(), &m);
    assert_eq!(
        by_member.await.unwrap_err().code(),
        "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION"
    );
    sso.set_policy(ob, &b, required, &meta())
        .await
        .expect("policy");
    let upper = domain.to_uppercase();
    for spelled in [
        email.clone(),
        format!("PAT@{upper}"),
        format!(" pat@{domain} "),
        format!("pat+tag@{domain}"),
        format!("other@eng.{domain}"),
        // Subdomain labels that are valid in an address but not in a
        // strict IDNA name (a hyphen at the end, `--` in 3-4, bad
        // punycode) are still in the domain.
        format!("other@x-.{domain}"),
        format!("other@ab--cd.{domain}"),
        format!("other@xn--zz.{domain}"),
    ] {
        let e = p
            .auth
            .sign_in_email(SignInEmail::new(&spelled, PASSWORD), &meta())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "SSO_REQUIRED", "sign-in {spelled}");
        assert_eq!(e.status(), 403);
        let e = p
            .auth
            .sign_up_email(SignUpEmail::new("Pat", &spelled, PASSWORD), &meta())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "SSO_REQUIRED", "sign-up {spelled}");
    }
    // A trailing dot or a full-width look-alike is no address at all.
    for spelled in [
        format!("pat@{domain}."),
        format!("pat@{domain}").replace('e', "ｅ"),
    ] {
        let e = p
            .auth
            .sign_in_email(SignInEmail::new(&spelled, PASSWORD), &meta())
            .await
            .unwrap_err();
        assert!(
            matches!(e.code(), "SSO_REQUIRED" | "INVALID_EMAIL"),
            "{spelled}: {e:?}"
        );
    }
    // Reset: refused for the domain (with or without a mailer).
    let e = p
        .auth
        .request_password_reset(&email, None, &meta())
        .await
        .unwrap_err();
    assert!(
        matches!(e.code(), "SSO_REQUIRED" | "RESET_PASSWORD_IS_DISABLED"),
        "{e:?}"
    );
    // Another domain is untouched.
    p.auth
        .sign_in_email(SignInEmail::new(&t.owner_a.user.email, PASSWORD), &meta())
        .await
        .expect("other domains keep passwords");
    // Off again: the fallback is back.
    sso.set_policy(ob, &b, SsoPolicy::default(), &meta())
        .await
        .expect("policy off");
    p.auth
        .sign_in_email(SignInEmail::new(&email, PASSWORD), &meta())
        .await
        .expect("password again");
}

/// Just-in-time membership: an existing user is linked only when the
/// provider vouches for the email in its verified domain; concurrent
/// callbacks for one identity make one user, one account, one membership.
pub async fn sso_sign_in_links_only_vouched_emails_and_joins_once(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let (t, domain) = two_orgs_and_domain(stores, clock, "jit").await;
    let id = verified_provider(&t, &domain).await;
    let (p, b, _) = t.on_b();
    let sso = p.orgs.sso();
    // An existing password user of the domain.
    let victim_email = format!("victim@{domain}");
    let victim = p
        .auth
        .sign_up_email(SignUpEmail::new("Vic", &victim_email, PASSWORD), &meta())
        .await
        .expect("victim")
        .signed_in()
        .expect("session");
    // Unverified email: no linking, no takeover.
    let e = sso
        .complete_sign_in(&id, identity("attacker", &victim_email, false), &meta())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "ACCOUNT_NOT_LINKED");
    assert_eq!(e.status(), 401);
    assert!(
        rows_of(&*p.db, "account", "accountId", "attacker")
            .await
            .is_empty()
    );
    // An email of another domain is not the provider's to vouch for.
    let e = sso
        .complete_sign_in(
            &id,
            identity("attacker", &t.owner_a.user.email, true),
            &meta(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "ACCOUNT_NOT_LINKED");
    let e = sso
        .complete_sign_in(&id, identity("x", "new@elsewhere.example", true), &meta())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "EMAIL_DOMAIN_MISMATCH");
    // Wrong issuer.
    let mut wrong = identity("s", &victim_email, true);
    wrong.issuer = "https://evil.example.com".into();
    assert_eq!(
        sso.complete_sign_in(&id, wrong, &meta())
            .await
            .unwrap_err()
            .code(),
        "ISSUER_MISMATCH"
    );
    // Vouched: linked to the existing user, made a member.
    let signed = sso
        .complete_sign_in(&id, identity("victim-sub", &victim_email, true), &meta())
        .await
        .expect("linked");
    assert_eq!(signed.user.id, victim.user.id);
    let m = p
        .orgs
        .list_members(&t.owner_b.session.token, &b)
        .await
        .expect("members");
    let mine: Vec<_> = m.iter().filter(|m| m.user_id == victim.user.id).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].role, "member");
    // Concurrent first sign-ins linking one existing user: one account.
    let link_email = format!("linkme@{domain}");
    p.auth
        .sign_up_email(SignUpEmail::new("Lin", &link_email, PASSWORD), &meta())
        .await
        .expect("sign up");
    let m = meta();
    let outs = join_all(
        (0..6).map(|_| sso.complete_sign_in(&id, identity("link-sub", &link_email, true), &m)),
    )
    .await;
    for o in &outs {
        o.as_ref().expect("every callback signs in");
    }
    assert_eq!(
        rows_of(&*p.db, "account", "accountId", "link-sub")
            .await
            .len(),
        1,
        "one account row for one identity"
    );
    // Concurrent first sign-ins of one new identity: one user, one account,
    // one membership.
    let new_email = format!("newbie@{domain}");
    let m = meta();
    let outs = join_all(
        (0..6).map(|_| sso.complete_sign_in(&id, identity("newbie-sub", &new_email, true), &m)),
    )
    .await;
    let ids: std::collections::BTreeSet<_> = outs
        .iter()
        .map(|o| o.as_ref().expect("every callback signs in").user.id)
        .collect();
    assert_eq!(ids.len(), 1);
    let uid = ids.into_iter().next().expect("one user");
    assert_eq!(rows_of(&*p.db, "user", "email", &new_email).await.len(), 1);
    assert_eq!(
        rows_of(&*p.db, "account", "accountId", "newbie-sub")
            .await
            .len(),
        1
    );
    assert_eq!(
        rows_of(&*p.db, "member", "userId", uid.as_str())
            .await
            .len(),
        1
    );
    // The session works.
    let s = &outs[0].as_ref().expect("signed in").session;
    assert!(p.auth.get_session(&s.token).await.expect("read").is_some());
}

/// The client secret and verification tokens stay out of `Debug`, errors
/// and the stored row.
pub async fn sso_secrets_stay_out_of_debug_errors_and_rows(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let t = two_orgs(stores, clock).await;
    let (p, b, ob) = t.on_b();
    let sso = p.orgs.sso();
    let id = unique("s-");
    let domain = format!("{}.example", unique("secret"));
    let new = provider(&id, b, &domain);
    assert!(!format!("{new:?}").contains("top-secret-client-value"));
    let reg = sso
        .register_provider(ob, new, &meta())
        .await
        .expect("register");
    let token = reg.domain_verification_token.expose().to_owned();
    assert!(!format!("{reg:?}").contains(&token));
    let rows = rows_of(&*p.db, "ssoProvider", "providerId", &id).await;
    assert_eq!(rows.len(), 1);
    assert!(
        !rows[0].contains("top-secret-client-value"),
        "the client secret is stored encrypted: {}",
        rows[0]
    );
    let e = sso
        .verify_domain(ob, &id, &DnsTxtCheck::new(&Zone::default()), &meta())
        .await
        .unwrap_err();
    assert!(!format!("{e:?} {e}").contains(&token));
    verified_provider(&t, &format!("v{domain}")).await;
    let cfg = sso
        .provider_for_sign_in(SsoTarget::Domain(format!("v{domain}")))
        .await
        .expect("config");
    assert!(!format!("{cfg:?}").contains("top-secret-client-value"));
    assert_eq!(cfg.client_secret.expose(), "top-secret-client-value");
}

/// Every operation on provider `id` by the session `token` fails with `code`.
async fn refused_everywhere(sso: &crate::sso::Sso, token: &str, id: &str, code: &str) {
    let read = sso.provider(token, id).await.map(drop);
    let verify = sso
        .verify_domain(token, id, &AlwaysPublished, &meta())
        .await
        .map(drop);
    let request = sso.request_domain_verification(token, id).await.map(drop);
    let delete = sso.delete_provider(token, id, &meta()).await.map(drop);
    for (what, result) in [
        ("read", read),
        ("verify", verify),
        ("request", request),
        ("delete", delete),
    ] {
        assert_eq!(result.unwrap_err().code(), code, "{what}");
    }
}

/// Two organizations, and a fresh email domain (`{tag}….example`) for B.
async fn two_orgs_and_domain(
    stores: &AuthStores,
    clock: &ManualClock,
    tag: &str,
) -> (super::fixtures::TwoOrgs, String) {
    let domain = format!("{}.example", unique(tag));
    (two_orgs(stores, clock).await, domain)
}

/// The auth database, paused once before the next batch (a write) when
/// armed: the window between an operation's checks and its write, where
/// another request may change what was checked.
#[derive(Debug)]
struct PauseBeforeWrite {
    inner: std::sync::Arc<dyn neutrino_core::sql::SqlExecutor>,
    armed: std::sync::atomic::AtomicBool,
    paused: tokio::sync::Notify,
    resume: tokio::sync::Notify,
}

impl PauseBeforeWrite {
    /// Runs `op` until it reaches its next write, then `meanwhile`, then
    /// lets the write go; answers what `op` answers.
    async fn write_after<T: Send + 'static>(
        &self,
        op: impl std::future::Future<Output = T> + Send + 'static,
        meanwhile: impl std::future::Future<Output = ()>,
    ) -> T {
        self.armed.store(true, std::sync::atomic::Ordering::SeqCst);
        let task = tokio::spawn(op);
        self.paused.notified().await;
        meanwhile.await;
        self.resume.notify_one();
        task.await.expect("the operation")
    }
}

#[async_trait]
impl neutrino_core::sql::SqlExecutor for PauseBeforeWrite {
    fn dialect(&self) -> neutrino_core::sql::Dialect {
        self.inner.dialect()
    }
    async fn execute(
        &self,
        stmt: &neutrino_core::sql::Statement,
    ) -> neutrino_core::Result<neutrino_core::sql::ExecOutcome> {
        self.inner.execute(stmt).await
    }
    async fn query(
        &self,
        stmt: &neutrino_core::sql::Statement,
    ) -> neutrino_core::Result<Vec<neutrino_core::sql::Row>> {
        self.inner.query(stmt).await
    }
    async fn batch(
        &self,
        stmts: &[neutrino_core::sql::Statement],
    ) -> neutrino_core::Result<Vec<neutrino_core::sql::ExecOutcome>> {
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            self.paused.notify_one();
            self.resume.notified().await;
        }
        self.inner.batch(stmts).await
    }
}

/// "SSO required" switched on after a password sign-in, sign-up, reset or
/// two-factor sign-in passed its checks and before it writes: the write itself is refused
/// (`SSO_REQUIRED`), no session, user or password is written. The database
/// decides in the write, not a read before it.
pub async fn sso_required_switched_on_before_the_write_refuses_it(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    use std::sync::Arc;

    use neutrino_core::sql::{SqlExecutor, Statement};

    let (t, domain, email) = pat_in_a_verified_domain(stores, clock, "late").await;
    let (p, b, ob) = t.on_b();
    let paused = Arc::new(PauseBeforeWrite {
        inner: stores.auth_db.clone(),
        armed: false.into(),
        paused: tokio::sync::Notify::new(),
        resume: tokio::sync::Notify::new(),
    });
    let db: Arc<dyn SqlExecutor> = paused.clone();
    let mailer = crate::mail::RecordingMailer::new();
    let m = Arc::new(mailer.clone());
    let racing = super::fixtures::auth_with(&db, clock, |b| {
        b.with_base_url(super::fixtures::BASE_URL).with_mailer(m)
    })
    .await;
    let sso = p.orgs.sso();
    let policy = |sso_required: bool| {
        let sso = sso.clone();
        let ob = ob.to_owned();
        async move {
            let policy = SsoPolicy {
                sso_required,
                ..SsoPolicy::default()
            };
            sso.set_policy(&ob, &b, policy, &meta())
                .await
                .expect("policy");
        }
    };
    let rows = |sql: &'static str, arg: String| {
        let db = stores.auth_db.clone();
        async move {
            let rows = db.query(&Statement::new(sql).bind(arg)).await.unwrap();
            rows.len()
        }
    };
    let sessions_of = |user: String| rows(r#"SELECT 1 FROM "session" WHERE "userId" = ?1"#, user);
    let pat = p
        .auth
        .sign_in_email(SignInEmail::new(&email, PASSWORD), &meta())
        .await
        .expect("password is the fallback")
        .user
        .id
        .to_string();
    let two = super::race::two_factor_user_at(&racing, clock, &format!("tf@{domain}")).await;
    let before = (
        sessions_of(pat.clone()).await,
        sessions_of(two.id.to_string()).await,
    );

    // Sign-in: checked while the policy is off, written after it is on.
    let r = {
        let (racing, email) = (racing.clone(), email.clone());
        paused
            .write_after(
                async move {
                    racing
                        .sign_in_email(SignInEmail::new(&email, PASSWORD), &meta())
                        .await
                },
                policy(true),
            )
            .await
    };
    let e = r.unwrap_err();
    assert_eq!((e.code(), e.status()), ("SSO_REQUIRED", 403), "{e:?}");
    assert_eq!(sessions_of(pat.clone()).await, before.0, "no session");

    // Sign-up: the same window.
    policy(false).await;
    let newcomer = format!("sam@eng.{domain}");
    let r = {
        let (racing, newcomer) = (racing.clone(), newcomer.clone());
        paused
            .write_after(
                async move {
                    racing
                        .sign_up_email(SignUpEmail::new("Sam", &newcomer, PASSWORD), &meta())
                        .await
                },
                policy(true),
            )
            .await
    };
    assert_eq!(r.unwrap_err().code(), "SSO_REQUIRED");
    let users = rows(
        r#"SELECT 1 FROM "user" WHERE "email" = ?1"#,
        newcomer.clone(),
    );
    assert_eq!(users.await, 0, "no user");

    // A password reset: the same window.
    policy(false).await;
    racing
        .request_password_reset(&email, None, &meta())
        .await
        .expect("reset requested");
    let token = mailer
        .last_to(&email, crate::mail::EmailKind::ResetPassword)
        .expect("reset mail")
        .token;
    let r = {
        let racing = racing.clone();
        paused
            .write_after(
                async move {
                    racing
                        .reset_password(&token, "another long password", &meta())
                        .await
                },
                policy(true),
            )
            .await
    };
    assert_eq!(r.unwrap_err().code(), "SSO_REQUIRED");

    // The second factor of a password sign-in: the challenge was given
    // while the policy was off, the code is checked, then the policy turns
    // on before the session is written.
    policy(false).await;
    let challenge = super::race::challenge(&racing, &two.email).await;
    let code = super::race::code_at(&two.secret, clock, 0);
    let r = {
        let racing = racing.clone();
        paused
            .write_after(
                async move { racing.verify_totp(&challenge, &code, &meta()).await },
                policy(true),
            )
            .await
    };
    assert_eq!(r.unwrap_err().code(), "SSO_REQUIRED");
    assert_eq!(
        sessions_of(two.id.to_string()).await,
        before.1,
        "no session"
    );

    // Off again: the old password is still the one, and sign-up works.
    policy(false).await;
    let e = racing
        .sign_in_email(SignInEmail::new(&email, "another long password"), &meta())
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        "INVALID_EMAIL_OR_PASSWORD",
        "the reset set nothing"
    );
    racing
        .sign_in_email(SignInEmail::new(&email, PASSWORD), &meta())
        .await
        .expect("password is the fallback again");
    racing
        .sign_up_email(SignUpEmail::new("Sam", &newcomer, PASSWORD), &meta())
        .await
        .expect("sign-up is back");
}

/// An SSO sign-in whose provider is deleted after the sign-in loaded it and
/// before it writes links no account, creates no user and opens no
/// session: else the account would outlive its provider, and whoever
/// registers the provider ID next (another tenant, another issuer) could
/// name its subject and sign in as its user. An issuer changed in that
/// window is refused the same way, and so is an update of the provider
/// over a row another update changed after it was read.
pub async fn an_sso_sign_in_racing_its_providers_removal_links_nothing(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    use std::sync::Arc;

    use neutrino_core::sql::{SqlExecutor, Statement};

    use super::fixtures::{organizations, registry};
    use crate::sso::SsoProviderUpdate;

    let (t, domain) = two_orgs_and_domain(stores, clock, "gone").await;
    let (p, _, ob) = t.on_b();
    let paused = Arc::new(PauseBeforeWrite {
        inner: p.db.clone(),
        armed: false.into(),
        paused: tokio::sync::Notify::new(),
        resume: tokio::sync::Notify::new(),
    });
    let db: Arc<dyn SqlExecutor> = paused.clone();
    let racing_auth =
        super::fixtures::auth_with(&db, clock, |b| b.with_base_url(super::fixtures::BASE_URL))
            .await;
    let racing = Arc::new(organizations(
        racing_auth,
        registry(stores, clock).await,
        p.id,
        p.minter.restricted_to(p.id).expect("minter"),
    ));
    let accounts_of = |provider_id: String| {
        let db = p.db.clone();
        async move {
            db.query(
                &Statement::new(r#"SELECT "userId" FROM "account" WHERE "providerId" = ?1"#)
                    .bind(provider_id),
            )
            .await
            .expect("accounts")
            .len()
        }
    };
    let victim = format!("vic@{domain}");
    let users_named = || {
        let (db, victim) = (p.db.clone(), victim.clone());
        async move {
            db.query(&Statement::new(r#"SELECT 1 FROM "user" WHERE "email" = ?1"#).bind(victim))
                .await
                .expect("users")
                .len()
        }
    };

    // Deleted in the window.
    let id = verified_provider(&t, &domain).await;
    let r = {
        let (racing, id) = (racing.clone(), id.clone());
        let who = identity("sub-victim", &victim, true);
        let deleting = {
            let (sso, id, ob) = (p.orgs.clone(), id.clone(), ob.to_owned());
            async move {
                sso.sso()
                    .delete_provider(&ob, &id, &meta())
                    .await
                    .expect("deleted");
            }
        };
        paused
            .write_after(
                async move { racing.sso().complete_sign_in(&id, who, &meta()).await },
                deleting,
            )
            .await
    };
    assert!(r.is_err(), "a sign-in through a deleted provider: {r:?}");
    assert_eq!(accounts_of(id.clone()).await, 0, "no account outlives it");
    assert_eq!(users_named().await, 0, "no user made through it");

    // Its ID registered again by another tenant, with its own domain: the
    // old subject is nobody there.
    let other_domain = format!("{}.example", unique("other"));
    let oa = &t.owner_a.session.token;
    let sso = p.orgs.sso();
    let reg = sso
        .register_provider(oa, provider(&id, t.org_a.id, &other_domain), &meta())
        .await
        .expect("the ID is free again");
    let zone = Zone::default();
    zone.publish(
        &record_name(&id, &reg.provider.domain),
        &reg.domain_verification_token.txt_value(&id),
    );
    sso.verify_domain(oa, &id, &DnsTxtCheck::new(&zone), &meta())
        .await
        .expect("verified");
    let again = sso
        .complete_sign_in(
            &id,
            identity("sub-victim", &format!("eve@{other_domain}"), true),
            &meta(),
        )
        .await
        .expect("a new user of the new provider");
    assert_eq!(again.user.email, format!("eve@{other_domain}"));

    // An issuer changed in the window: nothing written either.
    let domain2 = format!("{}.example", unique("moved"));
    let id2 = verified_provider(&t, &domain2).await;
    let r = {
        let (racing, id2) = (racing.clone(), id2.clone());
        let who = identity("sub-2", &format!("sam@{domain2}"), true);
        let moving = {
            let (orgs, id2, ob) = (p.orgs.clone(), id2.clone(), ob.to_owned());
            async move {
                orgs.sso()
                    .update_provider(
                        &ob,
                        &id2,
                        SsoProviderUpdate {
                            issuer: Some("https://evil-idp.example.com".into()),
                            ..SsoProviderUpdate::default()
                        },
                        &meta(),
                    )
                    .await
                    .expect("no account yet: the issuer may change");
            }
        };
        paused
            .write_after(
                async move { racing.sso().complete_sign_in(&id2, who, &meta()).await },
                moving,
            )
            .await
    };
    assert!(
        r.is_err(),
        "a sign-in checked against the old issuer: {r:?}"
    );
    assert_eq!(
        accounts_of(id2.clone()).await,
        0,
        "no account for the old issuer"
    );

    // Two updates of one provider at once: the one that read the row
    // before the other wrote is refused, never undoing the other's change.
    let before = p.orgs.sso().provider(ob, &id2).await.expect("provider");
    let r = {
        let (racing, id2, ob) = (racing.clone(), id2.clone(), ob.to_owned());
        let scoping = {
            let (orgs, id2, ob) = (p.orgs.clone(), id2.clone(), ob.clone());
            async move {
                orgs.sso()
                    .update_provider(
                        &ob,
                        &id2,
                        SsoProviderUpdate {
                            scopes: Some(vec!["openid".into(), "email".into(), "groups".into()]),
                            ..SsoProviderUpdate::default()
                        },
                        &meta(),
                    )
                    .await
                    .expect("the scopes changed");
            }
        };
        let pkce = !before.pkce;
        paused
            .write_after(
                async move {
                    racing
                        .sso()
                        .update_provider(
                            &ob,
                            &id2,
                            SsoProviderUpdate {
                                pkce: Some(pkce),
                                ..SsoProviderUpdate::default()
                            },
                            &meta(),
                        )
                        .await
                },
                scoping,
            )
            .await
    };
    assert!(r.is_err(), "an update over a stale read: {r:?}");
    let after = p.orgs.sso().provider(ob, &id2).await.expect("provider");
    assert!(
        after.scopes.iter().any(|s| s == "groups"),
        "the other update's scopes are kept: {:?}",
        after.scopes
    );
    assert_eq!(
        after.pkce, before.pkce,
        "the refused update changed nothing"
    );
}

/// A provider ID that names existing accounts (those of a social provider
/// taken out of the configuration, say) cannot be registered: the new
/// provider's issuer could name one of their subjects and sign in as its
/// user.
pub async fn a_provider_id_with_accounts_cannot_be_registered(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    use neutrino_core::clock::Clock;
    use neutrino_core::sql::Statement;

    let (t, domain) = two_orgs_and_domain(stores, clock, "retired").await;
    let (p, b, ob) = t.on_b();
    let retired = unique("retired-");
    // The outsider's account of a provider the platform no longer offers.
    p.db.execute(
        &Statement::new(
            r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "createdAt", "updatedAt") VALUES (?1, ?2, ?3, ?4, ?5, ?5)"#,
        )
        .bind(unique("acct"))
        .bind("ada-subject")
        .bind(retired.as_str())
        .bind(t.outsider.user.id.as_str())
        .bind(crate::date::format(clock.now())),
    )
    .await
    .expect("an account of a retired provider");
    let e = p
        .orgs
        .sso()
        .register_provider(ob, provider(&retired, b, &domain), &meta())
        .await
        .expect_err("an ID with accounts");
    assert_eq!(
        (e.code(), e.status()),
        (
            "THIS_PROVIDERID_IS_RESERVED_AND_CANNOT_BE_USED_FOR_AN_SSO_PROVIDER",
            422
        )
    );
    let taken = p
        .orgs
        .sso()
        .complete_sign_in(
            &retired,
            identity("ada-subject", &format!("eve@{domain}"), true),
            &meta(),
        )
        .await;
    assert!(taken.is_err(), "no provider, no sign-in: {taken:?}");
}
