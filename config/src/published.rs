//! A Snapshot as handed to its consumers, with what is known to be wrong
//! with it: the inputs' diagnostics, then what each consumer could not apply.

use crate::{Diagnostic, Severity, Snapshot};
use std::sync::Arc;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Published {
    pub snapshot: Arc<Snapshot>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Published {
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Error).count()
    }

    /// The same Snapshot with `reports` added to its diagnostics (each once).
    pub fn with_reports(&self, reports: Vec<Diagnostic>) -> Published {
        let mut diagnostics = self.diagnostics.clone();
        for d in reports {
            if !diagnostics.contains(&d) {
                diagnostics.push(d);
            }
        }
        Published { snapshot: self.snapshot.clone(), diagnostics }
    }
}
