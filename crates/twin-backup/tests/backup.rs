//! The backup format end to end: round trips, truncation, tampering, splicing, versions,
//! wrong secrets, random damage, and the committed test vectors.

use std::io::Cursor;
use std::path::PathBuf;

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use twin_backup::{
    BackupParams, BackupWriter, Fingerprint, InspectError, Loss, OpenError, OpenedBackup,
    RecoverySlot, SectionKind, TrailerStatus, Unlock, VerifyError, inspect, open, verify,
};
use twin_crypto::{KdfParams, Passphrase, RecoveryCode};

const CODE: &str = "0410Q-6105C-0R3G7-G28AA-1C60S-T3GF8-208H7-44RM5";
const CHUNK: u32 = 64;
const HEADER_LEN: usize = 326;
const SECTION_HEADER_LEN: usize = 33;

fn cheap() -> KdfParams {
    KdfParams {
        memory_kib: KdfParams::MIN_MEMORY_KIB,
        iterations: 1,
        parallelism: 1,
    }
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[11; 32])
}

fn pass() -> Passphrase {
    Passphrase::new("correct horse battery staple".into())
}

fn code() -> RecoveryCode {
    RecoveryCode::parse(CODE).unwrap()
}

/// Snapshot 150 B (3 chunks), changes 0 B (1), audit 64 B (1), records 200 B (4).
fn sections() -> Vec<(SectionKind, Vec<u8>)> {
    vec![
        (SectionKind::Snapshot, (0..150u8).collect()),
        (SectionKind::Changes, vec![]),
        (SectionKind::Audit, vec![0xA5; 64]),
        (
            SectionKind::Records,
            (0..200u16).map(|i| (i * 7) as u8).collect(),
        ),
    ]
}

fn make_with(vault_id: &[u8], created_at: i64) -> Vec<u8> {
    let k = key();
    let p = pass();
    let params = BackupParams {
        vault_id,
        fingerprint_salt: [4; 16],
        signer: k.verifying_key(),
        created_at,
        kdf: cheap(),
        passphrase: &p,
        recovery: RecoverySlot::from_code(&code()),
        chunk_size: CHUNK,
    };
    let mut w = BackupWriter::new(Vec::new(), params).unwrap();
    for (kind, bytes) in sections() {
        w.add_section(kind, &bytes).unwrap();
    }
    w.finish(&k).unwrap().1
}

fn make() -> Vec<u8> {
    make_with(b"vault-1", 1_795_000_000)
}

fn opened(bytes: &[u8]) -> OpenedBackup {
    open(bytes, Unlock::RecoveryCode(&code())).unwrap()
}

/// (offset, length) of every chunk, in order, from the known layout.
fn chunk_ranges() -> Vec<(usize, usize, u32)> {
    let mut out = Vec::new();
    let mut pos = HEADER_LEN;
    for (s, (_, bytes)) in sections().iter().enumerate() {
        let n = bytes.len().div_ceil(CHUNK as usize).max(1);
        for i in 0..n {
            let plain = (bytes.len() - (i * CHUNK as usize).min(bytes.len())).min(CHUNK as usize);
            let len = plain + 16 + if i == 0 { SECTION_HEADER_LEN } else { 0 };
            out.push((pos, len, s as u32));
            pos += len;
        }
    }
    out
}

/// Rewrites the header checksum after a deliberate change.
fn fix_checksum(b: &mut [u8]) {
    use sha2::Digest;
    let sum: [u8; 32] = sha2::Sha256::digest(&b[..HEADER_LEN - 32]).into();
    b[HEADER_LEN - 32..HEADER_LEN].copy_from_slice(&sum);
}

