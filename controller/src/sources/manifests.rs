//! A directory of manifest files as a source: every `*.yaml`, `*.yml` and
//! `*.json` below it (hidden entries skipped, symlinks followed, so a mounted
//! ConfigMap works). A file that stops parsing keeps its last good objects.

use super::document::{ParsedFile, parse_manifest};
use crate::store::Store;
use sluice_config::{Diagnostic, ObjectRef};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::xxh3_128;

/// The store a load produced, with the problems found on the way.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub store: Store,
    pub diagnostics: Vec<Diagnostic>,
    /// Manifest files read.
    pub files: usize,
}

/// A file as last read: the digest of its text (not the text: a large
/// directory's YAML is not kept in memory), its objects, and the objects it
/// held when it last parsed.
struct CachedFile {
    digest: u128,
    parsed: Result<ParsedFile, String>,
    last_good: Option<ParsedFile>,
}

/// A manifest directory (or a single file) and what its files last held.
pub struct ManifestDir {
    root: PathBuf,
    cache: HashMap<PathBuf, CachedFile>,
}

impl ManifestDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into(), cache: HashMap::new() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads every manifest file. `Err` only when the root cannot be read;
    /// problems with single files are diagnostics.
    pub fn load(&mut self) -> io::Result<Loaded> {
        self.load_changed(None)
    }

    /// As [`ManifestDir::load`], but reads again only the files in
    /// `changed` (and new ones); the others give what they held at the
    /// last load. `None`: read every file.
    pub fn load_changed(&mut self, changed: Option<&HashSet<PathBuf>>) -> io::Result<Loaded> {
        let (files, symlinks) = list_manifests(&self.root)?;
        // Through a symlink a file can change without an event naming it.
        let changed = changed.filter(|_| !symlinks);
        let mut loaded = Loaded { files: files.len(), ..Loaded::default() };
        let mut origin: BTreeMap<ObjectRef, String> = BTreeMap::new();
        for path in &files {
            let shown = path.strip_prefix(&self.root).unwrap_or(path).display().to_string();
            let shown = if shown.is_empty() { path.display().to_string() } else { shown };
            let mut entry = match self.cache.remove(path) {
                Some(c) if changed.is_some_and(|c| !c.contains(path)) => c,
                previous => {
                    let text = match std::fs::read_to_string(path) {
                        Ok(t) => t,
                        Err(e) => {
                            // Deleted between listing and reading: it is gone, like its objects.
                            if e.kind() != io::ErrorKind::NotFound {
                                let message = format!("unreadable: {e}");
                                loaded.diagnostics.push(Diagnostic::error(ObjectRef::file(&shown), "", message));
                            }
                            if let Some(c) = previous {
                                self.cache.insert(path.clone(), c);
                            }
                            continue;
                        }
                    };
                    let digest = xxh3_128(text.as_bytes());
                    match previous {
                        Some(c) if c.digest == digest => c,
                        previous => {
                            let parsed = parse_manifest(&text, &shown);
                            CachedFile { digest, parsed, last_good: previous.and_then(|p| p.last_good) }
                        }
                    }
                }
            };
            let objects = match &entry.parsed {
                Ok(file) => {
                    entry.last_good = Some(file.clone());
                    loaded.diagnostics.extend(file.diagnostics.iter().cloned());
                    file.objects.clone()
                }
                Err(e) => {
                    let kept = entry.last_good.as_ref().map(|g| g.objects.clone()).unwrap_or_default();
                    loaded.diagnostics.push(Diagnostic::error(
                        ObjectRef::file(&shown),
                        "",
                        format!("not valid YAML or JSON ({e}); keeping the {} object(s) it last held", kept.len()),
                    ));
                    kept
                }
            };
            self.cache.insert(path.clone(), entry);
            for object in objects {
                let r = object.object_ref();
                if let Some(first) = origin.get(&r) {
                    loaded.diagnostics.push(Diagnostic::error(
                        r,
                        "metadata.name",
                        format!("defined again in {shown}; the first definition, in {first}, is used"),
                    ));
                    continue;
                }
                origin.insert(r, shown.clone());
                loaded.store.insert(object);
            }
        }
        let listed: HashSet<&PathBuf> = files.iter().collect();
        self.cache.retain(|p, _| listed.contains(p));
        Ok(loaded)
    }
}

pub(super) fn is_manifest(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

/// A hidden entry that is not one of the `..`-named links and directories a
/// mounted ConfigMap swaps: never read, and no manifest can be under it.
pub(super) fn is_hidden_file(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.') && !n.starts_with(".."))
}

/// Manifest files below `root`, sorted (`root` may itself be a file), and
/// whether a symlink was followed to find them.
fn list_manifests(root: &Path) -> io::Result<(Vec<PathBuf>, bool)> {
    let meta = std::fs::metadata(root)?;
    if meta.is_file() {
        return Ok((vec![root.to_path_buf()], std::fs::symlink_metadata(root)?.is_symlink()));
    }
    let mut symlinks = false;
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    let mut first = true;
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if first => return Err(e),
            Err(_) => continue,
        };
        first = false;
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            symlinks |= entry.file_type().is_ok_and(|t| t.is_symlink());
            match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => stack.push(path),
                Ok(m) if m.is_file() && is_manifest(&path) => out.push(path),
                _ => {}
            }
        }
    }
    out.sort();
    Ok((out, symlinks))
}
