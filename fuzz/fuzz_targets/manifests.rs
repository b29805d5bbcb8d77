//! Any bytes as a manifest file: parsed, stored, translated, and the
//! Snapshot compiled into a RouteTable. Bad input must give diagnostics,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_config::Options;
use sluice_controller::sources::parse_manifest;
use sluice_controller::{Store, translate};
use sluice_proxy::RouteTable;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(parsed) = parse_manifest(&text, "fuzz.yaml") else { return };
    let mut store = Store::default();
    for object in parsed.objects {
        store.insert(object);
    }
    let (snapshot, _diagnostics) = translate(&store, &Options::default());
    let _ = RouteTable::compile(&snapshot, None);
});
