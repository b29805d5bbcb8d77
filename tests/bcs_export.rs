//! The seed's Service export labels end to end (seeds-digest T-08, T-09,
//! T-10): invalid weights, BCSBALANCE, BCSGROUP, against real backends.

mod common;
use common::*;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

/// Service `name` with endpoints `addrs`, exported with `labels` (YAML flow
/// map entries) by the domain `<name>.bcs.com`.
fn exported(name: &str, addrs: &[SocketAddr], labels: &str) -> String {
    service(name, addrs).replace(
        &format!("metadata: {{name: {name}, namespace: default}}"),
        &format!(
            "metadata: {{name: {name}, namespace: default, labels: {{{labels}}}, annotations: {{bcs.tencent.com/domain: {name}.bcs.com}}}}"
        ),
    )
}

fn three(port: u16) -> Vec<SocketAddr> {
    ["127.0.0.2", "127.0.0.3", "127.0.0.4"].iter().map(|ip| format!("{ip}:{port}").parse().unwrap()).collect()
}

fn backends(addrs: &[SocketAddr]) -> Vec<Proc> {
    ["a", "b", "c"].iter().zip(addrs).map(|(n, a)| echo(n, &[*a], None)).collect()
}

async fn diagnostics(s: &Sluice) -> Vec<serde_json::Value> {
    let r = get(&client(), s.admin, "admin", "/debug/snapshot").await;
    r.json()["diagnostics"].as_array().cloned().unwrap_or_default()
}

