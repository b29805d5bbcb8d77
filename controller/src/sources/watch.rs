//! Watching a manifest directory: each change becomes a new published Snapshot.

use super::manifests::ManifestDir;
use crate::reconcile::{Published, Reconciler};
use notify::RecursiveMode;
use notify_debouncer_mini::new_debouncer;
use sluice_config::Options;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// A running manifest source; dropping it stops the watch.
pub struct ManifestPipeline {
    pub published: watch::Receiver<Arc<Published>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for ManifestPipeline {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Loads `dir` once (returned as the first published value) and then reloads
/// it after every burst of file events, `debounce` after the last one.
pub fn spawn_manifest_pipeline(dir: PathBuf, options: Options, debounce: Duration) -> io::Result<ManifestPipeline> {
    let mut source = ManifestDir::new(dir.clone());
    let mut reconciler = Reconciler::new(options);
    let first = source.load()?;
    let initial = reconciler.reconcile(first.store, first.diagnostics);
    let (tx, rx) = watch::channel(initial);

    let (events_tx, events) = std::sync::mpsc::channel();
    let mut debouncer = new_debouncer(debounce, events_tx).map_err(io::Error::other)?;
    debouncer.watcher().watch(&dir, RecursiveMode::Recursive).map_err(io::Error::other)?;

    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let thread = std::thread::Builder::new().name("manifest-watch".into()).spawn(move || {
        let _debouncer = debouncer;
        while !stopped.load(Ordering::Relaxed) {
            match events.recv_timeout(Duration::from_millis(200)) {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "manifest watch error; reloading anyway"),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
            // Several bursts may have queued up while we worked: one reload covers them.
            while events.try_recv().is_ok() {}
            match source.load() {
                Ok(loaded) => {
                    let next = reconciler.reconcile(loaded.store, loaded.diagnostics);
                    tx.send_if_modified(|current| {
                        let changed = current.snapshot.generation != next.snapshot.generation
                            || current.diagnostics != next.diagnostics;
                        if changed {
                            *current = next;
                        }
                        changed
                    });
                }
                Err(e) => tracing::error!(dir = %source.root().display(), error = %e, "manifest directory unreadable; keeping the last Snapshot"),
            }
        }
    })?;
    Ok(ManifestPipeline { published: rx, stop, thread: Some(thread) })
}
