//! COSE_Sign1 (RFC 9052) with Ed25519, through the `coset` crate. The protected header
//! carries the algorithm, the signer's key id and a content type naming the message kind,
//! so a signature made for one kind of message is never accepted as another.

use coset::{CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder, iana};

use crate::keys::{KeyPair, SignPublic};

/// Message kinds, as the COSE content type.
pub(crate) mod kind {
    pub const CARD: &str = "application/twin-card+cbor;v=1";
    pub const GRANT: &str = "application/twin-grant+cbor;v=1";
    pub const REQUEST: &str = "application/twin-request+cbor;v=1";
    pub const REFRESH: &str = "application/twin-refresh+cbor;v=1";
    pub const REVOCATION: &str = "application/twin-revocation+cbor;v=1";
    pub const RECORD: &str = "application/twin-record+cbor;v=1";
    pub const RECEIPT: &str = "application/twin-receipt+cbor;v=1";
    pub const RULES: &str = "application/twin-rules+cbor;v=1";
}

pub(crate) fn sign(kind: &str, kid: &[u8], payload: Vec<u8>, key: &KeyPair) -> Vec<u8> {
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .key_id(kid.to_vec())
        .content_type(kind.to_owned())
        .build();
    CoseSign1Builder::new()
        .protected(protected)
        .payload(payload)
        .create_signature(&[], |tbs| key.sign(tbs).to_vec())
        .build()
        .to_vec()
        .expect("a COSE_Sign1 encodes")
}

/// A parsed COSE_Sign1 whose signature has not been checked.
pub(crate) struct Unchecked {
    inner: CoseSign1,
}

#[derive(Debug)]
pub(crate) enum CoseError {
    Malformed,
    WrongKind,
}

impl Unchecked {
    pub(crate) fn parse(bytes: &[u8], expected_kind: &str) -> Result<Unchecked, CoseError> {
        let inner = CoseSign1::from_slice(bytes).map_err(|_| CoseError::Malformed)?;
        let h = &inner.protected.header;
        if h.alg
            != Some(coset::RegisteredLabelWithPrivate::Assigned(
                iana::Algorithm::EdDSA,
            ))
        {
            return Err(CoseError::Malformed);
        }
        match &h.content_type {
            Some(coset::ContentType::Text(t)) if t == expected_kind => {}
            _ => return Err(CoseError::WrongKind),
        }
        // RFC 9052 §3.1: a recipient must refuse critical headers it does not know; this
        // profile defines none.
        if !h.crit.is_empty() || !inner.unprotected.is_empty() {
            return Err(CoseError::Malformed);
        }
        if inner.payload.is_none() {
            return Err(CoseError::Malformed);
        }
        Ok(Unchecked { inner })
    }

    pub(crate) fn kid(&self) -> &[u8] {
        &self.inner.protected.header.key_id
    }

    /// The payload, before the signature is checked: only to find out which key to check
    /// it with. Nothing read here may be trusted until [`Unchecked::verify`] succeeds.
    pub(crate) fn payload_unchecked(&self) -> &[u8] {
        self.inner.payload.as_deref().unwrap_or_default()
    }

    pub(crate) fn verify(&self, key: &SignPublic) -> bool {
        self.inner
            .verify_signature(&[], |sig, tbs| {
                if key.verify_strict(tbs, sig) {
                    Ok(())
                } else {
                    Err(())
                }
            })
            .is_ok()
    }
}
