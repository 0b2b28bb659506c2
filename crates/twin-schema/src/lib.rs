//! The twin's field catalogue and its JSON Schemas.
//!
//! `schemas/twin/fields.schema.json` is the single source of truth: every leaf of its
//! property tree is a field the citizen can hold, with a title, a hint written for the
//! citizen and the rules its value must meet. This crate walks that tree once, compiles a
//! validator per field and answers three questions for the rest of the engine: *is this a
//! field?* (with "did you mean" suggestions), *is this value allowed?* (naming the rule,
//! never echoing the value), and *which fields does this JSON fragment set?*
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use serde_json::Value;
use twin_types::{Category, FieldPath};

mod records;
pub use records::{RecordBodyError, check_record, record_types};

/// The field schema, as committed under `schemas/twin/`.
pub const FIELDS_SCHEMA: &str = include_str!("../../../schemas/twin/fields.schema.json");

/// How a field's value is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string.
    Text,
    /// A whole number.
    Integer,
    /// A number that may have a fraction.
    Number,
    /// A list of structured entries (immunisations, medications).
    List,
}

/// One field of the twin.
pub struct Field {
    path: FieldPath,
    title: String,
    hint: String,
    kind: Kind,
    validator: jsonschema::Validator,
}

impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Field")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// A path that names no field (nor a group of fields).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("there is no field called {path}{}", did_you_mean(.suggestions))]
pub struct UnknownField {
    /// The path asked for.
    pub path: String,
    /// The nearest real paths, best first.
    pub suggestions: Vec<String>,
}

fn did_you_mean(s: &[String]) -> String {
    match s {
        [] => "; run `twin show` to see every field".to_owned(),
        [one] => format!("; did you mean {one}?"),
        many => format!("; did you mean one of: {}?", many.join(", ")),
    }
}

/// A value that does not meet its field's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{title} does not accept that value: {rule}. {hint}")]
pub struct InvalidValue {
    /// The field.
    pub path: FieldPath,
    /// The field's name in plain words.
    pub title: String,
    /// The rule it broke, without the value itself.
    pub rule: String,
    /// What to enter instead, for the citizen.
    pub hint: String,
}

/// Why a JSON fragment could not be read as twin fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FragmentError {
    /// The fragment is not a JSON object of categories.
    #[error(
        "the file must hold a JSON object like {{\"personal\": {{\"full_name\": \"Alex Smith\"}}}}"
    )]
    NotAnObject,
    /// A key that names no field.
    #[error(transparent)]
    Unknown(#[from] UnknownField),
    /// A value that breaks its field's rules.
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
}

impl Field {
    /// The field's path.
    pub fn path(&self) -> &FieldPath {
        &self.path
    }
    /// A short title for people ("Postcode").
    pub fn title(&self) -> &str {
        &self.title
    }
    /// What to enter, for people ("Enter a postcode like LS1 4AP").
    pub fn hint(&self) -> &str {
        &self.hint
    }
    /// The value's shape.
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// The category the field lives in.
    pub fn category(&self) -> Category {
        self.path
            .category()
            .expect("catalogue paths start with a category")
    }

    /// Checks `value` against the field's schema. The error names the first broken rule
    /// with the value masked, so it is safe to show and to log.
    pub fn check(&self, value: &Value) -> Result<(), InvalidValue> {
        match self.validator.iter_errors(value).next() {
            None => Ok(()),
            Some(e) => Err(InvalidValue {
                path: self.path.clone(),
                title: self.title.clone(),
                rule: rule_without_value(&e),
                hint: self.hint.clone(),
            }),
        }
    }

    /// Reads text typed on a command line as this field's value, then checks it.
    /// Numbers parse as numbers, lists as JSON; everything else stays text.
    pub fn parse_text(&self, text: &str) -> Result<Value, InvalidValue> {
        let bad = |rule: &str| InvalidValue {
            path: self.path.clone(),
            title: self.title.clone(),
            rule: rule.to_owned(),
            hint: self.hint.clone(),
        };
        let value = match self.kind {
            Kind::Text => Value::String(text.to_owned()),
            Kind::Integer => text
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| bad("it must be a whole number"))?,
            Kind::Number => {
                let n: f64 = text
                    .trim()
                    .parse()
                    .map_err(|_| bad("it must be a number"))?;
                serde_json::Number::from_f64(n)
                    .map(Value::Number)
                    .ok_or_else(|| bad("it must be a finite number"))?
            }
            Kind::List => serde_json::from_str(text).map_err(|_| bad("it must be a JSON list"))?,
        };
        self.check(&value)?;
        Ok(value)
    }
}

