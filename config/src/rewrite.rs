//! ingress-nginx `rewrite-target`: the route's regex path rewrites the
//! request path (`rewrite "(?i)PATH" TARGET break;`), `$1`..`$9` naming
//! its captures.

use serde::{Deserialize, Serialize};

/// A rewrite target, checked: literal text and capture references.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RewriteTarget {
    text: String,
    pieces: Vec<TargetPiece>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TargetPiece {
    Text(String),
    /// `$1`..`$9`; `$0` is the whole match.
    Capture(usize),
}

impl RewriteTarget {
    /// nginx reads `$` and one digit as a capture; any other `$name` is an
    /// nginx variable, which Sluice does not expand: it is refused rather
    /// than sent upstream as text.
    pub fn parse(text: &str) -> Result<Self, String> {
        if !text.starts_with('/') {
            return Err(format!("'{text}' is not a path starting with /"));
        }
        if text.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(format!("'{text}' has a space or a control character"));
        }
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '$' {
                literal.push(c);
                continue;
            }
            match chars.next().and_then(|d| d.to_digit(10)) {
                Some(d) => {
                    if !literal.is_empty() {
                        pieces.push(TargetPiece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(TargetPiece::Capture(d as usize));
                }
                None => {
                    return Err(format!(
                        "'{text}' names an nginx variable; only the captures $1..$9 are expanded in a rewrite"
                    ));
                }
            }
        }
        if !literal.is_empty() {
            pieces.push(TargetPiece::Text(literal));
        }
        Ok(Self { text: text.to_owned(), pieces })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The rewritten path and query for a request whose path matched
    /// `captures`: a capture that did not take part is empty; the request's
    /// `query` follows, after the target's own (`&`), unless the target
    /// ends in `?` (nginx's rule).
    pub fn expand(&self, captures: &regex::Captures<'_>, query: Option<&str>) -> String {
        let mut out = String::with_capacity(self.text.len() + 32);
        for piece in &self.pieces {
            match piece {
                TargetPiece::Text(t) => out.push_str(t),
                TargetPiece::Capture(i) => push_escaped(&mut out, captures.get(*i).map_or("", |m| m.as_str())),
            }
        }
        if let Some(bare) = out.strip_suffix('?') {
            let len = bare.len();
            out.truncate(len);
            return out;
        }
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(q);
        }
        out
    }
}

/// A captured piece of the decoded path, escaped again as nginx escapes a
/// rewritten URI before it goes upstream.
fn push_escaped(out: &mut String, text: &str) {
    for b in text.bytes() {
        if b <= b' '
            || b >= 0x7f
            || matches!(b, b'"' | b'#' | b'%' | b'?' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}')
        {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
}

impl TryFrom<String> for RewriteTarget {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

impl From<RewriteTarget> for String {
    fn from(t: RewriteTarget) -> String {
        t.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(path: &str, target: &str, uri: &str, query: Option<&str>) -> Option<String> {
        let re = regex::RegexBuilder::new(path).case_insensitive(true).build().unwrap();
        let target = RewriteTarget::parse(target).unwrap();
        re.captures(uri).map(|c| target.expand(&c, query))
    }

    /// ingress-nginx's documented example.
    #[test]
    fn documented_example() {
        let path = "/something(/|$)(.*)";
        assert_eq!(rewrite(path, "/$2", "/something", None).as_deref(), Some("/"));
        assert_eq!(rewrite(path, "/$2", "/something/", None).as_deref(), Some("/"));
        assert_eq!(rewrite(path, "/$2", "/something/new", None).as_deref(), Some("/new"));
        assert_eq!(rewrite(path, "/$2", "/SOMETHING/new", Some("a=1")).as_deref(), Some("/new?a=1"));
    }

    #[test]
    fn queries_follow_nginx() {
        assert_eq!(rewrite("/a(.*)", "/b$1?x=1", "/a/c", Some("y=2")).as_deref(), Some("/b/c?x=1&y=2"));
        assert_eq!(rewrite("/a(.*)", "/b$1?", "/a/c", Some("y=2")).as_deref(), Some("/b/c"));
        // A digit after a capture is text: `$1` then `0`.
        assert_eq!(rewrite("/a/(.*)", "/$10", "/a/x", None).as_deref(), Some("/x0"));
    }

    #[test]
    fn captures_are_escaped_again() {
        assert_eq!(rewrite("/a/(.*)", "/$1", "/a/x y?", None).as_deref(), Some("/x%20y%3F"));
    }

    #[test]
    fn variables_and_relative_targets_are_refused() {
        assert!(RewriteTarget::parse("/$host/x").is_err());
        assert!(RewriteTarget::parse("x/$1").is_err());
        assert!(RewriteTarget::parse("/a b").is_err());
        assert!(RewriteTarget::parse("/$1/$9").is_ok());
    }
}
