//! Per-grant encryption of shared values at rest: XChaCha20-Poly1305 under a random
//! 256-bit key per grant, with a random 192-bit nonce, bound to the grant id and the
//! refresh number. Stored as `nonce ‖ ciphertext`.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use twin_types::GrantId;
use zeroize::Zeroizing;

const CONTEXT: &[u8] = b"citizen-twin/agency-at-rest/v1";

fn aad(grant: &GrantId, seq: u64) -> Vec<u8> {
    [CONTEXT, grant.as_bytes(), &seq.to_be_bytes()].concat()
}

/// A fresh per-grant key.
pub(crate) fn fresh_key() -> Zeroizing<[u8; 32]> {
    let mut k = Zeroizing::new([0u8; 32]);
    getrandom::fill(k.as_mut()).expect("the operating system's random source failed");
    k
}

/// Encrypts `plain` for grant `grant` at refresh `seq`.
pub(crate) fn seal(key: &[u8; 32], grant: &GrantId, seq: u64, plain: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(&Key::from(*key));
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut nonce).expect("the operating system's random source failed");
    let ct = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plain,
                aad: &aad(grant, seq),
            },
        )
        .expect("a grant's values are far below XChaCha20-Poly1305's limits");
    [nonce.as_slice(), &ct].concat()
}

/// Decrypts what [`seal`] made; `None` if anything differs.
pub(crate) fn open(
    key: &[u8; 32],
    grant: &GrantId,
    seq: u64,
    sealed: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let (nonce, ct) = sealed.split_at_checked(24)?;
    let nonce: [u8; 24] = nonce.try_into().ok()?;
    XChaCha20Poly1305::new(&Key::from(*key))
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: ct,
                aad: &aad(grant, seq),
            },
        )
        .ok()
        .map(Zeroizing::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_binds_grant_and_seq() {
        let key = fresh_key();
        let g = GrantId::random();
        let s = seal(&key, &g, 3, b"{\"a\":1}");
        assert_eq!(open(&key, &g, 3, &s).unwrap().as_slice(), b"{\"a\":1}");
        assert!(open(&key, &g, 4, &s).is_none());
        assert!(open(&key, &GrantId::random(), 3, &s).is_none());
        assert!(open(&fresh_key(), &g, 3, &s).is_none());
        assert!(open(&key, &g, 3, &s[..10]).is_none());
    }
}
