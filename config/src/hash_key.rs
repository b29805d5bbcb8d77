//! Hash keys written as nginx variables (`upstream-hash-by`): `$remote_addr`,
//! `$request_uri`, `$host$uri`, `$http_x_user`, `$cookie_session`, `$arg_id`.

/// One piece of a hash key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyPart {
    Literal(String),
    /// The client address.
    RemoteAddr,
    /// Path and query, as received.
    RequestUri,
    /// Path only.
    Uri,
    Host,
    /// A request header, lower case.
    Header(String),
    Cookie(String),
    /// A query-string argument.
    Arg(String),
    /// The user of a basic `Authorization` header.
    RemoteUser,
}

/// Parses a key template. Unknown variables are an error: a key that
/// silently evaluates to nothing would send every request to one endpoint.
pub fn parse_hash_key(template: &str) -> Result<Vec<KeyPart>, String> {
    let mut parts = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        let Some(at) = rest.find('$') else {
            parts.push(KeyPart::Literal(rest.to_owned()));
            break;
        };
        if at > 0 {
            parts.push(KeyPart::Literal(rest[..at].to_owned()));
        }
        rest = &rest[at + 1..];
        let (name, after) = if let Some(braced) = rest.strip_prefix('{') {
            let end = braced.find('}').ok_or_else(|| format!("'{template}': unclosed ${{"))?;
            (&braced[..end], &braced[end + 1..])
        } else {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        parts.push(variable(name).ok_or_else(|| format!("'{template}': ${name} is not a variable Sluice can hash"))?);
        rest = after;
    }
    if parts.is_empty() || parts.iter().all(|p| matches!(p, KeyPart::Literal(_))) {
        return Err(format!("'{template}' names no variable; every request would hash alike"));
    }
    Ok(parts)
}

fn variable(name: &str) -> Option<KeyPart> {
    Some(match name {
        "remote_addr" | "binary_remote_addr" => KeyPart::RemoteAddr,
        "request_uri" => KeyPart::RequestUri,
        "uri" | "document_uri" => KeyPart::Uri,
        "host" | "http_host" => KeyPart::Host,
        "remote_user" => KeyPart::RemoteUser,
        _ => {
            if let Some(h) = name.strip_prefix("http_").filter(|h| !h.is_empty()) {
                KeyPart::Header(h.replace('_', "-"))
            } else if let Some(c) = name.strip_prefix("cookie_").filter(|c| !c.is_empty()) {
                KeyPart::Cookie(c.to_owned())
            } else if let Some(a) = name.strip_prefix("arg_").filter(|a| !a.is_empty()) {
                KeyPart::Arg(a.to_owned())
            } else {
                return None;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert_eq!(parse_hash_key("$remote_addr").unwrap(), [KeyPart::RemoteAddr]);
        assert_eq!(parse_hash_key("$host$uri").unwrap(), [KeyPart::Host, KeyPart::Uri]);
        assert_eq!(
            parse_hash_key("u:${http_x_user_id}-$arg_id").unwrap(),
            [
                KeyPart::Literal("u:".into()),
                KeyPart::Header("x-user-id".into()),
                KeyPart::Literal("-".into()),
                KeyPart::Arg("id".into())
            ]
        );
        assert!(parse_hash_key("$nonsense").is_err());
        assert!(parse_hash_key("constant").is_err());
        assert!(parse_hash_key("${host").is_err());
    }
}
