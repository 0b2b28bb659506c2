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
    UnverifiedGrant::parse(bytes, &view.limits)?.verify(&view, now, |_, _| false, |_, _| false)
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
        GrantError::IssuedInTheFuture
    );
    let later = GrantBuilder::new(&w.card, "pension-credit-check", DAY)
        .field(p("personal.date_of_birth"), json!("1958-03-14"))
        .not_before(NOW + DAY)
        .build(&w.citizen, NOW)
        .unwrap();
    assert_eq!(
        verify(&w, &later.bytes, NOW).unwrap_err(),
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
        .verify(&view, NOW, |g, _| *g == id, |_, _| false);
    assert_eq!(r.unwrap_err(), GrantError::Revoked);
    let single = GrantBuilder::new(&w.card, "pension-credit-check", DAY)
        .field(p("personal.date_of_birth"), json!("1958-03-14"))
        .single_use(true)
        .build(&w.citizen, NOW)
        .unwrap();
    let r = UnverifiedGrant::parse(&single.bytes, &view.limits)
        .unwrap()
        .verify(&view, NOW, |_, _| false, |_, _| true);
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
        .verify(&view, NOW, |_, _| false, |_, _| false);
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
        .verify(&view, NOW, |_, _| false, |_, _| false);
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

#[test]
fn paper_form_hides_everything_but_version_and_key_id() {
    let w = world();
    let g = grant(&w);
    let text = g.to_text(&w.card).unwrap();
    assert!(text.starts_with("twin-grant:"));
    let raw = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&text["twin-grant:".len()..])
            .unwrap()
    };
    for secret in [
        "LS1 4AP",
        "1958",
        "Pension",
        "pension-credit",
        "sandbox-benefits",
        "personal",
    ] {
        assert!(
            !raw.windows(secret.len()).any(|x| x == secret.as_bytes()),
            "{secret} in clear"
        );
        assert!(!text.contains(secret));
    }
    let keys = [("k1".to_owned(), &w.agency_key)];
    let bytes = open_text(&text, &keys).unwrap();
    assert_eq!(bytes, g.bytes);
    assert!(verify(&w, &bytes, NOW).is_ok());
    let other = KeyPair::generate();
    assert_eq!(
        open_text(&text, &[("k1".to_owned(), &other)]),
        Err(PaperError::CannotOpen)
    );
    assert_eq!(
        open_text("twin-grant:@@", &keys),
        Err(PaperError::Malformed)
    );
}

#[test]
fn paper_form_refuses_what_a_qr_code_cannot_hold() {
    let w = world();
    let big = GrantBuilder::new(&w.card, "pension-credit-check", DAY)
        .field(p("social.feedback"), json!("x".repeat(2000)))
        .field(p("personal.full_name"), json!("y".repeat(190)))
        .build(&w.citizen, NOW)
        .unwrap();
    assert!(matches!(
        big.to_text(&w.card),
        Err(PaperError::TooLargeForQr(_))
    ));
}

#[test]
fn revocation_notices() {
    let w = world();
    let g = grant(&w);
    let notice = Revocation::sign(g.claims.grant_id, w.card.agency.clone(), NOW, &w.citizen);
    let r = Revocation::verify(&notice, &w.card.agency).unwrap();
    assert_eq!(
        (r.grant_id, r.signer),
        (g.claims.grant_id, g.claims.citizen_sign)
    );
    assert_eq!(
        Revocation::verify(&notice, &AgencyId::parse("sandbox-tax").unwrap()),
        Err(RevocationError::WrongAudience)
    );
    let mut bad = notice.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(Revocation::verify(&bad, &w.card.agency).is_err());
}

fn award(w: &World, g: &GrantClaims, record_type: &str, issued_at: i64) -> RecordClaims {
    RecordClaims {
        v: 1,
        record_id: twin_types::MessageId::random(),
        record_type: record_type.into(),
        agency: w.card.agency.clone(),
        subject: g.citizen_sign,
        grant_id: g.grant_id,
        issued_at,
        body: r#"{"award": "Pension Credit", "weekly_amount": 218.15}"#.into(),
    }
}

