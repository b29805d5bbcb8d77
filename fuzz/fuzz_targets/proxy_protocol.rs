//! Any bytes as a PROXY protocol (v1/v2) header, read in arbitrary splits:
//! never a panic, and the verdict (the client address, or the error) and
//! the payload after the header are those of the bytes read at once.
#![no_main]

mod splits;

use libfuzzer_sys::fuzz_target;
use sluice_proxy::l4::proxy_protocol::{DecodeError, decode};
use splits::{Reads, cut, run};
use std::net::SocketAddr;

/// The decoder's verdict, with the payload: what it returned past the
/// header followed by what it left unread.
fn decoded(reads: Vec<&[u8]>) -> Result<(Option<SocketAddr>, Vec<u8>), DecodeError> {
    let mut peer = Reads::new(reads);
    let (client, mut payload) = run(decode(&mut peer))?;
    payload.extend(peer.unread());
    Ok((client, payload))
}

fuzz_target!(|data: &[u8]| {
    let (reads, sent) = cut(data);
    let at_once = decoded(vec![sent]);
    assert_eq!(decoded(reads.clone()), at_once, "{sent:?} read as {reads:?}");
});
