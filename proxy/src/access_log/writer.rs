//! The access log's one writer thread and the bounded queue in front of it.

use crate::metrics::METRICS;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::time::Duration;

/// Lines waiting for the writer at most; past it, new lines are dropped.
const QUEUE_LINES: usize = 16 * 1024;

/// How often the writer takes what is queued (nginx's `flush=` of a
/// buffered log). The writer polls rather than waits on the queue, so
/// queueing a line never wakes a thread: at 50 000 requests a second a
/// wake-up a line cost more than formatting it.
const POLL: Duration = Duration::from_millis(50);

/// Set by SIGUSR1: the writer reopens its file (after logrotate moved it).
static REOPEN: AtomicBool = AtomicBool::new(false);

/// Where lines are written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    File(PathBuf),
}

/// The sending end of the queue.
pub struct Writer {
    queue: SyncSender<Vec<u8>>,
}

impl Writer {
    /// Opens `to` (an error names the path) and starts the writer thread.
    pub fn start(to: Destination) -> io::Result<Writer> {
        let file = open(&to).map_err(|e| match &to {
            Destination::File(path) => io::Error::new(e.kind(), format!("access log {}: {e}", path.display())),
            Destination::Stdout => e,
        })?;
        if matches!(to, Destination::File(_)) {
            // SAFETY: the handler only stores to an atomic, which is
            // async-signal-safe.
            unsafe { signal_hook_registry::register(libc::SIGUSR1, || REOPEN.store(true, Ordering::Relaxed)) }?;
        }
        let (queue, lines) = sync_channel(QUEUE_LINES);
        std::thread::Builder::new().name("access-log".into()).spawn(move || drain(lines, to, file))?;
        Ok(Writer { queue })
    }

    /// Queues `line`, or drops and counts it when the writer is behind.
    pub fn queue(&self, line: Vec<u8>) {
        if let Err(TrySendError::Full(_)) = self.queue.try_send(line) {
            METRICS.access_log_dropped.inc();
        }
    }
}

fn open(to: &Destination) -> io::Result<File> {
    match to {
        Destination::Stdout => Ok(File::from(io::stdout().as_fd().try_clone_to_owned()?)),
        Destination::File(path) => OpenOptions::new().create(true).append(true).open(path),
    }
}

/// Writes what is queued every `POLL`, flushing after each batch; reopens
/// the file when asked.
fn drain(lines: Receiver<Vec<u8>>, to: Destination, file: File) {
    let mut out = BufWriter::with_capacity(64 * 1024, file);
    let mut failing = false;
    loop {
        std::thread::sleep(POLL);
        let mut result = Ok(());
        loop {
            match lines.try_recv() {
                Ok(line) => result = result.and_then(|()| out.write_all(&line)),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    let _ = out.flush();
                    return;
                }
            }
        }
        report(result.and_then(|()| out.flush()), &to, &mut failing);
        if REOPEN.swap(false, Ordering::Relaxed) {
            let _ = out.flush();
            match open(&to) {
                Ok(file) => out = BufWriter::with_capacity(64 * 1024, file),
                Err(e) => report(Err(e), &to, &mut failing),
            }
        }
    }
}

/// Counts a failed write and says so once until writes work again; traffic
/// goes on either way.
fn report(result: io::Result<()>, to: &Destination, failing: &mut bool) {
    match result {
        Ok(()) => *failing = false,
        Err(e) => {
            METRICS.access_log_write_errors.inc();
            if !*failing {
                tracing::warn!(destination = ?to, error = %e, "cannot write the access log; lines are lost until it can");
            }
            *failing = true;
        }
    }
}
