//! Agency cards and the trust list.
//!
//! A card says who an agency is, where it listens, its keys (each with an id and an
//! expiry), the record types it issues and, per purpose, the fields it asks for, the legal
//! basis and how long it keeps them. A trust anchor signs it (COSE_Sign1). The trust list
//! pins the anchors, each with a validity period, and lists revoked anchor keys.

use serde::{Deserialize, Serialize};
use twin_types::AgencyId;

use crate::cbor;
use crate::cose::{self, CoseError, Unchecked};
use crate::keys::{KeyPair, SealPublic, SignPublic};

/// One of an agency's key pairs, as its card publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardKey {
    /// The key id grants name in their audience.
    pub kid: String,
    /// Verifies the agency's records and receipts.
    pub sign: SignPublic,
    /// Grants are sealed to this key.
    pub seal: SealPublic,
    /// Not used after this time (seconds since 1970, UTC).
    pub not_after: i64,
}

/// Why an agency asks for data, as its card states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purpose {
    /// A short code, e.g. `pension-credit-check`.
    pub code: String,
    /// Plain words, e.g. "Pension Credit check".
    pub words: String,
    /// The fields this purpose needs; asking for others is over-asking.
    pub fields: Vec<String>,
    /// The law that allows it.
    pub legal_basis: String,
    /// How long the agency keeps what it receives, in days.
    pub retention_days: u32,
}

/// An agency card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyCard {
    /// Format version: 1.
    pub v: u8,
    /// The agency's id.
    pub agency: AgencyId,
    /// Its name for people.
    pub name: String,
    /// Its HTTPS endpoint.
    pub endpoint: String,
    /// Signed by a sandbox anchor: for local use and tests only.
    pub sandbox: bool,
    /// Its keys.
    pub keys: Vec<CardKey>,
    /// Record types it issues (schema ids).
    pub record_types: Vec<String>,
    /// What it asks for and why.
    pub purposes: Vec<Purpose>,
    /// The card is not used after this time.
    pub expires_at: i64,
}

impl AgencyCard {
    /// The key with id `kid`, if the card has it and it is valid at `now`.
    pub fn key(&self, kid: &str, now: i64) -> Option<&CardKey> {
        self.keys
            .iter()
            .find(|k| k.kid == kid && now <= k.not_after)
    }

    /// The newest key valid at `now` (the one to seal new grants to).
    pub fn current_key(&self, now: i64) -> Option<&CardKey> {
        self.keys
            .iter()
            .filter(|k| now <= k.not_after)
            .max_by_key(|k| k.not_after)
    }

    /// The purpose with this code.
    pub fn purpose(&self, code: &str) -> Option<&Purpose> {
        self.purposes.iter().find(|p| p.code == code)
    }

    /// Signs the card with a trust anchor's key.
    pub fn sign(&self, anchor_id: &str, anchor_key: &KeyPair) -> SignedCard {
        SignedCard(cose::sign(
            cose::kind::CARD,
            anchor_id.as_bytes(),
            cbor::to_vec(self),
            anchor_key,
        ))
    }
}

/// A card as signed bytes (COSE_Sign1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCard(pub Vec<u8>);

/// One trust anchor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// Its id, as cards name it.
    pub id: String,
    /// Its name for people.
    pub name: String,
    /// Its Ed25519 public key.
    pub public_key: SignPublic,
    /// Valid from (seconds since 1970, UTC).
    pub not_before: i64,
    /// Valid until.
    pub not_after: i64,
    /// A sandbox anchor, whose private key is public: for local use and tests only.
    #[serde(default)]
    pub sandbox: bool,
}

/// The pinned list of anchors, and revoked anchor keys.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TrustList {
    /// The anchors.
    pub anchors: Vec<Anchor>,
    /// Anchor public keys that must no longer be believed.
    #[serde(default)]
    pub revoked: Vec<SignPublic>,
}

/// Why a card was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CardError {
    /// Not a signed card.
    #[error("this is not an agency card, or it is damaged")]
    Malformed,
    /// Signed by an anchor the trust list does not have.
    #[error("this card is signed by someone this computer does not trust")]
    UntrustedAnchor,
    /// The anchor's key is on the revoked list.
    #[error("this card is signed with a key that has been withdrawn; do not use it")]
    RevokedAnchor,
    /// The anchor is outside its validity period.
    #[error("the authority that signed this card is not valid at this time")]
    AnchorNotValid,
    /// The signature does not hold.
    #[error("this card's signature does not check out; it may have been altered")]
    BadSignature,
    /// The card has expired.
    #[error("this agency card has expired; ask the agency for a current one")]
    Expired,
    /// A sandbox card signed by a real anchor, or the other way round.
    #[error("this card's sandbox marking does not match the authority that signed it")]
    SandboxMismatch,
    /// A format version this program does not know.
    #[error("this card uses a newer format; update Citizen Twin")]
    UnknownVersion,
}

impl SignedCard {
    /// Reads back a card this vault verified and pinned in its own encrypted store.
    /// Checks nothing: never use it on a card received from elsewhere.
    pub fn read_pinned(&self) -> Option<AgencyCard> {
        let cose = Unchecked::parse(&self.0, cose::kind::CARD).ok()?;
        cbor::from_slice(cose.payload_unchecked())
    }

    /// Verifies the card against `trust` at `now`, in this order: structure, anchor known,
    /// anchor key not revoked, anchor valid now, signature (`verify_strict`), version,
    /// sandbox marking matches the anchor, card not expired.
    pub fn verify(&self, trust: &TrustList, now: i64) -> Result<AgencyCard, CardError> {
        let cose = Unchecked::parse(&self.0, cose::kind::CARD).map_err(|e| match e {
            CoseError::Malformed | CoseError::WrongKind => CardError::Malformed,
        })?;
        let anchor = trust
            .anchors
            .iter()
            .find(|a| a.id.as_bytes() == cose.kid())
            .ok_or(CardError::UntrustedAnchor)?;
        if trust.revoked.contains(&anchor.public_key) {
            return Err(CardError::RevokedAnchor);
        }
        if now < anchor.not_before || now > anchor.not_after {
            return Err(CardError::AnchorNotValid);
        }
        if !cose.verify(&anchor.public_key) {
            return Err(CardError::BadSignature);
        }
        let card: AgencyCard =
            cbor::from_slice(cose.payload_unchecked()).ok_or(CardError::Malformed)?;
        if card.v != 1 {
            return Err(CardError::UnknownVersion);
        }
        if card.sandbox != anchor.sandbox {
            return Err(CardError::SandboxMismatch);
        }
        if now > card.expires_at {
            return Err(CardError::Expired);
        }
        Ok(card)
    }
}
