//! Hosts: lifecycle, resolution, claims.

use super::*;

/// Default and custom hosts resolve to exactly their tenant, only when active;
/// normalisation applies; removed hosts stop resolving.
pub async fn hosts_follow_their_lifecycle_and_resolve_to_one_tenant(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let domain = format!("{}.example.com", unique("app"));
    let p = r
        .create_platform(
            NewPlatform::new("Hosted", PlatformClass::Platform).with_app_domain(domain.as_str()),
        )
        .await
        .unwrap()
        .id;
    let acme = r
        .create_tenant(p, NewTenant::new("acme", "Acme"))
        .await
        .unwrap()
        .id;
    let other = r
        .create_tenant(p, NewTenant::new("other", "Other"))
        .await
        .unwrap()
        .id;
    assert_eq!(
        r.resolve(&format!("acme.{domain}")).await.unwrap(),
        Some((p, acme))
    );
    assert_eq!(
        r.resolve(&format!("ACME.{}.:443", domain.to_uppercase()))
            .await
            .unwrap(),
        Some((p, acme))
    );
    assert_eq!(
        r.resolve(&format!("other.{domain}")).await.unwrap(),
        Some((p, other))
    );
    assert_eq!(r.resolve(&format!("nobody.{domain}")).await.unwrap(), None);

    let custom = format!("{}.acme-corp.test", unique("app"));
    let rec = r.add_custom_domain(p, acme, &custom).await.unwrap();
    assert_eq!(rec.status, HostStatus::Pending);
    assert!(rec.verification_token.is_some());
    assert_eq!(
        r.resolve(&custom).await.unwrap(),
        None,
        "pending does not resolve"
    );
    let e = r.activate_custom_domain(p, &custom).await.unwrap_err();
    assert!(
        matches!(e, Error::InvalidInput { .. }),
        "must be verified first: {e:?}"
    );
    r.verify_custom_domain(p, &custom).await.unwrap();
    assert_eq!(
        r.resolve(&custom).await.unwrap(),
        None,
        "verified does not resolve yet"
    );
    r.activate_custom_domain(p, &custom).await.unwrap();
    assert_eq!(r.resolve(&custom).await.unwrap(), Some((p, acme)));
    let hosts: Vec<String> = r
        .hosts(p, acme)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.host)
        .collect();
    assert!(
        hosts.contains(&custom) && hosts.contains(&format!("acme.{domain}")),
        "{hosts:?}"
    );
    r.remove_host(p, &custom).await.unwrap();
    assert_eq!(
        r.resolve(&custom).await.unwrap(),
        None,
        "removed does not resolve"
    );
    for bad in [
        "",
        "localhost",
        "a..b",
        "-x.com",
        "10.0.0.1",
        "[::1]",
        "x.com:99999",
        "exa mple.com",
    ] {
        assert!(
            matches!(r.resolve(bad).await, Err(Error::InvalidInput { .. })),
            "{bad:?}"
        );
    }
}

/// A custom domain held by one tenant cannot be claimed by another (of any
/// platform) until it is removed.
pub async fn a_host_cannot_be_claimed_twice(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let (p1, p2) = (platform(&r).await, platform(&r).await);
    let (a, b, c) = (
        tenant(&r, p1).await,
        tenant(&r, p1).await,
        tenant(&r, p2).await,
    );
    let host = format!("{}.shared.test", unique("d"));
    r.add_custom_domain(p1, a, &host).await.unwrap();
    for (p, t) in [(p1, b), (p2, c), (p1, a)] {
        let e = r
            .add_custom_domain(p, t, &host.to_uppercase())
            .await
            .unwrap_err();
        assert!(e.is_already_exists(), "{e:?}");
    }
    let e = r.remove_host(p2, &host).await.unwrap_err();
    assert!(
        e.is_not_found(),
        "another platform cannot release it: {e:?}"
    );
    r.remove_host(p1, &host).await.unwrap();
    r.add_custom_domain(p2, c, &host)
        .await
        .expect("claimable after removal");
}

/// A custom domain equal to or under any platform's app domain is refused
/// (its subdomains are the platform's tenants' default hosts), on every
/// engine; a name that merely ends with the same letters is not under it.
pub async fn a_custom_domain_under_an_app_domain_is_refused(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let domain = format!("{}.example.com", unique("app"));
    let owner = r
        .create_platform(
            NewPlatform::new("Owner", PlatformClass::Platform).with_app_domain(domain.as_str()),
        )
        .await
        .unwrap()
        .id;
    let other = platform(&r).await;
    let t = tenant(&r, other).await;
    for host in [
        domain.clone(),
        format!("x.{domain}"),
        format!("deep.er.{domain}"),
        format!("acme.{}", domain.to_uppercase()),
    ] {
        let e = r.add_custom_domain(other, t, &host).await.unwrap_err();
        assert!(
            matches!(e, Error::InvalidInput { .. }),
            "{host} is under {domain}: {e:?}"
        );
        assert_eq!(r.resolve(&host).await.unwrap(), None, "{host}");
    }
    let own = tenant(&r, owner).await;
    assert!(
        r.add_custom_domain(owner, own, &format!("y.{domain}"))
            .await
            .is_err(),
        "not even the platform's own tenants"
    );
    let lookalike = format!("evil{domain}");
    r.add_custom_domain(other, t, &lookalike)
        .await
        .expect("a lookalike is not under the app domain");
}
