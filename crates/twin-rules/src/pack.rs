//! The rule pack format (`schemas/rules/rule-pack.v1.schema.json`) and loading: schema,
//! dates, counts, every expression and template compiled and analysed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::Value as Json;
use time::Date;
use twin_types::{AgencyId, FieldPath};

use crate::expr::{Expr, ExprError};
use crate::format;
use crate::ids::{CriterionName, PackId, RuleId};
use crate::limits::Limits;
use crate::template::{Template, TemplateError};

/// The rule pack schema, as committed under `schemas/rules/`.
pub const RULE_PACK_SCHEMA: &str = include_str!("../../../schemas/rules/rule-pack.v1.schema.json");

static VALIDATOR: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let schema: Json =
        serde_json::from_str(RULE_PACK_SCHEMA).expect("the committed schema is JSON");
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the committed schema is valid")
});

/// What a rule does for the citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    /// "You may be eligible for …".
    Eligibility,
    /// Proposed values for a form, such as a tax return.
    Prefill,
    /// Something due by a date.
    Reminder,
}

/// Which part of a rule an error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Part {
    /// A criterion's `when`.
    Criterion(CriterionName),
    /// A criterion's `explain`.
    Explanation(CriterionName),
    /// A pre-fill line's `value`.
    PrefillValue(String),
    /// A pre-fill line's `when`.
    PrefillWhen(String),
    /// The reminder's `due`.
    ReminderDue,
    /// The reminder's `message`.
    ReminderMessage,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Part::Criterion(n) => write!(f, "criterion \"{n}\""),
            Part::Explanation(n) => write!(f, "the explanation of criterion \"{n}\""),
            Part::PrefillValue(l) => write!(f, "the value of line {l}"),
            Part::PrefillWhen(l) => write!(f, "the condition of line {l}"),
            Part::ReminderDue => f.write_str("the reminder's due date"),
            Part::ReminderMessage => f.write_str("the reminder's message"),
        }
    }
}

/// Why a rule pack was refused when it loaded. Every message is plain and names the rule
/// and the part at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PackError {
    /// Larger than allowed.
    #[error("this rule pack is too large (more than {max} bytes)")]
    TooLarge {
        /// The bound.
        max: usize,
    },
    /// Not JSON.
    #[error("this rule pack is not readable: it is not JSON")]
    NotJson,
    /// A format version this program does not know.
    #[error("this rule pack uses a newer format; update Citizen Twin to use it")]
    UnknownVersion,
    /// The JSON does not follow the format.
    #[error("this rule pack does not follow the rule pack format: {rule} (at {at})")]
    Schema {
        /// Where, as a JSON pointer.
        at: String,
        /// The rule broken (values masked).
        rule: String,
    },
    /// More rules than allowed.
    #[error("this rule pack has more than {max} rules")]
    TooManyRules {
        /// The bound.
        max: usize,
    },
    /// A rule with more criteria or lines than allowed.
    #[error("rule {rule} has more than {max} {what}")]
    TooManyParts {
        /// The rule.
        rule: RuleId,
        /// "criteria" or "pre-fill lines".
        what: &'static str,
        /// The bound.
        max: usize,
    },
    /// A period that ends before it starts.
    #[error("{what} ends before it starts")]
    BadPeriod {
        /// "this rule pack" or "rule X".
        what: String,
    },
    /// The pack is not in force yet.
    #[error("this rule pack from {publisher} only applies from {from}")]
    NotYetValid {
        /// Its publisher.
        publisher: AgencyId,
        /// Its first day, in words.
        from: String,
    },
    /// The pack has expired.
    #[error(
        "this rule pack from {publisher} expired on {until}; ask {publisher} for a current one"
    )]
    Expired {
        /// Its publisher.
        publisher: AgencyId,
        /// Its last day, in words.
        until: String,
    },
    /// A rule has expired.
    #[error("rule {rule} in this pack expired on {until}; ask the publisher for a current pack")]
    RuleExpired {
        /// The rule.
        rule: RuleId,
        /// Its last day, in words.
        until: String,
    },
    /// Two rules with the same id and version, or overlapping versions of one id.
    #[error("rule {rule} appears twice for the same days; each version needs its own period")]
    DuplicateRule {
        /// The rule.
        rule: RuleId,
    },
    /// Two criteria of one rule with the same name.
    #[error("rule {rule} has two criteria called {name}")]
    DuplicateCriterion {
        /// The rule.
        rule: RuleId,
        /// The name.
        name: CriterionName,
    },
    /// An expression was refused.
    #[error("rule {rule}, {part}: {error}")]
    Expression {
        /// The rule.
        rule: RuleId,
        /// Which part.
        part: Part,
        /// Why.
        error: ExprError,
    },
    /// A template was refused.
    #[error("rule {rule}, {part}: {error}")]
    Template {
        /// The rule.
        rule: RuleId,
        /// Which part.
        part: Part,
        /// Why.
        error: Box<TemplateError>,
    },
    /// The whole pack could cost too much to evaluate.
    #[error("this rule pack could take up to {cost} steps to evaluate; at most {max} are allowed")]
    TooCostly {
        /// Its worst case.
        cost: u64,
        /// The bound.
        max: u64,
    },
}

