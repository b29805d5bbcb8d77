//! The deployment manifests under `deploy/`: they parse, their RBAC grants
//! what the cluster source and the status writer use (and no more verbs),
//! and their containers pass only flags `sluice run` has.

use serde_json::Value;
use std::path::PathBuf;

fn docs(name: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_saphyr::from_multiple::<Value>(&text).unwrap().into_iter().filter(|d| !d.is_null()).collect()
}

fn kind<'d>(docs: &'d [Value], kind: &str) -> Vec<&'d Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// The verbs a rule list grants on `group`/`resource`.
fn verbs(rules: &Value, group: &str, resource: &str) -> Vec<String> {
    let mut out = Vec::new();
    for r in rules.as_array().unwrap() {
        let has = |key: &str, v: &str| r[key].as_array().unwrap().iter().any(|x| x == v);
        if has("apiGroups", group) && has("resources", resource) {
            out.extend(r["verbs"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()));
        }
    }
    out
}

#[test]
fn rbac_grants_what_sluice_uses() {
    let rbac = docs("rbac.yaml");
    let cluster_role = &kind(&rbac, "ClusterRole")[0]["rules"];
    // What the cluster source watches (controller/src/sources/cluster.rs).
    for (group, resource) in [
        ("networking.k8s.io", "ingresses"),
        ("networking.k8s.io", "ingressclasses"),
        ("", "services"),
        ("discovery.k8s.io", "endpointslices"),
        ("", "pods"),
        ("", "secrets"),
        ("", "configmaps"),
        ("", "namespaces"),
        ("networkextension.bkbcs.tencent.com", "ingresses"),
        ("gateway.networking.k8s.io", "gatewayclasses"),
        ("gateway.networking.k8s.io", "gateways"),
        ("gateway.networking.k8s.io", "httproutes"),
        ("gateway.networking.k8s.io", "grpcroutes"),
        ("gateway.networking.k8s.io", "tlsroutes"),
        ("gateway.networking.k8s.io", "tcproutes"),
        ("gateway.networking.k8s.io", "udproutes"),
        ("gateway.networking.k8s.io", "referencegrants"),
        ("gateway.networking.k8s.io", "backendtlspolicies"),
        ("gateway.networking.k8s.io", "listenersets"),
    ] {
        let v = verbs(cluster_role, group, resource);
        assert!(v.contains(&"list".into()) && v.contains(&"watch".into()), "{group}/{resource}: {v:?}");
        assert!(!v.iter().any(|v| ["create", "update", "patch", "delete"].contains(&v.as_str())), "read only: {v:?}");
    }
    // What the status writer writes (controller/src/status.rs).
    for group in ["networking.k8s.io", "networkextension.bkbcs.tencent.com"] {
        assert!(verbs(cluster_role, group, "ingresses/status").contains(&"patch".into()), "{group}");
    }
    let written = ["gatewayclasses", "gateways", "httproutes", "grpcroutes", "tlsroutes", "tcproutes", "udproutes"];
    for kind in written.into_iter().chain(["backendtlspolicies", "listenersets"]) {
        let status = format!("{kind}/status");
        let v = verbs(cluster_role, "gateway.networking.k8s.io", &status);
        assert!(v.contains(&"get".into()) && v.contains(&"patch".into()), "{status}: {v:?}");
    }
    assert!(verbs(cluster_role, "events.k8s.io", "events").contains(&"create".into()));
    let role = kind(&rbac, "Role")[0];
    assert_eq!(role["metadata"]["namespace"], "sluice-system", "the Lease is namespaced, not cluster-wide");
    let lease = verbs(&role["rules"], "coordination.k8s.io", "leases");
    for v in ["get", "create", "patch"] {
        assert!(lease.contains(&v.into()), "{v}");
    }
}

#[test]
fn workloads_run_sluice_with_flags_it_has() {
    let help = assert_cmd::Command::cargo_bin("sluice").unwrap().args(["run", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let workloads = [
        ("daemonset.yaml", "DaemonSet"),
        ("deployment.yaml", "Deployment"),
        ("kube-proxy-replacement.yaml", "DaemonSet"),
    ];
    for (file, workload) in workloads {
        let all = docs(file);
        let w = kind(&all, workload)[0];
        let pod = &w["spec"]["template"]["spec"];
        assert_eq!(pod["serviceAccountName"], "sluice", "{file}");
        let args = pod["containers"][0]["args"].as_array().unwrap();
        assert_eq!(args[0], "run");
        assert!(args.iter().any(|a| a == "--kube"), "{file}");
        for flag in args.iter().filter_map(|a| a.as_str()).filter(|a| a.starts_with("--")) {
            assert!(help.contains(flag), "{file}: sluice run has no {flag}");
        }
        let probe = &pod["containers"][0]["readinessProbe"]["httpGet"];
        assert_eq!(probe["path"], "/readyz", "{file}");
    }
    let ds = docs("daemonset.yaml");
    let pod = &kind(&ds, "DaemonSet")[0]["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["nodeSelector"]["custom/ingress-controller-ready"], "true");

    // In place of kube-proxy: on every node, both kernel hooks, kube-proxy's ports.
    let node = docs("kube-proxy-replacement.yaml");
    let pod = &kind(&node, "DaemonSet")[0]["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert!(pod.get("nodeSelector").is_none(), "every node");
    let args: Vec<&str> = pod["containers"][0]["args"].as_array().unwrap().iter().filter_map(|a| a.as_str()).collect();
    let after = |flag: &str| args.iter().position(|a| *a == flag).map(|i| args[i + 1]);
    assert_eq!(after("--ebpf-cgroup"), Some("/sys/fs/cgroup"));
    assert!(after("--nodeport-interface").is_some());
    assert_eq!(after("--healthz-listen"), Some("0.0.0.0:10256"));
    assert!(after("--http-listen").is_some_and(|a| a.starts_with("127.0.0.1:")), "not on the node's port 80");
}
