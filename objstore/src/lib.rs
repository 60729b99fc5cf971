//! Object storage for sluice: `s3://bucket/key` URLs, streamed reads,
//! atomic uploads and the staged output directory ([`mirror`]).
//!
//! The client is the Apache Arrow project's `object_store` (S3 only). It is
//! asynchronous; this crate owns one tokio runtime and offers a small
//! blocking API, so the rest of sluice stays synchronous.
//!
//! # Configuration (environment)
//!
//! - credentials: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//!   `AWS_SESSION_TOKEN`; else the static keys of the profile `AWS_PROFILE`
//!   (default `default`) in `~/.aws/credentials` (or
//!   `AWS_SHARED_CREDENTIALS_FILE`); else what `object_store` finds itself:
//!   web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`), ECS
//!   container credentials, then the EC2 instance metadata service;
//! - region: `AWS_REGION`, `AWS_DEFAULT_REGION`, else the profile's
//!   `region` in `~/.aws/config` (or `AWS_CONFIG_FILE`), else `us-east-1`;
//! - endpoint (S3-compatible stores): `AWS_ENDPOINT_URL` (or
//!   `AWS_ENDPOINT`); a plain `http://` endpoint also needs
//!   `AWS_ALLOW_HTTP=true`;
//! - `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true` for virtual-hosted addressing
//!   (path style is the default, which S3-compatible stores expect).

pub mod mirror;
mod profile;
#[doc(hidden)]
pub mod testing;

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjPath;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};

/// Files up to this size are uploaded with one PUT; larger ones as a
/// multipart upload of parts this size (S3's minimum part is 5 MiB).
pub const PART_SIZE: usize = 8 << 20;

/// How many times a streamed read resumes (a ranged GET from where it
/// stopped) after a broken connection before it gives up.
const READ_RETRIES: u32 = 5;

/// Does `s` name an object store location (`s3://`)?
pub fn is_url(s: &str) -> bool {
    s.starts_with("s3://")
}

/// Does the path hold an `s3://` URL (see [`is_url`])?
pub fn is_url_path(p: &Path) -> bool {
    p.to_str().is_some_and(is_url)
}

/// `file:///abs/path` (or `file://localhost/abs/path`) as a path; `None`
/// when `s` is not a `file://` URL.
pub fn file_url_path(s: &str) -> Option<io::Result<PathBuf>> {
    let rest = s.strip_prefix("file://")?;
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return Some(Err(invalid(format!("`{s}`: a file:// URL names an absolute path on this machine (file:///data/x.jsonl)"))));
    }
    Some(percent_decode(rest).map(PathBuf::from).map_err(|m| invalid(format!("`{s}`: {m}"))))
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or("bad percent escape")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    let s = String::from_utf8(out).map_err(|_| "the decoded path is not UTF-8")?;
    if s.contains('\0') {
        return Err("the path contains a NUL byte".into());
    }
    Ok(s)
}

fn invalid(m: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, m)
}

/// A parsed `s3://bucket/key` URL. `key` has no leading or trailing `/`
/// and may be empty (the whole bucket).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct S3Url {
    pub bucket: String,
    pub key: String,
}

impl S3Url {
    /// Parse and check a URL: a valid bucket name, and a key made of
    /// non-empty components, none of them `.` or `..`, without control
    /// characters or backslashes. One trailing `/` is allowed (a prefix).
    pub fn parse(s: &str) -> io::Result<S3Url> {
        let rest = s.strip_prefix("s3://").ok_or_else(|| invalid(format!("`{s}` is not an s3:// URL")))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket(bucket).map_err(|m| invalid(format!("`{s}`: {m}")))?;
        let key = key.strip_suffix('/').unwrap_or(key);
        if !key.is_empty() {
            check_key(key).map_err(|m| invalid(format!("`{s}`: {m}")))?;
        }
        Ok(S3Url { bucket: bucket.to_string(), key: key.to_string() })
    }

