//! Benchmark: evaluating 200 rules against a full twin, against the CEL engine's raw
//! evaluation of the same compiled expressions in the same run.
//!
//! Run with `cargo bench -p twin-rules --bench rules`. Goal: a full evaluation (every
//! criterion decided and explained with the citizen's values, pre-fill lines, reminder
//! dates) well under 50 ms on 2 cores.
//!
//! * **Rules**: 200, made from the kinds of rule in the sample packs (`packaging/rules/`):
//!   eligibility with two or three criteria over dates and money, pre-fill from the twin
//!   and an employer's record, reminders from a licence date, a record and the
//!   immunisation list. Thresholds vary from rule to rule, so outcomes differ.
//! * **Full twin**: every field of the catalogue set, health and social turned on, 40
//!   immunisations, 10 medicines, 30 records.
//! * **Target**: `RulePack::evaluate` — builds the context once, then for each rule every
//!   criterion's test and explanation template, status, pre-fill lines and reminders.
//! * **Floor**: `RulePack::evaluate_raw` — the same compiled expressions that `evaluate`
//!   works out (every test and explanation placeholder; pre-fill lines and reminder dates
//!   of the rules whose tests all hold) on the same context, each once through
//!   `cel_interpreter::Value::resolve`, and nothing else: the CEL engine's own cost.
//!
//! The two are timed in alternated rounds; the ratio of medians is printed. Loading (the
//! pre-scan, parse and analysis of every expression) is timed once and reported.
//!
//! Run as a test (`cargo test --benches`, or `cargo bench -- --test`) the same code runs
//! with a few samples, so it stays compiled and working.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};
use serde_json::{Value, json};
use time::macros::date;
use twin_rules::{Facts, RecordFact, RulePack, Status};
use twin_types::{AgencyId, Category};

const RULES: usize = 200;
const TODAY: time::Date = date!(2026 - 11 - 20);

fn full_run() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test" || a == "--list")
}

