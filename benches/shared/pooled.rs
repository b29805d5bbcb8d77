//! `benches/routes.sh`'s routes as manifests, for the benches that build a
//! store in process: 10 pooled Services (one endpoint each, never dialled)
//! and Ingresses of 5 paths over them.

/// The Services `u0`..`u9` with their EndpointSlices.
pub fn pools() -> String {
    (0..10)
        .map(|p| {
            format!(
                "---\napiVersion: v1\nkind: Service\nmetadata: {{name: u{p}}}\nspec: {{ports: [{{port: 80, targetPort: 8080}}]}}\n\
                 ---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: u{p}-1, labels: {{kubernetes.io/service-name: u{p}}}}}\n\
                 addressType: IPv4\nports: [{{port: 8080}}]\nendpoints: [{{addresses: [192.0.2.{}]}}]\n",
                p + 1
            )
        })
        .collect()
}

/// Ingress `name` for `host`: paths `/p0`..`/p4`, the `h`-th host's pools.
pub fn ingress(name: &str, host: &str, h: usize) -> String {
    let paths: Vec<String> = (0..5)
        .map(|p| {
            format!(
                "{{path: /p{p}, pathType: Prefix, backend: {{service: {{name: u{}, port: {{number: 80}}}}}}}}",
                (h + p) % 10
            )
        })
        .collect();
    format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: {name}}}\nspec:\n  ingressClassName: sluice\n  rules: [{{host: {host}, http: {{paths: [{}]}}}}]\n",
        paths.join(", ")
    )
}
