//! Text primitives shared by sluice's document stages: the quality filters
//! (`sluice-quality`), deduplication (`sluice-dedup`) and the safety stages
//! (`sluice-safety`).
//!
//! - The language-aware word split ([`split_words`], [`Segmenter`]): spaCy-like
//!   rules, jieba for Chinese, script runs for Japanese, as datatrove's
//!   `split_into_words`; shared between the filters of a fused chain through
//!   the document's `Scratch` ([`with_words`], [`word_spans`]).
//! - Python string semantics the datatrove rules are written in
//!   ([`py_strip`], [`py_splitlines`], [`is_py_space`], [`char_len`]) and
//!   datatrove's punctuation sets ([`is_punctuation`],
//!   [`is_terminal_punctuation`]).
//! - [`normalize`]: datatrove's `simplify_text` and the word shingles of
//!   MinHash and exact dedup.
//! - [`url`]: the URL/domain matching of blocklists.
//! - Word lists ([`LDNOOBW_EN`]), a fast deterministic hasher for word-id
//!   tables ([`FxHasher`], [`FxMap`]), and reading the files options name
//!   ([`read_option_file`], [`option_file_problem`], [`error_text`]).
//!
//! ```
//! use sluice_text::{py_splitlines, split_words, Segmenter};
//!
//! assert_eq!(split_words("Don't stop.", Segmenter::Spacy), ["Do", "n't", "stop", "."]);
//! assert_eq!(Segmenter::for_language(Some("zh-Hant")), Segmenter::Jieba);
//! assert_eq!(py_splitlines("a\r\nb\u{2028}c"), ["a", "b", "c"]);
//! ```

mod hash;
pub mod normalize;
pub mod url;
mod words;

pub use hash::{FxBuild, FxHasher, FxMap};
pub use words::*;

/// The English "List of Dirty, Naughty, Obscene, and Otherwise Bad Words"
/// at the revision C4 and datatrove pin, one entry per line (see
/// `data/README.md`). The `c4_badwords` and `toxicity` stages use it.
pub const LDNOOBW_EN: &str = include_str!("../data/ldnoobw_en.txt");

/// Python's `len(str)`: the number of characters.
#[inline]
pub fn char_len(s: &str) -> usize {
    // count bytes that are not UTF-8 continuation bytes
    s.as_bytes().iter().filter(|&&b| (b & 0xC0) != 0x80).count()
}

/// Read a file an option names (a blocklist, a word list): a regular file
/// of at most [`sluice_pipeline::limits::MAX_OPTION_FILE`] bytes of UTF-8.
/// The error reads `path: reason`, so `/dev/zero` fails at once with "not a
/// regular file" instead of being read for ever.
pub fn read_option_file(path: &std::path::Path) -> Result<String, String> {
    sluice_pipeline::limits::read_to_string_limited(path, sluice_pipeline::limits::MAX_OPTION_FILE).map_err(|e| error_text(&e))
}

/// Why a file an option names cannot be read, checked without reading it
/// (for `validate`): missing, not a regular file, or over the limit.
pub fn option_file_problem(path: &std::path::Path) -> Option<String> {
    match std::fs::metadata(path) {
        Err(e) => Some(format!("{}: {e}", path.display())),
        Ok(m) if !m.is_file() => Some(format!("{}: not a regular file", path.display())),
        Ok(m) if m.len() > sluice_pipeline::limits::MAX_OPTION_FILE => Some(format!(
            "{}: {} bytes, larger than the limit of {} bytes for a file named by an option",
            path.display(),
            m.len(),
            sluice_pipeline::limits::MAX_OPTION_FILE
        )),
        Ok(_) => None,
    }
}

/// An error with its chain of causes: `path: reason`.
pub fn error_text(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_len_counts_characters_not_bytes() {
        for s in ["", "abc", "héllo", "中文字", "東京タワー🗼", "a\u{301}"] {
            assert_eq!(char_len(s), s.chars().count(), "{s:?}");
        }
    }

    #[test]
    fn option_files_are_checked_and_read_with_their_name_in_errors() {
        let dir = std::env::temp_dir().join(format!("sluice-text-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("list.txt");
        std::fs::write(&p, "a\nb\n").unwrap();
        assert_eq!(option_file_problem(&p), None);
        assert_eq!(read_option_file(&p).unwrap(), "a\nb\n");
        let missing = dir.join("missing.txt");
        let m = option_file_problem(&missing).unwrap();
        assert!(m.starts_with(&missing.display().to_string()), "{m}");
        assert!(read_option_file(&missing).unwrap_err().contains("missing.txt"));
        let m = option_file_problem(&dir).unwrap();
        assert!(m.ends_with("not a regular file"), "{m}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn error_text_follows_the_chain_of_causes() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("reading x.txt")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(error_text(&e), "reading x.txt: disk on fire");
    }

    #[test]
    fn the_bad_words_list_is_embedded() {
        let words: Vec<&str> = LDNOOBW_EN.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(words.len() > 300, "{}", words.len());
        assert!(words.iter().all(|w| w.trim() == *w && w.to_lowercase() == *w), "entries are trimmed and lowercase");
    }
}