// ---- the wire format (after the schema check) ----

#[derive(Deserialize)]
struct PackWire {
    publisher: AgencyId,
    pack: PackId,
    version: u32,
    title: String,
    issued_at: String,
    valid_from: String,
    valid_until: String,
    rules: Vec<RuleWire>,
}

#[derive(Deserialize)]
struct RuleWire {
    id: RuleId,
    version: u32,
    title: String,
    kind: RuleKind,
    source: String,
    valid_from: String,
    valid_until: String,
    purpose: String,
    summary: String,
    criteria: Vec<CriterionWire>,
    #[serde(default)]
    prefill: Vec<LineWire>,
    remind: Option<RemindWire>,
}

#[derive(Deserialize)]
struct CriterionWire {
    name: CriterionName,
    when: String,
    explain: String,
    missing: Option<String>,
}

#[derive(Deserialize)]
struct LineWire {
    line: String,
    label: String,
    value: String,
    when: Option<String>,
    missing: Option<String>,
}

#[derive(Deserialize)]
struct RemindWire {
    due: String,
    within_days: u32,
    message: String,
}

// ---- the loaded model ----

/// A loaded, checked rule pack. Immutable; cheap to evaluate many times.
#[derive(Debug, Clone)]
pub struct RulePack {
    pub(crate) publisher: AgencyId,
    pub(crate) id: PackId,
    pub(crate) version: u32,
    pub(crate) title: String,
    pub(crate) issued_at: Date,
    pub(crate) valid_from: Date,
    pub(crate) valid_until: Date,
    pub(crate) rules: Vec<Rule>,
}

/// One rule of a pack.
#[derive(Debug, Clone)]
pub struct Rule {
    pub(crate) id: RuleId,
    pub(crate) version: u32,
    pub(crate) title: String,
    pub(crate) kind: RuleKind,
    pub(crate) source: String,
    pub(crate) valid_from: Date,
    pub(crate) valid_until: Date,
    pub(crate) purpose: String,
    pub(crate) summary: String,
    pub(crate) criteria: Vec<Criterion>,
    pub(crate) prefill: Vec<Line>,
    pub(crate) remind: Option<Remind>,
    pub(crate) fields_read: BTreeSet<FieldPath>,
    pub(crate) records_read: BTreeSet<String>,
}

/// One named criterion of a rule.
#[derive(Debug, Clone)]
pub struct Criterion {
    pub(crate) name: CriterionName,
    pub(crate) when: Expr,
    pub(crate) explain: Template,
    pub(crate) missing: Option<String>,
    pub(crate) fields_read: BTreeSet<FieldPath>,
}

#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub(crate) line: String,
    pub(crate) label: String,
    pub(crate) value: Expr,
    pub(crate) when: Option<Expr>,
    pub(crate) missing: Option<String>,
    pub(crate) fields_read: BTreeSet<FieldPath>,
}

#[derive(Debug, Clone)]
pub(crate) struct Remind {
    pub(crate) due: Expr,
    pub(crate) within_days: u32,
    pub(crate) message: Template,
    pub(crate) fields_read: BTreeSet<FieldPath>,
}

