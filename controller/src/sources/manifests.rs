//! A directory of manifest files as a source: every `*.yaml`, `*.yml` and
//! `*.json` below it (hidden entries skipped, symlinks followed, so a mounted
//! ConfigMap works). A file that stops parsing keeps its last good objects.

use super::document::{ParsedFile, parse_manifest};
use crate::store::Store;
use sluice_config::{Diagnostic, ObjectRef};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};

/// The store a load produced, with the problems found on the way.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub store: Store,
    pub diagnostics: Vec<Diagnostic>,
    /// Manifest files read.
    pub files: usize,
}

struct CachedFile {
    text: String,
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
        let files = list_manifests(&self.root)?;
        let mut loaded = Loaded { files: files.len(), ..Loaded::default() };
        let mut origin: BTreeMap<ObjectRef, String> = BTreeMap::new();
        for path in &files {
            let shown = path.strip_prefix(&self.root).unwrap_or(path).display().to_string();
            let shown = if shown.is_empty() { path.display().to_string() } else { shown };
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                // Deleted between listing and reading: it is gone, like its objects.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    loaded.diagnostics.push(Diagnostic::error(ObjectRef::file(&shown), "", format!("unreadable: {e}")));
                    continue;
                }
            };
            let entry = self.cache.remove(path);
            let mut entry = match entry {
                Some(c) if c.text == text => c,
                previous => {
                    let parsed = parse_manifest(&text, &shown);
                    CachedFile { text, parsed, last_good: previous.and_then(|p| p.last_good) }
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
        self.cache.retain(|p, _| files.contains(p));
        Ok(loaded)
    }
}

fn is_manifest(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

/// Manifest files below `root`, sorted; `root` may itself be a file.
fn list_manifests(root: &Path) -> io::Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(root)?;
    if meta.is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
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
            match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => stack.push(path),
                Ok(m) if m.is_file() && is_manifest(&path) => out.push(path),
                _ => {}
            }
        }
    }
    out.sort();
    Ok(out)
}
