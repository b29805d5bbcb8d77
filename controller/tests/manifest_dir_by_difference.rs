//! A manifest directory read by difference gives what reading it whole
//! gives: after any sequence of files written, rewritten and removed (an
//! object defined in one file or several, moved between files, defined
//! twice in one file), the store and the diagnostics of reading only the
//! changed file equal those of a fresh read of the whole directory.

use proptest::prelude::*;
use sluice_controller::sources::ManifestDir;
use std::collections::HashSet;
use std::path::PathBuf;

const FILES: &[&str] = &["a.yaml", "b.yaml", "sub/c.yaml", "d.json"];
const NAMES: &[&str] = &["s0", "s1", "s2"];

/// One change to the directory.
#[derive(Debug, Clone)]
enum Change {
    /// File `FILES[n]` written with these Services (name, port).
    Write(usize, Vec<(usize, u16)>),
    Remove(usize),
}

fn change() -> impl Strategy<Value = Change> {
    let service = (0..NAMES.len(), prop::sample::select(&[80u16, 81][..]));
    prop_oneof![
        3 => (0..FILES.len(), prop::collection::vec(service, 0..4)).prop_map(|(f, s)| Change::Write(f, s)),
        1 => (0..FILES.len()).prop_map(Change::Remove),
    ]
}

fn text(file: &str, services: &[(usize, u16)]) -> String {
    let one = |(n, port): &(usize, u16)| {
        format!(
            r#"{{"apiVersion": "v1", "kind": "Service", "metadata": {{"name": "{}"}}, "spec": {{"ports": [{{"port": {port}}}]}}}}"#,
            NAMES[*n]
        )
    };
    if file.ends_with(".json") {
        // One object a JSON file.
        return services.first().map(one).unwrap_or_default();
    }
    services.iter().map(|s| format!("---\n{}\n", one(s))).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn reading_the_changed_file_equals_reading_the_directory(changes in prop::collection::vec(change(), 1..12)) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let mut kept = ManifestDir::new(dir.path());
        kept.load().unwrap();
        for c in &changes {
            let (n, written) = match c {
                Change::Write(n, services) => (*n, Some(text(FILES[*n], services))),
                Change::Remove(n) => (*n, None),
            };
            let path: PathBuf = dir.path().join(FILES[n]);
            match written {
                Some(t) => std::fs::write(&path, t).unwrap(),
                None => {
                    let _ = std::fs::remove_file(&path);
                }
            }
            let by_difference = kept.load_changed(Some(&HashSet::from([path]))).unwrap();
            let whole = ManifestDir::new(dir.path()).load().unwrap();
            prop_assert_eq!(&by_difference.store, &whole.store, "after {:?}", c);
            prop_assert_eq!(&by_difference.diagnostics, &whole.diagnostics, "after {:?}", c);
            prop_assert_eq!(by_difference.files, whole.files);
        }
    }
}
