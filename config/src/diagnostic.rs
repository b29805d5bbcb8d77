use crate::ObjectRef;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The input was understood and deliberately not used (another class, an unknown kind).
    Info,
    /// Served, but probably not as the author meant.
    Warning,
    /// The named part is left out (or keeps its last good form).
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One problem with one input, named precisely enough for its author to fix it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub object: ObjectRef,
    /// A field path inside the object, e.g. `spec.rules[0].http.paths[1].pathType`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field: String,
    pub message: String,
}

impl Diagnostic {
    pub fn new(severity: Severity, object: ObjectRef, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { severity, object, field: field.into(), message: message.into() }
    }
    pub fn error(object: ObjectRef, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, object, field, message)
    }
    pub fn warning(object: ObjectRef, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, object, field, message)
    }
    pub fn info(object: ObjectRef, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Info, object, field, message)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity, self.object)?;
        if !self.field.is_empty() {
            write!(f, " {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}
