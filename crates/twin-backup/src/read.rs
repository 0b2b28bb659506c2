//! Reading a backup: [`inspect`] and [`verify`] need no secret; [`open`] needs the
//! passphrase or the recovery code.

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom};

use ed25519_dalek::{Signature, VerifyingKey};
use twin_crypto::{KdfError, KdfParams, Kek, Passphrase, RecoveryCode, derive_kek};
use zeroize::Zeroizing;

use crate::format::{
    self, END_MAGIC, FOOTER_LEN, Header, HeaderProblem, MAX_HEADER_LEN, SECTION_HEADER_LEN,
    SECTION_TAG, SectionHeader, Stream, TRAILER_TAG, Trailer,
};
use crate::{Fingerprint, SectionKind};

/// What the header says, readable without any secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderFacts {
    /// The file's format version.
    pub format_version: u16,
    /// The salted vault fingerprint (compare with the one in the vault's Settings).
    pub fingerprint: Fingerprint,
    /// The fingerprint's salt.
    pub fingerprint_salt: [u8; 16],
    /// The Ed25519 key that signed the trailer.
    pub signer: [u8; 32],
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// File size in bytes.
    pub size: u64,
    /// Argon2id settings of the passphrase slot (within bounds: checked).
    pub kdf: KdfParams,
    /// Plaintext bytes per chunk.
    pub chunk_size: u32,
    /// Number of sections as the trailer lists it; `None` if the trailer is missing.
    /// Not signature-checked here: [`verify`] does that.
    pub section_count: Option<u32>,
}

/// Why [`inspect`] could not read a backup's header.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// Not a Citizen Twin backup at all.
    #[error("this file is not a Citizen Twin backup")]
    NotABackup,
    /// Written by a later version of the format.
    #[error(
        "this backup was made by a newer Citizen Twin (format {found}): update the app to read it"
    )]
    NewerVersion {
        /// The version found.
        found: u16,
    },
    /// The file ends inside the header.
    #[error("the backup ends early, at byte {at}, before its header is complete")]
    Truncated {
        /// File length.
        at: u64,
    },
    /// The header fails its checksum.
    #[error("the backup's header has been changed or damaged")]
    HeaderTampered,
    /// The header asks for Argon2id settings outside the accepted bounds.
    #[error(
        "the backup asks for unlock settings outside safe limits ({} KiB memory, {} passes, {} lanes)",
        .0.memory_kib, .0.iterations, .0.parallelism
    )]
    KdfOutOfBounds(KdfParams),
    /// Reading failed.
    #[error("could not read the backup: {0}")]
    Io(#[source] io::Error),
}

/// One section as the signed trailer lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionFacts {
    /// What the section holds.
    pub kind: SectionKind,
    /// Plaintext length in bytes.
    pub plain_len: u64,
    /// Byte offset of the section in the file.
    pub offset: u64,
    /// Index of its first chunk (0-based, over the whole file).
    pub first_chunk: u32,
    /// Number of its chunks.
    pub chunks: u32,
}

/// A backup that [`verify`] found whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The header's facts.
    pub header: HeaderFacts,
    /// The sections, in order.
    pub sections: Vec<SectionFacts>,
    /// Number of chunks checked.
    pub chunk_count: u32,
}

/// The first damaged chunk: where it is and what it belonged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damage {
    /// Chunk index (0-based, over the whole file).
    pub chunk: u32,
    /// Section index (0-based).
    pub section: u32,
    /// The section's kind.
    pub kind: SectionKind,
    /// Byte offset of the chunk in the file.
    pub offset: u64,
    /// How many chunks in all are damaged.
    pub damaged_chunks: u32,
}

