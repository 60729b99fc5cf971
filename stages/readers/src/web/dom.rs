//! A compact arena DOM built by html5ever's spec-compliant tree builder.
//!
//! Nodes live in one `Vec` and link to each other by index, so building is cheap,
//! dropping is flat (no recursive `Drop` that a deep document could overflow), and
//! every traversal in this crate is iterative. Hostile nesting is bounded before
//! the tree builder sees it by [`DepthGuard`].

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use html5ever::buffer_queue::BufferQueue;
use html5ever::interface::{ElemName, ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts};
use html5ever::tree_builder::{TreeBuilder, TreeBuilderOpts};
use html5ever::{local_name, Attribute, LocalName, Namespace, QualName};

/// Index of a node in [`Dom::nodes`].
pub type NodeId = u32;
const NONE: NodeId = u32::MAX;

/// What a node is.
#[derive(Debug)]
pub enum NodeData {
    /// The document root.
    Document,
    /// An element with its local name and attributes (names are local names).
    Element {
        /// Tag name (with namespace: the tree builder needs it for SVG/MathML).
        name: QualName,
        /// Attributes as (local name, value).
        attrs: Vec<(LocalName, StrTendril)>,
    },
    /// Character data.
    Text(StrTendril),
    /// Comments, doctypes, processing instructions: kept only as placeholders.
    Other,
}

/// One node and its links.
#[derive(Debug)]
pub struct Node {
    /// The parent, or `u32::MAX`.
    pub parent: NodeId,
    /// First child, or `u32::MAX`.
    pub first_child: NodeId,
    /// Last child, or `u32::MAX`.
    pub last_child: NodeId,
    /// Previous sibling, or `u32::MAX`.
    pub prev: NodeId,
    /// Next sibling, or `u32::MAX`.
    pub next: NodeId,
    /// The payload.
    pub data: NodeData,
}

/// A parsed document. Node 0 is the document root.
#[derive(Debug)]
pub struct Dom {
    /// All nodes; detached ones are simply unreachable from the root.
    pub nodes: Vec<Node>,
}

/// Sentinel meaning "no node".
pub const NO_NODE: NodeId = NONE;

impl Dom {
    /// Parses `html`. Elements nested deeper than `max_depth` are flattened into
    /// their ancestor at that depth (their text is kept).
    pub fn parse(html: &str, max_depth: usize) -> Dom {
        let sink = Sink::default();
        // Scripting off: `<noscript>` content is parsed as markup, not raw text.
        let tb = TreeBuilder::new(sink, TreeBuilderOpts { scripting_enabled: false, ..Default::default() });
        let guard =
            DepthGuard { inner: tb, depth: Cell::new(0), max_depth, formatting: Cell::new(0), dropped: RefCell::new(HashMap::new()) };
        let tok = Tokenizer::new(guard, TokenizerOpts::default());
        let input = BufferQueue::default();
        input.push_back(StrTendril::from_slice(html));
        // `feed` returns early for `<script>` (we never execute them): loop.
        while !matches!(tok.feed(&input), html5ever::TokenizerResult::Done) {}
        tok.end();
        let guard = tok.sink;
        guard.inner.sink.finish()
    }

    /// The root node id.
    pub const ROOT: NodeId = 0;

    /// The node with this id.
    #[inline]
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    /// The tag name if `id` is an element.
    #[inline]
    pub fn tag(&self, id: NodeId) -> Option<&LocalName> {
        match &self.node(id).data {
            NodeData::Element { name, .. } => Some(&name.local),
            _ => None,
        }
    }

    /// An attribute value of element `id`.
    pub fn attr(&self, id: NodeId, name: &LocalName) -> Option<&str> {
        match &self.node(id).data {
            NodeData::Element { attrs, .. } => attrs.iter().find(|(k, _)| k == name).map(|(_, v)| &**v),
            _ => None,
        }
    }

    /// Iterates over the children of `id`.
    pub fn children(&self, id: NodeId) -> Children<'_> {
        Children { dom: self, next: self.node(id).first_child }
    }

    /// Nodes of the subtree under `root` (inclusive) in document order, iteratively.
    pub fn preorder(&self, root: NodeId) -> Vec<NodeId> {
        let mut out = Vec::new();
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            out.push(id);
            let mut c = self.node(id).last_child;
            while c != NONE {
                stack.push(c);
                c = self.node(c).prev;
            }
        }
        out
    }

    /// The first element with tag `name` in document order.
    #[cfg(test)]
    pub fn find_first(&self, name: &LocalName) -> Option<NodeId> {
        self.preorder(Self::ROOT).into_iter().find(|&id| self.tag(id) == Some(name))
    }
}

/// Iterator over a node's children.
pub struct Children<'a> {
    dom: &'a Dom,
    next: NodeId,
}