    /// The key of `rel` (a relative path of plain names) under this URL.
    pub fn join(&self, rel: &str) -> io::Result<String> {
        check_key(rel).map_err(|m| invalid(format!("`{rel}` under {self}: {m}")))?;
        Ok(if self.key.is_empty() { rel.to_string() } else { format!("{}/{rel}", self.key) })
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.key)
        }
    }
}

/// S3's bucket naming rules: 3 to 63 lowercase letters, digits, `.` and
/// `-`, starting and ending with a letter or digit.
fn check_bucket(b: &str) -> Result<(), String> {
    let ok_chars = b.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-');
    let ends = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if (3..=63).contains(&b.len()) && ok_chars && ends(b.bytes().next()) && ends(b.bytes().last()) && !b.contains("..") {
        Ok(())
    } else {
        Err(format!("`{b}` is not a valid bucket name (3-63 lowercase letters, digits, `.` and `-`)"))
    }
}

/// A key sluice reads or writes: `/`-separated non-empty components, none
/// `.` or `..`, no control character or backslash, at most 1024 bytes.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.len() > 1024 {
        return Err("the key is longer than 1024 bytes".into());
    }
    for c in key.split('/') {
        if c.is_empty() {
            return Err("the key has an empty component (`//`, or a leading or trailing `/`)".into());
        }
        if c == "." || c == ".." {
            return Err(format!("the key has a `{c}` component"));
        }
        if c.chars().any(|ch| ch.is_control() || ch == '\\') {
            return Err("the key has a control character or a backslash".into());
        }
    }
    Ok(())
}

/// An object found by [`Store::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub etag: Option<String>,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sluice-s3")
            .enable_all()
            .build()
            .expect("cannot start the object storage runtime")
    })
}

fn store_err(what: impl std::fmt::Display, e: object_store::Error) -> io::Error {
    let kind = match e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("{what}: {e}"))
}

/// One bucket, with the configuration read from the environment.
pub struct Store {
    bucket: String,
    inner: AmazonS3,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("bucket", &self.bucket).finish()
    }
}

impl Store {
    /// The store for `bucket` (one per bucket and process).
    pub fn for_bucket(bucket: &str) -> io::Result<Arc<Store>> {
        static STORES: Mutex<Option<HashMap<String, Arc<Store>>>> = Mutex::new(None);
        let mut g = STORES.lock().unwrap_or_else(|p| p.into_inner());
        let map = g.get_or_insert_with(HashMap::new);
        if let Some(s) = map.get(bucket) {
            return Ok(s.clone());
        }
        let s = Arc::new(Store::connect(bucket)?);
        map.insert(bucket.to_string(), s.clone());
        Ok(s)
    }

