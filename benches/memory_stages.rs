//! Where the bytes of a route and of an endpoint live: the heap each stage
//! of the pipeline keeps (counted by a wrapping allocator, so it is what is
//! allocated and not freed, without the allocator's own slack), at two
//! sizes, and the difference divided by the routes (or endpoints) added.
//! Stages: the manifest directory as read (its store and per-file cache),
//! the reconciler (the translation kept for the next change, the store
//! last served) with the Snapshot it published, and the compiled table.
//! The routes are `benches/routes.sh`'s (an Ingress per host, 5 paths over
//! 10 pooled Services); the endpoints one Service's, 1 000 an EndpointSlice.
//! `cargo bench --bench memory_stages` writes
//! `benches/results/memory-stages.md`.

use sluice_config::Options;
use sluice_controller::Reconciler;
use sluice_controller::sources::ManifestDir;
use sluice_proxy::RouteTable;
use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicIsize, Ordering};

#[path = "shared/pooled.rs"]
mod pooled;

/// The system allocator, counting the bytes live.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller's contract for `alloc`.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as the caller's contract for `dealloc`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as the caller's contract for `realloc`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Bytes each stage keeps: manifests read, reconciled (with the Snapshot), compiled.
fn stages(files: &[(String, String)]) -> [isize; 3] {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let start = live();
    let mut source = ManifestDir::new(dir.path());
    let loaded = source.load().unwrap();
    let read = live() - start;
    let mut reconciler = Reconciler::new(Options::default());
    let published = reconciler.reconcile(loaded.store, loaded.diagnostics);
    let reconciled = live() - start - read;
    let table = RouteTable::compile(&published.snapshot, None);
    let compiled = live() - start - read - reconciled;
    drop((table, published, reconciler, source));
    [read, reconciled, compiled]
}

/// `hosts` Ingresses of 5 paths over the 10 pools, one file.
fn routes(hosts: usize) -> Vec<(String, String)> {
    let mut yaml = pooled::pools();
    for h in 0..hosts {
        yaml += &pooled::ingress(&format!("h{h}"), &format!("host{h}.example.com"), h);
    }
    vec![("routes.yaml".into(), yaml)]
}

/// One Service with `n` endpoints behind one route, 1 000 an EndpointSlice.
fn endpoints(n: usize) -> Vec<(String, String)> {
    let mut yaml = String::from(
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: big}\nspec: {ports: [{port: 80, targetPort: 8080}]}\n\
         ---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: big}\nspec:\n  ingressClassName: sluice\n  rules: [{host: big.example.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: big, port: {number: 80}}}}]}}]\n",
    );
    for s in 0..n.div_ceil(1000) {
        let _ = write!(
            yaml,
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: big-{s}, labels: {{kubernetes.io/service-name: big}}}}\naddressType: IPv4\nports: [{{port: 8080}}]\nendpoints:\n"
        );
        for i in s * 1000..((s + 1) * 1000).min(n) {
            let _ = writeln!(yaml, "- addresses: [\"127.{}.{}.{}\"]", 1 + i / 65536, i / 256 % 256, i % 256);
        }
    }
    vec![("endpoints.yaml".into(), yaml)]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let (small, large) = (100, 10_000);
    let (few, many) = (0, 20_000);
    let r_small = stages(&routes(small));
    let r_large = stages(&routes(large));
    let e_few = stages(&endpoints(few));
    let e_many = stages(&endpoints(many));
    let names = ["manifests read (store, file cache)", "reconciled (translation kept, Snapshot)", "compiled table"];
    let mut md = String::from("# Bytes per route and per endpoint, by stage\n\n");
    let _ = writeln!(
        md,
        "Heap kept by each stage (allocated and not freed, counted by a wrapping allocator: no allocator slack), \
         the difference between {small} and {large} hosts of 5 routes (an Ingress per host over 10 pooled Services, as \
         `benches/routes.sh` writes them) divided by the routes added, and between {few} and {many} endpoints of one \
         Service divided by the endpoints added. Command: `cargo bench --bench memory_stages`.\n"
    );
    let _ = writeln!(md, "| stage | bytes per route | bytes per endpoint | at {} routes, MiB |", large * 5);
    let _ = writeln!(md, "|---|---|---|---|");
    let routes_added = ((large - small) * 5) as f64;
    let endpoints_added = (many - few) as f64;
    for (i, name) in names.iter().enumerate() {
        let _ = writeln!(
            md,
            "| {name} | {:.0} | {:.0} | {:.1} |",
            (r_large[i] - r_small[i]) as f64 / routes_added,
            (e_many[i] - e_few[i]) as f64 / endpoints_added,
            r_large[i] as f64 / 1048576.0
        );
    }
    let total = |v: &[isize; 3]| v.iter().sum::<isize>();
    let _ = writeln!(
        md,
        "| all | {:.0} | {:.0} | {:.1} |",
        (total(&r_large) - total(&r_small)) as f64 / routes_added,
        (total(&e_many) - total(&e_few)) as f64 / endpoints_added,
        total(&r_large) as f64 / 1048576.0
    );
    let _ = writeln!(
        md,
        "\nInline sizes (before what they point to): a Snapshot `Route` {} bytes, its `RoutePolicy` {}, a compiled route {}, a cluster endpoint {}.",
        std::mem::size_of::<sluice_config::Route>(),
        std::mem::size_of::<sluice_config::RoutePolicy>(),
        std::mem::size_of::<sluice_proxy::CompiledRoute>(),
        std::mem::size_of::<sluice_config::Endpoint>(),
    );
    let out = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/results/memory-stages.md");
    std::fs::write(&out, &md).unwrap();
    print!("{md}");
}
