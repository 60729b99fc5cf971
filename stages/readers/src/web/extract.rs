//! HTML main-text extraction.
//!
//! The approach, in four passes over an arena DOM (built by html5ever), all of
//! them iterative so hostile nesting cannot overflow the stack:
//!
//! 1. **Prune.** Elements that never hold running text (scripts, styles, form
//!    controls, media, figures and their captions) are dropped outright. Elements
//!    that usually hold boilerplate (`nav`, `aside`, `footer`, page `header`s, ARIA
//!    landmarks such as `role=navigation`, hidden elements, and class/id words
//!    like `sidebar`, `cookie`, `share`, `comments`, `related`) are dropped too,
//!    unless they hold half of the page's non-link text or its landmarks (`<main>`,
//!    `<h1>`, a long `<article>`): sites put such words on whole-page wrappers
//!    (`<div class="page has-sidebar">`), and dropping those would drop everything.
//! 2. **Segment.** The surviving tree is cut into text blocks at block-level
//!    element boundaries, recording for each block its length, how much of it is
//!    link text, and its element.
//! 3. **Choose the main subtree.** Each block is worth its non-link text if it
//!    reads like prose and costs part of its length if it is link-dense or a
//!    short unpunctuated fragment (menus, tag clouds, teaser lists). Summed over
//!    subtrees, the element with the best balance is the main content: widening it
//!    past the article adds more chrome than prose.
//! 4. **Render** the chosen subtree's blocks as paragraphs separated by blank
//!    lines, minus link lists, headings that introduce nothing kept ("Related
//!    articles" over a dropped link list), and a few short unpunctuated lines
//!    before or after the article (kickers, dates, credits, tag lines).
//!
//! All thresholds were tuned on the trafilatura evaluation set with
//! `examples/extract_eval.rs --verbose`; none of them names a site.

use html5ever::{local_name, LocalName};

use crate::web::dom::{Dom, NodeData, NodeId, NO_NODE};

/// Extraction settings.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// HTML beyond this many bytes is ignored (cut at a character boundary).
    /// Bounds time and memory on hostile pages. Default 4 MiB.
    pub max_input_bytes: usize,
    /// Elements nested deeper than this are flattened into their ancestor.
    /// Default 256.
    pub max_depth: usize,
    /// Below this many characters of main text, fall back to all non-boilerplate
    /// text of the page (pages without an article: listings, forums). Default 0
    /// (no fallback threshold beyond "nothing found").
    pub min_main_chars: usize,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        Self { max_input_bytes: 4 * 1024 * 1024, max_depth: 256, min_main_chars: 0 }
    }
}

/// The result of [`extract`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    /// The `<title>`, whitespace collapsed.
    pub title: Option<String>,
    /// Main text: paragraphs separated by `\n\n`, `<br>` as `\n`.
    pub text: String,
    /// The `lang` attribute of `<html>`.
    pub lang: Option<String>,
}

/// Extracts title, language and main text from an HTML document.
pub fn extract(html: &str, opts: &ExtractOptions) -> Extracted {
    let html = truncate_at_char(html, opts.max_input_bytes);
    let dom = Dom::parse(html, opts.max_depth.max(8));
    extract_dom(&dom, opts)
}

fn truncate_at_char(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// How an element takes part in extraction.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Never text: dropped with its subtree.
    Drop,
    /// Starts and ends a block (paragraph boundary).
    Block,
    /// Inline: text flows through.
    Inline,
    /// `<br>`: a line break within the block.
    Break,
}

