//! Making a backup: [`BackupWriter`] over any `Write`, and [`write_atomic`] to a file.

use std::fmt;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use twin_crypto::{
    DataKey, KdfError, KdfParams, Kek, Passphrase, RecoveryCode, WrappedKey, derive_kek,
    random_array,
};

use crate::format::{
    self, ChunkEntry, Header, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, PREFIX_LEN, SectionEntry,
    SectionHeader, Slot, Stream, Trailer,
};
use crate::{Fingerprint, SectionKind};

/// The recovery-code key slot: a salt and the key-encryption key the recovery code gives
/// under that salt.
pub struct RecoverySlot {
    kek: Kek,
    salt: [u8; 16],
}

impl RecoverySlot {
    /// From the code itself, under a fresh random salt.
    pub fn from_code(code: &RecoveryCode) -> RecoverySlot {
        let salt = random_array();
        RecoverySlot {
            kek: code.to_kek(&salt),
            salt,
        }
    }

    /// From a key-encryption key the vault already holds for `salt` (the vault keeps its
    /// recovery KEK in its store, so a backup needs no typed code).
    pub fn from_kek(kek: Kek, salt: [u8; 16]) -> RecoverySlot {
        RecoverySlot { kek, salt }
    }
}

impl fmt::Debug for RecoverySlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoverySlot").finish_non_exhaustive()
    }
}

/// What a new backup's header holds, and how to seal it.
#[derive(Debug)]
pub struct BackupParams<'a> {
    /// The vault's id: only its salted fingerprint is written.
    pub vault_id: &'a [u8],
    /// Salt of the fingerprint. A vault that keeps one salt shows one stable fingerprint
    /// in Settings; a fresh salt per backup makes backups unlinkable to each other.
    pub fingerprint_salt: [u8; 16],
    /// The public half of the key that will sign the trailer in [`BackupWriter::finish`].
    pub signer: VerifyingKey,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Argon2id settings for the passphrase slot; must pass [`KdfParams::check`].
    pub kdf: KdfParams,
    /// The passphrase that will open the backup (a fresh salt is drawn for it).
    pub passphrase: &'a Passphrase,
    /// The recovery-code slot.
    pub recovery: RecoverySlot,
    /// Plaintext bytes per chunk, 64 B–1 MiB; use [`crate::DEFAULT_CHUNK_SIZE`].
    pub chunk_size: u32,
}

/// Progress of [`BackupWriter::add_section_with_progress`], reported after each chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// 0-based section number.
    pub section: u32,
    /// The section's kind.
    pub kind: SectionKind,
    /// Plaintext bytes of this section written so far.
    pub done: u64,
    /// The section's plaintext length.
    pub total: u64,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// File size in bytes.
    pub size: u64,
    /// Number of sections.
    pub sections: u32,
    /// Number of chunks.
    pub chunks: u32,
    /// The header's fingerprint.
    pub fingerprint: Fingerprint,
}

