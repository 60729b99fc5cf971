//! Per-node statistics, written as JSON per task and merged across tasks.
//!
//! The engine counts documents, bytes and time for every node; a stage
//! records only its own drop reasons.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::output::OutputDir;
use crate::recipe::Role;

/// Counters of one node in one task (or merged over tasks).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStats {
    pub name: String,
    pub kind: String,
    pub role: Option<Role>,
    /// Documents received (readers: records seen, malformed included).
    pub docs_in: u64,
    pub bytes_in: u64,
    /// Documents passed on (readers: documents produced).
    pub docs_out: u64,
    pub bytes_out: u64,
    /// Drops by reason (stages).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dropped: BTreeMap<String, u64>,
    /// Malformed records by kind (readers).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub malformed: BTreeMap<String, u64>,
    /// Records that were not documents, by reason (readers).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped: BTreeMap<String, u64>,
    /// Totals of the attributes a stage declares as counts
    /// ([`crate::stage::DocStage::counted_attributes`]): PII found per kind, say.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sums: BTreeMap<String, f64>,
    /// Input files opened (readers) or output files written (writers).
    pub files: u64,
    pub wall_secs: f64,
    pub cpu_secs: f64,
}

impl NodeStats {
    pub fn new(name: &str, kind: &str, role: Role) -> Self {
        NodeStats { name: name.into(), kind: kind.into(), role: Some(role), ..Default::default() }
    }

    pub fn merge(&mut self, o: &NodeStats) {
        self.docs_in += o.docs_in;
        self.bytes_in += o.bytes_in;
        self.docs_out += o.docs_out;
        self.bytes_out += o.bytes_out;
        for (k, v) in &o.dropped {
            *self.dropped.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.malformed {
            *self.malformed.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.skipped {
            *self.skipped.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.sums {
            *self.sums.entry(k.clone()).or_default() += v;
        }
        self.files += o.files;
        self.wall_secs += o.wall_secs;
        self.cpu_secs += o.cpu_secs;
    }

    pub fn total_dropped(&self) -> u64 {
        self.dropped.values().sum()
    }

    pub fn total_malformed(&self) -> u64 {
        self.malformed.values().sum()
    }
}

/// Stats of one task.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TaskStats {
    pub task: usize,
    pub tasks: usize,
    pub recipe_hash: String,
    pub wall_secs: f64,
    /// Nodes in recipe order.
    pub nodes: Vec<NodeStats>,
}

/// Stats merged over the tasks found in an output directory.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunStats {
    pub tasks: usize,
    pub tasks_reported: usize,
    /// Sum of the tasks' wall times (not the run's elapsed time).
    pub task_wall_secs: f64,
    pub nodes: Vec<NodeStats>,
}

impl RunStats {
    pub fn merge(tasks: usize, all: &[TaskStats]) -> RunStats {
        let mut out = RunStats { tasks, tasks_reported: all.len(), ..Default::default() };
        for t in all {
            out.task_wall_secs += t.wall_secs;
            for n in &t.nodes {
                match out.nodes.iter_mut().find(|m| m.name == n.name) {
                    Some(m) => m.merge(n),
                    None => out.nodes.push(n.clone()),
                }
            }
        }
        out
    }

