//! Generates the protocol's test vectors in `schemas/vectors/`.
//!
//! ```text
//! cargo run -p twin-protocol --features test-vectors --example gen_vectors -- --write   # rewrite
//! cargo run -p twin-protocol --features test-vectors --example gen_vectors -- --check   # fail if they differ
//! ```
//!
//! Everything is deterministic: fixed keys, fixed ids, fixed times, and HPKE ephemeral
//! keys from a seeded generator (`twin_protocol::deterministic`). `tests/vectors.rs` runs
//! every vector through the verifiers. The keys here are test keys, public on purpose.

use std::collections::BTreeMap;
use std::path::PathBuf;

use coset::CborSerializable;
use serde_json::{Value, json};
use twin_protocol::{
    AgencyCard, AgencyRequest, Anchor, CardKey, GrantBuilder, KeyPair, Limits, Purpose, Receipt,
    ReceiptEvent, RecordClaims, Revocation, TrustList, deterministic, make_refresh, sign_rule_pack,
};
use twin_types::{AgencyId, FieldPath, GrantId, MessageId};

const NOW: i64 = 1_795_000_000; // 17 November 2026
const DAY: i64 = 86_400;
const ROOT_SECRET: [u8; 32] = [9; 32];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/vectors")
}

fn p(s: &str) -> FieldPath {
    FieldPath::parse(s).unwrap()
}

fn gid(n: u8) -> GrantId {
    GrantId::from_bytes([n; 16])
}

struct Ctx {
    anchor: KeyPair,
    agency: KeyPair,
    citizen: KeyPair,
    trust: TrustList,
    card: AgencyCard,
}

fn ctx() -> Ctx {
    let anchor = KeyPair::from_seeds([1; 32], [2; 32]);
    let agency = KeyPair::from_seeds([3; 32], [4; 32]);
    let trust = TrustList {
        anchors: vec![Anchor {
            id: "vector-anchor".into(),
            name: "Test-vector anchor".into(),
            public_key: anchor.sign_public(),
            not_before: NOW - 365 * DAY,
            not_after: NOW + 365 * DAY,
            sandbox: true,
        }],
        revoked: vec![],
    };
    let card = AgencyCard {
        v: 1,
        agency: AgencyId::parse("vector-benefits").unwrap(),
        name: "Vector Benefits Agency".into(),
        endpoint: "https://benefits.example".into(),
        sandbox: true,
        keys: vec![CardKey {
            kid: "k1".into(),
            sign: agency.sign_public(),
            seal: agency.seal_public(),
            not_after: NOW + 180 * DAY,
        }],
        record_types: vec!["benefit-award/v1".into()],
        purposes: vec![Purpose {
            code: "pension-credit-check".into(),
            words: "Pension Credit check".into(),
            fields: vec![
                "personal.date_of_birth".into(),
                "personal.address.postcode".into(),
            ],
            legal_basis: "State Pension Credit Act 2002".into(),
            retention_days: 30,
        }],
        expires_at: NOW + 365 * DAY,
    };
    let citizen = KeyPair::pairwise(&ROOT_SECRET, &card.agency);
    Ctx {
        anchor,
        agency,
        citizen,
        trust,
        card,
    }
}

fn builder(c: &Ctx, id: u8) -> GrantBuilder<'_> {
    GrantBuilder::new(&c.card, "pension-credit-check", 7 * DAY)
        .grant_id(gid(id))
        .field(p("personal.date_of_birth"), json!("1958-03-14"))
        .field(p("personal.address.postcode"), json!("LS1 4AP"))
}

/// Rewrites a CBOR map's entry (for forging wire fields).
fn patch_cbor(bytes: &[u8], key: &str, f: impl FnOnce(&mut ciborium::Value)) -> Vec<u8> {
    let mut v: ciborium::Value = ciborium::from_reader(bytes).unwrap();
    if let ciborium::Value::Map(entries) = &mut v
        && let Some((_, val)) = entries.iter_mut().find(|(k, _)| k.as_text() == Some(key))
    {
        f(val);
    }
    let mut out = Vec::new();
    ciborium::into_writer(&v, &mut out).unwrap();
    out
}

