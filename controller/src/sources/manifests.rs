//! A directory of manifest files as a source: every `*.yaml`, `*.yml` and
//! `*.json` below it (hidden entries skipped, symlinks followed, so a mounted
//! ConfigMap works). A file that stops parsing keeps its last good objects.

use super::document::parse_manifest;
use crate::object::Object;
use crate::store::Store;
use sluice_config::{Diagnostic, ObjectRef};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
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
/// directory's YAML is not kept in memory), the objects it gives, and its
/// problems. The objects are always those of its last text that parsed: a
/// file that stops parsing (or cannot be read) keeps what it gave.
struct CachedFile {
    digest: u128,
    /// Its path below the root, as diagnostics name it.
    shown: String,
    objects: Vec<Object>,
    diagnostics: Vec<Diagnostic>,
}

impl CachedFile {
    /// `text` read into a file entry; `previous` is the entry it replaces.
    fn read(text: &str, digest: u128, shown: String, previous: Option<&CachedFile>) -> CachedFile {
        match parse_manifest(text, &shown) {
            Ok(parsed) => {
                let mut diagnostics = parsed.diagnostics;
                let objects = first_definitions(parsed.objects, &shown, &mut diagnostics);
                CachedFile { digest, shown, objects, diagnostics }
            }
            Err(e) => {
                let objects = previous.map(|p| p.objects.clone()).unwrap_or_default();
                let diagnostics = vec![Diagnostic::error(
                    ObjectRef::file(&shown),
                    "",
                    format!("not valid YAML or JSON ({e}); keeping the {} object(s) it last held", objects.len()),
                )];
                CachedFile { digest, shown, objects, diagnostics }
            }
        }
    }
}

/// A file's objects with each name once: the first definition is used.
fn first_definitions(objects: Vec<Object>, shown: &str, diagnostics: &mut Vec<Diagnostic>) -> Vec<Object> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(objects.len());
    for object in objects {
        let r = object.object_ref();
        if seen.contains(&r) {
            diagnostics.push(redefined(r, shown, shown));
            continue;
        }
        seen.insert(r);
        out.push(object);
    }
    out
}

fn redefined(r: ObjectRef, again: &str, first: &str) -> Diagnostic {
    Diagnostic::error(
        r,
        "metadata.name",
        format!("defined again in {again}; the first definition, in {first}, is used"),
    )
}

/// A manifest directory (or a single file) and what its files last held.
/// The store is kept from one load to the next and changed only where a
/// file changed, so a one-file change costs that file, not the directory.
pub struct ManifestDir {
    root: PathBuf,
    cache: HashMap<PathBuf, CachedFile>,
    store: Store,
    /// The files that define each object, in path order: the first is used.
    defined: HashMap<ObjectRef, BTreeSet<PathBuf>>,
    /// Objects more than one file defines.
    duplicated: BTreeSet<ObjectRef>,
    /// Files with problems of their own.
    with_diagnostics: BTreeSet<PathBuf>,
}

