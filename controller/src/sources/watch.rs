//! Watching a manifest directory: each change becomes a new published Snapshot.

use super::manifests::ManifestDir;
use crate::reconcile::Reconciler;
use notify::{RecursiveMode, Watcher};
use sluice_config::Options;
use sluice_config::Published;
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

    // Reading the files is an event too (inotify's OPEN and ACCESS): only
    // changes count, or every reload would schedule the next one.
    let (events_tx, events) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if !event.as_ref().is_ok_and(|e| e.kind.is_access()) {
            let _ = events_tx.send(event);
        }
    })
    .map_err(io::Error::other)?;
    watcher.watch(&dir, RecursiveMode::Recursive).map_err(io::Error::other)?;

    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let thread = std::thread::Builder::new().name("manifest-watch".into()).spawn(move || {
        let _watcher = watcher;
        while !stopped.load(Ordering::Relaxed) {
            match events.recv_timeout(Duration::from_millis(200)) {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "manifest watch error; reloading anyway"),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
            // The burst is over once `debounce` passes without another event
            // (or after ten of them, so a file written without pause still loads).
            let burst = std::time::Instant::now();
            while burst.elapsed() < debounce * 10 && events.recv_timeout(debounce).is_ok() {}
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
