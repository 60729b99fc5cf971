//! Per-document scratch shared by the stages of a fused chain.
//!
//! A chain of document stages runs as one node: each document goes through
//! every stage in turn on one worker thread. What several stages derive from
//! the same text (the word split, the lowercased text, line spans) is
//! computed by the first stage that asks and handed to the next ones through
//! a [`Scratch`].
//!
//! An entry is tied to the text it was computed from: it records the text's
//! length and xxh3 hash, and a stage that rewrites the text (C4 drops lines,
//! PII masks spans) makes every older entry stale, so the next `get`
//! recomputes it. Stages therefore never need to say whether they changed
//! the text, and a cached value can never describe another text.

use std::any::{Any, TypeId};

/// The length and xxh3 hash of a text: what a scratch entry was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    len: usize,
    hash: u64,
}

impl Fingerprint {
    fn of(text: &str) -> Self {
        Fingerprint { len: text.len(), hash: xxhash_rust::xxh3::xxh3_64(text.as_bytes()) }
    }
}

/// Values derived from one document's text, keyed by their type.
///
/// ```
/// use sluice_pipeline::Scratch;
///
/// #[derive(Debug, PartialEq)]
/// struct LineCount(usize);
///
/// let mut s = Scratch::default();
/// let mut calls = 0;
/// let mut count = |s: &mut Scratch, text: &str| {
///     s.get_or_insert_with(text, || { calls += 1; LineCount(text.lines().count()) }).0
/// };
/// assert_eq!(count(&mut s, "a\nb"), 2);
/// assert_eq!(count(&mut s, "a\nb"), 2); // cached
/// assert_eq!(count(&mut s, "a\nb\nc"), 3); // another text: recomputed
/// assert_eq!(calls, 2);
/// ```
#[derive(Default)]
pub struct Scratch {
    /// The fingerprint of the text the entries describe, computed lazily
    /// and dropped by [`Scratch::clear`].
    text: Option<Fingerprint>,
    entries: Vec<(TypeId, Box<dyn Any + Send>)>,
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scratch").field("entries", &self.entries.len()).finish()
    }
}

impl Scratch {
    /// Forget everything (the executor calls it between documents).
    pub fn clear(&mut self) {
        self.text = None;
        self.entries.clear();
    }

    /// The value of type `T` derived from `text`, computing it with `init`
    /// when there is none yet or when `text` is not the text the entries
    /// were computed from.
    pub fn get_or_insert_with<T: Any + Send>(&mut self, text: &str, init: impl FnOnce() -> T) -> &mut T {
        self.sync(text);
        let id = TypeId::of::<T>();
        let at = match self.entries.iter().position(|(t, _)| *t == id) {
            Some(i) => i,
            None => {
                if self.text.is_none() {
                    self.text = Some(Fingerprint::of(text));
                }
                self.entries.push((id, Box::new(init())));
                self.entries.len() - 1
            }
        };
        self.entries[at].1.downcast_mut::<T>().expect("entries are keyed by their type")
    }

    /// The value of type `T` for `text`, if one was computed.
    pub fn get<T: Any + Send>(&mut self, text: &str) -> Option<&mut T> {
        self.sync(text);
        let id = TypeId::of::<T>();
        self.entries.iter_mut().find(|(t, _)| *t == id).and_then(|(_, v)| v.downcast_mut::<T>())
    }

    /// Drop the entries if they were computed from another text.
    fn sync(&mut self, text: &str) {
        if let Some(fp) = self.text {
            // A different length is a different text without hashing.
            if fp.len != text.len() || fp != Fingerprint::of(text) {
                self.entries.clear();
                self.text = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Words(Vec<String>);
    #[derive(Debug, PartialEq)]
    struct Lower(String);

    #[test]
    fn entries_are_per_type_and_follow_the_text() {
        let mut s = Scratch::default();
        let t = "Hello World";
        let w = s.get_or_insert_with(t, || Words(t.split(' ').map(String::from).collect()));
        assert_eq!(w.0, ["Hello", "World"]);
        assert_eq!(s.get_or_insert_with(t, || Lower(t.to_lowercase())).0, "hello world");
        // both cached
        assert!(s.get::<Words>(t).is_some());
        assert_eq!(s.get_or_insert_with(t, || Lower("never".into())).0, "hello world");
        // the same length, another text: everything is stale
        let u = "Hello Earth";
        assert!(s.get::<Words>(u).is_none());
        assert!(s.get::<Lower>(u).is_none());
        assert_eq!(s.get_or_insert_with(u, || Lower(u.to_lowercase())).0, "hello earth");
        s.clear();
        assert!(s.get::<Lower>(u).is_none());
    }
}
