//! Property tests of the naming invariants: format, uniqueness by construction,
//! round trip, provider validity, and parsers that never panic.

use neutrino::ids::{
    IdFormat, NANO_ID_ALPHABET, PlatformId, StackId, TenantId, UserId, generate_id,
};
use neutrino::naming::{AppName, Domain, HostParts, ResourceName, ResourceRole, rules};
use neutrino::provision::ResourceKind;
use proptest::prelude::*;

fn platform() -> impl Strategy<Value = PlatformId> {
    "[0-9a-z]{10}".prop_map(|s| s.parse().expect("valid by construction"))
}

fn stack() -> impl Strategy<Value = StackId> {
    prop_oneof![
        Just(StackId::DEFAULT),
        "[0-9a-z]{10}".prop_map(|s| s.parse().expect("valid by construction")),
    ]
}

fn role() -> impl Strategy<Value = ResourceRole> {
    prop::sample::select(ResourceRole::ALL.to_vec())
}

fn app() -> impl Strategy<Value = AppName> {
    "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
        .prop_map(|s| AppName::new(&s).expect("valid by construction"))
}

fn domain() -> impl Strategy<Value = Domain> {
    prop::collection::vec("[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", 2..5)
        .prop_map(|labels| Domain::new(&labels.join(".")).expect("valid by construction"))
}

