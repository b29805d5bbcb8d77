//! `sluice crd` and `sluice convert` as a user runs them.

use assert_cmd::Command;
use serde_json::Value;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sluice(args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("sluice").unwrap().args(args).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

const CRD_FILE: &str = "deploy/crds/networkextension.bkbcs.tencent.com_ingresses.yaml";

/// The shipped CRD is what the Rust type generates. After a deliberate
/// change of the type: `SLUICE_BLESS=1 cargo test --test bcs_convert`.
#[test]
fn the_shipped_crd_is_generated_from_the_type() {
    let (code, yaml, stderr) = sluice(&["crd"]);
    assert_eq!(code, 0, "{stderr}");
    if std::env::var_os("SLUICE_BLESS").is_some() {
        std::fs::write(root().join(CRD_FILE), &yaml).unwrap();
    }
    assert_eq!(yaml, std::fs::read_to_string(root().join(CRD_FILE)).unwrap(), "{CRD_FILE} is stale");
}

fn properties<'v>(schema: &'v Value, path: &[&str]) -> Vec<&'v str> {
    let mut at = schema;
    for p in path {
        at = if *p == "[]" { &at["items"] } else { &at["properties"][*p] };
    }
    let mut names: Vec<&str> = at["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{}", path.join(".")))
        .keys()
        .map(|k| k.as_str())
        .collect();
    names.sort();
    names
}

/// The CRD's group, names and fields are those of bk-bcs's (peers.md §6.2).
#[test]
fn the_crd_has_the_bcs_group_names_and_fields() {
    let text = std::fs::read_to_string(root().join(CRD_FILE)).unwrap();
    let crd: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(crd["spec"]["group"], "networkextension.bkbcs.tencent.com");
    assert_eq!(crd["spec"]["names"]["kind"], "Ingress");
    assert_eq!(crd["spec"]["names"]["plural"], "ingresses");
    assert_eq!(crd["spec"]["names"]["shortNames"][0], "bcsingress");
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(crd["spec"]["versions"][0]["name"], "v1");
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    assert_eq!(properties(schema, &["spec"]), ["portMappings", "rules"]);
    assert_eq!(
        properties(schema, &["spec", "rules", "[]"]),
        ["certificate", "layer7Routes", "listenerAttribute", "port", "protocol", "services"]
    );
    assert_eq!(
        properties(schema, &["spec", "rules", "[]", "services", "[]"]),
        [
            "hostPort",
            "isDirectConnect",
            "serviceKind",
            "serviceName",
            "serviceNamespace",
            "servicePort",
            "subsets",
            "weight"
        ]
    );
    assert_eq!(
        properties(schema, &["spec", "rules", "[]", "layer7Routes", "[]"]),
        ["certificate", "domain", "forwardType", "listenerAttribute", "path", "services"]
    );
    assert_eq!(
        properties(schema, &["spec", "rules", "[]", "listenerAttribute"]),
        [
            "awsAttributes",
            "backendInsecure",
            "healthCheck",
            "keepAliveEnable",
            "lbPolicy",
            "maxRate",
            "priority",
            "sessionTime",
            "sessionType",
            "sniSwitch",
            "uptimeCheck"
        ]
    );
    assert_eq!(
        properties(schema, &["spec", "rules", "[]", "listenerAttribute", "healthCheck"]),
        [
            "enabled",
            "healthCheckPort",
            "healthCheckProtocol",
            "healthNum",
            "httpCheckMethod",
            "httpCheckPath",
            "httpCode",
            "httpCodeValues",
            "intervalTime",
            "timeout",
            "unHealthNum"
        ]
    );
    assert_eq!(properties(schema, &["spec", "rules", "[]", "certificate"]), ["certCaID", "certID", "mode"]);
}

/// The seed's T-01/T-02 ingress converted: the CRD routes the same host,
/// first path and ports to the same Services, and says what differs.
#[test]
fn convert_turns_the_seed_ingress_into_an_equivalent_crd() {
    let (code, yaml, stderr) = sluice(&["convert", root().join("examples/bcs/ingress-demo.json").to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(yaml.contains("# NOTE spec.lbGroup 'external'"), "{yaml}");
    assert!(yaml.contains("shares per Service"), "{yaml}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("crd.yaml"), &yaml).unwrap();
    std::fs::copy(root().join("examples/bcs/services.yaml"), dir.path().join("services.yaml")).unwrap();
    let (code, out, stderr) = sluice(&["check", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "the converted ingress and the seed's Services check clean: {stderr}");
    let snap: Value = serde_json::from_str(&out).unwrap();
    let listeners: Vec<&str> =
        snap["snapshot"]["listeners"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert!(listeners.contains(&"tcp-8083"), "{listeners:?}");
    let seed: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("examples/bcs/ingress-demo.json")).unwrap()).unwrap();
    let crd: Value = serde_saphyr::from_str(yaml.split("---\n").nth(1).unwrap()).unwrap();
    let http = &seed["spec"]["rules"][0]["httpIngress"];
    let route = &crd["spec"]["rules"][0]["layer7Routes"][0];
    assert_eq!(crd["spec"]["rules"][0]["protocol"], "HTTP");
    assert_eq!(route["domain"], http["host"]);
    assert_eq!(route["path"], http["paths"][0]["path"]);
    let names = |v: &Value| -> Vec<(String, i64)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["serviceName"].as_str().unwrap().to_owned(),
                    b["weight"].as_i64().unwrap_or_else(|| b["weight"]["value"].as_i64().unwrap()),
                )
            })
            .collect()
    };
    assert_eq!(names(&route["services"]), names(&http["paths"][0]["backend"]));
    let tcp = seed["spec"]["rules"].as_array().unwrap().iter().find(|r| r["kind"] == "TCP").unwrap();
    let crd_tcp = crd["spec"]["rules"].as_array().unwrap().iter().find(|r| r["protocol"] == "TCP").unwrap();
    assert_eq!(crd_tcp["port"], tcp["tcpIngress"]["listenPort"]);
    assert_eq!(names(&crd_tcp["services"]), names(&tcp["tcpIngress"]["backend"]));
}

#[test]
fn convert_refuses_a_file_without_a_seed_ingress() {
    let (code, _, stderr) = sluice(&["convert", root().join("examples/blue-green/ingresses.yaml").to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no seed ingress"), "{stderr}");
}