/// Rule `i` of the pack: one of eight shapes, thresholds varying with `i`.
fn rule(i: usize) -> Value {
    let id = format!("rule-{i:03}");
    let base = json!({
        "id": id, "version": 1, "title": format!("Rule {i}"), "source": "https://example.org/policy",
        "valid_from": "2026-04-06", "valid_until": "2027-04-05", "purpose": format!("purpose-{}", i % 8),
        "summary": format!("You may be able to get help {i}"),
    });
    let age = 50 + i % 30;
    let weekly = 150.0 + (i % 40) as f64 * 5.0;
    let mut r = base;
    let (kind, extra) = match i % 8 {
        0 => (
            "eligibility",
            json!({"criteria": [
                {"name": "age", "when": format!("age(personal.date_of_birth) >= {age}"), "explain": format!("Age {{age(personal.date_of_birth)}} ≥ {age}"), "missing": "Add your date of birth to check this"},
                {"name": "income", "when": format!("weekly(government.tax.annual_income) < {weekly:.2}"), "explain": format!("Weekly income {{money(weekly(government.tax.annual_income))}} < {{money({weekly:.2})}}")}
            ]}),
        ),
        1 => (
            "eligibility",
            json!({"criteria": [
                {"name": "home", "when": "size(personal.address.postcode) > 0", "explain": "Home postcode {personal.address.postcode}"},
                {"name": "income", "when": format!("weekly(government.tax.annual_income) < {weekly:.1} + 50.0 * double(personal.household.size - 1)"), "explain": format!("Weekly income {{money(weekly(government.tax.annual_income))}} < {{money({weekly:.1} + 50.0 * double(personal.household.size - 1))}} for a household of {{personal.household.size}}")},
                {"name": "town", "when": "lower(personal.address.town) in ['leeds', 'york', 'hull']", "explain": "Lives in {personal.address.town}"}
            ]}),
        ),
        2 => (
            "eligibility",
            json!({"criteria": [
                {"name": "born", "when": format!("personal.date_of_birth < '19{:02}-09-22'", 40 + i % 30), "explain": "Born {long_date(personal.date_of_birth)}"},
                {"name": "income", "when": format!("government.tax.annual_income <= {}.0", 20000 + i * 100), "explain": format!("Yearly income {{money(government.tax.annual_income)}} ≤ {{money({}.0)}}", 20000 + i * 100)}
            ]}),
        ),
        3 => (
            "eligibility",
            json!({"criteria": [
                {"name": "medicines", "when": format!("size(health.medications) >= {}", 3 + i % 6), "explain": "{size(health.medications)} regular medicines"},
                {"name": "age", "when": "age(personal.date_of_birth) >= 60", "explain": "Age {age(personal.date_of_birth)}"}
            ]}),
        ),
        4 => (
            "reminder",
            json!({"criteria": [
                {"name": "age", "when": format!("age(personal.date_of_birth) >= {}", 55 + i % 20), "explain": "Age {age(personal.date_of_birth)}"}
            ], "remind": {
                "due": "health.immunisations.exists(i, lower(i.name).startsWith('flu')) ? add_days(max(health.immunisations.filter(i, lower(i.name).startsWith('flu')).map(i, i.date)), 365) : today",
                "within_days": 28, "message": "Book your flu immunisation"
            }}),
        ),
        5 => (
            "reminder",
            json!({"criteria": [
                {"name": "licence", "when": "days_until(government.licences.driving.expires) > -365", "explain": "Licence expires {long_date(government.licences.driving.expires)}"}
            ], "remind": {
                "due": "government.licences.driving.expires", "within_days": 30 + i % 60,
                "message": "Your licence {government.licences.driving.number} expires on {long_date(government.licences.driving.expires)}"
            }}),
        ),
        6 => (
            "reminder",
            json!({"criteria": [
                {"name": "award", "when": "has_record('benefit-award/v1') && has(record('benefit-award/v1').effective_until)", "explain": "An award with an end date"}
            ], "remind": {
                "due": "record('benefit-award/v1').effective_until", "within_days": 56,
                "message": "Your {record('benefit-award/v1').benefit} award ends on {long_date(record('benefit-award/v1').effective_until)}"
            }}),
        ),
        _ => (
            "prefill",
            json!({"criteria": [
                {"name": "reference", "when": "size(government.tax.reference) > 0", "explain": "Tax reference {government.tax.reference}"}
            ], "prefill": [
                {"line": "1", "label": "Tax reference", "value": "government.tax.reference"},
                {"line": "2", "label": "Pay", "when": "has_record('income-statement/v1')", "value": "record('income-statement/v1').gross_pay"},
                {"line": "3", "label": "Income", "value": "government.tax.annual_income"},
                {"line": "4", "label": "Taxable", "value": format!("max(0.0, (has_record('income-statement/v1') ? record('income-statement/v1').gross_pay : government.tax.annual_income) - {}.0)", 12000 + i)}
            ]}),
        ),
    };
    r["kind"] = json!(kind);
    for (k, v) in extra.as_object().expect("an object") {
        r[k] = v.clone();
    }
    r
}

fn pack_json() -> String {
    json!({
        "v": 1, "publisher": "sandbox-benefits", "pack": "bench", "version": 1,
        "title": "Benchmark", "issued_at": "2026-04-01", "valid_from": "2026-04-06",
        "valid_until": "2027-04-05", "rules": (0..RULES).map(rule).collect::<Vec<_>>()
    })
    .to_string()
}

