//! Key pairs: an agency's, and the citizen's pairwise identity for one agency.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hpke::{Deserializable, Serializable};
use serde::{Deserialize, Serialize};
use twin_types::AgencyId;
use zeroize::{Zeroize, Zeroizing};

pub(crate) type Kem = hpke::kem::X25519HkdfSha256;

/// An Ed25519 public key (32 bytes), hex in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignPublic(#[serde(with = "hex")] pub [u8; 32]);

/// An X25519 public key (32 bytes), hex in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SealPublic(#[serde(with = "hex")] pub [u8; 32]);

impl fmt::Debug for SignPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignPublic({})", hex::encode(&self.0[..8]))
    }
}
impl fmt::Debug for SealPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealPublic({})", hex::encode(&self.0[..8]))
    }
}

impl SignPublic {
    /// Verifies with `verify_strict` (no small-order keys, canonical S).
    pub fn verify_strict(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&self.0) else {
            return false;
        };
        let Ok(sig) = Signature::from_slice(signature) else {
            return false;
        };
        key.verify_strict(message, &sig).is_ok()
    }
}

impl SealPublic {
    pub(crate) fn hpke(&self) -> Option<<Kem as hpke::Kem>::PublicKey> {
        <Kem as hpke::Kem>::PublicKey::from_bytes(&self.0).ok()
    }
}

/// A signing and a sealing key pair. Secret halves zeroize on drop; `Debug` shows only
/// the public halves.
pub struct KeyPair {
    sign: SigningKey,
    seal: Zeroizing<[u8; 32]>,
    /// The X25519 public key, computed once (a scalar multiplication costs ≈17 µs).
    seal_public: SealPublic,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("sign", &self.sign_public())
            .field("seal", &self.seal_public())
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// A fresh key pair from the operating system's random source.
    pub fn generate() -> KeyPair {
        let mut seed = Zeroizing::new([0u8; 64]);
        getrandom::fill(seed.as_mut()).expect("the operating system's random source failed");
        KeyPair::from_seeds(
            seed[..32].try_into().expect("32"),
            seed[32..].try_into().expect("32"),
        )
    }

    /// A key pair from two 32-byte secret seeds (Ed25519 seed, X25519 scalar).
    pub fn from_seeds(sign: [u8; 32], seal: [u8; 32]) -> KeyPair {
        let mut sign = sign;
        let secret = x25519_dalek::StaticSecret::from(seal);
        let seal_public = SealPublic(x25519_dalek::PublicKey::from(&secret).to_bytes());
        let kp = KeyPair {
            sign: SigningKey::from_bytes(&sign),
            seal: Zeroizing::new(seal),
            seal_public,
        };
        sign.zeroize();
        kp
    }

    /// The two secret seeds, for storing in an encrypted store.
    pub fn to_seeds(&self) -> Zeroizing<[u8; 64]> {
        let mut out = Zeroizing::new([0u8; 64]);
        out[..32].copy_from_slice(&self.sign.to_bytes());
        out[32..].copy_from_slice(self.seal.as_ref());
        out
    }

    /// The public signing key.
    pub fn sign_public(&self) -> SignPublic {
        SignPublic(self.sign.verifying_key().to_bytes())
    }

    /// The public sealing key.
    pub fn seal_public(&self) -> SealPublic {
        self.seal_public
    }

    /// Signs `message` with Ed25519.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.sign.sign(message).to_bytes()
    }

    pub(crate) fn hpke_private(&self) -> <Kem as hpke::Kem>::PrivateKey {
        <Kem as hpke::Kem>::PrivateKey::from_bytes(self.seal.as_ref())
            .expect("any 32 bytes are an X25519 private key")
    }

    /// The citizen's pairwise identity for one agency: HKDF-SHA256 over the vault's root
    /// secret with the agency id in `info`, one output for each key. Two agencies get
    /// unrelated keys; neither can compute the other's or the root secret.
    pub fn pairwise(root_secret: &[u8; 32], agency: &AgencyId) -> KeyPair {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"citizen-twin/pairwise/v1"), root_secret);
        let mut sign = Zeroizing::new([0u8; 32]);
        let mut seal = Zeroizing::new([0u8; 32]);
        hk.expand_multi_info(&[b"ed25519|", agency.as_str().as_bytes()], sign.as_mut())
            .expect("32 bytes is a valid HKDF output length");
        hk.expand_multi_info(&[b"x25519|", agency.as_str().as_bytes()], seal.as_mut())
            .expect("32 bytes is a valid HKDF output length");
        KeyPair::from_seeds(*sign, *seal)
    }
}

/// The HPKE encapsulated key and ciphertext of one sealed message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The encapsulated key (32 bytes for X25519).
    #[serde(with = "serde_bytes_compat")]
    pub enc: Vec<u8>,
    /// The ciphertext with its tag.
    #[serde(with = "serde_bytes_compat")]
    pub ct: Vec<u8>,
}

