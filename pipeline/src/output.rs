//! The output directory: atomic files, completion markers and the cleanup
//! that makes a killed task safe to run again.
//!
//! ```text
//! OUT/
//!   <writer>/00000-00000.parquet        kept documents, task 0, shard 0
//!   excluded/<stage>/00000-00000.jsonl.zst  dropped documents with reasons
//!   stats.json                          merged stats, once every task is done
//!   _sluice/run.json                    recipe hash, task count, plan hash
//!   _sluice/recipe.json                 the recipe after ${ENV} expansion
//!   _sluice/stats/00000-stats.json      per-task stats
//!   _sluice/errors/00000-errors.jsonl   malformed records of task 0
//!   _sluice/tasks/00000.done            completion marker of task 0
//! ```
//!
//! Every file is written under a temporary name and renamed when complete.
//! A task's files all start with its number, so a re-run of an unfinished
//! task first deletes whatever a killed attempt left, then writes the same
//! files again: the result equals an uninterrupted run.

use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::stage::file_belongs_to_task;

// # Symbolic links
//
// The output directory may be shared (a cluster filesystem), so whoever can
// write into it could plant a link: `OUT/jsonl -> /home/alice/papers` would
// make a re-run of an unfinished task delete `00003-*` there and write its
// shards there. The root the user names (recipe `output:` or `--output`) is
// trusted and may itself be a link; nothing *inside* it is:
// - `prepare` walks the tree (never following a link) and refuses to start
//   when it finds one, naming it;
// - every directory sluice creates, cleans or writes into under the root is
//   reached one component at a time with `openat(O_NOFOLLOW | O_DIRECTORY)`
//   from the root's descriptor, and files are created, renamed and removed
//   relative to that descriptor (`O_CREAT | O_EXCL | O_NOFOLLOW`,
//   `renameat`, `unlinkat`). A link swapped in after `prepare` looked is
//   therefore refused too, not followed: there is no window between a check
//   and the use of a path.
//
// # Temporary files and resume
//
// A killed unit leaves its temporaries (`AtomicFile`s not yet renamed) in
// whatever folders it was writing: writer folders, a global stage's state
// and report folders, a pack stage's shard folder, `_sluice/stats`... A re-run
// must remove them, but with `--tasks N` other processes (other machines)
// write into the same folders at the same time, so "remove every `*.tmp`"
// could pull a live file from under another process. Instead each temporary
// names its owner:
//
//     .<final name>.~<phase>~<unit>.tmp     e.g. .manifest.json.~shards.pack~00000.tmp
//     .<final name>.~p<pid>-<n>.tmp         written outside any unit (prepare, stats.json)
//
// While `exec` runs unit `u` of phase `P` it registers the tag `P~u` for the
// output directory ([`RunScope::unit`]); every `AtomicFile` created under that
// directory, from any thread of the process (rayon workers included: a
// process runs one unit at a time), takes it. One unit runs in at most one
// process at a time (the premise of the whole resume design), so before a
// unit starts, every temporary tagged with its own tag is garbage from a
// killed attempt: the unit walks the output directory and removes exactly
// those ([`OutputDir::remove_temporaries`]), whatever folder they are in. A
// unit that is never re-run finished, and a finished unit left no temporary
// (its marker is written last). Temporaries written outside a unit (the first
// `prepare`, the final `stats.json`) are removed once the run is complete, when
// no unit can be writing any more; the writers of those few files tolerate
// losing that race (they fall back to what the winner published).

/// Write `bytes` to `path` atomically (temporary file, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.commit()
}

/// A file that appears under its final name only when [`commit`] is called.
///
/// Under the output directory of a run in progress, its folder is reached
/// without following symbolic links and its temporary name carries the
/// running unit's tag (see the comment at the top of this module).
///
/// [`commit`]: AtomicFile::commit
pub struct AtomicFile {
    dir: File,
    tmp: OsString,
    name: OsString,
    path: PathBuf,
    out: Option<BufWriter<File>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<Self> {
        match scope_for(path) {
            Some((root, tag)) => Self::create_beneath(&root, path, &tag),
            None => {
                let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
                fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                let dirf = open_dir_path(dir).map_err(|e| Error::io(dir, e))?;
                Self::create_in(dirf, path, &process_tag())
            }
        }
    }

    /// Create `path` (under `root`, reached without following links) with
    /// the temporary tagged `tag`.
    fn create_beneath(root: &Path, path: &Path, tag: &str) -> Result<Self> {
        let dir = path.parent().unwrap_or(root);
        let dirf = open_beneath(root, dir, true)?.ok_or_else(|| Error::Internal(format!("{} vanished", dir.display())))?;
        Self::create_in(dirf, path, tag)
    }

