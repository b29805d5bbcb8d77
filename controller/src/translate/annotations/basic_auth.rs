//! `auth-type: basic` with `auth-secret`, `auth-secret-type` and
//! `auth-realm`. Authentication that cannot be set up refuses every
//! request (401) rather than serving the route open.

use super::Reader;
use crate::translate::tls_secret;
use sluice_config::BasicAuth;
use sluice_config::htpasswd::{self, Users};

pub(super) fn basic_auth(a: &mut Reader<'_, '_, '_>) -> Option<BasicAuth> {
    let kind = a.get("auth-type")?.to_ascii_lowercase();
    let mut realm = a.get("auth-realm").unwrap_or("").to_owned();
    if realm.contains(|c: char| c == '"' || c == '\\' || c.is_control()) {
        a.bad("auth-realm", format!("'{realm}' has a quote, a backslash or a control character; no realm is sent"));
        realm.clear();
    }
    let refuse = |a: &mut Reader<'_, '_, '_>, name: &str, why: String| {
        a.bad(name, format!("{why}; every request is refused (401)"));
        Some(BasicAuth { realm: realm.clone(), users: Users::new() })
    };
    if kind != "basic" {
        return refuse(a, "auth-type", format!("'{kind}' is not supported (basic is)"));
    }
    let Some(reference) = a.get("auth-secret").map(str::to_owned) else {
        return refuse(a, "auth-secret", "required with auth-type".into());
    };
    let (namespace, name) = match reference.split_once('/') {
        Some((ns, name)) => (ns.to_owned(), name.to_owned()),
        None => (a.r.namespace.clone(), reference.clone()),
    };
    let Some(secret) = a.t.store.secrets.get(&(namespace.clone(), name.clone())) else {
        return refuse(a, "auth-secret", format!("Secret {namespace}/{name} not found"));
    };
    let users = match a.get("auth-secret-type").unwrap_or("auth-file") {
        "auth-file" => match tls_secret::value(secret, "auth").map(std::str::from_utf8) {
            Some(Ok(text)) => htpasswd::parse_file(text).map_err(|e| format!("data[auth]: {e}")),
            Some(Err(_)) => Err("data[auth] is not text".to_owned()),
            None => Err("has no data[auth] (an htpasswd file)".to_owned()),
        },
        "auth-map" => auth_map(secret),
        other => {
            let other = other.to_owned();
            return refuse(a, "auth-secret-type", format!("'{other}' is not auth-file or auth-map"));
        }
    };
    match users {
        Ok(users) if !users.is_empty() => Some(BasicAuth { realm, users }),
        Ok(_) => refuse(a, "auth-secret", format!("Secret {namespace}/{name} lists no users")),
        Err(e) => refuse(a, "auth-secret", format!("Secret {namespace}/{name} {e}")),
    }
}

/// `auth-secret-type: auth-map`: each key a user, its value the hash.
fn auth_map(secret: &k8s_openapi::api::core::v1::Secret) -> Result<Users, String> {
    let keys = secret.data.iter().flat_map(|d| d.keys()).chain(secret.string_data.iter().flat_map(|d| d.keys()));
    let mut users = Users::new();
    for user in keys {
        let hash = tls_secret::value(secret, user).and_then(|v| std::str::from_utf8(v).ok()).unwrap_or("").trim();
        htpasswd::check(user, hash).map_err(|e| format!("data[{user}]: {e}"))?;
        users.insert(user.clone(), sluice_config::Sensitive(hash.to_owned()));
    }
    Ok(users)
}
