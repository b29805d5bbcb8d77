//! The listening sockets of the listeners that open and close with the
//! Snapshot, and their hand-off to the process replacing this one at a binary
//! upgrade (`sluice run --upgrade`, then SIGQUIT to the old process).
//!
//! Each socket is bound once, or taken over from the old process, and a
//! duplicate is kept here while its listener runs, so the old process can pass
//! every one on. The new one accepts on the very socket the old one did:
//! connections queued in between are served, none is refused. pingora hands
//! off its own fixed listeners the same way, but at most 32 sockets a
//! hand-off; a BCS Ingress can open hundreds of ports, so these go over a
//! socket of their own, any number of them.

use nix::sys::socket::{
    AddressFamily, Backlog, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixAddr, accept, bind,
    connect, listen, recvmsg, sendmsg, socket,
};
use std::collections::HashMap;
use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Sockets passed in one message; the kernel allows 253.
const FDS_A_MESSAGE: usize = 200;
/// The payload of the message that ends a hand-off.
const END: &[u8] = b"end";

#[derive(Default)]
pub struct ListenSockets {
    /// Sockets taken over from the old process, not yet claimed by a listener.
    inherited: Mutex<HashMap<String, OwnedFd>>,
    /// A duplicate of each running listener's socket, by key.
    live: Mutex<HashMap<String, OwnedFd>>,
}

fn tcp_key(address: SocketAddr) -> String {
    format!("tcp:{address}")
}

fn udp_key(address: SocketAddr) -> String {
    format!("udp:{address}")
}

impl ListenSockets {
    /// A TCP listening socket on `address`: the old process's when it passed
    /// one, the running one when a listener on it is being replaced (its
    /// queued connections carry over), else a new one. Non-blocking.
    pub fn tcp(&self, address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
        let key = tcp_key(address);
        let listener = match self.reuse(&key)? {
            Some(fd) => std::net::TcpListener::from(fd),
            None => std::net::TcpListener::bind(address)?,
        };
        listener.set_nonblocking(true)?;
        self.keep(key, &listener)?;
        Ok(listener)
    }

    /// A UDP socket bound to `address`, likewise.
    pub fn udp(&self, address: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
        let key = udp_key(address);
        let socket = match self.reuse(&key)? {
            Some(fd) => std::net::UdpSocket::from(fd),
            None => std::net::UdpSocket::bind(address)?,
        };
        socket.set_nonblocking(true)?;
        self.keep(key, &socket)?;
        Ok(socket)
    }

    /// Forgets the socket of a closed TCP listener, so it is closed once its
    /// accept loop lets go of it and is not passed on.
    pub fn release_tcp(&self, address: SocketAddr) {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).remove(&tcp_key(address));
    }

    pub fn release_udp(&self, address: SocketAddr) {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).remove(&udp_key(address));
    }

    /// Closes the inherited sockets no listener claimed (the new Snapshot
    /// has no such port): left open they would queue connections nobody accepts.
    pub fn close_unclaimed(&self) -> Vec<String> {
        let mut inherited = self.inherited.lock().unwrap_or_else(|e| e.into_inner());
        let closed: Vec<String> = inherited.keys().cloned().collect();
        inherited.clear();
        closed
    }

    fn reuse(&self, key: &str) -> std::io::Result<Option<OwnedFd>> {
        if let Some(fd) = self.inherited.lock().unwrap_or_else(|e| e.into_inner()).remove(key) {
            return Ok(Some(fd));
        }
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.get(key).map(|fd| fd.try_clone()).transpose()
    }

    fn keep(&self, key: String, socket: &impl AsFd) -> std::io::Result<()> {
        let copy = socket.as_fd().try_clone_to_owned()?;
        self.live.lock().unwrap_or_else(|e| e.into_inner()).insert(key, copy);
        Ok(())
    }

    /// The keys of the running listeners' sockets.
    #[cfg(test)]
    fn live(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.live.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect();
        keys.sort();
        keys
    }

    /// Passes every running listener's socket to the new process waiting on
    /// `path`, retrying its connect until `timeout`. Returns how many went.
    pub fn send(&self, path: &Path, timeout: Duration) -> std::io::Result<usize> {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let conn = socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None)?;
        let address = UnixAddr::new(path)?;
        let deadline = Instant::now() + timeout;
        while let Err(e) = connect(conn.as_raw_fd(), &address) {
            if Instant::now() >= deadline {
                return Err(std::io::Error::other(format!("no new process on {}: {e}", path.display())));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let entries: Vec<(&String, RawFd)> = live.iter().map(|(k, fd)| (k, fd.as_raw_fd())).collect();
        for chunk in entries.chunks(FDS_A_MESSAGE) {
            let keys = chunk.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join("\n");
            let fds: Vec<RawFd> = chunk.iter().map(|(_, fd)| *fd).collect();
            let rights = [ControlMessage::ScmRights(&fds)];
            sendmsg::<UnixAddr>(conn.as_raw_fd(), &[IoSlice::new(keys.as_bytes())], &rights, MsgFlags::empty(), None)?;
        }
        sendmsg::<UnixAddr>(conn.as_raw_fd(), &[IoSlice::new(END)], &[], MsgFlags::empty(), None)?;
        Ok(entries.len())
    }

    /// Waits on `path` (until `timeout`) for the old process and takes over
    /// the sockets it passes. Returns how many came.
    pub fn receive(&self, path: &Path, timeout: Duration) -> std::io::Result<usize> {
        let server = socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None)?;
        let _ = std::fs::remove_file(path);
        bind(server.as_raw_fd(), &UnixAddr::new(path)?)?;
        let _unlink = Unlink(path);
        listen(&server, Backlog::new(1)?)?;
        let mut poll = [nix::poll::PollFd::new(server.as_fd(), nix::poll::PollFlags::POLLIN)];
        let waited = timeout.as_millis().min(i32::MAX as u128) as i32;
        if nix::poll::poll(&mut poll, nix::poll::PollTimeout::try_from(waited).unwrap_or(nix::poll::PollTimeout::MAX))?
            == 0
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no old process handed over its listeners on {}", path.display()),
            ));
        }
        // SAFETY: accept(2) returned a new descriptor nothing else owns.
        let conn = unsafe { OwnedFd::from_raw_fd(accept(server.as_raw_fd())?) };
        let mut received = 0;
        let mut payload = vec![0u8; 64 * 1024];
        loop {
            let mut cmsg = nix::cmsg_space!([RawFd; FDS_A_MESSAGE]);
            let mut iov = [IoSliceMut::new(&mut payload)];
            let msg = recvmsg::<UnixAddr>(conn.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC)?;
            let mut fds = Vec::new();
            for c in msg.cmsgs()? {
                if let ControlMessageOwned::ScmRights(mut f) = c {
                    fds.append(&mut f);
                }
            }
            let bytes = msg.bytes;
            // SAFETY: SCM_RIGHTS installed these descriptors in this process for us alone.
            let fds: Vec<OwnedFd> = fds.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }).collect();
            if bytes == 0 || &payload[..bytes] == END {
                return Ok(received);
            }
            let keys = std::str::from_utf8(&payload[..bytes]).map_err(std::io::Error::other)?;
            let mut inherited = self.inherited.lock().unwrap_or_else(|e| e.into_inner());
            for (key, fd) in keys.split('\n').zip(fds) {
                inherited.insert(key.to_owned(), fd);
                received += 1;
            }
        }
    }
}

