//! What rules are evaluated against: the citizen's field values, which opt-in categories
//! are turned on, and the records agencies sent.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use cel_interpreter::Value;
use serde_json::Value as Json;
use time::Date;
use twin_schema::{Catalog, Kind};
use twin_types::{AgencyId, Category, FieldPath};

use crate::env::{self, Numbers};
use crate::format;
use crate::limits::MAX_RECORDS_PER_TYPE;

/// Why a value could not be added to [`Facts`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FactsError {
    /// Not a field of the twin.
    #[error(transparent)]
    UnknownField(#[from] twin_schema::UnknownField),
    /// The value breaks the field's rules.
    #[error(transparent)]
    Invalid(#[from] twin_schema::InvalidValue),
    /// A field in a category the citizen has not turned on.
    #[error("{0} is in {1}, which you have not turned on")]
    NotOptedIn(FieldPath, Category),
    /// A fragment that is not twin-shaped JSON.
    #[error(transparent)]
    Fragment(#[from] twin_schema::FragmentError),
    /// A `PATH=VALUE` that could not be read.
    #[error("write a change as PATH=VALUE, like government.tax.annual_income=15000")]
    Override,
}

/// A record an agency sent, as rules see it. `Debug` shows its type, agency and date,
/// never its body.
#[derive(Clone, PartialEq)]
pub struct RecordFact {
    /// Its type, e.g. `income-statement/v1`.
    pub record_type: String,
    /// The agency that issued it.
    pub agency: AgencyId,
    /// The day it was issued.
    pub issued_on: Date,
    /// Its body.
    pub body: Json,
}

impl fmt::Debug for RecordFact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordFact")
            .field("record_type", &self.record_type)
            .field("agency", &self.agency)
            .field("issued_on", &self.issued_on)
            .finish_non_exhaustive()
    }
}

/// The citizen's values and choices, for one evaluation.
///
/// Personal and government fields are always available; health and social fields only
/// after [`Facts::opt_in`]. A field in a category that is not turned on is never placed
/// where a rule can read it: a criterion that needs it is undecided ("unavailable").
/// `Debug` shows which fields are set, never their values.
#[derive(Clone, Default)]
pub struct Facts {
    values: BTreeMap<FieldPath, Json>,
    opted_in: BTreeSet<Category>,
    records: Vec<RecordFact>,
}

impl fmt::Debug for Facts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Facts")
            .field("set", &self.values.keys().collect::<Vec<_>>())
            .field("opted_in", &self.opted_in)
            .field("records", &self.records)
            .finish()
    }
}

impl Facts {
    /// No values, no opt-in category, no records.
    pub fn new() -> Facts {
        Facts::default()
    }

    /// Turns on an opt-in category (health, social); a no-op for the others.
    pub fn opt_in(&mut self, category: Category) -> &mut Facts {
        if category.needs_opt_in() {
            self.opted_in.insert(category);
        }
        self
    }

    /// Whether rules may read fields of `category`.
    pub fn is_available(&self, category: Category) -> bool {
        !category.needs_opt_in() || self.opted_in.contains(&category)
    }

    /// Sets a field's value, checked against the field's schema.
    pub fn set(&mut self, path: &str, value: Json) -> Result<&mut Facts, FactsError> {
        let field = Catalog::get().field(path)?;
        let category = field.category();
        if !self.is_available(category) {
            return Err(FactsError::NotOptedIn(field.path().clone(), category));
        }
        field.check(&value)?;
        self.values.insert(field.path().clone(), value);
        Ok(self)
    }

    /// Sets every field of a twin-shaped JSON fragment
    /// (`{"personal": {"date_of_birth": "1958-03-14"}}`), all or nothing.
    pub fn set_fragment(&mut self, fragment: &Json) -> Result<&mut Facts, FactsError> {
        let pairs = Catalog::get().flatten(fragment)?;
        for (path, _) in &pairs {
            if let Some(c) = path.category().filter(|c| !self.is_available(*c)) {
                return Err(FactsError::NotOptedIn(path.clone(), c));
            }
        }
        self.values.extend(pairs);
        Ok(self)
    }

    /// Removes a field's value.
    pub fn unset(&mut self, path: &FieldPath) -> &mut Facts {
        self.values.remove(path);
        self
    }

    /// A field's value, if set.
    pub fn get(&self, path: &FieldPath) -> Option<&Json> {
        self.values.get(path)
    }

    /// Adds a record. Only the newest [`MAX_RECORDS_PER_TYPE`] of each type are kept.
    pub fn add_record(&mut self, record: RecordFact) -> &mut Facts {
        self.records.push(record);
        // Newest first, stable for records of the same day.
        self.records.sort_by_key(|r| std::cmp::Reverse(r.issued_on));
        let mut seen: HashMap<String, usize> = HashMap::new();
        self.records.retain(|r| {
            let n = seen.entry(r.record_type.clone()).or_default();
            *n += 1;
            *n <= MAX_RECORDS_PER_TYPE
        });
        self
    }

    /// These facts with some values replaced (for "what if my income changed?"); each
    /// override is checked like [`Facts::set`].
    pub fn with_overrides(&self, overrides: &[(FieldPath, Json)]) -> Result<Facts, FactsError> {
        let mut out = self.clone();
        for (path, value) in overrides {
            out.set(path.as_str(), value.clone())?;
        }
        Ok(out)
    }

    /// Reads a `PATH=VALUE` override as the command line gives it: the value is parsed
    /// by the field's own rules (numbers, dates, JSON lists).
    pub fn parse_override(text: &str) -> Result<(FieldPath, Json), FactsError> {
        let (path, value) = text.split_once('=').ok_or(FactsError::Override)?;
        let field = Catalog::get().field(path.trim())?;
        let value = field.parse_text(value.trim())?;
        Ok((field.path().clone(), value))
    }

