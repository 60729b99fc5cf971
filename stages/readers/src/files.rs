//! Finding a reader's input files: paths, directories and globs, sorted,
//! filtered and optionally sampled, always in the same order.
//!
//! Each entry of `paths` is a local path, a `file://` URL or an `s3://`
//! URL (`s3://bucket/prefix`, read as a directory if objects lie under
//! `prefix/`, else as one object; or a glob such as
//! `s3://bucket/crawl/**/*.warc.gz`). An object's relative path starts with
//! the prefix's last component, exactly like a directory's, so a run over
//! `s3://bucket/data/web` gives the same document ids and task plan as one
//! over a local copy `/mnt/data/web`. Objects are streamed when read
//! ([`sluice_objstore::Store::open`]).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};
use sluice_pipeline::size::ByteSize;
use sluice_pipeline::{Error, InputFile, Result};

/// Which files a reader reads. Shared by every file-based reader.
///
/// Reader configurations repeat these fields through [`file_reader_config!`]
/// rather than `#[serde(flatten)]`: a flattened struct swallows the keys it
/// does not know, so a misspelt option (`max_filez: 3`) would be accepted
/// without a word.
#[derive(Debug, Clone, Default)]
pub struct FilesConfig {
    pub paths: Vec<String>,
    pub include: Option<Vec<String>>,
    pub exclude: Vec<String>,
    pub max_files: Option<usize>,
    pub max_file_bytes: Option<ByteSize>,
    pub hidden: bool,
}

/// Define a file reader's configuration: the common file options
/// ([`FilesConfig`]) followed by the reader's own fields, as one flat struct
/// whose every key is known to serde (so unknown keys are reported), plus a
/// `files()` accessor that gathers the common part.
#[macro_export]
macro_rules! file_reader_config {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
        pub struct $name {
            /// Files, directories (searched recursively) or glob patterns such as
            /// `data/**/*.jsonl.gz`. Relative paths are relative to the current
            /// directory. `file://` URLs, and `s3://bucket/prefix` URLs (a prefix
            /// is read like a directory; globs work too) are accepted.
            pub paths: Vec<String>,
            /// Inside directories, read only files whose path (relative to the
            /// directory) matches one of these globs. Each reader has a default
            /// (its usual extensions). Files named explicitly are always read.
            #[serde(default)]
            pub include: Option<Vec<String>>,
            /// Skip files whose relative path matches one of these globs.
            #[serde(default)]
            pub exclude: Vec<String>,
            /// Read at most this many files, chosen by a seeded hash of their
            /// relative paths: a deterministic sample spread across directories.
            #[serde(default)]
            #[schemars(range(min = 1, max = 1000000000))]
            pub max_files: Option<usize>,
            /// Skip files larger than this (they are counted, not read).
            #[serde(default)]
            #[schemars(extend("x-max-bytes" = 1099511627776u64))]
            pub max_file_bytes: Option<sluice_pipeline::size::ByteSize>,
            /// Read hidden files and directories (names starting with `.`).
            #[serde(default)]
            pub hidden: bool,
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $name {
            /// The common file options.
            pub fn files(&self) -> $crate::files::FilesConfig {
                $crate::files::FilesConfig {
                    paths: self.paths.clone(),
                    include: self.include.clone(),
                    exclude: self.exclude.clone(),
                    max_files: self.max_files,
                    max_file_bytes: self.max_file_bytes,
                    hidden: self.hidden,
                }
            }
        }
    };
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

fn build_set(patterns: &[String]) -> std::result::Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).map_err(|e| format!("bad glob `{p}`: {e}"))?);
    }
    b.build().map_err(|e| e.to_string())
}

/// A checked [`FilesConfig`].
#[derive(Debug, Clone)]
pub struct FileLister {
    paths: Vec<String>,
    include: GlobSet,
    exclude: GlobSet,
    max_files: Option<usize>,
    max_file_bytes: Option<u64>,
    hidden: bool,
    seed: u64,
}