fn role(tag: &LocalName) -> Role {
    match *tag {
        local_name!("script") | local_name!("style") | local_name!("template")
        | local_name!("iframe") | local_name!("svg") | local_name!("canvas") | local_name!("object")
        | local_name!("embed") | local_name!("button") | local_name!("select") | local_name!("input")
        | local_name!("textarea") | local_name!("head") | local_name!("link") | local_name!("meta")
        | local_name!("map") | local_name!("audio") | local_name!("video") | local_name!("math")
        | local_name!("label") | local_name!("option") | local_name!("datalist") | local_name!("dialog")
        | local_name!("frameset") | local_name!("frame") | local_name!("applet") | local_name!("title")
        // Images and their captions/credits: not running text (trafilatura drops
        // them too unless asked for images).
        | local_name!("figure") | local_name!("figcaption") | local_name!("picture") => Role::Drop,
        local_name!("br") => Role::Break,
        local_name!("p") | local_name!("div") | local_name!("section") | local_name!("article")
        | local_name!("main") | local_name!("h1") | local_name!("h2") | local_name!("h3") | local_name!("h4")
        | local_name!("h5") | local_name!("h6") | local_name!("li") | local_name!("ul") | local_name!("ol")
        | local_name!("dl") | local_name!("dt") | local_name!("dd") | local_name!("blockquote")
        | local_name!("pre") | local_name!("table") | local_name!("tr") | local_name!("td") | local_name!("th")
        | local_name!("thead") | local_name!("tbody") | local_name!("tfoot") | local_name!("caption")
        | local_name!("address") | local_name!("hr")
        | local_name!("center") | local_name!("details") | local_name!("summary") | local_name!("fieldset")
        | local_name!("legend") | local_name!("form") | local_name!("header") | local_name!("footer")
        | local_name!("nav") | local_name!("aside") | local_name!("menu") | local_name!("hgroup")
        | local_name!("body") | local_name!("html") | local_name!("dir") | local_name!("noframes")
        // The DOM is built with scripting off, so `<noscript>` holds markup: some
        // sites (Blogger) put the only static copy of the article there.
        | local_name!("noscript") => Role::Block,
        _ => Role::Inline,
    }
}

fn is_heading(tag: &LocalName) -> bool {
    matches!(*tag, local_name!("h1") | local_name!("h2") | local_name!("h3") | local_name!("h4") | local_name!("h5") | local_name!("h6"))
}

/// Class/id words that mark boilerplate containers. Matched against whole words
/// of `class`/`id` (split on `-`, `_`, spaces and camelCase).
const BOILER_WORDS: &[&str] = &[
    "nav",
    "navbar",
    "navi",
    "navigation",
    "menu",
    "menus",
    "menubar",
    "mainmenu",
    "submenu",
    "topmenu",
    "breadcrumb",
    "breadcrumbs",
    "crumbs",
    "footer",
    "sidebar",
    "sidebars",
    "aside",
    "widget",
    "widgets",
    "share",
    "sharing",
    "shares",
    "social",
    "socials",
    "comment",
    "comments",
    "disqus",
    "respond",
    "cookie",
    "cookies",
    "consent",
    "gdpr",
    "advert",
    "advertisement",
    "ads",
    "ad",
    "adsense",
    "sponsor",
    "sponsored",
    "promo",
    "related",
    "recommended",
    "recommendations",
    "newsletter",
    "subscribe",
    "subscription",
    "signup",
    "login",
    "popup",
    "modal",
    "pagination",
    "pager",
    "tagcloud",
    "toolbar",
    "masthead",
    "skiplink",
    "outbrain",
    "taboola",
    "hidden",
    "hide",
    "offcanvas",
    "topbar",
    "dropdown",
    "teaser",
    "teasers",
    "byline",
    "author",
    "meta",
    "postmeta",
    "tags",
    "keywords",
    "print",
    "rss",
    "banner",
    "paywall",
    "overlay",
    "sr",
    "screen",
    "visually",
    "tooltip",
    "lightbox",
    "gallery",
    "carousel",
    "slider",
    "ticker",
    "infobox",
    "marketing",
    "partner",
    "partners",
    "shop",
    "jump",
    "backtotop",
    "totop",
    "search",
    "searchform",
    "form",
    "copyright",
    "legal",
    "imprint",
    "logo",
    "caption",
    "credit",
    "credits",
    "disclaimer",
    "notice",
    "readmore",
];

