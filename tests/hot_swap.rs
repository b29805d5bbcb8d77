//! Hot swap under load: while 64 connections keep requests flowing, the
//! manifests flip a blue-green split 100 times. No request may fail, and
//! every flip must become live; the propagation time from file change to the
//! first request served by the new side is measured and reported.

mod common;
use common::*;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn canary(weight: u32) -> String {
    ingress("canary", "shop.example.com", "/", "green", &[("canary", "true"), ("canary-weight", &weight.to_string())])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_flips_under_load_lose_nothing() {
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let blue: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    let green: SocketAddr = format!("127.0.0.3:{port}").parse().unwrap();
    let _b = echo("blue", &[blue], None);
    let _g = echo("green", &[green], None);
    let base =
        service("blue", &[blue]) + &service("green", &[green]) + &ingress("main", "shop.example.com", "/", "blue", &[]);
    let s = Sluice::start(&[("base.yaml", &base), ("canary.yaml", &canary(0))], &[]);
    let origin = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    // Time (µs since origin) at which each side was last seen answering.
    let seen_green = Arc::new(AtomicU64::new(0));
    let seen_blue = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let served = Arc::new(AtomicU64::new(0));

    let c = client();
    let mut load = Vec::new();
    for _ in 0..64 {
        let (c, stop, seen_green, seen_blue, failures, served) =
            (c.clone(), stop.clone(), seen_green.clone(), seen_blue.clone(), failures.clone(), served.clone());
        let to = s.http;
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match send(&c, to, "GET", "shop.example.com", "/", &[], vec![]).await {
                    Ok(r) if r.status == 200 => {
                        let now = origin.elapsed().as_micros() as u64;
                        let side = if r.backend == "green" { &seen_green } else { &seen_blue };
                        side.fetch_max(now, Ordering::Relaxed);
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => {
                        eprintln!("failed request: status {}", r.status);
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        eprintln!("failed request: {e}");
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut propagation = Vec::new();
    for flip in 0..100 {
        let to_green = flip % 2 == 0;
        let written = origin.elapsed().as_micros() as u64;
        write(&s.path(), "canary.yaml", &canary(if to_green { 100 } else { 0 }));
        let side = if to_green { &seen_green } else { &seen_blue };
        let deadline = Instant::now() + Duration::from_secs(5);
        // The first answer from the new side after the write: the split is live.
        while side.load(Ordering::Relaxed) <= written {
            assert!(Instant::now() < deadline, "flip {flip} never became live; log:\n{}", s.log());
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        let first_new = side.load(Ordering::Relaxed);
        propagation.push(Duration::from_micros(first_new.saturating_sub(written)));
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    propagation.sort();
    let pct = |p: f64| propagation[((propagation.len() as f64 - 1.0) * p).round() as usize];
    eprintln!(
        "hot swap: {} requests served, {} failed; propagation over 100 flips: p50 {:?}, p99 {:?}, max {:?}",
        served.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
        pct(0.5),
        pct(0.99),
        propagation.last().unwrap()
    );
    assert_eq!(failures.load(Ordering::Relaxed), 0, "no request may fail during swaps");
    assert!(served.load(Ordering::Relaxed) > 1000, "the load kept requests flowing");
}
