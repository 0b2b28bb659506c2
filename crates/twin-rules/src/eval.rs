//! Evaluation: every rule in force, criterion by criterion, each outcome explained with
//! the citizen's own values. Nothing here fails: a missing value is *undecided*, a value
//! in a category not turned on is *unavailable* (and never read), a run-time error is
//! *couldn't check*.

use std::collections::{BTreeMap, BTreeSet};

use cel_interpreter::{Context, ExecutionError, Value};
use serde::Serialize;
use serde_json::Value as Json;
use time::Date;
use twin_schema::Catalog;
use twin_types::{Category, FieldPath};

use crate::env::{self, NO_RECORD, Scope};
use crate::expr::{EvalError, Expr};
use crate::facts::Facts;
use crate::format;
use crate::ids::{CriterionName, PackId, RuleId};
use crate::pack::{Criterion, Rule, RuleKind, RulePack};

/// How one rule came out for this citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every criterion is met (for a reminder: and it is due within its window).
    Applies,
    /// At least one criterion is not met (or a reminder is not due yet).
    DoesNotApply,
    /// None failed, but at least one could not be decided: a value is missing or
    /// unavailable. Adding it may decide.
    Undecided,
    /// None failed, but at least one could not be worked out (a fault in the rule, such
    /// as a division by zero).
    CouldNotCheck,
}

/// How one criterion came out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum CriterionResult {
    /// Met.
    Met,
    /// Not met.
    NotMet,
    /// Needs values the twin lacks, or holds in a category not turned on.
    Undecided {
        /// Fields without a value that it needs.
        missing: Vec<FieldPath>,
        /// Fields in categories not turned on: never read.
        unavailable: Vec<FieldPath>,
        /// Records it needs that are not in the twin (types).
        missing_records: Vec<String>,
        /// What to do, for the citizen ("Add your weekly income to check this").
        hint: String,
    },
    /// Could not be worked out.
    CouldNotCheck {
        /// Why, in plain words (never a value).
        why: String,
    },
}

/// One criterion, explained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CriterionOutcome {
    /// Its name.
    pub name: CriterionName,
    /// How it came out.
    #[serde(flatten)]
    pub result: CriterionResult,
    /// The line shown: "Age 67 ≥ 66 ✓", or the hint, or why it could not be checked.
    pub explanation: String,
    /// The fields it reads.
    pub fields_read: BTreeSet<FieldPath>,
}

/// How one pre-fill line came out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum LineResult {
    /// A value to propose.
    Proposed {
        /// The value, as the field or form holds it.
        value: Json,
        /// The value written for people (`18,250.5`).
        shown: String,
    },
    /// The line's condition is false: nothing to propose.
    NotApplicable,
    /// Needs values or records the twin lacks.
    Undecided {
        /// Fields without a value that it needs.
        missing: Vec<FieldPath>,
        /// Fields in categories not turned on: never read.
        unavailable: Vec<FieldPath>,
        /// Records it needs that are not in the twin (types).
        missing_records: Vec<String>,
        /// What to do.
        hint: String,
    },
    /// Could not be worked out.
    CouldNotCheck {
        /// Why.
        why: String,
    },
}

/// One proposed line of a form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineOutcome {
    /// The form's line or box number.
    pub line: String,
    /// What the line is.
    pub label: String,
    /// How it came out.
    #[serde(flatten)]
    pub result: LineResult,
    /// The fields it reads.
    pub fields_read: BTreeSet<FieldPath>,
}

/// A reminder's date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReminderOutcome {
    /// When it is due.
    #[serde(with = "crate::serde_date")]
    pub due: Date,
    /// Days from today to `due`; negative when overdue.
    pub days_left: i64,
    /// Whether it is within the rule's window (or overdue): to show now.
    pub in_window: bool,
    /// The message, with the citizen's values.
    pub message: String,
}

