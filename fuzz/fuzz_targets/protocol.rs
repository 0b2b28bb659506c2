//! Every protocol message an agency or a vault receives: the first byte picks the parser,
//! the rest is the message. Nothing may panic, and nothing random may verify.
#![no_main]
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use twin_protocol::*;
use twin_types::AgencyId;

const NOW: i64 = 1_795_000_000;

struct World {
    trust: TrustList,
    card: AgencyCard,
    agency: KeyPair,
    citizen: KeyPair,
    grant: GrantClaims,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let anchor = KeyPair::from_seeds([1; 32], [2; 32]);
    let agency = KeyPair::from_seeds([3; 32], [4; 32]);
    let card = AgencyCard {
        v: 1,
        agency: AgencyId::parse("fuzz-benefits").unwrap(),
        name: "Fuzz".into(),
        endpoint: "https://x.example".into(),
        sandbox: true,
        keys: vec![CardKey {
            kid: "k1".into(),
            sign: agency.sign_public(),
            seal: agency.seal_public(),
            not_after: NOW + 1_000_000,
        }],
        record_types: vec!["benefit-award/v1".into()],
        purposes: vec![Purpose {
            code: "p".into(),
            words: "P".into(),
            fields: vec!["personal.date_of_birth".into()],
            legal_basis: "L".into(),
            retention_days: 1,
        }],
        expires_at: NOW + 1_000_000,
    };
    let trust = TrustList {
        anchors: vec![Anchor {
            id: "a".into(),
            name: "A".into(),
            public_key: anchor.sign_public(),
            not_before: 0,
            not_after: i64::MAX,
            sandbox: true,
        }],
        revoked: vec![],
    };
    let citizen = KeyPair::pairwise(&[9; 32], &card.agency);
    let grant = GrantBuilder::new(&card, "p", 86_400)
        .field(
            "personal.date_of_birth".parse().unwrap(),
            serde_json::json!("1958-03-14"),
        )
        .records(vec!["benefit-award/v1".into()], NOW + 86_400)
        .build(&citizen, NOW)
        .unwrap()
        .claims;
    World {
        trust,
        card,
        agency,
        citizen,
        grant,
    }
});

fuzz_target!(|data: &[u8]| {
    let Some((&which, msg)) = data.split_first() else {
        return;
    };
    let w = &*WORLD;
    let keys = [("k1".to_owned(), &w.agency)];
    let view = AgencyView {
        card: &w.card,
        keys: &keys,
        limits: Limits::default(),
    };
    match which % 9 {
        0 => {
            if let Ok(g) = UnverifiedGrant::parse(msg, &view.limits) {
                assert!(g.verify(&view, NOW, |_, _| false, |_, _| false).is_err());
            }
        }
        1 => assert!(SignedCard(msg.to_vec()).verify(&w.trust, NOW).is_err()),
        2 => {
            let text = String::from_utf8_lossy(msg);
            let _ = open_text(&text, &keys);
        }
        3 => assert!(open_record(msg, &w.citizen, &w.card, &w.grant).is_err()),
        4 => assert!(open_refresh(msg, &w.grant, &w.agency, 0, NOW, 300).is_err()),
        5 => assert!(Revocation::verify(msg, &w.card.agency).is_err()),
        6 => assert!(Receipt::verify(msg, &w.card).is_err()),
        7 => assert!(AgencyRequest::verify(msg, &w.card, NOW).is_err()),
        _ => {
            let text = String::from_utf8_lossy(msg);
            let mut parts = text.splitn(3, '\n');
            let headers = SignedHeaders {
                content_digest: parts.next().unwrap_or_default().to_owned(),
                signature_input: parts.next().unwrap_or_default().to_owned(),
                signature: parts.next().unwrap_or_default().to_owned(),
            };
            assert!(verify_request("POST", "/", b"", &headers, NOW, 300, |_| false).is_err());
        }
    }
});