fn is_nano(s: &str) -> bool {
    s.len() == 10 && s.bytes().all(|b| NANO_ID_ALPHABET.contains(&b))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn generated_ids_always_match_their_alphabet_and_length(_seed in any::<u64>()) {
        prop_assert!(is_nano(&generate_id()));
        prop_assert!(is_nano(PlatformId::generate().as_str()));
        prop_assert!(is_nano(StackId::generate().as_str()));
        let t = TenantId::generate();
        prop_assert!(t.as_str().len() == 32 && t.as_str().bytes().all(|b| b.is_ascii_alphanumeric()));
        let u = UserId::generate();
        prop_assert!(u.as_str().len() == 32 && u.as_str().bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn platform_id_parse_accepts_exactly_the_format(s in "\\PC{0,12}|[0-9a-zA-Z]{9,11}") {
        match s.parse::<PlatformId>() {
            Ok(id) => { prop_assert!(is_nano(&s)); prop_assert_eq!(id.as_str(), s.as_str()); }
            Err(e) => { prop_assert!(!is_nano(&s)); prop_assert!(e.to_string().starts_with("invalid platform id: ")); }
        }
    }

    #[test]
    fn record_ids_parse_exactly_better_auths_two_formats(
        s in "\\PC{0,40}|[0-9a-fA-F-]{36}|[A-Za-z0-9]{31,33}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    ) {
        let b = s.as_bytes();
        let default = b.len() == 32 && b.iter().all(u8::is_ascii_alphanumeric);
        let uuid = b.len() == 36 && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        });
        match (s.parse::<UserId>(), s.parse::<TenantId>()) {
            (Ok(u), Ok(t)) => {
                prop_assert!(default || uuid, "{}", s);
                prop_assert_eq!(u.as_str(), s.as_str());
                prop_assert_eq!(t.as_str(), s.as_str());
                prop_assert_eq!(u.format() == IdFormat::Uuid, uuid);
            }
            (Err(_), Err(_)) => prop_assert!(!default && !uuid, "{}", s),
            _ => prop_assert!(false, "user and tenant ids disagree on {}", s),
        }
    }

    #[test]
    fn generated_uuids_parse_back(_seed in any::<u64>()) {
        let u = UserId::generate_in(IdFormat::Uuid);
        prop_assert_eq!(IdFormat::of(u.as_str()), Some(IdFormat::Uuid));
        prop_assert_eq!(u.as_str().parse::<UserId>().unwrap(), u);
    }

    #[test]
    fn distinct_platform_stack_role_give_distinct_resource_names(
        a in (platform(), stack(), role()),
        other in (platform(), stack(), role()),
        which in 0..5u8,
    ) {
        // b equals a, differs from it in exactly one part, or is unrelated.
        let b = match which {
            0 => a,
            1 => (other.0, a.1, a.2),
            2 => (a.0, other.1, a.2),
            3 => (a.0, a.1, other.2),
            _ => other,
        };
        if let (Ok(na), Ok(nb)) = (ResourceName::new(a.0, a.1, a.2), ResourceName::new(b.0, b.1, b.2)) {
            prop_assert_eq!(a == b, na.as_str() == nb.as_str(), "{} vs {}", na, nb);
        }
    }

    #[test]
    fn every_resource_name_is_valid_for_every_provider_and_parses_back(
        (p, s, r) in (platform(), stack(), role())
    ) {
        if let Ok(name) = ResourceName::new(p, s, r) {
            let n = name.as_str();
            prop_assert!(rules::is_valid_bucket_name(n), "bucket: {}", n);
            prop_assert!(rules::is_valid_d1_name(n), "d1: {}", n);
            prop_assert!(rules::is_valid_worker_name(n), "worker: {}", n);
            prop_assert!(rules::is_valid_kv_title(n), "kv: {}", n);
            let back = ResourceName::parse(n).expect("parses back");
            prop_assert_eq!((back.platform(), back.stack(), back.role()), (p, s, r));
        } else {
            prop_assert!(r.default_stack_only() && !s.is_default());
        }
    }

    #[test]
    fn hostnames_round_trip(d in domain(), p in platform(), s in stack(), a in app()) {
        let auth = d.auth_host(p, s);
        prop_assert_eq!(d.parse_host(&auth).expect("auth host parses"), HostParts::AuthService { platform: p, stack: s });
        let host = d.app_host(p, s, &a);
        prop_assert!(host.len() <= 253);
        prop_assert_eq!(d.parse_host(&host).expect("app host parses"), HostParts::App { platform: p, stack: s, app: a });
        let cookie = d.cookie_domain(p);
        prop_assert!(auth.ends_with(&cookie) && host.ends_with(&cookie));
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_input(s in "\\PC{0,300}|[a-zA-Z0-9.:-]{0,120}") {
        let d = Domain::default();
        let _ = d.parse_host(&s);
        let _ = d.parse_host(&format!("{s}.nno.app"));
        let _ = d.parse_host(&format!("auth.svc.{s}.nno.app"));
        let _ = ResourceName::parse(&s);
        let _ = s.parse::<PlatformId>();
        let _ = s.parse::<StackId>();
        let _ = s.parse::<TenantId>();
        let _ = AppName::new(&s);
        let _ = Domain::new(&s);
        for kind in ResourceKind::ALL {
            let _ = kind.owner(&s, &d);
        }
    }

    #[test]
    fn every_name_built_for_a_platform_and_stack_is_owned_by_exactly_them(
        (p, s, r) in (platform(), stack(), role()), d in domain(), a in app(), q in platform()
    ) {
        if let Ok(name) = ResourceName::new(p, s, r) {
            for kind in [ResourceKind::Database, ResourceKind::Bucket, ResourceKind::KvNamespace, ResourceKind::Worker] {
                prop_assert_eq!(kind.owner(name.as_str(), &d).expect("owned"), (p, s));
            }
        }
        for host in [d.auth_host(p, s), d.app_host(p, s, &a)] {
            for kind in [ResourceKind::DnsRecord, ResourceKind::CustomHostname] {
                prop_assert_eq!(kind.owner(&host, &d).expect("owned"), (p, s), "{}", host);
                // Under no other base: not with a platform's label in front
                // of this one (another platform's cookie domain), nor with one
                // of its labels taken away.
                if let Ok(nested) = Domain::new(&format!("{q}.{}", d.base())) {
                    prop_assert!(kind.owner(&host, &nested).is_err(), "{}", host);
                    for under_q in [nested.auth_host(p, s), nested.app_host(p, s, &a)] {
                        prop_assert!(kind.owner(&under_q, &d).is_err(), "{}", under_q);
                    }
                }
                let other = d.base().split_once('.').map(|(_, rest)| rest).unwrap_or("");
                if let Ok(shorter) = Domain::new(other) {
                    prop_assert!(kind.owner(&host, &shorter).is_err(), "{}", host);
                }
            }
        }
    }

    #[test]
    fn parsed_hosts_rebuild_to_the_normalised_input(p in platform(), s in stack(), a in app(), upper in any::<bool>(), dot in any::<bool>()) {
        let d = Domain::default();
        let host = d.app_host(p, s, &a);
        let mut input = if upper { host.to_uppercase() } else { host.clone() };
        if dot { input.push('.'); }
        match d.parse_host(&input).expect("parses") {
            HostParts::App { platform, stack, app } => prop_assert_eq!(d.app_host(platform, stack, &app), host),
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}

fn tenant_id() -> impl Strategy<Value = TenantId> {
    prop_oneof![
        "[A-Za-z0-9]{32}".prop_map(|s| s.parse().expect("valid by construction")),
        any::<u8>().prop_map(|_| TenantId::generate_in(IdFormat::Uuid)),
    ]
}

/// Any slug Better Auth takes: text of every kind, DNS labels, near-misses.
fn any_slug() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,80}",
        "[A-Za-z0-9_ .-]{0,70}",
        "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?",
        "[-_]{0,3}[a-z0-9]{0,70}[-_ ]{0,3}",
    ]
}