/// Why [`verify`] found a backup not whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a Citizen Twin backup at all.
    #[error("this file is not a Citizen Twin backup")]
    NotABackup,
    /// Written by a later version of the format.
    #[error(
        "this backup was made by a newer Citizen Twin (format {found}): update the app to check it"
    )]
    NewerVersion {
        /// The version found.
        found: u16,
    },
    /// The header asks for Argon2id settings outside the accepted bounds.
    #[error(
        "the backup asks for unlock settings outside safe limits ({} KiB memory, {} passes, {} lanes)",
        .0.memory_kib, .0.iterations, .0.parallelism
    )]
    KdfOutOfBounds(KdfParams),
    /// The header fails its checksum or differs from the header the trailer signed.
    #[error("the backup's header has been changed or damaged")]
    HeaderTampered,
    /// The file ends early.
    #[error("the backup ends early, at byte {at}{}", match (first_missing_chunk, section) {
        (Some(c), Some((s, k))) => format!(": part {} ({k}) is cut off from chunk {c} on", s + 1),
        (Some(c), None) => format!(": everything from chunk {c} on is missing"),
        (None, _) => ": its signed list of contents is missing".to_owned(),
    })]
    Truncated {
        /// File length.
        at: u64,
        /// The first chunk missing or cut; `None` if only the trailer is missing.
        first_missing_chunk: Option<u32>,
        /// The section cut in the middle (index, kind), if any.
        section: Option<(u32, SectionKind)>,
    },
    /// The signed list of contents is damaged, or its signature does not match the key
    /// in the header.
    #[error("the backup's signed list of contents is damaged or its signature does not match")]
    SignatureBad,
    /// A chunk does not match its listed hash.
    #[error("the backup is damaged: chunk {} (part {}, {}) at byte {} does not match{}", .0.chunk, .0.section + 1, .0.kind, .0.offset,
        if .0.damaged_chunks > 1 { format!(", and {} more chunks are damaged", .0.damaged_chunks - 1) } else { String::new() })]
    ChunkDamaged(Damage),
    /// The body cannot be followed at this byte and there is no trailer to say more.
    #[error("the backup is damaged at byte {at} and its list of contents is missing")]
    Damaged {
        /// Offset of the unreadable bytes.
        at: u64,
    },
    /// Reading failed.
    #[error("could not read the backup: {0}")]
    Io(#[source] io::Error),
}

/// How to unlock a backup.
#[derive(Debug, Clone, Copy)]
pub enum Unlock<'a> {
    /// The backup's passphrase (Argon2id with the header's bounded settings).
    Passphrase(&'a Passphrase),
    /// The vault's recovery code.
    RecoveryCode(&'a RecoveryCode),
}

/// Where a section broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionDamage {
    /// The first chunk (0-based, over the whole file) that failed.
    pub chunk: u32,
    /// Its byte offset in the file.
    pub offset: u64,
    /// The chunk is cut off by the end of the file, rather than altered.
    pub truncated: bool,
}

/// Something [`open`] could not restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Loss {
    /// A section whose bytes did not all decrypt: nothing of it is returned.
    Section {
        /// Section index (0-based).
        index: u32,
        /// Its kind.
        kind: SectionKind,
        /// Where it broke.
        damage: SectionDamage,
    },
    /// Nothing after this byte could be read: any sections from `from_section` on are
    /// lost. `listed_sections` is how many the backup holds, when its trailer says.
    Rest {
        /// Offset where reading stopped.
        from_byte: u64,
        /// Index of the first section not found.
        from_section: u32,
        /// Total sections, if known from an intact trailer.
        listed_sections: Option<u32>,
    },
}

/// Whether the signed trailer was there to confirm nothing is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrailerStatus {
    /// Present, signed by the header's key, and matching the header.
    Intact,
    /// Present but damaged, or its signature does not match.
    Damaged,
    /// Missing (the file ends early).
    Missing,
}

/// One section's plaintext, or where it broke.
pub type SectionResult = Result<Zeroizing<Vec<u8>>, SectionDamage>;

/// The sections recovered from a backup.
pub struct OpenedBackup {
    /// Every section found, in order, each with its bytes or where it broke.
    pub sections: Vec<(SectionKind, SectionResult)>,
    /// Everything that could not be restored. Empty only if all sections opened.
    pub lost: Vec<Loss>,
    /// Whether the signed trailer confirmed the list of sections.
    pub trailer: TrailerStatus,
    /// The header's facts.
    pub header: HeaderFacts,
    /// When opened with the passphrase: the key Argon2id derived from it, with the salt
    /// and settings used, so a restore can protect the new vault with the same key
    /// instead of running Argon2id a second time. `None` with the recovery code.
    pub passphrase_key: Option<PassphraseKey>,
}