    fn connect(bucket: &str) -> io::Result<Store> {
        check_bucket(bucket).map_err(invalid)?;
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if env("AWS_ACCESS_KEY_ID").is_none() {
            if let Some(c) = profile::credentials()? {
                b = b.with_access_key_id(c.access_key_id).with_secret_access_key(c.secret_access_key);
                if let Some(t) = c.session_token {
                    b = b.with_token(t);
                }
            }
        }
        if env("AWS_REGION").is_none() && env("AWS_DEFAULT_REGION").is_none() {
            if let Some(r) = profile::region()? {
                b = b.with_region(r);
            }
        }
        if let Some(ep) = env("AWS_ENDPOINT_URL").or_else(|| env("AWS_ENDPOINT")) {
            let allow = env("AWS_ALLOW_HTTP").is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
            if ep.starts_with("http://") && !allow {
                return Err(invalid(format!(
                    "the S3 endpoint {ep} is plain http: set AWS_ALLOW_HTTP=true to allow unencrypted connections (a local test server), or use https"
                )));
            }
            b = b.with_endpoint(ep);
            if allow {
                b = b.with_allow_http(true);
            }
        }
        if env("AWS_VIRTUAL_HOSTED_STYLE_REQUEST").is_none() {
            b = b.with_config(AmazonS3ConfigKey::VirtualHostedStyleRequest, "false");
        }
        let inner = b.build().map_err(|e| store_err(format!("cannot configure S3 for bucket {bucket}"), e))?;
        Ok(Store { bucket: bucket.to_string(), inner })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn path(&self, key: &str) -> io::Result<ObjPath> {
        check_key(key).map_err(|m| invalid(format!("{}: {m}", self.url(key))))?;
        ObjPath::parse(key).map_err(|e| invalid(format!("{}: {e}", self.url(key))))
    }

    /// Every object under the prefix `prefix/` (the whole bucket for an
    /// empty prefix), every page of the listing, sorted by key.
    pub fn list(&self, prefix: &str) -> io::Result<Vec<ObjectInfo>> {
        let p = if prefix.is_empty() { None } else { Some(self.path(prefix)?) };
        let what = || format!("cannot list s3://{}/{prefix}", self.bucket);
        let metas: Vec<object_store::ObjectMeta> = runtime().block_on(async {
            let mut s = self.inner.list(p.as_ref());
            let mut v = Vec::new();
            while let Some(m) = s.next().await {
                v.push(m.map_err(|e| store_err(what(), e))?);
            }
            Ok::<_, io::Error>(v)
        })?;
        let mut out: Vec<ObjectInfo> =
            metas.into_iter().map(|m| ObjectInfo { key: m.location.to_string(), size: m.size, etag: m.e_tag }).collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// The object `key`, or `None` if there is none.
    pub fn head(&self, key: &str) -> io::Result<Option<ObjectInfo>> {
        let p = self.path(key)?;
        match runtime().block_on(self.inner.head(&p)) {
            Ok(m) => Ok(Some(ObjectInfo { key: key.to_string(), size: m.size, etag: m.e_tag })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_err(format!("cannot read {}", self.url(key)), e)),
        }
    }

    /// A streamed reader of the object `key`: memory stays bounded by what
    /// the connection buffers, whatever the object's size. A connection
    /// that breaks is resumed with a ranged GET from where it stopped, for
    /// the same version of the object (`If-Match` on its ETag).
    pub fn open(self: &Arc<Self>, key: &str) -> io::Result<ObjectReader> {
        let path = self.path(key)?;
        let mut r = ObjectReader { store: self.clone(), path, size: 0, etag: None, pos: 0, stream: None, chunk: Bytes::new(), failures: 0 };
        r.connect()?;
        Ok(r)
    }

    /// A streamed reader of the object `key` (of `size` bytes and ETag
    /// `etag`, from [`Store::head`]) from byte `start`; it connects on the
    /// first read.
    pub fn open_at(self: &Arc<Self>, key: &str, start: u64, size: u64, etag: Option<&str>) -> io::Result<ObjectReader> {
        let path = self.path(key)?;
        Ok(ObjectReader {
            store: self.clone(),
            path,
            size,
            etag: etag.map(String::from),
            pos: start.min(size),
            stream: None,
            chunk: Bytes::new(),
            failures: 0,
        })
    }

    /// Bytes `start..start + len` of the object `key`, which must still
    /// have the ETag `etag` if one is given (random access: Parquet).
    pub fn get_range(&self, key: &str, start: u64, len: u64, etag: Option<&str>) -> io::Result<Bytes> {
        let path = self.path(key)?;
        if len == 0 {
            return Ok(Bytes::new());
        }
        let opts =
            GetOptions { range: Some(GetRange::Bounded(start..start + len)), if_match: etag.map(String::from), ..Default::default() };
        let what = || format!("cannot read bytes {start}..{} of {}", start + len, self.url(key));
        let mut last = None;
        for attempt in 0..=READ_RETRIES {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(100 << attempt));
            }
            let got = runtime().block_on(async {
                let r = self.inner.get_opts(&path, opts.clone()).await?;
                r.bytes().await
            });
            match got {
                Ok(b) if b.len() as u64 == len => return Ok(b),
                Ok(b) => last = Some(io::Error::new(io::ErrorKind::UnexpectedEof, format!("{}: got {} bytes", what(), b.len()))),
                Err(e @ object_store::Error::NotFound { .. }) | Err(e @ object_store::Error::Precondition { .. }) => {
                    return Err(store_err(what(), e))
                }
                Err(e) => last = Some(store_err(what(), e)),
            }
        }
        Err(last.expect("tried"))
    }

