//! The sample packs against realistic citizens.

use serde_json::json;
use twin_rules::{CriterionResult, Decision, LineResult, RecordFact, RuleId, Status, Verdict};
use twin_types::{AgencyId, Category, FieldPath};

use crate::{BENEFITS, HEALTH, TAX, TODAY, facts, load, outcome};

fn paths(v: &[&str]) -> std::collections::BTreeSet<FieldPath> {
    v.iter().map(|p| FieldPath::parse(p).unwrap()).collect()
}

fn award(body: serde_json::Value) -> RecordFact {
    RecordFact {
        record_type: "benefit-award/v1".into(),
        agency: AgencyId::parse("sandbox-benefits").unwrap(),
        issued_on: time::macros::date!(2026 - 06 - 01),
        body,
    }
}

// ---- benefits ----

/// Margaret: 67, £9,360 a year (£180 a week), lives alone in Leeds.
fn margaret() -> twin_rules::Facts {
    facts(json!({
        "personal": {"date_of_birth": "1959-06-01", "address": {"postcode": "LS1 4AP"}, "household": {"size": 1}},
        "government": {"tax": {"annual_income": 9360.0}}
    }))
}

#[test]
fn benefits_eligible() {
    let pack = load(BENEFITS);
    let f = margaret();
    let pc = outcome(&pack, "pension-credit", &f);
    assert_eq!(pc.status, Status::Applies);
    assert_eq!(pc.summary, "You may be eligible for Pension Credit");
    assert_eq!(
        pc.explanation,
        "Age 67 ≥ 66 ✓ · Weekly income £180.00 < £218.15 ✓"
    );
    // What "apply" would share: exactly the two fields the rule reads.
    assert_eq!(
        pc.fields_read,
        paths(&["government.tax.annual_income", "personal.date_of_birth"])
    );
    assert_eq!(pc.purpose, "pension-credit-check");

    let ctr = outcome(&pack, "council-tax-reduction", &f);
    assert_eq!(ctr.status, Status::Applies);
    assert_eq!(
        ctr.explanation,
        "Home postcode LS1 4AP ✓ · Weekly income £180.00 < £200.00 for a household of 1 ✓"
    );
    let wfp = outcome(&pack, "winter-fuel-payment", &f);
    assert_eq!(wfp.status, Status::Applies);
    assert_eq!(
        wfp.explanation,
        "Born 1 June 1959, before 22 September 1960 ✓ · Yearly income £9,360.00 ≤ £35,000.00 ✓"
    );
    // Every rule in force comes back, in pack order.
    let all = pack.evaluate(&f, TODAY);
    assert_eq!(all.len(), 4);
    assert_eq!(
        all.iter().filter(|o| o.status == Status::Applies).count(),
        3
    );
}

#[test]
fn benefits_not_eligible() {
    let pack = load(BENEFITS);
    // Priya: 46, £31,200 a year, a household of 4.
    let f = facts(json!({
        "personal": {"date_of_birth": "1980-02-29", "address": {"postcode": "YO1 7HH"}, "household": {"size": 4}},
        "government": {"tax": {"annual_income": 31200.0}}
    }));
    let pc = outcome(&pack, "pension-credit", &f);
    assert_eq!(pc.status, Status::DoesNotApply);
    assert_eq!(
        pc.explanation,
        "Age 46 ≥ 66 ✗ · Weekly income £600.00 < £218.15 ✗"
    );
    let ctr = outcome(&pack, "council-tax-reduction", &f);
    assert_eq!(ctr.status, Status::DoesNotApply);
    assert_eq!(
        ctr.explanation,
        "Home postcode YO1 7HH ✓ · Weekly income £600.00 < £350.00 for a household of 4 ✗"
    );
    let wfp = outcome(&pack, "winter-fuel-payment", &f);
    assert_eq!(wfp.status, Status::DoesNotApply);
    assert_eq!(
        wfp.explanation,
        "Born 29 February 1980, before 22 September 1960 ✗ · Yearly income £31,200.00 ≤ £35,000.00 ✓"
    );
    // No award in the twin: no review reminder.
    assert_eq!(
        outcome(&pack, "benefit-review", &f).status,
        Status::DoesNotApply
    );
}

