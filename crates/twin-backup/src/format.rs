//! Byte layout of a `.twinbackup` file (see `docs/backup-format.md`): the plain header,
//! section headers, the STREAM nonces and associated data, and the signed trailer.
//! Pure functions over byte slices; no I/O, no secrets beyond what is passed in.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use twin_crypto::{DataKey, KdfParams, WrappedKey, sha256_parts};

use crate::{Fingerprint, SectionKind};

/// First 8 bytes of every backup.
pub(crate) const MAGIC: [u8; 8] = *b"\x89TWINBK\n";
/// Last 8 bytes of every complete backup.
pub(crate) const END_MAGIC: [u8; 8] = *b"TWINBKE\n";
/// The format version this program writes and reads.
pub(crate) const VERSION: u16 = 1;
/// Header length in version 1.
pub(crate) const HEADER_LEN: usize = 326;
/// Largest header any version may declare: a hostile length must not exhaust memory.
pub(crate) const MAX_HEADER_LEN: usize = 64 * 1024;
/// Section header: `SECT`, kind, plaintext length, nonce prefix.
pub(crate) const SECTION_HEADER_LEN: usize = 4 + 2 + 8 + PREFIX_LEN;
pub(crate) const SECTION_TAG: [u8; 4] = *b"SECT";
pub(crate) const TRAILER_TAG: [u8; 4] = *b"TRLR";
/// Footer: trailer offset (u64) then [`END_MAGIC`].
pub(crate) const FOOTER_LEN: usize = 16;
/// STREAM nonce prefix: 24-byte XNonce minus a 4-byte counter and a 1-byte last flag.
pub(crate) const PREFIX_LEN: usize = 19;
/// Poly1305 tag.
pub(crate) const TAG_LEN: usize = 16;
const SECTION_ENTRY_LEN: usize = 2 + 8 + 8 + 4 + 4;
const CHUNK_ENTRY_LEN: usize = 8 + 4 + 32;
const SIGNATURE_LEN: usize = 64;
const WRAP_SEALED_LEN: usize = 48;

const WRAP_CONTEXT: &str = "citizen-twin-backup/1";
const HEADER_HASH_LABEL: &[u8] = b"citizen-twin/backup-header/v1";
const CHUNK_AAD_LABEL: &[u8] = b"citizen-twin/backup-chunk/v1";
const TRAILER_SIG_LABEL: &[u8] = b"citizen-twin/backup-trailer/v1";

/// Chunk sizes a reader accepts; writers use [`crate::DEFAULT_CHUNK_SIZE`].
pub(crate) const MIN_CHUNK_SIZE: u32 = 64;
pub(crate) const MAX_CHUNK_SIZE: u32 = 1024 * 1024;

/// One key slot of the header: a salt and the body key wrapped under the slot's KEK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Slot {
    pub salt: [u8; 16],
    pub wrap: WrappedKey,
}

/// The parsed version-1 header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub fingerprint_salt: [u8; 16],
    pub fingerprint: Fingerprint,
    pub signer: [u8; 32],
    pub created_at: i64,
    pub kdf: KdfParams,
    pub chunk_size: u32,
    pub passphrase: Slot,
    pub recovery: Slot,
}

/// Why the first bytes are not a readable version-1 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderProblem {
    NotABackup,
    Truncated { at: u64 },
    Tampered,
    Newer { found: u16 },
    Kdf(KdfParams),
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).map(|s| s.try_into().expect("N bytes"))
    }
    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_be_bytes)
    }
}