    /// Read every per-task stats file under `out`.
    pub fn load(out: &OutputDir) -> Result<RunStats> {
        let run_json = out.meta().join("run.json");
        let info: crate::output::RunInfo = match fs::read(&run_json) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| Error::Output { dir: out.root().into(), message: format!("corrupt {}: {e}", run_json.display()) })?,
            Err(e) => {
                return Err(Error::Output {
                    dir: out.root().into(),
                    message: format!("is not a sluice output directory ({}: {e})", run_json.display()),
                })
            }
        };
        // Stream segment 0 at the top, then later phases in their own
        // directories (`s1/`, `dedup.buckets/`), in name order.
        let mut all = Vec::new();
        let read = |p: &std::path::Path, all: &mut Vec<TaskStats>| -> Result<()> {
            let b = fs::read(p).map_err(|e| Error::io(p, e))?;
            all.push(
                serde_json::from_slice::<TaskStats>(&b)
                    .map_err(|e| Error::Output { dir: out.root().into(), message: format!("corrupt {}: {e}", p.display()) })?,
            );
            Ok(())
        };
        for task in 0..info.tasks {
            let p = out.task_stats_path(task);
            if p.is_file() {
                read(&p, &mut all)?;
            }
        }
        let reported = all.len();
        let mut subdirs: Vec<std::path::PathBuf> = match fs::read_dir(out.stats_dir()) {
            Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect(),
            Err(_) => Vec::new(),
        };
        subdirs.sort();
        for d in subdirs {
            let mut files: Vec<std::path::PathBuf> = fs::read_dir(&d)
                .map_err(|e| Error::io(&d, e))?
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with("-stats.json")))
                .collect();
            files.sort();
            for f in files {
                read(&f, &mut all)?;
            }
        }
        let mut merged = RunStats::merge(info.tasks, &all);
        merged.tasks_reported = reported;
        Ok(merged)
    }

    /// The funnel as a plain-text table.
    pub fn funnel_table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "tasks reported: {} of {}", self.tasks_reported, self.tasks);
        let header = ["node", "kind", "docs in", "docs out", "kept", "MB in", "MB out", "wall s", "cpu s"];
        let mut rows: Vec<[String; 9]> = Vec::new();
        for n in &self.nodes {
            let kept = if n.docs_in == 0 { "-".to_string() } else { format!("{:.1}%", 100.0 * n.docs_out as f64 / n.docs_in as f64) };
            rows.push([
                n.name.clone(),
                n.kind.clone(),
                group(n.docs_in),
                group(n.docs_out),
                kept,
                format!("{:.2}", n.bytes_in as f64 / 1e6),
                format!("{:.2}", n.bytes_out as f64 / 1e6),
                format!("{:.2}", n.wall_secs),
                format!("{:.2}", n.cpu_secs),
            ]);
        }
        let mut widths = header.map(str::len);
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut l = String::new();
            for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
                if i < 2 {
                    let _ = write!(l, "{c:<w$}  ");
                } else {
                    let _ = write!(l, "{c:>w$}  ");
                }
            }
            l.trim_end().to_string()
        };
        let _ = writeln!(s, "{}", line(&header.map(String::from)));
        for r in &rows {
            let _ = writeln!(s, "{}", line(r));
        }
        let mut reasons = String::new();
        for n in &self.nodes {
            for (what, map) in [("dropped", &n.dropped), ("malformed", &n.malformed), ("skipped", &n.skipped)] {
                for (k, v) in map {
                    let _ = writeln!(reasons, "  {:<20} {:<10} {:<32} {:>12}", n.name, what, k, group(*v));
                }
            }
        }
        if !reasons.is_empty() {
            let _ = writeln!(s, "\nreasons:");
            s.push_str(&reasons);
        }
        s
    }
}

/// `1234567` -> `1,234,567`.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// CPU time consumed by the calling thread, in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own; the clock id
    // is a constant the platform defines.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_sums_counters_and_reasons() {
        let mut a = NodeStats::new("f", "length", Role::Stage);
        a.docs_in = 10;
        a.docs_out = 7;
        a.dropped.insert("too_short".into(), 3);
        let mut b = a.clone();
        b.dropped.insert("too_long".into(), 1);
        let t1 = TaskStats { task: 0, tasks: 2, nodes: vec![a], ..Default::default() };
        let t2 = TaskStats { task: 1, tasks: 2, nodes: vec![b], ..Default::default() };
        let m = RunStats::merge(2, &[t1, t2]);
        assert_eq!(m.nodes[0].docs_in, 20);
        assert_eq!(m.nodes[0].dropped["too_short"], 6);
        assert_eq!(m.nodes[0].dropped["too_long"], 1);
        let table = m.funnel_table();
        assert!(table.contains("70.0%"), "{table}");
        assert!(table.contains("too_short"), "{table}");
    }

    #[test]
    fn grouping() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
    }

    #[test]
    fn thread_cpu_advances() {
        let t0 = thread_cpu_ns();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(thread_cpu_ns() > t0);
    }
}
