//! Watching a manifest directory: each change becomes a new published Snapshot.

use super::manifests::ManifestDir;
use crate::reconcile::Reconciler;
use notify::{RecursiveMode, Watcher};
use sluice_config::Options;
use sluice_config::Published;
use std::collections::HashSet;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
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
/// it on file events. A change that ends a write (a manifest closed after
/// writing, a rename, a removal) while the directory has been quiet for
/// `debounce` is read at once; events that follow it within `debounce`, or
/// that leave a write open, are gathered until `debounce` passes without
/// another (at most ten times over, so a file written without pause still
/// loads) and read as one.
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
        if !event.as_ref().is_ok_and(|e| e.kind.is_access() && !closed_after_writing(e.kind)) {
            let _ = events_tx.send(event);
        }
    })
    .map_err(io::Error::other)?;
    watcher.watch(&dir, RecursiveMode::Recursive).map_err(io::Error::other)?;

    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let thread = std::thread::Builder::new().name("manifest-watch".into()).spawn(move || {
        let _watcher = watcher;
        // The first load was not a change: the first event is read at once.
        let mut last_load = Instant::now().checked_sub(debounce).unwrap_or_else(Instant::now);
        while !stopped.load(Ordering::Relaxed) {
            let mut changed = Some(HashSet::new());
            let mut ended = match events.recv_timeout(Duration::from_millis(200)) {
                Ok(event) => note(&mut changed, &event),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let burst = Instant::now();
            loop {
                while let Ok(event) = events.try_recv() {
                    ended = note(&mut changed, &event);
                }
                let lone = last_load.elapsed() >= debounce;
                if (ended && lone) || burst.elapsed() >= debounce * 10 {
                    break;
                }
                match events.recv_timeout(debounce) {
                    Ok(event) => ended = note(&mut changed, &event),
                    Err(_) => break,
                }
            }
            let started = Instant::now();
            match source.load_changed(changed.as_ref()) {
                Ok(loaded) => {
                    let read = started.elapsed();
                    let next = reconciler.reconcile(loaded.store, loaded.diagnostics);
                    tracing::debug!(
                        read_us = read.as_micros() as u64,
                        translate_us = (started.elapsed() - read).as_micros() as u64,
                        generation = next.snapshot.generation,
                        "manifest directory read"
                    );
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
            last_load = Instant::now();
        }
    })?;
    Ok(ManifestPipeline { published: rx, stop, thread: Some(thread) })
}

/// Adds the manifests an event names to `changed`; hidden files (a
/// temporary file a rename will move into place) are not read and count
/// for nothing. An event on anything else (a directory, a lost event)
/// means every file is read again (`None`). Returns [`ends_a_change`].
fn note(changed: &mut Option<HashSet<PathBuf>>, event: &notify::Result<notify::Event>) -> bool {
    use super::manifests::{is_hidden_file, is_manifest};
    match event {
        Ok(e) if !e.need_rescan() && !e.paths.is_empty() => {
            for p in e.paths.iter().filter(|p| !is_hidden_file(p)) {
                match changed {
                    Some(c) if is_manifest(p) => {
                        c.insert(p.clone());
                    }
                    _ => *changed = None,
                }
            }
        }
        _ => *changed = None,
    }
    ends_a_change(event)
}

/// Whether an event leaves the directory readable as its writer meant it:
/// a manifest closed after writing, a name renamed or removed. A file
/// created or still being written is not, nor is a closed file that is not
/// a manifest (the temporary file a rename will move into place).
fn ends_a_change(event: &notify::Result<notify::Event>) -> bool {
    use notify::EventKind;
    use notify::event::ModifyKind;
    let event = match event {
        Ok(event) => event,
        Err(e) => {
            tracing::warn!(error = %e, "manifest watch error; reloading anyway");
            return false;
        }
    };
    match event.kind {
        EventKind::Modify(ModifyKind::Name(_)) | EventKind::Remove(_) => true,
        kind if closed_after_writing(kind) => event.paths.iter().any(|p| super::manifests::is_manifest(p)),
        _ => false,
    }
}

fn closed_after_writing(kind: notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode};
    kind == notify::EventKind::Access(AccessKind::Close(AccessMode::Write))
}