/// Substrings that mark boilerplate even inside longer concatenated names
/// (`sharebar`, `socialIcons`, `relatedPosts`, `commentlist`).
const BOILER_SUBSTRINGS: &[&str] = &[
    "share",
    "social",
    "comment",
    "cookie",
    "breadcrumb",
    "sidebar",
    "navbar",
    "navigation",
    "newsletter",
    "related",
    "advert",
    "sponsor",
    "footer",
    "subscribe",
    "popup",
    "disqus",
    "banner",
    "recommend",
    "consent",
    "pagination",
    "mainmenu",
    "submenu",
    "paywall",
];

/// Words that mark article containers: they cancel weak boilerplate words such as
/// `header` or `meta` (`article-header` holds the headline).
const CONTENT_WORDS: &[&str] =
    &["article", "content", "post", "entry", "story", "body", "text", "main", "title", "headline", "lead", "intro"];

/// ARIA roles of boilerplate landmarks.
const BOILER_ROLES: &[&str] =
    &["navigation", "banner", "contentinfo", "complementary", "menu", "menubar", "search", "dialog", "alertdialog", "tablist", "toolbar"];

fn split_words(s: &str, out: &mut Vec<String>) {
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            // camelCase boundary: `mainNav` -> `main`, `nav`.
            if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            cur.push(c.to_ascii_lowercase());
        } else {
            prev_lower = false;
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
}

/// Whether element `id`'s own attributes mark it as boilerplate.
fn looks_boilerplate(dom: &Dom, id: NodeId, tag: &LocalName, in_article: bool, words: &mut Vec<String>) -> bool {
    match *tag {
        local_name!("nav") | local_name!("aside") | local_name!("menu") => return true,
        local_name!("footer") => return true,
        local_name!("header") if !in_article => return true,
        _ => {}
    }
    if let NodeData::Element { attrs, .. } = &dom.node(id).data {
        words.clear();
        let mut raw = String::new();
        for (k, v) in attrs {
            match *k {
                local_name!("class") | local_name!("id") => {
                    split_words(v, words);
                    raw.push_str(&v.to_ascii_lowercase());
                    raw.push(' ');
                }
                local_name!("role") => {
                    if BOILER_ROLES.iter().any(|r| v.trim().eq_ignore_ascii_case(r)) {
                        return true;
                    }
                }
                local_name!("hidden") => return true,
                local_name!("aria-hidden") if v.trim() == "true" => return true,
                local_name!("style") => {
                    let s: String = v.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
                    if s.contains("display:none") || s.contains("visibility:hidden") {
                        return true;
                    }
                }
                _ => {}
            }
        }
        if words.is_empty() {
            return false;
        }
        let content = words.iter().any(|w| CONTENT_WORDS.contains(&w.as_str()));
        if words.iter().any(|w| BOILER_WORDS.contains(&w.as_str())) {
            // `article-meta`, `post-author` hold bylines: boilerplate. But a word
            // like `header` next to a content word is the article's own header.
            let weak_only = words.iter().filter(|w| BOILER_WORDS.contains(&w.as_str())).all(|w| {
                matches!(
                    w.as_str(),
                    "print"
                        | "screen"
                        | "form"
                        | "logo"
                        | "hidden"
                        | "hide"
                        | "jump"
                        | "ad"
                        | "ads"
                        | "tags"
                        | "gallery"
                        | "slider"
                        | "teaser"
                        | "search"
                        | "modal"
                        | "popup"
                        | "overlay"
                        | "banner"
                        | "widget"
                        | "widgets"
                        | "keywords"
                        | "legal"
                        | "shop"
                        | "sr"
                        | "visually"
                        | "tooltip"
                        | "lightbox"
                        | "carousel"
                )
            });
            return !(content && weak_only);
        }
        if words.iter().any(|w| w == "header") && !content && !in_article {
            return true;
        }
        if !content && BOILER_SUBSTRINGS.iter().any(|s| raw.contains(s)) {
            return true;
        }
    }
    false
}

/// A run of text between block boundaries.
#[derive(Debug, Default)]
struct Block {
    text: String,
    /// Characters (not bytes) of non-whitespace text.
    chars: usize,
    /// Characters inside `<a>`.
    link_chars: usize,
    /// The block-level element that contains the run.
    elem: NodeId,
    heading: bool,
    list_item: bool,
    pre: bool,
}