#[test]
fn round_trip_with_either_secret() {
    let b = make();
    let report = verify(&b[..]).unwrap();
    assert_eq!(report.chunk_count, 9);
    assert_eq!(report.sections.len(), 4);
    assert_eq!(report.header.created_at, 1_795_000_000);
    assert_eq!(report.header.size, b.len() as u64);
    let facts = inspect(Cursor::new(&b)).unwrap();
    assert_eq!(facts, report.header);
    assert_eq!(facts.section_count, Some(4));
    assert_eq!(facts.kdf, cheap());
    assert_eq!(
        facts.fingerprint,
        Fingerprint::compute(&[4; 16], b"vault-1", &key().verifying_key())
    );
    assert!(
        !b.windows(7).any(|w| w == b"vault-1"),
        "the vault id is never written"
    );

    for unlock in [Unlock::Passphrase(&pass()), Unlock::RecoveryCode(&code())] {
        let by_passphrase = matches!(unlock, Unlock::Passphrase(_));
        let o = open(&b[..], unlock).unwrap();
        assert!(o.is_complete(), "{o:?}");
        // The passphrase's key is handed back (for a restore to reuse), with the header's
        // settings and salt; never with the recovery code.
        match &o.passphrase_key {
            Some(k) => {
                assert!(by_passphrase);
                assert_eq!(k.kdf, cheap());
                assert_eq!(
                    twin_crypto::derive_kek(&pass(), &k.salt, k.kdf)
                        .unwrap()
                        .expose(),
                    k.kek.expose()
                );
                assert_eq!(format!("{k:?}"), "PassphraseKey(..)");
            }
            None => assert!(!by_passphrase),
        }
        let got: Vec<_> = o
            .sections
            .iter()
            .map(|(k, r)| (*k, r.as_ref().unwrap().to_vec()))
            .collect();
        assert_eq!(got, sections());
    }
    // Plaintext never appears in the file.
    assert!(!b.windows(64).any(|w| w == [0xA5; 64]));
}

#[test]
fn chunk_ranges_match_the_trailer() {
    let b = make();
    let report = verify(&b[..]).unwrap();
    let ranges = chunk_ranges();
    for (s, f) in report.sections.iter().enumerate() {
        assert_eq!(
            f.offset as usize, ranges[f.first_chunk as usize].0,
            "section {s}"
        );
    }
}

#[test]
fn truncation_at_every_chunk_boundary_and_mid_chunk_is_named_and_partly_restored() {
    let b = make();
    let ranges = chunk_ranges();
    let body_end = ranges.last().map(|(o, l, _)| o + l).unwrap();
    for (c, &(offset, len, section)) in ranges.iter().enumerate() {
        for cut in [offset, offset + len / 2] {
            let t = &b[..cut];
            let at_boundary = cut == offset;
            match verify(t).unwrap_err() {
                VerifyError::Truncated {
                    at,
                    first_missing_chunk,
                    section: cut_section,
                } => {
                    assert_eq!(at, cut as u64);
                    assert_eq!(first_missing_chunk, Some(c as u32), "cut at {cut}");
                    // A cut between sections is not inside any section.
                    let first_of_section = at_boundary && (c == 0 || ranges[c - 1].2 != section);
                    if first_of_section {
                        assert_eq!(cut_section, None, "cut at {cut}");
                    } else {
                        assert_eq!(cut_section.map(|s| s.0), Some(section), "cut at {cut}");
                    }
                }
                other => panic!("cut at {cut}: {other:?}"),
            }
            let o = opened(t);
            assert_eq!(o.trailer, TrailerStatus::Missing);
            assert!(!o.is_complete());
            let originals = sections();
            for (i, (kind, r)) in o.sections.iter().enumerate() {
                assert_eq!(*kind, originals[i].0);
                if (i as u32) < section {
                    assert_eq!(r.as_ref().unwrap().as_slice(), &originals[i].1[..]);
                } else {
                    assert!(r.is_err(), "section {i} cut at {cut}");
                }
            }
            assert!(
                o.lost.iter().any(|l| matches!(l, Loss::Rest { .. })),
                "{:?}",
                o.lost
            );
            assert!(o.sections.iter().filter(|s| s.1.is_ok()).count() <= section as usize);
        }
    }
    // Cut right after the last chunk: nothing says no section followed.
    assert!(matches!(
        verify(&b[..body_end]).unwrap_err(),
        VerifyError::Truncated {
            first_missing_chunk: Some(9),
            section: None,
            ..
        }
    ));
    let o = opened(&b[..body_end]);
    assert!(o.sections.iter().all(|s| s.1.is_ok()));
    assert!(matches!(
        o.lost[..],
        [Loss::Rest {
            from_section: 4,
            ..
        }]
    ));
    // Cut inside the trailer: every section restored, but not confirmed complete.
    for cut in [body_end + 10, b.len() - 1] {
        assert!(matches!(
            verify(&b[..cut]).unwrap_err(),
            VerifyError::Truncated {
                first_missing_chunk: None,
                ..
            }
        ));
        let o = opened(&b[..cut]);
        assert!(o.lost.is_empty() && !o.is_complete());
        assert!(o.sections.iter().all(|s| s.1.is_ok()));
    }
    // Cut inside the header.
    for cut in [0, 5, 100, HEADER_LEN - 1] {
        assert!(verify(&b[..cut]).is_err());
        assert!(matches!(
            open(&b[..cut], Unlock::RecoveryCode(&code())),
            Err(OpenError::Truncated { .. } | OpenError::NotABackup)
        ));
    }
}