impl Iterator for Children<'_> {
    type Item = NodeId;
    fn next(&mut self) -> Option<NodeId> {
        (self.next != NONE).then(|| {
            let id = self.next;
            self.next = self.dom.node(id).next;
            id
        })
    }
}

/// Tree sink writing into the arena. html5ever's `TreeSink` takes `&self`, hence
/// the `RefCell`s.
#[derive(Default)]
struct Sink {
    nodes: RefCell<Vec<Node>>,
    templates: RefCell<HashMap<NodeId, NodeId>>,
}

impl Sink {
    fn new_node(&self, data: NodeData) -> NodeId {
        let mut nodes = self.nodes.borrow_mut();
        if nodes.is_empty() {
            nodes.push(Node::new(NodeData::Document));
        }
        nodes.push(Node::new(data));
        (nodes.len() - 1) as NodeId
    }

    fn ensure_root(&self) {
        let mut nodes = self.nodes.borrow_mut();
        if nodes.is_empty() {
            nodes.push(Node::new(NodeData::Document));
        }
    }

    fn detach(nodes: &mut [Node], id: NodeId) {
        let (parent, prev, next) = {
            let n = &nodes[id as usize];
            (n.parent, n.prev, n.next)
        };
        if parent == NONE {
            return;
        }
        if prev != NONE {
            nodes[prev as usize].next = next;
        } else {
            nodes[parent as usize].first_child = next;
        }
        if next != NONE {
            nodes[next as usize].prev = prev;
        } else {
            nodes[parent as usize].last_child = prev;
        }
        let n = &mut nodes[id as usize];
        n.parent = NONE;
        n.prev = NONE;
        n.next = NONE;
    }

    fn append_child(nodes: &mut [Node], parent: NodeId, child: NodeId) {
        Self::detach(nodes, child);
        let last = nodes[parent as usize].last_child;
        nodes[child as usize].parent = parent;
        nodes[child as usize].prev = last;
        if last != NONE {
            nodes[last as usize].next = child;
        } else {
            nodes[parent as usize].first_child = child;
        }
        nodes[parent as usize].last_child = child;
    }

    fn insert_before(nodes: &mut [Node], sibling: NodeId, child: NodeId) {
        Self::detach(nodes, child);
        let parent = nodes[sibling as usize].parent;
        let prev = nodes[sibling as usize].prev;
        nodes[child as usize].parent = parent;
        nodes[child as usize].prev = prev;
        nodes[child as usize].next = sibling;
        nodes[sibling as usize].prev = child;
        if prev != NONE {
            nodes[prev as usize].next = child;
        } else if parent != NONE {
            nodes[parent as usize].first_child = child;
        }
    }
}

impl Node {
    fn new(data: NodeData) -> Node {
        Node { parent: NONE, first_child: NONE, last_child: NONE, prev: NONE, next: NONE, data }
    }
}

/// Element name handle returned to the tree builder.
#[derive(Debug)]
struct Name(QualName);

impl ElemName for Name {
    fn ns(&self) -> &Namespace {
        &self.0.ns
    }
    fn local_name(&self) -> &LocalName {
        &self.0.local
    }
}

impl TreeSink for Sink {
    type Handle = NodeId;
    type Output = Dom;
    type ElemName<'a> = Name;

    fn finish(self) -> Dom {
        self.ensure_root();
        Dom { nodes: self.nodes.into_inner() }
    }

