//! nginx's request buffering (`proxy_request_buffering on`, its default):
//! the whole body is read from the client before any upstream is
//! contacted, so a slow client costs an upstream nothing and every retry
//! resends the whole body. The first bytes stay in memory; past the
//! route's buffer size the body goes to an unnamed temporary file, as
//! nginx's `client_body_temp`. Temporary-file writes and reads block the
//! worker briefly, as nginx's do; they go to the page cache.

use bytes::Bytes;
use pingora_core::protocols::http::ServerSession;
use pingora_error::{Error, ErrorType};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::time::Duration;

/// Bytes read from the temporary file at a time when the body is sent.
const FILE_CHUNK: usize = 64 * 1024;

/// A request body read whole.
#[derive(Debug, Default)]
pub struct BufferedBody {
    memory: Vec<Bytes>,
    file: Option<File>,
    len: u64,
}

/// Why a body could not be read whole.
#[derive(Debug)]
pub enum BodyError {
    /// Over the route's limit (413).
    TooLarge,
    /// The client sent nothing for the body timeout (408).
    TimedOut,
    /// The client went away or sent a broken body.
    Client(Box<Error>),
    /// The temporary file could not be made or written (500).
    File(std::io::Error),
}

impl BufferedBody {
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Reads the request's body from `session`: up to `memory` bytes held
    /// in memory, the rest in a temporary file; at most `limit` bytes in
    /// all, with at most `timeout` between two reads.
    pub async fn read(
        session: &mut ServerSession,
        memory: u64,
        limit: Option<u64>,
        timeout: Duration,
    ) -> Result<BufferedBody, BodyError> {
        let mut body = BufferedBody::default();
        while let Some(chunk) = next_chunk(session, &mut body.len, limit, timeout).await? {
            body.push(chunk, memory).map_err(BodyError::File)?;
        }
        Ok(body)
    }

    fn push(&mut self, chunk: Bytes, memory: u64) -> std::io::Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        if self.file.is_none() && self.len <= memory {
            self.memory.push(chunk);
            return Ok(());
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let mut file = tempfile::tempfile()?;
                for held in self.memory.drain(..) {
                    file.write_all(&held)?;
                }
                self.file.insert(file)
            }
        };
        file.write_all(&chunk)
    }

    /// The body's pieces in order, from memory or read back from the file.
    pub fn chunks(&self) -> Chunks<'_> {
        Chunks { body: self, next: 0, offset: 0 }
    }

    /// The whole body as one buffer when it is at most `max` bytes.
    pub fn copy_up_to(&self, max: u64) -> Option<Bytes> {
        if self.len > max {
            return None;
        }
        let mut all = Vec::with_capacity(self.len as usize);
        let mut chunks = self.chunks();
        while let Some(chunk) = chunks.next_chunk() {
            all.extend_from_slice(&chunk.ok()?);
        }
        Some(all.into())
    }
}

/// Walks a [`BufferedBody`].
pub struct Chunks<'b> {
    body: &'b BufferedBody,
    next: usize,
    offset: u64,
}

impl Chunks<'_> {
    pub fn next_chunk(&mut self) -> Option<std::io::Result<Bytes>> {
        let Some(file) = &self.body.file else {
            let chunk = self.body.memory.get(self.next)?.clone();
            self.next += 1;
            return Some(Ok(chunk));
        };
        if self.offset >= self.body.len {
            return None;
        }
        let want = (self.body.len - self.offset).min(FILE_CHUNK as u64) as usize;
        let mut buf = vec![0u8; want];
        if let Err(e) = file.read_exact_at(&mut buf, self.offset) {
            return Some(Err(e));
        }
        self.offset += want as u64;
        Some(Ok(buf.into()))
    }
}

/// The next piece of the request's body, within `timeout` of the previous
/// read, counted into `seen`; `None` once the body is over. Past `limit`
/// bytes in all: `TooLarge`.
pub async fn next_chunk(
    session: &mut ServerSession,
    seen: &mut u64,
    limit: Option<u64>,
    timeout: Duration,
) -> Result<Option<Bytes>, BodyError> {
    let Ok(read) = tokio::time::timeout(timeout, session.read_request_body()).await else {
        return Err(BodyError::TimedOut);
    };
    let chunk = read.map_err(BodyError::Client)?;
    if let Some(chunk) = &chunk {
        *seen += chunk.len() as u64;
        if limit.is_some_and(|l| *seen > l) {
            return Err(BodyError::TooLarge);
        }
    }
    Ok(chunk)
}

/// The error a failed temporary-file read becomes while sending.
pub fn file_error(e: std::io::Error) -> Box<Error> {
    Error::because(ErrorType::InternalError, "reading the buffered request body", e)
}