/// Removes the hand-off socket's path when the hand-off is over.
struct Unlink<'a>(&'a Path);

impl Drop for Unlink<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A loopback port free now: listeners are keyed by the address asked for.
    fn free() -> SocketAddr {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
    }

    #[test]
    fn a_listener_handed_over_serves_the_connection_queued_on_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("handoff.sock");
        let old = ListenSockets::default();
        let (address, udp_address) = (free(), free());
        let listener = old.tcp(address).unwrap();
        let _udp = old.udp(udp_address).unwrap();
        let mut queued = std::net::TcpStream::connect(address).unwrap();

        let new = std::sync::Arc::new(ListenSockets::default());
        let receiver = {
            let (new, path) = (new.clone(), path.clone());
            std::thread::spawn(move || new.receive(&path, Duration::from_secs(5)))
        };
        assert_eq!(old.send(&path, Duration::from_secs(5)).unwrap(), 2);
        assert_eq!(receiver.join().unwrap().unwrap(), 2);
        drop(listener);
        old.release_tcp(address);
        drop(old);

        let taken = new.tcp(address).unwrap();
        taken.set_nonblocking(false).unwrap();
        let (mut served, _) = taken.accept().unwrap();
        queued.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        served.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
        assert_eq!(new.udp(udp_address).unwrap().local_addr().unwrap(), udp_address);
        assert!(new.close_unclaimed().is_empty());
        assert_eq!(new.live(), vec![tcp_key(address), udp_key(udp_address)]);
    }

    #[test]
    fn an_unclaimed_inherited_socket_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("handoff.sock");
        let old = ListenSockets::default();
        let address = free();
        let listener = old.tcp(address).unwrap();
        let new = std::sync::Arc::new(ListenSockets::default());
        let receiver = {
            let (new, path) = (new.clone(), path.clone());
            std::thread::spawn(move || new.receive(&path, Duration::from_secs(5)))
        };
        old.send(&path, Duration::from_secs(5)).unwrap();
        receiver.join().unwrap().unwrap();
        drop(listener);
        drop(old);
        assert_eq!(new.close_unclaimed(), vec![tcp_key(address)]);
        assert!(std::net::TcpStream::connect(address).is_err(), "the port is closed, not left queueing");
    }

    #[test]
    fn a_new_process_gives_up_when_no_old_one_hands_over() {
        let dir = tempfile::tempdir().unwrap();
        let e = ListenSockets::default().receive(&dir.path().join("h.sock"), Duration::from_millis(50)).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    }
}
