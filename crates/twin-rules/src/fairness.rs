//! The fairness check: when an agency's decision (an award or a refusal) cites a rule
//! and its version, re-evaluate that rule on the values the citizen shared and say, in
//! plain words, whether the decision follows from it — with the evidence for an appeal.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use time::Date;
use twin_types::{AgencyId, FieldPath};

use crate::eval::{self, CriterionOutcome, CriterionResult, Run, Status};
use crate::facts::Facts;
use crate::ids::{PackId, RuleId};
use crate::pack::{RuleKind, RulePack};

/// What the agency decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// It awarded (the rule applies, in its view).
    Awarded,
    /// It refused (the rule does not apply, in its view).
    Refused,
}

/// Whether the published rule bears the decision out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The rule, on the shared values, gives the same answer.
    Agree,
    /// The rule, on the shared values, gives the other answer.
    Disagree,
    /// The shared values are not enough to decide.
    Undecided,
    /// The rule could not be worked out.
    CouldNotCheck,
}

/// What a re-evaluation rests on: enough to ask for a decision to be looked at again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// The publisher of the rule.
    pub publisher: AgencyId,
    /// Its pack.
    pub pack: PackId,
    /// The rule cited.
    pub rule: RuleId,
    /// Its version.
    pub version: u32,
    /// Its title.
    pub title: String,
    /// The published policy.
    pub source: String,
    /// The day the rule was applied for (the decision's date).
    #[serde(with = "crate::serde_date")]
    pub decided_on: Date,
    /// Each criterion with the citizen's values.
    pub criteria: Vec<CriterionOutcome>,
    /// The criteria's lines joined.
    pub explanation: String,
    /// The shared values the rule read.
    pub values_used: BTreeMap<FieldPath, Json>,
}

/// The answer of [`RulePack::check_decision`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agreement {
    /// Agree, disagree, undecided or couldn't check.
    pub verdict: Verdict,
    /// The decision checked.
    pub decision: Decision,
    /// What it means, in plain words.
    pub words: String,
    /// What it rests on.
    pub evidence: Evidence,
}

/// Why a decision could not be checked at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecisionError {
    /// The pack has no rule with that id.
    #[error(
        "this decision cites rule {rule}, which is not in the rule pack {pack} on this computer"
    )]
    UnknownRule {
        /// The rule cited.
        rule: RuleId,
        /// The pack searched.
        pack: PackId,
    },
    /// The pack has the rule, but not the version cited.
    #[error(
        "this decision cites version {cited} of rule {rule}, but this computer only has version {held}; ask {publisher} for the rule pack in force at the time"
    )]
    OtherVersion {
        /// The rule.
        rule: RuleId,
        /// The version cited.
        cited: u32,
        /// The versions held, as text.
        held: String,
        /// Whom to ask.
        publisher: AgencyId,
    },
    /// Only eligibility rules decide awards and refusals.
    #[error("rule {0} is not an eligibility rule, so it does not decide awards or refusals")]
    NotEligibility(RuleId),
}

fn failed(criteria: &[CriterionOutcome]) -> String {
    criteria
        .iter()
        .filter(|c| matches!(c.result, CriterionResult::NotMet))
        .map(|c| c.explanation.clone())
        .collect::<Vec<_>>()
        .join(" · ")
}

fn undecided(criteria: &[CriterionOutcome]) -> String {
    criteria
        .iter()
        .filter_map(|c| match &c.result {
            CriterionResult::Undecided { hint, .. } => Some(hint.clone()),
            CriterionResult::CouldNotCheck { why } => Some(why.clone()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

impl RulePack {
    /// Re-evaluates rule `rule` at exactly `version` on `shared` (the values the citizen
    /// shared with the agency, nothing else) as on `decided_on`, and compares the
    /// answer with the agency's `decision`.
    pub fn check_decision(
        &self,
        rule: &RuleId,
        version: u32,
        decision: Decision,
        shared: &Facts,
        decided_on: Date,
    ) -> Result<Agreement, DecisionError> {
        let Some(r) = self.rule_version(rule, version) else {
            let held: Vec<String> = self
                .rules
                .iter()
                .filter(|r| &r.id == rule)
                .map(|r| r.version.to_string())
                .collect();
            if held.is_empty() {
                return Err(DecisionError::UnknownRule {
                    rule: rule.clone(),
                    pack: self.id.clone(),
                });
            }
            return Err(DecisionError::OtherVersion {
                rule: rule.clone(),
                cited: version,
                held: held.join(" and "),
                publisher: self.publisher.clone(),
            });
        };
        if r.kind != RuleKind::Eligibility {
            return Err(DecisionError::NotEligibility(rule.clone()));
        }
        let run = Run::new(shared, decided_on);
        let ctx = run.scope_context();
        let outcome = eval::rule(self, r, &run, &ctx);
        let named = format!("{} (version {})", r.title, r.version);
        let (verdict, words) = match (outcome.status, decision) {
            (Status::Applies, Decision::Awarded) => (
                Verdict::Agree,
                format!(
                    "The award follows the published rule {named}: your shared details meet every criterion."
                ),
            ),
            (Status::DoesNotApply, Decision::Refused) => (
                Verdict::Agree,
                format!(
                    "The refusal follows the published rule {named}: your shared details do not meet it ({}).",
                    failed(&outcome.criteria)
                ),
            ),
            (Status::Applies, Decision::Refused) => (
                Verdict::Disagree,
                format!(
                    "The agency refused, but by its own published rule {named} your shared details meet every criterion: {}. You can ask for the decision to be looked at again; this evidence is ready to send with your request.",
                    outcome.explanation
                ),
            ),
            (Status::DoesNotApply, Decision::Awarded) => (
                Verdict::Disagree,
                format!(
                    "The agency awarded this, but by its own published rule {named} your shared details do not meet it ({}). You may want to ask the agency to confirm the award, so you are not asked to pay it back later.",
                    failed(&outcome.criteria)
                ),
            ),
            (Status::Undecided, _) => (
                Verdict::Undecided,
                format!(
                    "The details you shared are not enough to check this decision against {named}: {}.",
                    undecided(&outcome.criteria)
                ),
            ),
            (Status::CouldNotCheck, _) => (
                Verdict::CouldNotCheck,
                format!(
                    "This decision could not be checked: {named} could not be worked out ({}).",
                    undecided(&outcome.criteria)
                ),
            ),
        };
        Ok(Agreement {
            verdict,
            decision,
            words,
            evidence: Evidence {
                publisher: self.publisher.clone(),
                pack: self.id.clone(),
                rule: r.id.clone(),
                version: r.version,
                title: r.title.clone(),
                source: r.source.clone(),
                decided_on,
                values_used: eval::values_used(shared, &r.fields_read),
                explanation: outcome.explanation,
                criteria: outcome.criteria,
            },
        })
    }
}
