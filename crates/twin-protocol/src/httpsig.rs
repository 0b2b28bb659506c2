//! Signatures on the citizen's HTTP requests to an agency, in the manner of RFC 9421
//! (HTTP Message Signatures): the method, the path, a SHA-256 digest of the body
//! (RFC 9530 `Content-Digest`), a timestamp and a nonce are covered, signed with the
//! pairwise Ed25519 key for that agency.
//!
//! Signature base (each line `"name": value`, joined by `\n`):
//!
//! ```text
//! "@method": POST
//! "@path": /v1/grants
//! "content-digest": sha-256=:<base64>:
//! "@signature-params": ("@method" "@path" "content-digest");created=<t>;nonce="<hex>";keyid="<hex pk>";alg="ed25519"
//! ```
//!
//! Headers: `Content-Digest`, `Signature-Input: twin=<params>`, `Signature: twin=:<base64>:`.
//! The agency checks the digest, the time window and the signature here, and that the
//! nonce was not seen before (its own memory, passed in).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::Digest;

use crate::keys::{KeyPair, SignPublic};

/// The three headers a signed request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `Content-Digest`.
    pub content_digest: String,
    /// `Signature-Input`.
    pub signature_input: String,
    /// `Signature`.
    pub signature: String,
}

/// Why a request signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestSigError {
    /// Headers missing or not in the expected form.
    #[error("the request's signature headers are missing or malformed")]
    Malformed,
    /// The body does not match its digest.
    #[error("the request body does not match its digest")]
    DigestMismatch,
    /// Made too long ago or in the future.
    #[error("the request's signature is too old or from the future")]
    Stale,
    /// A nonce seen before.
    #[error("this request was already received (replay)")]
    Replayed,
    /// The signature does not hold.
    #[error("the request's signature does not check out")]
    BadSignature,
}

/// A request whose signature checked out: who signed it and its nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    /// The pairwise key that signed it.
    pub signer: SignPublic,
    /// Its nonce, for the agency to remember until it would be stale anyway.
    pub nonce: String,
    /// When it was signed.
    pub created: i64,
}

fn digest_header(body: &[u8]) -> String {
    format!("sha-256=:{}:", STANDARD.encode(sha2::Sha256::digest(body)))
}

fn params(created: i64, nonce: &str, key: &SignPublic) -> String {
    format!(
        "(\"@method\" \"@path\" \"content-digest\");created={created};nonce=\"{nonce}\";keyid=\"{}\";alg=\"ed25519\"",
        hex::encode(key.0)
    )
}

fn base(method: &str, path: &str, digest: &str, params: &str) -> String {
    format!(
        "\"@method\": {method}\n\"@path\": {path}\n\"content-digest\": {digest}\n\"@signature-params\": {params}"
    )
}

/// Signs a request. `nonce` must be fresh and random (16 bytes, hex).
pub fn sign_request(
    method: &str,
    path: &str,
    body: &[u8],
    now: i64,
    nonce: &str,
    key: &KeyPair,
) -> SignedHeaders {
    let digest = digest_header(body);
    let p = params(now, nonce, &key.sign_public());
    let sig = key.sign(base(&method.to_ascii_uppercase(), path, &digest, &p).as_bytes());
    SignedHeaders {
        content_digest: digest,
        signature_input: format!("twin={p}"),
        signature: format!("twin=:{}:", STANDARD.encode(sig)),
    }
}

/// Verifies a request: digest, time window (`max_skew_secs` either side), nonce not seen,
/// then the signature with the key the parameters name.
pub fn verify_request(
    method: &str,
    path: &str,
    body: &[u8],
    headers: &SignedHeaders,
    now: i64,
    max_skew_secs: i64,
    seen_nonce: impl Fn(&str) -> bool,
) -> Result<VerifiedRequest, RequestSigError> {
    if digest_header(body) != headers.content_digest {
        return Err(RequestSigError::DigestMismatch);
    }
    let p = headers
        .signature_input
        .strip_prefix("twin=")
        .ok_or(RequestSigError::Malformed)?;
    let field = |name: &str| -> Option<&str> {
        p.split(';')
            .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
    };
    let created: i64 = field("created")
        .and_then(|v| v.parse().ok())
        .ok_or(RequestSigError::Malformed)?;
    let nonce = field("nonce")
        .map(|v| v.trim_matches('"'))
        .ok_or(RequestSigError::Malformed)?;
    let keyid = field("keyid")
        .map(|v| v.trim_matches('"'))
        .ok_or(RequestSigError::Malformed)?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(keyid, &mut key).map_err(|_| RequestSigError::Malformed)?;
    let signer = SignPublic(key);
    if nonce.len() != 32 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RequestSigError::Malformed);
    }
    // Only the parameters this crate writes are accepted, in this exact form.
    if p != params(created, nonce, &signer) {
        return Err(RequestSigError::Malformed);
    }
    if now.abs_diff(created) > max_skew_secs.unsigned_abs() {
        return Err(RequestSigError::Stale);
    }
    let sig = headers
        .signature
        .strip_prefix("twin=:")
        .and_then(|s| s.strip_suffix(':'))
        .and_then(|s| STANDARD.decode(s).ok())
        .ok_or(RequestSigError::Malformed)?;
    if !signer.verify_strict(
        base(
            &method.to_ascii_uppercase(),
            path,
            &headers.content_digest,
            p,
        )
        .as_bytes(),
        &sig,
    ) {
        return Err(RequestSigError::BadSignature);
    }
    // Only a signed request may consume a nonce: asked after the signature holds.
    if seen_nonce(nonce) {
        return Err(RequestSigError::Replayed);
    }
    Ok(VerifiedRequest {
        signer,
        nonce: nonce.to_owned(),
        created,
    })
}