proptest! {
    /// Every host label offered for a slug is a DNS label, the list is a
    /// function of (slug, tenant), a slug that is a DNS label comes first
    /// unchanged, and no other candidate equals the slug or another
    /// candidate.
    #[test]
    fn tenant_host_labels_are_dns_labels_and_deterministic(
        slug in any_slug(),
        id in tenant_id(),
    ) {
        use neutrino::naming::tenant_host_labels;
        let labels = tenant_host_labels(&slug, &id);
        prop_assert_eq!(&labels, &tenant_host_labels(&slug, &id));
        for l in &labels {
            prop_assert!(rules::is_valid_dns_label(l), "{:?} -> {:?}", slug, l);
        }
        let exact = rules::is_valid_dns_label(&slug);
        prop_assert_eq!(labels.len(), if exact { 4 } else { 3 });
        prop_assert_eq!(exact, labels[0] == slug);
        let suffixed = &labels[usize::from(exact)..];
        prop_assert!(suffixed.iter().all(|l| *l != slug));
        let distinct: std::collections::HashSet<_> = labels.iter().collect();
        prop_assert_eq!(distinct.len(), labels.len());
    }

    /// Distinct (slug, tenant) inputs never share a label through the
    /// suffix: two tenants get different suffixed labels, and a slug the
    /// mapping changed never takes the label of the slug it maps to (the
    /// registry's unique label decides the remaining, deliberate copies).
    #[test]
    fn distinct_inputs_give_distinct_suffixed_labels(
        a in any_slug(),
        b in any_slug(),
        x in tenant_id(),
        y in tenant_id(),
    ) {
        use neutrino::naming::tenant_host_labels;
        prop_assume!(x != y);
        let (la, lb) = (tenant_host_labels(&a, &x), tenant_host_labels(&b, &y));
        // The longest suffix (24 characters, 120 bits) differs for distinct IDs.
        prop_assert_ne!(la.last(), lb.last());
        // A slug the mapping changed is suffixed, so it never takes the label
        // of the slug it maps to, which that slug keeps.
        if !rules::is_valid_dns_label(&a)
            && let Some((mapped, _)) = la[0].rsplit_once('-')
        {
            prop_assert!(rules::is_valid_dns_label(mapped));
            prop_assert_eq!(&tenant_host_labels(mapped, &y)[0], mapped);
            prop_assert!(la.iter().all(|l| l != mapped));
        }
    }
}