/// What one rule says to this citizen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The publisher of the pack.
    pub publisher: twin_types::AgencyId,
    /// The pack.
    pub pack: PackId,
    /// The rule.
    pub rule: RuleId,
    /// Its version.
    pub version: u32,
    /// What kind of rule.
    pub kind: RuleKind,
    /// Its title ("Pension Credit").
    pub title: String,
    /// What it tells the citizen ("You may be eligible for Pension Credit").
    pub summary: String,
    /// The published policy.
    pub source: String,
    /// The purpose code of a share made from it.
    pub purpose: String,
    /// How it came out.
    pub status: Status,
    /// Each criterion, in the rule's order.
    pub criteria: Vec<CriterionOutcome>,
    /// The criteria's lines joined: "Age 67 ≥ 66 ✓ · Weekly income £180.00 < £218.15 ✓".
    pub explanation: String,
    /// Every field the rule reads: exactly what a share made from it holds.
    pub fields_read: BTreeSet<FieldPath>,
    /// The record types it reads.
    pub records_read: BTreeSet<String>,
    /// Pre-fill lines (pre-fill rules whose criteria are met).
    pub prefill: Vec<LineOutcome>,
    /// The reminder (reminder rules whose criteria are met).
    pub reminder: Option<ReminderOutcome>,
}

/// One evaluation's variables and the facts behind them.
pub(crate) struct Run<'a> {
    facts: &'a Facts,
    today: Date,
    scope: Scope,
}

impl<'a> Run<'a> {
    pub(crate) fn new(facts: &'a Facts, today: Date) -> Run<'a> {
        Run {
            facts,
            today,
            scope: Scope::new(today, facts.categories(), facts.records_value()),
        }
    }

    /// A context over this run's variables.
    pub(crate) fn scope_context(&self) -> Context<'static> {
        self.scope.context()
    }
}

/// What is needed but not there, for a set of fields.
struct Gaps {
    missing: Vec<FieldPath>,
    unavailable: Vec<FieldPath>,
}

impl Gaps {
    fn of(fields: &BTreeSet<FieldPath>, facts: &Facts) -> Gaps {
        let mut missing = Vec::new();
        let mut unavailable = Vec::new();
        for f in fields {
            if !f.category().is_some_and(|c| facts.is_available(c)) {
                unavailable.push(f.clone());
            } else if !facts.has(f) {
                missing.push(f.clone());
            }
        }
        Gaps {
            missing,
            unavailable,
        }
    }

