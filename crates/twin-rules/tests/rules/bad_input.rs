//! Packs and expressions that are wrong, hostile or out of date.

use serde_json::json;
use time::macros::date;
use twin_rules::{CriterionResult, ExprError, Facts, PackError, RulePack, Status};
use twin_types::Category;

use crate::{BENEFITS, TODAY, facts, pack_with};

fn load(json: &str) -> Result<RulePack, PackError> {
    RulePack::load(json.as_bytes(), TODAY)
}

fn one(when: &str, explain: &str, f: &Facts) -> twin_rules::Outcome {
    let pack = load(&pack_with(&[("check", when, explain)])).unwrap();
    pack.evaluate(f, TODAY).remove(0)
}

#[test]
fn an_expression_that_does_not_compile_is_refused_naming_rule_and_criterion() {
    let e = load(&pack_with(&[(
        "age",
        "age(personal.date_of_birth) >= ",
        "Age",
    )]))
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("rule test-rule, criterion \"age\": it is not a valid CEL expression"),
        "{e}"
    );
    let e = load(&pack_with(&[(
        "income",
        "government.tax.anual_income < 1.0",
        "x",
    )]))
    .unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with("rule test-rule, criterion \"income\": it reads a field that does not exist: there is no field called government.tax.anual_income; did you mean"), "{msg}");
    assert!(msg.contains("government.tax.annual_income"), "{msg}");
    let e = load(&pack_with(&[("x", "true", "{personal.nope}")])).unwrap_err();
    assert!(
        e.to_string().starts_with(
            "rule test-rule, the explanation of criterion \"x\": the placeholder {personal.nope}"
        ),
        "{e}"
    );
}

#[test]
fn a_missing_field_is_undecided_never_an_error() {
    let o = one(
        "size(personal.address.postcode) > 2",
        "Postcode {personal.address.postcode}",
        &Facts::new(),
    );
    assert_eq!(o.status, Status::Undecided);
    assert_eq!(o.explanation, "Add your postcode to check this");
}

#[test]
fn run_time_errors_are_couldnt_check() {
    let f = facts(
        json!({"personal": {"household": {"size": 2}}, "government": {"tax": {"annual_income": 100.0}}}),
    );
    let o = one("personal.household.size / 0 > 1", "x", &f);
    assert_eq!(o.status, Status::CouldNotCheck);
    assert_eq!(o.explanation, "Couldn't check: the rule divides by zero");
    // A number compared with a date, and arithmetic mixing int and double.
    let o = one("government.tax.annual_income < today", "x", &f);
    assert_eq!(
        o.explanation,
        "Couldn't check: the rule combines values of different kinds (such as a number and a date)"
    );
    let o = one("government.tax.annual_income - 1 > 0.0", "x", &f);
    assert_eq!(o.status, Status::CouldNotCheck);
    // Not a yes or no.
    let o = one("government.tax.annual_income", "x", &f);
    assert_eq!(
        o.explanation,
        "Couldn't check: the rule's test did not give yes or no"
    );
    // A function's own error, in its words, without the value.
    let g = facts(json!({"personal": {"date_of_birth": "2030-01-01"}}));
    let o = one("age(personal.date_of_birth) > 1", "x", &g);
    assert_eq!(
        o.explanation,
        "Couldn't check: age(): a date of birth is after today"
    );
    // Messages never carry the citizen's values.
    let secret = facts(json!({"personal": {"full_name": "Zebedee Quux"}}));
    let o = one("personal.full_name + 1 == 2", "x", &secret);
    assert_eq!(o.status, Status::CouldNotCheck);
    assert!(!o.explanation.contains("Zebedee"), "{}", o.explanation);
}

#[test]
fn an_opt_in_category_not_turned_on_is_never_read() {
    // The rule reads social and health; the facts hold neither category.
    let o = one(
        "size(social.feedback) > 0 || size(health.gp_practice) > 0",
        "x",
        &Facts::new(),
    );
    assert_eq!(o.status, Status::Undecided);
    match &o.criteria[0].result {
        CriterionResult::Undecided {
            unavailable, hint, ..
        } => {
            assert_eq!(unavailable.len(), 2);
            assert_eq!(
                hint,
                "Unavailable: this needs your health and social details, which you have not turned on. Nothing was read"
            );
        }
        other => panic!("{other:?}"),
    }
    // Facts refuse to hold values of a category not turned on.
    let mut f = Facts::new();
    assert!(
        f.set("health.gp_practice", json!("Park Lane Surgery"))
            .is_err()
    );
    f.opt_in(Category::Health);
    f.set("health.gp_practice", json!("Park Lane Surgery"))
        .unwrap();
    let o = one(
        "size(health.gp_practice) > 0",
        "At {health.gp_practice}",
        &f,
    );
    assert_eq!(o.explanation, "At Park Lane Surgery ✓");
}

