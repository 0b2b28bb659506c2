//! The grant protocol between a citizen's vault and agencies.
//!
//! Pure: formats and cryptography only. No I/O and no clock — every check that depends on
//! time takes `now` (seconds since 1970, UTC) as an argument. Both sides use this crate:
//! the vault to make grants and read records, agencies to verify grants and make records.
//! `docs/protocol.md` is the specification.
#![forbid(unsafe_code)]

mod card;
mod cbor;
mod cose;
mod grant;
mod httpsig;
mod keys;
mod paper;
mod record;
mod refresh;
mod request;
mod revocation;
mod rules;

pub use card::{AgencyCard, Anchor, CardError, CardKey, Purpose, SignedCard, TrustList};
pub use grant::{
    AgencyView, Grant, GrantBuilder, GrantClaims, GrantError, IssueError, Limits, PurposeClaim,
    UnverifiedGrant, VERSION, VerifiedGrant,
};
pub use httpsig::{RequestSigError, SignedHeaders, VerifiedRequest, sign_request, verify_request};
#[cfg(feature = "test-vectors")]
pub use keys::deterministic;
pub use keys::{KeyPair, SealPublic, Sealed, SignPublic};
pub use paper::{MAX_QR_CHARS, PREFIX as TEXT_PREFIX, PaperError, open_text};
pub use record::{
    IDENTITY_LINK, MAX_RECORD_BYTES, Receipt, ReceiptError, ReceiptEvent, RecordClaims,
    RecordError, VerifiedRecord, open_record, verify_signed_record,
};
pub use refresh::{RefreshClaims, RefreshError, make_refresh, open_refresh};
pub use request::{AgencyRequest, RequestError, VerifiedRequest as VerifiedAgencyRequest};
pub use revocation::{Revocation, RevocationError};
pub use rules::{MAX_RULE_PACK_BYTES, RulePackSignatureError, sign_rule_pack, verify_rule_pack};

#[cfg(test)]
mod grant_wire_for_tests {
    pub(crate) use crate::grant::Wire;
}
#[cfg(test)]
mod tests;
