//! Phases: how a recipe with global stages splits into steps that can each
//! run as N independent processes.
//!
//! A recipe without global stages has one phase, `s0`: every task streams
//! from the readers to the writers. Each [`crate::stage::GlobalStage`] cuts
//! the graph: the nodes upstream of it run in segment `s0`, where it
//! observes; then come its own steps (`<node>.<step>`, each with its own
//! number of units); then segment `s1` replays each task's documents through
//! its decider into the nodes downstream, and so on. Phases run in order;
//! the units of one phase are independent (a Slurm array).

use crate::recipe::{NodeImpl, Recipe};
use crate::stage::StageImpl;

/// What a phase runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhaseKind {
    /// Stream segment `segment` of every task.
    Stream { segment: usize },
    /// Step `step` of the global stage `node`.
    Step { node: usize, step: usize },
}

/// One phase of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    pub index: usize,
    /// Stable name, used on the command line (`--phase`) and in the output
    /// directory: `s0`, `s1`, ... for stream segments, `<node>.<step>` for
    /// a global stage's steps.
    pub key: String,
    pub kind: PhaseKind,
    /// Independent units: tasks for stream segments, the step's own count
    /// otherwise.
    pub units: usize,
}

impl Phase {
    /// How one unit is named in messages: `task 3` or `dedup.buckets unit 3`.
    pub fn unit_name(&self, unit: usize) -> String {
        match self.kind {
            PhaseKind::Stream { segment: 0 } => format!("task {unit}"),
            PhaseKind::Stream { .. } => format!("{} task {unit}", self.key),
            PhaseKind::Step { .. } => format!("{} unit {unit}", self.key),
        }
    }
}

/// The phases of `recipe` run with `tasks` tasks, in execution order.
pub fn phases(recipe: &Recipe, tasks: usize) -> Vec<Phase> {
    let last = recipe.nodes.iter().map(|n| n.segment).max().unwrap_or(0);
    let mut out = Vec::new();
    for segment in 0..=last {
        out.push(Phase { index: out.len(), key: format!("s{segment}"), kind: PhaseKind::Stream { segment }, units: tasks });
        for node in recipe.nodes.iter().filter(|n| n.segment == segment) {
            let NodeImpl::Stage { stage: StageImpl::Global(g), .. } = &node.imp else { continue };
            for (step, s) in g.steps(tasks).into_iter().enumerate() {
                out.push(Phase {
                    index: out.len(),
                    key: format!("{}.{}", node.name, s.name),
                    kind: PhaseKind::Step { node: node.id, step },
                    units: s.units.max(1),
                });
            }
        }
    }
    out
}

/// Find a phase by key or index.
pub fn find<'a>(phases: &'a [Phase], name: &str) -> Option<&'a Phase> {
    phases.iter().find(|p| p.key == name).or_else(|| name.parse::<usize>().ok().and_then(|i| phases.get(i)))
}