impl Block {
    fn link_density(&self) -> f64 {
        if self.chars == 0 {
            0.0
        } else {
            self.link_chars as f64 / self.chars as f64
        }
    }

    /// Sentence punctuation: prose has it, menus and teaser titles rarely do.
    fn punctuation(&self) -> usize {
        self.text.chars().filter(|c| matches!(c, '.' | ',' | ';' | '!' | '?' | '。' | '，' | '、' | '！' | '？' | '：' | ':')).count()
    }
}

/// Collects blocks while walking the tree.
struct Segmenter {
    blocks: Vec<Block>,
    cur: Block,
    /// Whether the last char pushed was a space (for collapsing).
    space: bool,
}

impl Segmenter {
    fn flush(&mut self, elem: NodeId) {
        let mut b = std::mem::take(&mut self.cur);
        while b.text.ends_with([' ', '\n']) {
            b.text.pop();
        }
        if b.chars > 0 {
            b.elem = elem;
            self.blocks.push(b);
        }
        self.space = true;
    }

    fn push_text(&mut self, t: &str, in_link: bool, pre: bool) {
        for c in t.chars() {
            if pre && c.is_whitespace() {
                // Preformatted text (code) keeps its layout.
                if c != '\r' {
                    self.cur.text.push(c);
                }
                self.space = c == '\n';
                continue;
            }
            if c.is_whitespace() || c == '\u{a0}' || c == '\u{200b}' {
                if !self.space {
                    self.cur.text.push(' ');
                    self.space = true;
                }
            } else {
                self.cur.text.push(c);
                self.cur.chars += 1;
                if in_link {
                    self.cur.link_chars += 1;
                }
                self.space = false;
            }
        }
    }

    fn line_break(&mut self) {
        while self.cur.text.ends_with(' ') {
            self.cur.text.pop();
        }
        if !self.cur.text.is_empty() && !self.cur.text.ends_with('\n') {
            self.cur.text.push('\n');
        }
        self.space = true;
    }
}

