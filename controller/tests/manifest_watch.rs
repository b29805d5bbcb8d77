//! The manifest directory as a live source: edits become new Snapshots, and
//! broken edits keep the last good configuration serving.

mod common;
use common::*;
use sluice_config::{Options, Severity};
use sluice_controller::Published;
use sluice_controller::sources::spawn_manifest_pipeline;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Waits (bounded) for a published value that satisfies `pred`.
fn wait_for(
    rx: &mut tokio::sync::watch::Receiver<Arc<Published>>,
    what: &str,
    pred: impl Fn(&Published) -> bool,
) -> Arc<Published> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let current = rx.borrow_and_update().clone();
        if pred(&current) {
            return current;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; last:\n{}", list(&current.diagnostics));
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn write(dir: &std::path::Path, name: &str, text: &str) {
    // Write then rename, as editors and ConfigMap mounts do: never a torn read.
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

#[test]
fn edits_publish_new_generations_and_broken_edits_keep_the_last_good_objects() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "svc.yaml", &(service("a", "192.0.2.1") + &service("b", "192.0.2.2")));
    write(dir.path(), "ing.yaml", &ingress("web", Some("foo.com"), &[("Prefix", "/", "a")]));
    let pipeline = spawn_manifest_pipeline(dir.path().into(), Options::default(), Duration::from_millis(20)).unwrap();
    let mut rx = pipeline.published.clone();

    let first = wait_for(&mut rx, "the first Snapshot", |p| p.snapshot.generation == 1);
    assert_eq!(target(&first.snapshot, "foo.com", "/"), ["default/a:80"]);

    // An edit: the route now goes to b.
    write(dir.path(), "ing.yaml", &ingress("web", Some("foo.com"), &[("Prefix", "/", "b")]));
    let second = wait_for(&mut rx, "the edit", |p| target(&p.snapshot, "foo.com", "/") == ["default/b:80"]);
    assert_eq!(second.snapshot.generation, 2);

    // A broken edit of the Ingress (a port that is not a number): the object
    // keeps its last good form, and the error is reported.
    let broken = ingress("web", Some("foo.com"), &[("Prefix", "/", "a")]).replace("number: 80", "number: eighty");
    write(dir.path(), "ing.yaml", &broken);
    let kept = wait_for(&mut rx, "the error report", |p| p.errors() > 0);
    find(&kept.diagnostics, Severity::Error, "Ingress/default/web", "port.number");
    find(&kept.diagnostics, Severity::Info, "Ingress/default/web", "");
    assert_eq!(target(&kept.snapshot, "foo.com", "/"), ["default/b:80"], "the last good version keeps serving");
    assert_eq!(kept.snapshot.generation, 2, "nothing changed in what is served");

    // A half-written file that is not YAML at all: its last objects are kept.
    write(dir.path(), "svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: [");
    let torn = wait_for(&mut rx, "the parse error", |p| p.diagnostics.iter().any(|d| d.object.kind == "File"));
    assert_eq!(endpoints(&torn.snapshot, "default/b:80"), ["192.0.2.2:8080"]);

    // Fixed files are taken as they are.
    write(dir.path(), "svc.yaml", &(service("a", "192.0.2.1") + &service("b", "192.0.2.9")));
    write(dir.path(), "ing.yaml", &ingress("web", Some("foo.com"), &[("Prefix", "/", "a")]));
    let fixed =
        wait_for(&mut rx, "the fix", |p| p.errors() == 0 && target(&p.snapshot, "foo.com", "/") == ["default/a:80"]);
    assert!(fixed.snapshot.generation >= 3);

    // Deleting a file deletes its objects: nothing is kept for a deleted object.
    std::fs::remove_file(dir.path().join("ing.yaml")).unwrap();
    let gone = wait_for(&mut rx, "the deletion", |p| target(&p.snapshot, "foo.com", "/") == ["404"]);
    assert_eq!(gone.errors(), 0, "{}", list(&gone.diagnostics));
}