#[test]
fn records_are_signed_then_sealed_and_scoped() {
    let w = world();
    let g = GrantBuilder::new(&w.card, "pension-credit-check", 7 * DAY)
        .field(p("personal.date_of_birth"), json!("1958-03-14"))
        .records(vec!["benefit-award/v1".into()], NOW + 60 * DAY)
        .build(&w.citizen, NOW)
        .unwrap();
    let sealed = award(&w, &g.claims, "benefit-award/v1", NOW + 30 * DAY)
        .issue("k1", &w.agency_key, &g.claims.citizen_seal)
        .unwrap();
    let r = open_record(&sealed, &w.citizen, &w.card, &g.claims).unwrap();
    assert_eq!(r.body["weekly_amount"], json!(218.15));
    // The kept signed bytes re-verify without the seal.
    assert!(verify_signed_record(&r.signed, &w.citizen, &w.card, &g.claims).is_ok());
    // After the write-back window.
    let late = award(&w, &g.claims, "benefit-award/v1", NOW + 61 * DAY)
        .issue("k1", &w.agency_key, &g.claims.citizen_seal)
        .unwrap();
    assert_eq!(
        open_record(&late, &w.citizen, &w.card, &g.claims).unwrap_err(),
        RecordError::AfterWindow
    );
    // A type the grant does not allow.
    let other = award(&w, &g.claims, "licence/v1", NOW)
        .issue("k1", &w.agency_key, &g.claims.citizen_seal)
        .unwrap();
    assert!(matches!(
        open_record(&other, &w.citizen, &w.card, &g.claims),
        Err(RecordError::TypeOutsideScope(_))
    ));
    // Signed by someone else.
    let forged = award(&w, &g.claims, "benefit-award/v1", NOW)
        .issue("k1", &KeyPair::generate(), &g.claims.citizen_seal)
        .unwrap();
    assert_eq!(
        open_record(&forged, &w.citizen, &w.card, &g.claims).unwrap_err(),
        RecordError::BadSignature
    );
    // Sealed to another citizen.
    let stranger = KeyPair::generate();
    assert_eq!(
        open_record(&sealed, &stranger, &w.card, &g.claims).unwrap_err(),
        RecordError::CannotOpen
    );
}

#[test]
fn receipts_verify_against_the_card() {
    let w = world();
    let g = grant(&w);
    let receipt = Receipt {
        v: 1,
        agency: w.card.agency.clone(),
        grant_id: g.claims.grant_id,
        event: ReceiptEvent::Access {
            seq: 1,
            prev: vec![0; 32],
            staff: "J. Officer".into(),
            fields: vec![p("personal.date_of_birth")],
            purpose: "Pension Credit check".into(),
        },
        at: NOW,
    };
    let signed = receipt.sign("k1", &w.agency_key);
    assert_eq!(Receipt::verify(&signed, &w.card).unwrap(), receipt);
    assert_eq!(
        Receipt::verify(&receipt.sign("k1", &KeyPair::generate()), &w.card),
        Err(ReceiptError::BadSignature)
    );
    assert_eq!(
        Receipt::verify(&receipt.sign("k9", &w.agency_key), &w.card),
        Err(ReceiptError::UnknownKey)
    );
    // A grant's signature is never accepted as a receipt (content types differ).
    assert_eq!(
        Receipt::verify(&g.bytes, &w.card),
        Err(ReceiptError::Malformed)
    );
}

#[test]
fn refreshes_only_move_forward() {
    let w = world();
    let g = grant(&w);
    let mut values = std::collections::BTreeMap::new();
    values.insert(p("personal.address.postcode"), json!("YO1 7HH"));
    let r2 = make_refresh(&g.claims, &w.card, &values, 2, NOW + 10, &w.citizen).unwrap();
    let (c, v) = open_refresh(&r2, &g.claims, &w.agency_key, 1, NOW + 20, 300).unwrap();
    assert_eq!(
        (c.seq, v[&p("personal.address.postcode")].clone()),
        (2, json!("YO1 7HH"))
    );
    assert_eq!(
        open_refresh(&r2, &g.claims, &w.agency_key, 2, NOW, 300).unwrap_err(),
        RefreshError::Rollback
    );
    let mut outside = std::collections::BTreeMap::new();
    outside.insert(p("personal.email"), json!("a@example.org"));
    let r3 = make_refresh(&g.claims, &w.card, &outside, 3, NOW, &w.citizen).unwrap();
    assert!(matches!(
        open_refresh(&r3, &g.claims, &w.agency_key, 2, NOW, 300),
        Err(RefreshError::FieldOutsideScope(_))
    ));
    let stranger = KeyPair::generate();
    let r4 = make_refresh(&g.claims, &w.card, &values, 4, NOW, &stranger).unwrap();
    assert_eq!(
        open_refresh(&r4, &g.claims, &w.agency_key, 2, NOW, 300).unwrap_err(),
        RefreshError::BadSignature
    );
}

