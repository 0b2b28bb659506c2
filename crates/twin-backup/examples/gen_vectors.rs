//! Generates the backup format's test vectors in `schemas/vectors/backup/`.
//!
//! ```text
//! cargo run -p twin-backup --features test-vectors --example gen_vectors -- --write   # rewrite
//! cargo run -p twin-backup --features test-vectors --example gen_vectors -- --check   # fail if they differ
//! ```
//!
//! Everything is deterministic: a fixed signing key, passphrase, recovery code, time and
//! seed (`BackupWriter::new_seeded`). The Argon2id setting is the cheapest that
//! `KdfParams::check` accepts (8 MiB, 1 pass, 1 lane). `tests/backup.rs` runs every
//! vector through `verify` and `open`. The keys and secrets here are public on purpose.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use twin_backup::{BackupParams, BackupWriter, RecoverySlot, SectionKind};
use twin_crypto::{KdfParams, Kek, Passphrase, RecoveryCode};

const PASSPHRASE: &str = "vector passphrase";
const RECOVERY_CODE: &str = "0410Q-6105C-0R3G7-G28AA-1C60S-T3GF8-208H7-44RM5";
const CREATED_AT: i64 = 1_795_000_000; // 17 November 2026
const HEADER_LEN: usize = 326;
const SECTION_HEADER_LEN: usize = 33;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/vectors/backup")
}

fn sections() -> Vec<(SectionKind, Vec<u8>)> {
    vec![
        (SectionKind::Snapshot, b"twin snapshot bytes ".repeat(5)), // 100 B: 2 chunks
        (
            SectionKind::Changes,
            b"change batch ".repeat(6)[..70].to_vec(),
        ), // 2 chunks
        (SectionKind::Audit, b"audit line 1\naudit line 2\n".to_vec()), // 1 chunk
    ]
}

fn backup(seed: u8) -> Vec<u8> {
    let key = SigningKey::from_bytes(&[1; 32]);
    let pass = Passphrase::new(PASSPHRASE.into());
    let code = RecoveryCode::parse(RECOVERY_CODE).expect("a valid code");
    let recovery_salt = [seed ^ 0x5A; 16];
    let params = BackupParams {
        vault_id: b"vector-vault-id",
        fingerprint_salt: [2; 16],
        signer: key.verifying_key(),
        created_at: CREATED_AT,
        kdf: KdfParams {
            memory_kib: KdfParams::MIN_MEMORY_KIB,
            iterations: 1,
            parallelism: 1,
        },
        passphrase: &pass,
        recovery: RecoverySlot::from_kek(
            Kek::from_bytes(*code.to_kek(&recovery_salt).expose()),
            recovery_salt,
        ),
        chunk_size: 64,
    };
    let mut w = BackupWriter::new_seeded(Vec::new(), params, [seed; 32]).expect("writer");
    for (kind, bytes) in sections() {
        w.add_section(kind, &bytes).expect("section");
    }
    w.finish(&key).expect("finish").1
}

