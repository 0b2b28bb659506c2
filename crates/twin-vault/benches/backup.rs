//! Benchmarks of backups: export, restore into an empty folder, and merge of a backup
//! into a diverged copy of the same vault, each against a floor measured in the same run.
//!
//! Run with `cargo bench -p twin-vault --bench backup`; results and the machine are in
//! `docs/benchmarks.md`.
//!
//! 1. **Export** (`Vault::export_backup`) of a twin of 100,000 field edits, against the
//!    floor: `Automerge::save` of a plain document loaded from the same saved bytes, plus
//!    sealing those bytes with XChaCha20-Poly1305 in 64 KiB chunks (STREAM nonces, the
//!    same associated-data length as the file format), plus wrapping the body key, plus
//!    **one Argon2id** (`derive_kek`, `KdfParams::DEFAULT`, the vault's setting): the
//!    key derivation an export cannot avoid (the backup's passphrase slot). Goal ≤ 1.3×.
//!    The ratio is printed with the Argon2id on both sides and, separately, without it
//!    on either side (the export's time minus the median Argon2id of the same run, over
//!    the floor timed without its Argon2id). The floor writes nothing to disk; the export
//!    writes the file atomically (fsync, rename, fsync of the folder) and commits one
//!    audit line durably.
//! 2. **Restore** (`restore_backup`) of that backup into an empty folder, against the
//!    floor: one Argon2id, unwrapping the body key, decrypting the sealed snapshot's
//!    chunks, and `Automerge::load` of the plaintext. With the passphrase the restore runs
//!    Argon2id **once**: the key that opened the backup also wraps the new vault's data
//!    key. The ratio is printed with one Argon2id on each side, and without Argon2id
//!    (restore minus one median Argon2id). Goal ≤ 1.3× (the same goal as export).
//! 3. **Merge** (`Vault::merge_backup`) of a backup of one copy into the other, after
//!    both copies of one vault made 50,000 field edits of their own (same fields, so they
//!    conflict): the absolute time, against the floor `Automerge::merge` of the two
//!    documents loaded from their saved bytes, and against a fuller floor that also
//!    opens the sealed bytes (Argon2id, decrypt, `Automerge::load`) as the merge must.
//!    No goal: reported.
//!
//! Besides the ratios, the parts an export and a restore are made of are timed in the
//! same alternated loop (Argon2id alone, `TwinDoc::save`, sealing alone,
//! `twin_backup::write_atomic`, `twin_backup::open`, `TwinDoc::load`), so the report says
//! where the time goes. Setup (building the twins, empty folders, copies of a vault,
//! unlocking) is outside every timed section.
//!
//! Run as a test (`cargo test --benches`, or `cargo bench -- --test`) the same code runs
//! on small twins with a few samples, so it stays compiled and working.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use automerge::Automerge;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use criterion::{Criterion, SamplingMode};
use twin_backup::{BackupParams, RecoverySlot, SectionKind, Unlock};
use twin_crypto::{DataKey, KdfParams, Kek, Passphrase, RecoveryCode, WrappedKey, derive_kek};
use twin_doc::TwinDoc;
use twin_vault::{RestoreUnlock, Vault, restore_backup};

use support::{
    EDITS, PASSPHRASE, Report, Unit, field_values, full_run, median, timed, vault_with_edits,
};

/// Alternated rounds of benchmarks 1 and 2.
const ROUNDS: usize = 10;
/// Field edits made by each of the two diverged copies in benchmark 3.
const HALF_EDITS: usize = 50_000;
/// Plaintext bytes per chunk, as `twin_backup::DEFAULT_CHUNK_SIZE`.
const CHUNK: usize = 64 * 1024;
/// Associated data of every chunk: as long as the format's (label 28 B, header hash
/// 32 B, section index 4 B, section header 33 B).
const CHUNK_AAD: [u8; 97] = [0x5A; 97];
const WRAP_CONTEXT: &[u8] = b"citizen-twin-backup/1|slot=passphrase|header=bench";

/// The floor's sealed bytes: the body key wrapped under the passphrase KEK, and the
/// plaintext's chunks.
struct Sealed {
    salt: [u8; 16],
    wrap: WrappedKey,
    prefix: [u8; 19],
    chunks: Vec<Vec<u8>>,
}