/// The passphrase-derived key a backup was opened with (zeroized on drop; never shown).
pub struct PassphraseKey {
    /// The key-encryption key.
    pub kek: Kek,
    /// The Argon2id salt it was derived with.
    pub salt: [u8; 16],
    /// The Argon2id settings it was derived with (checked when the header was read).
    pub kdf: KdfParams,
}

impl fmt::Debug for PassphraseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PassphraseKey(..)")
    }
}

impl OpenedBackup {
    /// Every section restored and the signed trailer confirms there were no others.
    pub fn is_complete(&self) -> bool {
        self.lost.is_empty() && self.trailer == TrailerStatus::Intact
    }
}

impl fmt::Debug for OpenedBackup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<_> = self
            .sections
            .iter()
            .map(|(k, r)| (k, r.as_ref().map(|b| b.len())))
            .collect();
        f.debug_struct("OpenedBackup")
            .field("sections", &shown)
            .field("lost", &self.lost)
            .field("trailer", &self.trailer)
            .finish_non_exhaustive()
    }
}

/// Why [`open`] could not open a backup at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Not a Citizen Twin backup at all.
    #[error("this file is not a Citizen Twin backup")]
    NotABackup,
    /// Written by a later version of the format.
    #[error(
        "this backup was made by a newer Citizen Twin (format {found}): update the app to restore it"
    )]
    NewerVersion {
        /// The version found.
        found: u16,
    },
    /// The file ends inside the header.
    #[error("the backup ends early, at byte {at}, before its header is complete")]
    Truncated {
        /// File length.
        at: u64,
    },
    /// The header fails its checksum.
    #[error("the backup's header has been changed or damaged")]
    HeaderTampered,
    /// The header asks for Argon2id settings outside the accepted bounds.
    #[error(
        "the backup asks for unlock settings outside safe limits ({} KiB memory, {} passes, {} lanes)",
        .0.memory_kib, .0.iterations, .0.parallelism
    )]
    KdfOutOfBounds(KdfParams),
    /// The passphrase does not open this backup (the header is intact).
    #[error(
        "that passphrase does not open this backup: check it and try again, or use your recovery code"
    )]
    WrongPassphrase,
    /// The recovery code does not open this backup (the header is intact).
    #[error("that recovery code does not open this backup: it may belong to another vault")]
    WrongRecoveryCode,
    /// The passphrase could not be turned into a key.
    #[error("the passphrase could not be turned into a key")]
    Kdf(#[source] KdfError),
    /// Reading failed.
    #[error("could not read the backup: {0}")]
    Io(#[source] io::Error),
}

impl From<HeaderProblem> for InspectError {
    fn from(p: HeaderProblem) -> Self {
        match p {
            HeaderProblem::NotABackup => InspectError::NotABackup,
            HeaderProblem::Truncated { at } => InspectError::Truncated { at },
            HeaderProblem::Tampered => InspectError::HeaderTampered,
            HeaderProblem::Newer { found } => InspectError::NewerVersion { found },
            HeaderProblem::Kdf(k) => InspectError::KdfOutOfBounds(k),
        }
    }
}

impl From<HeaderProblem> for VerifyError {
    fn from(p: HeaderProblem) -> Self {
        match p {
            HeaderProblem::NotABackup => VerifyError::NotABackup,
            HeaderProblem::Truncated { at } => VerifyError::Truncated {
                at,
                first_missing_chunk: Some(0),
                section: None,
            },
            HeaderProblem::Tampered => VerifyError::HeaderTampered,
            HeaderProblem::Newer { found } => VerifyError::NewerVersion { found },
            HeaderProblem::Kdf(k) => VerifyError::KdfOutOfBounds(k),
        }
    }
}

impl From<HeaderProblem> for OpenError {
    fn from(p: HeaderProblem) -> Self {
        match p {
            HeaderProblem::NotABackup => OpenError::NotABackup,
            HeaderProblem::Truncated { at } => OpenError::Truncated { at },
            HeaderProblem::Tampered => OpenError::HeaderTampered,
            HeaderProblem::Newer { found } => OpenError::NewerVersion { found },
            HeaderProblem::Kdf(k) => OpenError::KdfOutOfBounds(k),
        }
    }
}

fn facts(h: &Header, size: u64, section_count: Option<u32>) -> HeaderFacts {
    HeaderFacts {
        format_version: format::VERSION,
        fingerprint: h.fingerprint,
        fingerprint_salt: h.fingerprint_salt,
        signer: h.signer,
        created_at: h.created_at,
        size,
        kdf: h.kdf,
        chunk_size: h.chunk_size,
        section_count,
    }
}

/// Reads the header (and the trailer's section count) without any secret and without
/// reading the body: what support staff see first.
pub fn inspect<R: Read + Seek>(mut r: R) -> Result<HeaderFacts, InspectError> {
    r.seek(SeekFrom::Start(0)).map_err(InspectError::Io)?;
    let mut head = Vec::new();
    (&mut r)
        .take(MAX_HEADER_LEN as u64)
        .read_to_end(&mut head)
        .map_err(InspectError::Io)?;
    let (header, header_len) = Header::decode(&head)?;
    let size = r.seek(SeekFrom::End(0)).map_err(InspectError::Io)?;
    let mut section_count = None;
    if size >= (header_len + FOOTER_LEN) as u64 {
        let mut footer = [0u8; FOOTER_LEN];
        r.seek(SeekFrom::Start(size - FOOTER_LEN as u64))
            .and_then(|_| r.read_exact(&mut footer))
            .map_err(InspectError::Io)?;
        let at = u64::from_be_bytes(footer[..8].try_into().expect("8 bytes"));
        let mut count = [0u8; 4 + 32 + 4];
        // The trailer's start must leave room for its tag, hash and count before the footer;
        // a footer that points elsewhere is damage, shown as "parts unknown", never an error.
        let room = (size - FOOTER_LEN as u64).saturating_sub(count.len() as u64);
        if footer[8..] == END_MAGIC && (header_len as u64..=room).contains(&at) {
            r.seek(SeekFrom::Start(at))
                .and_then(|_| r.read_exact(&mut count))
                .map_err(InspectError::Io)?;
            if count[..4] == TRAILER_TAG {
                section_count = Some(u32::from_be_bytes(count[36..].try_into().expect("4")));
            }
        }
    }
    Ok(facts(&header, size, section_count))
}

/// The trailer located through the footer.
enum Found<'a> {
    Trailer {
        at: u64,
        trailer: Trailer,
        unsigned: &'a [u8],
        sig: [u8; 64],
    },
    /// The footer is there but what it points to is not a trailer.
    Broken,
    /// No footer: the file ends early or its end is damaged.
    Missing,
}

