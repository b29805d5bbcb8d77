//! `sluice convert FILE` (seed ingress → networkextension Ingress YAML;
//! `--to gateway`: Ingresses → Gateway API YAML) and `sluice crd` (the CRDs
//! generated from the Rust types).

use crate::cli::{ConvertArgs, ConvertTarget};
use kube::CustomResourceExt;
use sluice_controller::Object;
use sluice_controller::bcs::{BcsIngress, convert_seed};
use sluice_controller::sources::parse_manifest;
use std::process::ExitCode;

/// Exit 0: converted; 1: the file holds no seed ingress; 2: unreadable.
pub fn run(args: &ConvertArgs) -> ExitCode {
    let name = args.file.display().to_string();
    let parsed =
        match std::fs::read_to_string(&args.file).map_err(|e| e.to_string()).and_then(|t| parse_manifest(&t, &name)) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("sluice convert: cannot read {name}: {e}");
                return ExitCode::from(2);
            }
        };
    for d in &parsed.diagnostics {
        eprintln!("{d}");
    }
    if args.to == ConvertTarget::Gateway {
        return to_gateway(&parsed.objects, &name, &args.gateway_namespace);
    }
    let mut out = String::new();
    for object in &parsed.objects {
        let Object::SeedIngress(seed) = object else {
            eprintln!("{}: not a seed ingress; skipped", object.object_ref());
            continue;
        };
        let converted = convert_seed(seed, args.http_port);
        let yaml = match serde_saphyr::to_string(&converted.ingress) {
            Ok(y) => y,
            Err(e) => {
                eprintln!("{}: cannot write YAML: {e}", object.object_ref());
                continue;
            }
        };
        out += "---\n";
        out += &format!("# Converted by sluice convert from {} ({name}).\n", object.object_ref());
        for note in &converted.notes {
            out += &format!("# NOTE {note}\n");
        }
        out += &yaml;
    }
    if out.is_empty() {
        eprintln!("sluice convert: {name} holds no seed ingress (kind: ingress)");
        return ExitCode::from(1);
    }
    print!("{out}");
    ExitCode::SUCCESS
}

/// Ingresses to Gateway API objects. Exit 0: converted; 1: no Ingress.
fn to_gateway(objects: &[Object], name: &str, gateway_namespace: &str) -> ExitCode {
    let ingresses: Vec<_> = objects
        .iter()
        .filter_map(|o| match o {
            Object::Ingress(i) => Some(&**i),
            _ => None,
        })
        .collect();
    let services: Vec<_> = objects
        .iter()
        .filter_map(|o| match o {
            Object::Service(s) => Some(&**s),
            _ => None,
        })
        .collect();
    if ingresses.is_empty() {
        eprintln!("sluice convert: {name} holds no Ingress");
        return ExitCode::from(1);
    }
    let mut out = String::new();
    for doc in sluice_controller::gateway_convert::ingresses_to_gateway(&ingresses, &services, gateway_namespace) {
        if doc.object.is_null() {
            for note in &doc.notes {
                eprintln!("{}: {note}", doc.source);
            }
            continue;
        }
        let yaml = match serde_saphyr::to_string(&doc.object) {
            Ok(y) => y,
            Err(e) => {
                eprintln!("{}: cannot write YAML: {e}", doc.source);
                continue;
            }
        };
        out += "---\n";
        out += &format!("# Converted by sluice convert --to gateway from {} ({name}).\n", doc.source);
        for note in &doc.notes {
            out += &format!("# NOTE {note}\n");
        }
        out += &yaml;
    }
    print!("{out}");
    ExitCode::SUCCESS
}

/// The CRD YAML of every custom resource Sluice reads.
pub fn crd_yaml() -> Result<String, String> {
    serde_saphyr::to_string(&BcsIngress::crd()).map(|y| format!("---\n{y}")).map_err(|e| e.to_string())
}

pub fn print_crds() -> ExitCode {
    match crd_yaml() {
        Ok(y) => {
            print!("{y}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sluice crd: {e}");
            ExitCode::from(1)
        }
    }
}
