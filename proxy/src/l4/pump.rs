//! Copying bytes both ways between a client and an upstream until both
//! sides are done: a side's EOF is passed on as a write shutdown (half
//! close), and the connection ends when nothing moves for the idle timeout.

use crate::clock::now_ms;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes moved each way so far; the caller holds it, so the counts outlive
/// a pump that is cancelled (a drained listener).
#[derive(Debug, Default)]
pub struct Moved {
    pub to_upstream: AtomicU64,
    pub to_client: AtomicU64,
}

/// Why a pump returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Both directions reached their end.
    Closed,
    /// Nothing moved for the idle timeout.
    Idle,
}

async fn one_way<R, W>(mut from: R, mut to: W, last: Arc<AtomicU64>, counted: &AtomicU64)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                counted.fetch_add(n as u64, Ordering::Relaxed);
                last.store(now_ms(), Ordering::Relaxed);
            }
        }
    }
    let _ = to.shutdown().await;
}

/// Runs until both directions end or `idle` passes without a byte,
/// counting into `moved`.
pub async fn pump<C, U>(client: C, upstream: U, idle: Duration, moved: &Moved) -> Ended
where
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    U: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (cr, cw) = tokio::io::split(client);
    let (ur, uw) = tokio::io::split(upstream);
    let last = Arc::new(AtomicU64::new(now_ms()));
    let both = async {
        tokio::join!(
            one_way(cr, uw, last.clone(), &moved.to_upstream),
            one_way(ur, cw, last.clone(), &moved.to_client)
        );
    };
    tokio::pin!(both);
    let idle_ms = idle.as_millis() as u64;
    loop {
        let since = now_ms().saturating_sub(last.load(Ordering::Relaxed));
        if since >= idle_ms {
            return Ended::Idle;
        }
        tokio::select! {
            _ = &mut both => return Ended::Closed,
            _ = tokio::time::sleep(Duration::from_millis(idle_ms - since)) => {}
        }
    }
}
