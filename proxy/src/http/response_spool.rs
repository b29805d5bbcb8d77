//! nginx's `proxy_buffering on` (ingress-nginx `proxy-buffering`): the
//! upstream's answer is read as fast as the upstream sends it while the
//! client is written to as fast as it reads, the difference held in memory
//! up to the route's buffers and past them in an unnamed temporary file up
//! to `proxy-max-temp-file-size`; past that, reading waits for the client,
//! as nginx's does. A slow client then holds no upstream connection: it is
//! free once the whole answer is in.

use bytes::Bytes;
use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Bytes read back from the temporary file at a time.
const FILE_CHUNK: u64 = 64 * 1024;

/// The part of an answer read from the upstream and not yet written to the
/// client: memory first (the older bytes), then the temporary file.
#[derive(Debug)]
pub struct Spool {
    memory: VecDeque<Bytes>,
    in_memory: u64,
    memory_limit: u64,
    file: Option<File>,
    /// Written to and read from the file so far.
    file_end: u64,
    file_read: u64,
    file_limit: u64,
    /// The upstream's answer is all in (or broke off).
    pub done: bool,
    pub broken: bool,
}

impl Spool {
    pub fn new(memory_limit: u64, file_limit: u64) -> Self {
        Spool {
            memory: VecDeque::new(),
            in_memory: 0,
            memory_limit,
            file: None,
            file_end: 0,
            file_read: 0,
            file_limit,
            done: false,
            broken: false,
        }
    }

    fn file_pending(&self) -> u64 {
        self.file_end - self.file_read
    }

    /// Whether another read from the upstream may be held.
    pub fn has_room(&self) -> bool {
        self.in_memory < self.memory_limit || self.file_pending() < self.file_limit
    }

    /// Holds `chunk` after what is held already.
    pub fn push(&mut self, chunk: Bytes) -> std::io::Result<()> {
        if self.file_pending() == 0 && self.in_memory < self.memory_limit {
            self.in_memory += chunk.len() as u64;
            self.memory.push_back(chunk);
            return Ok(());
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(tempfile::tempfile()?),
        };
        file.write_all_at(&chunk, self.file_end)?;
        self.file_end += chunk.len() as u64;
        Ok(())
    }

    /// The oldest bytes held, if any.
    pub fn pop(&mut self) -> Option<std::io::Result<Bytes>> {
        if let Some(chunk) = self.memory.pop_front() {
            self.in_memory -= chunk.len() as u64;
            return Some(Ok(chunk));
        }
        let pending = self.file_pending();
        let file = self.file.as_ref().filter(|_| pending > 0)?;
        let mut buf = vec![0u8; pending.min(FILE_CHUNK) as usize];
        if let Err(e) = file.read_exact_at(&mut buf, self.file_read) {
            return Some(Err(e));
        }
        self.file_read += buf.len() as u64;
        if self.file_read == self.file_end {
            // Drained: the next bytes start the file over.
            (self.file_read, self.file_end) = (0, 0);
        }
        Some(Ok(buf.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_across_memory_and_file() {
        let mut spool = Spool::new(8, 1024);
        let mut out = Vec::new();
        for i in 0..20u8 {
            assert!(spool.has_room());
            spool.push(Bytes::from(vec![i; 5])).unwrap();
            if i % 3 == 0 {
                out.extend_from_slice(&spool.pop().unwrap().unwrap());
            }
        }
        while let Some(chunk) = spool.pop() {
            out.extend_from_slice(&chunk.unwrap());
        }
        let expected: Vec<u8> = (0..20u8).flat_map(|i| vec![i; 5]).collect();
        assert_eq!(out, expected);
        let mut full = Spool::new(4, 4);
        full.push(Bytes::from_static(b"abcd")).unwrap();
        full.push(Bytes::from_static(b"efgh")).unwrap();
        assert!(!full.has_room(), "memory and file full: reading waits for the client");
    }
}