    /// The hint for the citizen: the pack's own words when it gave some, otherwise
    /// made from the fields' titles.
    fn hint(&self, given: Option<&str>, missing_records: &[String]) -> String {
        if !self.unavailable.is_empty() {
            let mut cats: Vec<Category> = self
                .unavailable
                .iter()
                .filter_map(FieldPath::category)
                .collect();
            cats.dedup();
            let names: Vec<&str> = cats.iter().map(|c| c.as_str()).collect();
            return format!(
                "Unavailable: this needs your {} details, which you have not turned on. Nothing was read",
                names.join(" and ")
            );
        }
        if let Some(text) = given {
            return text.to_owned();
        }
        if !self.missing.is_empty() {
            let titles: Vec<String> = self
                .missing
                .iter()
                .map(|p| {
                    let title = Catalog::get()
                        .field(p.as_str())
                        .map(|f| lower_first(f.title()))
                        .unwrap_or_else(|_| p.to_string());
                    // "your date of birth", but "people in your household".
                    if title.contains("your") {
                        title
                    } else {
                        format!("your {title}")
                    }
                })
                .collect();
            return format!("Add {} to check this", join_words(&titles));
        }
        match missing_records {
            [] => "This cannot be decided yet".to_owned(),
            types => format!(
                "This needs a record you do not have yet ({})",
                types.join(", ")
            ),
        }
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn join_words(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// One expression's result, before it is judged.
enum Eval {
    Value(Value),
    Undecided {
        gaps: Gaps,
        missing_records: Vec<String>,
    },
    Failed(String),
}

/// Evaluates `expr` (reading `fields`) for `run`: unavailable fields stop it before
/// anything is read; missing fields make an error "undecided" instead of "couldn't
/// check" (an answer that does not depend on them, such as `has(x) ? … : …`, stands).
fn evaluate(expr: &Expr, fields: &BTreeSet<FieldPath>, run: &Run<'_>, ctx: &Context<'_>) -> Eval {
    let gaps = Gaps::of(fields, run.facts);
    if !gaps.unavailable.is_empty() {
        return Eval::Undecided {
            gaps,
            missing_records: Vec::new(),
        };
    }
    match expr.eval(ctx) {
        Ok(v) => Eval::Value(v),
        Err(EvalError::Cel(ExecutionError::FunctionError { function, message }))
            if function == "record" && message == NO_RECORD =>
        {
            let missing_records = expr
                .records
                .iter()
                .filter(|t| !run.facts.has_record_type(t))
                .cloned()
                .collect();
            Eval::Undecided {
                gaps,
                missing_records,
            }
        }
        Err(_) if !gaps.missing.is_empty() => Eval::Undecided {
            gaps,
            missing_records: Vec::new(),
        },
        Err(e) => Eval::Failed(why(&e)),
    }
}

/// A run-time error in plain words. Never shows a value: the interpreter's own messages
/// print the values involved, which may be the citizen's.
fn why(e: &EvalError) -> String {
    match e {
        EvalError::Stopped => "the rule asks for something this program cannot work out".to_owned(),
        EvalError::Cel(e) => match e {
            ExecutionError::DivisionByZero(_) | ExecutionError::RemainderByZero(_) => {
                "the rule divides by zero".to_owned()
            }
            ExecutionError::Overflow(..) => "a number in the rule became too large".to_owned(),
            ExecutionError::NoSuchKey(k) => {
                format!(
                    "a value the rule needs ({}) is not there",
                    k.chars().take(40).collect::<String>()
                )
            }
            ExecutionError::FunctionError { function, message } => {
                format!(
                    "{function}(): {}",
                    message.chars().take(120).collect::<String>()
                )
            }
            ExecutionError::UnexpectedType { .. }
            | ExecutionError::UnsupportedBinaryOperator(..)
            | ExecutionError::UnsupportedUnaryOperator(..)
            | ExecutionError::ValuesNotComparable(..)
            | ExecutionError::UnsupportedTargetType { .. }
            | ExecutionError::NotSupportedAsMethod { .. }
            | ExecutionError::UnsupportedIndex(..)
            | ExecutionError::UnsupportedListIndex(..)
            | ExecutionError::UnsupportedMapIndex(..)
            | ExecutionError::UnsupportedKeyType(..) => {
                "the rule combines values of different kinds (such as a number and a date)"
                    .to_owned()
            }
            _ => "the rule could not be worked out".to_owned(),
        },
    }
}

fn criterion(c: &Criterion, run: &Run<'_>, ctx: &Context<'_>) -> CriterionOutcome {
    let result = match evaluate(&c.when, &c.fields_read, run, ctx) {
        Eval::Value(Value::Bool(true)) => CriterionResult::Met,
        Eval::Value(Value::Bool(false)) => CriterionResult::NotMet,
        Eval::Value(_) => CriterionResult::CouldNotCheck {
            why: "the rule's test did not give yes or no".to_owned(),
        },
        Eval::Undecided {
            gaps,
            missing_records,
        } => CriterionResult::Undecided {
            hint: gaps.hint(c.missing.as_deref(), &missing_records),
            missing: gaps.missing,
            unavailable: gaps.unavailable,
            missing_records,
        },
        Eval::Failed(why) => CriterionResult::CouldNotCheck { why },
    };
    let explanation = match &result {
        CriterionResult::Met => format!("{} ✓", c.explain.render(ctx)),
        CriterionResult::NotMet => format!("{} ✗", c.explain.render(ctx)),
        CriterionResult::Undecided { hint, .. } => hint.clone(),
        CriterionResult::CouldNotCheck { why } => format!("Couldn't check: {why}"),
    };
    CriterionOutcome {
        name: c.name.clone(),
        result,
        explanation,
        fields_read: c.fields_read.clone(),
    }
}

fn status_of(criteria: &[CriterionOutcome]) -> Status {
    let any = |f: fn(&CriterionResult) -> bool| criteria.iter().any(|c| f(&c.result));
    if any(|r| matches!(r, CriterionResult::NotMet)) {
        Status::DoesNotApply
    } else if any(|r| matches!(r, CriterionResult::CouldNotCheck { .. })) {
        Status::CouldNotCheck
    } else if any(|r| matches!(r, CriterionResult::Undecided { .. })) {
        Status::Undecided
    } else {
        Status::Applies
    }
}

fn line(l: &crate::pack::Line, run: &Run<'_>, ctx: &Context<'_>) -> LineOutcome {
    let undecided = |gaps: Gaps, missing_records: Vec<String>| LineResult::Undecided {
        hint: gaps.hint(l.missing.as_deref(), &missing_records),
        missing: gaps.missing,
        unavailable: gaps.unavailable,
        missing_records,
    };
    let when = l.when.as_ref().map(|w| evaluate(w, &w.fields, run, ctx));
    let result = match when {
        Some(Eval::Value(Value::Bool(false))) => LineResult::NotApplicable,
        Some(Eval::Value(Value::Bool(true))) | None => {
            match evaluate(&l.value, &l.value.fields, run, ctx) {
                Eval::Value(v) => match (env::to_json(&v), format::value(&v)) {
                    (Some(value), Some(shown)) => LineResult::Proposed { value, shown },
                    _ => LineResult::CouldNotCheck {
                        why: "the proposed value is not a number, text or list".to_owned(),
                    },
                },
                Eval::Undecided {
                    gaps,
                    missing_records,
                } => undecided(gaps, missing_records),
                Eval::Failed(why) => LineResult::CouldNotCheck { why },
            }
        }
        Some(Eval::Value(_)) => LineResult::CouldNotCheck {
            why: "the line's condition did not give yes or no".to_owned(),
        },
        Some(Eval::Undecided {
            gaps,
            missing_records,
        }) => undecided(gaps, missing_records),
        Some(Eval::Failed(why)) => LineResult::CouldNotCheck { why },
    };
    LineOutcome {
        line: l.line.clone(),
        label: l.label.clone(),
        result,
        fields_read: l.fields_read.clone(),
    }
}

/// Evaluates one rule.
pub(crate) fn rule(pack: &RulePack, r: &Rule, run: &Run<'_>, ctx: &Context<'_>) -> Outcome {
    let mut criteria: Vec<CriterionOutcome> =
        r.criteria.iter().map(|c| criterion(c, run, ctx)).collect();
    let mut status = status_of(&criteria);
    let mut prefill = Vec::new();
    let mut reminder = None;
    if status == Status::Applies {
        prefill = r.prefill.iter().map(|l| line(l, run, ctx)).collect();
        if let Some(m) = &r.remind {
            let fail = |why: String| CriterionOutcome {
                name: CriterionName::known("due"),
                explanation: format!("Couldn't check: {why}"),
                result: CriterionResult::CouldNotCheck { why },
                fields_read: m.fields_read.clone(),
            };
            match evaluate(&m.due, &m.due.fields, run, ctx) {
                Eval::Value(Value::String(s)) => match format::parse_iso(&s) {
                    Some(due) => {
                        let days_left = (due - run.today).whole_days();
                        let in_window = days_left <= i64::from(m.within_days);
                        if !in_window {
                            status = Status::DoesNotApply;
                        }
                        reminder = Some(ReminderOutcome {
                            due,
                            days_left,
                            in_window,
                            message: m.message.render(ctx),
                        });
                    }
                    None => {
                        criteria.push(fail("the due date is not a date".to_owned()));
                        status = Status::CouldNotCheck;
                    }
                },
                Eval::Value(_) => {
                    criteria.push(fail("the due date is not a date".to_owned()));
                    status = Status::CouldNotCheck;
                }
                Eval::Undecided {
                    gaps,
                    missing_records,
                } => {
                    let hint = gaps.hint(None, &missing_records);
                    criteria.push(CriterionOutcome {
                        name: CriterionName::known("due"),
                        explanation: hint.clone(),
                        result: CriterionResult::Undecided {
                            missing: gaps.missing,
                            unavailable: gaps.unavailable,
                            missing_records,
                            hint,
                        },
                        fields_read: m.fields_read.clone(),
                    });
                    status = Status::Undecided;
                }
                Eval::Failed(why) => {
                    criteria.push(fail(why));
                    status = Status::CouldNotCheck;
                }
            }
        }
    }
    let mut lines: Vec<String> = criteria.iter().map(|c| c.explanation.clone()).collect();
    if let Some(rem) = &reminder {
        lines.push(due_words(rem));
    }
    Outcome {
        publisher: pack.publisher.clone(),
        pack: pack.id.clone(),
        rule: r.id.clone(),
        version: r.version,
        kind: r.kind,
        title: r.title.clone(),
        summary: r.summary.clone(),
        source: r.source.clone(),
        purpose: r.purpose.clone(),
        status,
        explanation: lines.join(" · "),
        criteria,
        fields_read: r.fields_read.clone(),
        records_read: r.records_read.clone(),
        prefill,
        reminder,
    }
}

/// "Due 30 June 2031, in 12 days", "Due today", "Was due 3 March 2026, 5 days ago".
fn due_words(r: &ReminderOutcome) -> String {
    let when = format::long_date(r.due);
    let n = r.days_left;
    let days = |n: i64| {
        if n == 1 {
            "1 day".to_owned()
        } else {
            format!("{} days", format::int(n))
        }
    };
    match n {
        0 => format!("Due today, {when}"),
        n if n > 0 => format!("Due {when}, in {}", days(n)),
        n => format!("Was due {when}, {} ago", days(-n)),
    }
}

impl RulePack {
    /// Evaluates every rule in force on `today` against `facts`, in pack order. Never
    /// fails and never panics: see [`Status`]. Nothing leaves the computer; the caller's
    /// audit log should record that rules were evaluated, not the outcomes.
    pub fn evaluate(&self, facts: &Facts, today: Date) -> Vec<Outcome> {
        if !self.in_force(today) {
            return Vec::new();
        }
        let run = Run::new(facts, today);
        let ctx = run.scope_context();
        self.rules
            .iter()
            .filter(|r| r.in_force(today))
            .map(|r| rule(self, r, &run, &ctx))
            .collect()
    }

    /// Evaluates one rule (the version in force on `today`).
    pub fn evaluate_rule(&self, id: &RuleId, facts: &Facts, today: Date) -> Option<Outcome> {
        let r = self.rule(id, today)?;
        let run = Run::new(facts, today);
        let ctx = run.scope_context();
        Some(rule(self, r, &run, &ctx))
    }

    /// "What if": evaluates with some values replaced (each checked against its field's
    /// schema and the categories turned on). The citizen's twin is not changed.
    pub fn what_if(
        &self,
        facts: &Facts,
        overrides: &[(FieldPath, Json)],
        today: Date,
    ) -> Result<Vec<Outcome>, crate::FactsError> {
        Ok(self.evaluate(&facts.with_overrides(overrides)?, today))
    }

    /// For benchmarks: evaluates, through the CEL interpreter alone and on the same
    /// context as [`RulePack::evaluate`], exactly the compiled expressions `evaluate`
    /// works out — every criterion's test and explanation placeholders, and, for a rule
    /// whose tests all gave `true`, its pre-fill lines (a value when its condition holds)
    /// and its reminder's date and message placeholders — with no deciding beyond that,
    /// no gaps, formatting or outcomes. Returns how many gave `true`.
    #[doc(hidden)]
    pub fn evaluate_raw(&self, facts: &Facts, today: Date) -> usize {
        let run = Run::new(facts, today);
        let ctx = run.scope_context();
        let mut yes = 0;
        let mut eval = |e: &Expr| {
            let t = matches!(e.eval(&ctx), Ok(Value::Bool(true)));
            yes += usize::from(t);
            t
        };
        for r in self.rules.iter().filter(|r| r.in_force(today)) {
            let mut all = true;
            for c in &r.criteria {
                all &= eval(&c.when);
                c.explain.exprs().for_each(|e| {
                    eval(e);
                });
            }
            if !all {
                continue;
            }
            for l in &r.prefill {
                if l.when.as_ref().is_none_or(&mut eval) {
                    eval(&l.value);
                }
            }
            if let Some(m) = &r.remind {
                eval(&m.due);
                m.message.exprs().for_each(|e| {
                    eval(e);
                });
            }
        }
        yes
    }
}

/// The values an outcome used, for evidence: the fields it reads that are set.
pub(crate) fn values_used(
    facts: &Facts,
    fields: &BTreeSet<FieldPath>,
) -> BTreeMap<FieldPath, Json> {
    facts.values_of(fields)
}
