//! Rule packs, signed by the agency that publishes them.
//!
//! A rule pack (eligibility, pre-fill and reminder rules; format in `docs/rule-packs.md`,
//! evaluated by the `twin-rules` crate) travels as a COSE_Sign1 whose payload is the
//! pack's UTF-8 JSON, exactly as published. The agency signs it with one of its card's
//! keys (kid = the key id); the vault believes it only when that key is on the
//! publisher's card, valid at `now`, the signature holds under `verify_strict` and the
//! pack names that same agency as its publisher. Which cards to believe is the trust
//! list's business (`SignedCard::verify`), not this module's.

use twin_types::AgencyId;

use crate::card::AgencyCard;
use crate::cose::{self, CoseError, Unchecked};
use crate::keys::KeyPair;

/// Largest signed rule pack accepted, in bytes.
pub const MAX_RULE_PACK_BYTES: usize = 1024 * 1024;

/// Why a signed rule pack was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RulePackSignatureError {
    /// Larger than [`MAX_RULE_PACK_BYTES`].
    #[error("this rule pack is too large to be a genuine one")]
    TooLarge,
    /// Not a COSE_Sign1, or cut short.
    #[error("this is not a signed rule pack, or it is damaged")]
    Malformed,
    /// A signed message of another kind (a card, a record…).
    #[error("this file is signed, but it is not a rule pack")]
    WrongKind,
    /// Signed with a key id the publisher's card does not list.
    #[error("this rule pack is signed with a key the agency's card does not list")]
    UnknownKey,
    /// Signed with a card key that is no longer valid.
    #[error("this rule pack is signed with a key the agency has retired; ask for a current pack")]
    KeyExpired,
    /// The signature does not hold.
    #[error("this rule pack's signature does not check out; it may have been altered")]
    BadSignature,
    /// Signed by one agency, but naming another as its publisher.
    #[error("this rule pack names a different agency as its publisher than the one that signed it")]
    WrongPublisher,
}

/// Signs a rule pack's JSON `payload` with the agency key `kid` (COSE_Sign1, EdDSA,
/// content type `application/twin-rules+cbor;v=1`). The payload is signed as given: the
/// bytes a vault verifies are the bytes the agency published.
pub fn sign_rule_pack(payload: &[u8], kid: &str, agency_key: &KeyPair) -> Vec<u8> {
    cose::sign(
        cose::kind::RULES,
        kid.as_bytes(),
        payload.to_vec(),
        agency_key,
    )
}

/// Verifies a signed rule pack against its publisher's card at `now` (seconds since
/// 1970, UTC) and returns the payload (the pack's JSON), in this order: size · COSE
/// structure and kind · kid names a key of `card` · that key is valid at `now` ·
/// signature (`verify_strict`) · the payload's `publisher` is `card.agency`.
///
/// Only the publisher is read from the payload; its schema, expressions and dates are
/// checked by `twin_rules::RulePack::load`.
pub fn verify_rule_pack(
    bytes: &[u8],
    card: &AgencyCard,
    now: i64,
) -> Result<Vec<u8>, RulePackSignatureError> {
    if bytes.len() > MAX_RULE_PACK_BYTES {
        return Err(RulePackSignatureError::TooLarge);
    }
    let cose = Unchecked::parse(bytes, cose::kind::RULES).map_err(|e| match e {
        CoseError::Malformed => RulePackSignatureError::Malformed,
        CoseError::WrongKind => RulePackSignatureError::WrongKind,
    })?;
    let kid = std::str::from_utf8(cose.kid()).map_err(|_| RulePackSignatureError::Malformed)?;
    if !card.keys.iter().any(|k| k.kid == kid) {
        return Err(RulePackSignatureError::UnknownKey);
    }
    let key = card
        .key(kid, now)
        .ok_or(RulePackSignatureError::KeyExpired)?;
    if !cose.verify(&key.sign) {
        return Err(RulePackSignatureError::BadSignature);
    }
    let payload = cose.payload_unchecked();
    if publisher(payload).as_ref() != Some(&card.agency) {
        return Err(RulePackSignatureError::WrongPublisher);
    }
    Ok(payload.to_vec())
}