async fn wait_diagnostic(s: &Sluice, found: impl Fn(&[serde_json::Value]) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let d = diagnostics(s).await;
        if found(&d) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "diagnostic never shown: {d:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// T-08: a BCS-WEIGHT that is not a string holding an integer ≥ 0 is an
/// error on that Service, naming the label; a Service never valid is not
/// exported, one that was keeps serving its last good form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t08_invalid_weights_are_named_and_lose_nothing() {
    let port = free_port(&["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    let addrs = three(port);
    let _b = backends(&addrs);
    let good = exported("good", &addrs, "BCSGROUP: external, BCS-WEIGHT-a: \"1\"");
    let bad = |v: &str| exported("bad", &addrs, &format!("BCSGROUP: external, BCS-WEIGHT-a: {v}"));
    let s = Sluice::start(&[("good.yaml", &good), ("bad.yaml", &bad("\"-1\""))], &[]);
    let c = client();
    assert_eq!(get(&c, s.http, "good.bcs.com", "/").await.status, 200);
    assert_eq!(get(&c, s.http, "bad.bcs.com", "/").await.status, 404, "never valid: not exported");
    let named = |d: &[serde_json::Value], value: &str| {
        d.iter().any(|d| {
            d["severity"] == "error"
                && d["object"]["kind"] == "Service"
                && d["object"]["name"] == "bad"
                && d["field"] == "metadata.labels[BCS-WEIGHT-a]"
                && d["message"].as_str().unwrap_or("").contains(value)
        })
    };
    assert!(named(&diagnostics(&s).await, "-1"), "{:?}", diagnostics(&s).await);

    // The Snapshot does not change with these edits, only the diagnostics.
    write(&s.path(), "bad.yaml", &bad("\"abc\""));
    wait_diagnostic(&s, |d| named(d, "abc")).await;
    // An integer-typed value is not a label (labels are strings): the object is refused.
    write(&s.path(), "bad.yaml", &bad("7"));
    wait_diagnostic(&s, |d| {
        d.iter().any(|d| {
            d["severity"] == "error"
                && d["object"]["name"] == "bad"
                && d["field"].as_str().unwrap_or("").contains("BCS-WEIGHT-a")
                && !d["message"].as_str().unwrap_or("").contains("abc")
        })
    })
    .await;

    // A Service that was good keeps serving while its new form is broken.
    write(&s.path(), "good.yaml", &exported("good", &addrs, "BCSGROUP: external, BCS-WEIGHT-a: \"x\""));
    wait_diagnostic(&s, |d| d.iter().any(|d| d["object"]["name"] == "good" && d["severity"] == "error")).await;
    for _ in 0..20 {
        assert_eq!(get(&c, s.http, "good.bcs.com", "/").await.status, 200, "the last good export serves");
    }
}

/// T-09: without BCSBALANCE, round robin; `source`, one endpoint a client;
/// `leastconn`, a long request pins one endpoint and new ones go elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t09_bcsbalance_roundrobin_source_leastconn() {
    let port = free_port(&["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    let addrs = three(port);
    let _b = backends(&addrs);
    let files = exported("rr", &addrs, "BCSGROUP: external")
        + &exported("src", &addrs, "BCSGROUP: external, BCSBALANCE: source")
        + &exported("lc", &addrs, "BCSGROUP: external, BCSBALANCE: leastconn");
    let s = Sluice::start(&[("all.yaml", &files)], &[]);
    let c = client();

    let mut seen = HashMap::<String, u32>::new();
    for _ in 0..300 {
        *seen.entry(get(&c, s.http, "rr.bcs.com", "/").await.backend).or_default() += 1;
    }
    assert_eq!(seen.values().copied().collect::<HashSet<_>>(), HashSet::from([100]), "round robin: {seen:?}");

    let mut homes = HashSet::new();
    for n in 1..=20u8 {
        let client = client_from(Some(format!("127.0.7.{n}").parse().unwrap()));
        let first = get(&client, s.http, "src.bcs.com", "/").await.backend;
        for _ in 0..20 {
            assert_eq!(get(&client, s.http, "src.bcs.com", "/").await.backend, first, "source keeps a client");
        }
        homes.insert(first);
    }
    assert!(homes.len() > 1, "clients spread over the endpoints");

    let (c2, to) = (c.clone(), s.http);
    let long = tokio::spawn(async move { get(&c2, to, "lc.bcs.com", "/sleep/2500").await.backend });
    wait_in_flight(&s, 1).await;
    let mut during = HashSet::new();
    for _ in 0..60 {
        during.insert(get(&c, s.http, "lc.bcs.com", "/").await.backend);
    }
    let pinned = long.await.unwrap();
    assert_eq!(during.len(), 2, "the other two share the new requests: {during:?}");
    assert!(!during.contains(&pinned), "{pinned} held the long request and got no new one");
}

/// T-10: only Services whose BCSGROUP names this instance's group are
/// exported; adding the group exports a Service live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t10_bcsgroup_decides_the_export() {
    let port = free_port(&["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    let addrs = three(port);
    let _b = backends(&addrs);
    let files = service("plain", &addrs).replace(
        "metadata: {name: plain, namespace: default}",
        "metadata: {name: plain, namespace: default, annotations: {bcs.tencent.com/domain: plain.bcs.com}}",
    ) + &exported("inner", &addrs, "BCSGROUP: internal")
        + &exported("both", &addrs, "BCSGROUP: \"internal,external\"");
    let s = Sluice::start(&[("all.yaml", &files)], &[]);
    let c = client();
    assert_eq!(get(&c, s.http, "plain.bcs.com", "/").await.status, 404, "no BCSGROUP: not exported");
    assert_eq!(get(&c, s.http, "inner.bcs.com", "/").await.status, 404, "another group: not exported");
    assert_eq!(get(&c, s.http, "both.bcs.com", "/").await.status, 200, "a list naming external: exported");

    write(&s.path(), "all.yaml", &files.replace("BCSGROUP: internal}", "BCSGROUP: external}"));
    wait_generation(&c, &s, 2).await;
    assert_eq!(get(&c, s.http, "inner.bcs.com", "/").await.status, 200, "exported once its group is ours");

    let other = Sluice::start(&[("all.yaml", &files)], &["--lb-group", "internal"]);
    assert_eq!(get(&c, other.http, "inner.bcs.com", "/").await.status, 200, "an internal instance serves it");
    assert_eq!(get(&c, other.http, "both.bcs.com", "/").await.status, 200);
}
