//! Any Snapshot JSON (what `sluice check` prints): compiled into a
//! RouteTable, then again over the first as a swap does. A host the proxy
//! cannot compile is a problem the table lists, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_config::Snapshot;
use sluice_proxy::RouteTable;

fuzz_target!(|data: &[u8]| {
    let Ok(snapshot) = serde_json::from_slice::<Snapshot>(data) else { return };
    let first = RouteTable::compile(&snapshot, None);
    let second = RouteTable::compile(&snapshot, Some(&first));
    assert_eq!(first.problems().len(), second.problems().len());
});
