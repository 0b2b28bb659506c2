//! The twin document: one Automerge CRDT holding the citizen's fields, their consents
//! and the lineage record that erasure leaves behind.
//!
//! Root map: `personal`, `government`, `health`, `social` (the fields of
//! `schemas/twin/fields.schema.json`), `records`, `grants` (room for the grant protocol),
//! `consents` (`consents.health.opted_in`, …) and `lineage` (`id`, and `erased`: a map
//! from erased path to when, never the value).
//!
//! Every change carries its provenance (who, why) as a JSON commit message and its time
//! as the Automerge timestamp, so [`TwinDoc::history`] is Automerge's own history.
//! Every write passes the schema and the opt-in rule here, so no caller can skip them.
#![forbid(unsafe_code)]

mod walk;

use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{ActorId, Automerge, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use twin_schema::{Catalog, Field, InvalidValue, Kind, UnknownField};
use twin_types::{Category, FieldPath, LineageId};

pub use automerge::ChangeHash;

/// Root keys that are not citizen field categories.
const CONSENTS: &str = "consents";
const LINEAGE: &str = "lineage";
const ROOT_MAPS: [&str; 8] = [
    "personal",
    "government",
    "health",
    "social",
    "records",
    "grants",
    CONSENTS,
    LINEAGE,
];

/// Who made an edit and why; the time is the change's own timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Who, in plain words ("you, with the twin command line").
    pub who: String,
    /// Why, in plain words ("moved house"). Never a field value.
    pub why: String,
    /// When, in milliseconds since 1970 (UTC).
    #[serde(skip)]
    pub at_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct Message {
    v: u8,
    who: String,
    why: String,
}

/// One edit of one field, as `history` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// When, in milliseconds since 1970 (UTC).
    pub at_ms: i64,
    /// Who made the edit.
    pub who: String,
    /// Why.
    pub why: String,
    /// The computer (Automerge actor id, hex) that made it.
    pub device: String,
    /// The value it set, or `None` if it cleared the field.
    pub value: Option<Value>,
}

/// Why a document operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocError {
    /// Not a field of the twin.
    #[error(transparent)]
    UnknownField(#[from] UnknownField),
    /// A value the field's schema refuses.
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
    /// A write into an opt-in category the citizen has not opted into.
    #[error(
        "your twin does not hold {0} data, because you have not opted in. To add it, first run `twin opt-in {0}`"
    )]
    NotOptedIn(Category),
    /// Stored bytes that are not a twin document.
    #[error("the twin document could not be read: {0}")]
    Corrupt(String),
}

impl From<automerge::AutomergeError> for DocError {
    fn from(e: automerge::AutomergeError) -> Self {
        DocError::Corrupt(e.to_string())
    }
}

/// The citizen's twin document.
#[derive(Debug)]
pub struct TwinDoc {
    doc: Automerge,
}

impl TwinDoc {
    /// A new, empty twin for a new vault, written by `actor` (this computer).
    pub fn create(actor: &[u8], lineage: LineageId, prov: &Provenance) -> TwinDoc {
        let mut doc = Automerge::new().with_actor(ActorId::from(actor));
        let mut tx = doc.transaction();
        for name in ROOT_MAPS {
            tx.put_object(ROOT, name, ObjType::Map)
                .expect("root is a map");
        }
        make_field_groups(&mut tx);
        make_ledger_maps(&mut tx);
        let lin = map_at(&mut tx, LINEAGE);
        tx.put(&lin, "id", lineage.to_string())
            .expect("lineage is a map");
        tx.put_object(&lin, "erased", ObjType::Map)
            .expect("lineage is a map");
        commit(tx, prov);
        TwinDoc { doc }
    }