impl Header {
    /// The header bytes before the two key slots: what each wrap's context binds.
    fn core(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEADER_LEN);
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&VERSION.to_be_bytes());
        b.extend_from_slice(&(HEADER_LEN as u32).to_be_bytes());
        b.extend_from_slice(&self.fingerprint_salt);
        b.extend_from_slice(self.fingerprint.as_bytes());
        b.extend_from_slice(&self.signer);
        b.extend_from_slice(&self.created_at.to_be_bytes());
        b.extend_from_slice(&self.kdf.memory_kib.to_be_bytes());
        b.extend_from_slice(&self.kdf.iterations.to_be_bytes());
        b.extend_from_slice(&self.kdf.parallelism.to_be_bytes());
        b.extend_from_slice(&self.chunk_size.to_be_bytes());
        b
    }

    /// Associated data of a wrap: the slot's name and a hash of the header core.
    pub fn wrap_context(&self, slot: &str) -> Vec<u8> {
        let core = sha256_parts(&[WRAP_CONTEXT.as_bytes(), &self.core()]);
        format!("{WRAP_CONTEXT}|slot={slot}|header={}", hex::encode(core)).into_bytes()
    }

    /// The full header: core, both slots, SHA-256 checksum over everything before it.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = self.core();
        for slot in [&self.passphrase, &self.recovery] {
            b.extend_from_slice(&slot.salt);
            b.extend_from_slice(&slot.wrap.nonce);
            b.extend_from_slice(&slot.wrap.sealed);
        }
        let sum = sha2_256(&b);
        b.extend_from_slice(&sum);
        debug_assert_eq!(b.len(), HEADER_LEN);
        b
    }

    /// Parses the header at the start of `file`; returns it and its length.
    ///
    /// Order: magic, then the checksum (frozen across versions: the header's last 32
    /// bytes are SHA-256 of the rest), then the version, then the fields. A flipped bit
    /// in the version field is thus reported as damage, not as "update the app".
    pub fn decode(file: &[u8]) -> Result<(Header, usize), HeaderProblem> {
        let mut c = Cursor::new(file);
        let truncated = HeaderProblem::Truncated {
            at: file.len() as u64,
        };
        match c.take(MAGIC.len()) {
            Some(m) if m == MAGIC => {}
            Some(_) => return Err(HeaderProblem::NotABackup),
            None if MAGIC.starts_with(file) && !file.is_empty() => return Err(truncated),
            None => return Err(HeaderProblem::NotABackup),
        }
        let version = c.u16().ok_or(truncated)?;
        let len = c.u32().ok_or(truncated)? as usize;
        if !(14 + 32..=MAX_HEADER_LEN).contains(&len) {
            return Err(HeaderProblem::Tampered);
        }
        let all = file.get(..len).ok_or(truncated)?;
        let (body, sum) = all.split_at(len - 32);
        if sha2_256(body) != sum {
            return Err(HeaderProblem::Tampered);
        }
        if version > VERSION {
            return Err(HeaderProblem::Newer { found: version });
        }
        if version != VERSION || len != HEADER_LEN {
            return Err(HeaderProblem::Tampered);
        }
        let bad = HeaderProblem::Tampered;
        let fingerprint_salt = c.array().ok_or(bad)?;
        let fingerprint = Fingerprint::from_bytes(c.array().ok_or(bad)?);
        let signer = c.array().ok_or(bad)?;
        let created_at = i64::from_be_bytes(c.array().ok_or(bad)?);
        let kdf = KdfParams {
            memory_kib: c.u32().ok_or(bad)?,
            iterations: c.u32().ok_or(bad)?,
            parallelism: c.u32().ok_or(bad)?,
        };
        let chunk_size = c.u32().ok_or(bad)?;
        let mut slot = || -> Option<Slot> {
            Some(Slot {
                salt: c.array()?,
                wrap: WrappedKey {
                    nonce: c.array()?,
                    sealed: c.take(WRAP_SEALED_LEN)?.to_vec(),
                },
            })
        };
        let passphrase = slot().ok_or(bad)?;
        let recovery = slot().ok_or(bad)?;
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(HeaderProblem::Tampered);
        }
        kdf.check().map_err(|_| HeaderProblem::Kdf(kdf))?;
        Ok((
            Header {
                fingerprint_salt,
                fingerprint,
                signer,
                created_at,
                kdf,
                chunk_size,
                passphrase,
                recovery,
            },
            len,
        ))
    }
}

/// SHA-256 of one byte string (the header checksum).
pub(crate) fn sha2_256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// The hash of the whole header, bound into every chunk and the trailer.
pub(crate) fn header_hash(header_bytes: &[u8]) -> [u8; 32] {
    sha256_parts(&[HEADER_HASH_LABEL, header_bytes])
}

/// A section's plain header: what its chunks' associated data binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SectionHeader {
    pub kind: SectionKind,
    pub plain_len: u64,
    pub prefix: [u8; PREFIX_LEN],
}

impl SectionHeader {
    pub fn encode(&self) -> [u8; SECTION_HEADER_LEN] {
        let mut b = [0u8; SECTION_HEADER_LEN];
        b[..4].copy_from_slice(&SECTION_TAG);
        b[4..6].copy_from_slice(&self.kind.code().to_be_bytes());
        b[6..14].copy_from_slice(&self.plain_len.to_be_bytes());
        b[14..].copy_from_slice(&self.prefix);
        b
    }

