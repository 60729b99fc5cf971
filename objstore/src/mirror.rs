//! An `s3://` output directory: a local staging directory that the engine
//! runs in as usual, published to the prefix unit by unit.
//!
//! The prefix is the source of truth. A process works in its own staging
//! directory, `<staging>/<bucket>-<name>-<hash of the URL>/<slot>/out`,
//! where the slot is `all`, or `<phase>-<task>` for `--task` (so the N
//! processes of `--tasks N` never share one, even on one machine), and:
//!
//! 1. at start it finishes an upload that a killed attempt of the same slot
//!    left half done (`pending.json`, see 3), then *pulls*: every local file
//!    that is not on the prefix, or no longer the version it synced, is
//!    removed, and whatever the engine reads of other processes' work
//!    (`_sluice/`: run.json, markers, per-task stats, global stages' state
//!    and replays; `stats.json`, `excluded/`, `reports/` and writers'
//!    `manifest.json` for the report) is downloaded if missing or changed.
//!    Writers' shards are not downloaded: nothing in a run reads them back;
//! 2. the engine then runs (prepare, units) in the staging directory, which
//!    is an ordinary sluice output directory: markers, temporaries, resume
//!    and cleanup work exactly as on local disk;
//! 3. after `prepare`, after every unit and at the end it *pushes*: every
//!    file created, changed or removed since the last push is uploaded (one
//!    PUT, or a multipart upload that only its final request commits) or
//!    deleted, the completion markers last. The list is first written to
//!    `pending.json` beside the staging directory: a marker reaches the
//!    prefix only after every file it covers, and a push that a kill
//!    interrupted is finished by the next start (1);
//! 4. before deciding whether the run is complete it pulls again: the last
//!    process to finish sees every marker and writes `stats.json`.
//!
//! `state.json` beside the staging directory records, for every synced
//! file, its local identity (size, mtime, inode) and the object's ETag, so
//! a pull downloads only what changed and a push uploads only what the
//! engine wrote.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sluice_pipeline::exec::OutputMirror;
use sluice_pipeline::output::{temp_tag, OutputDir};
use sluice_pipeline::{Error, Result};

use crate::{S3Url, Store};

/// Test only: after this many uploads the process writes `test-paused` in
/// its staging slot and stops inside the push (it sleeps until killed), so a
/// test's SIGKILL lands in the middle of an upload deterministically.
pub const TEST_PAUSE_AFTER_ENV: &str = "SLUICE_S3_TEST_PAUSE_AFTER_UPLOADS";

/// A local file's identity: a rewrite (a new file renamed into place)
/// changes the inode, an in-place change the size or mtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Local {
    size: u64,
    mtime_ns: i64,
    ino: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Synced {
    local: Local,
    etag: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    files: BTreeMap<String, Synced>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pending {
    upload: Vec<String>,
    delete: Vec<String>,
    markers: Vec<String>,
}

/// The staged output directory of one `s3://` prefix (see the module
/// comment).
pub struct S3Output {
    url: S3Url,
    store: Arc<Store>,
    /// The slot: `out/` (the staging directory), `state.json`,
    /// `pending.json`, `lock`, download temporaries.
    dir: PathBuf,
    stage: PathBuf,
    state: Mutex<State>,
    pull_all: AtomicBool,
    task: Option<usize>,
    _lock: std::fs::File,
    /// Objects downloaded and uploaded by this process (for tests).
    pub downloads: AtomicU64,
    pub uploads: AtomicU64,
}

impl std::fmt::Debug for S3Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Output").field("url", &self.url.to_string()).field("stage", &self.stage).finish()
    }
}

/// Where staging directories go when no `--staging` is given:
/// `$XDG_CACHE_HOME/sluice/s3`, else `~/.cache/sluice/s3`.
pub fn default_staging() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    env("XDG_CACHE_HOME").or_else(|| env("HOME").map(|h| h.join(".cache"))).map(|c| c.join("sluice").join("s3"))
}

/// The slot name of a process running `phase`/`task` (see the module
/// comment): only `[A-Za-z0-9._-]`.
pub fn slot(phase: Option<&str>, task: Option<usize>) -> String {
    let clean = |s: &str| s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect::<String>();
    match (phase, task) {
        (None, None) => "all".into(),
        (p, Some(t)) => format!("{}-{t:05}", clean(p.unwrap_or("s0"))),
        (Some(p), None) => format!("{}-all", clean(p)),
    }
}

fn url_dir(url: &S3Url) -> String {
    let last = url.key.rsplit('/').next().filter(|s| !s.is_empty()).unwrap_or("root");
    let last: String = last.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).take(40).collect();
    let h = xxhash_rust::xxh3::xxh3_64(url.to_string().as_bytes());
    format!("{}-{last}-{h:016x}", url.bucket)
}

fn is_marker(rel: &str) -> bool {
    rel.starts_with("_sluice/tasks/") && rel.ends_with(".done")
}

