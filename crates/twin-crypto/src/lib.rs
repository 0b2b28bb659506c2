//! Key newtypes, Argon2id, key wrapping and recovery codes for the citizen's vault.
//!
//! The key hierarchy (see `docs/vault-format.md`):
//!
//! ```text
//! passphrase --Argon2id(salt, params)--> Kek --XChaCha20-Poly1305--> wraps DataKey
//! recovery code --HKDF-SHA256(salt)----> Kek --XChaCha20-Poly1305--> wraps DataKey
//! DataKey = SQLCipher raw key; DataKey --HKDF--> purpose subkeys (audit anchor MAC)
//! ```
//!
//! Every secret type zeroizes on drop and prints as `[redacted]`.
#![forbid(unsafe_code)]

mod kdf;
mod recovery;
mod secrets;
mod wrap;

pub use kdf::{KdfError, KdfParams, derive_kek};
pub use recovery::{RecoveryCode, RecoveryCodeError};
pub use secrets::{DataKey, Kek, Passphrase, RootSecret, random_array};
pub use wrap::{UnwrapError, WrappedKey};

/// Marks the process non-dumpable (`PR_SET_DUMPABLE = 0`), so a crash never writes a core
/// file holding keys and no other process of the same user can attach to read memory.
pub fn harden_process() -> std::io::Result<()> {
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(std::io::Error::from)
}

/// SHA-256 of `parts`, each length-prefixed so that no two lists collide.
pub fn sha256_parts(parts: &[&[u8]]) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}