#[test]
fn benefits_undecided_says_what_to_add() {
    let pack = load(BENEFITS);
    let f = facts(json!({"personal": {"date_of_birth": "1959-06-01"}}));
    let pc = outcome(&pack, "pension-credit", &f);
    assert_eq!(pc.status, Status::Undecided);
    assert_eq!(
        pc.explanation,
        "Age 67 ≥ 66 ✓ · Add your yearly income to check this (we work out the weekly amount)"
    );
    match &pc.criteria[1].result {
        CriterionResult::Undecided {
            missing,
            unavailable,
            ..
        } => {
            assert_eq!(
                missing,
                &[FieldPath::parse("government.tax.annual_income").unwrap()]
            );
            assert!(unavailable.is_empty());
        }
        other => panic!("{other:?}"),
    }
    // A failed criterion outweighs an undecided one.
    let young = facts(json!({"personal": {"date_of_birth": "1990-01-01"}}));
    assert_eq!(
        outcome(&pack, "pension-credit", &young).status,
        Status::DoesNotApply
    );
    // Nothing at all: every criterion undecided, each saying what to add.
    let empty = outcome(&pack, "council-tax-reduction", &twin_rules::Facts::new());
    assert_eq!(empty.status, Status::Undecided);
    assert_eq!(
        empty.explanation,
        "Add your home address to check this · Add your yearly income and how many people live with you to check this"
    );
}

#[test]
fn what_if_my_income_changed() {
    let pack = load(BENEFITS);
    let f = margaret();
    let change = twin_rules::Facts::parse_override("government.tax.annual_income=15000").unwrap();
    let after = pack.what_if(&f, &[change], TODAY).unwrap();
    let pc = after
        .iter()
        .find(|o| o.rule.as_str() == "pension-credit")
        .unwrap();
    assert_eq!(pc.status, Status::DoesNotApply);
    assert_eq!(
        pc.explanation,
        "Age 67 ≥ 66 ✓ · Weekly income £288.46 < £218.15 ✗"
    );
    // The facts themselves are unchanged.
    assert_eq!(outcome(&pack, "pension-credit", &f).status, Status::Applies);
    // A bad override is refused with the field's own words.
    let bad = twin_rules::Facts::parse_override("government.tax.annual_income=lots");
    assert!(bad.is_err());
}

#[test]
fn benefit_award_ending_is_a_reminder_from_a_record() {
    let pack = load(BENEFITS);
    let mut f = margaret();
    f.add_record(award(json!({
        "benefit": "Pension Credit", "decision": "awarded", "amount": 38.15, "currency": "GBP",
        "period": "week", "effective_from": "2026-06-01", "effective_until": "2026-12-31"
    })));
    let o = outcome(&pack, "benefit-review", &f);
    assert_eq!(o.status, Status::Applies);
    let r = o.reminder.as_ref().unwrap();
    assert_eq!((r.days_left, r.in_window), (41, true));
    assert_eq!(
        r.message,
        "Your Pension Credit award ends on 31 December 2026: ask for a review before then"
    );
    assert_eq!(
        o.explanation,
        "An award with an end date is in your twin ✓ · Due 31 December 2026, in 41 days"
    );
    assert!(o.fields_read.is_empty());
    assert_eq!(
        o.records_read.iter().collect::<Vec<_>>(),
        ["benefit-award/v1"]
    );
}

#[test]
fn fairness_check_flags_a_refusal_the_rule_does_not_support() {
    let pack = load(BENEFITS);
    let id = RuleId::parse("pension-credit").unwrap();
    // What Margaret shared with the agency: her date of birth and income.
    let shared = margaret();
    let a = pack
        .check_decision(&id, 1, Decision::Refused, &shared, TODAY)
        .unwrap();
    assert_eq!(a.verdict, Verdict::Disagree);
    assert!(a.words.starts_with(
        "The agency refused, but by its own published rule Pension Credit (version 1) your shared details meet every criterion: Age 67 ≥ 66 ✓ · Weekly income £180.00 < £218.15 ✓."
    ), "{}", a.words);
    assert_eq!(
        a.evidence.source,
        "https://www.gov.uk/pension-credit/eligibility"
    );
    assert_eq!(a.evidence.values_used.len(), 2);
    assert_eq!(
        a.evidence.values_used[&FieldPath::parse("government.tax.annual_income").unwrap()],
        json!(9360.0)
    );
    let agree = pack
        .check_decision(&id, 1, Decision::Awarded, &shared, TODAY)
        .unwrap();
    assert_eq!(agree.verdict, Verdict::Agree);
    // Only the date of birth was shared: not enough to check.
    let little = facts(json!({"personal": {"date_of_birth": "1959-06-01"}}));
    let u = pack
        .check_decision(&id, 1, Decision::Refused, &little, TODAY)
        .unwrap();
    assert_eq!(u.verdict, Verdict::Undecided);
    // A version this computer does not hold.
    let e = pack
        .check_decision(&id, 2, Decision::Refused, &shared, TODAY)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "this decision cites version 2 of rule pension-credit, but this computer only has version 1; ask sandbox-benefits for the rule pack in force at the time"
    );
}