#[test]
fn request_signatures() {
    let w = world();
    let nonce = "00112233445566778899aabbccddeeff";
    let h = sign_request("post", "/v1/grants", b"body", NOW, nonce, &w.citizen);
    let ok = verify_request("POST", "/v1/grants", b"body", &h, NOW + 5, 300, |_| false).unwrap();
    assert_eq!(ok.signer, w.citizen.sign_public());
    let check = |m: &str, path: &str, body: &[u8], now: i64, seen: bool| {
        verify_request(m, path, body, &h, now, 300, |_| seen).unwrap_err()
    };
    assert_eq!(
        check("POST", "/v1/grants", b"other", NOW, false),
        RequestSigError::DigestMismatch
    );
    assert_eq!(
        check("POST", "/v1/other", b"body", NOW, false),
        RequestSigError::BadSignature
    );
    assert_eq!(
        check("PUT", "/v1/grants", b"body", NOW, false),
        RequestSigError::BadSignature
    );
    assert_eq!(
        check("POST", "/v1/grants", b"body", NOW + 301, false),
        RequestSigError::Stale
    );
    assert_eq!(
        check("POST", "/v1/grants", b"body", NOW, true),
        RequestSigError::Replayed
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn grants_round_trip_any_values(
            dob in "\\PC{0,40}",
            postcode in "\\PC{0,40}",
            days in 1i64..=90,
            single in any::<bool>(),
        ) {
            let w = world();
            let g = GrantBuilder::new(&w.card, "pension-credit-check", days * DAY)
                .field(p("personal.date_of_birth"), json!(dob))
                .field(p("personal.address.postcode"), json!(postcode))
                .single_use(single)
                .build(&w.citizen, NOW)
                .unwrap();
            let v = verify(&w, &g.bytes, NOW).unwrap();
            prop_assert_eq!(&v.values[&p("personal.date_of_birth")], &json!(dob));
            prop_assert_eq!(&v.values[&p("personal.address.postcode")], &json!(postcode));
            prop_assert_eq!(v.claims, g.claims);
        }

        #[test]
        fn arbitrary_bytes_never_verify(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let w = world();
            prop_assert!(verify(&w, &bytes, NOW).is_err());
            let text = format!("twin-grant:{}", String::from_utf8_lossy(&bytes));
            let opened = open_text(&text, &[("k1".to_owned(), &w.agency_key)]);
            prop_assert!(opened.is_err());
            prop_assert!(SignedCard(bytes.clone()).verify(&w.trust, NOW).is_err());
            prop_assert!(Revocation::verify(&bytes, &w.card.agency).is_err());
        }
    }
}

#[test]
fn hostile_times_never_overflow() {
    let w = world();
    let limits = Limits {
        max_duration_secs: i64::MAX,
        ..Limits::default()
    };
    for (nb, dur) in [(i64::MIN + 1, i64::MAX), (i64::MIN / 2, i64::MAX / 2)] {
        let g = GrantBuilder::new(&w.card, "pension-credit-check", dur)
            .field(p("personal.date_of_birth"), json!("1958-03-14"))
            .not_before(nb)
            .limits(limits)
            .build(&w.citizen, NOW);
        if let Ok(g) = g {
            assert!(verify(&w, &g.bytes, NOW).is_err());
        }
    }
    let h = sign_request(
        "POST",
        "/",
        b"",
        i64::MIN,
        "00112233445566778899aabbccddeeff",
        &w.citizen,
    );
    assert_eq!(
        verify_request("POST", "/", b"", &h, i64::MAX, 300, |_| false).unwrap_err(),
        RequestSigError::Stale
    );
}

#[test]
fn agency_requests_flag_over_asking_and_answer_into_a_grant() {
    let w = world();
    let req = AgencyRequest {
        v: 1,
        request_id: twin_types::MessageId::from_bytes([7; 16]),
        agency: w.card.agency.clone(),
        fields: vec![p("personal.date_of_birth"), p("personal.email")],
        purpose: "pension-credit-check".into(),
        case_ref: Some("PC-1234".into()),
        duration_secs: 7 * DAY,
        records: vec!["benefit-award/v1".into()],
        records_secs: 90 * DAY,
        issued_at: NOW,
        expires_at: NOW + 14 * DAY,
    };
    let signed = req.sign("k1", &w.agency_key);
    let v = AgencyRequest::verify(&signed, &w.card, NOW).unwrap();
    assert_eq!(v.over_asking, vec![p("personal.email")]);
    assert_eq!(v.purpose.legal_basis, "State Pension Credit Act 2002");
    // The citizen trims the over-asked field and approves.
    let g = v
        .answer(&w.card, NOW)
        .field(p("personal.date_of_birth"), json!("1958-03-14"))
        .build(&w.citizen, NOW)
        .unwrap();
    assert_eq!(g.claims.request_id, Some(req.request_id));
    assert_eq!(g.claims.records, req.records);
    assert_eq!(g.claims.records_until, Some(NOW + 90 * DAY));
    assert_eq!(g.claims.case_ref.as_deref(), Some("PC-1234"));
    assert!(verify(&w, &g.bytes, NOW).is_ok());
    assert_eq!(
        AgencyRequest::verify(&signed, &w.card, NOW + 15 * DAY),
        Err(RequestError::Expired)
    );
    assert_eq!(
        AgencyRequest::verify(&req.sign("k1", &KeyPair::generate()), &w.card, NOW),
        Err(RequestError::BadSignature)
    );
}
