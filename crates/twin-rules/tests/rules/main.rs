//! twin-rules' integration tests: the sample packs of `packaging/rules/` against
//! realistic citizens (eligible, not eligible, undecided in each pilot area), bad input,
//! and property tests of loading and evaluation.

mod bad_input;
mod packs;
mod props;

use serde_json::json;
use time::Date;
use time::macros::date;
use twin_rules::{Facts, Outcome, RuleId, RulePack};

/// The day every test evaluates on.
pub const TODAY: Date = date!(2026 - 11 - 20);

pub const BENEFITS: &str = include_str!("../../../../packaging/rules/benefits.json");
pub const TAX: &str = include_str!("../../../../packaging/rules/tax.json");
pub const HEALTH: &str = include_str!("../../../../packaging/rules/health.json");

pub fn load(json: &str) -> RulePack {
    RulePack::load(json.as_bytes(), TODAY).unwrap_or_else(|e| panic!("sample pack refused: {e}"))
}

/// The outcome of rule `id` for `facts`.
pub fn outcome(pack: &RulePack, id: &str, facts: &Facts) -> Outcome {
    pack.evaluate_rule(&RuleId::parse(id).unwrap(), facts, TODAY)
        .unwrap_or_else(|| panic!("rule {id} not in force"))
}

/// Facts from a twin-shaped JSON fragment.
pub fn facts(fragment: serde_json::Value) -> Facts {
    let mut f = Facts::new();
    if fragment.get("health").is_some() {
        f.opt_in(twin_types::Category::Health);
    }
    f.set_fragment(&fragment).unwrap();
    f
}

/// A pack around one eligibility rule with the given criteria (`[name, when, explain]`).
pub fn pack_with(criteria: &[(&str, &str, &str)]) -> String {
    let criteria: Vec<_> = criteria
        .iter()
        .map(|(name, when, explain)| json!({"name": name, "when": when, "explain": explain}))
        .collect();
    json!({
        "v": 1, "publisher": "sandbox-benefits", "pack": "test", "version": 1, "title": "Test",
        "issued_at": "2026-01-01", "valid_from": "2026-01-01", "valid_until": "2027-01-01",
        "rules": [{
            "id": "test-rule", "version": 1, "title": "Test rule", "kind": "eligibility",
            "source": "https://example.org/policy", "valid_from": "2026-01-01",
            "valid_until": "2027-01-01", "purpose": "test", "summary": "You may get the test",
            "criteria": criteria
        }]
    })
    .to_string()
}