// ---- tax ----

fn statement() -> RecordFact {
    RecordFact {
        record_type: "income-statement/v1".into(),
        agency: AgencyId::parse("sandbox-tax").unwrap(),
        issued_on: time::macros::date!(2026 - 04 - 20),
        body: json!({"payer": "Leeds City Council", "tax_year": "2025-26", "gross_pay": 24500.0, "tax_paid": 2386.0}),
    }
}

fn proposed(o: &twin_rules::Outcome, line: &str) -> (serde_json::Value, String) {
    match &o.prefill.iter().find(|l| l.line == line).unwrap().result {
        LineResult::Proposed { value, shown } => (value.clone(), shown.clone()),
        other => panic!("line {line}: {other:?}"),
    }
}

#[test]
fn tax_prefill_from_the_twin_and_the_employers_statement() {
    let pack = load(TAX);
    let mut f =
        facts(json!({"government": {"tax": {"reference": "AB123456C", "annual_income": 24000.0}}}));
    f.add_record(statement());
    let o = outcome(&pack, "self-assessment", &f);
    assert_eq!(o.status, Status::Applies);
    assert_eq!(o.explanation, "Tax reference AB123456C ✓");
    assert_eq!(
        proposed(&o, "1.1"),
        (json!("AB123456C"), "AB123456C".into())
    );
    assert_eq!(proposed(&o, "1.2"), (json!(24500.0), "24,500".into()));
    assert_eq!(proposed(&o, "1.3"), (json!(2386.0), "2386".into()));
    assert_eq!(proposed(&o, "1.4"), (json!(24000.0), "24,000".into()));
    assert_eq!(proposed(&o, "2.1"), (json!(12570.0), "12,570".into()));
    assert_eq!(proposed(&o, "2.2"), (json!(11930.0), "11,930".into()));
    assert_eq!(
        o.fields_read,
        paths(&["government.tax.annual_income", "government.tax.reference"])
    );
    assert_eq!(
        o.records_read.iter().collect::<Vec<_>>(),
        ["income-statement/v1"]
    );
    // Each line says what it read.
    let l14 = o.prefill.iter().find(|l| l.line == "1.4").unwrap();
    assert_eq!(l14.fields_read, paths(&["government.tax.annual_income"]));
    // The deadline reminder shows within 90 days of 31 January.
    let d = outcome(&pack, "return-deadline", &f);
    assert_eq!(d.status, Status::Applies);
    assert_eq!(d.reminder.as_ref().unwrap().days_left, 72);
}

#[test]
fn tax_prefill_without_the_statement_or_the_income() {
    let pack = load(TAX);
    // No statement, no income: the statement's lines do not apply, the others say what to add.
    let f = facts(json!({"government": {"tax": {"reference": "AB123456C"}}}));
    let o = outcome(&pack, "self-assessment", &f);
    assert_eq!(o.status, Status::Applies);
    let result = |line: &str| {
        o.prefill
            .iter()
            .find(|l| l.line == line)
            .unwrap()
            .result
            .clone()
    };
    assert_eq!(result("1.2"), LineResult::NotApplicable);
    assert!(
        matches!(result("1.4"), LineResult::Undecided { hint, .. } if hint == "Add your yearly income to fill this line")
    );
    assert!(matches!(result("2.2"), LineResult::Undecided { .. }));
    // With the statement but no income in the twin, taxable income comes from the
    // statement alone: the answer does not depend on the missing value.
    let mut g = f.clone();
    g.add_record(statement());
    let o = outcome(&pack, "self-assessment", &g);
    assert_eq!(proposed(&o, "2.2"), (json!(11930.0), "11,930".into()));
}