/// Runs passes 1-4 on a parsed document.
fn extract_dom(dom: &Dom, opts: &ExtractOptions) -> Extracted {
    let n = dom.nodes.len();
    let order = dom.preorder(Dom::ROOT);

    // Metadata.
    let mut title = None;
    let mut lang = None;
    for &id in &order {
        match dom.tag(id) {
            Some(&local_name!("title")) if title.is_none() => {
                let mut s = Segmenter { blocks: vec![], cur: Block::default(), space: true };
                for c in dom.children(id) {
                    if let NodeData::Text(t) = &dom.node(c).data {
                        s.push_text(t, false, false);
                    }
                }
                let t = s.cur.text.trim().to_string();
                title = (!t.is_empty()).then_some(t);
            }
            Some(&local_name!("html")) if lang.is_none() => {
                lang = dom.attr(id, &local_name!("lang")).map(str::trim).filter(|l| !l.is_empty()).map(str::to_string);
            }
            _ => {}
        }
    }

    // Pass 1a: hard drops and text sizes (bottom-up over the reversed preorder).
    let mut dropped = vec![false; n];
    for &id in &order {
        let p = dom.node(id).parent;
        dropped[id as usize] = (p != NO_NODE && dropped[p as usize]) || dom.tag(id).is_some_and(|t| role(t) == Role::Drop);
    }
    // Non-link text per subtree: menus and teaser lists are links, so this is
    // dominated by prose and tells a page wrapper from a real sidebar.
    let mut text_len = vec![0usize; n];
    for &id in order.iter().rev() {
        if dropped[id as usize] {
            continue;
        }
        if let NodeData::Text(t) = &dom.node(id).data {
            text_len[id as usize] = t.chars().filter(|c| !c.is_whitespace()).count();
        }
        if dom.tag(id) == Some(&local_name!("a")) {
            text_len[id as usize] = 0;
        }
        let p = dom.node(id).parent;
        if p != NO_NODE {
            text_len[p as usize] += text_len[id as usize];
        }
    }
    let total = text_len[Dom::ROOT as usize].max(1);

    // Subtrees holding an article's landmarks (`<main>`, `<h1>`, a substantial
    // `<article>`, `itemprop=articleBody`) are page wrappers, whatever their class
    // says (`page--with-sidebar`): never prune them by name.
    let mut landmark = vec![false; n];
    for &id in order.iter().rev() {
        if dropped[id as usize] {
            continue;
        }
        let own = match dom.tag(id) {
            Some(&local_name!("main")) | Some(&local_name!("h1")) => true,
            Some(&local_name!("article")) => text_len[id as usize] > 500,
            Some(_) => dom.attr(id, &local_name!("itemprop")).is_some_and(|v| v.eq_ignore_ascii_case("articleBody")),
            None => false,
        };
        landmark[id as usize] |= own;
        let p = dom.node(id).parent;
        if p != NO_NODE && landmark[id as usize] {
            landmark[p as usize] = true;
        }
    }

    // Pass 1b: boilerplate containers, guarded by size.
    let mut removed = dropped;
    let mut in_article = vec![false; n];
    let mut words = Vec::new();
    for &id in &order {
        let p = dom.node(id).parent;
        if p != NO_NODE {
            if removed[p as usize] {
                removed[id as usize] = true;
                continue;
            }
            in_article[id as usize] = in_article[p as usize];
        }
        let Some(tag) = dom.tag(id) else { continue };
        if matches!(*tag, local_name!("html") | local_name!("body")) {
            continue;
        }
        if matches!(*tag, local_name!("article") | local_name!("main")) {
            in_article[id as usize] = true;
        }
        let by_tag = matches!(*tag, local_name!("nav") | local_name!("aside") | local_name!("footer") | local_name!("menu"));
        if (by_tag || !landmark[id as usize])
            && looks_boilerplate(dom, id, tag, in_article[id as usize], &mut words)
            && (text_len[id as usize] as f64) < 0.5 * total as f64
        {
            removed[id as usize] = true;
        }
    }

    // Pass 2: segment into blocks (iterative walk with explicit exit events).
    let body = order.iter().copied().find(|&id| dom.tag(id) == Some(&local_name!("body"))).unwrap_or(Dom::ROOT);
    let blocks = segment(dom, body, &removed);
    if blocks.is_empty() {
        return Extracted { title, text: String::new(), lang };
    }

    // Pass 3: score subtrees. value = prose gained, cost = link text and chrome.
    let mut score = vec![0f64; n];
    for b in &blocks {
        let ld = b.link_density();
        let own = (b.chars - b.link_chars) as f64;
        let punct = b.punctuation();
        let v = if ld > 0.5 || (b.chars < 20 && punct == 0 && !b.heading) {
            // Menus, tag lists, "Share", dates: chrome.
            -(b.chars as f64) * 0.3
        } else if b.chars >= 60 || punct >= 1 {
            own - b.link_chars as f64 * 0.5
        } else {
            own * 0.3
        };
        score[b.elem as usize] += v;
    }
    // Subtree sums, children before parents.
    for &id in order.iter().rev() {
        let p = dom.node(id).parent;
        if p != NO_NODE {
            score[p as usize] += score[id as usize];
        }
    }
    let mut best = body;
    let mut best_score = f64::MIN;
    for &id in &order {
        if removed[id as usize] || dom.tag(id).is_none() {
            continue;
        }
        // Ties go to the outermost node (preorder visits it first), so a wrapper
        // with the same score as its article keeps the article's siblings.
        if score[id as usize] > best_score + 1e-9 {
            best_score = score[id as usize];
            best = id;
        }
    }

    // Pass 4: render the blocks inside `best`.
    let inside = |mut id: NodeId| {
        while id != NO_NODE {
            if id == best {
                return true;
            }
            id = dom.node(id).parent;
        }
        false
    };
    let main: Vec<&Block> = blocks.iter().filter(|b| inside(b.elem)).collect();
    let mut kept = select_blocks(&main);
    let main_chars: usize = kept.iter().map(|b| b.chars).sum();
    if main_chars < opts.min_main_chars || kept.is_empty() {
        // No article found: fall back to every prose-like block of the page.
        kept = select_blocks(&blocks.iter().collect::<Vec<_>>());
    }
    let mut out = String::with_capacity(kept.iter().map(|b| b.text.len() + 2).sum());
    for b in kept {
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(&b.text);
    }
    Extracted { title, text: out, lang }
}