fn nonce(prefix: &[u8; 19], i: u32, last: bool) -> XNonce {
    let mut n = [0u8; 24];
    n[..19].copy_from_slice(prefix);
    n[19..23].copy_from_slice(&i.to_be_bytes());
    n[23] = u8::from(last);
    XNonce::from(n)
}

/// XChaCha20-Poly1305 over `plain` in 64 KiB chunks (STREAM nonces), under a fresh body
/// key wrapped by `kek`.
fn seal(kek: &Kek, salt: [u8; 16], plain: &[u8]) -> Sealed {
    let body = DataKey::generate();
    let cipher = XChaCha20Poly1305::new(&Key::from(*body.expose()));
    let prefix: [u8; 19] = twin_crypto::random_array();
    let n = plain.len().div_ceil(CHUNK).max(1);
    let chunks = (0..n)
        .map(|i| {
            let part = &plain[(i * CHUNK).min(plain.len())..((i + 1) * CHUNK).min(plain.len())];
            cipher
                .encrypt(
                    &nonce(&prefix, i as u32, i + 1 == n),
                    Payload {
                        msg: part,
                        aad: &CHUNK_AAD,
                    },
                )
                .expect("seal")
        })
        .collect();
    Sealed {
        salt,
        wrap: WrappedKey::seal(kek, &body, WRAP_CONTEXT),
        prefix,
        chunks,
    }
}

/// Unwraps the body key with `kek` and decrypts every chunk.
fn open_sealed(kek: &Kek, sealed: &Sealed) -> Vec<u8> {
    let body = sealed.wrap.open(kek, WRAP_CONTEXT).expect("unwrap");
    let cipher = XChaCha20Poly1305::new(&Key::from(*body.expose()));
    let n = sealed.chunks.len();
    let mut out = Vec::with_capacity(n * CHUNK);
    for (i, c) in sealed.chunks.iter().enumerate() {
        out.extend(
            cipher
                .decrypt(
                    &nonce(&sealed.prefix, i as u32, i + 1 == n),
                    Payload {
                        msg: c,
                        aad: &CHUNK_AAD,
                    },
                )
                .expect("open"),
        );
    }
    out
}

fn kdf(pass: &Passphrase, salt: &[u8; 16]) -> Kek {
    derive_kek(pass, salt, KdfParams::DEFAULT).expect("argon2id")
}

fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1));
    g
}

/// `a - b`, or zero.
fn minus(a: Option<Duration>, b: Duration) -> Option<Duration> {
    a.map(|a| a.saturating_sub(b))
}

/// Makes `edits` more field edits in `vault` through `Vault::import`, starting at value
/// set `offset` (so two copies given different offsets write different values).
fn add_edits(vault: &mut Vault, edits: usize, offset: usize) -> usize {
    let (mut done, mut i) = (0, offset);
    while done < edits {
        let pairs: Vec<_> = field_values(i)
            .into_iter()
            .take(edits - done)
            .map(|(p, v)| (twin_types::FieldPath::parse(p).expect("path"), v))
            .collect();
        done += vault
            .import(&twin_vault::nest(&pairs), "bench")
            .expect("import")
            .changed
            .len();
        i += 1;
    }
    i - offset
}