#[test]
fn long_and_deep_expressions_are_refused_with_bounded_cost() {
    let long = format!("1 == 1{}", " && true".repeat(300));
    let e = load(&pack_with(&[("x", &long, "x")])).unwrap_err();
    assert!(
        matches!(
            e,
            PackError::Schema { .. }
                | PackError::Expression {
                    error: ExprError::TooLong { .. },
                    ..
                }
        ),
        "{e}"
    );
    let deep = format!("{}true{}", "(".repeat(200), ")".repeat(200));
    let e = load(&pack_with(&[("x", &deep, "x")])).unwrap_err();
    assert!(
        matches!(
            e,
            PackError::Expression {
                error: ExprError::TooDeep { max: 32 },
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "rule test-rule, criterion \"x\": it is nested too deeply (at most 32 levels are allowed)"
    );
    let chain = format!("1{} > 0", " + 1".repeat(100));
    let e = load(&pack_with(&[("x", &chain, "x")])).unwrap_err();
    assert!(
        matches!(
            e,
            PackError::Expression {
                error: ExprError::TooDeep { .. },
                ..
            }
        ),
        "{e}"
    );
    let costly = "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(a, [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(b, [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(c, [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(d, a + b + c + d > 0))))";
    let e = load(&pack_with(&[("x", costly, "x")])).unwrap_err();
    assert!(
        matches!(
            e,
            PackError::Expression {
                error: ExprError::TooCostly { .. },
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn expired_future_and_malformed_packs_are_refused_plainly() {
    let e = RulePack::load(BENEFITS.as_bytes(), date!(2027 - 05 - 01)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "this rule pack from sandbox-benefits expired on 5 April 2027; ask sandbox-benefits for a current one"
    );
    let e = RulePack::load(BENEFITS.as_bytes(), date!(2026 - 01 - 01)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "this rule pack from sandbox-benefits only applies from 6 April 2026"
    );
    // A rule that has ended, inside a pack that has not.
    let mut v: serde_json::Value = serde_json::from_str(BENEFITS).unwrap();
    v["rules"][0]["valid_until"] = json!("2026-10-31");
    let e = load(&v.to_string()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "rule pension-credit in this pack expired on 31 October 2026; ask the publisher for a current pack"
    );
    // A rule still to come is kept, and evaluated from its first day.
    let mut v: serde_json::Value = serde_json::from_str(BENEFITS).unwrap();
    v["rules"][0]["valid_from"] = json!("2027-01-01");
    let pack = load(&v.to_string()).unwrap();
    assert_eq!(pack.evaluate(&Facts::new(), TODAY).len(), 3);
    assert_eq!(pack.evaluate(&Facts::new(), date!(2027 - 01 - 01)).len(), 4);
    // Newer format, not JSON, wrong shape, duplicate ids.
    assert_eq!(
        load(&BENEFITS.replace("\"v\": 1", "\"v\": 2")).unwrap_err(),
        PackError::UnknownVersion
    );
    assert_eq!(load("{").unwrap_err(), PackError::NotJson);
    let e =
        load(&BENEFITS.replace("\"kind\": \"eligibility\"", "\"kind\": \"guess\"")).unwrap_err();
    assert!(
        matches!(&e, PackError::Schema { at, .. } if at == "/rules/0/kind"),
        "{e}"
    );
    let e = load(&BENEFITS.replace(
        "\"https://www.gov.uk/pension-credit/eligibility\"",
        "\"http://example.org\"",
    ))
    .unwrap_err();
    assert!(
        matches!(&e, PackError::Schema { at, .. } if at == "/rules/0/source"),
        "{e}"
    );
    let mut v: serde_json::Value = serde_json::from_str(BENEFITS).unwrap();
    let first = v["rules"][0].clone();
    v["rules"].as_array_mut().unwrap().push(first);
    assert!(matches!(
        load(&v.to_string()).unwrap_err(),
        PackError::DuplicateRule { .. }
    ));
    let e = load(&pack_with(&[("x", "true", "x"), ("x", "true", "y")])).unwrap_err();
    assert_eq!(e.to_string(), "rule test-rule has two criteria called x");
}

#[test]
fn a_pack_past_its_end_evaluates_nothing() {
    let pack = load(BENEFITS).unwrap();
    assert!(
        pack.evaluate(&Facts::new(), date!(2027 - 04 - 06))
            .is_empty()
    );
}
