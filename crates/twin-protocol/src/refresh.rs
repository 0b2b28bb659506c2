//! Refreshes: new values for an active grant, pushed by the citizen.
//!
//! Signed (COSE_Sign1) by the grant's pairwise key over {v, grant id, sequence number,
//! issued-at, payload digest}; the new values are sealed to the agency key of the grant,
//! with HPKE info `citizen-twin/refresh-payload/v1` ‖ grant id ‖ sequence number. The
//! agency accepts only a sequence number above the last one it accepted (no rollback).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest;
use twin_types::{FieldPath, GrantId};

use crate::card::AgencyCard;
use crate::cbor;
use crate::cose::{self, Unchecked};
use crate::grant::GrantClaims;
use crate::keys::{self, KeyPair, Sealed, serde_bytes_compat};

/// What a refresh says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshClaims {
    /// Format version: 1.
    pub v: u8,
    /// The grant refreshed.
    pub grant_id: GrantId,
    /// Strictly increasing per grant, from 1.
    pub seq: u64,
    /// When (seconds since 1970, UTC).
    pub issued_at: i64,
    /// SHA-256 over the sealed values.
    #[serde(with = "serde_bytes_compat")]
    pub payload_digest: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct RefreshWire {
    v: u8,
    #[serde(with = "serde_bytes_compat")]
    signed: Vec<u8>,
    sealed: Sealed,
}

/// Why a refresh was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefreshError {
    /// Not a refresh.
    #[error("this is not a refresh, or it is damaged")]
    Malformed,
    /// Not signed by the grant's key.
    #[error("this refresh is not signed by the citizen who made the grant")]
    BadSignature,
    /// For another grant.
    #[error("this refresh is for another grant")]
    WrongGrant,
    /// A sequence number not above the last accepted one.
    #[error("this refresh is older than one already received (rollback)")]
    Rollback,
    /// The grant has expired.
    #[error("the grant has expired")]
    Expired,
    /// The values are not the signed ones.
    #[error("the refreshed values do not match what the citizen signed")]
    PayloadSwapped,
    /// Cannot be opened with the agency's key.
    #[error("the refreshed values cannot be opened with this agency's key")]
    CannotOpen,
    /// A field the grant does not name.
    #[error("the refresh carries a field the grant does not name: {0}")]
    FieldOutsideScope(String),
}

/// Largest refresh accepted, in bytes.
pub const MAX_REFRESH_BYTES: usize = 128 * 1024;

fn info(id: &GrantId, seq: u64) -> Vec<u8> {
    [
        b"citizen-twin/refresh-payload/v1".as_slice(),
        id.as_bytes(),
        &seq.to_be_bytes(),
    ]
    .concat()
}

fn digest(s: &Sealed) -> Vec<u8> {
    let mut h = sha2::Sha256::new();
    h.update(b"citizen-twin/refresh-payload-digest/v1");
    h.update((s.enc.len() as u64).to_be_bytes());
    h.update(&s.enc);
    h.update(&s.ct);
    h.finalize().to_vec()
}

/// Makes a refresh of `grant` with new `values` and sequence number `seq`.
pub fn make_refresh(
    grant: &GrantClaims,
    card: &AgencyCard,
    values: &BTreeMap<FieldPath, Value>,
    seq: u64,
    now: i64,
    citizen: &KeyPair,
) -> Option<Vec<u8>> {
    let key = card.keys.iter().find(|k| k.kid == grant.kid)?;
    let payload =
        zeroize::Zeroizing::new(serde_json::to_vec(&serde_json::json!({ "fields": values })).ok()?);
    let sealed = keys::seal(&key.seal, &info(&grant.grant_id, seq), &[], &payload)?;
    let claims = RefreshClaims {
        v: 1,
        grant_id: grant.grant_id,
        seq,
        issued_at: now,
        payload_digest: digest(&sealed),
    };
    let signed = cose::sign(
        cose::kind::REFRESH,
        &grant.citizen_sign.0,
        cbor::to_vec(&claims),
        citizen,
    );
    Some(cbor::to_vec(&RefreshWire {
        v: 1,
        signed,
        sealed,
    }))
}

/// Verifies and opens a refresh for an accepted grant, given the last accepted sequence
/// number (0 if none), in this order: structure · signature by the grant's key · grant id
/// · sequence above `last_seq` · grant not expired · digest · open · fields in scope.
pub fn open_refresh(
    bytes: &[u8],
    grant: &GrantClaims,
    agency_key: &KeyPair,
    last_seq: u64,
    now: i64,
    max_skew_secs: i64,
) -> Result<(RefreshClaims, BTreeMap<FieldPath, Value>), RefreshError> {
    if bytes.len() > MAX_REFRESH_BYTES {
        return Err(RefreshError::Malformed);
    }
    let wire: RefreshWire = cbor::from_slice(bytes).ok_or(RefreshError::Malformed)?;
    if wire.v != 1 {
        return Err(RefreshError::Malformed);
    }
    let cose =
        Unchecked::parse(&wire.signed, cose::kind::REFRESH).map_err(|_| RefreshError::Malformed)?;
    if !cose.verify(&grant.citizen_sign) {
        return Err(RefreshError::BadSignature);
    }
    let claims: RefreshClaims =
        cbor::from_slice(cose.payload_unchecked()).ok_or(RefreshError::Malformed)?;
    if claims.v != 1 {
        return Err(RefreshError::Malformed);
    }
    if claims.grant_id != grant.grant_id {
        return Err(RefreshError::WrongGrant);
    }
    if claims.seq <= last_seq {
        return Err(RefreshError::Rollback);
    }
    if now - max_skew_secs > grant.expires_at {
        return Err(RefreshError::Expired);
    }
    if digest(&wire.sealed) != claims.payload_digest {
        return Err(RefreshError::PayloadSwapped);
    }
    let plain = keys::open(
        agency_key,
        &info(&claims.grant_id, claims.seq),
        &[],
        &wire.sealed,
    )
    .ok_or(RefreshError::CannotOpen)?;
    #[derive(Deserialize)]
    struct Payload {
        fields: BTreeMap<String, Value>,
    }
    let payload: Payload = serde_json::from_slice(&plain).map_err(|_| RefreshError::Malformed)?;
    let mut values = BTreeMap::new();
    for (k, v) in payload.fields {
        match FieldPath::parse(&k) {
            Ok(p) if grant.fields.contains(&p) => {
                values.insert(p, v);
            }
            _ => {
                return Err(RefreshError::FieldOutsideScope(
                    k.chars().take(64).collect(),
                ));
            }
        }
    }
    Ok((claims, values))
}