impl Rule {
    /// Its id.
    pub fn id(&self) -> &RuleId {
        &self.id
    }
    /// Its version.
    pub fn version(&self) -> u32 {
        self.version
    }
    /// Its title ("Pension Credit").
    pub fn title(&self) -> &str {
        &self.title
    }
    /// What it does.
    pub fn kind(&self) -> RuleKind {
        self.kind
    }
    /// The published policy it implements (an `https` address).
    pub fn source(&self) -> &str {
        &self.source
    }
    /// The purpose code, on the publisher's card, of a share made from it.
    pub fn purpose(&self) -> &str {
        &self.purpose
    }
    /// What it tells the citizen when it applies.
    pub fn summary(&self) -> &str {
        &self.summary
    }
    /// First and last day it is in force.
    pub fn valid(&self) -> (Date, Date) {
        (self.valid_from, self.valid_until)
    }
    /// Whether it is in force on `day`.
    pub fn in_force(&self, day: Date) -> bool {
        self.valid_from <= day && day <= self.valid_until
    }
    /// Every field it reads (criteria, explanations, lines, reminder), computed from its
    /// expressions: exactly what a share made from it should hold.
    pub fn fields_read(&self) -> &BTreeSet<FieldPath> {
        &self.fields_read
    }
    /// The record types it reads.
    pub fn records_read(&self) -> &BTreeSet<String> {
        &self.records_read
    }
    /// Its criteria.
    pub fn criteria(&self) -> &[Criterion] {
        &self.criteria
    }
}

impl Rule {
    /// Every compiled expression of the rule, in evaluation order: each criterion's test
    /// and placeholders, each line's condition and value, the reminder's date and
    /// placeholders.
    pub(crate) fn exprs(&self) -> impl Iterator<Item = &Expr> {
        let criteria = self
            .criteria
            .iter()
            .flat_map(|c| std::iter::once(&c.when).chain(c.explain.exprs()));
        let lines = self
            .prefill
            .iter()
            .flat_map(|l| l.when.iter().chain(std::iter::once(&l.value)));
        let remind = self
            .remind
            .iter()
            .flat_map(|m| std::iter::once(&m.due).chain(m.message.exprs()));
        criteria.chain(lines).chain(remind)
    }
}

impl Criterion {
    /// Its name.
    pub fn name(&self) -> &CriterionName {
        &self.name
    }
    /// The fields its test and explanation read.
    pub fn fields_read(&self) -> &BTreeSet<FieldPath> {
        &self.fields_read
    }
}

fn date(text: &str) -> Date {
    // The schema checked the form and `format: date` the calendar.
    format::parse_iso(text).unwrap_or(Date::MIN)
}

impl RulePack {
    /// Loads a pack from its JSON payload (as `twin_protocol::verify_rule_pack` returns
    /// it), with [`Limits::DEFAULT`], and checks it is in force on `today`.
    pub fn load(payload_json: &[u8], today: Date) -> Result<RulePack, PackError> {
        RulePack::load_with(payload_json, today, &Limits::DEFAULT)
    }