#[test]
fn an_edit_is_published_quickly() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "svc.yaml", &(service("a", "192.0.2.1") + &service("b", "192.0.2.2")));
    write(dir.path(), "ing.yaml", &ingress("web", Some("foo.com"), &[("Prefix", "/", "a")]));
    let pipeline = spawn_manifest_pipeline(dir.path().into(), Options::default(), Duration::from_millis(20)).unwrap();
    let mut rx = pipeline.published.clone();
    wait_for(&mut rx, "the first Snapshot", |p| p.snapshot.generation == 1);
    // Each edit must be observed; the wait is bounded, timing is measured by the benchmarks.
    for i in 0..5 {
        let svc = if i % 2 == 0 { "b" } else { "a" };
        write(dir.path(), "ing.yaml", &ingress("web", Some("foo.com"), &[("Prefix", "/", svc)]));
        let want = format!("default/{svc}:80");
        wait_for(&mut rx, "the edit", |p| target(&p.snapshot, "foo.com", "/") == [want.as_str()]);
    }
}

#[test]
fn a_lone_edit_is_not_held_back_by_the_debounce_and_a_burst_is_gathered() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "svc.yaml", &service("a", "192.0.2.1"));
    let debounce = Duration::from_secs(2);
    let pipeline = spawn_manifest_pipeline(dir.path().into(), Options::default(), debounce).unwrap();
    let mut rx = pipeline.published.clone();
    wait_for(&mut rx, "the first Snapshot", |p| p.snapshot.generation == 1);
    std::thread::sleep(Duration::from_millis(100));

    // A lone edit after a quiet spell is read at once.
    let sent = Instant::now();
    write(dir.path(), "ing.yaml", &ingress("web", Some("foo.com"), &[("Prefix", "/", "a")]));
    wait_for(&mut rx, "the lone edit", |p| target(&p.snapshot, "foo.com", "/") == ["default/a:80"]);
    assert!(sent.elapsed() < Duration::from_millis(1500), "held back {:?} by a 2 s debounce", sent.elapsed());
    let before = rx.borrow().snapshot.generation;

    // Edits within the debounce of it are gathered into one more Snapshot.
    for i in 0..20 {
        write(
            dir.path(),
            &format!("b{i}.yaml"),
            &ingress(&format!("b{i}"), Some(&format!("b{i}.com")), &[("Prefix", "/", "a")]),
        );
    }
    let after = wait_for(&mut rx, "the burst", |p| target(&p.snapshot, "b19.com", "/") == ["default/a:80"]);
    assert_eq!(after.snapshot.generation - before, 1, "20 edits within the debounce were one Snapshot");
}

/// Only the files a change names are read again, so every way of changing
/// a file must name it: written in place, and a directory of manifests
/// moved in (an event on the directory, not its files: all is read).
#[test]
fn in_place_writes_and_moved_in_directories_are_read() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "svc.yaml", &service("a", "192.0.2.1"));
    let pipeline = spawn_manifest_pipeline(dir.path().into(), Options::default(), Duration::from_millis(20)).unwrap();
    let mut rx = pipeline.published.clone();
    wait_for(&mut rx, "the first Snapshot", |p| p.snapshot.generation == 1);

    std::fs::write(dir.path().join("ing.yaml"), ingress("web", Some("foo.com"), &[("Prefix", "/", "a")])).unwrap();
    wait_for(&mut rx, "the file written in place", |p| target(&p.snapshot, "foo.com", "/") == ["default/a:80"]);

    let outside = tempfile::tempdir_in(dir.path().parent().unwrap()).unwrap();
    std::fs::create_dir(outside.path().join("more")).unwrap();
    std::fs::write(outside.path().join("more/b.yaml"), ingress("b", Some("b.com"), &[("Prefix", "/", "a")])).unwrap();
    std::fs::rename(outside.path().join("more"), dir.path().join("more")).unwrap();
    wait_for(&mut rx, "the moved-in directory", |p| target(&p.snapshot, "b.com", "/") == ["default/a:80"]);

    std::fs::write(dir.path().join("more/b.yaml"), ingress("b", Some("b.com"), &[("Prefix", "/b", "a")])).unwrap();
    wait_for(&mut rx, "the edit in the subdirectory", |p| target(&p.snapshot, "b.com", "/b") == ["default/a:80"]);
}
