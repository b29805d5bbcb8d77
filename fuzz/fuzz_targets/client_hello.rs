//! Any bytes as the start of a TLS connection, through the ClientHello
//! reader ssl-passthrough and client-certificate checks use, in arbitrary
//! read splits: never a panic, the SNI name (or the error) is that of the
//! bytes read at once, and what it keeps to put back is what it read.
#![no_main]

mod splits;

use libfuzzer_sys::fuzz_target;
use sluice_proxy::tls::read_sni;
use splits::{Reads, cut, run};

fn sni(reads: Vec<&[u8]>, sent: &[u8]) -> Result<Option<String>, String> {
    let mut peer = Reads::new(reads);
    let mut seen = Vec::new();
    let result = run(read_sni(&mut peer, &mut seen));
    let mut all = seen;
    all.extend(peer.unread());
    assert_eq!(all, sent, "the bytes read are kept whole, to be put back");
    result
}

fuzz_target!(|data: &[u8]| {
    let (reads, sent) = cut(data);
    let at_once = sni(vec![sent], sent);
    assert_eq!(sni(reads.clone(), sent), at_once, "{sent:?} read as {reads:?}");
});