    fn create_in(dir: File, path: &Path, tag: &str) -> Result<Self> {
        let name = path.file_name().ok_or_else(|| Error::Internal(format!("{} has no file name", path.display())))?.to_os_string();
        let tmp = temp_name(&name, tag);
        let tmp_path = path.with_file_name(&tmp);
        let f = match create_new_at(&dir, &tmp) {
            // A stale temporary of our own tag: a killed attempt of this
            // unit (or a process that had our pid). Ours to replace.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                unlink_at(&dir, &tmp).map_err(|e| Error::io(&tmp_path, e))?;
                create_new_at(&dir, &tmp)
            }
            r => r,
        }
        .map_err(|e| Error::io(&tmp_path, e))?;
        Ok(AtomicFile { dir, tmp, name, path: path.to_path_buf(), out: Some(BufWriter::with_capacity(1 << 20, f)) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flush, fsync and rename into place.
    pub fn commit(mut self) -> Result<()> {
        let tmp_path = self.path.with_file_name(&self.tmp);
        let out = self.out.take().expect("committed once");
        let f = out.into_inner().map_err(|e| Error::io(&tmp_path, e.into_error()))?;
        f.sync_all().map_err(|e| Error::io(&tmp_path, e))?;
        drop(f);
        rename_at(&self.dir, &self.tmp, &self.name).map_err(|e| Error::io(&self.path, e))?;
        // Persist the rename itself. Best effort: some filesystems refuse
        // to sync directories.
        let _ = self.dir.sync_all();
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.as_mut().expect("not committed").write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.as_mut().expect("not committed").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // Dropped without commit: an error path. Leave no temporary behind.
        if self.out.take().is_some() {
            let _ = unlink_at(&self.dir, &self.tmp);
        }
    }
}

/// `.<name>.~<tag>.tmp`
fn temp_name(name: &OsStr, tag: &str) -> OsString {
    let mut t = OsString::from(".");
    t.push(name);
    t.push(format!(".~{tag}.tmp"));
    t
}

/// The owner tag of a temporary named by [`temp_name`], if `name` is one.
pub fn temp_tag(name: &str) -> Option<&str> {
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let at = rest.rfind(".~")?;
    Some(&rest[at + 2..]).filter(|t| !t.is_empty())
}

/// The final name a temporary named by [`temp_name`] stands for.
fn temp_base(name: &str) -> Option<&str> {
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let at = rest.rfind(".~")?;
    Some(&rest[..at]).filter(|b| !b.is_empty())
}

/// The tag of unit `unit` of phase `key`.
pub fn unit_tag(key: &str, unit: usize) -> String {
    format!("{key}~{unit:05}")
}

/// A fresh tag for a temporary written outside any unit: `p<pid>-<n>`.
fn process_tag() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("p{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Is `tag` one of [`process_tag`]'s?
fn is_process_tag(tag: &str) -> bool {
    tag.strip_prefix('p').and_then(|t| t.split_once('-')).is_some_and(|(a, b)| {
        !a.is_empty() && !b.is_empty() && a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit())
    })
}

// ---- the output directories of runs in progress in this process ----

struct Scope {
    id: u64,
    root: PathBuf,
    /// The running unit's tag, `None` between units.
    unit: Option<String>,
}

static SCOPES: Mutex<Vec<Scope>> = Mutex::new(Vec::new());

fn scopes() -> std::sync::MutexGuard<'static, Vec<Scope>> {
    SCOPES.lock().unwrap_or_else(|p| p.into_inner())
}

/// The innermost run root containing `path`, and the tag to give a
/// temporary there.
fn scope_for(path: &Path) -> Option<(PathBuf, String)> {
    let s = scopes();
    let best = s.iter().filter(|s| path.starts_with(&s.root)).max_by_key(|s| s.root.components().count())?;
    Some((best.root.clone(), best.unit.clone().unwrap_or_else(process_tag)))
}

/// Marks a directory as the output directory of a run in progress in this
/// process, for as long as it lives: [`AtomicFile`]s created under it do not
/// follow links and carry the running unit's tag.
pub struct RunScope {
    id: u64,
}

impl RunScope {
    pub fn enter(root: &Path) -> RunScope {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        scopes().push(Scope { id, root: root.to_path_buf(), unit: None });
        RunScope { id }
    }

    /// Tag the temporaries written from now on, by every thread, with unit
    /// `unit` of phase `key`, until the guard is dropped.
    pub fn unit(&self, key: &str, unit: usize) -> UnitScope<'_> {
        self.set(Some(unit_tag(key, unit)));
        UnitScope { run: self }
    }

    fn set(&self, unit: Option<String>) {
        if let Some(s) = scopes().iter_mut().find(|s| s.id == self.id) {
            s.unit = unit;
        }
    }
}

impl Drop for RunScope {
    fn drop(&mut self) {
        scopes().retain(|s| s.id != self.id);
    }
}

/// See [`RunScope::unit`].
pub struct UnitScope<'a> {
    run: &'a RunScope,
}

impl Drop for UnitScope<'_> {
    fn drop(&mut self) {
        self.run.set(None);
    }
}

// ---- paths beneath a root, without following links ----

fn cstr(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file name contains a NUL byte"))
}

fn last_error<T>(rc: libc::c_int, ok: T) -> io::Result<T> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ok)
    }
}

/// Open a directory by path, following links (the trusted root).
fn open_dir_path(dir: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC).open(dir)
}

/// Open the directory `name` in `dir`, refusing a link (`ELOOP`) or a
/// non-directory (`ENOTDIR`).
fn open_dir_at(dir: &File, name: &OsStr) -> io::Result<File> {
    let c = cstr(name)?;
    // SAFETY: `c` is a valid C string and `dir` an open descriptor; the
    // returned descriptor is owned by the File we build from it.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
    last_error(fd, ())?;
    // SAFETY: `fd` was just opened and is not owned elsewhere.
    Ok(unsafe { File::from_raw_fd(fd) })
}

fn mkdir_at(dir: &File, name: &OsStr) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid C string, open descriptor.
    last_error(unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), 0o777) }, ())
}

/// Create a new file `name` in `dir` for writing; fails if anything (a link
/// included) already has that name.
fn create_new_at(dir: &File, name: &OsStr) -> io::Result<File> {
    let c = cstr(name)?;
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: valid C string, open descriptor; the mode is passed as the
    // variadic argument `openat` expects with O_CREAT.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags, 0o666 as libc::c_uint) };
    last_error(fd, ())?;
    // SAFETY: `fd` was just opened and is not owned elsewhere.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Open (creating or truncating) `name` in `dir` for reading and writing,
/// refusing a link.
fn open_rw_at(dir: &File, name: &OsStr) -> io::Result<File> {
    let c = cstr(name)?;
    let flags = libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: as in `create_new_at`.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags, 0o666 as libc::c_uint) };
    last_error(fd, ())?;
    // SAFETY: `fd` was just opened and is not owned elsewhere.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Remove the directory entry `name` of `dir` (a link itself, never its
/// target).
fn unlink_at(dir: &File, name: &OsStr) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid C string, open descriptor.
    last_error(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) }, ())
}

fn rename_at(dir: &File, from: &OsStr, to: &OsStr) -> io::Result<()> {
    let (f, t) = (cstr(from)?, cstr(to)?);
    // SAFETY: valid C strings, open descriptor.
    last_error(unsafe { libc::renameat(dir.as_raw_fd(), f.as_ptr(), dir.as_raw_fd(), t.as_ptr()) }, ())
}

/// Open the regular file `name` in `dir` for reading, refusing a link.
fn open_read_at(dir: &File, name: &OsStr) -> io::Result<File> {
    let c = cstr(name)?;
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;
    // SAFETY: valid C string, open descriptor.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags) };
    last_error(fd, ())?;
    // SAFETY: `fd` was just opened and is not owned elsewhere.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Remove the (empty) directory `name` of `dir`.
fn rmdir_at(dir: &File, name: &OsStr) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid C string, open descriptor.
    last_error(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), libc::AT_REMOVEDIR) }, ())
}