/// Chooses the blocks of the main subtree to print.
fn select_blocks<'a>(blocks: &[&'a Block]) -> Vec<&'a Block> {
    let keep: Vec<bool> = blocks.iter().map(|b| keep_block(b)).collect();
    let mut out: Vec<&Block> = Vec::with_capacity(blocks.len());
    for (i, b) in blocks.iter().enumerate() {
        if !keep[i] {
            continue;
        }
        let intro = b.chars < 80 && b.text.trim_end().ends_with(':');
        if b.heading || intro {
            // A heading (or a short "Sources:" line) introduces what follows. One
            // followed by a dropped link list ("More on this topic", "Related") or
            // by nothing is chrome.
            let next = if intro { Some(i + 1).filter(|&j| j < blocks.len()) } else { (i + 1..blocks.len()).find(|&j| !blocks[j].heading) };
            match next {
                Some(j) if keep[j] && blocks[j].link_density() <= 0.3 => {}
                _ => continue,
            }
        }
        out.push(b);
    }
    // Leading kicker lines ("Article", "5 min read", a date) before the first
    // heading or paragraph.
    // Both trims are bounded: a page of short lines (a poem, a list) is content.
    const MAX_TRIM: usize = 10;
    let lead = out.iter().take(MAX_TRIM + 1).take_while(|b| !b.heading && !b.pre && b.chars < 100 && !ends_sentence(&b.text)).count();
    if lead < out.len() && lead <= MAX_TRIM {
        out.drain(..lead);
    }
    // Trailing lines after the article (credits, "Tags:", author names, "Share")
    // are short and unpunctuated; the article's own last paragraph rarely is.
    let trimmable = |b: &Block| {
        let t = b.text.trim_end();
        !b.pre && !b.heading && ((b.chars < 40 && !ends_sentence(t)) || (b.chars < 80 && t.ends_with(':')))
    };
    let tail = out.iter().rev().take(MAX_TRIM + 1).take_while(|b| trimmable(b)).count();
    if tail < out.len() && tail <= MAX_TRIM {
        out.truncate(out.len() - tail);
    }
    out
}

fn ends_sentence(t: &str) -> bool {
    t.trim_end().ends_with(['.', '!', '?', '"', '”', '“', '»', '«', ')', '。', '！', '？'])
}

/// Whether a block inside the main subtree is printed at all.
fn keep_block(b: &Block) -> bool {
    if b.heading || b.pre {
        return b.link_density() <= 0.5;
    }
    let ld = b.link_density();
    if ld > 0.5 {
        return false;
    }
    if b.list_item {
        return ld <= 0.3 || b.chars >= 40;
    }
    true
}

