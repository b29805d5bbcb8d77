//! `extensions/v1beta1` and `networking.k8s.io/v1beta1` Ingress (removed in
//! Kubernetes 1.22, but what most of the seed documents use) rewritten into
//! the v1 shape, so older manifest directories keep working.

use serde_json::{Map, Value, json};

/// Rewrites a v1beta1 Ingress document into v1; `Err((field, message))` when
/// a backend cannot be read.
pub(super) fn convert(mut doc: Value) -> Result<Value, (String, String)> {
    doc["apiVersion"] = json!("networking.k8s.io/v1");
    let Some(spec) = doc.get_mut("spec").and_then(Value::as_object_mut) else { return Ok(doc) };
    if let Some(backend) = spec.remove("backend") {
        spec.insert("defaultBackend".into(), backend_v1(backend, "spec.backend")?);
    }
    if let Some(Value::Array(rules)) = spec.get_mut("rules") {
        for (i, rule) in rules.iter_mut().enumerate() {
            let Some(Value::Array(paths)) = rule.pointer_mut("/http/paths") else { continue };
            for (j, path) in paths.iter_mut().enumerate() {
                let Some(p) = path.as_object_mut() else { continue };
                p.entry("pathType").or_insert_with(|| json!("ImplementationSpecific"));
                if let Some(b) = p.remove("backend") {
                    p.insert("backend".into(), backend_v1(b, &format!("spec.rules[{i}].http.paths[{j}].backend"))?);
                }
            }
        }
    }
    Ok(doc)
}

fn backend_v1(backend: Value, field: &str) -> Result<Value, (String, String)> {
    let Value::Object(mut b) = backend else {
        return Err((field.to_owned(), "must be a mapping with serviceName and servicePort".into()));
    };
    let Some(name) = b.remove("serviceName") else {
        if b.contains_key("resource") {
            return Ok(Value::Object(b));
        }
        return Err((format!("{field}.serviceName"), "required".into()));
    };
    let port = match b.remove("servicePort") {
        Some(Value::Number(n)) => json!({ "number": n }),
        Some(Value::String(s)) => match s.parse::<i32>() {
            Ok(n) => json!({ "number": n }),
            Err(_) => json!({ "name": s }),
        },
        _ => return Err((format!("{field}.servicePort"), "required (number or name)".into())),
    };
    let mut service = Map::new();
    service.insert("name".into(), name);
    service.insert("port".into(), port);
    Ok(json!({ "service": service }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1beta1_backends_become_v1_service_backends() {
        let v1 = convert(json!({
            "apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": {"name": "x"},
            "spec": {
                "backend": {"serviceName": "def", "servicePort": 80},
                "rules": [{"host": "a.com", "http": {"paths": [
                    {"path": "/", "backend": {"serviceName": "web", "servicePort": "http"}}
                ]}}]
            }
        }))
        .unwrap();
        assert_eq!(v1["spec"]["defaultBackend"], json!({"service": {"name": "def", "port": {"number": 80}}}));
        let p = &v1["spec"]["rules"][0]["http"]["paths"][0];
        assert_eq!(p["pathType"], "ImplementationSpecific");
        assert_eq!(p["backend"], json!({"service": {"name": "web", "port": {"name": "http"}}}));
    }
}