impl ManifestDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            cache: HashMap::new(),
            store: Store::default(),
            defined: HashMap::new(),
            duplicated: BTreeSet::new(),
            with_diagnostics: BTreeSet::new(),
        }
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
        for path in &files {
            let cached = self.cache.contains_key(path);
            if cached && changed.is_some_and(|c| !c.contains(path)) {
                continue;
            }
            let shown = path.strip_prefix(&self.root).unwrap_or(path).display().to_string();
            let shown = if shown.is_empty() { path.display().to_string() } else { shown };
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                // Deleted between listing and reading: it is gone, like its objects.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    self.forget_file(path);
                    continue;
                }
                Err(e) => {
                    // Its objects stay as they were, like those of a file that stops parsing.
                    let entry = self.cache.entry(path.clone()).or_insert_with(|| CachedFile {
                        digest: 0,
                        shown,
                        objects: Vec::new(),
                        diagnostics: Vec::new(),
                    });
                    let message =
                        format!("unreadable: {e}; keeping the {} object(s) it last held", entry.objects.len());
                    entry.diagnostics = vec![Diagnostic::error(ObjectRef::file(&entry.shown), "", message)];
                    // Read in full once it can be, even if its text is as before.
                    entry.digest = 0;
                    self.with_diagnostics.insert(path.clone());
                    continue;
                }
            };
            let digest = xxh3_128(text.as_bytes());
            if self.cache.get(path).is_some_and(|c| c.digest == digest) {
                continue;
            }
            let previous = self.cache.remove(path);
            let mut entry = CachedFile::read(&text, digest, shown, previous.as_ref());
            let old = previous.map(|p| p.objects).unwrap_or_default();
            entry.objects = self.replace(path, old, std::mem::take(&mut entry.objects));
            if entry.diagnostics.is_empty() {
                self.with_diagnostics.remove(path);
            } else {
                self.with_diagnostics.insert(path.clone());
            }
            self.cache.insert(path.clone(), entry);
        }
        let listed: HashSet<&PathBuf> = files.iter().collect();
        let gone: Vec<PathBuf> = self.cache.keys().filter(|p| !listed.contains(p)).cloned().collect();
        for path in gone {
            self.forget_file(&path);
        }
        Ok(Loaded { store: self.store.clone(), diagnostics: self.diagnostics(), files: files.len() })
    }

    /// A file that is gone takes its objects with it.
    fn forget_file(&mut self, path: &Path) {
        if let Some(entry) = self.cache.remove(path) {
            self.replace(path, entry.objects, Vec::new());
        }
        self.with_diagnostics.remove(path);
    }

    /// Makes `path` define `new` in place of `old`; returns `new`, with an
    /// object equal to its old version kept as that version (so the store,
    /// and what translation compares, is left untouched for it).
    fn replace(&mut self, path: &Path, old: Vec<Object>, new: Vec<Object>) -> Vec<Object> {
        let mut old: HashMap<ObjectRef, Object> = old.into_iter().map(|o| (o.object_ref(), o)).collect();
        let mut kept = Vec::with_capacity(new.len());
        for object in new {
            let r = object.object_ref();
            match old.remove(&r) {
                Some(before) if before == object => kept.push(before),
                _ => {
                    self.define(path, r, &object);
                    kept.push(object);
                }
            }
        }
        for r in old.into_keys() {
            self.undefine(path, &r);
        }
        kept
    }

    fn define(&mut self, path: &Path, r: ObjectRef, object: &Object) {
        let files = self.defined.entry(r.clone()).or_default();
        files.insert(path.to_path_buf());
        if files.len() > 1 {
            self.duplicated.insert(r);
        }
        if files.first().is_some_and(|f| f == path) {
            self.store.insert(object.clone());
        }
    }

    fn undefine(&mut self, path: &Path, r: &ObjectRef) {
        let Some(files) = self.defined.get_mut(r) else { return };
        let was_used = files.first().is_some_and(|f| f == path);
        files.remove(path);
        if files.len() < 2 {
            self.duplicated.remove(r);
        }
        let Some(next) = files.first().cloned() else {
            self.defined.remove(r);
            self.store.remove_ref(r);
            return;
        };
        if was_used {
            // The next file in order that defines it is used now.
            let object = self.cache.get(&next).and_then(|c| c.objects.iter().find(|o| o.object_ref() == *r));
            match object {
                Some(o) => {
                    self.store.insert(o.clone());
                }
                None => {
                    self.store.remove_ref(r);
                }
            }
        }
    }

    /// Every file's problems and every object defined twice, in path order.
    fn diagnostics(&self) -> Vec<Diagnostic> {
        let mut by_file: BTreeMap<&Path, Vec<Diagnostic>> = BTreeMap::new();
        for path in &self.with_diagnostics {
            if let Some(c) = self.cache.get(path) {
                by_file.entry(path).or_default().extend(c.diagnostics.iter().cloned());
            }
        }
        let shown = |p: &Path| self.cache.get(p).map_or_else(|| p.display().to_string(), |c| c.shown.clone());
        for r in &self.duplicated {
            let Some(files) = self.defined.get(r) else { continue };
            let mut files = files.iter();
            let Some(first) = files.next() else { continue };
            for again in files {
                by_file.entry(again).or_default().push(redefined(r.clone(), &shown(again), &shown(first)));
            }
        }
        by_file.into_values().flatten().collect()
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
            // The entry's own type needs no system call; only a symlink is followed.
            let Ok(own) = entry.file_type() else { continue };
            let (dir, file) = if own.is_symlink() {
                symlinks = true;
                match std::fs::metadata(&path) {
                    Ok(m) => (m.is_dir(), m.is_file()),
                    Err(_) => continue,
                }
            } else {
                (own.is_dir(), own.is_file())
            };
            if dir {
                stack.push(path);
            } else if file && is_manifest(&path) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok((out, symlinks))
}
