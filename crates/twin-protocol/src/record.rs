//! Records an agency writes back, and the receipts it gives.
//!
//! A record is signed by the agency (COSE_Sign1, kid = its card key id) and then sealed
//! (HPKE, info `citizen-twin/record/v1`) to the citizen's pairwise X25519 key: the
//! signature is inside the seal, so the vault keeps signed bytes anyone can re-verify.
//! Receipts (access and deletion) are signed by the agency and travel in the clear: they
//! hold ids, names and field paths, never values.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use twin_types::{AgencyId, FieldPath, GrantId, MessageId};

use crate::card::AgencyCard;
use crate::cbor;
use crate::cose::{self, Unchecked};
use crate::grant::GrantClaims;
use crate::keys::{self, KeyPair, Sealed, SignPublic, serde_bytes_compat};

/// The record type that links an agency's own case reference to the pairwise key.
pub const IDENTITY_LINK: &str = "identity-link/v1";
/// Largest record accepted, in bytes.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;

/// What a record says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordClaims {
    /// Format version: 1.
    pub v: u8,
    /// The record's id.
    pub record_id: MessageId,
    /// Its type (a schema id such as `benefit-award/v1`).
    pub record_type: String,
    /// The issuing agency.
    pub agency: AgencyId,
    /// The citizen's pairwise signing key for this agency.
    pub subject: SignPublic,
    /// The grant that lets the agency write it.
    pub grant_id: GrantId,
    /// When it was issued (seconds since 1970, UTC).
    pub issued_at: i64,
    /// The record's body, as JSON text.
    pub body: String,
}

#[derive(Serialize, Deserialize)]
struct RecordWire {
    v: u8,
    sealed: Sealed,
}

/// Why a record was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Larger than allowed.
    #[error("the record is too large")]
    TooLarge,
    /// Not a record, or cut short.
    #[error("this is not an agency record, or it is damaged")]
    Malformed,
    /// Sealed to someone else.
    #[error("this record was not sealed to you")]
    CannotOpen,
    /// Signed by a key the agency's card does not have (or has retired).
    #[error("this record is signed with a key the agency's card does not list")]
    UnknownKey,
    /// The signature does not hold.
    #[error("this record's signature does not check out; it may have been altered")]
    BadSignature,
    /// From another agency than the grant's.
    #[error("this record comes from another agency than the one you shared with")]
    WrongAgency,
    /// About someone else.
    #[error("this record is about someone else")]
    WrongSubject,
    /// The grant does not allow this type.
    #[error("your share does not allow this agency to send records of type {0}")]
    TypeOutsideScope(String),
    /// Issued after the grant's write-back window.
    #[error("this record was issued after your share stopped allowing records")]
    AfterWindow,
    /// The body is not JSON.
    #[error("this record's contents are not readable")]
    BadBody,
}

/// A record whose signature, subject and scope were checked.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedRecord {
    /// What it says.
    pub claims: RecordClaims,
    /// Its body.
    pub body: Value,
    /// The signed bytes (COSE_Sign1), kept so anyone can re-verify them later.
    pub signed: Vec<u8>,
}

impl RecordClaims {
    /// Signs with the agency key `kid` and seals to the citizen's pairwise key.
    pub fn issue(
        &self,
        kid: &str,
        agency_key: &KeyPair,
        to: &crate::keys::SealPublic,
    ) -> Option<Vec<u8>> {
        let signed = cose::sign(
            cose::kind::RECORD,
            kid.as_bytes(),
            cbor::to_vec(self),
            agency_key,
        );
        let sealed = keys::seal(to, b"citizen-twin/record/v1", &[], &signed)?;
        Some(cbor::to_vec(&RecordWire { v: 1, sealed }))
    }
}

/// Opens a sealed record with the citizen's pairwise key and checks it against the card
/// and the grant, in this order: size · structure · open · COSE structure · signer key on
/// the card · signature (`verify_strict`) · agency · subject · type in scope · issued
/// within the write-back window · body is JSON.
pub fn open_record(
    bytes: &[u8],
    citizen: &KeyPair,
    card: &AgencyCard,
    grant: &GrantClaims,
) -> Result<VerifiedRecord, RecordError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(RecordError::TooLarge);
    }
    let wire: RecordWire = cbor::from_slice(bytes).ok_or(RecordError::Malformed)?;
    if wire.v != 1 {
        return Err(RecordError::Malformed);
    }
    let signed = keys::open(citizen, b"citizen-twin/record/v1", &[], &wire.sealed)
        .ok_or(RecordError::CannotOpen)?;
    verify_signed_record(&signed, citizen, card, grant)
}