/// Copies the regular files of a (locked) vault folder into a new folder.
fn copy_vault(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        if e.file_type().expect("type").is_file() {
            fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
}

/// Benchmarks 1 and 2 on the vault in `dir`.
fn bench_export_restore(
    c: &mut Criterion,
    tmp: &Path,
    dir: &Path,
    pass: &Passphrase,
    rounds: usize,
    report: &mut Report,
) {
    let mut vault = Vault::unlock(dir, pass).expect("unlock");
    let saved = vault.saved_document();
    let plain = Automerge::load(&saved).expect("load");
    let twin = TwinDoc::load(&saved, std::iter::empty::<&[u8]>(), &[7; 16]).expect("load");
    let salt: [u8; 16] = twin_crypto::random_array();
    let kek = kdf(pass, &salt);
    let file = tmp.join("twin.twinbackup");
    let first = vault.export_backup(&file, pass, |_| {}).expect("export");
    report.note(format!(
        "SETUP backup: {} bytes, {} sections, {} chunks; saved document {} bytes",
        first.size,
        first.sections,
        first.chunks,
        saved.len()
    ));
    let signer = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let code = RecoveryCode::generate();
    let parts_file = tmp.join("parts.twinbackup");
    let write_atomic = |bytes: &[u8]| {
        let params = BackupParams {
            vault_id: b"bench-vault-id",
            fingerprint_salt: [1; 16],
            signer: signer.verifying_key(),
            created_at: 1_795_000_000,
            kdf: KdfParams::DEFAULT,
            passphrase: pass,
            recovery: RecoverySlot::from_code(&code),
            chunk_size: twin_backup::DEFAULT_CHUNK_SIZE,
        };
        twin_backup::write_atomic(
            &parts_file,
            params,
            &[(SectionKind::Snapshot, bytes)],
            &signer,
            |_| {},
        )
        .expect("write_atomic")
    };

    // 1. Export, alternated with its floors and its parts.
    let (mut ex, mut fl, mut fl_nokdf, mut argon, mut save, mut tsave, mut sealing, mut wa) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for _ in 0..rounds {
        timed(&mut ex, 1, || {
            vault.export_backup(&file, pass, |_| {}).expect("export")
        });
        timed(&mut fl, 1, || {
            let kek = kdf(pass, &salt);
            let bytes = plain.save();
            seal(&kek, salt, &bytes)
        });
        timed(&mut fl_nokdf, 1, || seal(&kek, salt, &plain.save()));
        timed(&mut argon, 1, || kdf(pass, &salt));
        timed(&mut save, 1, || plain.save());
        timed(&mut tsave, 1, || twin.save());
        timed(&mut sealing, 1, || seal(&kek, salt, &saved));
        timed(&mut wa, 1, || write_atomic(&saved));
    }
    let a = median(&argon).expect("samples");
    report.time(
        "1 Vault::export_backup (100k-edit twin), alternated",
        &ex,
        None,
    );
    report.time(
        "1 floor: Argon2id + Automerge::save + XChaCha20-Poly1305 64 KiB chunks",
        &fl,
        None,
    );
    report.ratio(
        "1 export / floor, Argon2id on both sides, alternated",
        median(&ex),
        median(&fl),
        Some(1.3),
    );
    report.ratio(
        "1 export minus median Argon2id / floor without Argon2id, alternated",
        minus(median(&ex), a),
        median(&fl_nokdf),
        Some(1.3),
    );
    report.time("1 part: Argon2id (KdfParams::DEFAULT)", &argon, None);
    report.time("1 part: Automerge::save (plain document)", &save, None);
    report.time("1 part: TwinDoc::save", &tsave, None);
    report.time("1 part: sealing the saved bytes alone", &sealing, None);
    report.time(
        "1 part: twin_backup::write_atomic of the snapshot alone (Argon2id, seal, sign, write, fsync, rename)",
        &wa,
        None,
    );

    // 2. Restore, alternated with its floors and its parts.
    let bytes = fs::read(&file).expect("read backup");
    let sealed = seal(&kek, salt, &saved);
    let mut n = 0usize;
    let mut next_dir = || {
        n += 1;
        tmp.join(format!("restored-{n}"))
    };
    let restore = |to: &Path| {
        let (v, r) = restore_backup(&file, to, RestoreUnlock::Passphrase(pass)).expect("restore");
        assert!(r.is_complete(), "{:?}", r.lost);
        v
    };
    let (mut re, mut rfl, mut rfl_nokdf, mut topen, mut tload, mut aload) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for _ in 0..rounds {
        let to = next_dir();
        timed(&mut re, 1, || restore(&to));
        let _ = fs::remove_dir_all(&to);
        timed(&mut rfl, 1, || {
            let kek = kdf(pass, &sealed.salt);
            Automerge::load(&open_sealed(&kek, &sealed)).expect("load")
        });
        timed(&mut rfl_nokdf, 1, || {
            Automerge::load(&open_sealed(&kek, &sealed)).expect("load")
        });
        timed(&mut topen, 1, || {
            twin_backup::open(&bytes[..], Unlock::Passphrase(pass)).expect("open")
        });
        timed(&mut tload, 1, || {
            TwinDoc::load(&saved, std::iter::empty::<&[u8]>(), &[8; 16]).expect("load")
        });
        timed(&mut aload, 1, || Automerge::load(&saved).expect("load"));
    }
    report.time(
        "2 restore_backup into an empty folder, alternated",
        &re,
        None,
    );
    report.time(
        "2 floor: Argon2id + unwrap + decrypt 64 KiB chunks + Automerge::load",
        &rfl,
        None,
    );
    report.ratio(
        "2 restore / floor, one Argon2id each, alternated",
        median(&re),
        median(&rfl),
        Some(1.3),
    );
    report.ratio(
        "2 restore minus one median Argon2id / floor without Argon2id, alternated",
        minus(median(&re), a),
        median(&rfl_nokdf),
        Some(1.3),
    );
    report.time(
        "2 part: twin_backup::open of the file's bytes (Argon2id, decrypt all 5 sections)",
        &topen,
        None,
    );
    report.time("2 part: TwinDoc::load", &tload, None);
    report.time("2 part: Automerge::load", &aload, None);

    // 1 and 2 in criterion's loops.
    let (mut ex, mut fl, mut re, mut rfl) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut g = group(c, "1_export_100k");
    g.bench_function("vault_export_backup", |b| {
        b.iter_custom(|iters| {
            timed(&mut ex, iters, || {
                vault.export_backup(&file, pass, |_| {}).expect("export")
            })
        })
    });
    g.bench_function("floor_argon2id_save_seal", |b| {
        b.iter_custom(|iters| {
            timed(&mut fl, iters, || {
                let kek = kdf(pass, &salt);
                seal(&kek, salt, &plain.save())
            })
        })
    });
    g.finish();
    let mut g = group(c, "2_restore_100k");
    g.bench_function("restore_backup", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let to = next_dir();
                    let d = timed(&mut re, 1, || restore(&to));
                    let _ = fs::remove_dir_all(&to);
                    d
                })
                .sum()
        })
    });
    g.bench_function("floor_argon2id_decrypt_load", |b| {
        b.iter_custom(|iters| {
            timed(&mut rfl, iters, || {
                let kek = kdf(pass, &sealed.salt);
                Automerge::load(&open_sealed(&kek, &sealed)).expect("load")
            })
        })
    });
    g.finish();
    report.ratio(
        "1 export / floor, Argon2id on both sides, criterion loops",
        median(&ex),
        median(&fl),
        Some(1.3),
    );
    report.ratio(
        "2 restore / floor with one Argon2id, criterion loops",
        median(&re),
        median(&rfl),
        Some(1.3),
    );
    vault.lock().expect("lock");
}

