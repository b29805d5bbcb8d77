//! Header changes a route asks for, from ingress-nginx's `custom-headers`,
//! the snippets' `more_set_headers`, `add_header`, `more_clear_headers`,
//! `proxy_set_header` and `more_set_input_headers`, and the controller
//! ConfigMap's `add-headers` and `proxy-set-headers`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum HeaderOp {
    /// Replace any value the header has (`more_set_headers`,
    /// `proxy_set_header`); an empty value removes it, as in nginx.
    Set { name: String, value: String },
    /// Add a value (`add_header`): to 200, 201, 204, 206, 301, 302, 303,
    /// 304, 307 and 308 answers, or to every answer when `always`.
    Add { name: String, value: String, always: bool },
    /// Remove the header; a name ending in `*` removes every header it
    /// starts (`more_clear_headers 'X-Hidden-*'`).
    Remove { name: String },
}

impl HeaderOp {
    /// Whether `add_header` without `always` applies to an answer of `status`.
    pub fn adds_to(status: u16) -> bool {
        matches!(status, 200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308)
    }

    /// Checks a header name and value as they will be sent: a token name, a
    /// value without control characters, and no nginx variable (Sluice
    /// does not expand them, and sending `$host` as text would be wrong).
    pub fn check(name: &str, value: &str) -> Result<(), String> {
        Self::check_field(name, value)?;
        if name.contains('$') {
            return Err(format!("'{name}' is not a header name"));
        }
        if let Some(at) = value.find('$') {
            let var: String =
                value[at..].chars().take_while(|c| *c == '$' || c.is_ascii_alphanumeric() || *c == '_').collect();
            return Err(format!("the value of {name} names the nginx variable {var}, which Sluice does not expand"));
        }
        Ok(())
    }

    /// Checks a header name and value as HTTP has them: a token name, a
    /// value without control characters (Gateway API header modifiers,
    /// whose values are text).
    pub fn check_field(name: &str, value: &str) -> Result<(), String> {
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(format!("'{name}' is not a header name"));
        }
        if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(format!("the value of {name} has a control character"));
        }
        Ok(())
    }
}