/// Remove the entry `name` of `dir` (at `path`, for messages): a file or a
/// link is unlinked itself; a folder is emptied (reached without following
/// links, one descriptor per level) and removed.
fn remove_entry(dir: &File, path: &Path, name: &OsStr, kind: Kind) -> Result<()> {
    if kind == Kind::Dir {
        match open_dir_at(dir, name) {
            Ok(sub) => {
                for (n, k) in list_at(&sub).map_err(|e| Error::io(path, e))? {
                    remove_entry(&sub, &path.join(&n), &n, k)?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            // Swapped for a link or a file since it was listed: unlink that.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => {
                return unlink_at(dir, name).or_else(ignore_missing).map_err(|e| Error::io(path, e))
            }
            Err(e) => return Err(Error::io(path, e)),
        }
        return rmdir_at(dir, name).or_else(ignore_missing).map_err(|e| Error::io(path, e));
    }
    unlink_at(dir, name).or_else(ignore_missing).map_err(|e| Error::io(path, e))
}

fn ignore_missing(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

fn link_at(dir: &File, from: &OsStr, to: &OsStr) -> io::Result<()> {
    let (f, t) = (cstr(from)?, cstr(to)?);
    // SAFETY: valid C strings, open descriptor; flags 0: `from` itself is
    // linked, never what it points to.
    last_error(unsafe { libc::linkat(dir.as_raw_fd(), f.as_ptr(), dir.as_raw_fd(), t.as_ptr(), 0) }, ())
}

/// What a directory entry is, without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    Link,
    Other,
}

/// The entries of `dir` (without `.` and `..`), by kind. An entry that
/// vanishes while listed is left out.
fn list_at(dir: &File) -> io::Result<Vec<(OsString, Kind)>> {
    // SAFETY: `dup` of an open descriptor; fdopendir takes ownership of the
    // duplicate and closedir releases it; every readdir entry is read
    // before the next call.
    unsafe {
        let fd = libc::dup(dir.as_raw_fd());
        last_error(fd, ())?;
        let d = libc::fdopendir(fd);
        if d.is_null() {
            let e = io::Error::last_os_error();
            libc::close(fd);
            return Err(e);
        }
        // fdopendir shares the offset of `dir`'s open file description:
        // start from the beginning whatever was read before.
        libc::rewinddir(d);
        let mut out = Vec::new();
        loop {
            *libc::__errno_location() = 0;
            let ent = libc::readdir(d);
            if ent.is_null() {
                let errno = *libc::__errno_location();
                libc::closedir(d);
                if errno != 0 {
                    return Err(io::Error::from_raw_os_error(errno));
                }
                break;
            }
            let name = std::ffi::CStr::from_ptr((*ent).d_name.as_ptr());
            let bytes = name.to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            let kind = match (*ent).d_type {
                libc::DT_DIR => Kind::Dir,
                libc::DT_LNK => Kind::Link,
                libc::DT_UNKNOWN => {
                    let mut st: libc::stat = std::mem::zeroed();
                    if libc::fstatat(dir.as_raw_fd(), name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) != 0 {
                        continue; // vanished
                    }
                    match st.st_mode & libc::S_IFMT {
                        libc::S_IFDIR => Kind::Dir,
                        libc::S_IFLNK => Kind::Link,
                        _ => Kind::Other,
                    }
                }
                _ => Kind::Other,
            };
            out.push((OsStr::from_bytes(bytes).to_os_string(), kind));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

/// The message for a link (or non-directory) met where sluice needs a
/// directory of its own.
fn link_refused(root: &Path, at: &Path) -> Error {
    Error::Output {
        dir: root.to_path_buf(),
        message: format!(
            "{} is a symbolic link (or not a directory); sluice does not follow links inside its output directory, \
             since one could redirect a run's cleanup and writes elsewhere: remove it and run again",
            at.display()
        ),
    }
}

/// Open directory `dir` (`root` or a path under it), reaching it one
/// component at a time from `root` without following links; with `create`,
/// missing components are created. `Ok(None)`: missing, and not created.
fn open_beneath(root: &Path, dir: &Path, create: bool) -> Result<Option<File>> {
    let rel = dir.strip_prefix(root).map_err(|_| Error::Internal(format!("{} is not under {}", dir.display(), root.display())))?;
    if create {
        fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
    }
    let mut cur = match open_dir_path(root) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound && !create => return Ok(None),
        Err(e) => return Err(Error::io(root, e)),
    };
    let mut at = root.to_path_buf();
    for c in rel.components() {
        let Component::Normal(name) = c else {
            return Err(Error::Output { dir: root.to_path_buf(), message: format!("{} leaves the output directory", dir.display()) });
        };
        at.push(name);
        let next = match open_dir_at(&cur, name) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                match mkdir_at(&cur, name) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {} // another process made it
                    Err(e) => return Err(Error::io(&at, e)),
                }
                open_dir_at(&cur, name)
            }
            r => r,
        };
        cur = match next {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => return Err(link_refused(root, &at)),
            Err(e) => return Err(Error::io(&at, e)),
        };
    }
    Ok(Some(cur))
}

/// Create directory `dir` and its missing parents under the run root `root`,
/// refusing to go through a symbolic link.
pub fn create_dir_beneath(root: &Path, dir: &Path) -> Result<()> {
    open_beneath(root, dir, true).map(|_| ())
}

/// Create (or truncate) a scratch file for reading and writing, under the
/// output directory of a run in progress if `path` is in one (see
/// [`RunScope`]): its folder is then reached without following links.
pub(crate) fn create_scratch(path: &Path) -> Result<File> {
    let name = path.file_name().ok_or_else(|| Error::Internal(format!("{} has no file name", path.display())))?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dirf = match scope_for(path) {
        Some((root, _)) => open_beneath(&root, dir, true)?.ok_or_else(|| Error::Internal(format!("{} vanished", dir.display())))?,
        None => {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            open_dir_path(dir).map_err(|e| Error::io(dir, e))?
        }
    };
    open_rw_at(&dirf, name).map_err(|e| Error::io(path, e))
}

/// What to do when an output directory holds a run that cannot be continued.
const START_OVER: &str = "to start it over (deleting what sluice wrote there, and only that) run again with --restart, \
     or write to another directory with --output DIR";

/// Identity of a run, checked on every re-run into the same directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    pub recipe_hash: String,
    pub tasks: usize,
    pub plan_hash: String,
}

/// What a finished task leaves behind.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskMarker {
    pub task: usize,
    pub recipe_hash: String,
    /// Files written, relative to the output directory.
    pub files: Vec<String>,
    pub documents_written: u64,
}

/// `_sluice/outputs.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputsFile {
    outputs: Vec<String>,
}

/// Largest `_sluice/outputs.json` read back.
const MAX_OUTPUTS_FILE: u64 = 1 << 20;

/// The run's output directory.
#[derive(Debug, Clone)]
pub struct OutputDir {
    root: PathBuf,
}