/// Files of other processes that a run (or the report) reads. A process
/// of one task replays only that task's documents between phases.
fn needed(rel: &str, task: Option<usize>) -> bool {
    if let (Some(t), Some(name)) = (task, rel.strip_prefix("_sluice/replay/")) {
        let file = name.rsplit('/').next().unwrap_or(name);
        return sluice_pipeline::stage::file_belongs_to_task(file, t);
    }
    rel.starts_with("_sluice/")
        || rel == "stats.json"
        || rel.starts_with("excluded/")
        || rel.starts_with("reports/")
        || rel.ends_with("/manifest.json")
}

fn etag_norm(e: Option<String>) -> Option<String> {
    e.map(|e| e.trim_matches('"').to_string())
}

fn local_of(m: &std::fs::Metadata) -> Local {
    Local { size: m.len(), mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(), ino: m.ino() }
}

impl S3Output {
    /// Open (creating it if needed) the staging directory of `url` for the
    /// process running `phase`/`task` (see [`slot`]) under `staging`,
    /// finish an interrupted push and pull.
    pub fn open(url: &str, staging: &Path, phase: Option<&str>, task: Option<usize>) -> Result<S3Output> {
        let slot = slot(phase, task);
        let u = S3Url::parse(url).map_err(|e| Error::Output { dir: url.into(), message: e.to_string() })?;
        let store = Store::for_bucket(&u.bucket).map_err(|e| Error::Output { dir: url.into(), message: e.to_string() })?;
        let dir = staging.join(url_dir(&u)).join(&slot);
        let stage = dir.join("out");
        std::fs::create_dir_all(&stage).map_err(|e| Error::io(&stage, e))?;
        let lock = lock(&dir)?;
        let state = match std::fs::read(dir.join("state.json")) {
            // A state that cannot be read is forgotten: every local file
            // is then checked against the prefix again.
            Ok(b) => serde_json::from_slice(&b).unwrap_or_default(),
            Err(_) => State::default(),
        };
        let o = S3Output {
            url: u,
            store,
            dir,
            stage,
            state: Mutex::new(state),
            pull_all: AtomicBool::new(false),
            task,
            _lock: lock,
            downloads: AtomicU64::new(0),
            uploads: AtomicU64::new(0),
        };
        o.finish_pending()?;
        o.pull_inner(true)?;
        Ok(o)
    }

    /// The local staging directory: the engine's output directory.
    pub fn stage(&self) -> &Path {
        &self.stage
    }

    pub fn url(&self) -> &S3Url {
        &self.url
    }

    /// From now on, pulls download every object of the prefix (training
    /// reads the writers' shards).
    pub fn pull_everything(&self) {
        self.pull_all.store(true, Ordering::Relaxed);
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::Output { dir: PathBuf::from(self.url.to_string()), message: e.to_string() }
    }