/// Why a backup could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The Argon2id settings are outside the accepted bounds.
    #[error(
        "the backup's unlock settings are outside safe limits ({} KiB memory, {} passes, {} lanes)",
        .0.memory_kib, .0.iterations, .0.parallelism
    )]
    KdfOutOfBounds(KdfParams),
    /// The passphrase could not be turned into a key.
    #[error("the passphrase could not be turned into a key")]
    Kdf(#[source] KdfError),
    /// The chunk size is outside 64 B–1 MiB.
    #[error("chunk size {0} is outside 64 bytes to 1 MiB")]
    ChunkSize(u32),
    /// A section or the whole backup has more chunks than the format can count.
    #[error("this backup is too large for the backup format")]
    TooLarge,
    /// `finish` was given a key other than the one named in the header.
    #[error("the signing key is not the one the backup's header names")]
    SignerMismatch,
    /// An earlier write failed; the output is incomplete and must be discarded.
    #[error("an earlier write failed; this backup is incomplete")]
    Aborted,
    /// Writing failed (a full disk, a removed drive).
    #[error("could not write the backup{}: {source}", .path.as_ref().map(|p| format!(" to {}", p.display())).unwrap_or_default())]
    Io {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl WriteError {
    fn io(source: io::Error) -> WriteError {
        WriteError::Io { path: None, source }
    }
}

/// Where nonces, salts and the body key come from.
enum Rand {
    Os,
    #[cfg(feature = "test-vectors")]
    Seeded {
        seed: [u8; 32],
        counter: u64,
    },
}

impl Rand {
    fn array<const N: usize>(&mut self) -> [u8; N] {
        match self {
            Rand::Os => random_array(),
            #[cfg(feature = "test-vectors")]
            Rand::Seeded { seed, counter } => {
                let mut out = [0u8; N];
                for block in out.chunks_mut(32) {
                    *counter += 1;
                    let h = twin_crypto::sha256_parts(&[
                        b"citizen-twin/backup-test-vectors",
                        seed,
                        &counter.to_be_bytes(),
                    ]);
                    block.copy_from_slice(&h[..block.len()]);
                }
                out
            }
        }
    }

    fn wrap(&mut self, kek: &Kek, key: &DataKey, context: &[u8]) -> WrappedKey {
        match self {
            Rand::Os => WrappedKey::seal(kek, key, context),
            #[cfg(feature = "test-vectors")]
            Rand::Seeded { .. } => {
                // The same construction as `WrappedKey::seal`, with a seeded nonce.
                use chacha20poly1305::aead::{Aead, KeyInit, Payload};
                let nonce: [u8; 24] = self.array();
                let sealed = chacha20poly1305::XChaCha20Poly1305::new(
                    &chacha20poly1305::Key::from(*kek.expose()),
                )
                .encrypt(
                    &chacha20poly1305::XNonce::from(nonce),
                    Payload {
                        msg: key.expose(),
                        aad: context,
                    },
                )
                .expect("sealing 32 bytes cannot fail");
                WrappedKey { nonce, sealed }
            }
        }
    }
}

/// Writes a backup to `W` as it goes: the header at [`BackupWriter::new`], each section
/// at [`BackupWriter::add_section`], the signed trailer at [`BackupWriter::finish`].
///
/// After any error the output is incomplete; further calls return
/// [`WriteError::Aborted`]. [`write_atomic`] makes sure such output never carries the
/// final file name.
pub struct BackupWriter<W: Write> {
    out: W,
    pos: u64,
    header_len: u64,
    header_hash: [u8; 32],
    body_key: DataKey,
    chunk_size: u32,
    signer: VerifyingKey,
    fingerprint: Fingerprint,
    sections: Vec<SectionEntry>,
    chunks: Vec<ChunkEntry>,
    rand: Rand,
    failed: bool,
}

impl<W: Write> fmt::Debug for BackupWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupWriter")
            .field("pos", &self.pos)
            .field("sections", &self.sections.len())
            .field("chunks", &self.chunks.len())
            .finish_non_exhaustive()
    }
}

impl<W: Write> BackupWriter<W> {
    /// Draws a fresh body key, wraps it under the passphrase (Argon2id, about as slow as
    /// an unlock) and the recovery slot, and writes the header.
    pub fn new(out: W, params: BackupParams<'_>) -> Result<Self, WriteError> {
        Self::with_rand(out, params, Rand::Os)
    }

    /// Like [`BackupWriter::new`] but every random value comes from `seed`: only for
    /// reproducible test vectors. A real backup made this way would be insecure.
    #[cfg(feature = "test-vectors")]
    pub fn new_seeded(
        out: W,
        params: BackupParams<'_>,
        seed: [u8; 32],
    ) -> Result<Self, WriteError> {
        Self::with_rand(out, params, Rand::Seeded { seed, counter: 0 })
    }

