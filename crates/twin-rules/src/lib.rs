#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod env;
mod eval;
mod expr;
mod facts;
mod fairness;
mod format;
mod ids;
mod limits;
mod pack;
mod scan;
mod template;

pub use eval::{
    CriterionOutcome, CriterionResult, LineOutcome, LineResult, Outcome, ReminderOutcome, Status,
};
pub use expr::ExprError;
pub use facts::{Facts, FactsError, RecordFact};
pub use fairness::{Agreement, Decision, DecisionError, Evidence, Verdict};
pub use ids::{CriterionName, IdError, PackId, RuleId};
pub use limits::{Limits, MAX_RECORDS_PER_TYPE};
pub use pack::{Criterion, PackError, Part, RULE_PACK_SCHEMA, Rule, RuleKind, RulePack};
pub use template::TemplateError;

/// Dates as `"YYYY-MM-DD"` in serialized outcomes.
mod serde_date {
    use serde::Serializer;
    use time::Date;

    pub(crate) fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::format::iso(*d))
    }
}
