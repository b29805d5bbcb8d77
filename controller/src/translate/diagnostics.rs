//! The diagnostics sink of one translation: every producer reports here,
//! and the same problem found by two passes (an object read for its routes
//! and for its listeners) is reported once.

use sluice_config::Diagnostic;

#[derive(Default)]
pub(super) struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    pub(super) fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub(super) fn extend(&mut self, more: impl IntoIterator<Item = Diagnostic>) {
        self.0.extend(more);
    }

    /// What was reported so far, leaving the sink empty.
    pub(super) fn take(&mut self) -> Vec<Diagnostic> {
        std::mem::take(&mut self.0)
    }

    /// The diagnostics, each once, by object, field, severity and message:
    /// an order that does not depend on which part of a translation found
    /// a problem first, so a translation by difference gives the same list.
    pub(super) fn finish(self) -> Vec<Diagnostic> {
        canonical(self.0)
    }
}

/// `diagnostics` sorted by object, field, severity and message, each once.
pub(super) fn canonical(mut diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diagnostics.sort_by(|a, b| {
        (&a.object, &a.field, a.severity, &a.message).cmp(&(&b.object, &b.field, b.severity, &b.message))
    });
    diagnostics.dedup();
    diagnostics
}
