//! Which recipe nodes run together as one runtime node.
//!
//! A chain of document stages where each link has exactly one input and
//! exactly one consumer runs as ONE runtime node: one thread, one merge at
//! the chain's head, and per batch one parallel map in which each document
//! goes through every stage of the chain in order, sharing one
//! [`crate::Scratch`], until a stage drops it. That saves a thread hop, a
//! channel and a batch allocation per stage, and lets stages share what
//! they derive from the text (the word split, say).
//!
//! A stage whose output fans out to several consumers ends a chain; a stage
//! that merges several inputs starts one. Global and stream stages, readers
//! and writers are never fused. A document stage is in one segment only and
//! so is every link of a chain (both ends are document stages of the same
//! segment), so a chain never crosses a global stage nor a phase boundary.
//!
//! Fusion changes no output: each stage keeps its own stats, exclusions and
//! `prepare` call, and the chain's tail emits one batch per batch its head
//! received, exactly as the last stage did alone (see `exec.rs`).

use crate::recipe::{Node, NodeImpl, Recipe};
use crate::stage::StageImpl;

/// Is `node` a document-wise stage?
pub fn is_doc_stage(node: &Node) -> bool {
    matches!(&node.imp, NodeImpl::Stage { stage: StageImpl::Doc(_), .. })
}

/// Does the edge `a -> b` fuse: two document stages of one segment, `a`'s
/// only consumer is `b` and `b`'s only input is `a`?
fn fuses(nodes: &[Node], a: usize, b: usize) -> bool {
    let (na, nb) = (&nodes[a], &nodes[b]);
    is_doc_stage(na) && is_doc_stage(nb) && na.outputs == [b] && nb.inputs == [a] && na.segment == nb.segment
}

/// The runtime nodes of `recipe`: every recipe node id exactly once, in
/// groups run by one thread each. A group of several ids is a fused chain
/// of document stages, listed in the order documents go through them; every
/// other node is a group of its own. Groups are ordered by their first id.
/// With `fuse` false every node is a group of its own (the reference
/// execution, one thread per node).
pub fn runtime_nodes(recipe: &Recipe, fuse: bool) -> Vec<Vec<usize>> {
    let nodes = &recipe.nodes;
    let mut groups = Vec::new();
    for node in nodes {
        let i = node.id;
        if fuse && node.inputs.len() == 1 && fuses(nodes, node.inputs[0], i) {
            // Not a head: its chain is listed from its head.
            continue;
        }
        let mut chain = vec![i];
        let mut last = i;
        while fuse && nodes[last].outputs.len() == 1 && fuses(nodes, last, nodes[last].outputs[0]) {
            last = nodes[last].outputs[0];
            chain.push(last);
        }
        groups.push(chain);
    }
    groups
}

/// [`runtime_nodes`] by node name: what `sluice` runs as one thread each.
pub fn runtime_node_names(recipe: &Recipe, fuse: bool) -> Vec<Vec<String>> {
    runtime_nodes(recipe, fuse).into_iter().map(|g| g.into_iter().map(|i| recipe.nodes[i].name.clone()).collect()).collect()
}
