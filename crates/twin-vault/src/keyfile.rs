//! `vault.keys`: the only plain file that matters. It names the current database file,
//! holds the Argon2id parameters and salts, the data key wrapped twice (passphrase and
//! recovery code) and the audit anchor. A SHA-256 checksum over the rest tells accidental
//! damage ("the key file is damaged") apart from a wrong passphrase.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use twin_crypto::{DataKey, KdfParams, Kek, WrappedKey, sha256_parts};

use crate::VaultError;

/// The key file's format tag: [`FORMAT_PREFIX`] then [`FORMAT_VERSION`].
pub(crate) const FORMAT: &str = "citizen-twin-keys/1";
const FORMAT_PREFIX: &str = "citizen-twin-keys/";
const FORMAT_VERSION: u32 = 1;
/// Largest key file accepted: a hostile file must not exhaust memory.
const MAX_LEN: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Slot {
    #[serde(with = "hex")]
    pub salt: [u8; 16],
    pub wrap: WrappedKey,
}

/// The audit chain's length and head when the vault was last locked, MACed under a
/// subkey of the data key, so a log cut short at rest is detected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Anchor {
    pub length: u64,
    #[serde(with = "hex")]
    pub head: [u8; 32],
    #[serde(with = "hex")]
    pub mac: [u8; 32],
}

impl Anchor {
    const LABEL: &'static str = "audit-anchor/v1";

    pub fn new(key: &DataKey, length: u64, head: [u8; 32]) -> Anchor {
        let mac = key.mac(Self::LABEL, &Self::message(length, &head));
        Anchor { length, head, mac }
    }

    pub fn verify(&self, key: &DataKey) -> bool {
        key.verify_mac(
            Self::LABEL,
            &Self::message(self.length, &self.head),
            &self.mac,
        )
    }

    fn message(length: u64, head: &[u8; 32]) -> Vec<u8> {
        let mut m = length.to_be_bytes().to_vec();
        m.extend_from_slice(head);
        m
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyFile {
    pub format: String,
    /// The current database file's name, inside the vault folder.
    pub database: String,
    /// Bumped by every erasure, which writes a new database under a new data key.
    pub generation: u64,
    pub kdf: KdfParams,
    pub passphrase: Slot,
    pub recovery: Slot,
    pub anchor: Anchor,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    #[serde(flatten)]
    body: KeyFile,
    #[serde(with = "hex")]
    checksum: [u8; 32],
}

impl KeyFile {
    pub const NAME: &'static str = "vault.keys";

    fn checksum(&self) -> [u8; 32] {
        let body = serde_json::to_vec(self).expect("a key file serialises");
        sha256_parts(&[b"citizen-twin/keys-checksum/v1", &body])
    }

    /// Additional data binding a wrap to its slot, database and KDF settings.
    pub fn context(&self, slot: &str) -> Vec<u8> {
        format!(
            "{FORMAT}|slot={slot}|database={}|kdf={},{},{}",
            self.database, self.kdf.memory_kib, self.kdf.iterations, self.kdf.parallelism
        )
        .into_bytes()
    }

    /// Seals `key` into both slots under the given key-encryption keys and fresh nonces.
    pub fn seal(&mut self, key: &DataKey, pass: (&Kek, [u8; 16]), recovery: (&Kek, [u8; 16])) {
        self.passphrase = Slot {
            salt: pass.1,
            wrap: WrappedKey::seal(pass.0, key, &self.context("passphrase")),
        };
        self.recovery = Slot {
            salt: recovery.1,
            wrap: WrappedKey::seal(recovery.0, key, &self.context("recovery")),
        };
    }

    pub fn read(dir: &Path) -> Result<KeyFile, VaultError> {
        let path = dir.join(Self::NAME);
        let damaged = |detail: &str| VaultError::KeyFileDamaged {
            path: path.clone(),
            detail: detail.to_owned(),
        };
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(VaultError::NoVault(dir.to_owned()));
            }
            Err(e) => return Err(VaultError::io(&path, e)),
        };
        if meta.len() > MAX_LEN {
            return Err(damaged("it is far larger than a key file can be"));
        }
        let bytes = fs::read(&path).map_err(|e| VaultError::io(&path, e))?;
        let disk: OnDisk =
            serde_json::from_slice(&bytes).map_err(|_| damaged("it is not a readable key file"))?;
        if disk.body.format != FORMAT {
            // Only a well-formed tag of a later version means a newer program wrote this
            // file; any other tag is damage, and "please update" would not help.
            let later = disk
                .body
                .format
                .strip_prefix(FORMAT_PREFIX)
                .and_then(|v| v.parse::<u32>().ok())
                .is_some_and(|v| v > FORMAT_VERSION);
            if !later {
                return Err(damaged("its format tag is not one Citizen Twin writes"));
            }
            return Err(VaultError::Newer {
                path: path.clone(),
                found: disk.body.format.chars().take(40).collect(),
            });
        }
        if disk.body.checksum() != disk.checksum {
            return Err(damaged("its checksum does not match"));
        }
        if !disk.body.database.starts_with("twin-") || disk.body.database.contains('/') {
            return Err(damaged("it names an unexpected database file"));
        }
        Ok(disk.body)
    }

    /// Writes the key file atomically: a temporary file, fsync, rename, fsync the folder.
    pub fn write(&self, dir: &Path) -> Result<(), VaultError> {
        let path = dir.join(Self::NAME);
        let tmp = dir.join(format!("{}.tmp", Self::NAME));
        let disk = OnDisk {
            body: self.clone(),
            checksum: self.checksum(),
        };
        let mut text = serde_json::to_vec_pretty(&disk).expect("a key file serialises");
        text.push(b'\n');
        let _ = fs::remove_file(&tmp);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| VaultError::io(&tmp, e))?;
        f.write_all(&text).and_then(|_| f.sync_all()).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            VaultError::io(&tmp, e)
        })?;
        fs::rename(&tmp, &path).map_err(|e| VaultError::io(&path, e))?;
        sync_dir(dir)
    }

    pub fn database_path(&self, dir: &Path) -> PathBuf {
        dir.join(&self.database)
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), VaultError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| VaultError::io(dir, e))
}

/// Overwrites a file's bytes with zeros, syncs, then removes it. On SSDs and journaling
/// file systems the old blocks may survive; what they held is useless once the keys are.
pub(crate) fn shred(path: &Path) -> io::Result<bool> {
    let len = match fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if let Ok(mut f) = fs::OpenOptions::new().write(true).open(path) {
        let zeros = vec![0u8; 64 * 1024];
        let mut left = len;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            f.write_all(&zeros[..n])?;
            left -= n as u64;
        }
        f.sync_all()?;
    }
    fs::remove_file(path)?;
    Ok(true)
}
