//! Numbering Snapshots and keeping the last good form of broken objects.

use crate::object::Object;
use crate::store::Store;
use crate::translate::translate;
use sluice_config::{Diagnostic, ObjectRef, Options, Published, Severity, Snapshot};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Turns successive stores into published Snapshots. An object whose new
/// version has an error keeps serving its last version that had none, so one
/// bad edit cannot take down what worked; a deleted object is gone.
pub struct Reconciler {
    options: Options,
    generation: u64,
    current: Option<Arc<Snapshot>>,
    last_good: HashMap<ObjectRef, Object>,
}

impl Reconciler {
    pub fn new(options: Options) -> Self {
        Self { options, generation: 0, current: None, last_good: HashMap::new() }
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// `source_diagnostics` are the source's own (parse errors name objects
    /// that are then missing from `store`).
    pub fn reconcile(&mut self, mut store: Store, source_diagnostics: Vec<Diagnostic>) -> Arc<Published> {
        let (mut snapshot, translated) = translate(&store, &self.options);
        let failed: BTreeSet<ObjectRef> = source_diagnostics
            .iter()
            .chain(&translated)
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.object.clone())
            .collect();

        let mut kept = Vec::new();
        for r in &failed {
            if let Some(good) = self.last_good.get(r)
                && store.get(r).as_ref() != Some(good)
            {
                store.insert(good.clone());
                kept.push(r.clone());
            }
        }
        if !kept.is_empty() {
            snapshot = translate(&store, &self.options).0;
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

        self.last_good.retain(|r, _| failed.contains(r) && store.get(r).is_some());
        for object in store.objects() {
            let r = object.object_ref();
            if !failed.contains(&r) {
                self.last_good.insert(r, object);
            }
        }

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
