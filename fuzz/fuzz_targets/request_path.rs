//! Any request path through the routing normalisation: the result is a
//! path with no empty, `.` or `..` segment, and normalising it again
//! changes nothing, so no spelling reaches a different rule.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_proxy::http::routing_path;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    if !raw.starts_with('/') {
        return;
    }
    let Some(path) = routing_path(raw) else { return };
    assert!(path.starts_with('/'), "{raw:?} -> {path:?}");
    if path.contains('%') {
        return;
    }
    assert!(!path.contains("//") && !path.contains("/./") && !path.contains("/../"), "{raw:?} -> {path:?}");
    assert!(!path.ends_with("/.") && !path.ends_with("/.."), "{raw:?} -> {path:?}");
    assert_eq!(routing_path(&path).as_deref(), Some(&*path), "{raw:?} is not stable");
});
