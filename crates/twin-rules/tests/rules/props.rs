//! Property tests: loading never panics on arbitrary input, bounds hold, evaluation never
//! panics on arbitrary values.

use proptest::prelude::*;
use serde_json::json;
use twin_rules::{ExprError, Facts, PackError, RulePack, Status};

use crate::{BENEFITS, TODAY, pack_with};

/// Text built from CEL's own pieces, so most of it gets past the lexer.
fn cel_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("("),
        Just(")"),
        Just("["),
        Just("]"),
        Just("{"),
        Just("}"),
        Just("."),
        Just(","),
        Just(":"),
        Just("?"),
        Just("!"),
        Just("-"),
        Just("+"),
        Just("*"),
        Just("/"),
        Just("%"),
        Just("<"),
        Just("<="),
        Just("=="),
        Just("!="),
        Just("&&"),
        Just("||"),
        Just(" in "),
        Just("1"),
        Just("2.5"),
        Just("0x1F"),
        Just("3u"),
        Just("'a'"),
        Just("\"b\""),
        Just("r'\\'"),
        Just("true"),
        Just("null"),
        Just("x"),
        Just("today"),
        Just("personal"),
        Just("personal.date_of_birth"),
        Just("government.tax.annual_income"),
        Just("health.immunisations"),
        Just("age("),
        Just("size("),
        Just("has("),
        Just(".exists(i, "),
        Just(".map(m, "),
        Just("record('a/v1')"),
        Just(" "),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