fn fix_checksum(b: &mut [u8]) {
    use sha2::Digest;
    let sum: [u8; 32] = sha2::Sha256::digest(&b[..HEADER_LEN - 32]).into();
    b[HEADER_LEN - 32..HEADER_LEN].copy_from_slice(&sum);
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let ok = backup(7);
    let report = twin_backup::verify(&ok[..]).expect("the valid vector verifies");
    // Chunk 3 is the second chunk of section 1 (changes).
    let s1 = report.sections[1].offset as usize;
    let chunk3 = s1 + SECTION_HEADER_LEN + 64 + 16;
    let chunk3_len = 70 - 64 + 16;

    let mut files: BTreeMap<&str, (Vec<u8>, Value)> = BTreeMap::new();
    let ok_sections: Vec<Value> = sections()
        .iter()
        .map(|(k, b)| json!({"kind": k.code(), "hex": hex::encode(b)}))
        .collect();
    files.insert(
        "ok.twinbackup",
        (
            ok.clone(),
            json!({"verify": "ok", "open": "ok", "sections": ok_sections}),
        ),
    );

    let truncated = ok[..s1 + SECTION_HEADER_LEN + 10].to_vec();
    files.insert(
        "fail_truncated.twinbackup",
        (
            truncated,
            json!({"verify": "Truncated", "first_damaged_chunk": 2, "open": "partial", "restored_sections": 1}),
        ),
    );

    let mut bad_sig = ok.clone();
    let sig_at = ok.len() - 16 - 64;
    bad_sig[sig_at + 5] ^= 0x01;
    files.insert(
        "fail_bad_signature.twinbackup",
        (
            bad_sig,
            json!({"verify": "SignatureBad", "open": "partial", "restored_sections": 3}),
        ),
    );

    let other = backup(8);
    let mut swapped = ok.clone();
    swapped[chunk3..chunk3 + chunk3_len].copy_from_slice(&other[chunk3..chunk3 + chunk3_len]);
    files.insert(
        "fail_swapped_chunk.twinbackup",
        (
            swapped,
            json!({"verify": "ChunkDamaged", "first_damaged_chunk": 3, "open": "partial", "restored_sections": 2}),
        ),
    );

    let mut newer = ok.clone();
    newer[8..10].copy_from_slice(&2u16.to_be_bytes());
    fix_checksum(&mut newer);
    files.insert(
        "fail_newer_version.twinbackup",
        (
            newer,
            json!({"verify": "NewerVersion", "open": "NewerVersion"}),
        ),
    );

    let mut tampered = ok.clone();
    tampered[14 + 16 + 32 + 32 + 7] ^= 0x01; // created_at, checksum recomputed
    fix_checksum(&mut tampered);
    files.insert(
        "fail_header_tampered.twinbackup",
        (
            tampered,
            json!({"verify": "HeaderTampered", "open": "HeaderTampered"}),
        ),
    );

    let mut hostile = ok.clone();
    let kdf_at = 14 + 16 + 32 + 32 + 8;
    hostile[kdf_at..kdf_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    fix_checksum(&mut hostile);
    files.insert(
        "fail_hostile_kdf.twinbackup",
        (
            hostile,
            json!({"verify": "KdfOutOfBounds", "open": "KdfOutOfBounds"}),
        ),
    );

    let vectors: Vec<Value> = files
        .iter()
        .map(|(name, (_, expect))| {
            let mut v = expect.clone();
            v["file"] = json!(name);
            v
        })
        .collect();
    let index = json!({
        "comment": "Backup-format test vectors; see docs/backup-format.md. Generated by crates/twin-backup/examples/gen_vectors.rs. Test secrets, public on purpose.",
        "passphrase": PASSPHRASE,
        "recovery_code": RECOVERY_CODE,
        "signer_public": hex::encode(SigningKey::from_bytes(&[1; 32]).verifying_key().as_bytes()),
        "vault_id": "vector-vault-id",
        "vectors": vectors,
    });
    let mut index_text = serde_json::to_string_pretty(&index).expect("json");
    index_text.push('\n');

    let mut all: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .map(|(name, (bytes, _))| (name.to_owned(), bytes))
        .collect();
    all.push(("vectors.json".into(), index_text.into_bytes()));
    match mode.as_str() {
        "--write" => {
            std::fs::create_dir_all(dir()).expect("vector folder");
            for (name, bytes) in &all {
                std::fs::write(dir().join(name), bytes).expect("write vector");
            }
            println!("wrote {} files to {}", all.len(), dir().display());
        }
        "--check" => {
            let mut differ = Vec::new();
            for (name, bytes) in &all {
                if std::fs::read(dir().join(name)).ok().as_ref() != Some(bytes) {
                    differ.push(name.clone());
                }
            }
            if !differ.is_empty() {
                eprintln!("backup vectors differ from the generator: {differ:?}");
                std::process::exit(1);
            }
            println!("{} backup vector files match", all.len());
        }
        _ => {
            eprintln!("usage: gen_vectors --write | --check");
            std::process::exit(2);
        }
    }
}
