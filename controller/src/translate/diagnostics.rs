//! The diagnostics sink of one translation: every producer reports here,
//! and the same problem found by two passes (an object read for its routes
//! and for its listeners) is reported once.

use sluice_config::Diagnostic;
use std::collections::HashSet;

#[derive(Default)]
pub(super) struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    pub(super) fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// The diagnostics in the order given, each once.
    pub(super) fn finish(self) -> Vec<Diagnostic> {
        let mut seen = HashSet::new();
        self.0.into_iter().filter(|d| seen.insert(d.clone())).collect()
    }
}