    /// Upload the local file `local` as `key`. The object appears whole or
    /// not at all: one PUT up to [`PART_SIZE`], else a multipart upload
    /// that only the final request completes (an interrupted one is
    /// aborted, or left invisible if the process dies). Returns the ETag.
    pub fn upload_file(&self, local: &Path, key: &str) -> io::Result<Option<String>> {
        self.upload_file_with_parts(local, key, PART_SIZE)
    }

    fn upload_file_with_parts(&self, local: &Path, key: &str, part: usize) -> io::Result<Option<String>> {
        let path = self.path(key)?;
        let what = || format!("cannot upload {} to {}", local.display(), self.url(key));
        let mut f = File::open(local).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", what())))?;
        let len = f.metadata()?.len();
        if len <= part as u64 {
            let mut buf = Vec::with_capacity(len as usize);
            f.read_to_end(&mut buf)?;
            let r = runtime().block_on(self.inner.put(&path, PutPayload::from(buf))).map_err(|e| store_err(what(), e))?;
            return Ok(r.e_tag);
        }
        runtime().block_on(async {
            let upload = self.inner.put_multipart(&path).await.map_err(|e| store_err(what(), e))?;
            let mut w = WriteMultipart::new_with_chunk_size(upload, part);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                // At most two parts in flight: memory stays bounded.
                if let Err(e) = w.wait_for_capacity(2).await {
                    return Err(store_err(what(), e));
                }
                let n = match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = w.abort().await;
                        return Err(io::Error::new(e.kind(), format!("{}: {e}", what())));
                    }
                };
                w.write(&buf[..n]);
            }
            let r = w.finish().await.map_err(|e| store_err(what(), e))?;
            Ok(r.e_tag)
        })
    }

    /// Download `key` into the new file `tmp`, then rename it to `dest`.
    /// Returns the object's size and ETag.
    pub fn download_file(self: &Arc<Self>, key: &str, tmp: &Path, dest: &Path) -> io::Result<(u64, Option<String>)> {
        let mut r = self.open(key)?;
        let ctx = |e: io::Error| io::Error::new(e.kind(), format!("cannot download {} to {}: {e}", self.url(key), dest.display()));
        let mut f = File::create(tmp).map_err(ctx)?;
        let copied = io::copy(&mut r, &mut f).and_then(|n| f.flush().and_then(|()| f.sync_all()).map(|()| n));
        drop(f);
        let n = match copied {
            Ok(n) => n,
            Err(e) => {
                let _ = std::fs::remove_file(tmp);
                return Err(ctx(e));
            }
        };
        if let Some(d) = dest.parent() {
            std::fs::create_dir_all(d).map_err(ctx)?;
        }
        std::fs::rename(tmp, dest).map_err(ctx)?;
        Ok((n, r.etag.clone()))
    }

    /// Delete `key`; a missing object is not an error.
    pub fn delete(&self, key: &str) -> io::Result<()> {
        let p = self.path(key)?;
        match runtime().block_on(self.inner.delete(&p)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_err(format!("cannot delete {}", self.url(key)), e)),
        }
    }

    /// Store `bytes` as `key` (one PUT).
    pub fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> io::Result<Option<String>> {
        let p = self.path(key)?;
        let r = runtime()
            .block_on(self.inner.put(&p, PutPayload::from(bytes)))
            .map_err(|e| store_err(format!("cannot write {}", self.url(key)), e))?;
        Ok(r.e_tag)
    }
}

/// See [`Store::open`].
pub struct ObjectReader {
    store: Arc<Store>,
    path: ObjPath,
    size: u64,
    etag: Option<String>,
    pos: u64,
    stream: Option<BoxStream<'static, object_store::Result<Bytes>>>,
    chunk: Bytes,
    failures: u32,
}

