//! The proxy's threads. Each runs its own single-threaded tokio runtime and
//! accepts on every listener itself, as nginx's workers and pingora's
//! no-steal runtimes do: a connection lives and dies on the thread that
//! accepted it. tokio's work-stealing scheduler, even with one worker, cost
//! about a tenth of the CPU of a proxied request (compare-l7: 62.9 against
//! 56.6 µs a request).

use std::io;
use std::net::TcpListener;
use std::thread::JoinHandle;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

pub struct Workers {
    handles: Vec<Handle>,
    stops: Vec<oneshot::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `count` (at least one) threads named `name`.
    pub fn new(count: usize, name: &str) -> io::Result<Self> {
        let mut workers = Self { handles: Vec::new(), stops: Vec::new(), threads: Vec::new() };
        for i in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            workers.handles.push(runtime.handle().clone());
            let (stop, stopped) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new().name(format!("{name}-{i}")).spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })?;
            workers.stops.push(stop);
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    /// The first worker, for what runs once rather than on each.
    pub fn first(&self) -> &Handle {
        &self.handles[0]
    }

    /// A copy of `listener` registered with each worker, for each to accept on.
    pub fn listeners(&self, listener: &TcpListener) -> io::Result<Vec<(Handle, tokio::net::TcpListener)>> {
        self.handles
            .iter()
            .map(|h| {
                let _guard = h.enter();
                let copy = tokio::net::TcpListener::from_std(listener.try_clone()?)?;
                Ok((h.clone(), copy))
            })
            .collect()
    }
}

impl Drop for Workers {
    /// Stops every thread; the tasks left on it are dropped with its runtime.
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_worker_accepts_on_its_own_copy_of_a_listener_and_serves_what_it_accepted() {
        let workers = Workers::new(2, "test-worker").unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        for (handle, copy) in workers.listeners(&listener).unwrap() {
            let tx = tx.clone();
            handle.spawn(async move {
                while let Ok((stream, _)) = copy.accept().await {
                    let name = std::thread::current().name().unwrap_or("").to_owned();
                    let _ = tx.send(name);
                    drop(stream);
                }
            });
        }
        let mut seen = HashSet::new();
        for _ in 0..200 {
            let _ = std::net::TcpStream::connect(address).unwrap();
            seen.insert(rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap());
            if seen.len() == 2 {
                break;
            }
        }
        assert!(seen.iter().all(|n| n.starts_with("test-worker-")), "accepted off the workers: {seen:?}");
        assert_eq!(seen.len(), 2, "one worker took every connection: {seen:?}");
    }
}