fn find_trailer(file: &[u8], header_len: usize) -> Found<'_> {
    let Some(footer_at) = file.len().checked_sub(FOOTER_LEN) else {
        return Found::Missing;
    };
    if footer_at < header_len || file[footer_at + 8..] != END_MAGIC {
        return Found::Missing;
    }
    let at = u64::from_be_bytes(file[footer_at..footer_at + 8].try_into().expect("8"));
    let Some(start) = usize::try_from(at)
        .ok()
        .filter(|s| (header_len..footer_at).contains(s))
    else {
        return Found::Broken;
    };
    match Trailer::decode(&file[start..footer_at]) {
        Some((trailer, unsigned, sig)) => Found::Trailer {
            at,
            trailer,
            unsigned,
            sig,
        },
        None => Found::Broken,
    }
}

fn signature_ok(signer: &[u8; 32], unsigned: &[u8], sig: &[u8; 64]) -> bool {
    VerifyingKey::from_bytes(signer).is_ok_and(|k| {
        k.verify_strict(
            &Trailer::signed_message(unsigned),
            &Signature::from_bytes(sig),
        )
        .is_ok()
    })
}

/// A section found by following the body from the header on.
struct Walked {
    offset: u64,
    first_chunk: u32,
}

/// How following the body ended.
enum WalkEnd {
    /// At a `TRLR` tag at this offset.
    Trailer,
    /// The file ends inside or before a chunk.
    Truncated {
        first_missing_chunk: u32,
        section: Option<(u32, SectionKind)>,
    },
    /// Bytes that are neither a section nor a trailer.
    Garbage { at: u64 },
}

