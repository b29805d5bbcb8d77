//! `sluice demo` as a user runs it (without a terminal it exits after its steps).

mod common;
use common::*;
use std::process::{Command, Stdio};

#[test]
fn the_demo_shows_the_split_moving() {
    let http = format!("127.0.0.1:{}", free_port(&["127.0.0.1"]));
    let admin = format!("127.0.0.1:{}", free_port(&["127.0.0.1"]));
    let https = format!("127.0.0.1:{}", free_port(&["127.0.0.1"]));
    let out = Command::new(BIN)
        .args(["demo", "--step-ms", "0", "--http-listen", &http, "--admin-listen", &admin, "--https-listen", &https])
        .stdin(Stdio::null())
        .output()
        .expect("run the demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for (weight, blue, green) in [(30, 70, 30), (50, 50, 50), (100, 0, 100), (0, 100, 0)] {
        let line = text.lines().find(|l| l.contains(&format!("canary-weight {weight:>3}:"))).expect("a step line");
        assert!(line.contains(&format!("blue {blue:>3}%")) && line.contains(&format!("green {green:>3}%")), "{line}");
        assert!(!line.contains("failed"), "{line}");
    }
    assert!(text.contains("with X-Canary: always at weight 0 -> green"), "{text}");
    assert!(std::net::TcpStream::connect(&http).is_err(), "the demo stopped its proxy");
}
