use std::fmt;

use hmac::{KeyInit, Mac};
use subtle::ConstantTimeEq;
use zeroize::{ZeroizeOnDrop, Zeroizing};

/// `N` bytes from the operating system's random source.
///
/// # Panics
/// If the operating system cannot provide randomness, which leaves nothing safe to do.
pub fn random_array<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).expect("the operating system's random source failed");
    out
}

macro_rules! secret_bytes {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, ZeroizeOnDrop)]
        pub struct $name([u8; 32]);

        impl $name {
            /// A fresh secret from the operating system's random source.
            pub fn generate() -> Self {
                Self(random_array())
            }

            /// Wraps bytes that are already secret (read from the encrypted store or unwrapped).
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The secret bytes. Keep the borrow short; never log or print them.
            pub fn expose(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0.ct_eq(&other.0).into()
            }
        }
        impl Eq for $name {}
    };
}

secret_bytes!(
    /// The vault's 256-bit data key: the SQLCipher raw key, wrapped under the passphrase
    /// and the recovery code. A fresh one is made at every erasure.
    DataKey
);
secret_bytes!(
    /// A key-encryption key, from Argon2id over the passphrase or HKDF over a recovery code.
    Kek
);
secret_bytes!(
    /// The vault's root secret, from which per-agency identities are derived. Lives only
    /// inside the encrypted store.
    RootSecret
);

impl DataKey {
    /// The key as SQLCipher's raw-key literal `x'…'`, which skips SQLCipher's own PBKDF2.
    pub fn sqlcipher_literal(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(67));
        s.push_str("x'");
        s.push_str(&Zeroizing::new(hex::encode(self.0)));
        s.push('\'');
        s
    }

    /// A 32-byte subkey for one purpose (HKDF-SHA256, info = `label`).
    pub fn subkey(&self, label: &str) -> Zeroizing<[u8; 32]> {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"citizen-twin/data-key/v1"), &self.0);
        let mut out = Zeroizing::new([0u8; 32]);
        hk.expand(label.as_bytes(), out.as_mut())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        out
    }

    /// HMAC-SHA256 of `message` under the subkey for `label`.
    pub fn mac(&self, label: &str, message: &[u8]) -> [u8; 32] {
        let key = self.subkey(label);
        let mut m = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.as_ref())
            .expect("HMAC takes keys of any length");
        m.update(message);
        m.finalize().into_bytes().into()
    }

    /// Checks a MAC made by [`DataKey::mac`] in constant time.
    pub fn verify_mac(&self, label: &str, message: &[u8], tag: &[u8]) -> bool {
        self.mac(label, message).ct_eq(tag).into()
    }
}

/// A passphrase typed by the citizen. Zeroized on drop, never printed.
#[derive(Clone, ZeroizeOnDrop)]
pub struct Passphrase(String);

impl Passphrase {
    /// Takes ownership of the typed text.
    pub fn new(text: String) -> Self {
        Self(text)
    }

    /// The passphrase's bytes, for the KDF only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passphrase").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secret_bytes() {
        let k = DataKey::from_bytes([0xAB; 32]);
        let shown = format!("{k:?}");
        assert!(!shown.contains("ab") && !shown.contains("171"), "{shown}");
        let p = Passphrase::new("correct horse".into());
        assert!(!format!("{p:?}").contains("horse"));
    }

    #[test]
    fn sqlcipher_literal_is_hex_raw_key() {
        let k = DataKey::from_bytes([1; 32]);
        assert_eq!(
            k.sqlcipher_literal().as_str(),
            format!("x'{}'", "01".repeat(32))
        );
    }

    #[test]
    fn macs_depend_on_key_label_and_message() {
        let k = DataKey::from_bytes([1; 32]);
        let t = k.mac("a", b"m");
        assert!(k.verify_mac("a", b"m", &t));
        assert!(!k.verify_mac("b", b"m", &t));
        assert!(!k.verify_mac("a", b"n", &t));
        assert!(!DataKey::from_bytes([2; 32]).verify_mac("a", b"m", &t));
    }
}
