//! The publish seam's driver: each new Snapshot goes to every consumer in
//! turn (the proxy, the kernel datapath, then the admin endpoints and the
//! status writer); what one consumer could not apply is added to the
//! diagnostics the next ones see, so a port that cannot bind or a
//! certificate rustls refuses is logged, counted and sent as an Event like
//! any input error.

use crate::control_metrics::{CONTROL, record_diagnostics};
use sluice_config::{Consumer, Published, Severity};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

pub struct Publisher {
    consumers: Vec<Arc<dyn Consumer>>,
    /// The last Published handed out, with every consumer's reports: its
    /// diagnostics were logged already.
    last: Mutex<Option<Arc<Published>>>,
}

impl Publisher {
    /// Consumers are applied in this order: the data plane first, those
    /// that report on it last.
    pub fn new(consumers: Vec<Arc<dyn Consumer>>) -> Self {
        Self { consumers, last: Mutex::new(None) }
    }

    /// Hands `published` to every consumer; returns it with their reports.
    pub fn publish(&self, published: &Arc<Published>) -> Arc<Published> {
        let mut p = published.clone();
        for c in &self.consumers {
            let reports = c.apply(&p);
            if !reports.is_empty() {
                tracing::debug!(consumer = c.name(), reports = reports.len(), "could not apply all of the Snapshot");
                p = Arc::new(p.with_reports(reports));
            }
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let seen: HashSet<_> = last.iter().flat_map(|l| l.diagnostics.iter()).collect();
        for d in p.diagnostics.iter().filter(|d| !seen.contains(d)) {
            match d.severity {
                Severity::Error => tracing::error!("{d}"),
                Severity::Warning => tracing::warn!("{d}"),
                Severity::Info => tracing::info!("{d}"),
            }
        }
        record_diagnostics(&p.diagnostics);
        CONTROL.generation.set(p.snapshot.generation as i64);
        *last = Some(p.clone());
        p
    }

    /// Why the process cannot serve now, for `/healthz`: no Snapshot applied
    /// yet, or a consumer that cannot do its job at all.
    pub fn unhealthy(&self) -> Vec<String> {
        let applied =
            self.last.lock().unwrap_or_else(|e| e.into_inner()).as_ref().is_some_and(|p| p.snapshot.generation > 0);
        let mut out: Vec<String> = self.consumers.iter().filter_map(|c| c.unhealthy()).collect();
        if !applied {
            out.insert(0, "no Snapshot served yet".to_owned());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_config::{Diagnostic, ObjectRef, Snapshot};

    /// A consumer that reports what it is told to and records what it saw.
    #[derive(Default)]
    struct Recorder {
        reports: Vec<Diagnostic>,
        seen: Mutex<Vec<Arc<Published>>>,
        down: Option<String>,
    }

    impl Consumer for Recorder {
        fn name(&self) -> &'static str {
            "recorder"
        }
        fn apply(&self, published: &Arc<Published>) -> Vec<Diagnostic> {
            self.seen.lock().unwrap().push(published.clone());
            self.reports.clone()
        }
        fn unhealthy(&self) -> Option<String> {
            self.down.clone()
        }
    }

    fn generation(n: u64) -> Arc<Published> {
        let input = Diagnostic::warning(ObjectRef::new("Ingress", "default", "a"), "spec", "input");
        Arc::new(Published {
            snapshot: Arc::new(Snapshot { generation: n, ..Snapshot::default() }),
            diagnostics: vec![input],
        })
    }

    #[test]
    fn what_a_consumer_cannot_apply_reaches_the_consumers_after_it() {
        let bind = Diagnostic::error(ObjectRef::new("ConfigMap", "default", "tcp"), "data[80]", "cannot listen");
        let proxy = Arc::new(Recorder { reports: vec![bind.clone()], ..Recorder::default() });
        let status = Arc::new(Recorder::default());
        let publisher = Publisher::new(vec![proxy.clone(), status.clone()]);
        let out = publisher.publish(&generation(1));

        assert_eq!(proxy.seen.lock().unwrap()[0].diagnostics.len(), 1, "the proxy sees the inputs' diagnostics");
        let told = status.seen.lock().unwrap()[0].clone();
        assert!(told.diagnostics.contains(&bind), "the status writer is told of the bind failure");
        assert_eq!(told.diagnostics.len(), 2);
        assert_eq!(out, told);
        // The same report again is not added twice.
        assert_eq!(publisher.publish(&generation(2)).diagnostics.len(), 2);
    }

    #[test]
    fn unhealthy_until_a_snapshot_is_served_and_while_a_consumer_says_so() {
        let fine = Arc::new(Recorder::default());
        let publisher = Publisher::new(vec![fine]);
        assert_eq!(publisher.unhealthy(), vec!["no Snapshot served yet"]);
        publisher.publish(&generation(1));
        assert!(publisher.unhealthy().is_empty());

        let down = Arc::new(Recorder { down: Some("listener http: cannot listen".into()), ..Recorder::default() });
        let publisher = Publisher::new(vec![down]);
        publisher.publish(&generation(1));
        assert_eq!(publisher.unhealthy(), vec!["listener http: cannot listen"]);
    }
}