    /// The category maps rules see: only available categories, each a nested map of the
    /// values set in it. Every group of fields is present even when empty (as in the
    /// twin), so `has(personal.address.town)` is `false`, not an error, when no part of
    /// the address is set.
    pub(crate) fn categories(&self) -> Vec<(String, Value)> {
        let catalog = Catalog::get();
        Category::ALL
            .into_iter()
            .filter(|c| self.is_available(*c))
            .map(|c| {
                let mut tree = Tree::default();
                for field in catalog.fields().filter(|f| f.category() == c) {
                    let segments: Vec<&str> = field.path().segments().skip(1).collect();
                    if let Some((_, groups)) = segments.split_last() {
                        tree.group(groups);
                    }
                }
                for (path, value) in &self.values {
                    if path.category() != Some(c) {
                        continue;
                    }
                    let numbers = match catalog.field(path.as_str()).map(|f| f.kind()) {
                        Ok(Kind::Integer) => Numbers::Int,
                        _ => Numbers::Double,
                    };
                    let segments: Vec<&str> = path.segments().skip(1).collect();
                    tree.insert(&segments, env::to_cel(value, numbers));
                }
                (c.as_str().to_owned(), tree.into_value())
            })
            .collect()
    }

    /// The records list rules reach through `has_record`, `record` and `records_of`:
    /// maps of `type`, `agency`, `issued` and `body`, newest first. Every number in a
    /// body is a double.
    pub(crate) fn records_value(&self) -> Value {
        Value::List(std::sync::Arc::new(
            self.records
                .iter()
                .map(|r| {
                    env::map(HashMap::from([
                        ("type".to_owned(), Value::from(r.record_type.clone())),
                        ("agency".to_owned(), Value::from(r.agency.as_str())),
                        ("issued".to_owned(), Value::from(format::iso(r.issued_on))),
                        ("body".to_owned(), env::to_cel(&r.body, Numbers::Double)),
                    ]))
                })
                .collect(),
        ))
    }

    /// The values of `paths` that are set and available.
    pub(crate) fn values_of<'a>(
        &self,
        paths: impl IntoIterator<Item = &'a FieldPath>,
    ) -> BTreeMap<FieldPath, Json> {
        paths
            .into_iter()
            .filter(|p| p.category().is_some_and(|c| self.is_available(c)))
            .filter_map(|p| Some((p.clone(), self.values.get(p)?.clone())))
            .collect()
    }

    /// Whether a record of type `kind` is held.
    pub(crate) fn has_record_type(&self, kind: &str) -> bool {
        self.records.iter().any(|r| r.record_type == kind)
    }

    /// Whether `path` has a value.
    pub(crate) fn has(&self, path: &FieldPath) -> bool {
        self.values.contains_key(path)
    }
}

/// A nested map being built from dotted paths.
#[derive(Default)]
struct Tree {
    leaves: HashMap<String, Value>,
    groups: HashMap<String, Tree>,
}

impl Tree {
    fn insert(&mut self, segments: &[&str], value: Value) {
        match segments {
            [] => {}
            [last] => {
                self.leaves.insert((*last).to_owned(), value);
            }
            [first, rest @ ..] => self
                .groups
                .entry((*first).to_owned())
                .or_default()
                .insert(rest, value),
        }
    }

    fn group(&mut self, segments: &[&str]) {
        if let [first, rest @ ..] = segments {
            self.groups
                .entry((*first).to_owned())
                .or_default()
                .group(rest);
        }
    }

    fn into_value(self) -> Value {
        let mut all = self.leaves;
        for (k, t) in self.groups {
            all.insert(k, t.into_value());
        }
        env::map(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_checked_and_opt_in_is_enforced() {
        let mut f = Facts::new();
        f.set("personal.date_of_birth", json!("1958-03-14"))
            .unwrap();
        assert!(matches!(
            f.set("personal.date_of_birth", json!("14/03/1958")),
            Err(FactsError::Invalid(_))
        ));
        assert!(matches!(
            f.set("personal.dob", json!("x")),
            Err(FactsError::UnknownField(_))
        ));
        let e = f
            .set("health.gp_practice", json!("Park Lane Surgery"))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "health.gp_practice is in health, which you have not turned on"
        );
        f.opt_in(Category::Health);
        f.set("health.gp_practice", json!("Park Lane Surgery"))
            .unwrap();
        assert_eq!(f.categories().len(), 3);
    }

    #[test]
    fn overrides_parse_like_the_command_line() {
        let (p, v) = Facts::parse_override("government.tax.annual_income=15000").unwrap();
        assert_eq!(p.as_str(), "government.tax.annual_income");
        assert_eq!(v, json!(15000.0));
        assert!(matches!(
            Facts::parse_override("nothing"),
            Err(FactsError::Override)
        ));
    }

    #[test]
    fn records_keep_the_newest_of_each_type() {
        let mut f = Facts::new();
        let agency = AgencyId::parse("sandbox-tax").unwrap();
        for day in 1..=(MAX_RECORDS_PER_TYPE as u8 + 5).min(200) {
            let issued_on = Date::from_ordinal_date(2026, u16::from(day)).unwrap();
            f.add_record(RecordFact {
                record_type: "income-statement/v1".into(),
                agency: agency.clone(),
                issued_on,
                body: json!({"day": day}),
            });
        }
        assert_eq!(f.records.len(), MAX_RECORDS_PER_TYPE);
        assert_eq!(
            f.records[0].body,
            json!({"day": MAX_RECORDS_PER_TYPE as u8 + 5})
        );
    }
}