/// CBOR byte strings (not arrays of integers) for `Vec<u8>` fields.
pub(crate) mod serde_bytes_compat {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let b: ciborium::value::Value = Deserialize::deserialize(d)?;
        match b {
            ciborium::value::Value::Bytes(b) => Ok(b),
            _ => Err(serde::de::Error::custom("expected a byte string")),
        }
    }
}

thread_local! {
    /// Set only inside [`deterministic`]: the seeded generator test vectors seal with.
    static SEEDED: std::cell::RefCell<Option<rand_chacha::ChaCha20Rng>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with HPKE's ephemeral keys drawn from ChaCha20 seeded with `seed` instead of
/// the operating system, so test vectors come out the same on every run. Only for the
/// vector generator and tests: a sealed message made this way is as predictable as its
/// seed.
#[cfg(feature = "test-vectors")]
pub fn deterministic<R>(seed: [u8; 32], f: impl FnOnce() -> R) -> R {
    use rand_core::SeedableRng;
    SEEDED.with(|s| *s.borrow_mut() = Some(rand_chacha::ChaCha20Rng::from_seed(seed)));
    let out = f();
    SEEDED.with(|s| *s.borrow_mut() = None);
    out
}

/// HPKE base mode, X25519-HKDF-SHA256, HKDF-SHA256, ChaCha20-Poly1305 (RFC 9180).
pub(crate) fn seal(to: &SealPublic, info: &[u8], aad: &[u8], plaintext: &[u8]) -> Option<Sealed> {
    type A = hpke::aead::ChaCha20Poly1305;
    type K = hpke::kdf::HkdfSha256;
    let pk = to.hpke()?;
    let mode = hpke::OpModeS::Base;
    let seeded = SEEDED.with(|s| {
        s.borrow_mut().as_mut().map(|rng| {
            hpke::single_shot_seal_with_rng::<A, K, Kem>(&mode, &pk, info, plaintext, aad, rng)
        })
    });
    let (enc, ct) = match seeded {
        Some(r) => r,
        None => hpke::single_shot_seal::<A, K, Kem>(&mode, &pk, info, plaintext, aad),
    }
    .ok()?;
    Some(Sealed {
        enc: enc.to_bytes().to_vec(),
        ct,
    })
}

/// Opens what [`seal`] made; `None` if anything differs.
pub(crate) fn open(
    with: &KeyPair,
    info: &[u8],
    aad: &[u8],
    sealed: &Sealed,
) -> Option<Zeroizing<Vec<u8>>> {
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&sealed.enc).ok()?;
    hpke::single_shot_open::<hpke::aead::ChaCha20Poly1305, hpke::kdf::HkdfSha256, Kem>(
        &hpke::OpModeR::Base,
        &with.hpke_private(),
        &enc,
        info,
        &sealed.ct,
        aad,
    )
    .ok()
    .map(Zeroizing::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_agencies_get_unrelated_pairwise_keys() {
        let root = [7u8; 32];
        let a = KeyPair::pairwise(&root, &AgencyId::parse("benefits").unwrap());
        let b = KeyPair::pairwise(&root, &AgencyId::parse("tax-office").unwrap());
        let again = KeyPair::pairwise(&root, &AgencyId::parse("benefits").unwrap());
        assert_eq!(a.sign_public(), again.sign_public());
        let (sa, sb) = (a.to_seeds(), b.to_seeds());
        let pubs = [
            a.sign_public().0,
            a.seal_public().0,
            b.sign_public().0,
            b.seal_public().0,
        ];
        for w in [&sa[..], &sb[..], &pubs[0][..], &pubs[1][..]] {
            for other in [&sb[..], &pubs[2][..], &pubs[3][..]] {
                assert!(
                    !w.windows(8).any(|x| other.windows(8).any(|y| x == y))
                        || std::ptr::eq(w, other)
                );
            }
        }
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        let agency = KeyPair::generate();
        let s = seal(&agency.seal_public(), b"info", b"aad", b"hello").unwrap();
        assert_eq!(
            open(&agency, b"info", b"aad", &s).unwrap().as_slice(),
            b"hello"
        );
        assert!(open(&agency, b"other", b"aad", &s).is_none());
        assert!(open(&agency, b"info", b"other", &s).is_none());
        assert!(open(&KeyPair::generate(), b"info", b"aad", &s).is_none());
    }

    #[test]
    fn strict_verification() {
        let k = KeyPair::generate();
        let sig = k.sign(b"m");
        assert!(k.sign_public().verify_strict(b"m", &sig));
        assert!(!k.sign_public().verify_strict(b"n", &sig));
        assert!(!k.sign_public().verify_strict(b"m", &sig[..63]));
    }
}
