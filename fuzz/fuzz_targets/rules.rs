//! Rule packs: whole payloads, single expressions (as a criterion's test), templates (as
//! its explanation) and signed packs. The first byte picks which; the rest is the input.
//! Invariants: nothing panics — not even inside the CEL parser or interpreter, whose
//! panics twin-rules would catch (libfuzzer's hook aborts on any panic, caught or not, so
//! a panic the load-time checks failed to keep away shows up here); whatever loads
//! evaluates to one outcome per rule in force, on an empty twin and on a full one.
#![no_main]
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use time::macros::date;
use twin_protocol::{AgencyCard, CardKey, KeyPair, verify_rule_pack};
use twin_rules::{Facts, RecordFact, RulePack};
use twin_types::{AgencyId, Category};

const TODAY: time::Date = date!(2026 - 11 - 20);
const NOW: i64 = 1_795_000_000;

static FULL: LazyLock<Facts> = LazyLock::new(|| {
    let mut f = Facts::new();
    f.opt_in(Category::Health).opt_in(Category::Social);
    f.set_fragment(&json!({
        "personal": {"full_name": "A B", "date_of_birth": "1959-06-01", "address": {"town": "Leeds", "postcode": "LS1 4AP"}, "household": {"size": 2}},
        "government": {"tax": {"reference": "AB123456C", "annual_income": 11440.0}, "licences": {"driving": {"expires": "2026-12-31"}}},
        "health": {"immunisations": [{"name": "Flu", "date": "2025-10-01"}], "medications": [{"name": "Metformin"}]},
        "social": {"feedback": "ok"}
    }))
    .unwrap();
    f.add_record(RecordFact {
        record_type: "benefit-award/v1".into(),
        agency: AgencyId::parse("fuzz-benefits").unwrap(),
        issued_on: TODAY,
        body: json!({"benefit": "Pension Credit", "decision": "awarded", "amount": 38.15, "effective_from": "2026-06-01", "effective_until": "2026-12-31"}),
    });
    f
});

static CARD: LazyLock<(AgencyCard, KeyPair)> = LazyLock::new(|| {
    let key = KeyPair::from_seeds([3; 32], [4; 32]);
    let card = AgencyCard {
        v: 1,
        agency: AgencyId::parse("fuzz-benefits").unwrap(),
        name: "Fuzz".into(),
        endpoint: "https://x.example".into(),
        sandbox: true,
        keys: vec![CardKey {
            kid: "k1".into(),
            sign: key.sign_public(),
            seal: key.seal_public(),
            not_after: NOW + 86_400,
        }],
        record_types: vec![],
        purposes: vec![],
        expires_at: NOW + 86_400,
    };
    (card, key)
});

fn pack(when: &str, explain: &str) -> String {
    json!({
        "v": 1, "publisher": "fuzz-benefits", "pack": "fuzz", "version": 1, "title": "Fuzz",
        "issued_at": "2026-01-01", "valid_from": "2026-01-01", "valid_until": "2027-01-01",
        "rules": [{
            "id": "r", "version": 1, "title": "R", "kind": "eligibility", "source": "https://x.example/p",
            "valid_from": "2026-01-01", "valid_until": "2027-01-01", "purpose": "p", "summary": "S",
            "criteria": [{"name": "c", "when": when, "explain": explain}]
        }]
    })
    .to_string()
}

fn check(bytes: &[u8]) {
    if let Ok(p) = RulePack::load(bytes, TODAY) {
        let in_force = p.rules().iter().filter(|r| r.in_force(TODAY)).count();
        assert_eq!(p.evaluate(&Facts::new(), TODAY).len(), in_force);
        assert_eq!(p.evaluate(&FULL, TODAY).len(), in_force);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match mode % 4 {
        0 => check(rest),
        1 => check(pack(&text, "x").as_bytes()),
        2 => check(pack("true", &text).as_bytes()),
        _ => {
            let (card, key) = &*CARD;
            // Half the time sign the input, so verification passes and loading is reached.
            let signed;
            let bytes = if rest.first().is_some_and(|b| b % 2 == 0) {
                signed = twin_protocol::sign_rule_pack(&rest[1..], "k1", key);
                &signed[..]
            } else {
                rest
            };
            if let Ok(payload) = verify_rule_pack(bytes, card, NOW) {
                check(&payload);
            }
        }
    }
});
