//! Dedup stages driven through observe → steps → decide with simulated
//! tasks, on the shared ground-truth data and on generated corpora.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};
use sluice_dedup::testing::{run_global, split_tasks, with_positions};
use sluice_dedup::{ExactConfig, LineDedupConfig, MinHashConfig};
use sluice_pipeline::{Document, GlobalStage};

fn data_dir() -> PathBuf {
    let root = std::env::var("SLUICE_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    assert!(root.is_dir(), "shared test data missing at {} (set SLUICE_TEST_DATA)", root.display());
    root
}

fn read_text(p: &std::path::Path) -> String {
    let b = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    String::from_utf8_lossy(&b).into_owned()
}

fn doc(id: &str, text: &str, source: &str) -> Document {
    Document::new(id, text, Arc::from(source))
}

fn minhash(v: Value) -> sluice_dedup::MinHashDedup {
    let c: MinHashConfig = serde_json::from_value(v).unwrap();
    assert!(c.validate().is_empty());
    c.build()
}

fn report(out: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(out.join("reports/dedup/clusters.json")).unwrap()).unwrap()
}

/// Documents whose ids share a cluster: run with everything kept except
/// the removed ones, so "same cluster as X" = removed with X kept, or X
/// removed with the kept member. We recover clusters from a run where we
/// know the kept set: every removed doc joins the cluster of some kept one.
/// To get pairs we re-run union-find on the minhash edges by brute force
/// over signatures instead: simpler, we compare band hashes directly.
fn same_cluster_pairs(docs: &[Document], bands: usize, rows: usize, ngram: usize, seed: u64) -> Vec<Vec<usize>> {
    let signer = sluice_dedup::minhash::Signer::new(bands, rows, ngram, seed);
    let mut buf = Vec::new();
    let bh: Vec<Option<Vec<u64>>> = docs.iter().map(|d| signer.signature(&d.text, &mut buf).map(|s| signer.band_hashes(&s))).collect();
    // union-find
    let mut parent: Vec<usize> = (0..docs.len()).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    for i in 0..docs.len() {
        for j in i + 1..docs.len() {
            if let (Some(a), Some(b)) = (&bh[i], &bh[j]) {
                if a.iter().zip(b).any(|(x, y)| x == y) {
                    let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
                    parent[ri.max(rj)] = ri.min(rj);
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..docs.len() {
        let r = find(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    groups.into_values().collect()
}

/// Clough–Stevenson: 5 Wikipedia sources and 95 answers labelled
/// cut/light/heavy/non. Precision/recall of "in the same cluster as its
/// source" per label, at the default parameters, through the real stage
/// (4 simulated tasks); the cluster membership comes from the stage's
/// decisions (removed documents and the kept one).
#[test]
fn clough_stevenson_ground_truth() {
    let dir = data_dir().join("neardup/clough_stevenson_plagiarism");
    let info = read_text(&dir.join("file_information.csv"));
    let mut docs = Vec::new();
    for t in ['a', 'b', 'c', 'd', 'e'] {
        docs.push(doc(&format!("orig_task{t}"), &read_text(&dir.join(format!("orig_task{t}.txt"))), "orig"));
    }
    let mut label: HashMap<String, (String, char)> = HashMap::new();
    for line in info.lines().skip(1) {
        let f: Vec<&str> = line.trim().split(',').collect();
        if f.len() < 3 || f[0].starts_with("orig") {
            continue;
        }
        let id = f[0].trim_end_matches(".txt").to_string();
        label.insert(id.clone(), (f[2].to_string(), f[1].chars().next().unwrap()));
        docs.push(doc(&id, &read_text(&dir.join(f[0])), "answer"));
    }
    assert_eq!(label.len(), 95);
    let docs = with_positions(docs, 10);

    // Default parameters (a dedup setting), and a low-threshold setting
    // (3 rows × 2000 bands: 50% detection near Jaccard 0.08) that shows the
    // same machinery finding partial copies.
    for (name, bands, rows) in [("default 14x8", 14usize, 8usize), ("low threshold 2000x3", 2000, 3)] {
        let stage = minhash(json!({"bands": bands, "rows": rows, "band_groups": bands.min(14)}));
        // The stage itself: 1 and 4 tasks remove the same documents, and
        // the sources (first in input order) are always the kept copy.
        let mut removed = Vec::new();
        for tasks in [1, 4] {
            let out = tempfile::tempdir().unwrap();
            let o = run_global(&stage, split_tasks(docs.clone(), tasks, 10), out.path(), 42, 16).unwrap();
            assert!(o.dropped.iter().all(|(d, r)| r == "minhash_duplicate" && !d.id.starts_with("orig")));
            removed.push(o.dropped_ids());
        }
        assert_eq!(removed[0], removed[1]);

        // Cluster membership with the stage's signer and seed (brute-force
        // band comparison instead of buckets).
        let groups = same_cluster_pairs(&docs, bands, rows, 5, 42);
        let with_source = |id: &str, task: char| {
            let i = docs.iter().position(|d| d.id == id).unwrap();
            let s = docs.iter().position(|d| d.id == format!("orig_task{task}")).unwrap();
            groups.iter().any(|g| g.contains(&i) && g.contains(&s))
        };
        let mut per_label: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let mut missed_cut = Vec::new();
        for (id, (lab, task)) in &label {
            let hit = with_source(id, *task);
            if hit {
                // every document merged with a source was removed by the stage
                assert!(removed[0].contains(id), "{id} is in its source's cluster but was not removed");
            } else if lab == "cut" {
                missed_cut.push(id.clone());
            }
            let e = per_label.entry(lab.clone()).or_default();
            e.0 += hit as usize;
            e.1 += 1;
        }
        missed_cut.sort();
        // precision: of the answers merged with their source, the share
        // that was derived from it (cut, light or heavy)
        let merged: usize = per_label.values().map(|v| v.0).sum();
        println!("minhash {name}, word 5-grams, \"same cluster as its source\":");
        for (lab, (hit, n)) in &per_label {
            println!("  {lab:6} recall {hit:2}/{n:2} = {:.2}", *hit as f64 / *n as f64);
        }
        println!(
            "  precision {:.2} ({merged} merged); cut missed: {missed_cut:?}",
            (merged - per_label["non"].0) as f64 / merged.max(1) as f64
        );
        assert_eq!(per_label["non"].0, 0, "{name}: a `non` answer was merged with its source");
        if bands == 14 {
            // Jaccard against the whole source: a 200-word answer cut from a
            // 500-word article is far below the 0.68 midpoint (measured
            // 0.11-0.91); only the near-complete copies are found
            assert!(per_label["cut"].0 >= 2);
        } else {
            // Two `cut` answers (g2pE_taskc, g4pD_taskb) were cut from other
            // parts of the Wikipedia article than the excerpt given as
            // source: they share no word 5-gram with it, so no measure over
            // that excerpt finds them directly (one may still join through
            // another answer of its task). Every other one is found.
            assert!(missed_cut.iter().all(|m| m == "g2pE_taskc" || m == "g4pD_taskb"), "{missed_cut:?}");
            assert!(per_label["cut"].0 >= 17);
        }
    }
}

/// Why "every `cut` answer in its source's cluster" cannot hold on this
/// corpus for any measure over word 5-grams: g2pE_taskc was cut from a part
/// of the Wikipedia article that is not in the excerpt given as its source,
/// and it shares not one 5-gram with that source nor with any other
/// document of the corpus, so no chain of similar documents reaches it.
/// Every other `cut` answer shares at least a quarter of its 5-grams with
/// the source or reaches it through another answer.
#[test]
fn clough_stevenson_cut_answer_sharing_no_text() {
    let dir = data_dir().join("neardup/clough_stevenson_plagiarism");
    let shingles = |name: &str| -> std::collections::HashSet<u64> {
        let simple = sluice_dedup::text::simplify(&read_text(&dir.join(name)));
        let mut out = Vec::new();
        sluice_dedup::text::shingle_hashes(&sluice_dedup::text::words(&simple), 5, 0, &mut out);
        out.into_iter().collect()
    };
    let lonely = shingles("g2pE_taskc.txt");
    assert!(lonely.len() > 100, "{}", lonely.len());
    let mut others = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if !name.ends_with(".txt") || name == "g2pE_taskc.txt" {
            continue;
        }
        let shared = lonely.intersection(&shingles(&name)).count();
        assert_eq!(shared, 0, "g2pE_taskc shares {shared} 5-grams with {name}");
        others += 1;
    }
    assert_eq!(others, 99);
}

/// cs336: the two MIT licences (different headers and line wrapping) are
/// one cluster, the PyTorch licence is not in it.
#[test]
fn cs336_fuzzy_fixture() {
    let dir = data_dir().join("neardup/cs336_fixtures/documents_with_fuzzy_duplicates");
    let mut docs = Vec::new();
    for f in ["pytorch_license.txt", "rails_mit_license.txt", "react_mit_license.txt"] {
        docs.push(doc(f, &read_text(&dir.join(f)), "lic"));
    }
    let docs = with_positions(docs, 10);
    let out = tempfile::tempdir().unwrap();
    let o = run_global(&minhash(json!({})), vec![docs], out.path(), 1, 8).unwrap();
    assert_eq!(o.dropped_ids(), vec!["react_mit_license.txt".to_string()]);
    let r = report(out.path());
    assert_eq!(r["kind"], "dedup_clusters");
    assert_eq!(r["method"], "minhash");
    assert_eq!(r["documents"], 3);
    assert_eq!(r["removed"], 1);
    assert_eq!(r["clusters"], 1);
    assert_eq!(r["size_histogram"], json!([[2, 1]]));
    assert_eq!(r["largest"][0]["kept"]["id"], "rails_mit_license.txt");
    assert_eq!(r["largest"][0]["examples"][0]["id"], "react_mit_license.txt");
    assert_eq!(r["s_curve"].as_array().unwrap().len(), 15);
}

/// cs336: line dedup removes every line seen more than once.
#[test]
fn cs336_line_fixture() {
    let root = data_dir().join("neardup/cs336_fixtures");
    let mut docs = Vec::new();
    for i in 1..=5 {
        let f = format!("doc{i}.txt");
        docs.push(doc(&f, &read_text(&root.join("documents_with_line_duplicates").join(&f)), "web"));
    }
    let docs = with_positions(docs, 2);
    // exact lines, as the fixture expects: with CCNet normalisation the two
    // "<Insert generic page content here for docN.txt>" lines are equal
    // (digits become 0) and would go too
    let c: LineDedupConfig = serde_json::from_value(json!({"normalize": false})).unwrap();
    let stage = c.build();
    for tasks in [1, 3] {
        let out = tempfile::tempdir().unwrap();
        let o = run_global(&stage, split_tasks(docs.clone(), tasks, 2), out.path(), 5, 2).unwrap();
        let kept: HashMap<String, String> = o.kept.iter().map(|d| (d.id.clone(), d.text.clone())).collect();
        for i in 1..=5 {
            let f = format!("doc{i}.txt");
            let want = read_text(&root.join("documents_line_deduplicated").join(&f));
            match kept.get(&f) {
                Some(t) => assert_eq!(t.trim_end(), want.trim_end(), "{f}"),
                None => {
                    assert!(want.trim().is_empty(), "{f} dropped but expected {want:?}");
                    assert!(o.dropped.iter().any(|(d, r)| d.id == f && r == "line_dedup_empty"));
                }
            }
        }
        let r = report(out.path());
        assert_eq!(r["method"], "lines");
        // "our servers ..." x2, "- home" x2, "- menu" x2
        assert_eq!(r["clusters"], 3);
        assert_eq!(r["removed"], 6);
    }
}

/// A corpus of unique texts with planted near-duplicates and exact copies.
fn corpus(n: usize, seed: u64) -> Vec<Document> {
    let mut s = seed;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let vocab: Vec<String> = (0..5000).map(|i| format!("{}x{}", ["al", "be", "ga", "de", "ep"][i % 5], to_letters(i))).collect();
    let mut docs: Vec<Document> = Vec::new();
    for i in 0..n {
        let r = rnd() % 10;
        let text = if r < 2 && !docs.is_empty() {
            // near duplicate of an earlier doc: change ~1% of the words
            let base = &docs[(rnd() as usize) % docs.len()].text;
            base.split(' ')
                .map(|w| if rnd() % 100 == 0 { vocab[(rnd() % 5000) as usize].as_str() } else { w })
                .collect::<Vec<_>>()
                .join(" ")
        } else if r < 3 && !docs.is_empty() {
            // exact copy with different case and punctuation
            let base = &docs[(rnd() as usize) % docs.len()].text;
            format!("{}!", base.to_uppercase())
        } else {
            (0..200).map(|_| vocab[(rnd() % 5000) as usize].as_str()).collect::<Vec<_>>().join(" ")
        };
        docs.push(doc(&format!("d{i:05}"), &text, if i % 3 == 0 { "a" } else { "b" }));
    }
    with_positions(docs, 25)
}

fn to_letters(mut i: usize) -> String {
    let mut s = String::new();
    loop {
        s.push((b'a' + (i % 26) as u8) as char);
        i /= 26;
        if i == 0 {
            return s;
        }
    }
}

fn run_with_threads(
    stage: &dyn GlobalStage,
    docs: &[Document],
    tasks: usize,
    threads: usize,
) -> (Vec<String>, Value, Vec<(String, String)>) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = pool.install(|| run_global(stage, split_tasks(docs.to_vec(), tasks, 25), out.path(), 9, 64)).unwrap();
    let mut kept: Vec<(String, String)> = o.kept.iter().map(|d| (d.id.clone(), d.text.clone())).collect();
    kept.sort();
    (o.dropped_ids(), report(out.path()), kept)
}

/// 1 vs 4 tasks and 1 vs 2 threads remove exactly the same documents, and
/// write the same report, for every dedup kind.
#[test]
fn decisions_do_not_depend_on_tasks_or_threads() {
    let docs = corpus(1200, 77);
    let stages: Vec<(&str, Box<dyn GlobalStage>)> = vec![
        ("minhash", Box::new(minhash(json!({"band_groups": 5})))),
        ("exact", Box::new(serde_json::from_value::<ExactConfig>(json!({"partitions": 3})).unwrap().build())),
        ("exact_longest", Box::new(serde_json::from_value::<ExactConfig>(json!({"keep": "longest"})).unwrap().build())),
        ("lines", Box::new(serde_json::from_value::<LineDedupConfig>(json!({"unit": "paragraph"})).unwrap().build())),
    ];
    for (name, stage) in &stages {
        let base = run_with_threads(stage.as_ref(), &docs, 1, 1);
        for (tasks, threads) in [(4, 1), (4, 2), (1, 2), (7, 2)] {
            let other = run_with_threads(stage.as_ref(), &docs, tasks, threads);
            assert_eq!(base.0, other.0, "{name}: removals differ at {tasks} tasks, {threads} threads");
            assert_eq!(base.1, other.1, "{name}: reports differ at {tasks} tasks, {threads} threads");
            assert_eq!(base.2, other.2, "{name}: kept documents differ at {tasks} tasks, {threads} threads");
        }
        let least = match *name {
            "minhash" => 250,
            "lines" => 0,
            _ => 100,
        };
        assert!(base.0.len() > least, "{name}: only {} removed", base.0.len());
    }
}

/// The bucket step spills sorted runs to disk when its records exceed the
/// memory budget, and decides exactly as with a budget that fits.
#[test]
fn bucket_step_spills_over_budget_with_the_same_result() {
    let docs = corpus(3000, 5);
    let big = run_with_threads(&minhash(json!({"band_groups": 2})), &docs, 3, 2);
    // 3000 docs x 7 bands per unit x 48 bytes = ~1 MB per unit; 64 KiB
    // (the sorter's floor is 1024 records) forces many runs
    let small = run_with_threads(&minhash(json!({"band_groups": 2, "memory_budget": "64KiB"})), &docs, 3, 2);
    let spills = |r: &Value| r["buckets"].as_array().unwrap().iter().map(|b| b["spill_runs"].as_u64().unwrap()).sum::<u64>();
    assert_eq!(spills(&big.1), 0);
    assert!(spills(&small.1) >= 2 * 7 * 2, "only {} spill runs", spills(&small.1));
    assert_eq!(big.0, small.0);
    // the report differs only by the spill counts
    let strip = |mut r: Value| {
        r.as_object_mut().unwrap().remove("buckets");
        r
    };
    assert_eq!(strip(big.1), strip(small.1));
}

/// Exact dedup keep rules.
#[test]
fn exact_keep_rules() {
    let docs = with_positions(
        vec![
            doc("1", "Hello, World!", "web"),
            doc("2", "hello world", "books"),
            doc("3", "HELLO   WORLD  ", "wiki"),
            doc("4", "Something else entirely.", "web"),
        ],
        2,
    );
    let run = |v: Value| {
        let c: ExactConfig = serde_json::from_value(v).unwrap();
        assert!(c.validate().is_empty(), "{:?}", c.validate());
        let out = tempfile::tempdir().unwrap();
        let o = run_global(&c.build(), split_tasks(docs.clone(), 2, 2), out.path(), 3, 2).unwrap();
        let mut kept: Vec<String> = o.kept.iter().map(|d| d.id.clone()).collect();
        kept.sort();
        (kept, report(out.path()))
    };
    assert_eq!(run(json!({})).0, vec!["1", "4"]);
    assert_eq!(run(json!({"keep": "longest"})).0, vec!["3", "4"]);
    assert_eq!(run(json!({"keep": "source_priority", "source_priority": ["wiki", "books"]})).0, vec!["3", "4"]);
    assert_eq!(run(json!({"keep": "source_priority", "source_priority": ["books"]})).0, vec!["2", "4"]);
    // raw-text hashing: nothing is identical
    assert_eq!(run(json!({"normalize": false})).0, vec!["1", "2", "3", "4"]);
    let (_, r) = run(json!({}));
    assert_eq!((r["method"].as_str(), r["removed"].as_u64(), r["clusters"].as_u64()), (Some("exact"), Some(2), Some(1)));
    assert_eq!(r["largest"][0]["size"], 3);
    assert_eq!(r["largest"][0]["kept"]["id"], "1");
    let bad: ExactConfig = serde_json::from_value(json!({"keep": "source_priority"})).unwrap();
    assert_eq!(bad.validate()[0].0, "source_priority");
}

/// Dump 1 saves a Bloom filter of what it kept; dump 2 loads it and drops
/// what dump 1 already had, dedups within itself, and saves a new filter.
#[test]
fn bloom_filter_dedups_a_new_dump_against_earlier_ones() {
    let dump1 =
        with_positions(vec![doc("a1", "The first page.", "cc"), doc("a2", "Second page", "cc"), doc("a3", "the FIRST page", "cc")], 2);
    let dump2 = with_positions(
        vec![
            doc("b1", "Second page!", "cc"),
            doc("b2", "A brand new page", "cc"),
            doc("b3", "a brand new page.", "cc"),
            doc("b4", "Yet another", "cc"),
        ],
        2,
    );
    // `save` is relative to the run's output directory
    let cfg1: ExactConfig = serde_json::from_value(json!({"bloom": {"save": "filters/dump1.bloom", "capacity": 1000}})).unwrap();
    assert!(cfg1.validate().is_empty());
    let out1 = tempfile::tempdir().unwrap();
    let o = run_global(&cfg1.build(), split_tasks(dump1, 2, 2), out1.path(), 11, 2).unwrap();
    assert_eq!(o.dropped_ids(), vec!["a3"]);
    let f1 = out1.path().join("filters/dump1.bloom");
    assert!(f1.exists());

    // `load` reads from anywhere
    let cfg2: ExactConfig = serde_json::from_value(json!({"bloom": {"load": f1.to_str().unwrap(), "save": "dump2.bloom"}})).unwrap();
    assert!(cfg2.validate().is_empty());
    let mut f2 = PathBuf::new();
    let mut outs = Vec::new();
    for tasks in [1, 2] {
        let out = tempfile::tempdir().unwrap();
        // a different recipe seed: the loaded filter's seed is used
        let o = run_global(&cfg2.build(), split_tasks(dump2.clone(), tasks, 2), out.path(), 999, 2).unwrap();
        let reasons: BTreeMap<String, String> = o.dropped.iter().map(|(d, r)| (d.id.clone(), r.clone())).collect();
        assert_eq!(reasons, BTreeMap::from([("b1".into(), "exact_duplicate_prior".into()), ("b3".into(), "exact_duplicate".into())]));
        let r = report(out.path());
        assert_eq!(r["bloom"]["prior_removed"], 1);
        f2 = out.path().join("dump2.bloom");
        outs.push(out);
    }
    let f = sluice_dedup::BloomFilter::load(&f2).unwrap();
    let seed = sluice_dedup::BloomFilter::read_seed(&f1).unwrap();
    for t in ["The first page.", "Second page", "A brand new page", "Yet another"] {
        assert!(f.contains(sluice_dedup::exact::content_hash(t, true, seed)), "{t}");
    }
}

/// Issue 21, hole 2: `bloom.save: /any/path` overwrote an existing file.
/// `validate` refuses it, and a run that skipped `validate` refuses it too,
/// leaving the file as it was.
#[test]
fn bloom_save_outside_the_output_directory_is_refused() {
    let victim_dir = tempfile::tempdir().unwrap();
    let victim = victim_dir.path().join("precious.txt");
    std::fs::write(&victim, "keep me").unwrap();
    for save in [victim.to_str().unwrap().to_string(), "../precious.txt".into(), "a/../../precious.txt".into(), "_sluice/x".into()] {
        let cfg: ExactConfig = serde_json::from_value(json!({"bloom": {"save": save, "capacity": 1000}})).unwrap();
        let errs = cfg.validate();
        assert_eq!(errs.len(), 1, "{save}: {errs:?}");
        assert_eq!(errs[0].0, "bloom.save");
        assert!(errs[0].1.contains("output directory") || errs[0].1.contains("sluice itself writes"), "{errs:?}");
        let out = tempfile::tempdir().unwrap();
        let docs = with_positions(vec![doc("a", "one", "cc"), doc("b", "two", "cc")], 2);
        let e = run_global(&cfg.build(), split_tasks(docs, 1, 2), out.path(), 1, 2).unwrap_err().to_string();
        assert!(e.contains("bloom.save"), "{e}");
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    // a symbolic link planted in the output directory does not redirect it
    let out = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(victim_dir.path(), out.path().join("filters")).unwrap();
    let cfg: ExactConfig = serde_json::from_value(json!({"bloom": {"save": "filters/precious.txt", "capacity": 1000}})).unwrap();
    assert!(cfg.validate().is_empty());
    let docs = with_positions(vec![doc("a", "one", "cc")], 2);
    let e = run_global(&cfg.build(), split_tasks(docs, 1, 2), out.path(), 1, 2).unwrap_err().to_string();
    assert!(e.contains("symbolic link"), "{e}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
}

/// Issue 21, hole 7: `capacity: 18446744073709551615` divided by zero and
/// `1000000000000` aborted allocating 1.2 TB; `load: /dev/zero` read for ever.
#[test]
fn bloom_sizes_and_files_are_checked_by_validate() {
    for cap in [u64::MAX, 1_000_000_000_000] {
        let cfg: ExactConfig = serde_json::from_value(json!({"bloom": {"capacity": cap}})).unwrap();
        let errs = cfg.validate();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].0, "bloom.capacity");
        assert!(errs[0].1.contains("more than the limit of 16 GiB"), "{errs:?}");
    }
    let ok: ExactConfig = serde_json::from_value(json!({"bloom": {"capacity": 1_000_000_000}})).unwrap();
    assert!(ok.validate().is_empty(), "1e9 keys at 0.001 take 1.7 GiB");
    let t0 = std::time::Instant::now();
    let cfg: ExactConfig = serde_json::from_value(json!({"bloom": {"load": "/dev/zero"}})).unwrap();
    let errs = cfg.validate();
    assert_eq!(errs[0].0, "bloom.load");
    assert!(errs[0].1.contains("/dev/zero") && errs[0].1.contains("not a regular file"), "{errs:?}");
    let cfg: ExactConfig = serde_json::from_value(json!({"bloom": {"load": "/no/such/filter.bloom"}})).unwrap();
    assert!(cfg.validate()[0].1.contains("/no/such/filter.bloom"), "{:?}", cfg.validate());
    assert!(t0.elapsed() < std::time::Duration::from_secs(5));
}

/// Chinese near-duplicates are found through word shingles.
#[test]
fn chinese_near_duplicates() {
    let root = data_dir().join("zh/clue-corpus-small.sample.txt");
    let text = read_text(&root);
    let lines: Vec<&str> = text.lines().filter(|l| l.chars().count() > 300).take(40).collect();
    assert!(lines.len() >= 20);
    let mut docs: Vec<Document> = lines.iter().enumerate().map(|(i, l)| doc(&format!("zh{i}"), l, "zh")).collect();
    // a copy of doc 0 with one sentence-ending changed, and a copy of doc 1
    // with a short insertion
    let mut c0: String = lines[0].to_string();
    c0.push_str("欢迎转载。");
    docs.push(doc("copy0", &c0, "zh"));
    let mid = lines[1].char_indices().nth(lines[1].chars().count() / 2).unwrap().0;
    docs.push(doc("copy1", &format!("{}（编者按）{}", &lines[1][..mid], &lines[1][mid..]), "zh"));
    let docs = with_positions(docs, 8);
    let out = tempfile::tempdir().unwrap();
    let o = run_global(&minhash(json!({})), split_tasks(docs, 3, 8), out.path(), 2, 8).unwrap();
    assert_eq!(o.dropped_ids(), vec!["copy0".to_string(), "copy1".to_string()]);
}