    fn parse_error(&self, _msg: Cow<'static, str>) {}

    fn get_document(&self) -> NodeId {
        self.ensure_root();
        0
    }

    fn elem_name<'a>(&'a self, target: &'a NodeId) -> Name {
        // Cloning a QualName only bumps atom refcounts; handing out a `Ref` into
        // the arena could clash with a later `borrow_mut` by the tree builder.
        match &self.nodes.borrow()[*target as usize].data {
            NodeData::Element { name, .. } => Name(name.clone()),
            _ => Name(QualName::new(None, html5ever::ns!(html), local_name!(""))),
        }
    }

    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, flags: ElementFlags) -> NodeId {
        let id = self.new_node(NodeData::Element { name, attrs: attrs.into_iter().map(|a| (a.name.local, a.value)).collect() });
        if flags.template {
            let frag = self.new_node(NodeData::Document);
            self.templates.borrow_mut().insert(id, frag);
        }
        id
    }

    fn create_comment(&self, _text: StrTendril) -> NodeId {
        self.new_node(NodeData::Other)
    }

    fn create_pi(&self, _target: StrTendril, _data: StrTendril) -> NodeId {
        self.new_node(NodeData::Other)
    }

    fn append(&self, parent: &NodeId, child: NodeOrText<NodeId>) {
        match child {
            NodeOrText::AppendNode(c) => Self::append_child(&mut self.nodes.borrow_mut(), *parent, c),
            NodeOrText::AppendText(t) => {
                let mut nodes = self.nodes.borrow_mut();
                let last = nodes[*parent as usize].last_child;
                if last != NONE {
                    if let NodeData::Text(existing) = &mut nodes[last as usize].data {
                        existing.push_tendril(&t);
                        return;
                    }
                }
                drop(nodes);
                let id = self.new_node(NodeData::Text(t));
                Self::append_child(&mut self.nodes.borrow_mut(), *parent, id);
            }
        }
    }

    fn append_based_on_parent_node(&self, element: &NodeId, prev_element: &NodeId, child: NodeOrText<NodeId>) {
        let has_parent = self.nodes.borrow()[*element as usize].parent != NONE;
        if has_parent {
            self.append_before_sibling(element, child);
        } else {
            self.append(prev_element, child);
        }
    }

    fn append_doctype_to_document(&self, _name: StrTendril, _public_id: StrTendril, _system_id: StrTendril) {}

    fn get_template_contents(&self, target: &NodeId) -> NodeId {
        if let Some(&f) = self.templates.borrow().get(target) {
            return f;
        }
        let frag = self.new_node(NodeData::Document);
        self.templates.borrow_mut().insert(*target, frag);
        frag
    }

    fn same_node(&self, x: &NodeId, y: &NodeId) -> bool {
        x == y
    }

    fn set_quirks_mode(&self, _mode: QuirksMode) {}

    fn append_before_sibling(&self, sibling: &NodeId, new_node: NodeOrText<NodeId>) {
        let id = match new_node {
            NodeOrText::AppendNode(c) => c,
            NodeOrText::AppendText(t) => {
                let mut nodes = self.nodes.borrow_mut();
                let prev = nodes[*sibling as usize].prev;
                if prev != NONE {
                    if let NodeData::Text(existing) = &mut nodes[prev as usize].data {
                        existing.push_tendril(&t);
                        return;
                    }
                }
                drop(nodes);
                self.new_node(NodeData::Text(t))
            }
        };
        Self::insert_before(&mut self.nodes.borrow_mut(), *sibling, id);
    }

    fn add_attrs_if_missing(&self, target: &NodeId, new: Vec<Attribute>) {
        if let NodeData::Element { attrs, .. } = &mut self.nodes.borrow_mut()[*target as usize].data {
            for a in new {
                if !attrs.iter().any(|(k, _)| *k == a.name.local) {
                    attrs.push((a.name.local, a.value));
                }
            }
        }
    }

    fn remove_from_parent(&self, target: &NodeId) {
        Self::detach(&mut self.nodes.borrow_mut(), *target);
    }

    fn reparent_children(&self, node: &NodeId, new_parent: &NodeId) {
        let mut nodes = self.nodes.borrow_mut();
        let mut c = nodes[*node as usize].first_child;
        while c != NONE {
            let next = nodes[c as usize].next;
            Self::append_child(&mut nodes, *new_parent, c);
            c = next;
        }
    }
}

/// Sits between the tokenizer and the tree builder and drops start/end tags that
/// would nest elements deeper than `max_depth`, or keep more than
/// [`MAX_OPEN_FORMATTING`] formatting elements (`<b>`, `<font>`...) open.
///
/// Why: html5ever's tree builder scans its stack of open elements for many tags,
/// so a page of a million unclosed `<div>`s is quadratic, and a deep tree makes any
/// recursive consumer overflow. Unclosed formatting elements are re-opened at
/// every new paragraph (the "reconstruct the active formatting elements" step),
/// so `<p><b id=1>..<p><b id=2>..` grows the DOM quadratically. The counts are
/// approximate (we do not replay the tree builder's implicit closes), so tags
/// whose end is optional (`p`, `li`, `td`...) and void elements are not counted:
/// they cannot nest without bound. Dropping a tag keeps its text.
struct DepthGuard<S> {
    inner: S,
    depth: Cell<usize>,
    max_depth: usize,
    formatting: Cell<usize>,
    /// How many start tags of each name were dropped, so that as many end tags
    /// are dropped too.
    dropped: RefCell<HashMap<LocalName, usize>>,
}

/// Most formatting elements kept open at once (see [`DepthGuard`]).
const MAX_OPEN_FORMATTING: usize = 16;

