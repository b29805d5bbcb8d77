//! Numbering Snapshots and keeping the last good form of broken objects.

use crate::store::Store;
use crate::translate::Translation;
use sluice_config::{Diagnostic, ObjectRef, Options, Published, Severity, Snapshot};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Turns successive stores into published Snapshots. An object whose new
/// version has an error keeps serving its last version that had none, so one
/// bad edit cannot take down what worked; a deleted object is gone.
pub struct Reconciler {
    options: Options,
    /// Each store is translated by difference from the last one.
    translation: Translation,
    generation: u64,
    current: Option<Arc<Snapshot>>,
    /// The store last served: every object in it is its last good version,
    /// except those in `bad` (they had errors and no good version to keep).
    served: Store,
    bad: BTreeSet<ObjectRef>,
}

impl Reconciler {
    pub fn new(options: Options) -> Self {
        Self {
            translation: Translation::new(options.clone()),
            options,
            generation: 0,
            current: None,
            served: Store::default(),
            bad: BTreeSet::new(),
        }
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// `source_diagnostics` are the source's own (parse errors name objects
    /// that are then missing from `store`).
    pub fn reconcile(&mut self, mut store: Store, source_diagnostics: Vec<Diagnostic>) -> Arc<Published> {
        let (mut snapshot, translated) = self.translation.translate(&store);
        let failed: BTreeSet<ObjectRef> = source_diagnostics
            .iter()
            .chain(&translated)
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.object.clone())
            .collect();

        let mut kept = Vec::new();
        let mut bad = BTreeSet::new();
        for r in &failed {
            let good = self.served.get(r).filter(|_| !self.bad.contains(r));
            match good {
                Some(good) if store.get(r).as_ref() != Some(&good) => {
                    store.insert(good);
                    kept.push(r.clone());
                }
                Some(_) => {}
                None => {
                    bad.insert(r.clone());
                }
            }
        }
        if !kept.is_empty() {
            snapshot = self.translation.translate(&store).0;
        }

        let mut diagnostics = source_diagnostics;
        diagnostics.extend(translated);
        for r in kept {
            diagnostics.push(Diagnostic::info(
                r,
                "",
                "its new version has errors: the last version without errors keeps serving until it is fixed",
            ));
        }
        self.served = store;
        self.bad = bad;

        let snapshot = match &self.current {
            Some(current) if current.same_content(&snapshot) => current.clone(),
            _ => {
                self.generation += 1;
                snapshot.generation = self.generation;
                let s = Arc::new(snapshot);
                self.current = Some(s.clone());
                s
            }
        };
        Arc::new(Published { snapshot, diagnostics })
    }
}
