//! `enable-cors` and `cors-*`.

use super::Reader;
use sluice_config::Cors;

/// `cors-*`, each checked as ingress-nginx checks it; a bad value is
/// named and its default used, a bad origin left out of the list.
pub(super) fn cors(a: &mut Reader<'_, '_, '_>) -> Cors {
    let mut cors = Cors::default();
    if let Some(v) = a.get("cors-allow-origin").map(str::to_owned) {
        let entries: Vec<&str> = v.split(',').map(str::trim).filter(|e| !e.is_empty()).collect();
        if !entries.contains(&"*") {
            let mut origins = Vec::new();
            for entry in entries {
                if Cors::valid_origin(entry) {
                    origins.push(entry.to_owned());
                } else {
                    a.bad(
                        "cors-allow-origin",
                        format!("'{entry}' is not an origin (scheme://host[:port], or null); left out"),
                    );
                }
            }
            cors.allow_origins = Some(origins);
        }
    }
    let list = |v: &str, extra: &[u8]| {
        !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b',' || b == b' ' || extra.contains(&b))
    };
    if let Some(v) = a.get("cors-allow-methods").map(str::to_owned) {
        if list(&v, b"") {
            cors.allow_methods = v;
        } else {
            a.bad("cors-allow-methods", format!("'{v}' is not a list of methods; the default is used"));
        }
    }
    if let Some(v) = a.get("cors-allow-headers").map(str::to_owned) {
        if list(&v, b"-_.*") {
            cors.allow_headers = v;
        } else {
            a.bad("cors-allow-headers", format!("'{v}' is not a list of header names; the default is used"));
        }
    }
    if let Some(v) = a.get("cors-expose-headers").map(str::to_owned) {
        if list(&v, b"-_*") {
            cors.expose_headers = v;
        } else {
            a.bad("cors-expose-headers", format!("'{v}' is not a list of header names; none are exposed"));
        }
    }
    cors.allow_credentials = a.flag("cors-allow-credentials", true);
    if let Some(age) = a.get("cors-max-age").map(str::to_owned) {
        match age.parse::<u64>() {
            Ok(n) => cors.max_age_seconds = n,
            Err(_) => a.bad("cors-max-age", format!("'{age}' is not a number of seconds; 1728000 is used")),
        }
    }
    cors
}
