//! Reads Automerge's history as field-level effects ("put this value at this dotted
//! path"), for `history` and for replaying a lineage without an erased path.

use std::collections::HashMap;

use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::{ActorId, Automerge, ExpandedChange, ObjType, ScalarValue};

/// What one operation did, at a dotted path.
#[derive(Debug)]
pub(crate) struct Effect {
    /// The map keys from the root. Keys may themselves hold dots (`lineage.erased` is
    /// keyed by erased paths), so the segments, not the joined text, are the truth.
    pub segments: Vec<String>,
    /// The segments joined with dots, for comparing with field paths.
    pub path: String,
    pub action: Action,
}

#[derive(Debug)]
pub(crate) enum Action {
    MakeMap,
    Put(ScalarValue),
    Delete,
}

impl Effect {
    pub(crate) fn deletes(&self) -> bool {
        matches!(self.action, Action::Delete)
    }
}

/// Calls `f` for every change in causal order, with the map-key effects of its ops.
/// List and text operations (which the twin does not use) are skipped.
pub(crate) fn walk(doc: &Automerge, mut f: impl FnMut(&ExpandedChange, &[Effect])) {
    let mut paths: HashMap<(u64, ActorId), Vec<String>> = HashMap::new();
    for change in doc.get_changes(&[]) {
        let expanded = change.decode();
        let mut effects = Vec::with_capacity(expanded.operations.len());
        let start = expanded.start_op.get();
        for (i, op) in expanded.operations.iter().enumerate() {
            let Key::Map(key) = &op.key else { continue };
            let parent = match &op.obj {
                ObjectId::Root => Vec::new(),
                ObjectId::Id(OpId(counter, actor)) => match paths.get(&(*counter, actor.clone())) {
                    Some(p) => p.clone(),
                    None => continue,
                },
            };
            let mut segments = parent;
            segments.push(key.to_string());
            let path = segments.join(".");
            let action = match &op.action {
                OpType::Make(ObjType::Map) => {
                    paths.insert(
                        (start + i as u64, expanded.actor_id.clone()),
                        segments.clone(),
                    );
                    Action::MakeMap
                }
                OpType::Put(v) => Action::Put(v.clone()),
                OpType::Delete => Action::Delete,
                _ => continue,
            };
            effects.push(Effect {
                segments,
                path,
                action,
            });
        }
        f(&expanded, &effects);
    }
}
