use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub(super) type AgeKey = (bool, Option<k8s_openapi::jiff::Timestamp>, String, String);

/// Sort key for "the older object wins": creation time (objects without one,
/// as in hand-written manifests, count as newest), then namespace, then name.
pub(super) fn age(meta: &ObjectMeta) -> AgeKey {
    (
        meta.creation_timestamp.is_none(),
        meta.creation_timestamp.as_ref().map(|t| t.0),
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}
