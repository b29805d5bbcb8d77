//! Translation, route-table compile and swap cost against route scale
//! (what a configuration change costs before the new table serves), the
//! cost of one changed object at 500 to 50 000 routes (what a change costs
//! once the configuration is loaded: it should not grow with the size),
//! and the per-request route lookup at 10 and 10 000 hosts.

use arc_swap::ArcSwap;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use sluice_config::Options;
use sluice_controller::sources::parse_manifest;
use sluice_controller::{INGRESS_ROUTES, Reconciler, Store, translate};
use sluice_proxy::RouteTable;
use std::hint::black_box;

#[path = "shared/pooled.rs"]
mod pooled;
use pooled::ingress;
use std::sync::Arc;

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

/// `hosts` Ingresses of 5 paths each over 10 shared Services, as
/// `benches/routes.sh` writes them for the scale and churn comparisons.
fn pooled_store(hosts: usize) -> Store {
    let mut yaml = pooled::pools();
    for h in 0..hosts {
        yaml += &ingress(&format!("h{h}"), &format!("host{h}.example.com"), h);
    }
    let parsed = parse_manifest(&yaml, "bench.yaml").expect("bench manifests parse");
    let mut store = Store::default();
    for o in parsed.objects {
        store.insert(o);
    }
    store
}

/// One new Ingress on a loaded configuration: the reconcile (translation)
/// and the compile against the table that serves, as a change in the
/// manifest directory or the cluster costs.
fn one_change(c: &mut Criterion) {
    let mut group = c.benchmark_group("one_change");
    group.sample_size(10);
    for hosts in [100, 1_000, 4_000, 10_000] {
        let base = pooled_store(hosts);
        let added = parse_manifest(&ingress("churn", "new.example.com", 3), "churn.yaml").expect("parses").objects;
        let mut changed = base.clone();
        for o in added {
            changed.insert(o);
        }
        let mut reconciler = Reconciler::new(Options::default());
        let first = reconciler.reconcile(base.clone(), vec![]);
        let live = ArcSwap::from_pointee(RouteTable::compile(&first.snapshot, None));
        let mut flip = false;
        group.bench_function(BenchmarkId::new("translate", hosts * 5), |b| {
            b.iter(|| {
                flip = !flip;
                reconciler.reconcile(if flip { changed.clone() } else { base.clone() }, vec![])
            })
        });
        // As the proxy gets them: two Snapshots of one reconciler, sharing what did not change.
        let mut pair = Reconciler::new(Options::default());
        let first = pair.reconcile(base.clone(), vec![]);
        let with = pair.reconcile(changed.clone(), vec![]);
        group.bench_function(BenchmarkId::new("compile", hosts * 5), |b| {
            b.iter(|| {
                flip = !flip;
                let next = if flip { &with.snapshot } else { &first.snapshot };
                let table = RouteTable::compile(next, Some(&live.load()));
                live.store(Arc::new(table));
            })
        });
    }
    group.finish();
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
            b.iter(|| RouteTable::compile(snap, None))
        });
        // What a proxy thread sees: the new table replaces the old one under load.
        let live = ArcSwap::from_pointee(RouteTable::compile(&snapshot, None));
        group.bench_with_input(BenchmarkId::new("compile_and_swap", hosts * 5), &snapshot, |b, snap| {
            b.iter(|| {
                let next = RouteTable::compile(snap, Some(&live.load()));
                live.store(Arc::new(next));
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("lookup");
    for hosts in [10, 10_000] {
        let (snapshot, _) = translate(&store(hosts), &Options::default());
        let table = RouteTable::compile(&snapshot, None);
        let routes = table.routes(INGRESS_ROUTES).expect("ingress routes").clone();
        let names: Vec<String> = (0..hosts).map(|h| format!("host{h}.example.com")).collect();
        let mut k = 0usize;
        group.bench_function(BenchmarkId::new("route_lookup", hosts * 5), |b| {
            b.iter(|| {
                k = k.wrapping_add(7919);
                black_box(routes.lookup(&names[k % hosts], "/p3/items/42", None))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, one_change);
criterion_main!(benches);
