//! ingress-nginx's `block-user-agents` and `block-referers` (controller
//! ConfigMap): a request whose `User-Agent` or `Referer` matches gets 403.

use serde::{Deserialize, Serialize};

/// Each entry is exact text, or, as in nginx's `map`, `~regex`
/// (case-sensitive) or `~*regex` (case-insensitive), matched anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blocklist {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_agents: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub referers: Vec<String>,
}

/// One entry as a regular expression: exact text anchored and escaped, a
/// `~` entry as written. `Err` when a `~` entry is not one this engine takes.
pub fn entry_regex(entry: &str) -> Result<String, String> {
    let pattern = if let Some(re) = entry.strip_prefix("~*") {
        format!("(?i:{re})")
    } else if let Some(re) = entry.strip_prefix('~') {
        format!("(?:{re})")
    } else {
        return Ok(format!("^{}$", regex::escape(entry)));
    };
    regex::Regex::new(&pattern).map(|_| pattern).map_err(|e| format!("'{entry}' is not a regular expression ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_as_nginx_map_reads_them() {
        let matches = |entry: &str, text: &str| regex::Regex::new(&entry_regex(entry).unwrap()).unwrap().is_match(text);
        assert!(matches("curl/7.88.1", "curl/7.88.1") && !matches("curl/7.88.1", "curl/7.88.10"));
        assert!(matches("~*bot", "GoogleBOT/2.1") && !matches("~bot", "GoogleBOT/2.1"));
        assert!(matches("a.b", "a.b") && !matches("a.b", "axb"), "exact text is not a pattern");
        assert!(entry_regex("~(").is_err());
    }
}
