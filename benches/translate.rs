//! Translation and route-table compile cost against route scale: what a
//! configuration change costs before the new table serves.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use sluice_config::Options;
use sluice_controller::sources::parse_manifest;
use sluice_controller::{Store, translate};
use sluice_proxy::RouteTable;

/// `hosts` Ingresses of 5 paths each, each path to its own Service with two endpoints.
fn store(hosts: usize) -> Store {
    let mut yaml = String::new();
    for h in 0..hosts {
        let mut paths = String::new();
        for p in 0..5 {
            let svc = format!("svc-{h}-{p}");
            paths += &format!(
                "      - {{path: /p{p}, pathType: Prefix, backend: {{service: {{name: {svc}, port: {{number: 80}}}}}}}}\n"
            );
            yaml += &format!(
                "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {svc}}}\nspec: {{ports: [{{name: http, port: 80, targetPort: 8080}}]}}\n\
                 ---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {svc}-x, labels: {{kubernetes.io/service-name: {svc}}}}}\n\
                 addressType: IPv4\nports: [{{name: http, port: 8080}}]\nendpoints: [{{addresses: [192.0.2.{}]}}, {{addresses: [192.0.2.{}]}}]\n",
                (h + p) % 250 + 1,
                (h + p + 1) % 250 + 1
            );
        }
        yaml += &format!(
            "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: ing-{h}}}\nspec:\n  ingressClassName: sluice\n  rules:\n  - host: host{h}.example.com\n    http:\n      paths:\n{paths}"
        );
    }
    let parsed = parse_manifest(&yaml, "bench.yaml").expect("bench manifests parse");
    let mut store = Store::default();
    for o in parsed.objects {
        store.insert(o);
    }
    store
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("change");
    group.sample_size(10);
    for hosts in [10, 1_000, 10_000] {
        let s = store(hosts);
        let options = Options::default();
        group.bench_with_input(BenchmarkId::new("translate", hosts * 5), &s, |b, s| b.iter(|| translate(s, &options)));
        let (snapshot, _) = translate(&s, &options);
        group.bench_with_input(BenchmarkId::new("compile_route_table", hosts * 5), &snapshot, |b, snap| {
            b.iter(|| RouteTable::compile(snap, None).expect("compiles"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