impl ObjectReader {
    /// The object's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn connect(&mut self) -> io::Result<()> {
        let first = self.etag.is_none() && self.pos == 0;
        let opts = GetOptions {
            range: if self.pos > 0 { Some(GetRange::Offset(self.pos)) } else { None },
            if_match: self.etag.clone(),
            ..Default::default()
        };
        let url = self.store.url(self.path.as_ref());
        let r = runtime().block_on(self.store.inner.get_opts(&self.path, opts)).map_err(|e| store_err(format!("cannot read {url}"), e))?;
        if first {
            self.size = r.meta.size;
            self.etag = r.meta.e_tag.clone();
        }
        self.stream = Some(r.into_stream());
        Ok(())
    }

    fn fail(&mut self, e: io::Error) -> io::Result<()> {
        self.stream = None;
        self.failures += 1;
        if self.failures > READ_RETRIES {
            return Err(e);
        }
        std::thread::sleep(Duration::from_millis(100 << self.failures));
        Ok(())
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.chunk.is_empty() {
                let n = buf.len().min(self.chunk.len());
                buf[..n].copy_from_slice(&self.chunk[..n]);
                let _ = self.chunk.split_to(n);
                self.pos += n as u64;
                return Ok(n);
            }
            if self.pos >= self.size || buf.is_empty() {
                return Ok(0);
            }
            if self.stream.is_none() {
                if let Err(e) = self.connect() {
                    self.fail(e)?;
                    continue;
                }
            }
            let url = self.store.url(self.path.as_ref());
            let next = runtime().block_on(self.stream.as_mut().expect("connected").next());
            match next {
                Some(Ok(b)) => self.chunk = b,
                Some(Err(e)) => self.fail(store_err(format!("reading {url} at byte {}", self.pos), e))?,
                None => self.fail(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{url}: the connection ended at byte {} of {}", self.pos, self.size),
                ))?,
            }
        }
    }
}

/// Open an input for reading: an `s3://` URL (streamed), a `file://` URL or
/// a local path.
pub fn open_input(path: &Path) -> io::Result<Box<dyn Read + Send>> {
    if let Some(s) = path.to_str().filter(|s| is_url(s)) {
        let u = S3Url::parse(s)?;
        let store = Store::for_bucket(&u.bucket)?;
        return Ok(Box::new(store.open(&u.key)?));
    }
    if let Some(p) = path.to_str().and_then(file_url_path) {
        return Ok(Box::new(File::open(p?)?));
    }
    Ok(Box::new(File::open(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_keys_are_checked() {
        let u = S3Url::parse("s3://my-bucket/data/crawl/").unwrap();
        assert_eq!((u.bucket.as_str(), u.key.as_str()), ("my-bucket", "data/crawl"));
        assert_eq!(u.to_string(), "s3://my-bucket/data/crawl");
        assert_eq!(u.join("a/b.jsonl").unwrap(), "data/crawl/a/b.jsonl");
        assert_eq!(S3Url::parse("s3://bkt").unwrap().key, "");
        assert_eq!(S3Url::parse("s3://bkt").unwrap().join("x").unwrap(), "x");
        for bad in [
            "s3://",
            "s3://B",
            "s3://ab",
            "s3://-ab/x",
            "s3://a_b/x",
            "s3://bkt/a//b",
            "s3://bkt/a/../b",
            "s3://bkt/./b",
            "s3://bkt/a\\b",
            "s3://bkt/a\nb",
        ] {
            assert!(S3Url::parse(bad).is_err(), "{bad} accepted");
        }
        for bad in ["..", "a/../b", "", "/a", "a/", "a//b", "."] {
            assert!(u.join(bad).is_err(), "{bad:?} accepted");
        }
        assert!(is_url("s3://x/y") && !is_url("/x/y") && !is_url("S3://x"));
    }

    #[test]
    fn file_urls_are_paths() {
        assert_eq!(file_url_path("file:///data/a%20b.jsonl").unwrap().unwrap(), PathBuf::from("/data/a b.jsonl"));
        assert_eq!(file_url_path("file://localhost/x").unwrap().unwrap(), PathBuf::from("/x"));
        assert!(file_url_path("file://host/x").unwrap().is_err());
        assert!(file_url_path("file:///a%2").unwrap().is_err());
        assert!(file_url_path("/plain").is_none());
    }
}
