use super::*;
use proptest::prelude::*;
use sluice_config::{Endpoint, HealthPolicy, ObjectRef, PassiveCheck};

fn cluster(eps: &[(&str, u32, bool)], balance: Balance, affinity: Option<Affinity>) -> Cluster {
    Cluster {
        name: "default/a:80".into(),
        service: ObjectRef::new("Service", "default", "a"),
        port: 80,
        balance,
        affinity,
        health: HealthPolicy {
            active: None,
            passive: PassiveCheck { consecutive_failures: 2, base_ejection_ms: 60_000, max_ejection_ms: 60_000 },
        },
        max_connections: None,
        endpoints: eps
            .iter()
            .map(|(a, w, t)| Endpoint {
                address: a.parse().unwrap(),
                weight: *w,
                terminating: *t,
                node: None,
                pod: None,
            })
            .collect(),
        dns: None,
        unresolved: false,
    }
}

fn n_endpoints(n: usize) -> Vec<(String, u32, bool)> {
    (0..n).map(|i| (format!("192.0.2.{}:{}", i % 250 + 1, 8000 + i / 250), 1, false)).collect()
}

fn state(eps: &[(String, u32, bool)], balance: Balance) -> ClusterState {
    let eps: Vec<(&str, u32, bool)> = eps.iter().map(|(a, w, t)| (a.as_str(), *w, *t)).collect();
    ClusterState::new(&cluster(&eps, balance, None), None)
}

fn pick(c: &ClusterState, input: PickInput<'_>) -> SocketAddr {
    c.pick(&input, &[]).unwrap().address
}

#[test]
fn round_robin_honours_weights_skips_zero_and_terminating() {
    let c = ClusterState::new(
        &cluster(
            &[
                ("192.0.2.1:80", 2, false),
                ("192.0.2.2:80", 1, false),
                ("192.0.2.3:80", 0, false),
                ("192.0.2.4:80", 1, true),
            ],
            Balance::RoundRobin,
            None,
        ),
        None,
    );
    let picks: Vec<String> = (0..6).map(|_| pick(&c, PickInput::default()).to_string()).collect();
    assert_eq!(picks.iter().filter(|p| *p == "192.0.2.1:80").count(), 4);
    assert!(picks.iter().all(|p| p != "192.0.2.3:80" && p != "192.0.2.4:80"));
    let only_terminating = ClusterState::new(&cluster(&[("192.0.2.4:80", 1, true)], Balance::RoundRobin, None), None);
    assert_eq!(pick(&only_terminating, PickInput::default()).to_string(), "192.0.2.4:80");
}

#[test]
fn retries_avoid_tried_endpoints() {
    let c = state(&n_endpoints(2), Balance::RoundRobin);
    let first = c.pick(&PickInput::default(), &[]).unwrap().address;
    let second = c.pick(&PickInput::default(), &[first]).unwrap().address;
    assert_ne!(first, second);
    assert!(!c.has_untried(&[first, second]));
    assert_eq!(c.pick(&PickInput::default(), &[first, second]), None);
}

#[test]
fn source_hash_keeps_a_client_and_survives_an_unusable_endpoint() {
    let c = state(&n_endpoints(5), Balance::source_hash());
    let input = PickInput { key_hash: Some(crate::balancer::key_hash(b"203.0.113.7")), ..Default::default() };
    let home = pick(&c, input);
    assert!((0..50).all(|_| pick(&c, input) == home));
    let other = c.pick(&input, &[home]).unwrap().address;
    assert_ne!(other, home);
}

#[test]
fn passive_ejection_then_panic_mode() {
    let c = state(&n_endpoints(2), Balance::RoundRobin);
    let a = c.pick(&PickInput::default(), &[]).unwrap();
    c.report(a.index, false);
    c.report(a.index, false);
    assert!((0..10).all(|_| pick(&c, PickInput::default()) != a.address), "ejected: no new traffic");
    let b = c.pick(&PickInput::default(), &[]).unwrap();
    c.report(b.index, false);
    c.report(b.index, false);
    // Both out: all are used rather than none.
    let both: std::collections::HashSet<_> = (0..10).map(|_| pick(&c, PickInput::default())).collect();
    assert_eq!(both.len(), 2);
}