fn vector(
    name: &str,
    kind: &str,
    description: &str,
    now: i64,
    input: &[u8],
    expect: &str,
    extra: Value,
) -> (String, Value) {
    let mut v = json!({
        "name": name,
        "kind": kind,
        "description": description,
        "now": now,
        "input": hex::encode(input),
        "expect": expect,
    });
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
    }
    (name.to_owned(), v)
}

fn all() -> BTreeMap<String, Value> {
    let c = ctx();
    let mut out = BTreeMap::new();
    let mut add = |(k, v): (String, Value)| {
        out.insert(k, v);
    };
    let signed_card = c.card.sign("vector-anchor", &c.anchor);
    add((
        "context".into(),
        json!({
            "description": "Shared by every vector. Test keys, public on purpose. Seeds are Ed25519 seed ‖ X25519 scalar.",
            "now": NOW,
            "trust_list": c.trust,
            "card": hex::encode(&signed_card.0),
            "agency_key_id": "k1",
            "agency_key_seeds": hex::encode(*c.agency.to_seeds()),
            "citizen_root_secret": hex::encode(ROOT_SECRET),
            "citizen_pairwise_seeds": hex::encode(*c.citizen.to_seeds()),
            "limits": {
                "max_grant_bytes": Limits::default().max_grant_bytes,
                "max_payload_bytes": Limits::default().max_payload_bytes,
                "max_fields": Limits::default().max_fields,
                "max_skew_secs": Limits::default().max_skew_secs,
                "max_duration_secs": Limits::default().max_duration_secs,
                "max_records_secs": Limits::default().max_records_secs,
            },
        }),
    ));

    // Cards.
    add(vector(
        "card_ok",
        "card",
        "An agency card signed by a trusted anchor.",
        NOW,
        &signed_card.0,
        "ok",
        json!({}),
    ));
    let stranger = KeyPair::from_seeds([5; 32], [6; 32]);
    add(vector(
        "fail_untrusted_anchor",
        "card",
        "Signed by an anchor id the trust list does not have.",
        NOW,
        &c.card.sign("someone-else", &stranger).0,
        "UntrustedAnchor",
        json!({}),
    ));
    let mut revoked = c.trust.clone();
    revoked.revoked.push(c.anchor.sign_public());
    add(vector(
        "fail_revoked_anchor_key",
        "card",
        "The anchor's key is on the trust list's revoked list.",
        NOW,
        &signed_card.0,
        "RevokedAnchor",
        json!({"trust_list": revoked}),
    ));
    add(vector(
        "fail_card_bad_signature",
        "card",
        "Signed with another key under the trusted anchor's id.",
        NOW,
        &c.card.sign("vector-anchor", &stranger).0,
        "BadSignature",
        json!({}),
    ));

    // Grants.
    let ok = deterministic([10; 32], || builder(&c, 1).build(&c.citizen, NOW).unwrap());
    add(vector(
        "grant_ok",
        "grant",
        "A grant of two fields for 7 days.",
        NOW + 60,
        &ok.bytes,
        "ok",
        json!({"values": {"personal.address.postcode": "LS1 4AP", "personal.date_of_birth": "1958-03-14"}}),
    ));
    let single = deterministic([11; 32], || {
        builder(&c, 2)
            .single_use(true)
            .build(&c.citizen, NOW)
            .unwrap()
    });
    add(vector(
        "grant_single_use_ok",
        "grant",
        "A single-use grant, first redemption.",
        NOW,
        &single.bytes,
        "ok",
        json!({"values": {"personal.address.postcode": "LS1 4AP", "personal.date_of_birth": "1958-03-14"}}),
    ));
    add(vector(
        "fail_replayed_single_use",
        "grant",
        "The same single-use grant redeemed again.",
        NOW,
        &single.bytes,
        "Replayed",
        json!({"seen": [gid(2)]}),
    ));
    add(vector(
        "fail_revoked",
        "grant",
        "The citizen revoked this grant id (the agency remembers it).",
        NOW,
        &ok.bytes,
        "Revoked",
        json!({"revoked": [gid(1)]}),
    ));
    add(vector(
        "fail_expired",
        "grant",
        "Redeemed after expires-at plus the allowed skew.",
        NOW + 7 * DAY + 301,
        &ok.bytes,
        "Expired",
        json!({}),
    ));
    let later = deterministic([12; 32], || {
        builder(&c, 3)
            .not_before(NOW + DAY)
            .build(&c.citizen, NOW)
            .unwrap()
    });
    add(vector(
        "fail_not_yet_valid",
        "grant",
        "Redeemed before not-before minus the allowed skew.",
        NOW,
        &later.bytes,
        "NotYetValid",
        json!({}),
    ));
    let long_limits = Limits {
        max_duration_secs: 365 * DAY,
        ..Limits::default()
    };
    let long = deterministic([13; 32], || {
        GrantBuilder::new(&c.card, "pension-credit-check", 100 * DAY)
            .grant_id(gid(4))
            .limits(long_limits)
            .field(p("personal.date_of_birth"), json!("1958-03-14"))
            .build(&c.citizen, NOW)
            .unwrap()
    });
    add(vector(
        "fail_duration_over_cap",
        "grant",
        "Lasts 100 days; the cap is 90.",
        NOW,
        &long.bytes,
        "DurationTooLong",
        json!({}),
    ));
    let sig_bad = patch_cbor(&ok.bytes, "signed", |v| {
        let mut cose = coset::CoseSign1::from_slice(v.as_bytes().unwrap()).unwrap();
        cose.signature[10] ^= 1;
        *v = ciborium::Value::Bytes(cose.to_vec().unwrap());
    });
    add(vector(
        "fail_bad_signature",
        "grant",
        "One bit of the Ed25519 signature flipped.",
        NOW,
        &sig_bad,
        "BadSignature",
        json!({}),
    ));
    let other = deterministic([14; 32], || {
        GrantBuilder::new(&c.card, "pension-credit-check", 7 * DAY)
            .grant_id(gid(5))
            .field(p("personal.date_of_birth"), json!("1960-01-01"))
            .field(p("personal.address.postcode"), json!("YO1 7HH"))
            .build(&c.citizen, NOW)
            .unwrap()
    });
    let other_sealed: ciborium::Value = {
        let v: ciborium::Value = ciborium::from_reader(other.bytes.as_slice()).unwrap();
        v.as_map()
            .unwrap()
            .iter()
            .find(|(k, _)| k.as_text() == Some("sealed"))
            .unwrap()
            .1
            .clone()
    };
    let swapped = patch_cbor(&ok.bytes, "sealed", |v| *v = other_sealed);
    add(vector(
        "fail_payload_swapped",
        "grant",
        "Valid signed claims with another grant's sealed values: HPKE alone would accept them; the signed digest does not.",
        NOW,
        &swapped,
        "PayloadSwapped",
        json!({}),
    ));
    let mut elsewhere = c.card.clone();
    elsewhere.agency = AgencyId::parse("vector-tax").unwrap();
    let to_other = deterministic([15; 32], || {
        GrantBuilder::new(&elsewhere, "pension-credit-check", DAY)
            .grant_id(gid(6))
            .field(p("personal.date_of_birth"), json!("1958-03-14"))
            .build(&c.citizen, NOW)
            .unwrap()
    });
    add(vector(
        "fail_wrong_audience",
        "grant",
        "A grant made for another agency, presented to this one.",
        NOW,
        &to_other.bytes,
        "WrongAudience",
        json!({}),
    ));
    let mut k2 = c.card.clone();
    k2.keys[0].kid = "k2".into();
    let wrong_kid = deterministic([16; 32], || {
        GrantBuilder::new(&k2, "pension-credit-check", DAY)
            .grant_id(gid(7))
            .field(p("personal.date_of_birth"), json!("1958-03-14"))
            .build(&c.citizen, NOW)
            .unwrap()
    });
    add(vector(
        "fail_unknown_key_id",
        "grant",
        "Sealed to a key id the agency does not have.",
        NOW,
        &wrong_kid.bytes,
        "UnknownKey",
        json!({}),
    ));
    let late = deterministic([17; 32], || {
        builder(&c, 8)
            .not_before(NOW + 175 * DAY)
            .build(&c.citizen, NOW)
            .unwrap()
    });
    add(vector(
        "fail_expired_agency_key",
        "grant",
        "Redeemed after the agency key it was sealed to expired.",
        NOW + 181 * DAY,
        &late.bytes,
        "UnknownKey",
        json!({}),
    ));
    let forged = deterministic([18; 32], || {
        GrantBuilder::new(&c.card, "pension-credit-check", DAY)
            .grant_id(gid(9))
            .field(p("personal.date_of_birth"), json!("1958-03-14"))
            .field(p("personal.email"), json!("someone@example.org"))
            .forge_claimed_fields(vec![p("personal.date_of_birth")])
            .build(&c.citizen, NOW)
            .unwrap()
    });
    add(vector(
        "fail_field_outside_scope",
        "grant",
        "The sealed values include a field the signed claims do not name.",
        NOW,
        &forged.bytes,
        "FieldOutsideScope",
        json!({}),
    ));
    add(vector(
        "fail_truncated",
        "grant",
        "The grant cut off halfway.",
        NOW,
        &ok.bytes[..ok.bytes.len() / 2],
        "Malformed",
        json!({}),
    ));
    let v2 = patch_cbor(&ok.bytes, "v", |v| *v = ciborium::Value::Integer(2.into()));
    add(vector(
        "fail_unknown_version",
        "grant",
        "Format version 2.",
        NOW,
        &v2,
        "UnknownVersion",
        json!({}),
    ));
    let big_limits = Limits {
        max_payload_bytes: 1 << 20,
        max_grant_bytes: 1 << 21,
        ..Limits::default()
    };
    let big = deterministic([19; 32], || {
        GrantBuilder::new(&c.card, "pension-credit-check", DAY)
            .grant_id(gid(10))
            .limits(big_limits)
            .field(p("social.feedback"), json!("x".repeat(70_000)))
            .build(&c.citizen, NOW)
            .unwrap()
    });
    add(vector(
        "fail_oversized_payload",
        "grant",
        "Sealed values of 70 kB; the limit is 64 KiB.",
        NOW,
        &big.bytes,
        "PayloadTooLarge",
        json!({}),
    ));

    // Paper form.
    let text = deterministic([20; 32], || ok.to_text(&c.card).unwrap());
    add(vector(
        "paper_ok",
        "paper",
        "The text form of grant_ok: opens to the same grant bytes.",
        NOW + 60,
        text.as_bytes(),
        "ok",
        json!({"grant": hex::encode(&ok.bytes)}),
    ));

    // Records.
    let with_records = deterministic([21; 32], || {
        builder(&c, 11)
            .records(vec!["benefit-award/v1".into()], NOW + 60 * DAY)
            .build(&c.citizen, NOW)
            .unwrap()
    });
    let record = |id: u8, kind: &str, at: i64, key: &KeyPair, seed: u8| {
        deterministic([seed; 32], || {
            RecordClaims {
                v: 1,
                record_id: MessageId::from_bytes([id; 16]),
                record_type: kind.into(),
                agency: c.card.agency.clone(),
                subject: with_records.claims.citizen_sign,
                grant_id: with_records.claims.grant_id,
                issued_at: at,
                body: r#"{"award":"Pension Credit","weekly_amount":218.15}"#.into(),
            }
            .issue("k1", key, &with_records.claims.citizen_seal)
            .unwrap()
        })
    };
    let grant_hex = json!({"grant": hex::encode(&with_records.bytes)});
    add(vector(
        "record_ok",
        "record",
        "A benefit award within the grant's write-back window.",
        NOW,
        &record(1, "benefit-award/v1", NOW + 30 * DAY, &c.agency, 22),
        "ok",
        grant_hex.clone(),
    ));
    add(vector(
        "fail_record_type_outside_scope",
        "record",
        "A record type the grant does not allow.",
        NOW,
        &record(2, "licence/v1", NOW, &c.agency, 23),
        "TypeOutsideScope",
        grant_hex.clone(),
    ));
    add(vector(
        "fail_record_after_window",
        "record",
        "Issued after the grant's write-back window.",
        NOW,
        &record(3, "benefit-award/v1", NOW + 61 * DAY, &c.agency, 24),
        "AfterWindow",
        grant_hex.clone(),
    ));
    add(vector(
        "fail_record_bad_signature",
        "record",
        "Signed with a key that is not the agency's.",
        NOW,
        &record(4, "benefit-award/v1", NOW, &stranger, 25),
        "BadSignature",
        grant_hex.clone(),
    ));

    // Refreshes.
    let mut values = BTreeMap::new();
    values.insert(p("personal.address.postcode"), json!("YO1 7HH"));
    let r2 = deterministic([26; 32], || {
        make_refresh(&ok.claims, &c.card, &values, 2, NOW + 10, &c.citizen).unwrap()
    });
    let grant_ok = json!({"grant": hex::encode(&ok.bytes)});
    let mut extra = grant_ok.clone();
    extra["last_seq"] = json!(1);
    add(vector(
        "refresh_ok",
        "refresh",
        "Sequence 2 after 1.",
        NOW + 20,
        &r2,
        "ok",
        extra,
    ));
    let mut extra = grant_ok.clone();
    extra["last_seq"] = json!(2);
    add(vector(
        "fail_refresh_rollback",
        "refresh",
        "Sequence 2 again after 2: a rollback or replay.",
        NOW + 20,
        &r2,
        "Rollback",
        extra,
    ));

    // Revocation notices.
    let notice = Revocation::sign(gid(1), c.card.agency.clone(), NOW, &c.citizen);
    add(vector(
        "revocation_ok",
        "revocation",
        "The citizen stops grant_ok.",
        NOW,
        &notice,
        "ok",
        json!({}),
    ));
    let elsewhere_notice = Revocation::sign(
        gid(1),
        AgencyId::parse("vector-tax").unwrap(),
        NOW,
        &c.citizen,
    );
    add(vector(
        "fail_revocation_wrong_audience",
        "revocation",
        "A notice addressed to another agency.",
        NOW,
        &elsewhere_notice,
        "WrongAudience",
        json!({}),
    ));

    // Receipts.
    let receipt = Receipt {
        v: 1,
        agency: c.card.agency.clone(),
        grant_id: gid(1),
        event: ReceiptEvent::Access {
            seq: 1,
            prev: vec![0; 32],
            staff: "J. Officer".into(),
            fields: vec![p("personal.date_of_birth")],
            purpose: "Pension Credit check".into(),
        },
        at: NOW,
    };
    add(vector(
        "receipt_access_ok",
        "receipt",
        "The first access receipt for grant_ok.",
        NOW,
        &receipt.sign("k1", &c.agency),
        "ok",
        json!({}),
    ));
    let deletion = Receipt {
        event: ReceiptEvent::Deletion {
            reason: "revoked".into(),
        },
        ..receipt.clone()
    };
    add(vector(
        "receipt_deletion_ok",
        "receipt",
        "The deletion receipt after revocation.",
        NOW,
        &deletion.sign("k1", &c.agency),
        "ok",
        json!({}),
    ));
    add(vector(
        "fail_receipt_bad_signature",
        "receipt",
        "A receipt signed by someone else.",
        NOW,
        &receipt.sign("k1", &stranger),
        "BadSignature",
        json!({}),
    ));

    // Rule packs: the payload is the pack's JSON, signed as published.
    let pack = br#"{"v":1,"publisher":"vector-benefits","pack":"benefits","version":1,"title":"Vectors","issued_at":"2026-11-01","valid_from":"2026-11-01","valid_until":"2027-11-01","rules":[{"id":"pension-credit","version":1,"title":"Pension Credit","kind":"eligibility","source":"https://www.gov.uk/pension-credit","valid_from":"2026-11-01","valid_until":"2027-11-01","purpose":"pension-credit-check","summary":"You may be eligible for Pension Credit","criteria":[{"name":"age","when":"age(personal.date_of_birth) >= 66","explain":"Age {age(personal.date_of_birth)} >= 66"}]}]}"#;
    let signed_pack = sign_rule_pack(pack, "k1", &c.agency);
    add(vector(
        "rules_ok",
        "rules",
        "A rule pack signed with the card's key k1; verification returns the JSON as signed.",
        NOW,
        &signed_pack,
        "ok",
        json!({"payload": hex::encode(pack)}),
    ));
    add(vector(
        "fail_rules_bad_signature",
        "rules",
        "A rule pack naming vector-benefits, signed by someone else under kid k1.",
        NOW,
        &sign_rule_pack(pack, "k1", &stranger),
        "BadSignature",
        json!({}),
    ));
    add(vector(
        "fail_rules_expired_key",
        "rules",
        "rules_ok's bytes after the card's key k1 has passed its not_after.",
        NOW + 181 * DAY,
        &signed_pack,
        "KeyExpired",
        json!({}),
    ));
    let other = pack_for("vector-tax");
    add(vector(
        "fail_rules_wrong_publisher",
        "rules",
        "Signed with vector-benefits' key, but naming vector-tax as the publisher.",
        NOW,
        &sign_rule_pack(&other, "k1", &c.agency),
        "WrongPublisher",
        json!({}),
    ));

    // Agency requests.
    let request = AgencyRequest {
        v: 1,
        request_id: MessageId::from_bytes([30; 16]),
        agency: c.card.agency.clone(),
        fields: vec![p("personal.date_of_birth"), p("personal.email")],
        purpose: "pension-credit-check".into(),
        case_ref: Some("PC-1234".into()),
        duration_secs: 7 * DAY,
        records: vec!["benefit-award/v1".into()],
        records_secs: 90 * DAY,
        issued_at: NOW,
        expires_at: NOW + 14 * DAY,
    };
    let signed_request = request.sign("k1", &c.agency);
    add(vector(
        "request_ok",
        "request",
        "A request for two fields; the card lists only one for this purpose.",
        NOW,
        &signed_request,
        "ok",
        json!({"over_asking": ["personal.email"]}),
    ));
    add(vector(
        "fail_request_expired",
        "request",
        "A request after it lapsed.",
        NOW + 15 * DAY,
        &signed_request,
        "Expired",
        json!({}),
    ));

    // Vault key-file settings (checked by twin-crypto's KdfParams::check before any work).
    add(vector(
        "fail_hostile_kdf_params",
        "kdf",
        "Argon2id settings asking for 4 GiB and a million passes.",
        NOW,
        br#"{"memory_kib":4194304,"iterations":1000000,"parallelism":1}"#,
        "OutOfBounds",
        json!({}),
    ));
    out
}

/// A minimal rule pack naming `publisher`.
fn pack_for(publisher: &str) -> Vec<u8> {
    format!(r#"{{"v":1,"publisher":"{publisher}","pack":"tax","version":1,"rules":[]}}"#)
        .into_bytes()
}

fn main() {
    let write = std::env::args().any(|a| a == "--write");
    let mut differ = Vec::new();
    for (name, v) in all() {
        let path = dir().join(format!("{name}.json"));
        let text = format!("{}\n", serde_json::to_string_pretty(&v).unwrap());
        if write {
            std::fs::create_dir_all(dir()).unwrap();
            std::fs::write(&path, text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            differ.push(name);
        }
    }
    if !write && !differ.is_empty() {
        eprintln!(
            "test vectors differ from what the generator makes: {}",
            differ.join(", ")
        );
        eprintln!(
            "run `cargo run -p twin-protocol --example gen_vectors -- --write` and review the change"
        );
        std::process::exit(1);
    }
}
