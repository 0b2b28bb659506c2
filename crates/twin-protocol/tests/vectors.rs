//! Runs every committed test vector in `schemas/vectors/` through the verifiers and
//! checks the outcome: `ok` (and the opened values, where given) or the named error.

use std::path::PathBuf;

use serde_json::Value;
use twin_protocol::{
    AgencyRequest, AgencyView, Grant, KeyPair, Limits, Receipt, Revocation, SignedCard, TrustList,
    UnverifiedGrant, open_record, open_refresh, open_text, verify_rule_pack,
};
use twin_types::GrantId;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/vectors")
}

fn bytes(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap_or_else(|| panic!("{key} missing"))).unwrap()
}

fn seeds(hex_text: &str) -> KeyPair {
    let b = hex::decode(hex_text).unwrap();
    KeyPair::from_seeds(b[..32].try_into().unwrap(), b[32..].try_into().unwrap())
}

fn ids(v: &Value, key: &str) -> Vec<GrantId> {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().unwrap().parse().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

/// The variant name of an error's `Debug` form: `FieldOutsideScope("x")` → `FieldOutsideScope`.
fn name(e: impl std::fmt::Debug) -> String {
    format!("{e:?}")
        .split(['(', ' ', '{'])
        .next()
        .unwrap()
        .to_owned()
}

fn outcome<T, E: std::fmt::Debug>(r: Result<T, E>) -> (String, Option<T>) {
    match r {
        Ok(t) => ("ok".into(), Some(t)),
        Err(e) => (name(e), None),
    }
}

#[test]
fn every_vector_gives_its_expected_outcome() {
    let ctx: Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("context.json")).unwrap())
            .unwrap();
    let trust: TrustList = serde_json::from_value(ctx["trust_list"].clone()).unwrap();
    let card = SignedCard(bytes(&ctx, "card"))
        .verify(&trust, ctx["now"].as_i64().unwrap())
        .unwrap();
    let agency = seeds(ctx["agency_key_seeds"].as_str().unwrap());
    let citizen = seeds(ctx["citizen_pairwise_seeds"].as_str().unwrap());
    let keys = [("k1".to_owned(), &agency)];
    let view = AgencyView {
        card: &card,
        keys: &keys,
        limits: Limits::default(),
    };

    let mut count = 0;
    let mut kinds = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        // Sub-folders hold other formats' vectors (backup/ is twin-backup's).
        if path.is_dir() || path.file_name().unwrap() == "context.json" {
            continue;
        }
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let input = bytes(&v, "input");
        let now = v["now"].as_i64().unwrap();
        let expect = v["expect"].as_str().unwrap();
        let kind = v["kind"].as_str().unwrap();
        kinds.insert(kind.to_owned());
        let got = match kind {
            "card" => {
                let t: TrustList = v
                    .get("trust_list")
                    .map(|t| serde_json::from_value(t.clone()).unwrap())
                    .unwrap_or(trust.clone());
                outcome(SignedCard(input).verify(&t, now)).0
            }
            "grant" => {
                let revoked = ids(&v, "revoked");
                let seen = ids(&v, "seen");
                let r = UnverifiedGrant::parse(&input, &view.limits).and_then(|g| {
                    g.verify(
                        &view,
                        now,
                        |id, _| revoked.contains(id),
                        |id, _| seen.contains(id),
                    )
                });
                let (o, verified) = outcome(r);
                if let (Some(g), Some(want)) = (verified, v.get("values")) {
                    let got: serde_json::Map<String, Value> = g
                        .values
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.clone()))
                        .collect();
                    assert_eq!(&Value::Object(got), want, "{}", path.display());
                }
                o
            }
            "paper" => {
                let text = String::from_utf8(input).unwrap();
                let (o, opened) = outcome(open_text(&text, &keys));
                if let Some(b) = opened {
                    assert_eq!(b, bytes(&v, "grant"));
                }
                o
            }
            "record" => {
                let grant = Grant::from_own_bytes(&bytes(&v, "grant")).unwrap();
                outcome(open_record(&input, &citizen, &card, &grant.claims)).0
            }
            "refresh" => {
                let grant = Grant::from_own_bytes(&bytes(&v, "grant")).unwrap();
                let last = v["last_seq"].as_u64().unwrap();
                outcome(open_refresh(&input, &grant.claims, &agency, last, now, 300)).0
            }
            "revocation" => outcome(Revocation::verify(&input, &card.agency)).0,
            "request" => {
                let (o, verified) = outcome(AgencyRequest::verify(&input, &card, now));
                if let (Some(r), Some(want)) = (verified, v.get("over_asking")) {
                    let got: Vec<String> = r.over_asking.iter().map(|f| f.to_string()).collect();
                    assert_eq!(&serde_json::to_value(got).unwrap(), want);
                }
                o
            }
            "receipt" => outcome(Receipt::verify(&input, &card)).0,
            "rules" => {
                let (o, payload) = outcome(verify_rule_pack(&input, &card, now));
                if let (Some(p), Some(want)) = (payload, v.get("payload")) {
                    assert_eq!(hex::encode(p), want.as_str().unwrap());
                }
                o
            }
            "kdf" => {
                let p: twin_crypto::KdfParams = serde_json::from_slice(&input).unwrap();
                outcome(p.check()).0
            }
            other => panic!("unknown kind {other} in {}", path.display()),
        };
        assert_eq!(got, expect, "{}", path.display());
        count += 1;
    }
    assert!(count >= 30, "only {count} vectors found");
    for k in [
        "card",
        "grant",
        "paper",
        "record",
        "refresh",
        "revocation",
        "receipt",
        "rules",
        "kdf",
    ] {
        assert!(kinds.contains(k), "no {k} vectors");
    }
}

#[test]
fn every_single_byte_change_of_a_valid_message_is_refused() {
    let ctx: Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("context.json")).unwrap())
            .unwrap();
    let trust: TrustList = serde_json::from_value(ctx["trust_list"].clone()).unwrap();
    let now = ctx["now"].as_i64().unwrap();
    let card = SignedCard(bytes(&ctx, "card")).verify(&trust, now).unwrap();
    let citizen = seeds(ctx["citizen_pairwise_seeds"].as_str().unwrap());
    let read = |n: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir().join(format!("{n}.json"))).unwrap())
            .unwrap()
    };
    let card_bytes = bytes(&ctx, "card");
    let record = read("record_ok");
    let grant = Grant::from_own_bytes(&bytes(&record, "grant")).unwrap();
    let record_bytes = bytes(&record, "input");
    let notice = bytes(&read("revocation_ok"), "input");
    let receipt = bytes(&read("receipt_access_ok"), "input");
    for i in 0..card_bytes.len() {
        let mut b = card_bytes.clone();
        b[i] ^= 0x01;
        assert!(SignedCard(b).verify(&trust, now).is_err(), "card byte {i}");
    }
    for i in 0..record_bytes.len() {
        let mut b = record_bytes.clone();
        b[i] ^= 0x01;
        assert!(
            open_record(&b, &citizen, &card, &grant.claims).is_err(),
            "record byte {i}"
        );
    }
    for i in 0..notice.len() {
        let mut b = notice.clone();
        b[i] ^= 0x01;
        assert!(
            Revocation::verify(&b, &card.agency).is_err(),
            "notice byte {i}"
        );
    }
    for i in 0..receipt.len() {
        let mut b = receipt.clone();
        b[i] ^= 0x01;
        assert!(Receipt::verify(&b, &card).is_err(), "receipt byte {i}");
    }
}