#[test]
fn a_flipped_bit_in_the_header_is_named() {
    let b = make();
    for pos in (0..HEADER_LEN).step_by(7) {
        let mut t = b.clone();
        t[pos] ^= 0x10;
        let v = verify(&t[..]).unwrap_err();
        assert!(
            matches!(v, VerifyError::HeaderTampered | VerifyError::NotABackup),
            "{pos}: {v:?}"
        );
        assert!(inspect(Cursor::new(&t)).is_err());
        assert!(open(&t[..], Unlock::RecoveryCode(&code())).is_err());
    }
    // A deliberate change with the checksum recomputed is caught by the signed trailer.
    let mut t = b.clone();
    t[14 + 16 + 32 + 32 + 7] ^= 1; // created_at
    fix_checksum(&mut t);
    assert!(matches!(
        verify(&t[..]).unwrap_err(),
        VerifyError::HeaderTampered
    ));
    assert!(matches!(
        open(&t[..], Unlock::RecoveryCode(&code())).unwrap_err(),
        OpenError::HeaderTampered
    ));
    assert!(matches!(
        open(&t[..], Unlock::Passphrase(&pass())).unwrap_err(),
        OpenError::HeaderTampered
    ));
}

#[test]
fn a_flipped_bit_in_the_body_names_the_chunk_and_loses_only_its_section() {
    let b = make();
    for (c, &(offset, len, section)) in chunk_ranges().iter().enumerate() {
        for pos in [offset, offset + len - 1] {
            let mut t = b.clone();
            t[pos] ^= 0x01;
            match verify(&t[..]).unwrap_err() {
                VerifyError::ChunkDamaged(d) => {
                    assert_eq!(d.chunk, c as u32);
                    assert_eq!(d.section, section);
                    assert_eq!(d.kind, sections()[section as usize].0);
                    assert_eq!(d.offset, offset as u64);
                    assert_eq!(d.damaged_chunks, 1);
                }
                other => panic!("byte {pos}: {other:?}"),
            }
            let o = opened(&t);
            assert_eq!(o.trailer, TrailerStatus::Intact);
            assert_eq!(o.lost.len(), 1, "{:?}", o.lost);
            assert!(matches!(o.lost[0], Loss::Section { index, .. } if index == section));
            for (i, (kind, r)) in o.sections.iter().enumerate() {
                assert_eq!(*kind, sections()[i].0);
                assert_eq!(r.is_ok(), i as u32 != section, "byte {pos}, section {i}");
            }
        }
    }
}

#[test]
fn a_flipped_bit_in_the_signature_or_trailer_is_named() {
    let b = make();
    let sig_at = b.len() - 16 - 64;
    for pos in [
        sig_at,
        sig_at + 63,
        b.len() - 16 - 64 - 1,
        b.len() - 16 - 64 - 44,
    ] {
        let mut t = b.clone();
        t[pos] ^= 0x80;
        assert!(
            matches!(verify(&t[..]).unwrap_err(), VerifyError::SignatureBad),
            "{pos}"
        );
        let o = opened(&t);
        assert_eq!(o.trailer, TrailerStatus::Damaged);
        assert!(!o.is_complete());
        assert!(o.sections.iter().all(|s| s.1.is_ok()));
    }
    // The trailer signed by another key is refused.
    let mut t = b.clone();
    let other = SigningKey::from_bytes(&[12; 32]);
    let trailer_at = u64::from_be_bytes(b[b.len() - 16..b.len() - 8].try_into().unwrap()) as usize;
    let mut msg = b"citizen-twin/backup-trailer/v1".to_vec();
    msg.extend_from_slice(&b[trailer_at..sig_at]);
    use ed25519_dalek::Signer;
    t[sig_at..sig_at + 64].copy_from_slice(&other.sign(&msg).to_bytes());
    assert!(matches!(
        verify(&t[..]).unwrap_err(),
        VerifyError::SignatureBad
    ));
}