impl FilesConfig {
    /// Check the configuration; errors are `(field path, message)`.
    pub fn build(&self, default_include: &[&str], seed: u64) -> std::result::Result<FileLister, Vec<(String, String)>> {
        let mut errs = Vec::new();
        if self.paths.is_empty() {
            errs.push(("paths".into(), "list at least one file, directory or glob".into()));
        }
        let mut paths = Vec::with_capacity(self.paths.len());
        for (i, p) in self.paths.iter().enumerate() {
            // Object storage is checked when listed, not here: validating a
            // recipe needs no network.
            if sluice_objstore::is_url(p) {
                let base = if has_glob(p) { glob_base(p) } else { p };
                if has_glob(p["s3://".len()..].split('/').next().unwrap_or("")) {
                    errs.push((format!("paths[{i}]"), format!("`{p}`: the bucket name cannot be a glob")));
                } else if let Err(e) = sluice_objstore::S3Url::parse(base) {
                    errs.push((format!("paths[{i}]"), e.to_string()));
                }
                paths.push(p.clone());
                continue;
            }
            let local = match sluice_objstore::file_url_path(p) {
                Some(Ok(path)) => path.to_string_lossy().into_owned(),
                Some(Err(e)) => {
                    errs.push((format!("paths[{i}]"), e.to_string()));
                    continue;
                }
                None => p.clone(),
            };
            if !has_glob(&local) && !Path::new(&local).exists() {
                errs.push((format!("paths[{i}]"), format!("`{p}` does not exist")));
            }
            paths.push(local);
        }
        let include: Vec<String> = match &self.include {
            Some(v) => v.clone(),
            None => default_include.iter().map(|s| s.to_string()).collect(),
        };
        let include = build_set(&include).map_err(|e| errs.push(("include".into(), e))).ok();
        let exclude = build_set(&self.exclude).map_err(|e| errs.push(("exclude".into(), e))).ok();
        if self.max_files == Some(0) {
            errs.push(("max_files".into(), "must be at least 1".into()));
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(FileLister {
            paths,
            include: include.expect("checked"),
            exclude: exclude.expect("checked"),
            max_files: self.max_files,
            max_file_bytes: self.max_file_bytes.map(|b| b.0),
            hidden: self.hidden,
            seed,
        })
    }
}

impl FileLister {
    /// Every matching file, sorted by relative path. The relative path
    /// starts with the root's own name (`doc/zlib1g/copyright` for the
    /// root `/usr/share/doc`), so ids do not depend on where data is mounted.
    pub fn list(&self) -> Result<Vec<InputFile>> {
        let mut out: Vec<InputFile> = Vec::new();
        for p in &self.paths {
            if sluice_objstore::is_url(p) {
                self.list_s3(p, &mut out)?;
            } else if has_glob(p) {
                // Walk the longest literal prefix, match the whole pattern.
                let cut = p.find(['*', '?', '[', '{']).unwrap_or(p.len());
                let base = match p[..cut].rfind('/') {
                    Some(i) => &p[..i.max(1)],
                    None => ".",
                };
                let pattern = Glob::new(p).map_err(|e| Error::stage("files", format!("bad glob `{p}`: {e}")))?.compile_matcher();
                self.walk(Path::new(base), &mut out, Some(&pattern))?;
            } else {
                let path = Path::new(p);
                let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
                if meta.is_dir() {
                    self.walk(path, &mut out, None)?;
                } else {
                    out.push(InputFile { path: path.to_path_buf(), rel: file_name(path), size: meta.len() });
                }
            }
        }
        out.sort_by(|a, b| (&a.rel, &a.path).cmp(&(&b.rel, &b.path)));
        out.dedup_by(|a, b| a.path == b.path);
        if let Some(max) = self.max_file_bytes {
            out.retain(|f| f.size <= max);
        }
        if let Some(n) = self.max_files {
            if out.len() > n {
                let seed = self.seed;
                let mut keyed: Vec<(u64, InputFile)> =
                    out.into_iter().map(|f| (xxhash_rust::xxh3::xxh3_64_with_seed(f.rel.as_bytes(), seed), f)).collect();
                keyed.sort_by(|a, b| (a.0, &a.1.rel).cmp(&(b.0, &b.1.rel)));
                keyed.truncate(n);
                out = keyed.into_iter().map(|(_, f)| f).collect();
                out.sort_by(|a, b| (&a.rel, &a.path).cmp(&(&b.rel, &b.path)));
            }
        }
        Ok(out)
    }