impl OutputDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        OutputDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn meta(&self) -> PathBuf {
        self.root.join("_sluice")
    }

    pub fn writer_dir(&self, writer: &str) -> PathBuf {
        self.root.join(writer)
    }

    pub fn exclusion_dir(&self, stage: &str) -> PathBuf {
        self.root.join("excluded").join(stage)
    }

    pub fn stats_dir(&self) -> PathBuf {
        self.meta().join("stats")
    }

    pub fn errors_path(&self, task: usize) -> PathBuf {
        self.meta().join("errors").join(format!("{task:05}-errors.jsonl"))
    }

    pub fn task_stats_path(&self, task: usize) -> PathBuf {
        self.stats_dir().join(format!("{task:05}-stats.json"))
    }

    pub fn marker_path(&self, task: usize) -> PathBuf {
        self.meta().join("tasks").join(format!("{task:05}.done"))
    }

    /// Marker of unit `unit` of phase `phase` (`s0` keeps the single-phase
    /// layout: `_sluice/tasks/00003.done`).
    pub fn unit_marker_path(&self, phase: &str, unit: usize) -> PathBuf {
        if phase == "s0" {
            self.marker_path(unit)
        } else {
            self.meta().join("tasks").join(phase).join(format!("{unit:05}.done"))
        }
    }

    pub fn unit_stats_dir(&self, phase: &str) -> PathBuf {
        if phase == "s0" {
            self.stats_dir()
        } else {
            self.stats_dir().join(phase)
        }
    }

    pub fn unit_errors_dir(&self, phase: &str) -> PathBuf {
        if phase == "s0" {
            self.meta().join("errors")
        } else {
            self.meta().join("errors").join(phase)
        }
    }

    /// A global stage's private state directory.
    pub fn global_dir(&self, node: &str) -> PathBuf {
        self.meta().join("global").join(node)
    }

    /// Where the engine keeps a global stage's documents between its observe
    /// and decide phases.
    pub fn replay_dir(&self, node: &str) -> PathBuf {
        self.meta().join("replay").join(node)
    }

    /// A stage's human-readable reports.
    pub fn reports_dir(&self, node: &str) -> PathBuf {
        self.root.join("reports").join(node)
    }

    pub fn is_unit_done(&self, phase: &str, unit: usize) -> bool {
        self.unit_marker_path(phase, unit).is_file()
    }

    pub fn write_unit_marker(&self, phase: &str, marker: &TaskMarker) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(marker).expect("serialises");
        self.write_atomic(&self.unit_marker_path(phase, marker.task), &bytes)
    }

    pub fn merged_stats_path(&self) -> PathBuf {
        self.root.join("stats.json")
    }

    /// Write `path` (under the root) atomically, reaching its folder without
    /// following links; the temporary carries the running unit's tag when a
    /// [`RunScope`] for this directory is open.
    pub fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let tag = scope_for(path).map(|(_, t)| t).unwrap_or_else(process_tag);
        let mut f = AtomicFile::create_beneath(&self.root, path, &tag)?;
        f.write_all(bytes).map_err(|e| Error::io(path, e))?;
        f.commit()
    }

    /// Remove the file `path` (under the root) if it exists, without
    /// following links on the way.
    pub fn remove_file(&self, path: &Path) -> Result<()> {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return Ok(()) };
        let Some(dirf) = open_beneath(&self.root, dir, false)? else { return Ok(()) };
        match unlink_at(&dirf, name) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io(path, e)),
            _ => Ok(()),
        }
    }

    /// Create the directory, or check that an existing one belongs to the
    /// same recipe, task count and input files. Refuses a directory that
    /// holds a symbolic link anywhere inside (see the top of this module).
    pub fn prepare(&self, info: &RunInfo, resolved_recipe: &serde_json::Value) -> Result<()> {
        self.check_no_links()?;
        // Several processes (`--task I` of one run) may start at once, so
        // every step tolerates the others: run.json is published with a
        // hard link, which fails if another process won the race, and the
        // loser then checks what the winner wrote.
        let run_json = self.meta().join("run.json");
        for _attempt in 0..2 {
            match fs::read(&run_json) {
                Ok(bytes) => return self.check_same(info, &bytes, &run_json),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(run_json, e)),
            }
            let foreign = match fs::read_dir(&self.root) {
                Ok(entries) => entries.filter_map(|e| e.ok()).any(|e| e.file_name() != "_sluice"),
                Err(_) => false,
            };
            if foreign {
                if run_json.exists() {
                    continue; // another process just published it
                }
                return Err(self.err(
                    "exists, is not empty and is not a sluice output directory (it has no _sluice/run.json); refusing to write into it: \
                     choose another output directory (--output DIR) or empty this one",
                ));
            }
            match self.publish(info, resolved_recipe) {
                Ok(true) => return Ok(()),
                Ok(false) => continue,
                // The winner of a race may have removed our temporaries
                // (see the top of this module): what it published counts.
                Err(_) if run_json.exists() => continue,
                Err(e) => return Err(e),
            }
        }
        let bytes = fs::read(&run_json).map_err(|e| Error::io(&run_json, e))?;
        self.check_same(info, &bytes, &run_json)
    }

    /// Write recipe.json, then publish run.json unless another process did
    /// first (`Ok(false)`).
    fn publish(&self, info: &RunInfo, resolved_recipe: &serde_json::Value) -> Result<bool> {
        let meta = open_beneath(&self.root, &self.meta(), true)?.ok_or_else(|| self.err("vanished while being created"))?;
        let pretty = serde_json::to_vec_pretty(resolved_recipe).expect("JSON serialises");
        self.write_atomic(&self.meta().join("recipe.json"), &pretty)?;
        let tmp = temp_name(OsStr::new("run.json"), &process_tag());
        let tmp_path = self.meta().join(&tmp);
        let mut f = create_new_at(&meta, &tmp).map_err(|e| Error::io(&tmp_path, e))?;
        let written = f.write_all(&serde_json::to_vec_pretty(info).expect("serialises")).and_then(|()| f.sync_all());
        drop(f);
        let linked = written.and_then(|()| link_at(&meta, &tmp, OsStr::new("run.json")));
        let _ = unlink_at(&meta, &tmp);
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(Error::io(self.meta().join("run.json"), e)),
        }
    }

    fn check_same(&self, info: &RunInfo, bytes: &[u8], run_json: &Path) -> Result<()> {
        let prev: RunInfo = serde_json::from_slice(bytes).map_err(|e| self.err(format!("corrupt {}: {e}", run_json.display())))?;
        if prev.recipe_hash != info.recipe_hash {
            return Err(self.err(format!("holds a run of a different recipe (or different settings); {START_OVER}")));
        }
        if prev.tasks != info.tasks {
            return Err(self.err(format!(
                "was started with --tasks {}; re-run with --tasks {} to finish it, or {START_OVER}",
                prev.tasks, prev.tasks
            )));
        }
        if prev.plan_hash != info.plan_hash {
            return Err(self.err(format!(
                "the input files changed since this run started (their list or sizes differ), so its finished tasks no longer match them; {START_OVER}"
            )));
        }
        Ok(())
    }

    pub fn is_done(&self, task: usize) -> bool {
        self.marker_path(task).is_file()
    }

    pub fn read_marker(&self, task: usize) -> Result<TaskMarker> {
        let p = self.marker_path(task);
        let bytes = fs::read(&p).map_err(|e| Error::io(&p, e))?;
        serde_json::from_slice(&bytes).map_err(|e| self.err(format!("corrupt marker {}: {e}", p.display())))
    }

    pub fn write_marker(&self, marker: &TaskMarker) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(marker).expect("serialises");
        self.write_atomic(&self.marker_path(marker.task), &bytes)
    }

    /// Remove everything an unfinished attempt of `task` may have left in
    /// `dirs` (writer and exclusion directories) and in sluice's own
    /// per-task directories.
    pub fn clean_task(&self, task: usize, dirs: &[PathBuf]) -> Result<()> {
        let mut all: Vec<PathBuf> = dirs.to_vec();
        all.push(self.stats_dir());
        all.push(self.meta().join("errors"));
        self.clean_unit(task, &all)
    }

    /// Remove the files of `unit` (by the `{unit:05}-` naming rule) from
    /// exactly `dirs`, not recursing.
    pub fn clean_unit(&self, task: usize, dirs: &[PathBuf]) -> Result<()> {
        self.clean_matching(dirs, |name| file_belongs_to_task(name, task))
    }

    /// Remove the entries whose name satisfies `pred` from exactly `dirs`
    /// (under the root), not recursing. Each folder is reached without
    /// following links: a link on the way is refused, a link matching `pred`
    /// is removed itself, never its target.
    pub fn clean_matching(&self, dirs: &[PathBuf], pred: impl Fn(&str) -> bool) -> Result<()> {
        for dir in dirs {
            let Some(dirf) = open_beneath(&self.root, dir, false)? else { continue };
            for (name, _) in list_at(&dirf).map_err(|e| Error::io(dir, e))? {
                if pred(&name.to_string_lossy()) {
                    match unlink_at(&dirf, &name) {
                        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(Error::io(dir.join(&name), e)),
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// Refuse the directory if a symbolic link sits anywhere inside it.
    pub fn check_no_links(&self) -> Result<()> {
        self.walk(&mut |_, _, _| Ok(()))
    }

    /// Remove every temporary file (see [`temp_tag`]) whose owner tag
    /// satisfies `owned`, anywhere in the output directory; returns how many.
    pub fn remove_temporaries(&self, owned: impl Fn(&str) -> bool) -> Result<usize> {
        let mut removed = 0;
        self.walk(&mut |path, dir, name| {
            if temp_tag(&name.to_string_lossy()).is_some_and(&owned) {
                match unlink_at(dir, name) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(path.join(name), e)),
                }
            }
            Ok(())
        })?;
        Ok(removed)
    }

    /// Remove the temporaries a killed attempt of unit `unit` of phase `key`
    /// left, in any folder (see the top of this module).
    pub fn remove_unit_temporaries(&self, key: &str, unit: usize) -> Result<usize> {
        let tag = unit_tag(key, unit);
        self.remove_temporaries(|t| t == tag)
    }

    /// Once the run is complete no unit writes any more: remove every
    /// temporary left, those written outside units (`prepare`, `stats.json`)
    /// included.
    pub fn remove_all_temporaries(&self) -> Result<usize> {
        self.remove_temporaries(|t| is_process_tag(t) || t.contains('~'))
    }

    /// Visit every file (not directory) under the root, never following a
    /// link: a link anywhere is refused with an error naming it. One
    /// descriptor per level is open at a time.
    fn walk(&self, visit: &mut dyn FnMut(&Path, &File, &OsStr) -> Result<()>) -> Result<()> {
        let Some(root) = open_beneath(&self.root, &self.root, false)? else { return Ok(()) };
        self.walk_dir(&self.root, &root, visit)
    }

    fn walk_dir(&self, path: &Path, dir: &File, visit: &mut dyn FnMut(&Path, &File, &OsStr) -> Result<()>) -> Result<()> {
        let entries = list_at(dir).map_err(|e| Error::io(path, e))?;
        for (name, kind) in &entries {
            match kind {
                Kind::Link => return Err(link_refused(&self.root, &path.join(name))),
                Kind::Other => visit(path, dir, name)?,
                Kind::Dir => {}
            }
        }
        for (name, _) in entries.iter().filter(|(_, k)| *k == Kind::Dir) {
            let p = path.join(name);
            match open_dir_at(dir, name) {
                Ok(sub) => self.walk_dir(&p, &sub, visit)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => return Err(link_refused(&self.root, &p)),
                Err(e) => return Err(Error::io(&p, e)),
            }
        }
        Ok(())
    }

    fn err(&self, message: impl Into<String>) -> Error {
        Error::Output { dir: self.root.clone(), message: message.into() }
    }

    /// `_sluice/outputs.json`: the top-level paths (besides sluice's own
    /// folders) that the run's recipe writes, kept so that `--restart` can
    /// remove them even after the recipe changed.
    pub fn outputs_path(&self) -> PathBuf {
        self.meta().join("outputs.json")
    }

    /// Record the paths the run's recipe writes (see [`outputs_path`]),
    /// added to those recorded before: a recipe may gain or lose its
    /// `train:` section (not part of the run's identity) between starts.
    /// Unchanged on every other start of the same run, so written once.
    ///
    /// [`outputs_path`]: OutputDir::outputs_path
    pub fn record_outputs(&self, outputs: &[PathBuf]) -> Result<()> {
        let mut all = self.recorded_outputs()?;
        all.extend(outputs.iter().cloned());
        let mut list: Vec<String> = all.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        list.sort();
        list.dedup();
        let bytes = serde_json::to_vec_pretty(&OutputsFile { outputs: list }).expect("serialises");
        let path = self.outputs_path();
        if self.read_beneath(&path, MAX_OUTPUTS_FILE)?.as_deref() != Some(&bytes[..]) {
            self.write_atomic(&path, &bytes)?;
        }
        Ok(())
    }

    /// The paths a previous run recorded with [`record_outputs`]; nothing
    /// when it recorded none (a run of an older sluice). The file lives in
    /// a directory that may be shared, so it is read without following
    /// links, bounded, and each path is checked to be a plain relative path.
    ///
    /// [`record_outputs`]: OutputDir::record_outputs
    pub fn recorded_outputs(&self) -> Result<Vec<PathBuf>> {
        let path = self.outputs_path();
        let Some(bytes) = self.read_beneath(&path, MAX_OUTPUTS_FILE)? else { return Ok(Vec::new()) };
        let file: OutputsFile = serde_json::from_slice(&bytes).map_err(|e| self.err(format!("corrupt {}: {e}", path.display())))?;
        file.outputs
            .iter()
            .map(|o| crate::recipe::check_relative_output(o).map_err(|m| self.err(format!("{}: {m}", path.display()))))
            .collect()
    }

    /// Read the regular file `path` (under the root) of at most `max`
    /// bytes, reaching it without following links; `None` if missing.
    fn read_beneath(&self, path: &Path, max: u64) -> Result<Option<Vec<u8>>> {
        use std::io::Read;
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return Ok(None) };
        let Some(dirf) = open_beneath(&self.root, dir, false)? else { return Ok(None) };
        let f = match open_read_at(&dirf, name) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP)) => return Err(link_refused(&self.root, path)),
            Err(e) => return Err(Error::io(path, e)),
        };
        if !f.metadata().map_err(|e| Error::io(path, e))?.is_file() {
            return Err(Error::io(path, io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")));
        }
        let mut buf = Vec::new();
        f.take(max + 1).read_to_end(&mut buf).map_err(|e| Error::io(path, e))?;
        if buf.len() as u64 > max {
            return Err(Error::io(path, io::Error::new(io::ErrorKind::InvalidInput, format!("larger than the limit of {max} bytes"))));
        }
        Ok(Some(buf))
    }

    /// Start the directory over (`sluice run --restart`): remove everything
    /// a sluice run wrote in it, and nothing else.
    ///
    /// What sluice writes is known by name: its own top-level entries
    /// ([`RESERVED_OUTPUT_NAMES`]), plus the paths `outputs` names (writer
    /// folders and the paths stages claim, of the recipe about to run and of
    /// the previous run, see [`recorded_outputs`]), plus the temporaries of
    /// those. The directory may be shared, so:
    /// - a missing or empty directory is left as it is;
    /// - a directory that is not a sluice output directory (no
    ///   `_sluice/run.json`) and holds anything besides `_sluice` is refused;
    /// - if anything else sits in it (a file of someone else's, a symbolic
    ///   link where sluice has a folder), nothing is removed and the error
    ///   names what is in the way;
    /// - everything is reached from the root's descriptor one component at a
    ///   time without following links: a link inside sluice's folders is
    ///   removed itself, never what it points to;
    /// - `_sluice` goes last, so an interrupted restart leaves a directory
    ///   that is still recognisably sluice's, and `--restart` finishes it.
    ///
    /// Returns the top-level entries removed.
    ///
    /// [`recorded_outputs`]: OutputDir::recorded_outputs
    /// [`RESERVED_OUTPUT_NAMES`]: crate::recipe::RESERVED_OUTPUT_NAMES
    pub fn restart(&self, outputs: &[PathBuf]) -> Result<Vec<String>> {
        let root = match open_dir_path(&self.root) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&self.root, e)),
        };
        let entries = list_at(&root).map_err(|e| Error::io(&self.root, e))?;
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let has_run_json = match open_dir_at(&root, OsStr::new("_sluice")) {
            Ok(meta) => open_read_at(&meta, OsStr::new("run.json")).is_ok(),
            Err(_) => false,
        };
        if !has_run_json && entries.iter().any(|(n, _)| n != "_sluice") {
            return Err(self.err(
                "is not a sluice output directory (it has no _sluice/run.json) and is not empty; --restart removes only what sluice \
                 wrote, so it leaves this directory alone: choose another output directory (--output DIR) or empty this one yourself",
            ));
        }
        // The owned paths, as lists of components.
        let mut owned: Vec<Vec<OsString>> = crate::recipe::RESERVED_OUTPUT_NAMES.iter().map(|n| vec![OsString::from(n)]).collect();
        for p in outputs {
            let parts: Vec<OsString> = p.components().map(|c| c.as_os_str().to_os_string()).collect();
            if parts.is_empty() || p.components().any(|c| !matches!(c, Component::Normal(_))) {
                return Err(Error::Internal(format!("{} is not a plain relative path", p.display())));
            }
            owned.push(parts);
        }
        // First look, remove nothing: what is in the way?
        let mut foreign = Vec::new();
        self.find_foreign(&root, &self.root, &[], &owned, &mut foreign)?;
        if !foreign.is_empty() {
            foreign.sort();
            let shown: Vec<String> = foreign.iter().take(10).cloned().collect();
            return Err(self.err(format!(
                "--restart removes only what sluice wrote, and {} entr{} here {} not sluice's: {}{}; nothing was removed: \
                 move {} out of the way (or choose another output directory with --output DIR) and run again",
                foreign.len(),
                if foreign.len() == 1 { "y" } else { "ies" },
                if foreign.len() == 1 { "is" } else { "are" },
                shown.join(", "),
                if foreign.len() > shown.len() { ", ..." } else { "" },
                if foreign.len() == 1 { "it" } else { "them" },
            )));
        }
        // Then remove: owned paths (deepest parents emptied afterwards),
        // `_sluice` last.
        let mut removed = Vec::new();
        owned.sort_by_key(|p| p.len() == 1 && p[0] == "_sluice");
        for parts in &owned {
            let Some((leaf, parents)) = parts.split_last() else { continue };
            let mut dir = open_dir_path(&self.root).map_err(|e| Error::io(&self.root, e))?;
            let mut at = self.root.clone();
            let mut reached = true;
            for p in parents {
                at.push(p);
                match open_dir_at(&dir, p) {
                    Ok(d) => dir = d,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        reached = false;
                        break;
                    }
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => {
                        return Err(link_refused(&self.root, &at))
                    }
                    Err(e) => return Err(Error::io(&at, e)),
                }
            }
            if !reached {
                continue;
            }
            // The entry and its temporaries (`.<name>.~<tag>.tmp`).
            for (name, kind) in list_at(&dir).map_err(|e| Error::io(&at, e))? {
                let is_temp = name.to_str().and_then(|n| temp_base(n)).is_some_and(|b| OsStr::new(b) == leaf);
                if name != *leaf && !is_temp {
                    continue;
                }
                remove_entry(&dir, &at.join(&name), &name, kind)?;
                if parents.is_empty() && name == *leaf {
                    removed.push(leaf.to_string_lossy().into_owned());
                }
            }
        }
        // Folders that only held owned paths are empty now.
        let mut parents: Vec<&[OsString]> = owned.iter().flat_map(|p| (1..p.len()).map(move |i| &p[..i])).collect();
        parents.sort_by_key(|p| std::cmp::Reverse(p.len()));
        parents.dedup();
        for p in parents {
            let Some((leaf, above)) = p.split_last() else { continue };
            let mut dir = open_dir_path(&self.root).map_err(|e| Error::io(&self.root, e))?;
            let mut ok = true;
            for a in above {
                match open_dir_at(&dir, a) {
                    Ok(d) => dir = d,
                    Err(_) => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok && rmdir_at(&dir, leaf).is_ok() && above.is_empty() {
                removed.push(leaf.to_string_lossy().into_owned());
            }
        }
        removed.sort();
        removed.dedup();
        let _ = root.sync_all();
        Ok(removed)
    }

    /// Collect (as paths relative to the root) the entries of `dir` that no
    /// owned path covers, descending into folders that lie on the way to an
    /// owned path. `rel` is `dir`'s components.
    fn find_foreign(&self, dir: &File, path: &Path, rel: &[OsString], owned: &[Vec<OsString>], foreign: &mut Vec<String>) -> Result<()> {
        let depth = rel.len();
        let here: Vec<&Vec<OsString>> = owned.iter().filter(|p| p.len() > depth && p[..depth] == *rel).collect();
        for (name, kind) in list_at(dir).map_err(|e| Error::io(path, e))? {
            let shown = || path.join(&name).strip_prefix(&self.root).map(|p| p.display().to_string()).unwrap_or_default();
            if here.iter().any(|p| p.len() == depth + 1 && p[depth] == name) {
                continue; // owned whole
            }
            let base = name.to_str().and_then(temp_base).map(OsString::from);
            if base.is_some_and(|b| here.iter().any(|p| p.len() == depth + 1 && p[depth] == b)) {
                continue; // a temporary of an owned entry
            }
            if !here.iter().any(|p| p[depth] == name) {
                foreign.push(shown());
                continue;
            }
            // On the way to owned paths: it must be a real folder.
            match (kind, open_dir_at(dir, &name)) {
                (Kind::Dir, Ok(sub)) => {
                    let mut r = rel.to_vec();
                    r.push(name.clone());
                    self.find_foreign(&sub, &path.join(&name), &r, owned, foreign)?;
                }
                _ => foreign.push(format!("{} (not a folder: a symbolic link or a file)", shown())),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_file_appears_only_on_commit() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b.txt");
        let mut f = AtomicFile::create(&p).unwrap();
        f.write_all(b"hi").unwrap();
        assert!(!p.exists());
        f.commit().unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"hi");
        let f = AtomicFile::create(&d.path().join("c.txt")).unwrap();
        drop(f);
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1, "uncommitted temp removed");
    }

    #[test]
    fn prepare_refuses_foreign_dirs_and_changed_recipes() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("precious.txt"), "x").unwrap();
        let info = RunInfo { recipe_hash: "a".into(), tasks: 2, plan_hash: "p".into() };
        let err = OutputDir::new(d.path()).prepare(&info, &serde_json::Value::Null).unwrap_err();
        assert!(err.to_string().contains("not a sluice output directory"), "{err}");

        let out = OutputDir::new(d.path().join("o"));
        out.prepare(&info, &serde_json::Value::Null).unwrap();
        out.prepare(&info, &serde_json::Value::Null).unwrap();
        let other = RunInfo { recipe_hash: "b".into(), ..info.clone() };
        assert!(out.prepare(&other, &serde_json::Value::Null).unwrap_err().to_string().contains("different recipe"));
        let other = RunInfo { tasks: 3, ..info.clone() };
        assert!(out.prepare(&other, &serde_json::Value::Null).unwrap_err().to_string().contains("--tasks 2"));
    }

    /// `--restart` removes exactly what sluice wrote: its own folders, the
    /// recorded outputs (nested ones too, and their emptied parents) and
    /// their temporaries; it refuses anything else in the way, and a folder
    /// that is not sluice's, before removing a thing.
    #[test]
    fn restart_removes_what_sluice_wrote_and_nothing_else() {
        let d = tempfile::tempdir().unwrap();
        let out = OutputDir::new(d.path().join("o"));
        let info = RunInfo { recipe_hash: "a".into(), tasks: 1, plan_hash: "p".into() };
        out.prepare(&info, &serde_json::Value::Null).unwrap();
        let outputs = [PathBuf::from("w"), PathBuf::from("filters/cc.bloom")];
        out.record_outputs(&outputs[..1]).unwrap();
        let root = out.root().to_path_buf();
        for f in ["w/00000-00000.jsonl", "filters/cc.bloom", "excluded/s/00000-00000.jsonl", "stats.json", ".stats.json.~p1-0.tmp"] {
            fs::create_dir_all(root.join(f).parent().unwrap()).unwrap();
            fs::write(root.join(f), "x").unwrap();
        }
        let outside = d.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("keep"), "k").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("w/link")).unwrap();
        fs::write(root.join("filters/user.txt"), "u").unwrap();
        // `filters/user.txt` is in the way: nothing is removed.
        let err = out.restart(&outputs).unwrap_err().to_string();
        assert!(err.contains("filters/user.txt") && err.contains("nothing was removed"), "{err}");
        assert!(root.join("w/00000-00000.jsonl").exists() && root.join("_sluice/run.json").exists());
        fs::remove_file(root.join("filters/user.txt")).unwrap();
        // The recorded outputs count as sluice's even when not passed.
        let mut all = out.recorded_outputs().unwrap();
        assert_eq!(all, vec![PathBuf::from("w")]);
        all.push(outputs[1].clone());
        let removed = out.restart(&all).unwrap();
        assert_eq!(removed, vec!["_sluice", "excluded", "filters", "stats.json", "w"]);
        assert_eq!(names(&root), Vec::<String>::new());
        assert_eq!(fs::read(outside.join("keep")).unwrap(), b"k");
        // Not sluice's: refused, untouched; empty or missing: nothing to do.
        fs::write(root.join("mine.txt"), "m").unwrap();
        assert!(out.restart(&outputs).unwrap_err().to_string().contains("not a sluice output directory"));
        assert_eq!(names(&root), vec!["mine.txt"]);
        fs::remove_file(root.join("mine.txt")).unwrap();
        assert!(out.restart(&outputs).unwrap().is_empty());
        assert!(OutputDir::new(d.path().join("missing")).restart(&outputs).unwrap().is_empty());
    }

    #[test]
    fn clean_task_removes_only_that_task() {
        let d = tempfile::tempdir().unwrap();
        let out = OutputDir::new(d.path());
        let w = out.writer_dir("w");
        fs::create_dir_all(&w).unwrap();
        for n in ["00001-00000.jsonl.zst", ".00001-00001.jsonl.zst.tmp", "00002-00000.jsonl.zst", "00011-00000.jsonl.zst"] {
            fs::write(w.join(n), "x").unwrap();
        }
        out.clean_task(1, std::slice::from_ref(&w)).unwrap();
        let mut left: Vec<String> = fs::read_dir(&w).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, vec!["00002-00000.jsonl.zst", "00011-00000.jsonl.zst"]);
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        v.sort();
        v
    }

    /// Hole: a link planted inside the output directory redirected a
    /// re-run's cleanup and writes. Cleanup, directory creation and atomic
    /// writes now refuse to go through it, and leave its target untouched.
    #[test]
    fn cleanup_and_directory_creation_refuse_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        fs::create_dir_all(&victim).unwrap();
        fs::write(victim.join("00001-00000.jsonl.zst"), "precious").unwrap();
        fs::write(victim.join("notes.txt"), "mine").unwrap();
        let out = OutputDir::new(d.path().join("out"));
        fs::create_dir_all(out.root()).unwrap();
        std::os::unix::fs::symlink(&victim, out.writer_dir("w")).unwrap();

        let refused = |r: Result<()>| {
            let e = r.expect_err("a link inside the output directory must be refused").to_string();
            assert!(e.contains("symbolic link") && e.contains("/out/w"), "{e}");
        };
        refused(out.clean_unit(1, &[out.writer_dir("w")]));
        refused(out.clean_matching(&[out.writer_dir("w").join("sub")], |_| true));
        refused(create_dir_beneath(out.root(), &out.writer_dir("w").join("sub")));
        refused(out.write_atomic(&out.writer_dir("w").join("00001-00000.jsonl.zst"), b"evil"));
        refused(out.remove_file(&out.writer_dir("w").join("notes.txt")));
        refused(out.check_no_links());
        refused(out.remove_temporaries(|_| true).map(|_| ()));
        {
            let _scope = RunScope::enter(out.root());
            refused(AtomicFile::create(&out.writer_dir("w").join("00001-00001.jsonl.zst")).map(|_| ()));
            refused(create_scratch(&out.writer_dir("w").join("x.spill")).map(|_| ()));
        }
        assert_eq!(names(&victim), vec!["00001-00000.jsonl.zst", "notes.txt"]);
        assert_eq!(fs::read(victim.join("00001-00000.jsonl.zst")).unwrap(), b"precious");

        // A link deeper down, and a file where a directory should be.
        fs::remove_file(out.writer_dir("w")).unwrap();
        fs::create_dir_all(out.writer_dir("w")).unwrap();
        std::os::unix::fs::symlink(&victim, out.writer_dir("w").join("deep")).unwrap();
        refused(create_dir_beneath(out.root(), &out.writer_dir("w").join("deep/er")));
        refused(out.check_no_links());
        fs::write(out.writer_dir("f"), "").unwrap();
        assert!(create_dir_beneath(out.root(), &out.writer_dir("f").join("x")).is_err());
        assert_eq!(names(&victim), vec!["00001-00000.jsonl.zst", "notes.txt"]);

        // Without links, the same calls work; the root itself may be a link.
        fs::remove_file(out.writer_dir("w").join("deep")).unwrap();
        let via = OutputDir::new(d.path().join("via-link"));
        std::os::unix::fs::symlink(out.root(), via.root()).unwrap();
        create_dir_beneath(via.root(), &via.writer_dir("w").join("a/b")).unwrap();
        via.write_atomic(&via.writer_dir("w").join("00001-00000.jsonl.zst"), b"ok").unwrap();
        via.check_no_links().unwrap();
        via.clean_unit(1, &[via.writer_dir("w")]).unwrap();
        assert_eq!(names(&out.writer_dir("w")), vec!["a"]);
    }

    /// A link planted under the very name of a temporary is replaced, not
    /// written through.
    #[test]
    fn a_link_at_a_temporary_name_is_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("target.txt");
        fs::write(&target, "keep").unwrap();
        let out = OutputDir::new(d.path().join("out"));
        fs::create_dir_all(out.root()).unwrap();
        let scope = RunScope::enter(out.root());
        let _unit = scope.unit("s0", 2);
        std::os::unix::fs::symlink(&target, out.root().join(".x.json.~s0~00002.tmp")).unwrap();
        write_atomic(&out.root().join("x.json"), b"new").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"keep");
        assert_eq!(fs::read(out.root().join("x.json")).unwrap(), b"new");
        assert_eq!(names(out.root()), vec!["x.json"]);
    }

    #[test]
    fn temporaries_name_their_unit_and_only_it_removes_them() {
        assert_eq!(temp_tag(".a.json.~dedup.buckets~00003.tmp"), Some("dedup.buckets~00003"));
        assert_eq!(temp_tag(".00001-00000.jsonl.zst.~p12-0.tmp"), Some("p12-0"));
        assert_eq!(temp_tag("a.json.~s0~00001.tmp"), None);
        assert_eq!(temp_tag(".a.json.tmp"), None);
        assert!(is_process_tag("p12-0") && !is_process_tag("s0~00001") && !is_process_tag("p-1"));

        let d = tempfile::tempdir().unwrap();
        let out = OutputDir::new(d.path().join("out"));
        let scope = RunScope::enter(out.root());
        // "Kill" three writers (the temporaries stay, as after SIGKILL):
        // units 1 and 2 of phase s0, one outside any unit.
        for (key, unit, path) in [("s0", 1, "w/00001-00000.jsonl"), ("s0", 2, "w/00002-00000.jsonl"), ("x.pack", 1, "shards/train.bin")] {
            let _u = scope.unit(key, unit);
            let mut f = AtomicFile::create(&out.root().join(path)).unwrap();
            f.write_all(b"partial").unwrap();
            std::mem::forget(f);
        }
        let mut f = AtomicFile::create(&out.meta().join("phases.json")).unwrap();
        f.write_all(b"partial").unwrap();
        std::mem::forget(f);
        let all = || {
            let mut v = Vec::new();
            out.walk(&mut |p, _, n| {
                v.push(crate::stage::relative_path(out.root(), &p.join(n)));
                Ok(())
            })
            .unwrap();
            v.sort();
            v
        };
        assert_eq!(all().len(), 4, "{:?}", all());
        assert!(all().contains(&"shards/.train.bin.~x.pack~00001.tmp".to_string()), "{:?}", all());
        // A re-run of s0 unit 1 removes its own temporary only: unit 2 may
        // be running in another process.
        assert_eq!(out.remove_unit_temporaries("s0", 1).unwrap(), 1);
        assert!(!all().iter().any(|n| n.contains("00001-00000")), "{:?}", all());
        assert_eq!(all().len(), 3);
        assert_eq!(out.remove_unit_temporaries("x.pack", 1).unwrap(), 1);
        // Once the run is complete, every temporary goes.
        fs::write(out.root().join("w/00002-00000.jsonl"), "final").unwrap();
        assert_eq!(out.remove_all_temporaries().unwrap(), 2);
        assert_eq!(all(), vec!["w/00002-00000.jsonl"]);
    }
}