/// Re-verifies signed record bytes kept by the vault.
pub fn verify_signed_record(
    signed: &[u8],
    citizen: &KeyPair,
    card: &AgencyCard,
    grant: &GrantClaims,
) -> Result<VerifiedRecord, RecordError> {
    if signed.len() > MAX_RECORD_BYTES {
        return Err(RecordError::TooLarge);
    }
    let cose = Unchecked::parse(signed, cose::kind::RECORD).map_err(|_| RecordError::Malformed)?;
    let kid = std::str::from_utf8(cose.kid()).map_err(|_| RecordError::Malformed)?;
    let key = card
        .keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or(RecordError::UnknownKey)?;
    if !cose.verify(&key.sign) {
        return Err(RecordError::BadSignature);
    }
    let claims: RecordClaims =
        cbor::from_slice(cose.payload_unchecked()).ok_or(RecordError::Malformed)?;
    if claims.agency != card.agency
        || claims.agency != grant.agency
        || claims.grant_id != grant.grant_id
    {
        return Err(RecordError::WrongAgency);
    }
    if claims.subject != citizen.sign_public() || claims.subject != grant.citizen_sign {
        return Err(RecordError::WrongSubject);
    }
    if claims.v != 1 {
        return Err(RecordError::Malformed);
    }
    if !grant.records.contains(&claims.record_type) {
        return Err(RecordError::TypeOutsideScope(
            claims.record_type.chars().take(64).collect(),
        ));
    }
    let until = grant.records_until.unwrap_or(grant.expires_at);
    if claims.issued_at > until || claims.issued_at > key.not_after {
        return Err(RecordError::AfterWindow);
    }
    let body = serde_json::from_str(&claims.body).map_err(|_| RecordError::BadBody)?;
    Ok(VerifiedRecord {
        claims,
        body,
        signed: signed.to_vec(),
    })
}

/// A receipt an agency signs: for an opening of a grant's fields by a named member of
/// staff, or for the deletion of a grant's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Format version: 1.
    pub v: u8,
    /// The agency.
    pub agency: AgencyId,
    /// The grant concerned.
    pub grant_id: GrantId,
    /// What happened.
    pub event: ReceiptEvent,
    /// When (seconds since 1970, UTC).
    pub at: i64,
}

/// What a receipt records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ReceiptEvent {
    /// Staff opened the grant's fields.
    Access {
        /// Numbered per grant from 1.
        seq: u64,
        /// SHA-256 of the previous access receipt's signed bytes (zeros for the first).
        #[serde(with = "serde_bytes_compat")]
        prev: Vec<u8>,
        /// The named member of staff.
        staff: String,
        /// The fields shown.
        fields: Vec<FieldPath>,
        /// The purpose, in plain words.
        purpose: String,
    },
    /// The payload was purged.
    Deletion {
        /// Why: `expired`, `revoked` or `request`.
        reason: String,
    },
}

/// Why a receipt was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// Not a receipt.
    #[error("this is not an agency receipt, or it is damaged")]
    Malformed,
    /// Signed by a key not on the card.
    #[error("this receipt is signed with a key the agency's card does not list")]
    UnknownKey,
    /// The signature does not hold.
    #[error("this receipt's signature does not check out")]
    BadSignature,
    /// From another agency.
    #[error("this receipt comes from another agency")]
    WrongAgency,
}

impl Receipt {
    /// Signs with the agency's key `kid`.
    pub fn sign(&self, kid: &str, agency_key: &KeyPair) -> Vec<u8> {
        cose::sign(
            cose::kind::RECEIPT,
            kid.as_bytes(),
            cbor::to_vec(self),
            agency_key,
        )
    }

    /// Verifies a receipt against the agency's card.
    pub fn verify(bytes: &[u8], card: &AgencyCard) -> Result<Receipt, ReceiptError> {
        let cose =
            Unchecked::parse(bytes, cose::kind::RECEIPT).map_err(|_| ReceiptError::Malformed)?;
        let kid = std::str::from_utf8(cose.kid()).map_err(|_| ReceiptError::Malformed)?;
        let key = card
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(ReceiptError::UnknownKey)?;
        if !cose.verify(&key.sign) {
            return Err(ReceiptError::BadSignature);
        }
        let r: Receipt =
            cbor::from_slice(cose.payload_unchecked()).ok_or(ReceiptError::Malformed)?;
        if r.agency != card.agency || r.v != 1 {
            return Err(ReceiptError::WrongAgency);
        }
        Ok(r)
    }
}