    /// [`RulePack::load`] with other bounds.
    ///
    /// In order: size · JSON · format version · counts · schema · periods (pack, then
    /// each rule: a rule that has ended is refused; one still to come is kept and
    /// evaluated from its first day) · ids unique (a rule id may repeat with another
    /// version for another period) · every expression and template (bounded before
    /// parsing, then analysed: fields read, depth, cost) · the pack's total cost.
    pub fn load_with(
        payload_json: &[u8],
        today: Date,
        limits: &Limits,
    ) -> Result<RulePack, PackError> {
        if payload_json.len() > limits.max_pack_bytes {
            return Err(PackError::TooLarge {
                max: limits.max_pack_bytes,
            });
        }
        let json: Json = serde_json::from_slice(payload_json).map_err(|_| PackError::NotJson)?;
        if json.get("v").is_some_and(|v| v != 1) {
            return Err(PackError::UnknownVersion);
        }
        if let Some(rules) = json.get("rules").and_then(Json::as_array)
            && rules.len() > limits.max_rules
        {
            return Err(PackError::TooManyRules {
                max: limits.max_rules,
            });
        }
        if let Some(e) = VALIDATOR.iter_errors(&json).next() {
            return Err(PackError::Schema {
                at: e.instance_path().to_string(),
                rule: e
                    .masked_with("the value")
                    .to_string()
                    .chars()
                    .take(300)
                    .collect(),
            });
        }
        let wire: PackWire = serde_json::from_value(json).map_err(|e| PackError::Schema {
            at: String::new(),
            rule: e.to_string().chars().take(300).collect(),
        })?;
        let (valid_from, valid_until) = (date(&wire.valid_from), date(&wire.valid_until));
        if valid_until < valid_from {
            return Err(PackError::BadPeriod {
                what: "this rule pack".into(),
            });
        }
        if today < valid_from {
            return Err(PackError::NotYetValid {
                publisher: wire.publisher,
                from: format::long_date(valid_from),
            });
        }
        if today > valid_until {
            return Err(PackError::Expired {
                publisher: wire.publisher,
                until: format::long_date(valid_until),
            });
        }
        let mut rules: Vec<Rule> = Vec::with_capacity(wire.rules.len());
        let mut total: u64 = 0;
        for r in wire.rules {
            let rule = compile_rule(r, today, limits)?;
            if rules.iter().any(|o| {
                o.id == rule.id
                    && (o.version == rule.version
                        || (o.valid_from <= rule.valid_until && rule.valid_from <= o.valid_until))
            }) {
                return Err(PackError::DuplicateRule { rule: rule.id });
            }
            total = total.saturating_add(rule_cost(&rule));
            if total > limits.max_pack_cost {
                return Err(PackError::TooCostly {
                    cost: total,
                    max: limits.max_pack_cost,
                });
            }
            rules.push(rule);
        }
        Ok(RulePack {
            publisher: wire.publisher,
            id: wire.pack,
            version: wire.version,
            title: wire.title,
            issued_at: date(&wire.issued_at),
            valid_from,
            valid_until,
            rules,
        })
    }

    /// The agency that published (and signed) it.
    pub fn publisher(&self) -> &AgencyId {
        &self.publisher
    }
    /// Its id among the publisher's packs.
    pub fn id(&self) -> &PackId {
        &self.id
    }
    /// Its version; a newer pack of the same id replaces an older one.
    pub fn version(&self) -> u32 {
        self.version
    }
    /// Its title.
    pub fn title(&self) -> &str {
        &self.title
    }
    /// When it was issued.
    pub fn issued_at(&self) -> Date {
        self.issued_at
    }
    /// First and last day it may be used.
    pub fn valid(&self) -> (Date, Date) {
        (self.valid_from, self.valid_until)
    }
    /// Whether it may be used on `day`.
    pub fn in_force(&self, day: Date) -> bool {
        self.valid_from <= day && day <= self.valid_until
    }
    /// Every rule, in pack order (all versions).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
    /// The version of rule `id` in force on `day`.
    pub fn rule(&self, id: &RuleId, day: Date) -> Option<&Rule> {
        self.rules.iter().find(|r| &r.id == id && r.in_force(day))
    }
    /// Rule `id` at exactly `version`, in force or not.
    pub fn rule_version(&self, id: &RuleId, version: u32) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| &r.id == id && r.version == version)
    }
    /// How many compiled expressions the pack holds (tests, placeholders, values, dates).
    #[doc(hidden)]
    pub fn expression_count(&self) -> usize {
        self.rules.iter().map(|r| r.exprs().count()).sum()
    }

    /// Per purpose code, every field its rules read: what the publisher's card should
    /// list for that purpose, so a share made from a rule never over-asks.
    pub fn purposes(&self) -> BTreeMap<String, BTreeSet<FieldPath>> {
        let mut out: BTreeMap<String, BTreeSet<FieldPath>> = BTreeMap::new();
        for r in &self.rules {
            out.entry(r.purpose.clone())
                .or_default()
                .extend(r.fields_read.iter().cloned());
        }
        out
    }
}