    /// The objects of an `s3://` entry of `paths` (see the module comment).
    fn list_s3(&self, p: &str, out: &mut Vec<InputFile>) -> Result<()> {
        let io_err = |e: std::io::Error| Error::io(p, e);
        let glob = has_glob(p);
        let base = sluice_objstore::S3Url::parse(if glob { glob_base(p) } else { p }).map_err(io_err)?;
        let store = sluice_objstore::Store::for_bucket(&base.bucket).map_err(io_err)?;
        let objects = store.list(&base.key).map_err(io_err)?;
        let url = |key: &str| format!("s3://{}/{key}", base.bucket);
        if !glob && objects.is_empty() && !base.key.is_empty() {
            // Not a prefix: one object, or nothing.
            let Some(o) = store.head(&base.key).map_err(io_err)? else {
                return Err(Error::io(
                    p,
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no such object, and no object under this prefix"),
                ));
            };
            let name = base.key.rsplit('/').next().unwrap_or(&base.key).to_string();
            out.push(InputFile { path: url(&o.key).into(), rel: name, size: o.size });
            return Ok(());
        }
        // A directory: relative paths start with its own name (the bucket's
        // for the whole bucket), as for a local directory.
        let root_name = if base.key.is_empty() { base.bucket.as_str() } else { base.key.rsplit('/').next().unwrap_or(&base.key) };
        let pattern = if glob {
            Some(Glob::new(p).map_err(|e| Error::stage("files", format!("bad glob `{p}`: {e}")))?.compile_matcher())
        } else {
            None
        };
        let skip = if base.key.is_empty() { 0 } else { base.key.len() + 1 };
        for o in objects {
            let in_root = &o.key[skip..];
            // Folder placeholders (`dir/`) and keys sluice could not name.
            if sluice_objstore::check_key(in_root).is_err() {
                continue;
            }
            if !self.hidden && in_root.split('/').any(|c| c.starts_with('.')) {
                continue;
            }
            let full = url(&o.key);
            if let Some(m) = &pattern {
                if !m.is_match(&full) {
                    continue;
                }
            } else if !self.include.is_match(in_root) {
                continue;
            }
            if self.exclude.is_match(in_root) {
                continue;
            }
            out.push(InputFile { path: full.into(), rel: format!("{root_name}/{in_root}"), size: o.size });
        }
        Ok(())
    }

    fn walk(&self, root: &Path, out: &mut Vec<InputFile>, pattern: Option<&globset::GlobMatcher>) -> Result<()> {
        let anchor = root.parent().unwrap_or(Path::new(""));
        let walker = walkdir::WalkDir::new(root).follow_links(false).sort_by_file_name().into_iter();
        let hidden = self.hidden;
        let walker = walker.filter_entry(move |e| hidden || e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
        for entry in walker {
            let entry = match entry {
                Ok(e) => e,
                // Unreadable subdirectories are skipped, not fatal: crawled
                // dumps and system directories have them.
                Err(_) => continue,
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let path = entry.path();
            let in_root = path.strip_prefix(root).unwrap_or(path);
            if let Some(m) = pattern {
                if !m.is_match(path) {
                    continue;
                }
            } else if !self.include.is_match(in_root) {
                continue;
            }
            if self.exclude.is_match(in_root) {
                continue;
            }
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            let rel = sluice_pipeline::stage::relative_path(anchor, path);
            out.push(InputFile { path: path.to_path_buf(), rel, size });
        }
        Ok(())
    }
}

/// The literal part of a glob up to its last `/` before the first wildcard
/// (`s3://b/crawl` for `s3://b/crawl/**/*.gz`).
fn glob_base(p: &str) -> &str {
    let cut = p.find(['*', '?', '[', '{']).unwrap_or(p.len());
    match p[..cut].rfind('/') {
        Some(i) => &p[..i.max(1)],
        None => ".",
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string())
}

/// Compression of an input file, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn of(path: &Path) -> Compression {
        match path.extension().and_then(|e| e.to_str()) {
            Some("gz") => Compression::Gzip,
            Some("zst") | Some("zstd") => Compression::Zstd,
            _ => Compression::None,
        }
    }
}

/// Open an input (a path or an `s3://` URL, streamed), without
/// decompressing.
pub fn open_input(path: &Path) -> std::io::Result<Box<dyn Read + Send>> {
    sluice_objstore::open_input(path)
}

/// An input opened for random access (Parquet): a local file, or an
/// object read with ranged GETs, pinned to the ETag it had when opened.
pub enum RandomAccess {
    File(std::fs::File),
    Object { store: std::sync::Arc<sluice_objstore::Store>, key: String, size: u64, etag: Option<String> },
}

/// Open an input (a path or an `s3://` URL) for random access.
pub fn open_random(path: &Path) -> std::io::Result<RandomAccess> {
    let Some(s) = path.to_str().filter(|s| sluice_objstore::is_url(s)) else {
        return Ok(RandomAccess::File(std::fs::File::open(path)?));
    };
    let u = sluice_objstore::S3Url::parse(s)?;
    let store = sluice_objstore::Store::for_bucket(&u.bucket)?;
    let o = store.head(&u.key)?.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, format!("{s}: no such object")))?;
    Ok(RandomAccess::Object { store, key: u.key, size: o.size, etag: o.etag })
}