/// Follows the body section by section using only the plain section headers: for a
/// file without a usable trailer.
fn walk(file: &[u8], header_len: usize, chunk_size: u32) -> (Vec<Walked>, WalkEnd) {
    let mut pos = header_len;
    let mut chunk = 0u32;
    let mut out = Vec::new();
    loop {
        let rest = &file[pos..];
        if rest.len() < 4 {
            if SECTION_TAG.starts_with(rest) || TRAILER_TAG.starts_with(rest) {
                let end = WalkEnd::Truncated {
                    first_missing_chunk: chunk,
                    section: None,
                };
                return (out, end);
            }
            return (out, WalkEnd::Garbage { at: pos as u64 });
        }
        if rest[..4] == TRAILER_TAG {
            return (out, WalkEnd::Trailer);
        }
        if rest[..4] != SECTION_TAG {
            return (out, WalkEnd::Garbage { at: pos as u64 });
        }
        let index = out.len() as u32;
        let Some(sh) = SectionHeader::decode(rest) else {
            let kind = (rest.len() >= 6)
                .then(|| SectionKind::from_code(u16::from_be_bytes([rest[4], rest[5]])));
            let end = WalkEnd::Truncated {
                first_missing_chunk: chunk,
                section: kind.map(|k| (index, k)),
            };
            return (out, end);
        };
        let Some(n) = sh.chunk_count(chunk_size) else {
            return (out, WalkEnd::Garbage { at: pos as u64 });
        };
        let offset = pos as u64;
        let first_chunk = chunk;
        let mut p = pos + SECTION_HEADER_LEN;
        for i in 0..n {
            let len = sh.chunk_len(chunk_size, i);
            if file.len() - p < len {
                out.push(Walked {
                    offset,
                    first_chunk,
                });
                let end = WalkEnd::Truncated {
                    first_missing_chunk: chunk,
                    section: Some((index, sh.kind)),
                };
                return (out, end);
            }
            p += len;
            chunk = chunk.saturating_add(1);
        }
        out.push(Walked {
            offset,
            first_chunk,
        });
        pos = p;
    }
}

/// Checks a backup without any secret: format version, header checksum, the trailer's
/// signature by the key in the header, that the trailer matches the header, and every
/// chunk against its listed SHA-256. Names the first damaged chunk, its section and its
/// byte offset.
///
/// Proves integrity, not provenance: compare [`HeaderFacts::fingerprint`] with the one
/// the citizen reads out from Settings for that.
pub fn verify(mut r: impl Read) -> Result<VerifyReport, VerifyError> {
    let mut file = Vec::new();
    r.read_to_end(&mut file).map_err(VerifyError::Io)?;
    verify_bytes(&file)
}

