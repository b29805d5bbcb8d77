//! One manifest file's text (YAML or JSON, several documents, `List` kinds)
//! into typed objects, each problem a diagnostic naming the object and field.

use super::ingress_v1beta1;
use crate::names::is_dns1123_subdomain;
use crate::object::{Kind, Object};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sluice_config::{Diagnostic, ObjectRef};

/// What one file holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedFile {
    pub objects: Vec<Object>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses a manifest file. `Err` when the text is not YAML or JSON at all
/// (then nothing of it can be trusted); object-level problems are diagnostics.
pub fn parse_manifest(text: &str, file: &str) -> Result<ParsedFile, String> {
    let docs: Vec<Value> = serde_saphyr::from_multiple_with_options(text, yaml_options()).map_err(|e| e.to_string())?;
    let mut out = ParsedFile::default();
    for (i, doc) in docs.into_iter().enumerate() {
        read_value(doc, file, &format!("document {}", i + 1), &mut out);
    }
    Ok(out)
}

/// The parser's defaults (1 024 documents, 250 000 nodes a file) refuse the
/// manifest dumps of a large cluster; nesting depth and alias expansion stay
/// bounded, which is what protects against hostile YAML.
fn yaml_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_documents = 1_000_000;
    budget.max_nodes = 100_000_000;
    budget.max_events = 400_000_000;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

fn str_at<'v>(v: &'v Value, pointer: &str) -> Option<&'v str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// The metadata as the API server would hold it: the namespace filled in
/// (or dropped for a cluster-scoped kind), the seed's `annotation` read as
/// `annotations`.
fn normalise_metadata(doc: &mut Value, k: Kind, namespace: &str) {
    let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    if k == Kind::SeedIngress
        && let Some(a) = meta.remove("annotation")
    {
        meta.entry("annotations").or_insert(a);
    }
    if k.namespaced() {
        meta.insert("namespace".into(), Value::String(namespace.to_owned()));
    } else {
        meta.remove("namespace");
    }
}

/// Whether the object's metadata names it validly: `Err` is (field, why).
fn check_identity(k: Kind, doc: &Value, name: &str, namespace: &str) -> Result<(), (&'static str, String)> {
    if !doc.get("metadata").is_some_and(Value::is_object) {
        return Err(("metadata", "required".into()));
    }
    if name.is_empty() {
        return Err(("metadata.name", "required".into()));
    }
    if !is_dns1123_subdomain(name) {
        return Err(("metadata.name", format!("'{name}' is not a valid name (lower-case RFC 1123 subdomain)")));
    }
    if k.namespaced() && !is_dns1123_subdomain(namespace) {
        return Err(("metadata.namespace", format!("'{namespace}' is not a valid namespace")));
    }
    Ok(())
}

/// The input kind of an apiVersion and kind, if Sluice reads it.
fn kind_of(api: &str, kind: &str) -> Option<Kind> {
    match (api, kind) {
        ("networking.k8s.io/v1", "Ingress") => Some(Kind::Ingress),
        ("extensions/v1beta1" | "networking.k8s.io/v1beta1", "Ingress") => Some(Kind::Ingress),
        ("networking.k8s.io/v1", "IngressClass") => Some(Kind::IngressClass),
        ("v1", "Service") => Some(Kind::Service),
        ("discovery.k8s.io/v1", "EndpointSlice") => Some(Kind::EndpointSlice),
        ("v1", "Endpoints") => Some(Kind::Endpoints),
        ("v1", "Pod") => Some(Kind::Pod),
        ("v1", "Secret") => Some(Kind::Secret),
        ("v1", "ConfigMap") => Some(Kind::ConfigMap),
        ("v1", "Namespace") => Some(Kind::Namespace),
        ("networkextension.bkbcs.tencent.com/v1", "Ingress") => Some(Kind::BcsIngress),
        // Gateway API: v1beta1 is still served with the v1 schema.
        ("gateway.networking.k8s.io/v1" | "gateway.networking.k8s.io/v1beta1", kind) => match kind {
            "GatewayClass" => Some(Kind::GatewayClass),
            "Gateway" => Some(Kind::Gateway),
            "HTTPRoute" => Some(Kind::HttpRoute),
            "ReferenceGrant" => Some(Kind::ReferenceGrant),
            "TLSRoute" => Some(Kind::TlsRoute),
            "GRPCRoute" => Some(Kind::GrpcRoute),
            "BackendTLSPolicy" => Some(Kind::BackendTlsPolicy),
            "ListenerSet" => Some(Kind::ListenerSet),
            _ => None,
        },
        // v1alpha3 is still served beside v1, with the same schema.
        ("gateway.networking.k8s.io/v1alpha3", "BackendTLSPolicy") => Some(Kind::BackendTlsPolicy),
        // Still served in the experimental channel with the same schema.
        ("gateway.networking.k8s.io/v1alpha2" | "gateway.networking.k8s.io/v1alpha3", "TLSRoute") => {
            Some(Kind::TlsRoute)
        }
        ("gateway.networking.k8s.io/v1alpha2", "TCPRoute") => Some(Kind::TcpRoute),
        ("gateway.networking.k8s.io/v1alpha2", "UDPRoute") => Some(Kind::UdpRoute),
        // The seed's form B lost its apiVersion to transcription: any goes.
        (_, "ingress") => Some(Kind::SeedIngress),
        _ => None,
    }
}