/// Benchmark 3: two copies of one vault, each with `edits` edits of its own; a backup of
/// copy B merged into copy A.
fn bench_merge(
    c: &mut Criterion,
    tmp: &Path,
    pass: &Passphrase,
    edits: usize,
    report: &mut Report,
) {
    let built = Instant::now();
    let dir_a = tmp.join("merge-a");
    let dir_b = tmp.join("merge-b");
    let (mut a, _code) = Vault::init(&dir_a, pass).expect("init");
    let base = tmp.join("base.twinbackup");
    a.export_backup(&base, pass, |_| {}).expect("export base");
    let (mut b, _) = restore_backup(&base, &dir_b, RestoreUnlock::Passphrase(pass)).expect("b");
    let imports_a = add_edits(&mut a, edits, 0);
    let imports_b = add_edits(&mut b, edits, 3);
    let file_b = tmp.join("b.twinbackup");
    let size_b = b
        .export_backup(&file_b, pass, |_| {})
        .expect("export b")
        .size;
    let (saved_a, saved_b) = (a.saved_document(), b.saved_document());
    a.lock().expect("lock");
    b.lock().expect("lock");
    report.note(format!(
        "SETUP merge: two copies of one vault, {edits} field edits each ({imports_a} and {imports_b} imports), built in {:.1} s; saved documents {} and {} bytes; B's backup {size_b} bytes",
        built.elapsed().as_secs_f64(),
        saved_a.len(),
        saved_b.len()
    ));
    let sealed_b = {
        let salt: [u8; 16] = twin_crypto::random_array();
        seal(&kdf(pass, &salt), salt, &saved_b)
    };

    let mut n = 0usize;
    // A fresh unlocked copy of A, made outside the clock.
    let mut fresh_a = || {
        n += 1;
        let to = tmp.join(format!("merge-a-{n}"));
        copy_vault(&dir_a, &to);
        (Vault::unlock(&to, pass).expect("unlock"), to)
    };
    let mut changes = 0;
    let mut conflicts = 0;
    let mut merge_once = |samples: &mut Vec<Duration>| {
        let (mut v, to) = fresh_a();
        let d = timed(samples, 1, || {
            let r = v
                .merge_backup(&file_b, RestoreUnlock::Passphrase(pass), false)
                .expect("merge");
            changes = r.changes;
            conflicts = r.conflicts.len();
        });
        drop(v);
        let _ = fs::remove_dir_all(&to);
        d
    };
    let floor_once = |samples: &mut Vec<Duration>| {
        let mut here = Automerge::load(&saved_a).expect("load");
        let mut there = Automerge::load(&saved_b).expect("load");
        timed(samples, 1, || here.merge(&mut there).expect("merge").len())
    };
    let full_floor_once = |samples: &mut Vec<Duration>| {
        let mut here = Automerge::load(&saved_a).expect("load");
        timed(samples, 1, || {
            let kek = kdf(pass, &sealed_b.salt);
            let mut there = Automerge::load(&open_sealed(&kek, &sealed_b)).expect("load");
            here.merge(&mut there).expect("merge").len()
        })
    };
    let (mut m, mut f, mut ff) = (Vec::new(), Vec::new(), Vec::new());
    let mut g = group(c, "3_merge_2x50k");
    g.bench_function("vault_merge_backup", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| merge_once(&mut m)).sum())
    });
    g.bench_function("floor_automerge_merge", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| floor_once(&mut f)).sum())
    });
    g.bench_function("floor_argon2id_decrypt_load_merge", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| full_floor_once(&mut ff)).sum())
    });
    g.finish();
    report.note(format!(
        "MERGE brings {changes} changes from B; {conflicts} fields in conflict afterwards"
    ));
    report.time(
        "3 Vault::merge_backup of B's backup into a copy of A",
        &m,
        None,
    );
    report.time("3 floor: Automerge merge of the two documents", &f, None);
    report.time(
        "3 fuller floor: Argon2id + decrypt + Automerge::load of B + merge",
        &ff,
        None,
    );
    report.ratio(
        "3 merge_backup / Automerge merge",
        median(&m),
        median(&f),
        None,
    );
    report.ratio(
        "3 merge_backup / Argon2id + decrypt + load + merge",
        median(&m),
        median(&ff),
        None,
    );
}

fn main() {
    let full = full_run();
    let mut c = Criterion::default().configure_from_args();
    let mut report = Report::new(Unit::Ms);
    if !full {
        report.note(
            "TEST MODE: small twins and a few samples; the numbers below mean nothing".into(),
        );
    }
    let tmp = tempfile::Builder::new()
        .prefix("twin-bench-backup-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temporary folder");
    let dir: PathBuf = tmp.path().join("vault");
    let pass = Passphrase::new(PASSPHRASE.to_owned());
    let built = Instant::now();
    let (vault, edits, imports) = vault_with_edits(&dir, &pass, if full { EDITS } else { 1_400 });
    vault.lock().expect("lock");
    report.note(format!(
        "SETUP twin: {edits} field edits in {imports} imports, built in {:.1} s",
        built.elapsed().as_secs_f64()
    ));
    bench_export_restore(
        &mut c,
        tmp.path(),
        &dir,
        &pass,
        if full { ROUNDS } else { 2 },
        &mut report,
    );
    bench_merge(
        &mut c,
        tmp.path(),
        &pass,
        if full { HALF_EDITS } else { 700 },
        &mut report,
    );
    c.final_summary();
    report.summary("summary");
}