fn verify_bytes(file: &[u8]) -> Result<VerifyReport, VerifyError> {
    let (header, header_len) = Header::decode(file)?;
    let size = file.len() as u64;
    let (at, trailer, unsigned, sig) = match find_trailer(file, header_len) {
        Found::Trailer {
            at,
            trailer,
            unsigned,
            sig,
        } => (at, trailer, unsigned, sig),
        Found::Broken => return Err(VerifyError::SignatureBad),
        Found::Missing => {
            let (_, end) = walk(file, header_len, header.chunk_size);
            return Err(match end {
                WalkEnd::Trailer => VerifyError::Truncated {
                    at: size,
                    first_missing_chunk: None,
                    section: None,
                },
                WalkEnd::Truncated {
                    first_missing_chunk,
                    section,
                } => VerifyError::Truncated {
                    at: size,
                    first_missing_chunk: Some(first_missing_chunk),
                    section,
                },
                WalkEnd::Garbage { at } => VerifyError::Damaged { at },
            });
        }
    };
    if trailer.header_hash != format::header_hash(&file[..header_len]) {
        return Err(VerifyError::HeaderTampered);
    }
    if !signature_ok(&header.signer, unsigned, &sig)
        || !trailer.is_consistent(header_len as u64, at, header.chunk_size)
    {
        return Err(VerifyError::SignatureBad);
    }
    let mut first: Option<Damage> = None;
    let mut damaged = 0u32;
    for (s_index, s) in trailer.sections.iter().enumerate() {
        for c in s.first_chunk..s.first_chunk + s.chunks {
            let e = &trailer.chunks[c as usize];
            let bytes = &file[e.offset as usize..(e.offset + u64::from(e.len)) as usize];
            if format::sha2_256(bytes) != e.hash {
                damaged += 1;
                first.get_or_insert(Damage {
                    chunk: c,
                    section: s_index as u32,
                    kind: s.kind,
                    offset: e.offset,
                    damaged_chunks: 0,
                });
            }
        }
    }
    if let Some(mut d) = first {
        d.damaged_chunks = damaged;
        return Err(VerifyError::ChunkDamaged(d));
    }
    Ok(VerifyReport {
        header: facts(&header, size, Some(trailer.sections.len() as u32)),
        sections: trailer
            .sections
            .iter()
            .map(|s| SectionFacts {
                kind: s.kind,
                plain_len: s.plain_len,
                offset: s.offset,
                first_chunk: s.first_chunk,
                chunks: s.chunks,
            })
            .collect(),
        chunk_count: trailer.chunks.len() as u32,
    })
}

/// Decrypts every section it can find. A damaged or cut-off section is returned as an
/// error in its place and listed in [`OpenedBackup::lost`]; the others are restored.
/// Fails as a whole only when the header is unreadable or the secret is wrong.
pub fn open(mut r: impl Read, unlock: Unlock<'_>) -> Result<OpenedBackup, OpenError> {
    let mut file = Vec::new();
    r.read_to_end(&mut file).map_err(OpenError::Io)?;
    open_bytes(&file, unlock)
}

