//! The paper and QR form of a grant: `twin-grant:` + base64url(CBOR {v, kid, enc, ct}).
//!
//! The whole signed grant is sealed (HPKE, info `citizen-twin/grant-paper/v1` ‖ kid) to the
//! agency key named by `kid`, so a lost printout shows neither who shared, nor what, nor
//! with whom — only the format version and the agency key id stay outside.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::card::AgencyCard;
use crate::cbor;
use crate::grant::{Grant, VERSION};
use crate::keys::{self, KeyPair, Sealed};

/// The text form's prefix.
pub const PREFIX: &str = "twin-grant:";
/// Longest text that fits a QR code (version 40, byte mode, low error correction: 2953
/// bytes); longer grants go in a file.
pub const MAX_QR_CHARS: usize = 2900;

#[derive(Serialize, Deserialize)]
struct PaperWire {
    v: u8,
    kid: String,
    sealed: Sealed,
}

/// Why a paper grant could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PaperError {
    /// Too long for a QR code.
    #[error(
        "this share is too large for a QR code or printout ({0} characters); save it as a file instead"
    )]
    TooLargeForQr(usize),
    /// The agency key the grant was sealed to is not on the card.
    #[error("the agency's key for this share is not on its card")]
    NoKey,
    /// Not a paper grant, or mistyped.
    #[error("this is not a share code, or part of it is missing")]
    Malformed,
    /// A format version this program does not know.
    #[error("this share code uses a newer format")]
    UnknownVersion,
    /// Cannot be opened with the agency's key.
    #[error("this share code cannot be opened with this agency's key")]
    CannotOpen,
}

fn info(kid: &str) -> Vec<u8> {
    [b"citizen-twin/grant-paper/v1|".as_slice(), kid.as_bytes()].concat()
}

impl Grant {
    /// The grant as text for paper or a QR code.
    pub fn to_text(&self, card: &AgencyCard) -> Result<String, PaperError> {
        let key = card
            .keys
            .iter()
            .find(|k| k.kid == self.claims.kid)
            .ok_or(PaperError::NoKey)?;
        let sealed =
            keys::seal(&key.seal, &info(&key.kid), &[], &self.bytes).ok_or(PaperError::NoKey)?;
        let text = format!(
            "{PREFIX}{}",
            URL_SAFE_NO_PAD.encode(cbor::to_vec(&PaperWire {
                v: VERSION,
                kid: key.kid.clone(),
                sealed
            }))
        );
        if text.len() > MAX_QR_CHARS {
            return Err(PaperError::TooLargeForQr(text.len()));
        }
        Ok(text)
    }
}

/// Opens a paper grant with the agency's keys (by key id), giving the grant's bytes to
/// parse and verify like any other.
pub fn open_text(text: &str, keys: &[(String, &KeyPair)]) -> Result<Vec<u8>, PaperError> {
    let body = text
        .trim()
        .strip_prefix(PREFIX)
        .ok_or(PaperError::Malformed)?;
    if body.len() > MAX_QR_CHARS * 4 {
        return Err(PaperError::Malformed);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(body.trim())
        .map_err(|_| PaperError::Malformed)?;
    let wire: PaperWire = cbor::from_slice(&bytes).ok_or(PaperError::Malformed)?;
    if wire.v != VERSION {
        return Err(PaperError::UnknownVersion);
    }
    let key = keys
        .iter()
        .find(|(kid, _)| *kid == wire.kid)
        .map(|(_, k)| *k)
        .ok_or(PaperError::NoKey)?;
    keys::open(key, &info(&wire.kid), &[], &wire.sealed)
        .map(|plain| plain.to_vec())
        .ok_or(PaperError::CannotOpen)
}