fn rule_cost(r: &Rule) -> u64 {
    let mut cost = 0u64;
    for c in &r.criteria {
        cost = cost
            .saturating_add(c.when.cost)
            .saturating_add(c.explain.cost());
    }
    for l in &r.prefill {
        cost = cost
            .saturating_add(l.value.cost)
            .saturating_add(l.when.as_ref().map_or(0, |w| w.cost));
    }
    if let Some(m) = &r.remind {
        cost = cost
            .saturating_add(m.due.cost)
            .saturating_add(m.message.cost());
    }
    cost
}

fn compile_rule(r: RuleWire, today: Date, limits: &Limits) -> Result<Rule, PackError> {
    let id = r.id;
    let (valid_from, valid_until) = (date(&r.valid_from), date(&r.valid_until));
    if valid_until < valid_from {
        return Err(PackError::BadPeriod {
            what: format!("rule {id}"),
        });
    }
    if today > valid_until {
        return Err(PackError::RuleExpired {
            rule: id,
            until: format::long_date(valid_until),
        });
    }
    if r.criteria.len() > limits.max_criteria {
        return Err(PackError::TooManyParts {
            rule: id,
            what: "criteria",
            max: limits.max_criteria,
        });
    }
    if r.prefill.len() > limits.max_prefill_lines {
        return Err(PackError::TooManyParts {
            rule: id,
            what: "pre-fill lines",
            max: limits.max_prefill_lines,
        });
    }
    let expr = |text: &str, part: Part| {
        Expr::compile(text, limits).map_err(|error| PackError::Expression {
            rule: id.clone(),
            part,
            error,
        })
    };
    let template = |text: &str, part: Part| {
        Template::parse(text, limits).map_err(|error| PackError::Template {
            rule: id.clone(),
            part,
            error: Box::new(error),
        })
    };
    let mut fields_read = BTreeSet::new();
    let mut records_read = BTreeSet::new();
    let mut criteria: Vec<Criterion> = Vec::with_capacity(r.criteria.len());
    for c in r.criteria {
        if criteria.iter().any(|o| o.name == c.name) {
            return Err(PackError::DuplicateCriterion {
                rule: id.clone(),
                name: c.name,
            });
        }
        let when = expr(&c.when, Part::Criterion(c.name.clone()))?;
        let explain = template(&c.explain, Part::Explanation(c.name.clone()))?;
        let fields = explain.with_fields(&when.fields);
        fields_read.extend(fields.iter().cloned());
        records_read.extend(when.records.iter().cloned());
        records_read.extend(explain.records().cloned());
        criteria.push(Criterion {
            name: c.name,
            when,
            explain,
            missing: c.missing,
            fields_read: fields,
        });
    }
    let mut prefill = Vec::with_capacity(r.prefill.len());
    for l in r.prefill {
        let value = expr(&l.value, Part::PrefillValue(l.line.clone()))?;
        let when = l
            .when
            .as_deref()
            .map(|w| expr(w, Part::PrefillWhen(l.line.clone())))
            .transpose()?;
        let fields: BTreeSet<FieldPath> = value
            .fields
            .iter()
            .chain(when.iter().flat_map(|w| w.fields.iter()))
            .cloned()
            .collect();
        fields_read.extend(fields.iter().cloned());
        records_read.extend(value.records.iter().cloned());
        records_read.extend(when.iter().flat_map(|w| w.records.iter().cloned()));
        prefill.push(Line {
            line: l.line,
            label: l.label,
            value,
            when,
            missing: l.missing,
            fields_read: fields,
        });
    }
    let remind = match r.remind {
        None => None,
        Some(m) => {
            let due = expr(&m.due, Part::ReminderDue)?;
            let message = template(&m.message, Part::ReminderMessage)?;
            let fields = message.with_fields(&due.fields);
            fields_read.extend(fields.iter().cloned());
            records_read.extend(due.records.iter().cloned());
            records_read.extend(message.records().cloned());
            Some(Remind {
                due,
                within_days: m.within_days,
                message,
                fields_read: fields,
            })
        }
    };
    Ok(Rule {
        id,
        version: r.version,
        title: r.title,
        kind: r.kind,
        source: r.source,
        valid_from,
        valid_until,
        purpose: r.purpose,
        summary: r.summary,
        criteria,
        prefill,
        remind,
        fields_read,
        records_read,
    })
}
