//! The `.twinbackup` file format: write, read and verify backups of a citizen's vault.
//!
//! One job: bytes in, bytes out. The caller (the vault) decides what goes into each
//! section; this crate only seals, signs, checks and opens. The format is specified in
//! `docs/backup-format.md`:
//!
//! ```text
//! header  : magic, version, salted vault fingerprint, signer key, created-at,
//!           Argon2id params, chunk size, body key wrapped ×2 (passphrase, recovery), SHA-256
//! body    : sections, each  SECT kind len nonce-prefix ‖ STREAM chunks (XChaCha20-Poly1305)
//! trailer : TRLR header-hash, section table, every chunk's offset/length/SHA-256, Ed25519 sig
//! footer  : trailer offset, end magic
//! ```
//!
//! - [`BackupWriter`] / [`write_atomic`] make a backup;
//! - [`inspect`] reads the header's facts and [`verify`] checks every byte against the
//!   signed trailer, both without any secret (support staff can run them);
//! - [`open`] decrypts with the passphrase or the recovery code, returns every intact
//!   section and names every lost one.
//!
//! ```
//! use twin_backup::{BackupParams, BackupWriter, RecoverySlot, SectionKind, Unlock};
//! use twin_crypto::{KdfParams, Passphrase, RecoveryCode};
//!
//! let signer = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
//! let pass = Passphrase::new("correct horse battery".into());
//! let code = RecoveryCode::generate();
//! let params = BackupParams {
//!     vault_id: b"vault-id-bytes",
//!     fingerprint_salt: [1; 16],
//!     signer: signer.verifying_key(),
//!     created_at: 1_795_000_000,
//!     kdf: KdfParams { memory_kib: KdfParams::MIN_MEMORY_KIB, iterations: 1, parallelism: 1 },
//!     passphrase: &pass,
//!     recovery: RecoverySlot::from_code(&code),
//!     chunk_size: twin_backup::DEFAULT_CHUNK_SIZE,
//! };
//! let mut file = Vec::new();
//! let mut w = BackupWriter::new(&mut file, params)?;
//! w.add_section(SectionKind::Snapshot, b"automerge bytes")?;
//! w.finish(&signer)?;
//!
//! let report = twin_backup::verify(&file[..])?; // no secret needed
//! assert_eq!(report.chunk_count, 1);
//! let opened = twin_backup::open(&file[..], Unlock::RecoveryCode(&code))?;
//! assert!(opened.is_complete());
//! assert_eq!(opened.sections[0].1.as_ref().unwrap().as_slice(), b"automerge bytes");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod format;
mod read;
mod write;

use std::fmt;

pub use read::{
    Damage, HeaderFacts, InspectError, Loss, OpenError, OpenedBackup, PassphraseKey, SectionDamage,
    SectionFacts, TrailerStatus, Unlock, VerifyError, VerifyReport, inspect, open, verify,
};
pub use write::{
    BackupParams, BackupSummary, BackupWriter, Progress, RecoverySlot, WriteError, write_atomic,
};

/// The format version this program writes. Readers refuse higher versions with a
/// "made by a newer Citizen Twin" error.
pub const FORMAT_VERSION: u16 = format::VERSION;

/// The chunk size new backups use: 64 KiB of plaintext per authenticated chunk.
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;

/// What a section holds. The crate does not look inside; the kind tells the restorer
/// what to do with the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SectionKind {
    /// The twin's Automerge snapshot.
    Snapshot,
    /// Incremental Automerge change batches since the snapshot.
    Changes,
    /// The audit log.
    Audit,
    /// Shares (grants) given to agencies.
    Grants,
    /// Records received from agencies.
    Records,
    /// Vault settings.
    Settings,
    /// A kind this version does not know (written by a later one); kept, not dropped.
    Other(u16),
}

impl SectionKind {
    /// The kind's number on disk.
    pub fn code(self) -> u16 {
        match self {
            SectionKind::Snapshot => 1,
            SectionKind::Changes => 2,
            SectionKind::Audit => 3,
            SectionKind::Grants => 4,
            SectionKind::Records => 5,
            SectionKind::Settings => 6,
            SectionKind::Other(c) => c,
        }
    }

    /// The kind for a number read from disk.
    pub fn from_code(code: u16) -> SectionKind {
        match code {
            1 => SectionKind::Snapshot,
            2 => SectionKind::Changes,
            3 => SectionKind::Audit,
            4 => SectionKind::Grants,
            5 => SectionKind::Records,
            6 => SectionKind::Settings,
            c => SectionKind::Other(c),
        }
    }
}

impl fmt::Display for SectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SectionKind::Snapshot => f.write_str("twin snapshot"),
            SectionKind::Changes => f.write_str("recent changes"),
            SectionKind::Audit => f.write_str("activity log"),
            SectionKind::Grants => f.write_str("shares"),
            SectionKind::Records => f.write_str("records"),
            SectionKind::Settings => f.write_str("settings"),
            SectionKind::Other(c) => write!(f, "unknown part ({c})"),
        }
    }
}

/// A salted vault fingerprint: `SHA-256(len-prefixed: label, salt, vault id, signer key)`.
///
/// It never reveals the vault id, yet the vault (which knows its id, its key and the
/// salt in the header) can recompute it, and the citizen can read it out from Settings
/// for support staff to compare with [`HeaderFacts::fingerprint`]. It also binds the
/// header's signing key to the vault.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    const LABEL: &'static [u8] = b"citizen-twin/backup-fingerprint/v1";

    /// Computes the fingerprint of `vault_id` and the vault's backup signing key.
    pub fn compute(
        salt: &[u8; 16],
        vault_id: &[u8],
        signer: &ed25519_dalek::VerifyingKey,
    ) -> Fingerprint {
        Fingerprint(twin_crypto::sha256_parts(&[
            Self::LABEL,
            salt,
            vault_id,
            signer.as_bytes(),
        ]))
    }

    /// Wraps 32 bytes read from a header.
    pub fn from_bytes(bytes: [u8; 32]) -> Fingerprint {
        Fingerprint(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 16 hex digits in groups of four (`1a2b 3c4d 5e6f 7a8b`), for reading
    /// aloud; [`Display`](fmt::Display) gives all 64.
    pub fn short(&self) -> String {
        let h = hex::encode(&self.0[..8]);
        h.as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).expect("hex is ASCII"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_kinds_round_trip() {
        for c in 0..20u16 {
            assert_eq!(SectionKind::from_code(c).code(), c);
        }
    }

    #[test]
    fn fingerprint_depends_on_salt_id_and_key() {
        let k1 = ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key();
        let k2 = ed25519_dalek::SigningKey::from_bytes(&[2; 32]).verifying_key();
        let a = Fingerprint::compute(&[0; 16], b"v", &k1);
        assert_eq!(a, Fingerprint::compute(&[0; 16], b"v", &k1));
        assert_ne!(a, Fingerprint::compute(&[1; 16], b"v", &k1));
        assert_ne!(a, Fingerprint::compute(&[0; 16], b"w", &k1));
        assert_ne!(a, Fingerprint::compute(&[0; 16], b"v", &k2));
        assert_eq!(a.to_string().len(), 64);
        assert_eq!(a.short().len(), 19);
    }
}
