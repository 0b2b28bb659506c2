//! Agency requests: an agency asks first; the citizen sees what, why, under which law and
//! for how long, trims the fields and approves the request into a grant — or declines.
//!
//! Signed by the agency (COSE_Sign1, kid = card key id). Fields the card does not list
//! for the request's purpose are *over-asking*: the request still verifies, and the
//! over-asked fields are named so the citizen is warned before approving.

use serde::{Deserialize, Serialize};
use twin_types::{AgencyId, FieldPath, MessageId};

use crate::card::{AgencyCard, Purpose};
use crate::cbor;
use crate::cose::{self, Unchecked};
use crate::grant::GrantBuilder;
use crate::keys::KeyPair;

/// What an agency asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyRequest {
    /// Format version: 1.
    pub v: u8,
    /// The request's id; the grant that answers it carries it.
    pub request_id: MessageId,
    /// The agency asking.
    pub agency: AgencyId,
    /// The fields it asks for.
    pub fields: Vec<FieldPath>,
    /// The purpose code on its card.
    pub purpose: String,
    /// Its own case reference.
    pub case_ref: Option<String>,
    /// How long it asks to read them, in seconds.
    pub duration_secs: i64,
    /// Record types it asks to send back (each on its card), e.g. `benefit-award/v1`.
    #[serde(default)]
    pub records: Vec<String>,
    /// For how long after the grant it may send them back, in seconds.
    #[serde(default)]
    pub records_secs: i64,
    /// When it asked (seconds since 1970, UTC).
    pub issued_at: i64,
    /// The request lapses after this time.
    pub expires_at: i64,
}

/// A request whose signature and purpose checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    /// What it asks.
    pub request: AgencyRequest,
    /// The purpose as the card states it (words, legal basis, retention).
    pub purpose: Purpose,
    /// Fields asked for that the card does not list for this purpose: warn the citizen.
    pub over_asking: Vec<FieldPath>,
}

/// Why a request was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Not a request, or cut short.
    #[error("this is not an agency request, or it is damaged")]
    Malformed,
    /// Signed by a key the card does not list.
    #[error("this request is signed with a key the agency's card does not list")]
    UnknownKey,
    /// The signature does not hold.
    #[error("this request's signature does not check out; it may have been altered")]
    BadSignature,
    /// From another agency than the card's.
    #[error("this request does not come from the agency it names")]
    WrongAgency,
    /// A purpose the card does not state.
    #[error("this request gives a purpose the agency's card does not state")]
    UnknownPurpose,
    /// Lapsed.
    #[error("this request has lapsed; the agency must ask again")]
    Expired,
    /// Asks to send back a record type its card does not list.
    #[error(
        "this request asks to send back records of a type the agency's card does not list: {0}"
    )]
    UnknownRecordType(String),
}

impl AgencyRequest {
    /// Signs the request with the agency's key `kid`.
    pub fn sign(&self, kid: &str, agency_key: &KeyPair) -> Vec<u8> {
        cose::sign(
            cose::kind::REQUEST,
            kid.as_bytes(),
            cbor::to_vec(self),
            agency_key,
        )
    }

    /// Verifies a request against the agency's card at `now`, in this order: structure ·
    /// signer key on the card and valid now · signature (`verify_strict`) · version ·
    /// agency · not lapsed · purpose on the card. Over-asking is reported, not refused.
    pub fn verify(
        bytes: &[u8],
        card: &AgencyCard,
        now: i64,
    ) -> Result<VerifiedRequest, RequestError> {
        let cose =
            Unchecked::parse(bytes, cose::kind::REQUEST).map_err(|_| RequestError::Malformed)?;
        let kid = std::str::from_utf8(cose.kid()).map_err(|_| RequestError::Malformed)?;
        let key = card.key(kid, now).ok_or(RequestError::UnknownKey)?;
        if !cose.verify(&key.sign) {
            return Err(RequestError::BadSignature);
        }
        let request: AgencyRequest =
            cbor::from_slice(cose.payload_unchecked()).ok_or(RequestError::Malformed)?;
        if request.v != 1 {
            return Err(RequestError::Malformed);
        }
        if request.agency != card.agency {
            return Err(RequestError::WrongAgency);
        }
        if now > request.expires_at {
            return Err(RequestError::Expired);
        }
        let purpose = card
            .purpose(&request.purpose)
            .ok_or(RequestError::UnknownPurpose)?
            .clone();
        if let Some(t) = request
            .records
            .iter()
            .find(|t| !card.record_types.contains(t))
        {
            return Err(RequestError::UnknownRecordType(
                t.chars().take(64).collect(),
            ));
        }
        let over_asking = request
            .fields
            .iter()
            .filter(|f| !purpose.fields.iter().any(|p| p == f.as_str()))
            .cloned()
            .collect();
        Ok(VerifiedRequest {
            request,
            purpose,
            over_asking,
        })
    }
}

impl VerifiedRequest {
    /// A grant builder answering this request at `now`: its purpose, duration, id, case
    /// reference and the record types it asked to send back (for `records_secs` from
    /// `now`). The citizen adds the fields they approve (a subset, trimmed as they choose)
    /// with [`GrantBuilder::field`].
    pub fn answer<'a>(&self, card: &'a AgencyCard, now: i64) -> GrantBuilder<'a> {
        let builder = GrantBuilder::new(card, &self.request.purpose, self.request.duration_secs)
            .answering(self.request.request_id, self.request.case_ref.clone());
        if self.request.records.is_empty() {
            builder
        } else {
            builder.records(
                self.request.records.clone(),
                now.saturating_add(self.request.records_secs.max(0)),
            )
        }
    }
}
