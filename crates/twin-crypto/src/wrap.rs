use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{DataKey, Kek, random_array};

/// A data key sealed under a key-encryption key with XChaCha20-Poly1305.
///
/// The associated data binds the wrap to its context (which slot, which vault, which KDF
/// settings), so a wrap moved into another slot or file fails to open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// Random 192-bit nonce, hex.
    #[serde(with = "hex")]
    pub nonce: [u8; 24],
    /// The sealed 32-byte key and its 16-byte tag, hex.
    #[serde(with = "hex")]
    pub sealed: Vec<u8>,
}

/// The key-encryption key does not open this wrap: a wrong passphrase or recovery code,
/// or a wrap that was altered. Deliberately says no more.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the key does not open this wrapped key")]
pub struct UnwrapError;

impl WrappedKey {
    /// Seals `key` under `kek`, bound to `context`.
    pub fn seal(kek: &Kek, key: &DataKey, context: &[u8]) -> WrappedKey {
        let cipher = XChaCha20Poly1305::new(&Key::from(*kek.expose()));
        let nonce: [u8; 24] = random_array();
        let sealed = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: key.expose(),
                    aad: context,
                },
            )
            .expect("sealing 32 bytes cannot exceed XChaCha20-Poly1305's limits");
        WrappedKey { nonce, sealed }
    }

    /// Opens the wrap with `kek`; fails if the key, the context or a single bit differ.
    pub fn open(&self, kek: &Kek, context: &[u8]) -> Result<DataKey, UnwrapError> {
        let cipher = XChaCha20Poly1305::new(&Key::from(*kek.expose()));
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    &XNonce::from(self.nonce),
                    Payload {
                        msg: &self.sealed,
                        aad: context,
                    },
                )
                .map_err(|_| UnwrapError)?,
        );
        let bytes: [u8; 32] = plain.as_slice().try_into().map_err(|_| UnwrapError)?;
        Ok(DataKey::from_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_context_binding() {
        let kek = Kek::generate();
        let key = DataKey::generate();
        let w = WrappedKey::seal(&kek, &key, b"slot:passphrase");
        assert_eq!(w.open(&kek, b"slot:passphrase").unwrap(), key);
        assert_eq!(w.open(&kek, b"slot:recovery"), Err(UnwrapError));
        assert_eq!(
            w.open(&Kek::generate(), b"slot:passphrase"),
            Err(UnwrapError)
        );
    }

    proptest! {
        #[test]
        fn any_flipped_bit_is_refused(byte in 0usize..48, bit in 0u8..8) {
            let kek = Kek::generate();
            let mut w = WrappedKey::seal(&kek, &DataKey::generate(), b"c");
            w.sealed[byte] ^= 1 << bit;
            prop_assert_eq!(w.open(&kek, b"c"), Err(UnwrapError));
        }
    }
}