fn open_bytes(file: &[u8], unlock: Unlock<'_>) -> Result<OpenedBackup, OpenError> {
    let (header, header_len) = Header::decode(file)?;
    let hh = format::header_hash(&file[..header_len]);
    // A wrap that does not open means a wrong secret, unless the signed trailer shows the
    // header was changed (its checksum recomputed): then say so, not "wrong passphrase".
    let tampered = || match find_trailer(file, header_len) {
        Found::Trailer {
            trailer,
            unsigned,
            sig,
            ..
        } => trailer.header_hash != hh && signature_ok(&header.signer, unsigned, &sig),
        _ => false,
    };
    let mut passphrase_key = None;
    let body_key = match unlock {
        Unlock::Passphrase(p) => {
            let kek = derive_kek(p, &header.passphrase.salt, header.kdf).map_err(|e| match e {
                KdfError::OutOfBounds(k) => OpenError::KdfOutOfBounds(k),
                other => OpenError::Kdf(other),
            })?;
            let body_key = header
                .passphrase
                .wrap
                .open(&kek, &header.wrap_context("passphrase"))
                .map_err(|_| {
                    if tampered() {
                        OpenError::HeaderTampered
                    } else {
                        OpenError::WrongPassphrase
                    }
                })?;
            passphrase_key = Some(PassphraseKey {
                kek,
                salt: header.passphrase.salt,
                kdf: header.kdf,
            });
            body_key
        }
        Unlock::RecoveryCode(code) => header
            .recovery
            .wrap
            .open(
                &code.to_kek(&header.recovery.salt),
                &header.wrap_context("recovery"),
            )
            .map_err(|_| {
                if tampered() {
                    OpenError::HeaderTampered
                } else {
                    OpenError::WrongRecoveryCode
                }
            })?,
    };
    let chunk_size = header.chunk_size;

    // Where the sections are: from the signed trailer when it is intact, else by
    // following the body.
    let mut status = TrailerStatus::Missing;
    let located: Vec<(u64, u32, Option<SectionKind>)>;
    let mut rest: Option<Loss> = None;
    let mut listed = None;
    match find_trailer(file, header_len) {
        Found::Trailer {
            at,
            trailer,
            unsigned,
            sig,
        } if trailer.header_hash == hh
            && signature_ok(&header.signer, unsigned, &sig)
            && trailer.is_consistent(header_len as u64, at, chunk_size) =>
        {
            status = TrailerStatus::Intact;
            listed = Some(trailer.sections.len() as u32);
            located = trailer
                .sections
                .iter()
                .map(|s| (s.offset, s.first_chunk, Some(s.kind)))
                .collect();
        }
        found => {
            if !matches!(found, Found::Missing) {
                status = TrailerStatus::Damaged;
            }
            let (walked, end) = walk(file, header_len, chunk_size);
            located = walked
                .iter()
                .map(|w| (w.offset, w.first_chunk, None))
                .collect();
            let from_section = walked.len() as u32;
            rest = match end {
                WalkEnd::Trailer => None,
                WalkEnd::Truncated {
                    section: Some(_), ..
                } => Some(Loss::Rest {
                    from_byte: file.len() as u64,
                    from_section,
                    listed_sections: None,
                }),
                WalkEnd::Truncated { section: None, .. } => Some(Loss::Rest {
                    from_byte: file.len() as u64,
                    from_section,
                    listed_sections: None,
                }),
                WalkEnd::Garbage { at } => Some(Loss::Rest {
                    from_byte: at,
                    from_section,
                    listed_sections: None,
                }),
            };
        }
    }

    let mut sections = Vec::with_capacity(located.len());
    let mut lost = Vec::new();
    for (index, &(offset, first_chunk, listed_kind)) in located.iter().enumerate() {
        let index = index as u32;
        let (kind, result) = open_section(
            file,
            &body_key,
            &hh,
            chunk_size,
            index,
            offset,
            first_chunk,
            listed_kind,
        );
        if let Err(damage) = &result {
            lost.push(Loss::Section {
                index,
                kind,
                damage: *damage,
            });
        }
        sections.push((kind, result));
    }
    lost.extend(rest);
    Ok(OpenedBackup {
        sections,
        lost,
        trailer: status,
        header: facts(&header, file.len() as u64, listed),
        passphrase_key,
    })
}

#[allow(clippy::too_many_arguments)]
fn open_section(
    file: &[u8],
    key: &twin_crypto::DataKey,
    header_hash: &[u8; 32],
    chunk_size: u32,
    index: u32,
    offset: u64,
    first_chunk: u32,
    listed_kind: Option<SectionKind>,
) -> (SectionKind, SectionResult) {
    let damage = |chunk: u32, offset: u64, truncated: bool| SectionDamage {
        chunk,
        offset,
        truncated,
    };
    let start = offset as usize;
    let sh = file.get(start..).and_then(SectionHeader::decode);
    let Some(sh) = sh.filter(|sh| listed_kind.is_none_or(|k| k == sh.kind)) else {
        let kind = listed_kind.unwrap_or(SectionKind::Other(0));
        return (kind, Err(damage(first_chunk, offset, false)));
    };
    let kind = sh.kind;
    let Some(n) = sh.chunk_count(chunk_size) else {
        return (kind, Err(damage(first_chunk, offset, false)));
    };
    let stream = Stream::new(key, header_hash, index, &sh);
    // Never trust the stated length for an allocation beyond the bytes present.
    let mut plain = Zeroizing::new(Vec::with_capacity(
        (sh.plain_len as usize).min(file.len().saturating_sub(start)),
    ));
    let mut pos = start + SECTION_HEADER_LEN;
    for i in 0..n {
        let chunk_at = if i == 0 { offset } else { pos as u64 };
        let len = sh.chunk_len(chunk_size, i);
        let Some(sealed) = file.get(pos..pos + len) else {
            return (kind, Err(damage(first_chunk + i, chunk_at, true)));
        };
        match stream.open(i, i + 1 == n, sealed) {
            Some(p) => plain.extend_from_slice(&Zeroizing::new(p)),
            None => return (kind, Err(damage(first_chunk + i, chunk_at, false))),
        }
        pos += len;
    }
    (kind, Ok(plain))
}