#[test]
fn client_ip_affinity_sticks_and_carries_over_a_swap() {
    let eps = [("192.0.2.1:80", 1, false), ("192.0.2.2:80", 1, false), ("192.0.2.3:80", 1, false)];
    let affinity = Some(Affinity::ClientIp { timeout_seconds: 10800 });
    let c = ClusterState::new(&cluster(&eps, Balance::RoundRobin, affinity.clone()), None);
    let clients: Vec<IpAddr> = (1..=30).map(|i| format!("203.0.113.{i}").parse().unwrap()).collect();
    let first: Vec<SocketAddr> =
        clients.iter().map(|ip| pick(&c, PickInput { client_ip: Some(*ip), ..Default::default() })).collect();
    for (ip, home) in clients.iter().zip(&first) {
        assert!((0..5).all(|_| pick(&c, PickInput { client_ip: Some(*ip), ..Default::default() }) == *home));
    }
    // A new endpoint joins: clients keep theirs.
    let grown = [eps[0], eps[1], eps[2], ("192.0.2.4:80", 1, false)];
    let next = ClusterState::new(&cluster(&grown, Balance::RoundRobin, affinity), Some(&c));
    for (ip, home) in clients.iter().zip(&first) {
        assert_eq!(pick(&next, PickInput { client_ip: Some(*ip), ..Default::default() }), *home);
    }
}

#[test]
fn persistent_cookie_names_the_endpoint() {
    let mut affinity = Some(Affinity::Cookie {
        name: "S".into(),
        max_age_seconds: None,
        path: "/".into(),
        mode: AffinityMode::Persistent,
        same_site: None,
        domain: None,
        secure: false,
        change_on_failure: false,
    });
    let eps = [("192.0.2.1:80", 1, false), ("192.0.2.2:80", 1, false)];
    let c = ClusterState::new(&cluster(&eps, Balance::RoundRobin, affinity.clone()), None);
    let first = c.pick(&PickInput::default(), &[]).unwrap();
    let set = first.set_cookie.clone().expect("a new session gets its cookie");
    let value = set.split(';').next().unwrap().to_owned();
    for _ in 0..10 {
        let again = c.pick(&PickInput { cookies: Some(&value), ..Default::default() }, &[]).unwrap();
        assert_eq!((again.address, again.set_cookie), (first.address, None));
    }
    // Its endpoint fails: another one serves, and the cookie stays, so the
    // next request goes back (ingress-nginx's default).
    let moved = c.pick(&PickInput { cookies: Some(&value), ..Default::default() }, &[first.address]).unwrap();
    assert_ne!(moved.address, first.address);
    assert_eq!(moved.set_cookie, None);
    // With session-cookie-change-on-failure, the cookie follows the move.
    let Some(Affinity::Cookie { change_on_failure, .. }) = &mut affinity else { unreachable!() };
    *change_on_failure = true;
    let c = ClusterState::new(&cluster(&eps, Balance::RoundRobin, affinity.clone()), None);
    let moved = c.pick(&PickInput { cookies: Some(&value), ..Default::default() }, &[first.address]).unwrap();
    assert_ne!(moved.address, first.address);
    let set = moved.set_cookie.expect("a new cookie");
    let again =
        c.pick(&PickInput { cookies: Some(set.split(';').next().unwrap()), ..Default::default() }, &[]).unwrap();
    assert_eq!(again.address, moved.address);
}

#[test]
fn balanced_cookie_maps_a_session_key_consistently() {
    let affinity = Affinity::Cookie {
        name: "S".into(),
        max_age_seconds: Some(3600),
        path: "/".into(),
        mode: AffinityMode::Balanced,
        same_site: None,
        domain: None,
        secure: false,
        change_on_failure: false,
    };
    let c = ClusterState::new(
        &cluster(&[("192.0.2.1:80", 1, false), ("192.0.2.2:80", 1, false)], Balance::RoundRobin, Some(affinity)),
        None,
    );
    let first = c.pick(&PickInput::default(), &[]).unwrap();
    let set = first.set_cookie.unwrap();
    assert!(set.contains("Max-Age=3600"));
    let value = set.split(';').next().unwrap().to_owned();
    assert!((0..10).all(|_| pick(&c, PickInput { cookies: Some(&value), ..Default::default() }) == first.address));
}