fn counts_for_depth(name: &LocalName) -> bool {
    !matches!(
        *name,
        local_name!("p")
            | local_name!("li")
            | local_name!("dt")
            | local_name!("dd")
            | local_name!("option")
            | local_name!("optgroup")
            | local_name!("tr")
            | local_name!("td")
            | local_name!("th")
            | local_name!("tbody")
            | local_name!("thead")
            | local_name!("tfoot")
            | local_name!("rb")
            | local_name!("rt")
            | local_name!("rp")
            | local_name!("colgroup")
            | local_name!("caption")
            | local_name!("area")
            | local_name!("base")
            | local_name!("br")
            | local_name!("col")
            | local_name!("embed")
            | local_name!("hr")
            | local_name!("img")
            | local_name!("input")
            | local_name!("link")
            | local_name!("meta")
            | local_name!("source")
            | local_name!("track")
            | local_name!("wbr")
            | local_name!("html")
            | local_name!("head")
            | local_name!("body")
    )
}

/// Formatting elements that the tree builder re-opens after block boundaries.
/// (`<a>` and `<nobr>` are formatting elements too, but a new one closes the
/// previous one, so they cannot pile up.)
fn is_formatting(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("b")
            | local_name!("big")
            | local_name!("code")
            | local_name!("em")
            | local_name!("font")
            | local_name!("i")
            | local_name!("s")
            | local_name!("small")
            | local_name!("strike")
            | local_name!("strong")
            | local_name!("tt")
            | local_name!("u")
    )
}

impl<S: TokenSink> TokenSink for DepthGuard<S> {
    type Handle = S::Handle;

    fn process_token(&self, token: Token, line: u64) -> TokenSinkResult<S::Handle> {
        if let Token::TagToken(Tag { kind, name, self_closing, .. }) = &token {
            if counts_for_depth(name) && !*self_closing {
                let fmt = is_formatting(name);
                match kind {
                    TagKind::StartTag => {
                        if self.depth.get() >= self.max_depth || (fmt && self.formatting.get() >= MAX_OPEN_FORMATTING) {
                            *self.dropped.borrow_mut().entry(name.clone()).or_insert(0) += 1;
                            return TokenSinkResult::Continue;
                        }
                        self.depth.set(self.depth.get() + 1);
                        if fmt {
                            self.formatting.set(self.formatting.get() + 1);
                        }
                    }
                    TagKind::EndTag => {
                        let mut dropped = self.dropped.borrow_mut();
                        if let Some(n) = dropped.get_mut(name) {
                            *n -= 1;
                            if *n == 0 {
                                dropped.remove(name);
                            }
                            return TokenSinkResult::Continue;
                        }
                        self.depth.set(self.depth.get().saturating_sub(1));
                        if fmt {
                            self.formatting.set(self.formatting.get().saturating_sub(1));
                        }
                    }
                }
            }
        }
        self.inner.process_token(token, line)
    }

    fn end(&self) {
        self.inner.end()
    }

    fn adjusted_current_node_present_but_not_in_html_namespace(&self) -> bool {
        self.inner.adjusted_current_node_present_but_not_in_html_namespace()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(dom: &Dom) -> String {
        dom.preorder(Dom::ROOT)
            .into_iter()
            .filter_map(|id| match &dom.node(id).data {
                NodeData::Text(t) => Some(t.to_string()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn builds_tree_with_implied_elements() {
        let dom = Dom::parse("<title>T</title><p class=a>one<p>two &amp; three", 256);
        let body = dom.find_first(&local_name!("body")).unwrap();
        let ps: Vec<_> = dom.children(body).collect();
        assert_eq!(ps.len(), 2);
        assert_eq!(dom.attr(ps[0], &local_name!("class")), Some("a"));
        assert_eq!(text_of(&dom), "Tonetwo & three");
    }

    #[test]
    fn misnested_formatting_is_fixed_up() {
        let dom = Dom::parse("<b>1<i>2</b>3</i><table><tr><td>x</td></tr>y</table>", 256);
        assert_eq!(text_of(&dom), "123yx");
    }

    #[test]
    fn deep_nesting_is_bounded_and_fast() {
        let n = 200_000;
        let html = format!("{}deep{}", "<div>".repeat(n), "</div>".repeat(n));
        let t = std::time::Instant::now();
        let dom = Dom::parse(&html, 128);
        assert!(t.elapsed().as_secs() < 10);
        assert_eq!(text_of(&dom), "deep");
        // Depth from the root: html, body + at most 128 divs.
        let mut depth = 0;
        let mut id = dom.preorder(Dom::ROOT).into_iter().find(|&i| matches!(dom.node(i).data, NodeData::Text(_))).unwrap();
        while id != NONE {
            depth += 1;
            id = dom.node(id).parent;
        }
        assert!(depth <= 128 + 4, "depth {depth}");
    }

    #[test]
    fn templates_are_kept_out_of_the_tree() {
        let dom = Dom::parse("<template><p>hidden</p></template><p>shown</p>", 64);
        assert_eq!(text_of(&dom), "shown");
    }
}