/// Grammatical expressions over the twin's fields, the functions and the operators,
/// nested up to 6 levels: most load, and reach the interpreter.
fn cel_expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("1"),
        Just("2.5"),
        Just("-3"),
        Just("0u"),
        Just("'flu'"),
        Just("''"),
        Just("true"),
        Just("null"),
        Just("today"),
        Just("'2026-02-29'"),
        Just("'1958-03-14'"),
        Just("personal.date_of_birth"),
        Just("government.tax.annual_income"),
        Just("personal.household.size"),
        Just("personal.address.postcode"),
        Just("health.immunisations"),
        Just("social.feedback"),
        Just("[]"),
        Just("{}"),
        Just("record('income-statement/v1')"),
        Just("records_of('benefit-award/v1')"),
        Just("has(personal.address.town)"),
        Just("x"),
        Just("personal.address"),
    ]
    .prop_map(str::to_owned);
    leaf.prop_recursive(6, 48, 4, |inner| {
        let op = prop_oneof![
            Just("+"),
            Just("-"),
            Just("*"),
            Just("/"),
            Just("%"),
            Just("<"),
            Just("<="),
            Just(">"),
            Just(">="),
            Just("=="),
            Just("!="),
            Just("&&"),
            Just("||"),
            Just("in"),
        ];
        let func = prop_oneof![
            Just("size"),
            Just("age"),
            Just("days_until"),
            Just("days_since"),
            Just("weekly"),
            Just("money"),
            Just("long_date"),
            Just("lower"),
            Just("string"),
            Just("int"),
            Just("double"),
            Just("max"),
            Just("min"),
        ];
        prop_oneof![
            (inner.clone(), op, inner.clone()).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
            inner.clone().prop_map(|a| format!("!({a})")),
            inner.clone().prop_map(|a| format!("-({a})")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(a, b, c)| format!("({a}) ? ({b}) : ({c})")),
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| format!("[{}]", v.join(", "))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{{{a}: {b}}}")),
            (func, inner.clone()).prop_map(|(f, a)| format!("{f}({a})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("add_days({a}, {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a})[{b}]")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}).contains({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("[{a}, {b}].map(i, i + {b})")),
            inner
                .clone()
                .prop_map(|a| format!("health.immunisations.exists(i, i.name == {a})")),
            inner.prop_map(|a| format!(
                "records_of('benefit-award/v1').filter(r, r.amount > {a}).size() > 0"
            )),
        ]
    })
}

fn facts() -> Facts {
    let mut f = Facts::new();
    f.set("personal.date_of_birth", json!("1959-06-01"))
        .unwrap();
    f.set("government.tax.annual_income", json!(9360.0))
        .unwrap();
    f
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn loading_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = RulePack::load(&bytes, TODAY);
    }

    #[test]
    fn loading_arbitrary_expressions_never_panics_and_bounds_hold(when in cel_like(), explain in cel_like()) {
        let explain = format!("x {{{explain}}}");
        match RulePack::load(pack_with(&[("c", &when, &explain)]).as_bytes(), TODAY) {
            Ok(pack) => {
                prop_assert!(when.len() <= 2_000);
                // Whatever loads evaluates without panicking, to one of the four outcomes.
                let out = pack.evaluate(&facts(), TODAY);
                prop_assert_eq!(out.len(), 1);
                prop_assert!(matches!(out[0].status, Status::Applies | Status::DoesNotApply | Status::Undecided | Status::CouldNotCheck));
            }
            Err(PackError::Expression { error, .. }) => {
                // The scan keeps ungrammatical text from the parser, which panics on some.
                prop_assert_ne!(error, ExprError::Syntax("it could not be parsed".to_owned()));
            }
            Err(_) => {}
        }
    }

    #[test]
    fn grammatical_expressions_load_and_never_stop_the_interpreter(when in cel_expr(), shown in cel_expr()) {
        // A placeholder cannot hold braces (map literals): those are for `when` only.
        let shown = if shown.contains(['{', '}']) { "1".to_owned() } else { shown };
        let explain = format!("x {{{shown}}}");
        match RulePack::load(pack_with(&[("c", &when, &explain)]).as_bytes(), TODAY) {
            Ok(pack) => {
                let mut f = facts();
                f.opt_in(twin_types::Category::Health);
                f.set("health.immunisations", json!([{"name": "flu", "date": "2025-10-01"}])).unwrap();
                f.add_record(twin_rules::RecordFact {
                    record_type: "benefit-award/v1".into(),
                    agency: twin_types::AgencyId::parse("sandbox-benefits").unwrap(),
                    issued_on: TODAY,
                    body: json!({"benefit": "Pension Credit", "decision": "awarded", "amount": 38.15, "effective_from": "2026-06-01"}),
                });
                for f in [facts(), f] {
                    let o = pack.evaluate(&f, TODAY).remove(0);
                    // The load-time checks keep the interpreter away from its panics.
                    prop_assert!(!o.explanation.contains("cannot work out"), "{} -> {}", when, o.explanation);
                }
            }
            Err(PackError::Expression { error, .. }) => {
                // Grammatical by construction: the scan must not refuse it as such.
                let as_syntax = matches!(error, ExprError::Syntax(_) | ExprError::Unreadable(_));
                prop_assert!(!as_syntax, "{} / {}: {}", when, shown, error);
            }
            Err(PackError::Template { error, .. }) => {
                if let twin_rules::TemplateError::Placeholder { error, .. } = *error {
                    let as_syntax = matches!(error, ExprError::Syntax(_) | ExprError::Unreadable(_));
                    prop_assert!(!as_syntax, "{} / {}: {}", when, shown, error);
                }
            }
            Err(e) => prop_assert!(matches!(e, PackError::Schema { .. } | PackError::Template { .. }), "{}", e),
        }
    }

    #[test]
    fn arbitrary_unicode_expressions_never_panic(when in "\\PC{0,300}") {
        let _ = RulePack::load(pack_with(&[("c", &when, "x")]).as_bytes(), TODAY);
    }

    #[test]
    fn evaluation_never_panics_on_any_valid_values(
        year in 1900i32..2026, month in 1u8..=12, day in 1u8..=28,
        income in 0.0f64..1e8, size in 1i64..30, n in 0usize..20,
    ) {
        let pack = RulePack::load(BENEFITS.as_bytes(), TODAY).unwrap();
        let mut f = Facts::new();
        f.set("personal.date_of_birth", json!(format!("{year:04}-{month:02}-{day:02}"))).unwrap();
        f.set("government.tax.annual_income", json!(income)).unwrap();
        f.set("personal.household.size", json!(size)).unwrap();
        if n % 2 == 0 {
            f.set("personal.address.postcode", json!("LS1 4AP")).unwrap();
        }
        for o in pack.evaluate(&f, TODAY) {
            prop_assert!(o.status != Status::CouldNotCheck, "{}: {}", o.rule, o.explanation);
            prop_assert!(!o.explanation.contains('?'), "{}", o.explanation);
        }
    }
}