/// The `publisher` member of a pack's JSON, if it is an agency id.
fn publisher(payload: &[u8]) -> Option<AgencyId> {
    #[derive(serde::Deserialize)]
    struct Head {
        publisher: AgencyId,
    }
    serde_json::from_slice::<Head>(payload)
        .ok()
        .map(|h| h.publisher)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::{CardKey, Purpose};
    use crate::record::Receipt;

    const NOW: i64 = 1_795_000_000;
    const DAY: i64 = 86_400;

    fn card(agency: &str, key: &KeyPair, not_after: i64) -> AgencyCard {
        AgencyCard {
            v: 1,
            agency: AgencyId::parse(agency).unwrap(),
            name: "Sandbox Benefits Agency".into(),
            endpoint: "http://127.0.0.1:8700".into(),
            sandbox: true,
            keys: vec![CardKey {
                kid: "k1".into(),
                sign: key.sign_public(),
                seal: key.seal_public(),
                not_after,
            }],
            record_types: vec![],
            purposes: vec![Purpose {
                code: "pension-credit-check".into(),
                words: "Pension Credit check".into(),
                fields: vec!["personal.date_of_birth".into()],
                legal_basis: "State Pension Credit Act 2002".into(),
                retention_days: 30,
            }],
            expires_at: NOW + 365 * DAY,
        }
    }

    fn payload(publisher: &str) -> Vec<u8> {
        format!(r#"{{"v":1,"publisher":"{publisher}","pack":"benefits","rules":[]}}"#).into_bytes()
    }

    #[test]
    fn round_trip_returns_the_exact_payload() {
        let key = KeyPair::from_seeds([3; 32], [4; 32]);
        let c = card("sandbox-benefits", &key, NOW + DAY);
        let p = payload("sandbox-benefits");
        let signed = sign_rule_pack(&p, "k1", &key);
        assert_eq!(verify_rule_pack(&signed, &c, NOW).unwrap(), p);
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let key = KeyPair::from_seeds([3; 32], [4; 32]);
        let c = card("sandbox-benefits", &key, NOW + DAY);
        let p = payload("sandbox-benefits");
        let mut signed = sign_rule_pack(&p, "k1", &key);
        // Change one byte of the payload (the "1" of "v":1 becomes "2").
        let at = signed
            .windows(5)
            .position(|w| w == br#""v":1"#)
            .expect("payload inside")
            + 4;
        signed[at] = b'2';
        assert_eq!(
            verify_rule_pack(&signed, &c, NOW),
            Err(RulePackSignatureError::BadSignature)
        );
    }

    #[test]
    fn another_agencys_card_is_refused() {
        let ours = KeyPair::from_seeds([3; 32], [4; 32]);
        let theirs = KeyPair::from_seeds([5; 32], [6; 32]);
        let signed = sign_rule_pack(&payload("sandbox-benefits"), "k1", &ours);
        // Same key id on the other card, but another key: the signature does not hold.
        let other = card("sandbox-tax", &theirs, NOW + DAY);
        assert_eq!(
            verify_rule_pack(&signed, &other, NOW),
            Err(RulePackSignatureError::BadSignature)
        );
        // Signed by the tax agency's own key but claiming to be from benefits.
        let forged = sign_rule_pack(&payload("sandbox-benefits"), "k1", &theirs);
        assert_eq!(
            verify_rule_pack(&forged, &other, NOW),
            Err(RulePackSignatureError::WrongPublisher)
        );
        // A payload that is not JSON has no publisher either.
        let garbage = sign_rule_pack(b"not json", "k1", &theirs);
        assert_eq!(
            verify_rule_pack(&garbage, &other, NOW),
            Err(RulePackSignatureError::WrongPublisher)
        );
    }

    #[test]
    fn an_expired_or_unknown_key_is_refused() {
        let key = KeyPair::from_seeds([3; 32], [4; 32]);
        let c = card("sandbox-benefits", &key, NOW + DAY);
        let signed = sign_rule_pack(&payload("sandbox-benefits"), "k1", &key);
        assert!(verify_rule_pack(&signed, &c, NOW + DAY).is_ok());
        assert_eq!(
            verify_rule_pack(&signed, &c, NOW + DAY + 1),
            Err(RulePackSignatureError::KeyExpired)
        );
        let other_kid = sign_rule_pack(&payload("sandbox-benefits"), "k2", &key);
        assert_eq!(
            verify_rule_pack(&other_kid, &c, NOW),
            Err(RulePackSignatureError::UnknownKey)
        );
    }

    #[test]
    fn other_kinds_and_garbage_are_refused() {
        let key = KeyPair::from_seeds([3; 32], [4; 32]);
        let c = card("sandbox-benefits", &key, NOW + DAY);
        let receipt = Receipt {
            v: 1,
            agency: c.agency.clone(),
            grant_id: twin_types::GrantId::from_bytes([1; 16]),
            event: crate::record::ReceiptEvent::Deletion {
                reason: "expired".into(),
            },
            at: NOW,
        }
        .sign("k1", &key);
        assert_eq!(
            verify_rule_pack(&receipt, &c, NOW),
            Err(RulePackSignatureError::WrongKind)
        );
        assert_eq!(
            verify_rule_pack(b"{\"v\":1}", &c, NOW),
            Err(RulePackSignatureError::Malformed)
        );
        let signed = sign_rule_pack(&payload("sandbox-benefits"), "k1", &key);
        assert_eq!(
            verify_rule_pack(&signed[..signed.len() - 1], &c, NOW),
            Err(RulePackSignatureError::Malformed)
        );
        let huge = vec![0u8; MAX_RULE_PACK_BYTES + 1];
        assert_eq!(
            verify_rule_pack(&huge, &c, NOW),
            Err(RulePackSignatureError::TooLarge)
        );
    }

    #[test]
    fn messages_are_plain() {
        for e in [
            RulePackSignatureError::Malformed,
            RulePackSignatureError::WrongKind,
            RulePackSignatureError::UnknownKey,
            RulePackSignatureError::KeyExpired,
            RulePackSignatureError::BadSignature,
            RulePackSignatureError::WrongPublisher,
        ] {
            let m = e.to_string();
            assert!(m.starts_with("this"), "{m}");
            assert!(!m.contains("COSE") && !m.contains("kid"), "{m}");
        }
    }
}
