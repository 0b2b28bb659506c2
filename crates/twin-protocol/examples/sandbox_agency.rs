//! A minimal sandbox agency, using nothing but this crate's public API and
//! `docs/protocol.md`: make a card signed by the sandbox anchor, open a grant made with
//! `twin share --out`, and issue a record back.
//!
//! ```text
//! cargo run -p twin-protocol --example sandbox_agency -- card DIR
//! cargo run -p twin-protocol --example sandbox_agency -- open DIR GRANT_FILE
//! cargo run -p twin-protocol --example sandbox_agency -- record DIR GRANT_FILE TYPE BODY_JSON OUT
//! ```
//!
//! DIR holds `card.twincard` (public) and `agency-keys.json` (the agency's secret seeds).
//! The sandbox anchor's private key comes from `packaging/trust/sandbox/anchor-private.json`:
//! it is public on purpose, so none of this is ever trusted outside the sandbox.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use twin_protocol::{
    AgencyCard, AgencyView, CardKey, KeyPair, Limits, Purpose, RecordClaims, UnverifiedGrant,
};
use twin_types::{AgencyId, MessageId};

const ANCHOR: &str = include_str!("../../../packaging/trust/sandbox/anchor-private.json");

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn seed(hex_text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut out).expect("a 32-byte hex seed");
    out
}

fn keys(dir: &Path) -> KeyPair {
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("agency-keys.json")).expect("agency-keys.json"),
    )
    .expect("JSON");
    KeyPair::from_seeds(
        seed(v["sign"].as_str().unwrap()),
        seed(v["seal"].as_str().unwrap()),
    )
}

fn card(dir: &Path) -> AgencyCard {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("card.json")).expect("card.json"))
            .expect("JSON");
    serde_json::from_value(v).expect("a card")
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["card", dir] => {
            let dir = Path::new(dir);
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            let agency_key = KeyPair::generate();
            let seeds = agency_key.to_seeds();
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
                    not_after: now() + 180 * 86_400,
                }],
                record_types: vec!["benefit-award/v1".into()],
                purposes: vec![Purpose {
                    code: "pension-credit-check".into(),
                    words: "Pension Credit check".into(),
                    fields: vec![
                        "personal.date_of_birth".into(),
                        "personal.address.postcode".into(),
                    ],
                    legal_basis: "State Pension Credit Act 2002, section 1".into(),
                    retention_days: 30,
                }],
                expires_at: now() + 365 * 86_400,
            };
            let anchor: serde_json::Value = serde_json::from_str(ANCHOR).unwrap();
            let anchor_key =
                KeyPair::from_seeds(seed(anchor["sign_seed"].as_str().unwrap()), [0; 32]);
            let signed = card.sign(anchor["id"].as_str().unwrap(), &anchor_key);
            std::fs::write(dir.join("card.twincard"), &signed.0).map_err(|e| e.to_string())?;
            std::fs::write(
                dir.join("card.json"),
                serde_json::to_vec_pretty(&card).unwrap(),
            )
            .map_err(|e| e.to_string())?;
            let secret = serde_json::json!({"sign": hex::encode(&seeds[..32]), "seal": hex::encode(&seeds[32..])});
            std::fs::write(dir.join("agency-keys.json"), secret.to_string())
                .map_err(|e| e.to_string())?;
            println!("{}", dir.join("card.twincard").display());
        }
        ["open", dir, grant] => {
            let dir = Path::new(dir);
            let (card, agency_key) = (card(dir), keys(dir));
            let keys = [("k1".to_owned(), &agency_key)];
            let view = AgencyView {
                card: &card,
                keys: &keys,
                limits: Limits::default(),
            };
            let bytes = std::fs::read(grant).map_err(|e| e.to_string())?;
            let verified = UnverifiedGrant::parse(&bytes, &view.limits)
                .and_then(|g| g.verify(&view, now(), |_, _| false, |_, _| false))
                .map_err(|e| format!("refused: {e}"))?;
            println!(
                "grant {} for '{}'",
                verified.claims.grant_id, verified.claims.purpose.words
            );
            for (field, value) in &verified.values {
                println!("{field} = {value}");
            }
        }
        ["record", dir, grant, kind, body, out] => {
            let dir = Path::new(dir);
            let (card, agency_key) = (card(dir), keys(dir));
            let keys = [("k1".to_owned(), &agency_key)];
            let view = AgencyView {
                card: &card,
                keys: &keys,
                limits: Limits::default(),
            };
            let bytes = std::fs::read(grant).map_err(|e| e.to_string())?;
            let g = UnverifiedGrant::parse(&bytes, &view.limits)
                .and_then(|g| g.verify(&view, now(), |_, _| false, |_, _| false))
                .map_err(|e| format!("refused: {e}"))?;
            let record = RecordClaims {
                v: 1,
                record_id: MessageId::random(),
                record_type: (*kind).to_owned(),
                agency: card.agency.clone(),
                subject: g.claims.citizen_sign,
                grant_id: g.claims.grant_id,
                issued_at: now(),
                body: (*body).to_owned(),
            }
            .issue("k1", &agency_key, &g.claims.citizen_seal)
            .ok_or("could not seal the record")?;
            std::fs::write(out, record).map_err(|e| e.to_string())?;
        }
        _ => {
            return Err(
                "usage: sandbox_agency card DIR | open DIR GRANT | record DIR GRANT TYPE BODY OUT"
                    .into(),
            );
        }
    }
    Ok(())
}
