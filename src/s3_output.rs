//! `sluice run` with an `s3://` (or `file://`) output: where the run's
//! output directory really is. See `sluice_objstore::mirror`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use sluice_objstore::mirror::{default_staging, S3Output};

/// The output a run writes to.
pub enum Output {
    /// A local directory (a path, or a `file://` URL turned into one).
    Local(Option<PathBuf>),
    /// An `s3://` prefix, staged locally.
    S3(Arc<S3Output>),
}

/// Resolve the run's output (`--output`, else the recipe's `output`): an
/// `s3://` URL opens (and catches up) its staging directory.
pub fn open(
    flag: Option<&Path>,
    recipe_output: &Path,
    staging: Option<&Path>,
    phase: Option<&str>,
    task: Option<usize>,
) -> anyhow::Result<Output> {
    let chosen = flag.unwrap_or(recipe_output);
    let Some(s) = chosen.to_str() else { return Ok(Output::Local(flag.map(Path::to_path_buf))) };
    if let Some(p) = sluice_objstore::file_url_path(s) {
        return Ok(Output::Local(Some(p?)));
    }
    if !sluice_objstore::is_url(s) {
        return Ok(Output::Local(flag.map(Path::to_path_buf)));
    }
    let base = match staging {
        Some(d) => d.to_path_buf(),
        None => default_staging()
            .context("no staging directory for the s3:// output: set --staging (or SLUICE_S3_STAGING), HOME or XDG_CACHE_HOME")?,
    };
    let m = S3Output::open(s, &base, phase, task).with_context(|| format!("output {s}"))?;
    Ok(Output::S3(Arc::new(m)))
}