    fn key(&self, rel: &str) -> Result<String> {
        self.url.join(rel).map_err(|e| self.err(e))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save_state(&self, s: &State) -> Result<()> {
        write_file(&self.dir.join("state.json"), &serde_json::to_vec(s).expect("serialises"))
    }

    /// Every file of the staging directory but temporaries, by relative
    /// path. Links are left out (the engine refuses them).
    fn walk(&self) -> Result<BTreeMap<String, Local>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![(self.stage.clone(), String::new())];
        while let Some((d, rel)) = stack.pop() {
            let rd = match std::fs::read_dir(&d) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(&d, e)),
            };
            for e in rd {
                let e = e.map_err(|e| Error::io(&d, e))?;
                let name = e.file_name();
                let Some(name) = name.to_str() else {
                    return Err(self.err(format!("{} is not a UTF-8 name", e.path().display())));
                };
                let r = if rel.is_empty() { name.to_string() } else { format!("{rel}/{name}") };
                let m = match e.path().symlink_metadata() {
                    Ok(m) => m,
                    Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                    Err(err) => return Err(Error::io(e.path(), err)),
                };
                if m.is_dir() {
                    stack.push((e.path(), r));
                } else if m.is_file() && temp_tag(name).is_none() {
                    out.insert(r, local_of(&m));
                }
            }
        }
        Ok(out)
    }

    /// `rel`'s local path, checked: plain components only.
    fn local_path(&self, rel: &str) -> Result<PathBuf> {
        crate::check_key(rel).map_err(|m| self.err(format!("`{rel}`: {m}")))?;
        Ok(self.stage.join(rel))
    }

    fn upload(&self, rel: &str, s: &mut State) -> Result<()> {
        let path = self.local_path(rel)?;
        let before = match path.symlink_metadata() {
            Ok(m) if m.is_file() => local_of(&m),
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let etag = self.store.upload_file(&path, &self.key(rel)?).map_err(|e| self.err(e))?;
        let n = self.uploads.fetch_add(1, Ordering::Relaxed) + 1;
        s.files.insert(rel.to_string(), Synced { local: before, etag: etag_norm(etag) });
        if std::env::var(TEST_PAUSE_AFTER_ENV).ok().and_then(|v| v.parse::<u64>().ok()) == Some(n) {
            let _ = std::fs::write(self.dir.join("test-paused"), b"");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        }
        Ok(())
    }

    fn delete(&self, rel: &str, s: &mut State) -> Result<()> {
        self.store.delete(&self.key(rel)?).map_err(|e| self.err(e))?;
        s.files.remove(rel);
        Ok(())
    }

    fn run_pending(&self, p: &Pending) -> Result<()> {
        let mut s = self.state();
        for rel in &p.upload {
            self.upload(rel, &mut s)?;
        }
        for rel in &p.delete {
            self.delete(rel, &mut s)?;
        }
        // Every file the markers cover is on the prefix: now the markers.
        for rel in &p.markers {
            self.upload(rel, &mut s)?;
        }
        self.save_state(&s)?;
        drop(s);
        let _ = std::fs::remove_file(self.dir.join("pending.json"));
        Ok(())
    }

    fn finish_pending(&self) -> Result<()> {
        let path = self.dir.join("pending.json");
        let p: Pending = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| self.err(format!("corrupt {}: {e}", path.display())))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(&path, e)),
        };
        self.run_pending(&p)
    }

    fn push_inner(&self) -> Result<()> {
        let local = self.walk()?;
        let s = self.state();
        let mut upload: Vec<String> = Vec::new();
        let mut markers = Vec::new();
        for (rel, l) in &local {
            if s.files.get(rel).is_some_and(|f| f.local == *l) {
                continue;
            }
            if is_marker(rel) {
                markers.push(rel.clone());
            } else {
                upload.push(rel.clone());
            }
        }
        let delete: Vec<String> = s.files.keys().filter(|k| !local.contains_key(*k)).cloned().collect();
        drop(s);
        if upload.is_empty() && delete.is_empty() && markers.is_empty() {
            return Ok(());
        }
        // run.json first: a prefix with objects but no run.json is not a
        // sluice output (see `pull_inner`).
        upload.sort_by_key(|r| (r != "_sluice/run.json", r.clone()));
        let p = Pending { upload, delete, markers };
        write_file(&self.dir.join("pending.json"), &serde_json::to_vec(&p).expect("serialises"))?;
        self.run_pending(&p)
    }

    fn download(&self, rel: &str, s: &mut State) -> Result<()> {
        let dest = self.local_path(rel)?;
        let tmp = self.dir.join("download.tmp");
        let (_, etag) = self.store.download_file(&self.key(rel)?, &tmp, &dest).map_err(|e| self.err(e))?;
        let m = dest.symlink_metadata().map_err(|e| Error::io(&dest, e))?;
        self.downloads.fetch_add(1, Ordering::Relaxed);
        s.files.insert(rel.to_string(), Synced { local: local_of(&m), etag: etag_norm(etag) });
        Ok(())
    }

    fn pull_inner(&self, first: bool) -> Result<()> {
        let prefix_len = if self.url.key.is_empty() { 0 } else { self.url.key.len() + 1 };
        let listed = self.store.list(&self.url.key).map_err(|e| self.err(e))?;
        let mut remote: BTreeMap<String, (u64, Option<String>)> = BTreeMap::new();
        for o in listed {
            let rel = o.key[prefix_len..].to_string();
            if crate::check_key(&rel).is_err() {
                return Err(self.err(format!("holds the object `{}`, which is not a path sluice writes; refusing to use it", o.key)));
            }
            remote.insert(rel, (o.size, etag_norm(o.etag)));
        }
        if first && !remote.is_empty() && !remote.contains_key("_sluice/run.json") {
            return Err(self.err("is not empty and is not a sluice output (no _sluice/run.json); refusing to write into it"));
        }
        let all = self.pull_all.load(Ordering::Relaxed);
        let local = self.walk()?;
        let mut s = self.state();
        let mut have = BTreeSet::new();
        for (rel, l) in &local {
            let synced = s.files.get(rel).is_some_and(|f| f.local == *l)
                && remote.get(rel).is_some_and(|(size, etag)| *size == l.size && s.files[rel].etag == *etag);
            if synced {
                have.insert(rel.clone());
                continue;
            }
            // Not on the prefix, or not the version there: the prefix wins.
            let path = self.local_path(rel)?;
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&path, e)),
            }
            s.files.remove(rel);
        }
        s.files.retain(|k, _| have.contains(k));
        for rel in remote.keys() {
            if !have.contains(rel) && (all || needed(rel, self.task)) {
                self.download(rel, &mut s)?;
            }
        }
        self.save_state(&s)
    }
}

impl OutputMirror for S3Output {
    fn push(&self, _out: &OutputDir) -> Result<()> {
        self.push_inner()
    }

    fn pull(&self, _out: &OutputDir) -> Result<()> {
        self.pull_inner(false)
    }
}

/// Write a bookkeeping file atomically (beside the staging directory).
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// One process per slot: a second one (the same `--task` started twice)
/// would undo the first one's work.
fn lock(dir: &Path) -> Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let path = dir.join("lock");
    let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| Error::io(&path, e))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(Error::Output {
            dir: dir.to_path_buf(),
            message: "another sluice process is using this staging directory (the same run and --task started twice?)".into(),
        });
    }
    Ok(f)
}