#[test]
fn chunks_swapped_between_two_backups_of_the_same_vault_are_detected() {
    let a = make();
    let b = make_with(b"vault-1", 1_795_000_000);
    assert_eq!(a.len(), b.len());
    for &(offset, len, section) in chunk_ranges().iter() {
        let mut t = a.clone();
        t[offset..offset + len].copy_from_slice(&b[offset..offset + len]);
        assert!(
            matches!(verify(&t[..]).unwrap_err(), VerifyError::ChunkDamaged(d) if d.offset == offset as u64)
        );
        let o = opened(&t);
        assert!(matches!(o.lost[..], [Loss::Section { index, .. }] if index == section));
    }
    // Two chunks of one backup swapped (same length): both named damaged.
    let r = chunk_ranges();
    let (o1, l1, _) = r[1]; // snapshot chunk 1 (64 + 16)
    let (o7, l7, _) = r[7]; // records chunk 2
    assert_eq!(l1, l7);
    let mut t = a.clone();
    let (x, y) = (a[o1..o1 + l1].to_vec(), a[o7..o7 + l7].to_vec());
    t[o1..o1 + l1].copy_from_slice(&y);
    t[o7..o7 + l7].copy_from_slice(&x);
    match verify(&t[..]).unwrap_err() {
        VerifyError::ChunkDamaged(d) => assert_eq!((d.chunk, d.damaged_chunks), (1, 2)),
        other => panic!("{other:?}"),
    }
    // STREAM binds each chunk to its position: open refuses both.
    let o = opened(&t);
    assert_eq!(o.lost.len(), 2);
}

#[test]
fn a_newer_format_version_asks_for_an_update() {
    let mut t = make();
    t[8..10].copy_from_slice(&2u16.to_be_bytes());
    fix_checksum(&mut t);
    assert!(matches!(
        inspect(Cursor::new(&t)).unwrap_err(),
        InspectError::NewerVersion { found: 2 }
    ));
    let v = verify(&t[..]).unwrap_err();
    assert!(matches!(v, VerifyError::NewerVersion { found: 2 }));
    assert!(v.to_string().contains("newer Citizen Twin"));
    assert!(matches!(
        open(&t[..], Unlock::Passphrase(&pass())).unwrap_err(),
        OpenError::NewerVersion { found: 2 }
    ));
    // The same bytes without a matching checksum are damage, not "update".
    let mut d = make();
    d[9] = 2;
    assert!(matches!(
        verify(&d[..]).unwrap_err(),
        VerifyError::HeaderTampered
    ));
}

#[test]
fn hostile_kdf_settings_are_refused_before_any_work() {
    let mut t = make();
    let kdf_at = 14 + 16 + 32 + 32 + 8;
    t[kdf_at..kdf_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    fix_checksum(&mut t);
    assert!(matches!(
        inspect(Cursor::new(&t)).unwrap_err(),
        InspectError::KdfOutOfBounds(k) if k.memory_kib == u32::MAX
    ));
    assert!(matches!(
        verify(&t[..]).unwrap_err(),
        VerifyError::KdfOutOfBounds(_)
    ));
    assert!(matches!(
        open(&t[..], Unlock::Passphrase(&pass())).unwrap_err(),
        OpenError::KdfOutOfBounds(_)
    ));
}

#[test]
fn wrong_secrets_are_told_apart_from_damage() {
    let b = make();
    let wrong = Passphrase::new("Correct horse battery staple".into());
    assert!(matches!(
        open(&b[..], Unlock::Passphrase(&wrong)).unwrap_err(),
        OpenError::WrongPassphrase
    ));
    assert!(matches!(
        open(&b[..], Unlock::RecoveryCode(&RecoveryCode::generate())).unwrap_err(),
        OpenError::WrongRecoveryCode
    ));
}

#[test]
fn other_files_are_not_backups() {
    for junk in [
        &b""[..],
        b"hello",
        b"SQLite format 3\0 and more bytes follow",
    ] {
        assert!(matches!(verify(junk).unwrap_err(), VerifyError::NotABackup));
        assert!(matches!(
            open(junk, Unlock::Passphrase(&pass())).unwrap_err(),
            OpenError::NotABackup
        ));
    }
}

#[test]
fn opened_backups_never_print_their_contents() {
    let o = opened(&make());
    let shown = format!("{o:?}");
    assert!(!shown.contains("165"), "{shown}"); // 0xA5
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn random_byte_flips_are_always_detected(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4)
    ) {
        let b = make_cached();
        let mut t = b.clone();
        for (i, x) in &flips {
            let at = i.index(t.len());
            t[at] ^= x;
        }
        prop_assume!(t != b);
        prop_assert!(verify(&t[..]).is_err());
        if let Ok(o) = open(&t[..], Unlock::RecoveryCode(&code())) {
            prop_assert!(!o.is_complete());
            let originals = sections();
            for (i, (kind, r)) in o.sections.iter().enumerate() {
                if let Ok(bytes) = r {
                    prop_assert_eq!(*kind, originals[i].0);
                    prop_assert_eq!(bytes.as_slice(), &originals[i].1[..]);
                }
            }
        }
    }

    #[test]
    fn readers_never_panic_on_random_input(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = verify(&bytes[..]);
        let _ = inspect(Cursor::new(&bytes));
        let _ = open(&bytes[..], Unlock::RecoveryCode(&code()));
    }

    #[test]
    fn round_trip_any_sections(parts in proptest::collection::vec((1u16..9, proptest::collection::vec(any::<u8>(), 0..300)), 0..5)) {
        let k = key();
        let p = pass();
        let params = BackupParams {
            vault_id: b"v",
            fingerprint_salt: [0; 16],
            signer: k.verifying_key(),
            created_at: 0,
            kdf: cheap(),
            passphrase: &p,
            recovery: RecoverySlot::from_code(&code()),
            chunk_size: CHUNK,
        };
        let mut w = BackupWriter::new(Vec::new(), params).unwrap();
        for (kind, bytes) in &parts {
            w.add_section(SectionKind::from_code(*kind), bytes).unwrap();
        }
        let (summary, file) = w.finish(&k).unwrap();
        prop_assert_eq!(summary.size, file.len() as u64);
        prop_assert!(verify(&file[..]).is_ok());
        let o = opened(&file);
        prop_assert!(o.is_complete());
        prop_assert_eq!(o.sections.len(), parts.len());
        for ((kind, r), (k2, bytes)) in o.sections.iter().zip(&parts) {
            prop_assert_eq!(kind.code(), *k2);
            prop_assert_eq!(r.as_ref().unwrap().as_slice(), &bytes[..]);
        }
    }
}