    fn with_rand(mut out: W, params: BackupParams<'_>, mut rand: Rand) -> Result<Self, WriteError> {
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&params.chunk_size) {
            return Err(WriteError::ChunkSize(params.chunk_size));
        }
        let kdf = params
            .kdf
            .check()
            .map_err(|_| WriteError::KdfOutOfBounds(params.kdf))?;
        let body_key = DataKey::from_bytes(rand.array());
        let pass_salt: [u8; 16] = rand.array();
        let pass_kek = derive_kek(params.passphrase, &pass_salt, kdf).map_err(WriteError::Kdf)?;
        let fingerprint =
            Fingerprint::compute(&params.fingerprint_salt, params.vault_id, &params.signer);
        let placeholder = |salt| Slot {
            salt,
            wrap: WrappedKey {
                nonce: [0; 24],
                sealed: vec![0; 48],
            },
        };
        let mut header = Header {
            fingerprint_salt: params.fingerprint_salt,
            fingerprint,
            signer: params.signer.to_bytes(),
            created_at: params.created_at,
            kdf,
            chunk_size: params.chunk_size,
            passphrase: placeholder(pass_salt),
            recovery: placeholder(params.recovery.salt),
        };
        header.passphrase.wrap =
            rand.wrap(&pass_kek, &body_key, &header.wrap_context("passphrase"));
        header.recovery.wrap = rand.wrap(
            &params.recovery.kek,
            &body_key,
            &header.wrap_context("recovery"),
        );
        let bytes = header.encode();
        out.write_all(&bytes).map_err(WriteError::io)?;
        Ok(BackupWriter {
            out,
            pos: bytes.len() as u64,
            header_len: bytes.len() as u64,
            header_hash: format::header_hash(&bytes),
            body_key,
            chunk_size: params.chunk_size,
            signer: params.signer,
            fingerprint,
            sections: Vec::new(),
            chunks: Vec::new(),
            rand,
            failed: false,
        })
    }

    /// Encrypts `bytes` as the next section, in chunks of the header's chunk size.
    pub fn add_section(&mut self, kind: SectionKind, bytes: &[u8]) -> Result<(), WriteError> {
        self.add_section_with_progress(kind, bytes, |_| {})
    }

    /// Like [`BackupWriter::add_section`], calling `progress` after every chunk.
    pub fn add_section_with_progress(
        &mut self,
        kind: SectionKind,
        bytes: &[u8],
        mut progress: impl FnMut(Progress),
    ) -> Result<(), WriteError> {
        if self.failed {
            return Err(WriteError::Aborted);
        }
        let sh = SectionHeader {
            kind,
            plain_len: bytes.len() as u64,
            prefix: self.rand.array::<PREFIX_LEN>(),
        };
        let n = sh
            .chunk_count(self.chunk_size)
            .ok_or(WriteError::TooLarge)?;
        let index = u32::try_from(self.sections.len()).map_err(|_| WriteError::TooLarge)?;
        let first_chunk = u32::try_from(self.chunks.len()).map_err(|_| WriteError::TooLarge)?;
        first_chunk.checked_add(n).ok_or(WriteError::TooLarge)?;
        let stream = Stream::new(&self.body_key, &self.header_hash, index, &sh);
        let section_offset = self.pos;
        let mut pieces = bytes.chunks(self.chunk_size as usize);
        for i in 0..n {
            let plain = pieces.next().unwrap_or(&[]);
            let sealed = stream.seal(i, i + 1 == n, plain);
            let mut chunk = Vec::with_capacity(sealed.len() + format::SECTION_HEADER_LEN);
            if i == 0 {
                chunk.extend_from_slice(&sh.encode());
            }
            chunk.extend_from_slice(&sealed);
            if let Err(e) = self.out.write_all(&chunk) {
                self.failed = true;
                return Err(WriteError::io(e));
            }
            self.chunks.push(ChunkEntry {
                offset: self.pos,
                len: chunk.len() as u32,
                hash: format::sha2_256(&chunk),
            });
            self.pos += chunk.len() as u64;
            progress(Progress {
                section: index,
                kind,
                done: (u64::from(i) * u64::from(self.chunk_size) + plain.len() as u64),
                total: sh.plain_len,
            });
        }
        self.sections.push(SectionEntry {
            kind,
            plain_len: sh.plain_len,
            offset: section_offset,
            first_chunk,
            chunks: n,
        });
        Ok(())
    }

    /// Writes the trailer, signed with `signing_key` (which must match
    /// [`BackupParams::signer`]), and the footer; flushes and returns the writer.
    pub fn finish(mut self, signing_key: &SigningKey) -> Result<(BackupSummary, W), WriteError> {
        if self.failed {
            return Err(WriteError::Aborted);
        }
        if signing_key.verifying_key() != self.signer {
            return Err(WriteError::SignerMismatch);
        }
        let trailer = Trailer {
            header_hash: self.header_hash,
            sections: std::mem::take(&mut self.sections),
            chunks: std::mem::take(&mut self.chunks),
        };
        let mut bytes = trailer.encode_unsigned();
        let sig = signing_key.sign(&Trailer::signed_message(&bytes));
        bytes.extend_from_slice(&sig.to_bytes());
        debug_assert!(bytes.len() >= format::signature_len());
        bytes.extend_from_slice(&self.pos.to_be_bytes());
        bytes.extend_from_slice(&format::END_MAGIC);
        self.out
            .write_all(&bytes)
            .and_then(|_| self.out.flush())
            .map_err(WriteError::io)?;
        let summary = BackupSummary {
            size: self.pos + bytes.len() as u64,
            sections: trailer.sections.len() as u32,
            chunks: trailer.chunks.len() as u32,
            fingerprint: self.fingerprint,
        };
        debug_assert!(self.header_len > 0);
        Ok((summary, self.out))
    }
}

