//! `sluice check` as a user runs it: the real binary on example directories.

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn check(dir: &Path, args: &[&str]) -> (i32, Value, String) {
    let out = Command::cargo_bin("sluice").unwrap().arg("check").arg(dir).args(args).output().unwrap();
    let json =
        if out.stdout.is_empty() { Value::Null } else { serde_json::from_slice(&out.stdout).expect("stdout is JSON") };
    (out.status.code().unwrap_or(-1), json, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Each example prints the Snapshot kept in `tests/expected/NAME.json`.
/// After a deliberate change of the output: `SLUICE_BLESS=1 cargo test --test check_cli`.
#[test]
fn examples_print_their_expected_snapshots() {
    for name in ["blue-green", "fanout", "tls", "services", "bcs", "bcs-crd"] {
        let (code, got, stderr) = check(&root().join("examples").join(name), &[]);
        assert_eq!(code, 0, "{name}: {stderr}");
        let expected_path = root().join("tests/expected").join(format!("{name}.json"));
        if std::env::var_os("SLUICE_BLESS").is_some() {
            std::fs::write(&expected_path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        }
        let expected: Value = serde_json::from_str(&std::fs::read_to_string(&expected_path).unwrap()).unwrap();
        assert_eq!(got, expected, "{name}: output differs from {}", expected_path.display());
    }
}

/// What a user checks by eye in the blue-green example.
#[test]
fn blue_green_example_routes_each_host_to_its_own_ready_pods() {
    let (_, out, _) = check(&root().join("examples/blue-green"), &[]);
    let vhosts = &out["snapshot"]["routeConfigs"][0]["virtualHosts"];
    let route = |host: &str| {
        vhosts.as_array().unwrap().iter().find(|v| v["host"] == host).unwrap()["routes"][0]["split"][0]["cluster"]
            .clone()
    };
    assert_eq!(route("blue.bk.tencent.com"), "dev/web-nginx-blue:80");
    assert_eq!(route("green.bk.tencent.com"), "dev/web-nginx-green:80");
    let green =
        out["snapshot"]["clusters"].as_array().unwrap().iter().find(|c| c["name"] == "dev/web-nginx-green:80").unwrap();
    let addrs: Vec<&str> =
        green["endpoints"].as_array().unwrap().iter().map(|e| e["address"].as_str().unwrap()).collect();
    assert_eq!(addrs, ["192.0.2.21:80", "192.0.2.22:80"], "the starting Pod is left out");
    assert_eq!(green["endpoints"][1]["terminating"], true);
}

#[test]
fn the_private_key_never_reaches_the_output() {
    let (code, out, _) = check(&root().join("examples/tls"), &[]);
    assert_eq!(code, 0);
    let text = out.to_string();
    assert!(!text.contains("PRIVATE KEY"));
    assert_eq!(out["snapshot"]["certificates"][0]["keyPem"], "(redacted)");
}

#[test]
fn exit_1_on_errors_with_the_diagnostic_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ing.yaml"),
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\nspec:\n  ingressClassName: sluice\n  rules: [{host: a.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: missing, port: {number: 80}}}}]}}]\n",
    )
    .unwrap();
    let (code, out, stderr) = check(dir.path(), &[]);
    assert_eq!(code, 1);
    let d = &out["diagnostics"][0];
    assert_eq!(d["severity"], "error");
    assert_eq!(d["object"]["kind"], "Ingress");
    assert_eq!(d["object"]["name"], "web");
    assert_eq!(d["field"], "spec.rules[0].http.paths[0].backend.service.name");
    assert!(stderr.contains("error: Ingress/default/web spec.rules[0].http.paths[0].backend.service.name: Service default/missing not found"), "{stderr}");
}

#[test]
fn exit_2_when_the_directory_cannot_be_read() {
    let (code, out, stderr) = check(Path::new("/nonexistent/sluice-manifests"), &[]);
    assert_eq!(code, 2);
    assert_eq!(out, Value::Null);
    assert!(stderr.contains("cannot read /nonexistent/sluice-manifests"), "{stderr}");
}

#[test]
fn flags_shape_the_snapshot() {
    let (code, out, _) = check(
        &root().join("examples/fanout"),
        &["--ingress-class", "qcloud", "--http-listen", "127.0.0.1:8080", "--https-listen", "127.0.0.1:8443"],
    );
    assert_eq!(code, 0);
    assert_eq!(out["snapshot"]["listeners"][0]["address"], "127.0.0.1:8080");
    assert_eq!(out["snapshot"]["listeners"][1]["address"], "127.0.0.1:8443");
    let hosts: Vec<&str> = out["snapshot"]["routeConfigs"][0]["virtualHosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["test.icabe.game"], "only the qcloud-class Ingress is served");
}

#[test]
fn help_and_version() {
    let out = Command::cargo_bin("sluice").unwrap().arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("check"));
    let out = Command::cargo_bin("sluice").unwrap().arg("--version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("sluice {}", env!("CARGO_PKG_VERSION")));
}