    /// Loads a saved document (a snapshot, then incremental change blocks) as `actor`.
    pub fn load<'a>(
        snapshot: &[u8],
        increments: impl IntoIterator<Item = &'a [u8]>,
        actor: &[u8],
    ) -> Result<TwinDoc, DocError> {
        let mut doc = Automerge::load(snapshot)?;
        let mut tail = Vec::new();
        for block in increments {
            tail.extend_from_slice(block);
        }
        if !tail.is_empty() {
            doc.load_incremental(&tail)?;
        }
        doc.set_actor(ActorId::from(actor));
        let twin = TwinDoc { doc };
        twin.lineage()
            .ok_or_else(|| DocError::Corrupt("the document has no lineage id".into()))?;
        Ok(twin)
    }

    /// The whole document, compacted.
    pub fn save(&self) -> Vec<u8> {
        self.doc.save()
    }

    /// The whole document saved without compression, then every change of its history
    /// uncompressed and decoded (operations, values, messages). Only for the end-to-end
    /// tests, which search it for erased values; not part of the supported interface.
    #[doc(hidden)]
    pub fn dump_for_tests(&self) -> Vec<u8> {
        let mut out = self.doc.save_nocompress();
        for change in self.doc.get_changes(&[]) {
            out.extend_from_slice(change.raw_bytes());
            out.extend_from_slice(format!("{:?}", change.decode()).as_bytes());
        }
        out
    }

    /// The changes made since `heads`, as one incremental block.
    pub fn save_after(&self, heads: &[ChangeHash]) -> Vec<u8> {
        self.doc.save_after(heads)
    }

    /// The document's current heads.
    pub fn heads(&self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// Number of changes in the document's history.
    pub fn change_count(&self) -> usize {
        self.doc.get_changes_meta(&[]).len()
    }

    /// This lineage's id.
    pub fn lineage(&self) -> Option<LineageId> {
        let lin = self.map(&[LINEAGE])?;
        scalar_str(&self.doc, &lin, "id")?.parse().ok()
    }

    /// Paths erased in this lineage or its ancestors (never their values).
    pub fn erased_paths(&self) -> Vec<String> {
        self.map(&[LINEAGE, "erased"])
            .map(|m| self.doc.keys(&m).collect())
            .unwrap_or_default()
    }

    /// Whether the citizen has opted into `category` (always true for personal, government).
    pub fn opted_in(&self, category: Category) -> bool {
        if !category.needs_opt_in() {
            return true;
        }
        self.map(&[CONSENTS, category.as_str()])
            .and_then(|m| match self.doc.get(&m, "opted_in") {
                Ok(Some((automerge::Value::Scalar(s), _))) => match s.as_ref() {
                    ScalarValue::Boolean(b) => Some(*b),
                    _ => None,
                },
                _ => None,
            })
            .unwrap_or(false)
    }

    /// Records the citizen's opt-in or opt-out of `category`.
    pub fn set_opt_in(&mut self, category: Category, on: bool, prov: &Provenance) {
        let mut tx = self.doc.transaction();
        let consents = map_at(&mut tx, CONSENTS);
        let cat = ensure_map(&mut tx, &consents, category.as_str());
        tx.put(&cat, "opted_in", on)
            .expect("consent entry is a map");
        tx.put(&cat, "at_ms", prov.at_ms)
            .expect("consent entry is a map");
        commit(tx, prov);
    }

    /// The current value of a field, or `None` if it is empty.
    pub fn get(&self, field: &Field) -> Option<Value> {
        self.get_all(field).pop()
    }

    /// Every concurrent value of a field: more than one means two computers changed it
    /// at once and the citizen should choose. The last is the one shown by default.
    pub fn get_all(&self, field: &Field) -> Vec<Value> {
        let segments: Vec<&str> = field.path().segments().collect();
        let (last, parents) = segments.split_last().expect("paths have a segment");
        let Some(obj) = self.map(parents) else {
            return Vec::new();
        };
        self.doc
            .get_all(&obj, *last)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(v, _)| match v {
                automerge::Value::Scalar(s) => to_json(field.kind(), s.as_ref()),
                automerge::Value::Object(_) => None,
            })
            .collect()
    }

    /// Every non-empty field at or inside `prefix`, in path order.
    pub fn values_within(&self, prefix: &FieldPath) -> Vec<(FieldPath, Value)> {
        Catalog::get()
            .fields_within(prefix)
            .filter_map(|f| self.get(f).map(|v| (f.path().clone(), v)))
            .collect()
    }

    /// Applies edits as one change: each `(path, Some(value))` sets a field, each
    /// `(path, None)` clears it. Checks every path, value and opt-in first, so either all
    /// edits apply or none. Returns the paths whose value actually changed.
    pub fn edit(
        &mut self,
        edits: &[(FieldPath, Option<Value>)],
        prov: &Provenance,
    ) -> Result<Vec<FieldPath>, DocError> {
        let catalog = Catalog::get();
        let mut changed = Vec::new();
        for (path, value) in edits {
            let field = catalog.field(path.as_str())?;
            if let Some(v) = value {
                field.check(v)?;
                if !self.opted_in(field.category()) {
                    return Err(DocError::NotOptedIn(field.category()));
                }
            }
            let current = self.get_all(field);
            let unchanged = match value {
                Some(v) => current.len() == 1 && &current[0] == v,
                None => current.is_empty(),
            };
            if !unchanged && !changed.contains(path) {
                changed.push(path.clone());
            }
        }
        if changed.is_empty() {
            return Ok(changed);
        }
        let mut tx = self.doc.transaction();
        for (path, value) in edits {
            let field = catalog.field(path.as_str())?;
            let segments: Vec<&str> = path.segments().collect();
            let (last, parents) = segments.split_last().expect("paths have a segment");
            let mut obj = ROOT;
            for seg in parents {
                obj = ensure_map(&mut tx, &obj, seg);
            }
            match value {
                Some(v) => {
                    tx.put(&obj, *last, to_scalar(field.kind(), v))?;
                }
                None => {
                    if tx.get(&obj, *last)?.is_some() {
                        tx.delete(&obj, *last)?;
                    }
                }
            }
        }
        commit(tx, prov);
        Ok(changed)
    }

    /// The edits of one field, oldest first, with who, when, why and the value set.
    pub fn history(&self, path: &FieldPath) -> Vec<HistoryEntry> {
        let kind = Catalog::get().field(path.as_str()).map(Field::kind).ok();
        let mut out = Vec::new();
        walk::walk(&self.doc, |change, effects| {
            for e in effects {
                let touches =
                    e.path == path.as_str() || (e.deletes() && path_within(path.as_str(), &e.path));
                if !touches {
                    continue;
                }
                let value = match (&e.action, kind) {
                    (walk::Action::Put(s), Some(k)) => to_json(k, s),
                    _ => None,
                };
                let msg: Option<Message> = change
                    .message
                    .as_deref()
                    .and_then(|m| serde_json::from_str(m).ok());
                out.push(HistoryEntry {
                    at_ms: change.time,
                    who: msg
                        .as_ref()
                        .map(|m| m.who.clone())
                        .unwrap_or_else(|| "unknown".into()),
                    why: msg.map(|m| m.why).unwrap_or_default(),
                    device: change.actor_id.to_hex_string(),
                    value,
                });
            }
        });
        out
    }

    /// Writes entries into the map at `path` under `grants` or `records` (the ledger of
    /// what was shared and received), creating maps on the way, as one change. Values are
    /// strings, integers or booleans; bytes travel as base64 text. Never used for fields.
    pub fn ledger_put(
        &mut self,
        path: &[&str],
        entries: &[(&str, Value)],
        prov: &Provenance,
    ) -> Result<(), DocError> {
        if !matches!(
            path.first(),
            Some(&"grants") | Some(&"records") | Some(&"devices")
        ) {
            return Err(DocError::Corrupt(
                "the ledger lives under grants, records and devices".into(),
            ));
        }
        let mut tx = self.doc.transaction();
        let mut obj = ROOT;
        for seg in path {
            obj = ensure_map(&mut tx, &obj, seg);
        }
        for (key, value) in entries {
            let scalar = match value {
                Value::String(s) => ScalarValue::Str(s.as_str().into()),
                Value::Bool(b) => ScalarValue::Boolean(*b),
                Value::Number(n) if n.is_i64() => ScalarValue::Int(n.as_i64().expect("checked")),
                other => ScalarValue::Str(other.to_string().into()),
            };
            tx.put(&obj, *key, scalar)?;
        }
        commit(tx, prov);
        Ok(())
    }

    /// Every map object at `path`. Two computers that create the same map at once make
    /// two objects, and Automerge shows only one of them; the ledger reads all of them,
    /// so nothing written into the other (a revocation, a record) is ever hidden.
    fn maps_at(&self, path: &[&str]) -> Vec<ObjId> {
        let mut objs = vec![ROOT];
        for seg in path {
            objs = objs
                .iter()
                .flat_map(|o| self.doc.get_all(o, *seg).unwrap_or_default())
                .filter_map(|(v, id)| {
                    matches!(v, automerge::Value::Object(ObjType::Map)).then_some(id)
                })
                .collect();
        }
        objs
    }

    /// The scalar entries of the ledger map at `path` (empty if there is none), from
    /// every concurrent copy of that map.
    pub fn ledger_get(&self, path: &[&str]) -> serde_json::Map<String, Value> {
        let mut out = serde_json::Map::new();
        for obj in self.maps_at(path) {
            for key in self.doc.keys(&obj) {
                if let Ok(Some((automerge::Value::Scalar(s), _))) = self.doc.get(&obj, key.as_str())
                {
                    let v = match s.as_ref() {
                        ScalarValue::Str(t) => Value::String(t.to_string()),
                        ScalarValue::Int(i) => Value::from(*i),
                        ScalarValue::Boolean(b) => Value::Bool(*b),
                        _ => continue,
                    };
                    out.entry(key).or_insert(v);
                }
            }
        }
        out
    }

    /// Whether any concurrent copy of the ledger map at `path` has an entry `key`: one
    /// lookup per copy, however many entries the map holds.
    pub fn ledger_has(&self, path: &[&str], key: &str) -> bool {
        self.maps_at(path)
            .iter()
            .any(|obj| matches!(self.doc.get(obj, key), Ok(Some(_))))
    }

    /// The keys of the ledger map at `path` that hold maps (e.g. grant ids), from every
    /// concurrent copy of that map.
    pub fn ledger_children(&self, path: &[&str]) -> Vec<String> {
        let mut keys: Vec<String> = self
            .maps_at(path)
            .into_iter()
            .flat_map(|obj| {
                self.doc
                    .keys(&obj)
                    .filter(|k| {
                        self.doc
                            .get_all(&obj, k.as_str())
                            .unwrap_or_default()
                            .iter()
                            .any(|(v, _)| matches!(v, automerge::Value::Object(ObjType::Map)))
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Merges every change of `other` that this document lacks (a CRDT merge: edits made
    /// on both sides survive; concurrent edits of one field become a conflict that
    /// [`TwinDoc::conflicts`] lists). Both must share an ancestor (the same lineage), or
    /// their maps would be separate objects. Returns how many changes were new here.
    pub fn merge(&mut self, other: &mut TwinDoc) -> Result<usize, DocError> {
        let before = self.change_count();
        self.doc.merge(&mut other.doc)?;
        Ok(self.change_count() - before)
    }

    /// Fields holding more than one distinct value (two computers changed them at once),
    /// with every value; the last is the one shown by default.
    pub fn conflicts(&self) -> Vec<(FieldPath, Vec<Value>)> {
        Catalog::get()
            .fields()
            .filter_map(|f| {
                let all = self.get_all(f);
                let distinct = all.iter().skip(1).any(|v| v != &all[0]);
                distinct.then(|| (f.path().clone(), all))
            })
            .collect()
    }

    /// This computer's Automerge actor id, hex.
    pub fn actor_hex(&self) -> String {
        self.doc.get_actor().to_hex_string()
    }

    /// The time of the last edit of `path` (ms), if it was ever edited.
    pub fn last_edit_ms(&self, path: &FieldPath) -> Option<i64> {
        self.history(path).last().map(|h| h.at_ms)
    }

    /// The computers (Automerge actor ids, hex) that have written to this twin.
    pub fn devices(&self) -> Vec<String> {
        let mut actors: Vec<String> = self
            .doc
            .get_changes_meta(&[])
            .iter()
            .map(|m| m.actor.to_hex_string())
            .collect();
        actors.sort();
        actors.dedup();
        actors
    }

    /// A new lineage without anything at or inside `erase`: every other edit is replayed
    /// with its provenance and time, so history of the other fields survives, while no
    /// byte of the erased value is carried over. The erased path (never its value) is
    /// added to `lineage.erased`.
    pub fn rebuild_without(
        &self,
        erase: &FieldPath,
        new_lineage: LineageId,
        prov: &Provenance,
    ) -> TwinDoc {
        let mut fresh = Automerge::new().with_actor(self.doc.get_actor().clone());
        let mut erased: Vec<String> = self.erased_paths();
        erased.push(erase.to_string());
        walk::walk(&self.doc, |change, effects| {
            let kept: Vec<&walk::Effect> = effects
                .iter()
                .filter(|e| !path_within(&e.path, erase.as_str()))
                .collect();
            if kept.is_empty() {
                return;
            }
            let mut tx = fresh.transaction();
            for e in kept {
                let (last, parents) = e.segments.split_last().expect("paths have a segment");
                let mut obj = ROOT;
                for seg in parents {
                    obj = ensure_map(&mut tx, &obj, seg);
                }
                let last = last.as_str();
                match &e.action {
                    walk::Action::MakeMap => {
                        ensure_map(&mut tx, &obj, last);
                    }
                    walk::Action::Put(s) => {
                        tx.put(&obj, last, s.clone()).expect("replayed into a map");
                    }
                    walk::Action::Delete => {
                        if matches!(tx.get(&obj, last), Ok(Some(_))) {
                            tx.delete(&obj, last).expect("replayed into a map");
                        }
                    }
                }
            }
            let mut opts = CommitOptions::default().with_time(change.time);
            if let Some(m) = &change.message {
                opts = opts.with_message(m.clone());
            }
            tx.commit_with(opts);
        });
        let mut twin = TwinDoc { doc: fresh };
        // Bring the current state exactly in line with the old one (replay linearises
        // concurrent edits), then record the new lineage.
        let mut tx = twin.doc.transaction();
        for field in Catalog::get().fields() {
            if field.path().is_within(erase) {
                continue;
            }
            let want = self.get(field);
            let segments: Vec<&str> = field.path().segments().collect();
            let (last, parents) = segments.split_last().expect("paths have a segment");
            let mut obj = ROOT;
            for seg in parents {
                obj = ensure_map(&mut tx, &obj, seg);
            }
            let have = match tx.get(&obj, *last) {
                Ok(Some((automerge::Value::Scalar(s), _))) => to_json(field.kind(), s.as_ref()),
                _ => None,
            };
            if have != want {
                match want {
                    Some(v) => {
                        tx.put(&obj, *last, to_scalar(field.kind(), &v))
                            .expect("map");
                    }
                    None => {
                        tx.delete(&obj, *last).expect("map");
                    }
                }
            }
        }
        for name in ROOT_MAPS {
            ensure_map(&mut tx, &ROOT, name);
        }
        make_field_groups(&mut tx);
        make_ledger_maps(&mut tx);
        let lin = map_at(&mut tx, LINEAGE);
        tx.put(&lin, "id", new_lineage.to_string()).expect("map");
        let erased_map = ensure_map(&mut tx, &lin, "erased");
        for p in &erased {
            tx.put(&erased_map, p.as_str(), prov.at_ms).expect("map");
        }
        commit(tx, prov);
        twin
    }

    fn map(&self, path: &[&str]) -> Option<ObjId> {
        let mut obj = ROOT;
        for seg in path {
            obj = match self.doc.get(&obj, *seg) {
                Ok(Some((automerge::Value::Object(ObjType::Map), id))) => id,
                _ => return None,
            };
        }
        Some(obj)
    }
}

/// Whether dotted `path` is `prefix` or inside it.
fn path_within(path: &str, prefix: &str) -> bool {
    path == prefix || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'.'))
}

fn commit(tx: Transaction<'_>, prov: &Provenance) {
    let msg = serde_json::to_string(&Message {
        v: 1,
        who: prov.who.clone(),
        why: prov.why.clone(),
    })
    .expect("a message serialises");
    tx.commit_with(
        CommitOptions::default()
            .with_message(msg)
            .with_time(prov.at_ms),
    );
}

/// The ledger maps every vault has, created with the twin so that computers merging
/// later share them (`maps_at` reads maps made concurrently anyway).
const LEDGER_MAPS: [&str; 4] = ["agencies", "issued", "revoked", "requests"];

fn make_ledger_maps(tx: &mut Transaction<'_>) {
    let grants = ensure_map(tx, &ROOT, "grants");
    for name in LEDGER_MAPS {
        ensure_map(tx, &grants, name);
    }
    let consents = ensure_map(tx, &ROOT, CONSENTS);
    for c in Category::ALL.into_iter().filter(|c| c.needs_opt_in()) {
        ensure_map(tx, &consents, c.as_str());
    }
}

/// Creates every group map of the catalogue (`personal.address`, …) up front, so that
/// two computers editing a new group at once write into the same map instead of two
/// conflicting ones.
fn make_field_groups(tx: &mut Transaction<'_>) {
    for field in Catalog::get().fields() {
        let segments: Vec<&str> = field.path().segments().collect();
        let mut obj = ROOT;
        for seg in &segments[..segments.len() - 1] {
            obj = ensure_map(tx, &obj, seg);
        }
    }
}

fn map_at(tx: &mut Transaction<'_>, name: &str) -> ObjId {
    ensure_map(tx, &ROOT, name)
}

fn ensure_map(tx: &mut Transaction<'_>, parent: &ObjId, name: &str) -> ObjId {
    match tx.get(parent, name) {
        Ok(Some((automerge::Value::Object(ObjType::Map), id))) => id,
        _ => tx
            .put_object(parent, name, ObjType::Map)
            .expect("parent is a map"),
    }
}

fn scalar_str(doc: &Automerge, obj: &ObjId, key: &str) -> Option<String> {
    match doc.get(obj, key) {
        Ok(Some((automerge::Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Str(t) => Some(t.to_string()),
            _ => None,
        },
        _ => None,
    }
}

fn to_scalar(kind: Kind, v: &Value) -> ScalarValue {
    match (kind, v) {
        (Kind::Text, Value::String(s)) => ScalarValue::Str(s.as_str().into()),
        (Kind::Integer | Kind::Number, Value::Number(n)) if n.is_i64() => {
            ScalarValue::Int(n.as_i64().expect("checked"))
        }
        (Kind::Integer | Kind::Number, Value::Number(n)) => {
            ScalarValue::F64(n.as_f64().unwrap_or(0.0))
        }
        (_, other) => ScalarValue::Str(other.to_string().into()),
    }
}

fn to_json(kind: Kind, s: &ScalarValue) -> Option<Value> {
    match (kind, s) {
        (Kind::Text, ScalarValue::Str(t)) => Some(Value::String(t.to_string())),
        (Kind::Integer | Kind::Number, ScalarValue::Int(i)) => Some(Value::from(*i)),
        (Kind::Number, ScalarValue::F64(f)) => serde_json::Number::from_f64(*f).map(Value::Number),
        (Kind::List, ScalarValue::Str(t)) => serde_json::from_str(t).ok(),
        _ => None,
    }
}

/// Every non-empty field as a nested JSON object, as `twin show --json` prints it.
pub fn nest(values: &[(FieldPath, Value)]) -> Value {
    let mut root = serde_json::Map::new();
    for (path, value) in values {
        let segments: Vec<&str> = path.segments().collect();
        let (last, parents) = segments.split_last().expect("paths have a segment");
        let mut cur = &mut root;
        for seg in parents {
            cur = cur
                .entry(seg.to_string())
                .or_insert_with(|| Value::Object(serde_json::Map::new()))
                .as_object_mut()
                .expect("only objects are inserted for parents");
        }
        cur.insert(last.to_string(), value.clone());
    }
    Value::Object(root)
}

/// Plain-language names of fields for audit lines: titles, never values.
pub fn describe(paths: &[FieldPath]) -> String {
    let names: Vec<String> = paths
        .iter()
        .map(|p| match Catalog::get().field(p.as_str()) {
            Ok(f) => format!("{} ({p})", lower_first(f.title())),
            Err(_) => p.to_string(),
        })
        .collect();
    match names.as_slice() {
        [] => "nothing".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Plain-language names of fields, titles only: "date of birth and postcode".
pub fn describe_titles(paths: &[FieldPath]) -> String {
    let names: Vec<String> = paths
        .iter()
        .map(|p| match Catalog::get().field(p.as_str()) {
            Ok(f) => lower_first(f.title()),
            Err(_) => p.to_string(),
        })
        .collect();
    match names.as_slice() {
        [] => "nothing".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// "Full name" → "full name", but "GP practice" stays as it is.
pub fn lower_first(title: &str) -> String {
    let mut chars = title.chars();
    match (chars.next(), chars.next()) {
        (Some(a), Some(b)) if a.is_uppercase() && !b.is_uppercase() => {
            let mut s = a.to_lowercase().to_string();
            s.push_str(&title[a.len_utf8()..]);
            s
        }
        _ => title.to_owned(),
    }
}

#[cfg(test)]
mod tests;