/// A twin with every field of the catalogue set, health and social on, and records.
fn full_twin() -> Facts {
    let mut f = Facts::new();
    f.opt_in(Category::Health).opt_in(Category::Social);
    let immunisations: Vec<Value> = (0..40)
        .map(|i| json!({"name": if i % 4 == 0 { "Flu" } else { "Tetanus" }, "date": format!("{}-10-{:02}", 1990 + i / 2, 1 + i % 28)}))
        .collect();
    let medications: Vec<Value> = (0..10)
        .map(
            |i| json!({"name": format!("Medicine {i}"), "dose": "10 mg", "schedule": "once a day"}),
        )
        .collect();
    f.set_fragment(&json!({
        "personal": {
            "full_name": "Margaret Okafor", "date_of_birth": "1959-06-01", "email": "margaret@example.org",
            "phone": "+44 113 496 0000",
            "address": {"line1": "1 Park Row", "town": "Leeds", "postcode": "LS1 4AP"},
            "household": {"size": 2},
            "preferences": {"language": "en", "contact_channel": "email"}
        },
        "government": {
            "tax": {"reference": "AB123456C", "annual_income": 11440.0},
            "licences": {"driving": {"number": "OKAFO659016M99XY", "expires": "2026-12-31"}}
        },
        "health": {"gp_practice": "Park Lane Surgery", "immunisations": immunisations, "medications": medications},
        "social": {"feedback": "The new forms are clearer."}
    }))
    .expect("a valid twin");
    let agency = AgencyId::parse("sandbox-benefits").expect("an agency id");
    for i in 0..30u8 {
        let (record_type, body) = if i % 2 == 0 {
            (
                "income-statement/v1",
                json!({"payer": "Leeds City Council", "tax_year": "2025-26", "gross_pay": 9000.0 + f64::from(i), "tax_paid": 0.0}),
            )
        } else {
            (
                "benefit-award/v1",
                json!({"benefit": "Pension Credit", "decision": "awarded", "amount": 38.15, "effective_from": "2026-06-01", "effective_until": "2026-12-31"}),
            )
        };
        f.add_record(RecordFact {
            record_type: record_type.into(),
            agency: agency.clone(),
            issued_on: date!(2026 - 01 - 01) + time::Duration::days(i64::from(i)),
            body,
        });
    }
    f
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let full = full_run();
    let mut c = Criterion::default().configure_from_args();
    let json = pack_json();

    let start = Instant::now();
    let pack = RulePack::load(json.as_bytes(), TODAY).expect("the benchmark pack loads");
    let load = start.elapsed();
    let facts = full_twin();

    let outcomes = pack.evaluate(&facts, TODAY);
    assert_eq!(outcomes.len(), RULES);
    let count = |s: Status| outcomes.iter().filter(|o| o.status == s).count();
    let criteria: usize = pack.rules().iter().map(|r| r.criteria().len()).sum();
    let exprs = pack.expression_count();
    println!(
        "SETUP {RULES} rules ({criteria} criteria, {exprs} expressions, {} bytes of JSON) loaded in {:.1} ms; outcomes: {} apply, {} do not apply, {} undecided, {} couldn't check",
        json.len(),
        ms(load),
        count(Status::Applies),
        count(Status::DoesNotApply),
        count(Status::Undecided),
        count(Status::CouldNotCheck),
    );
    assert_eq!(
        count(Status::CouldNotCheck),
        0,
        "the benchmark's rules are sound"
    );

    let mut g = c.benchmark_group("rules_200_full_twin");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(if full { 30 } else { 10 })
        .warm_up_time(Duration::from_millis(if full { 500 } else { 1 }))
        .measurement_time(Duration::from_secs(if full { 3 } else { 1 }));
    g.bench_function("evaluate", |b| {
        b.iter(|| black_box(pack.evaluate(&facts, TODAY)))
    });
    g.bench_function("floor_raw_cel", |b| {
        b.iter(|| black_box(pack.evaluate_raw(&facts, TODAY)))
    });
    g.finish();

    // Alternated rounds for the ratio: both sides see the same machine state.
    let rounds = if full { 100 } else { 3 };
    let (mut target, mut floor) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for _ in 0..rounds {
        let t = Instant::now();
        black_box(pack.evaluate(&facts, TODAY));
        target.push(t.elapsed());
        let t = Instant::now();
        black_box(pack.evaluate_raw(&facts, TODAY));
        floor.push(t.elapsed());
    }
    let (t, f) = (median(&mut target), median(&mut floor));
    let p99 = target[(target.len() * 99 / 100).min(target.len() - 1)];
    if !full {
        println!("TEST MODE: a few samples; the numbers below mean nothing");
    }
    println!("\n==== summary ({rounds} alternated rounds) ====");
    println!(
        "TIME evaluate 200 rules, full twin: median {:.3} ms, p99 {:.3} ms  goal <= 50 ms: {}",
        ms(t),
        ms(p99),
        if ms(t) <= 50.0 { "met" } else { "MISSED" }
    );
    println!(
        "TIME floor, raw CEL of the same compiled expressions ({exprs} in the pack): median {:.3} ms",
        ms(f)
    );
    println!(
        "RATIO evaluate / raw CEL: {:.2}x  ({:.3} ms / {:.3} ms, difference {:+.3} ms)",
        t.as_secs_f64() / f.as_secs_f64(),
        ms(t),
        ms(f),
        ms(t) - ms(f)
    );
    println!(
        "TIME load (pre-scan, parse, analyse every expression), once: {:.1} ms",
        ms(load)
    );
    c.final_summary();
}