/// Writes a whole backup to `path` atomically: into a temporary file in the same folder
/// (mode 0600), fsync, rename onto `path`, fsync the folder. A full disk, a crash or a
/// kill never leaves a half-written file under `path`; on error the temporary file is
/// removed. An existing file at `path` is replaced only by a complete backup.
pub fn write_atomic(
    path: &Path,
    params: BackupParams<'_>,
    sections: &[(SectionKind, &[u8])],
    signing_key: &SigningKey,
    progress: impl FnMut(Progress),
) -> Result<BackupSummary, WriteError> {
    write_atomic_via(
        path,
        params,
        sections,
        signing_key,
        progress,
        |f| BufWriter::with_capacity(256 * 1024, f),
        |w| w.into_inner().map_err(|e| e.into_error())?.sync_all(),
    )
}

/// [`write_atomic`] with the file wrapped by `wrap` and synced by `sync`: tests pass a
/// writer that fails after N bytes, as a full disk does.
pub(crate) fn write_atomic_via<W: Write>(
    path: &Path,
    params: BackupParams<'_>,
    sections: &[(SectionKind, &[u8])],
    signing_key: &SigningKey,
    mut progress: impl FnMut(Progress),
    wrap: impl FnOnce(fs::File) -> W,
    sync: impl FnOnce(W) -> io::Result<()>,
) -> Result<BackupSummary, WriteError> {
    let with_path = |p: &Path, source| WriteError::Io {
        path: Some(p.to_owned()),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| with_path(path, io::Error::other("not a file name")))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        hex::encode(random_array::<6>())
    ));
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| with_path(&tmp, e))?;
    let result = (|| {
        let mut w = BackupWriter::new(wrap(file), params)?;
        for (kind, bytes) in sections {
            w.add_section_with_progress(*kind, bytes, &mut progress)?;
        }
        let (summary, out) = w.finish(signing_key)?;
        sync(out).map_err(|e| with_path(&tmp, e))?;
        Ok(summary)
    })();
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(match e {
                WriteError::Io { path: None, source } => with_path(&tmp, source),
                other => other,
            });
        }
    };
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(with_path(path, e));
    }
    fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| with_path(&dir, e))?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that accepts `left` bytes, then fails as a full disk does.
    struct FullDisk {
        inner: fs::File,
        left: usize,
    }

    impl Write for FullDisk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.left == 0 {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            let n = buf.len().min(self.left);
            self.left -= n;
            self.inner.write(&buf[..n])
        }
        fn flush(&mut self) -> io::Result<()> {
            self.inner.flush()
        }
    }

    fn params<'a>(pass: &'a Passphrase, key: &SigningKey) -> BackupParams<'a> {
        BackupParams {
            vault_id: b"vault",
            fingerprint_salt: [3; 16],
            signer: key.verifying_key(),
            created_at: 1_795_000_000,
            kdf: KdfParams {
                memory_kib: KdfParams::MIN_MEMORY_KIB,
                iterations: 1,
                parallelism: 1,
            },
            passphrase: pass,
            recovery: RecoverySlot::from_code(&RecoveryCode::generate()),
            chunk_size: 64,
        }
    }

    #[test]
    fn a_full_disk_never_leaves_a_file_under_the_final_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("my.twinbackup");
        let key = SigningKey::from_bytes(&[5; 32]);
        let pass = Passphrase::new("pw".into());
        let data = vec![7u8; 1000];
        let sections = [(SectionKind::Snapshot, &data[..])];
        // Fails in the header, in the body and in the trailer.
        for limit in [10, 400, 1000, 1400] {
            let err = write_atomic_via(
                &path,
                params(&pass, &key),
                &sections,
                &key,
                |_| {},
                |f| FullDisk {
                    inner: f,
                    left: limit,
                },
                |w| w.inner.sync_all(),
            )
            .unwrap_err();
            assert!(
                matches!(&err, WriteError::Io { path: Some(_), source } if source.kind() == io::ErrorKind::StorageFull),
                "{err:?}"
            );
            assert_eq!(
                fs::read_dir(dir.path()).unwrap().count(),
                0,
                "limit {limit}"
            );
        }
        // An existing good backup survives a failed overwrite.
        let good = write_atomic(&path, params(&pass, &key), &sections, &key, |_| {}).unwrap();
        let before = fs::read(&path).unwrap();
        assert_eq!(before.len() as u64, good.size);
        let _ = write_atomic_via(
            &path,
            params(&pass, &key),
            &sections,
            &key,
            |_| {},
            |f| FullDisk {
                inner: f,
                left: 500,
            },
            |w| w.inner.sync_all(),
        )
        .unwrap_err();
        assert_eq!(fs::read(&path).unwrap(), before);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(crate::verify(&before[..]).is_ok());
    }

    #[test]
    fn finish_refuses_another_key_and_bad_settings_are_refused() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let pass = Passphrase::new("pw".into());
        let w = BackupWriter::new(Vec::new(), params(&pass, &key)).unwrap();
        let other = SigningKey::from_bytes(&[6; 32]);
        assert!(matches!(w.finish(&other), Err(WriteError::SignerMismatch)));
        let mut p = params(&pass, &key);
        p.kdf.memory_kib = u32::MAX;
        assert!(matches!(
            BackupWriter::new(Vec::new(), p),
            Err(WriteError::KdfOutOfBounds(_))
        ));
        let mut p = params(&pass, &key);
        p.chunk_size = 1;
        assert!(matches!(
            BackupWriter::new(Vec::new(), p),
            Err(WriteError::ChunkSize(1))
        ));
    }

    #[test]
    fn progress_reaches_the_total() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let pass = Passphrase::new("pw".into());
        let mut w = BackupWriter::new(Vec::new(), params(&pass, &key)).unwrap();
        let mut seen = Vec::new();
        w.add_section_with_progress(SectionKind::Audit, &[1; 150], |p| seen.push(p.done))
            .unwrap();
        assert_eq!(seen, vec![64, 128, 150]);
    }

    #[test]
    fn secrets_are_redacted() {
        let slot = RecoverySlot::from_kek(Kek::from_bytes([0xAB; 32]), [0; 16]);
        assert!(!format!("{slot:?}").contains("171"));
    }
}
