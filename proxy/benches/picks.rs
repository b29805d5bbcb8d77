//! Nanoseconds per endpoint pick, by algorithm, at 10, 100 and 1 000 endpoints.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use sluice_config::{Affinity, AffinityMode, Balance, Cluster, Endpoint, HealthPolicy, ObjectRef};
use sluice_proxy::{ClusterState, PickInput};
use std::hint::black_box;
use std::net::IpAddr;

fn cluster(n: usize, balance: Balance, affinity: Option<Affinity>) -> ClusterState {
    let endpoints = (0..n)
        .map(|i| Endpoint {
            address: format!("192.0.2.{}:{}", i % 250 + 1, 8000 + i / 250).parse().unwrap(),
            weight: 1 + (i % 3) as u32,
            terminating: false,
            node: None,
            pod: None,
        })
        .collect();
    let c = Cluster {
        name: "bench/web:80".into(),
        service: ObjectRef::new("Service", "bench", "web"),
        port: 80,
        balance,
        affinity,
        health: HealthPolicy::default(),
        max_connections: None,
        endpoints,
        dns: None,
        unresolved: false,
    };
    ClusterState::new(&c, None)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("pick");
    let cookie = Affinity::Cookie {
        name: "s".into(),
        max_age_seconds: None,
        path: "/".into(),
        mode: AffinityMode::Persistent,
        same_site: None,
        domain: None,
        secure: false,
        change_on_failure: false,
    };
    let cases: Vec<(&str, Balance, Option<Affinity>)> = vec![
        ("round_robin", Balance::RoundRobin, None),
        ("least_connections", Balance::LeastConnections, None),
        ("maglev_source_hash", Balance::source_hash(), None),
        ("client_ip_affinity", Balance::RoundRobin, Some(Affinity::ClientIp { timeout_seconds: 10800 })),
        ("cookie_persistent", Balance::RoundRobin, Some(cookie)),
    ];
    for (name, balance, affinity) in cases {
        for n in [10usize, 100, 1000] {
            let state = cluster(n, balance.clone(), affinity.clone());
            let mut k: u32 = 0;
            g.bench_with_input(BenchmarkId::new(name, n), &state, |b, s| {
                b.iter(|| {
                    k = k.wrapping_add(1);
                    // 4 096 distinct clients, as a busy edge sees them.
                    let ip = IpAddr::from([203, 0, (k >> 8 & 15) as u8, k as u8]);
                    let input = PickInput {
                        client_ip: Some(ip),
                        key_hash: Some(u64::from(k & 4095).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                        cookies: None,
                        session_key: None,
                    };
                    black_box(s.pick(&input, &[]))
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
