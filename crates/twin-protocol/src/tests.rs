use serde_json::json;
use twin_types::{AgencyId, FieldPath, GrantId};

use crate::*;

const NOW: i64 = 1_795_000_000; // November 2026
const DAY: i64 = 86_400;

struct World {
    trust: TrustList,
    anchor: KeyPair,
    card: AgencyCard,
    agency_key: KeyPair,
    citizen: KeyPair,
}

fn world() -> World {
    let anchor = KeyPair::from_seeds([1; 32], [2; 32]);
    let agency_key = KeyPair::from_seeds([3; 32], [4; 32]);
    let trust = TrustList {
        anchors: vec![Anchor {
            id: "sandbox-anchor".into(),
            name: "Sandbox trust anchor".into(),
            public_key: anchor.sign_public(),
            not_before: NOW - 365 * DAY,
            not_after: NOW + 365 * DAY,
            sandbox: true,
        }],
        revoked: vec![],
    };
    let card = AgencyCard {
        v: 1,
        agency: AgencyId::parse("sandbox-benefits").unwrap(),
        name: "Sandbox Benefits Agency".into(),
        endpoint: "http://127.0.0.1:8700".into(),
        sandbox: true,
        keys: vec![CardKey {
            kid: "k1".into(),
            sign: agency_key.sign_public(),
            seal: agency_key.seal_public(),
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
    let citizen = KeyPair::pairwise(&[9; 32], &card.agency);
    World {
        trust,
        anchor,
        card,
        agency_key,
        citizen,
    }
}

fn p(s: &str) -> FieldPath {
    FieldPath::parse(s).unwrap()
}

fn grant(w: &World) -> Grant {
    GrantBuilder::new(&w.card, "pension-credit-check", 7 * DAY)
        .field(p("personal.date_of_birth"), json!("1958-03-14"))
        .field(p("personal.address.postcode"), json!("LS1 4AP"))
        .build(&w.citizen, NOW)
        .unwrap()
}

fn verify(w: &World, bytes: &[u8], now: i64) -> Result<VerifiedGrant, GrantError> {
    let keys = [("k1".to_owned(), &w.agency_key)];
    let view = AgencyView {
        card: &w.card,
        keys: &keys,
        limits: Limits::default(),
    };
    UnverifiedGrant::parse(bytes, &view.limits)?.verify(&view, now, |_| false, |_| false)
}

#[test]
fn cards_verify_against_the_trust_list() {
    let w = world();
    let signed = w.card.sign("sandbox-anchor", &w.anchor);
    assert_eq!(signed.verify(&w.trust, NOW).unwrap(), w.card);
    assert_eq!(
        signed.verify(&w.trust, NOW + 400 * DAY),
        Err(CardError::AnchorNotValid)
    );
    let mut revoked = w.trust.clone();
    revoked.revoked.push(w.anchor.sign_public());
    assert_eq!(signed.verify(&revoked, NOW), Err(CardError::RevokedAnchor));
    let other = KeyPair::generate();
    assert_eq!(
        w.card.sign("sandbox-anchor", &other).verify(&w.trust, NOW),
        Err(CardError::BadSignature)
    );
    assert_eq!(
        w.card.sign("elsewhere", &w.anchor).verify(&w.trust, NOW),
        Err(CardError::UntrustedAnchor)
    );
    let mut real = w.card.clone();
    real.sandbox = false;
    assert_eq!(
        real.sign("sandbox-anchor", &w.anchor).verify(&w.trust, NOW),
        Err(CardError::SandboxMismatch)
    );
}

#[test]
fn a_grant_verifies_and_opens_exactly_its_fields() {
    let w = world();
    let g = grant(&w);
    let v = verify(&w, &g.bytes, NOW + 60).unwrap();
    assert_eq!(v.values.len(), 2);
    assert_eq!(v.values[&p("personal.address.postcode")], json!("LS1 4AP"));
    assert_eq!(v.claims.purpose.words, "Pension Credit check");
    assert_eq!(v.claims, g.claims);
}

#[test]
fn time_checks() {
    let w = world();
    let g = grant(&w);
    assert_eq!(
        verify(&w, &g.bytes, NOW + 8 * DAY).unwrap_err(),
        GrantError::Expired
    );
    assert_eq!(
        verify(&w, &g.bytes, NOW - DAY).unwrap_err(),
        GrantError::NotYetValid
    );
    assert!(
        verify(&w, &g.bytes, NOW - 60).is_ok(),
        "small clock skew is tolerated"
    );
    let long = GrantBuilder::new(&w.card, "pension-credit-check", 100 * DAY)
        .field(p("personal.date_of_birth"), json!("1958-03-14"))
        .build(&w.citizen, NOW);
    assert!(matches!(long, Err(IssueError::TooLong(_))));
}

#[test]
fn revocation_replay_and_audience() {
    let w = world();
    let g = grant(&w);
    let keys = [("k1".to_owned(), &w.agency_key)];
    let view = AgencyView {
        card: &w.card,
        keys: &keys,
        limits: Limits::default(),
    };
    let id = g.claims.grant_id;
    let r = UnverifiedGrant::parse(&g.bytes, &view.limits)
        .unwrap()
        .verify(&view, NOW, |g| *g == id, |_| false);
    assert_eq!(r.unwrap_err(), GrantError::Revoked);
    let single = GrantBuilder::new(&w.card, "pension-credit-check", DAY)
        .field(p("personal.date_of_birth"), json!("1958-03-14"))
        .single_use(true)
        .build(&w.citizen, NOW)
        .unwrap();
    let r = UnverifiedGrant::parse(&single.bytes, &view.limits)
        .unwrap()
        .verify(&view, NOW, |_| false, |_| true);
    assert_eq!(r.unwrap_err(), GrantError::Replayed);
    let mut other = w.card.clone();
    other.agency = AgencyId::parse("sandbox-tax").unwrap();
    let view = AgencyView {
        card: &other,
        keys: &keys,
        limits: Limits::default(),
    };
    let r = UnverifiedGrant::parse(&g.bytes, &view.limits)
        .unwrap()
        .verify(&view, NOW, |_| false, |_| false);
    assert_eq!(r.unwrap_err(), GrantError::WrongAudience);
}

#[test]
fn swapped_payload_is_refused() {
    let w = world();
    let a = grant(&w);
    let b = GrantBuilder::new(&w.card, "pension-credit-check", 7 * DAY)
        .field(p("personal.date_of_birth"), json!("1960-01-01"))
        .field(p("personal.address.postcode"), json!("YO1 7HH"))
        .build(&w.citizen, NOW)
        .unwrap();
    let mut wa: super::grant_wire_for_tests::Wire = crate::cbor::from_slice(&a.bytes).unwrap();
    let wb: super::grant_wire_for_tests::Wire = crate::cbor::from_slice(&b.bytes).unwrap();
    wa.sealed = wb.sealed;
    let forged = crate::cbor::to_vec(&wa);
    assert_eq!(
        verify(&w, &forged, NOW).unwrap_err(),
        GrantError::PayloadSwapped
    );
}

#[test]
fn any_single_byte_change_is_refused() {
    let w = world();
    let g = grant(&w);
    for i in 0..g.bytes.len() {
        for flip in [0x01u8, 0x80] {
            let mut b = g.bytes.clone();
            b[i] ^= flip;
            assert!(
                verify(&w, &b, NOW).is_err(),
                "byte {i} flip {flip:#x} accepted"
            );
        }
    }
    for cut in [0, 1, g.bytes.len() / 2, g.bytes.len() - 1] {
        assert!(verify(&w, &g.bytes[..cut], NOW).is_err());
    }
}

#[test]
fn unknown_or_expired_agency_key() {
    let w = world();
    let g = grant(&w);
    assert_eq!(
        verify(&w, &g.bytes, NOW + 200 * DAY).unwrap_err(),
        GrantError::UnknownKey
    );
    let keys: [(String, &KeyPair); 0] = [];
    let view = AgencyView {
        card: &w.card,
        keys: &keys,
        limits: Limits::default(),
    };
    let r = UnverifiedGrant::parse(&g.bytes, &view.limits)
        .unwrap()
        .verify(&view, NOW, |_| false, |_| false);
    assert_eq!(r.unwrap_err(), GrantError::UnknownKey);
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let big = vec![0u8; Limits::default().max_grant_bytes + 1];
    assert!(matches!(
        UnverifiedGrant::parse(&big, &Limits::default()),
        Err(GrantError::TooLarge(_))
    ));
}

#[test]
fn grants_to_two_agencies_share_no_key_or_id() {
    let w = world();
    let mut tax = w.card.clone();
    tax.agency = AgencyId::parse("sandbox-tax").unwrap();
    let a = grant(&w);
    let citizen_tax = KeyPair::pairwise(&[9; 32], &tax.agency);
    let b = GrantBuilder::new(&tax, "pension-credit-check", DAY)
        .field(p("personal.date_of_birth"), json!("1958-03-14"))
        .build(&citizen_tax, NOW)
        .unwrap();
    for secret in [a.claims.citizen_sign.0, a.claims.citizen_seal.0] {
        assert!(!b.bytes.windows(16).any(|w| w == &secret[..16]));
    }
    assert_ne!(a.claims.grant_id, b.claims.grant_id);
    assert!(
        !b.bytes
            .windows(16)
            .any(|x| x == a.claims.grant_id.to_string().as_bytes()[..16].as_ref())
    );
    let _ = GrantId::random();
}
