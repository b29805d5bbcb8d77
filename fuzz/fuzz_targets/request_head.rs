//! Any bytes as the start of a client connection, through the tracking of
//! whether a request head has arrived whole (the header timeout runs until
//! it has; HTTP/2 is left alone), in arbitrary read splits: never a panic,
//! and the state reached is that of the bytes read at once.
#![no_main]

mod splits;

use libfuzzer_sys::fuzz_target;
use sluice_proxy::http::head_state_after;
use splits::cut;

fuzz_target!(|data: &[u8]| {
    let (reads, sent) = cut(data);
    let at_once = head_state_after([sent]);
    assert_eq!(head_state_after(reads.iter().copied()), at_once, "{sent:?} read as {reads:?}");
});
