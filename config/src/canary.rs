use crate::{ObjectRef, Split};
use serde::{Deserialize, Serialize};

/// A request-matched alternative to a route's split (ingress-nginx canary
/// by header or cookie). Canaries' weights are part of the route's split;
/// these rules pick a canary outright. Checked in order: every canary's
/// header rule, then every canary's cookie rule, then the weighted split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Canary {
    pub split: Split,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderMatch>,
    /// Cookie name: value `always` picks this canary, `never` the main split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
    pub source: ObjectRef,
}

/// `canary-by-header` with its value or pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderMatch {
    /// Header name, lower case.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// A regular expression (Rust `regex` syntax) the whole value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

/// What a canary rule says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanaryVerdict {
    /// Send to this canary.
    Canary,
    /// Send to the main split, skipping all later rules.
    Main,
    /// This rule does not decide; go on.
    Undecided,
}

impl HeaderMatch {
    /// The verdict for the header's value in a request (`None`: absent).
    /// Without value or pattern: `always` / `never`, as ingress-nginx.
    /// `pattern_matches` evaluates [`HeaderMatch::pattern`] (the caller holds
    /// the compiled regex).
    pub fn verdict(&self, value: Option<&str>, pattern_matches: impl Fn(&str) -> bool) -> CanaryVerdict {
        let Some(v) = value else { return CanaryVerdict::Undecided };
        if let Some(want) = &self.value {
            return if v == want { CanaryVerdict::Canary } else { CanaryVerdict::Undecided };
        }
        if self.pattern.is_some() {
            return if pattern_matches(v) { CanaryVerdict::Canary } else { CanaryVerdict::Undecided };
        }
        always_never(v)
    }
}

/// `always` -> canary, `never` -> main, anything else undecided.
pub fn always_never(value: &str) -> CanaryVerdict {
    match value {
        "always" => CanaryVerdict::Canary,
        "never" => CanaryVerdict::Main,
        _ => CanaryVerdict::Undecided,
    }
}
