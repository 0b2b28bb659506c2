//! CBOR encoding of claims with `ciborium`: struct fields in declaration order, byte
//! strings for bytes. Verification never re-encodes: it checks the exact signed bytes.

use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) fn to_vec<T: Serialize>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).expect("claims encode to CBOR");
    out
}

/// Decodes exactly one CBOR item: trailing bytes are refused, so a message has one
/// byte form.
pub(crate) fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let mut reader = bytes;
    let value = ciborium::from_reader(&mut reader).ok()?;
    reader.is_empty().then_some(value)
}