    pub fn decode(b: &[u8]) -> Option<SectionHeader> {
        let mut c = Cursor::new(b);
        if c.take(4)? != SECTION_TAG {
            return None;
        }
        Some(SectionHeader {
            kind: SectionKind::from_code(c.u16()?),
            plain_len: c.u64()?,
            prefix: c.array()?,
        })
    }

    /// Number of STREAM chunks: at least one, so an empty section still has a last chunk.
    pub fn chunk_count(&self, chunk_size: u32) -> Option<u32> {
        let n = self.plain_len.div_ceil(u64::from(chunk_size)).max(1);
        u32::try_from(n).ok()
    }

    /// Ciphertext length of chunk `i` (plaintext plus tag).
    pub fn chunk_len(&self, chunk_size: u32, i: u32) -> usize {
        let start = u64::from(i) * u64::from(chunk_size);
        let plain = (self.plain_len - start.min(self.plain_len)).min(u64::from(chunk_size));
        plain as usize + TAG_LEN
    }
}

/// The STREAM nonce of chunk `i` (Hoang, Reyhanitabar, Rogaway, Vizár 2015):
/// `prefix ‖ BE32(i) ‖ last-flag`.
fn stream_nonce(prefix: &[u8; PREFIX_LEN], i: u32, last: bool) -> XNonce {
    let mut n = [0u8; 24];
    n[..PREFIX_LEN].copy_from_slice(prefix);
    n[PREFIX_LEN..PREFIX_LEN + 4].copy_from_slice(&i.to_be_bytes());
    n[23] = u8::from(last);
    XNonce::from(n)
}

fn chunk_aad(header_hash: &[u8; 32], index: u32, sh: &SectionHeader) -> Vec<u8> {
    let mut aad = Vec::with_capacity(CHUNK_AAD_LABEL.len() + 32 + 4 + SECTION_HEADER_LEN);
    aad.extend_from_slice(CHUNK_AAD_LABEL);
    aad.extend_from_slice(header_hash);
    aad.extend_from_slice(&index.to_be_bytes());
    aad.extend_from_slice(&sh.encode());
    aad
}

/// One section's STREAM: encrypts or decrypts its chunks in order.
pub(crate) struct Stream {
    cipher: XChaCha20Poly1305,
    aad: Vec<u8>,
    prefix: [u8; PREFIX_LEN],
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").finish_non_exhaustive()
    }
}

impl Stream {
    pub fn new(key: &DataKey, header_hash: &[u8; 32], index: u32, sh: &SectionHeader) -> Self {
        Stream {
            cipher: XChaCha20Poly1305::new(&Key::from(*key.expose())),
            aad: chunk_aad(header_hash, index, sh),
            prefix: sh.prefix,
        }
    }

    pub fn seal(&self, i: u32, last: bool, plain: &[u8]) -> Vec<u8> {
        self.cipher
            .encrypt(
                &stream_nonce(&self.prefix, i, last),
                Payload {
                    msg: plain,
                    aad: &self.aad,
                },
            )
            .expect("a chunk of at most 1 MiB is within XChaCha20-Poly1305's limits")
    }

    pub fn open(&self, i: u32, last: bool, sealed: &[u8]) -> Option<Vec<u8>> {
        self.cipher
            .decrypt(
                &stream_nonce(&self.prefix, i, last),
                Payload {
                    msg: sealed,
                    aad: &self.aad,
                },
            )
            .ok()
    }
}

/// One section as the trailer lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SectionEntry {
    pub kind: SectionKind,
    pub plain_len: u64,
    pub offset: u64,
    pub first_chunk: u32,
    pub chunks: u32,
}

/// One chunk as the trailer lists it. Chunk 0 of a section covers its section header too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkEntry {
    pub offset: u64,
    pub len: u32,
    pub hash: [u8; 32],
}

/// The signed trailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Trailer {
    pub header_hash: [u8; 32],
    pub sections: Vec<SectionEntry>,
    pub chunks: Vec<ChunkEntry>,
}