fn segment(dom: &Dom, root: NodeId, removed: &[bool]) -> Vec<Block> {
    let mut seg = Segmenter { blocks: Vec::new(), cur: Block::default(), space: true };
    // Stack of (node, exiting?). Context: link depth, pre depth, block element stack.
    let mut stack: Vec<(NodeId, bool)> = vec![(root, false)];
    let mut link_depth = 0usize;
    let mut pre_depth = 0usize;
    let mut block_stack: Vec<NodeId> = vec![root];
    while let Some((id, exiting)) = stack.pop() {
        let node = dom.node(id);
        if exiting {
            let tag = dom.tag(id).expect("only elements get exit events");
            match role(tag) {
                Role::Block => {
                    let elem = *block_stack.last().unwrap_or(&root);
                    seg.flush(elem);
                    block_stack.pop();
                    if *tag == local_name!("pre") {
                        pre_depth -= 1;
                    }
                }
                _ => {
                    if *tag == local_name!("a") {
                        link_depth -= 1;
                    }
                }
            }
            continue;
        }
        if removed[id as usize] {
            continue;
        }
        match &node.data {
            NodeData::Text(t) => {
                seg.push_text(t, link_depth > 0, pre_depth > 0);
                continue;
            }
            NodeData::Element { name, .. } => match role(&name.local) {
                Role::Drop => continue,
                Role::Break => {
                    seg.line_break();
                    continue;
                }
                Role::Block => {
                    let elem = *block_stack.last().unwrap_or(&root);
                    seg.flush(elem);
                    block_stack.push(id);
                    if name.local == local_name!("pre") {
                        pre_depth += 1;
                    }
                }
                Role::Inline => {
                    if name.local == local_name!("a") {
                        link_depth += 1;
                    }
                }
            },
            NodeData::Document | NodeData::Other => {
                if id != root {
                    continue;
                }
            }
        }
        if dom.tag(id).is_some() {
            stack.push((id, true));
        }
        let mut c = node.last_child;
        while c != NO_NODE {
            stack.push((c, false));
            c = dom.node(c).prev;
        }
    }
    seg.flush(root);
    // Flags come from the block's element, known only at flush time: text after
    // a nested block closes belongs to the outer element again.
    for b in &mut seg.blocks {
        let tag = dom.tag(b.elem);
        b.heading = tag.is_some_and(is_heading);
        b.list_item = tag.is_some_and(|t| matches!(*t, local_name!("li") | local_name!("dt") | local_name!("dd")));
        b.pre = tag.is_some_and(|t| *t == local_name!("pre"));
    }
    seg.blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(html: &str) -> Extracted {
        extract(html, &ExtractOptions::default())
    }

    const PROSE: &str = "This is a long sentence of article text, with commas, that reads like prose. ";

    #[test]
    fn keeps_article_drops_chrome() {
        let html = format!(
            r##"<html lang="de"><head><title> My   page </title><script>var x = "<p>no</p>";</script></head><body>
            <header><div class="logo">Site</div><ul><li><a href="/">Home</a></li><li><a href="/n">News</a></li></ul></header>
            <div class="cookie-banner">We use cookies to improve your experience on this site.</div>
            <div id="main"><h1>Headline here</h1><p>{PROSE}{PROSE}</p><p>Second &amp; last{PROSE}</p>
            <ul><li>First item of a list in the article body text.</li><li>Second item.</li></ul>
            <div class="share-buttons"><a href="#">Facebook</a> <a href="#">Twitter</a></div></div>
            <aside><p>{PROSE}</p></aside>
            <div class="comments"><p>Great article! {PROSE}</p></div>
            <footer><p>Copyright 2024 Example Corp. All rights reserved.</p></footer>
            </body></html>"##
        );
        let e = ex(&html);
        assert_eq!(e.title.as_deref(), Some("My page"));
        assert_eq!(e.lang.as_deref(), Some("de"));
        let paras: Vec<&str> = e.text.split("\n\n").collect();
        assert_eq!(paras[0], "Headline here");
        assert!(paras[1].starts_with("This is a long sentence"));
        assert!(paras[2].starts_with("Second & last"));
        assert_eq!(paras[3], "First item of a list in the article body text.");
        assert_eq!(paras[4], "Second item.");
        for bad in ["Home", "cookies", "Facebook", "Great article", "Copyright", "var x", "Site"] {
            assert!(!e.text.contains(bad), "{bad} in {:?}", e.text);
        }
    }

    #[test]
    fn pre_keeps_its_layout() {
        let e = ex(&format!("<body><article><p>{PROSE}</p><pre>fn main() {{\n    let x = 1;\n}}</pre></article></body>"));
        assert!(e.text.ends_with("\n\nfn main() {\n    let x = 1;\n}"), "{:?}", e.text);
    }

    #[test]
    fn br_is_newline_and_whitespace_collapses() {
        let e = ex(&format!("<body><article><p>line   one<br>line\n\ttwo&nbsp;&nbsp;end. {PROSE}</p></article></body>"));
        assert!(e.text.starts_with("line one\nline two end. This"), "{:?}", e.text);
    }

    #[test]
    fn wrapper_with_boilerplate_class_is_not_dropped() {
        let html = format!("<body><div class=\"page has-sidebar\"><div class=content><p>{PROSE}</p><p>{PROSE}</p></div></div></body>");
        assert!(ex(&html).text.contains("This is a long sentence"));
    }

    #[test]
    fn link_lists_inside_article_are_dropped() {
        let html = format!(
            "<body><article><p>{PROSE}{PROSE}</p><ul><li><a href=1>Read also: one</a></li><li><a href=2>Read also: two</a></li></ul><p>{PROSE}</p></article></body>"
        );
        let e = ex(&html);
        assert!(!e.text.contains("Read also"), "{:?}", e.text);
        assert_eq!(e.text.matches("This is a long").count(), 3);
    }

    #[test]
    fn hidden_elements_are_dropped() {
        let html = format!(
            "<body><article><p>{PROSE}</p><div style=\"display: none\">secret text</div><p hidden>also secret</p></article></body>"
        );
        let e = ex(&html);
        assert!(!e.text.contains("secret"));
    }

    #[test]
    fn empty_and_textless_input() {
        assert_eq!(ex("").text, "");
        assert_eq!(ex("<html><body><script>x</script></body></html>").text, "");
        assert_eq!(ex("just text").text, "just text");
    }

    #[test]
    fn hostile_nesting_and_size() {
        let n = 100_000;
        let html = format!("{}{PROSE}{}", "<div><span>".repeat(n), "</span></div>".repeat(n));
        let e = ex(&html);
        assert!(e.text.contains("This is a long sentence"));
        let opts = ExtractOptions { max_input_bytes: 1000, ..Default::default() };
        let big = format!("<p>{}</p>", "é".repeat(10_000));
        assert!(extract(&big, &opts).text.chars().count() < 1000);
    }

    #[test]
    fn unclosed_formatting_elements_stay_linear() {
        // Every `<p>` re-opens all active formatting elements: without the depth
        // guard this is quadratic in the number of distinct unclosed `<b>`s.
        let html: String = (0..10_000).map(|i| format!("<p><b id=b{i}>word {i}, ")).collect();
        let t = std::time::Instant::now();
        let e = ex(&html);
        assert!(t.elapsed().as_secs() < 10, "{:?}", t.elapsed());
        assert!(e.text.contains("\n\nword 9000,\n\n"), "{:?}", e.text.get(..200));
    }

    #[test]
    fn splits_camel_case_words() {
        let mut w = Vec::new();
        split_words("mainNav sharebar post_content-Body", &mut w);
        assert_eq!(w, ["main", "nav", "sharebar", "post", "content", "body"]);
    }

    #[test]
    fn random_tag_soup_never_panics() {
        let pieces = [
            "<div>",
            "</div>",
            "<p>",
            "</p>",
            "<table>",
            "<td>",
            "<tr>",
            "</table>",
            "<b>",
            "</i>",
            "<i>",
            "<a href=x>",
            "</a>",
            "<br>",
            "<li>",
            "<ul class=\"menu\">",
            "</ul>",
            "<script>",
            "</script>",
            "<!--",
            "-->",
            "<svg>",
            "<math>",
            "<template>",
            "<select>",
            "<noscript>",
            "<h1>",
            "&amp;",
            "&#0;",
            "\u{0}",
            "text, words. ",
            "<",
            ">",
            "<frameset>",
            "<plaintext>",
            "<article hidden>",
            "<nav>",
        ];
        let mut st: u64 = 7;
        for _ in 0..300 {
            let mut html = String::new();
            st = st.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            for _ in 0..(st >> 33) % 200 {
                st = st.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                html.push_str(pieces[((st >> 33) % pieces.len() as u64) as usize]);
            }
            let e = ex(&html);
            assert!(!e.text.contains("\n\n\n"));
        }
    }
}