#[test]
fn tax_eligible_not_eligible_undecided() {
    let pack = load(TAX);
    let low = outcome(
        &pack,
        "below-personal-allowance",
        &facts(json!({"government": {"tax": {"annual_income": 9000.0}}})),
    );
    assert_eq!(low.status, Status::Applies);
    assert_eq!(
        low.explanation,
        "Yearly income £9,000.00 ≤ £12,570.00 personal allowance ✓"
    );
    let high = outcome(
        &pack,
        "below-personal-allowance",
        &facts(json!({"government": {"tax": {"annual_income": 24000.0}}})),
    );
    assert_eq!(high.status, Status::DoesNotApply);
    assert_eq!(
        high.explanation,
        "Yearly income £24,000.00 ≤ £12,570.00 personal allowance ✗"
    );
    let none = outcome(&pack, "below-personal-allowance", &twin_rules::Facts::new());
    assert_eq!(none.status, Status::Undecided);
    assert_eq!(none.explanation, "Add your yearly income to check this");
    // No tax reference: the return cannot be pre-filled, and nothing is proposed.
    let no_ref = outcome(
        &pack,
        "self-assessment",
        &facts(json!({"government": {"tax": {"annual_income": 24000.0}}})),
    );
    assert_eq!(no_ref.status, Status::Undecided);
    assert_eq!(
        no_ref.explanation,
        "Add your tax reference to pre-fill your return"
    );
    assert!(no_ref.prefill.is_empty());
}

// ---- health ----

fn health_facts(dob: &str, immunisations: serde_json::Value) -> twin_rules::Facts {
    facts(json!({
        "personal": {"date_of_birth": dob},
        "health": {"immunisations": immunisations}
    }))
}

#[test]
fn health_eligible() {
    let pack = load(HEALTH);
    // Last flu immunisation more than a year ago: overdue.
    let f = health_facts(
        "1954-05-02",
        json!([{"name": "Flu", "date": "2025-10-01"}, {"name": "Shingles", "date": "2024-03-01"}]),
    );
    let o = outcome(&pack, "flu-immunisation", &f);
    assert_eq!(o.status, Status::Applies);
    assert_eq!(
        o.explanation,
        "Age 72 ≥ 65 ✓ · Was due 1 October 2026, 50 days ago"
    );
    assert_eq!(
        o.reminder.as_ref().unwrap().message,
        "Book your free flu immunisation with your GP practice or a pharmacy"
    );
    assert_eq!(
        o.fields_read,
        paths(&["health.immunisations", "personal.date_of_birth"])
    );
    // Never had one: due today.
    let never = outcome(
        &pack,
        "flu-immunisation",
        &health_facts("1954-05-02", json!([])),
    );
    assert_eq!(
        never.explanation,
        "Age 72 ≥ 65 ✓ · Due today, 20 November 2026"
    );
    // Driving licence expiring in 46 days.
    let lic = facts(json!({"government": {"licences": {"driving": {"expires": "2027-01-05"}}}}));
    let d = outcome(&pack, "driving-licence", &lic);
    assert_eq!(d.status, Status::Applies);
    assert_eq!(
        d.explanation,
        "Licence expires 5 January 2027 ✓ · Due 5 January 2027, in 46 days"
    );
    assert_eq!(
        d.reminder.unwrap().message,
        "Your driving licence expires on 5 January 2027: renew it before then"
    );
    // Five medicines: a review is worth asking for.
    let meds = facts(json!({"health": {"medications": [
        {"name": "Metformin", "dose": "500 mg", "schedule": "twice a day"},
        {"name": "Ramipril"}, {"name": "Atorvastatin"}, {"name": "Aspirin"}, {"name": "Omeprazole"}
    ]}}));
    let m = outcome(&pack, "medication-review", &meds);
    assert_eq!(m.status, Status::Applies);
    assert_eq!(m.explanation, "5 regular medicines, 5 or more ✓");
}

#[test]
fn health_not_eligible() {
    let pack = load(HEALTH);
    let young = outcome(
        &pack,
        "flu-immunisation",
        &health_facts("1976-05-02", json!([])),
    );
    assert_eq!(young.status, Status::DoesNotApply);
    assert_eq!(young.explanation, "Age 50 ≥ 65 ✗");
    // Immunised this autumn: next due in a year, outside the 28-day window.
    let done = outcome(
        &pack,
        "flu-immunisation",
        &health_facts(
            "1954-05-02",
            json!([{"name": "flu (inactivated)", "date": "2026-10-15"}]),
        ),
    );
    assert_eq!(done.status, Status::DoesNotApply);
    assert_eq!(
        done.explanation,
        "Age 72 ≥ 65 ✓ · Due 15 October 2027, in 329 days"
    );
    assert!(!done.reminder.unwrap().in_window);
    let lic = facts(json!({"government": {"licences": {"driving": {"expires": "2031-06-30"}}}}));
    assert_eq!(
        outcome(&pack, "driving-licence", &lic).status,
        Status::DoesNotApply
    );
    let meds =
        facts(json!({"health": {"medications": [{"name": "Metformin"}, {"name": "Ramipril"}]}}));
    let m = outcome(&pack, "medication-review", &meds);
    assert_eq!(m.status, Status::DoesNotApply);
    assert_eq!(m.explanation, "2 regular medicines, 5 or more ✗");
}