impl Trailer {
    /// The signed part: everything from `TRLR` up to the signature.
    pub fn encode_unsigned(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(
            4 + 32
                + 8
                + self.sections.len() * SECTION_ENTRY_LEN
                + self.chunks.len() * CHUNK_ENTRY_LEN,
        );
        b.extend_from_slice(&TRAILER_TAG);
        b.extend_from_slice(&self.header_hash);
        b.extend_from_slice(&(self.sections.len() as u32).to_be_bytes());
        for s in &self.sections {
            b.extend_from_slice(&s.kind.code().to_be_bytes());
            b.extend_from_slice(&s.plain_len.to_be_bytes());
            b.extend_from_slice(&s.offset.to_be_bytes());
            b.extend_from_slice(&s.first_chunk.to_be_bytes());
            b.extend_from_slice(&s.chunks.to_be_bytes());
        }
        b.extend_from_slice(&(self.chunks.len() as u32).to_be_bytes());
        for c in &self.chunks {
            b.extend_from_slice(&c.offset.to_be_bytes());
            b.extend_from_slice(&c.len.to_be_bytes());
            b.extend_from_slice(&c.hash);
        }
        b
    }

    /// The message the vault signs.
    pub fn signed_message(unsigned: &[u8]) -> Vec<u8> {
        let mut m = TRAILER_SIG_LABEL.to_vec();
        m.extend_from_slice(unsigned);
        m
    }

    /// Parses a trailer that fills `b` exactly: `(trailer, signed bytes, signature)`.
    /// Counts are checked against the bytes present before anything is allocated.
    pub fn decode(b: &[u8]) -> Option<(Trailer, &[u8], [u8; 64])> {
        let unsigned_len = b.len().checked_sub(SIGNATURE_LEN)?;
        let (unsigned, sig) = b.split_at(unsigned_len);
        let mut c = Cursor::new(unsigned);
        if c.take(4)? != TRAILER_TAG {
            return None;
        }
        let header_hash = c.array()?;
        let n_sections = c.u32()? as usize;
        if n_sections > (unsigned.len() - c.pos) / SECTION_ENTRY_LEN {
            return None;
        }
        let mut sections = Vec::with_capacity(n_sections);
        for _ in 0..n_sections {
            sections.push(SectionEntry {
                kind: SectionKind::from_code(c.u16()?),
                plain_len: c.u64()?,
                offset: c.u64()?,
                first_chunk: c.u32()?,
                chunks: c.u32()?,
            });
        }
        let n_chunks = c.u32()? as usize;
        if n_chunks.checked_mul(CHUNK_ENTRY_LEN)? != unsigned.len() - c.pos {
            return None;
        }
        let mut chunks = Vec::with_capacity(n_chunks);
        for _ in 0..n_chunks {
            chunks.push(ChunkEntry {
                offset: c.u64()?,
                len: c.u32()?,
                hash: c.array()?,
            });
        }
        Some((
            Trailer {
                header_hash,
                sections,
                chunks,
            },
            unsigned,
            sig.try_into().ok()?,
        ))
    }

    /// Checks that the listed sections and chunks tile the body exactly, from the end of
    /// the header to the start of the trailer, and agree with `chunk_size`.
    pub fn is_consistent(&self, header_len: u64, trailer_at: u64, chunk_size: u32) -> bool {
        let mut pos = header_len;
        for c in &self.chunks {
            if c.offset != pos {
                return false;
            }
            pos = match pos.checked_add(u64::from(c.len)) {
                Some(p) => p,
                None => return false,
            };
        }
        if pos != trailer_at {
            return false;
        }
        let mut next = 0u32;
        for s in &self.sections {
            let sh = SectionHeader {
                kind: s.kind,
                plain_len: s.plain_len,
                prefix: [0; PREFIX_LEN],
            };
            let Some(n) = sh.chunk_count(chunk_size) else {
                return false;
            };
            if s.first_chunk != next || s.chunks != n {
                return false;
            }
            let Some(first) = self.chunks.get(s.first_chunk as usize) else {
                return false;
            };
            if first.offset != s.offset {
                return false;
            }
            for i in 0..n {
                let want = sh.chunk_len(chunk_size, i) as u64
                    + if i == 0 { SECTION_HEADER_LEN as u64 } else { 0 };
                match self.chunks.get((s.first_chunk + i) as usize) {
                    Some(c) if u64::from(c.len) == want => {}
                    _ => return false,
                }
            }
            next = match next.checked_add(n) {
                Some(x) => x,
                None => return false,
            };
        }
        next as usize == self.chunks.len()
    }
}

/// Signature bytes length, for the writer.
pub(crate) const fn signature_len() -> usize {
    SIGNATURE_LEN
}