impl parquet::file::reader::Length for RandomAccess {
    fn len(&self) -> u64 {
        match self {
            RandomAccess::File(f) => f.len(),
            RandomAccess::Object { size, .. } => *size,
        }
    }
}

impl parquet::file::reader::ChunkReader for RandomAccess {
    type T = Box<dyn Read + Send>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        match self {
            RandomAccess::File(f) => Ok(Box::new(f.get_read(start)?)),
            RandomAccess::Object { store, key, size, etag } => {
                let r =
                    store.open_at(key, start, *size, etag.as_deref()).map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))?;
                Ok(Box::new(std::io::BufReader::with_capacity(1 << 16, r)))
            }
        }
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<bytes::Bytes> {
        match self {
            RandomAccess::File(f) => f.get_bytes(start, length),
            RandomAccess::Object { store, key, etag, .. } => store
                .get_range(key, start, length as u64, etag.as_deref())
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e))),
        }
    }
}

/// Open an input (a path or an `s3://` URL), decompressing by extension.
pub fn open_decompressed(path: &Path) -> std::io::Result<Box<dyn BufRead + Send>> {
    let f = open_input(path)?;
    Ok(match Compression::of(path) {
        Compression::None => Box::new(BufReader::with_capacity(1 << 20, f)),
        Compression::Gzip => Box::new(BufReader::with_capacity(1 << 20, flate2::read::MultiGzDecoder::new(BufReader::new(f)))),
        Compression::Zstd => Box::new(BufReader::with_capacity(1 << 20, zstd::stream::read::Decoder::new(f)?)),
    })
}

/// Decompress an in-memory file by its name's extension, reading at most
/// `limit` bytes of output.
pub fn decompress_bytes(path: &Path, bytes: Vec<u8>, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    match Compression::of(path) {
        Compression::None => return Ok(bytes),
        Compression::Gzip => {
            flate2::read::MultiGzDecoder::new(&bytes[..]).take(limit + 1).read_to_end(&mut out)?;
        }
        Compression::Zstd => {
            zstd::stream::read::Decoder::new(&bytes[..])?.take(limit + 1).read_to_end(&mut out)?;
        }
    }
    if out.len() as u64 > limit {
        return Err(std::io::Error::other(format!("decompressed size exceeds {limit} bytes")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(paths: Vec<String>) -> FilesConfig {
        FilesConfig { paths, include: None, exclude: vec![], max_files: None, max_file_bytes: None, hidden: false }
    }

    #[test]
    fn lists_sorted_filtered_and_sampled() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("data");
        for f in ["b/2.jsonl", "a/1.jsonl", "a/skip.txt", ".hidden/3.jsonl", "c/4.jsonl.gz", "c/5.jsonl"] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "x").unwrap();
        }
        let mut c = cfg(vec![root.display().to_string()]);
        c.exclude = vec!["c/5*".into()];
        let l = c.build(&["**/*.jsonl", "**/*.jsonl.gz"], 1).unwrap();
        let rels: Vec<String> = l.list().unwrap().into_iter().map(|f| f.rel).collect();
        assert_eq!(rels, vec!["data/a/1.jsonl", "data/b/2.jsonl", "data/c/4.jsonl.gz"]);

        let mut c = cfg(vec![format!("{}/**/*.jsonl", root.display())]);
        c.max_files = Some(2);
        let l = c.build(&[], 7).unwrap();
        let a = l.list().unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a, l.list().unwrap(), "sampling is deterministic");
    }

    #[test]
    fn missing_paths_and_bad_globs_are_reported_together() {
        let mut c = cfg(vec!["/definitely/not/here".into()]);
        c.exclude = vec!["[".into()];
        let errs = c.build(&[], 0).unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(errs[0].0, "paths[0]");
    }
}
