//! Reads split where the fuzz input says, shared by the targets that check
//! a reader gives the same verdict however the bytes arrive. The input's
//! first byte is the number of cuts (up to 15); each of the next that many
//! bytes is a piece's length less one; the rest is what the peer sends, its
//! remainder after the pieces one last read.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, ReadBuf};

/// The reads the input asks for, and the bytes they carry in all.
pub fn cut(data: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let Some((&count, rest)) = data.split_first() else { return (Vec::new(), &[]) };
    let count = usize::from(count % 16).min(rest.len());
    let (lengths, mut bytes) = rest.split_at(count);
    let sent = bytes;
    let mut reads = Vec::new();
    for &len in lengths {
        let (piece, left) = bytes.split_at((usize::from(len) + 1).min(bytes.len()));
        if !piece.is_empty() {
            reads.push(piece);
        }
        bytes = left;
    }
    if !bytes.is_empty() {
        reads.push(bytes);
    }
    (reads, sent)
}

/// A peer that delivers one piece a read (less if the buffer is smaller),
/// then end of stream.
pub struct Reads<'a>(VecDeque<&'a [u8]>);

impl<'a> Reads<'a> {
    pub fn new(reads: impl IntoIterator<Item = &'a [u8]>) -> Self {
        Self(reads.into_iter().filter(|r| !r.is_empty()).collect())
    }

    /// What the reader has not read yet.
    pub fn unread(&self) -> Vec<u8> {
        self.0.iter().flat_map(|r| r.iter().copied()).collect()
    }
}

impl AsyncRead for Reads<'_> {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if let Some(piece) = self.0.pop_front() {
            let n = piece.len().min(buf.remaining());
            buf.put_slice(&piece[..n]);
            if n < piece.len() {
                self.0.push_front(&piece[n..]);
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// Runs a future over [`Reads`], which never waits: it is done in one poll.
pub fn run<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a reader over in-memory pieces waited"),
    }
}