fn make_cached() -> Vec<u8> {
    static CACHE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    CACHE.get_or_init(make).clone()
}

// --- the committed test vectors (schemas/vectors/backup/) ---

fn vector_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/vectors/backup")
}

/// The variant name of an error's `Debug` form: `ChunkDamaged(..)` → `ChunkDamaged`.
fn name(e: impl std::fmt::Debug) -> String {
    format!("{e:?}")
        .split(['(', ' ', '{'])
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn every_vector_gives_its_expected_outcome() {
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(vector_dir().join("vectors.json")).unwrap())
            .unwrap();
    let pass = Passphrase::new(index["passphrase"].as_str().unwrap().into());
    let code = RecoveryCode::parse(index["recovery_code"].as_str().unwrap()).unwrap();
    let vectors = index["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 5);
    for v in vectors {
        let file = v["file"].as_str().unwrap();
        let bytes = std::fs::read(vector_dir().join(file)).unwrap();
        let verified = match verify(&bytes[..]) {
            Ok(_) => "ok".to_owned(),
            Err(e) => name(e),
        };
        assert_eq!(verified, v["verify"].as_str().unwrap(), "{file}");
        if let Some(first) = v.get("first_damaged_chunk") {
            match verify(&bytes[..]).unwrap_err() {
                VerifyError::ChunkDamaged(d) => {
                    assert_eq!(u64::from(d.chunk), first.as_u64().unwrap())
                }
                VerifyError::Truncated {
                    first_missing_chunk,
                    ..
                } => {
                    assert_eq!(first_missing_chunk.map(u64::from), first.as_u64())
                }
                other => panic!("{file}: {other:?}"),
            }
        }
        for unlock in [Unlock::Passphrase(&pass), Unlock::RecoveryCode(&code)] {
            match (open(&bytes[..], unlock), v["open"].as_str().unwrap()) {
                (Ok(o), "ok") => {
                    assert!(o.is_complete(), "{file}");
                    let want = v["sections"].as_array().unwrap();
                    assert_eq!(o.sections.len(), want.len());
                    for ((kind, r), w) in o.sections.iter().zip(want) {
                        assert_eq!(u64::from(kind.code()), w["kind"].as_u64().unwrap());
                        assert_eq!(
                            hex::encode(r.as_ref().unwrap().as_slice()),
                            w["hex"].as_str().unwrap()
                        );
                    }
                }
                (Ok(o), "partial") => {
                    assert!(!o.is_complete(), "{file}");
                    let restored = o.sections.iter().filter(|s| s.1.is_ok()).count();
                    assert_eq!(
                        restored as u64,
                        v["restored_sections"].as_u64().unwrap(),
                        "{file}"
                    );
                }
                (Err(e), want) => assert_eq!(name(e), want, "{file}"),
                (Ok(o), want) => panic!("{file}: opened {o:?}, expected {want}"),
            }
        }
    }
}