fn keys() -> impl Iterator<Item = u64> {
    (0..20_000u64).map(|k| crate::balancer::key_hash(&k.to_le_bytes()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Maglev: removing one of N endpoints moves at most 1/N + 1 % of keys.
    #[test]
    fn maglev_removal_moves_about_one_nth(n in 2usize..40, gone in 0usize..40) {
        let eps = n_endpoints(n);
        let gone = gone % n;
        let before = state(&eps, Balance::source_hash());
        let mut fewer = eps.clone();
        fewer.remove(gone);
        let after = state(&fewer, Balance::source_hash());
        let moved = keys()
            .filter(|h| {
                let input = PickInput { key_hash: Some(*h), ..Default::default() };
                pick(&before, input) != pick(&after, input)
            })
            .count();
        let share = moved as f64 / 20_000.0;
        prop_assert!(share <= 1.0 / n as f64 + 0.01, "n {} moved {:.4}", n, share);
    }

    /// Least connections: every arrival goes to a least-loaded endpoint, so
    /// arrivals never widen the spread of in-flight counts and, from an even
    /// start, keep it within 1; only departures (which the proxy does not
    /// choose) can widen it.
    #[test]
    fn least_connections_keeps_the_spread_within_one(
        n in 2usize..12,
        ops in prop::collection::vec(any::<(bool, u16)>(), 1..600),
    ) {
        let c = Arc::new(state(&n_endpoints(n), Balance::LeastConnections));
        let counts = |c: &ClusterState| -> Vec<u64> { (0..n).map(|i| c.in_flight(i)).collect() };
        let spread = |v: &[u64]| v.iter().max().unwrap() - v.iter().min().unwrap();
        let mut held: Vec<InFlight> = Vec::new();
        let mut departed = false;
        for (arrive, which) in ops {
            let before = counts(&c);
            if arrive || held.is_empty() {
                let p = c.pick(&PickInput::default(), &[]).unwrap();
                prop_assert_eq!(before[p.index], *before.iter().min().unwrap(), "{:?}", before);
                held.push(c.begin(p.index));
                let after = counts(&c);
                prop_assert!(spread(&after) <= spread(&before).max(1), "{:?} -> {:?}", before, after);
                if !departed {
                    prop_assert!(spread(&after) <= 1, "{:?}", after);
                }
            } else {
                held.swap_remove(usize::from(which) % held.len());
                departed = true;
            }
        }
    }

    /// Smooth WRR: within ±1 % of the weights over 100 000 picks, and every
    /// prefix within one pick of its ideal share.
    #[test]
    fn smooth_wrr_tracks_the_ideal_sequence(weights in prop::collection::vec(0u32..50, 1..8)) {
        prop_assume!(weights.iter().any(|w| *w > 0));
        let w = SmoothWrr::new(&weights);
        let total: f64 = weights.iter().map(|x| f64::from(*x)).sum();
        let mut counts = vec![0u64; weights.len()];
        for n in 1..=100_000u64 {
            counts[w.next().unwrap()] += 1;
            if n <= 2_000 {
                for (i, c) in counts.iter().enumerate() {
                    let ideal = n as f64 * f64::from(weights[i]) / total;
                    prop_assert!((*c as f64 - ideal).abs() < 1.0 + 1e-9, "pick {} item {} count {} ideal {}", n, i, c, ideal);
                }
            }
        }
        for (i, c) in counts.iter().enumerate() {
            let share = *c as f64 / 100_000.0;
            prop_assert!((share - f64::from(weights[i]) / total).abs() <= 0.01);
        }
    }
}

/// Source hashing is fair: over many sets of 50 client addresses, the share
/// each endpoint gets behaves as a fair coin would (mean 1/N, binomial spread).
#[test]
fn source_hashing_spreads_clients_like_a_fair_draw() {
    for n in [2usize, 3] {
        let c = state(&n_endpoints(n), Balance::source_hash());
        let mut shares = Vec::new();
        for set in 0..200u32 {
            let mut counts = vec![0u32; n];
            for i in 0..50u32 {
                let ip = std::net::Ipv4Addr::from(0x7f00_0000 + set * 256 + i + 1);
                let h = crate::balancer::key_hash(&ip.octets());
                let picked = c.pick(&PickInput { key_hash: Some(h), ..Default::default() }, &[]).unwrap().index;
                counts[picked] += 1;
            }
            shares.push(f64::from(counts[0]) / 50.0);
        }
        let mean = shares.iter().sum::<f64>() / shares.len() as f64;
        let var = shares.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / shares.len() as f64;
        let p = 1.0 / n as f64;
        assert!((mean - p).abs() < 0.02, "n {n}: mean share {mean}");
        // Binomial variance p(1-p)/50, with slack for 200 samples.
        assert!(var < 1.5 * p * (1.0 - p) / 50.0, "n {n}: variance {var}");
    }
}