fn read_value(mut doc: Value, file: &str, at: &str, out: &mut ParsedFile) {
    let whence = format!("{file}, {at}");
    if doc.is_null() {
        return;
    }
    if !doc.is_object() {
        out.diagnostics.push(Diagnostic::error(
            ObjectRef::file(file),
            at,
            "is not a mapping with apiVersion and kind; ignored",
        ));
        return;
    }
    // The seed's weighted ingress (form B) lost its apiVersion to transcription;
    // documents copied from it have none.
    let api = str_at(&doc, "/apiVersion").or_else(|| (str_at(&doc, "/kind") == Some("ingress")).then_some("v1"));
    let (Some(api), Some(kind)) = (api, str_at(&doc, "/kind")) else {
        out.diagnostics.push(Diagnostic::error(ObjectRef::file(file), at, "has no apiVersion and kind; ignored"));
        return;
    };
    let (api, kind) = (api.to_owned(), kind.to_owned());
    if kind.ends_with("List") && doc.get("items").is_some_and(Value::is_array) {
        if let Some(Value::Array(items)) = doc.get_mut("items").map(Value::take) {
            for (j, item) in items.into_iter().enumerate() {
                read_value(item, file, &format!("{at} items[{j}]"), out);
            }
        }
        return;
    }
    let name = str_at(&doc, "/metadata/name").unwrap_or("").to_owned();
    let namespace = str_at(&doc, "/metadata/namespace").unwrap_or("").to_owned();
    let known = kind_of(&api, &kind);
    let Some(k) = known else {
        out.diagnostics.push(Diagnostic::info(
            ObjectRef::new(kind.as_str(), namespace, name),
            "",
            format!("{api} {kind} is not read by Sluice; ignored ({whence})"),
        ));
        return;
    };
    let namespace = if k.namespaced() && namespace.is_empty() { "default".to_owned() } else { namespace };
    let r = ObjectRef::new(k.as_str(), if k.namespaced() { namespace.as_str() } else { "" }, name.as_str());
    if let Err((field, message)) = check_identity(k, &doc, &name, &namespace) {
        out.diagnostics.push(Diagnostic::error(r, field, format!("{message}; object ignored ({whence})")));
        return;
    }
    normalise_metadata(&mut doc, k, &namespace);
    let object = if k == Kind::Ingress && api.ends_with("v1beta1") {
        let converted = ingress_v1beta1::convert(doc);
        if converted.is_ok() {
            out.diagnostics.push(Diagnostic::info(
                r.clone(),
                "apiVersion",
                format!("{api} is removed from Kubernetes since 1.22; read as networking.k8s.io/v1"),
            ));
        }
        converted.and_then(typed::<k8s_openapi::api::networking::v1::Ingress>).map(Object::new)
    } else {
        typed_object(k, doc)
    };
    match object {
        Ok(o) => out.objects.push(o),
        Err((path, message)) => {
            out.diagnostics.push(Diagnostic::error(r, path, format!("{message}; object ignored ({whence})")))
        }
    }
}

macro_rules! define_typed_object {
    ($($kind:ident($ty:ty) $field:ident $name:expr, $namespaced:expr;)*) => {
        /// `doc` as an object of `kind`.
        fn typed_object(kind: Kind, doc: Value) -> Result<Object, (String, String)> {
            match kind {
                $(Kind::$kind => typed::<$ty>(doc).map(Object::new),)*
            }
        }
    };
}

crate::kinds::for_each_kind!(define_typed_object);

/// Deserialises with the path of the first bad field, e.g.
/// `spec.rules[0].http.paths[0].backend.service.port.number`.
fn typed<T: DeserializeOwned>(v: Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        (path, e.into_inner().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_config::Severity;

    #[test]
    fn several_documents_lists_and_unknown_kinds() {
        let text = r#"
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a}
  spec: {ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
---
{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "prod"}}
"#;
        let f = parse_manifest(text, "x.yaml").unwrap();
        let refs: Vec<String> = f.objects.iter().map(|o| o.object_ref().to_string()).collect();
        assert_eq!(refs, ["Service/default/a", "Secret/prod/s"]);
        assert_eq!(f.diagnostics.len(), 1);
        assert_eq!(f.diagnostics[0].severity, Severity::Info);
        assert_eq!(f.diagnostics[0].object.kind, "Deployment");
    }

    #[test]
    fn a_wrong_type_names_the_field() {
        let text = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
  - http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: a, port: {number: eighty}}}
"#;
        let f = parse_manifest(text, "x.yaml").unwrap();
        assert!(f.objects.is_empty());
        let d = &f.diagnostics[0];
        assert_eq!(d.severity, Severity::Error);
        assert_eq!(d.object.to_string(), "Ingress/default/web");
        assert_eq!(d.field, "spec.rules[0].http.paths[0].backend.service.port.number");
    }

    #[test]
    fn large_files_are_read_whole() {
        let doc = "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n";
        let f = parse_manifest(&doc.repeat(5000), "big.yaml").unwrap();
        assert_eq!(f.objects.len(), 5000);
    }

    #[test]
    fn broken_yaml_is_an_error_of_the_whole_file() {
        assert!(parse_manifest("kind: Service\n  metadata: [", "x.yaml").is_err());
    }
}