#[test]
fn health_undecided_and_unavailable_without_opt_in() {
    let pack = load(HEALTH);
    // Health turned on, but no immunisations recorded yet.
    let mut f = twin_rules::Facts::new();
    f.opt_in(Category::Health);
    f.set("personal.date_of_birth", json!("1954-05-02"))
        .unwrap();
    let o = outcome(&pack, "flu-immunisation", &f);
    assert_eq!(o.status, Status::Undecided);
    assert_eq!(
        o.explanation,
        "Age 72 ≥ 65 ✓ · Add your immunisations to check this"
    );
    // Health not turned on: the rules that need it are unavailable and read nothing.
    let off = facts(json!({"personal": {"date_of_birth": "1954-05-02"}}));
    let o = outcome(&pack, "flu-immunisation", &off);
    assert_eq!(o.status, Status::Undecided);
    assert_eq!(
        o.explanation,
        "Age 72 ≥ 65 ✓ · Unavailable: this needs your health details, which you have not turned on. Nothing was read"
    );
    let m = outcome(&pack, "medication-review", &off);
    match &m.criteria[0].result {
        CriterionResult::Undecided {
            missing,
            unavailable,
            ..
        } => {
            assert!(missing.is_empty());
            assert_eq!(
                unavailable,
                &[FieldPath::parse("health.medications").unwrap()]
            );
        }
        other => panic!("{other:?}"),
    }
    let lic = outcome(&pack, "driving-licence", &off);
    assert_eq!(
        lic.explanation,
        "Add your driving licence expiry date to get a reminder"
    );
}

#[test]
fn only_the_health_pack_reads_health_fields() {
    for (name, json) in [("benefits", BENEFITS), ("tax", TAX)] {
        let pack = load(json);
        for r in pack.rules() {
            assert!(
                r.fields_read()
                    .iter()
                    .all(|p| p.category() != Some(Category::Health)
                        && p.category() != Some(Category::Social)),
                "{name}/{} reads an opt-in category",
                r.id()
            );
        }
    }
    let health = load(HEALTH);
    let purposes = health.purposes();
    assert_eq!(
        purposes["medication-review"],
        paths(&["health.medications"])
    );
    assert_eq!(
        purposes["driving-licence-renewal"],
        paths(&["government.licences.driving.expires"])
    );
}

#[test]
fn outcomes_serialise_for_the_app() {
    let pack = load(BENEFITS);
    let o = outcome(&pack, "pension-credit", &margaret());
    let v = serde_json::to_value(&o).unwrap();
    assert_eq!(v["status"], "applies");
    assert_eq!(v["criteria"][0]["result"], "met");
    assert_eq!(
        v["fields_read"],
        json!(["government.tax.annual_income", "personal.date_of_birth"])
    );
}

/// Each sandbox agency's card (its purposes file, for `twin-agency init --purposes`)
/// lists every purpose its pack's rules use, with the fields those rules read: a share
/// made from a rule is then never over-asking. The only extra field is where accepted
/// pre-filled lines are kept, which a pre-fill's share holds.
#[test]
fn sandbox_cards_list_each_rule_purpose_with_exactly_its_fields() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/rules");
    for (name, json) in [("benefits", BENEFITS), ("tax", TAX), ("health", HEALTH)] {
        let file = dir.join(format!("{name}.purposes.json"));
        let card: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for (code, fields) in load(json).purposes() {
            let listed = card
                .iter()
                .find(|p| p["code"] == code.as_str())
                .unwrap_or_else(|| panic!("{name}.purposes.json lacks the purpose {code}"));
            let listed: std::collections::BTreeSet<FieldPath> = listed["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| FieldPath::parse(f.as_str().unwrap()).unwrap())
                .collect();
            let extra: Vec<&FieldPath> = listed.difference(&fields).collect();
            assert!(
                fields.is_subset(&listed)
                    && extra
                        .iter()
                        .all(|f| f.as_str() == "government.tax.return_lines"),
                "{name}/{code}: the card lists {listed:?}, the rules read {fields:?}"
            );
        }
    }
}