/// The broken rule in words that never quote the value. `masked` hides the value
/// itself, but some rules name parts of it (an unexpected key inside a list entry), so
/// those are described without them.
fn rule_without_value(e: &jsonschema::ValidationError<'_>) -> String {
    use jsonschema::error::ValidationErrorKind as K;
    match e.kind() {
        K::AdditionalProperties { .. } | K::UnevaluatedProperties { .. } => {
            "an entry has a part whose name is not allowed".to_owned()
        }
        K::PropertyNames { .. } => "an entry has a part with a name that is not allowed".to_owned(),
        // A regular expression means nothing to most people; the hint says what to enter.
        K::Pattern { .. } => "it is not in the expected form".to_owned(),
        _ => e.masked_with("the value").to_string(),
    }
}

/// Every field of the twin, from the committed schema.
#[derive(Debug)]
pub struct Catalog {
    fields: BTreeMap<FieldPath, Field>,
}

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| {
    Catalog::from_schema(FIELDS_SCHEMA).expect("the committed field schema is valid")
});

impl Catalog {
    /// The catalogue built from the committed schema.
    pub fn get() -> &'static Catalog {
        &CATALOG
    }

    /// Builds a catalogue from schema text (tests use this to try other schemas).
    pub fn from_schema(text: &str) -> Result<Catalog, String> {
        let root: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut fields = BTreeMap::new();
        let props = root["properties"]
            .as_object()
            .ok_or("root has no properties")?;
        for (name, sub) in props {
            name.parse::<Category>().map_err(|e| e.to_string())?;
            let path = FieldPath::parse(name).map_err(|e| e.to_string())?;
            collect(&path, sub, &mut fields)?;
        }
        Ok(Catalog { fields })
    }

    /// Every field, in path order.
    pub fn fields(&self) -> impl Iterator<Item = &Field> {
        self.fields.values()
    }

    /// The fields at or inside `prefix` (a field, a group such as `personal.address`, or
    /// a category). Empty if `prefix` names nothing.
    pub fn fields_within<'a>(
        &'a self,
        prefix: &'a FieldPath,
    ) -> impl Iterator<Item = &'a Field> + 'a {
        self.fields
            .values()
            .filter(move |f| f.path.is_within(prefix))
    }

    /// The field at exactly `path`.
    pub fn field(&self, path: &str) -> Result<&Field, UnknownField> {
        FieldPath::parse(path)
            .ok()
            .and_then(|p| self.fields.get(&p))
            .ok_or_else(|| self.unknown(path))
    }

    /// Checks that `path` names a field or a group of fields.
    pub fn known(&self, path: &str) -> Result<FieldPath, UnknownField> {
        match FieldPath::parse(path) {
            Ok(p) if self.fields_within(&p).next().is_some() => Ok(p),
            _ => Err(self.unknown(path)),
        }
    }

    fn unknown(&self, path: &str) -> UnknownField {
        let mut scored: Vec<(f64, &str)> = self
            .fields
            .keys()
            .map(|p| (strsim::jaro_winkler(path, p.as_str()), p.as_str()))
            .chain(
                self.fields
                    .keys()
                    .filter_map(|p| p.segments().last().map(|last| (p, last)))
                    .map(|(p, last)| (strsim::jaro_winkler(path, last), p.as_str())),
            )
            .filter(|(s, _)| *s > 0.75)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut suggestions: Vec<String> = Vec::new();
        for (_, p) in scored {
            if !suggestions.iter().any(|s| s == p) {
                suggestions.push(p.to_owned());
            }
            if suggestions.len() == 3 {
                break;
            }
        }
        UnknownField {
            path: path.chars().take(MAX_SHOWN_PATH).collect(),
            suggestions,
        }
    }

    /// Reads a JSON fragment such as `{"personal": {"address": {"town": "Leeds"}}}` into
    /// `(field, value)` pairs, checking every key and every value. Fails on the first
    /// unknown key or invalid value, so callers can apply all or nothing.
    pub fn flatten(&self, fragment: &Value) -> Result<Vec<(FieldPath, Value)>, FragmentError> {
        let Value::Object(map) = fragment else {
            return Err(FragmentError::NotAnObject);
        };
        let mut out = Vec::new();
        let mut stack: Vec<(String, &Value)> = map.iter().map(|(k, v)| (k.clone(), v)).collect();
        stack.reverse();
        while let Some((path, value)) = stack.pop() {
            if let Ok(field) = self.field(&path) {
                field.check(value)?;
                out.push((field.path.clone(), value.clone()));
                continue;
            }
            match value {
                Value::Object(inner) if self.known(&path).is_ok() => {
                    for (k, v) in inner.iter().rev() {
                        stack.push((format!("{path}.{k}"), v));
                    }
                }
                _ => return Err(self.unknown(&path).into()),
            }
        }
        Ok(out)
    }
}

const MAX_SHOWN_PATH: usize = 80;

fn collect(
    path: &FieldPath,
    node: &Value,
    out: &mut BTreeMap<FieldPath, Field>,
) -> Result<(), String> {
    if node["type"] == "object" {
        let props = node["properties"]
            .as_object()
            .ok_or_else(|| format!("{path} is an object without properties"))?;
        for (name, sub) in props {
            let child = path.child(name).map_err(|e| e.to_string())?;
            collect(&child, sub, out)?;
        }
        return Ok(());
    }
    let kind = match node["type"].as_str() {
        Some("string") => Kind::Text,
        Some("integer") => Kind::Integer,
        Some("number") => Kind::Number,
        Some("array") => Kind::List,
        other => return Err(format!("{path} has unsupported type {other:?}")),
    };
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(node)
        .map_err(|e| format!("{path}: {e}"))?;
    let text = |k: &str| node[k].as_str().unwrap_or_default().to_owned();
    out.insert(
        path.clone(),
        Field {
            path: path.clone(),
            title: text("title"),
            hint: text("x-hint"),
            kind,
            validator,
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const REQUIRED: &[&str] = &[
        "personal.full_name",
        "personal.date_of_birth",
        "personal.email",
        "personal.phone",
        "personal.address.line1",
        "personal.address.town",
        "personal.address.postcode",
        "personal.household.size",
        "personal.preferences.language",
        "personal.preferences.contact_channel",
        "government.tax.reference",
        "government.tax.annual_income",
        "government.tax.return_lines",
        "government.licences.driving.number",
        "government.licences.driving.expires",
        "health.gp_practice",
        "health.immunisations",
        "health.medications",
        "social.feedback",
    ];

    #[test]
    fn every_required_field_exists_with_a_hint() {
        let c = Catalog::get();
        for p in REQUIRED {
            let f = c.field(p).unwrap();
            assert!(!f.hint().is_empty() && !f.title().is_empty(), "{p}");
        }
    }

    #[test]
    fn unknown_paths_suggest_the_nearest() {
        let e = Catalog::get()
            .field("personal.adress.postcode")
            .unwrap_err();
        assert_eq!(e.suggestions[0], "personal.address.postcode");
        let e = Catalog::get().field("postcod").unwrap_err();
        assert!(
            e.suggestions
                .contains(&"personal.address.postcode".to_owned()),
            "{e:?}"
        );
        assert!(e.to_string().contains("did you mean"));
    }

    #[test]
    fn invalid_values_name_the_rule_not_the_value() {
        let f = Catalog::get().field("personal.email").unwrap();
        let e = f.parse_text("canary-not-an-email").unwrap_err();
        assert!(!e.to_string().contains("canary"), "{e}");
        assert!(e.to_string().contains("email"), "{e}");
        let f = Catalog::get().field("personal.household.size").unwrap();
        assert_eq!(f.parse_text("3").unwrap(), json!(3));
        assert!(f.parse_text("31").is_err());
        assert!(f.parse_text("three").is_err());
        let f = Catalog::get().field("personal.date_of_birth").unwrap();
        assert!(
            f.parse_text("1958-02-30").is_err(),
            "format: date is checked"
        );
        assert!(f.parse_text("1958-02-28").is_ok());
    }

    #[test]
    fn fragments_flatten_or_fail_whole() {
        let c = Catalog::get();
        let ok = c
            .flatten(&json!({"personal": {"full_name": "A B", "address": {"town": "Leeds"}}}))
            .unwrap();
        assert_eq!(ok.len(), 2);
        assert!(matches!(
            c.flatten(&json!({"personal": {"full_nam": "A"}})),
            Err(FragmentError::Unknown(_))
        ));
        assert!(matches!(
            c.flatten(&json!({"personal": {"household": {"size": 0}}})),
            Err(FragmentError::Invalid(_))
        ));
        assert!(matches!(
            c.flatten(&json!([1])),
            Err(FragmentError::NotAnObject)
        ));
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    fn json() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("personal".to_owned()),
            Just("address".to_owned()),
            Just("town".to_owned()),
            Just("full_name".to_owned()),
            Just("health".to_owned()),
            Just("immunisations".to_owned()),
            "\\PC{0,12}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null)),
            "\\PC{0,30}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 40, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(key.clone(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn flatten_never_panics_and_only_returns_checked_fields(v in json()) {
            if let Ok(pairs) = Catalog::get().flatten(&v) {
                for (path, value) in pairs {
                    let field = Catalog::get().field(path.as_str()).unwrap();
                    prop_assert!(field.check(&value).is_ok());
                }
            }
        }

        #[test]
        fn parse_text_never_panics(path_ix in 0usize..18, text in "\\PC{0,60}") {
            let field = Catalog::get().fields().nth(path_ix).unwrap();
            let _ = field.parse_text(&text);
        }
    }
}
