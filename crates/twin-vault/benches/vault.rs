//! Benchmarks of the vault, each against a floor measured in the same run.
//!
//! Run with `cargo bench -p twin-vault --bench vault`; results and the machine are in
//! `docs/benchmarks.md`. Every benchmark prints a `RATIO` line: the vault's median over
//! the median of a floor (plain Automerge, plain SQLite) timed in this process, so noise on
//! a shared machine moves both sides together rather than comparing against a number
//! measured elsewhere.
//!
//! 1. Unlocking a twin with 100,000 field edits, Argon2id excluded, vs `Automerge::load` of
//!    the same saved bytes.
//! 2. One committed edit on that twin (median and p99) vs one raw SQLite `INSERT`
//!    transaction of the same size with `synchronous = FULL`.
//! 3. The SQLCipher store vs the same schema, pragmas and statements on plain SQLite:
//!    reads with the page cache warm, reads from a fresh connection, and a write batch.
//! 4. Argon2id (the passphrase KDF) on its own, against the rest of unlocking.
//!
//! Run as a test (`cargo test --benches`, or `cargo bench -- --test`) the same code runs
//! once on a small twin, so the benchmarks stay compiled and working without taking minutes.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{Automerge, ObjType, ROOT, ReadDoc};
use criterion::{Criterion, SamplingMode};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use twin_crypto::{DataKey, Passphrase};
use twin_store::{AuditRow, Batch, Store};
use twin_vault::Vault;

use support::{
    EDITS, PASSPHRASE, Report, Unit, full_run, median, ms, percentile, timed, vault_with_edits,
};

/// Change rows written to the store for the SQLCipher-vs-SQLite comparison, and their size.
const STORE_CHANGES: usize = 2_000;
const CHANGE_BYTES: usize = 500;
/// Alternated SQLCipher / plain rounds of benchmark 3.
const STORE_ROUNDS: usize = 300;
/// Samples of the manual loops that give the p99 of one edit.
const P99_SAMPLES: usize = 500;
/// Alternated unlock / `Automerge::load` pairs.
const UNLOCK_PAIRS: usize = 30;

/// Facts about the twin built for benchmarks 1 and 2.
struct Twin {
    edits: usize,
    imports: usize,
    build: Duration,
    /// `Automerge::save` of the document: what `lock` compacted into the store.
    saved: Vec<u8>,
}

/// Creates a vault in `dir` and makes `edits` field edits through the public API (see
/// `support::vault_with_edits`), then locks it, which compacts the document into one
/// snapshot.
fn build_twin(dir: &Path, pass: &Passphrase, edits: usize) -> Twin {
    let started = Instant::now();
    let (vault, done, imports) = vault_with_edits(dir, pass, edits);
    let saved = vault.saved_document();
    vault.lock().expect("lock");
    Twin {
        edits: done,
        imports,
        build: started.elapsed(),
        saved,
    }
}

// ---------------------------------------------------------------------------------------
// 1 and 4: unlocking, and Argon2id apart from it

struct UnlockResults {
    unlock: Vec<Duration>,
    kdf: Vec<Duration>,
}

fn bench_unlock(
    c: &mut Criterion,
    dir: &Path,
    pass: &Passphrase,
    twin: &Twin,
    pairs: usize,
    report: &mut Report,
) -> UnlockResults {
    let mut unlock = Vec::new();
    let mut kdf_in_unlock = Vec::new();
    let mut load = Vec::new();
    let mut g = c.benchmark_group("1_unlock_100k_edits");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("vault_unlock_with_key", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // Argon2id runs outside the clock: a fresh key per unlock, since
                // `unlock_with_key` consumes it.
                let k = Instant::now();
                let key = Vault::passphrase_key(dir, pass).expect("kdf");
                kdf_in_unlock.push(k.elapsed());
                let start = Instant::now();
                let vault = Vault::unlock_with_key(dir, key).expect("unlock");
                let d = start.elapsed();
                unlock.push(d);
                total += d;
                // Locking (WAL checkpoint, key-file anchor) is outside the clock too.
                vault.lock().expect("lock");
            }
            total
        })
    });
    g.bench_function("floor_automerge_load", |b| {
        b.iter_custom(|iters| {
            timed(&mut load, iters, || {
                Automerge::load(&twin.saved).expect("load")
            })
        })
    });
    g.finish();
    report.ratio(
        &format!(
            "1 unlock_with_key ({} edits) / Automerge::load, criterion loops",
            twin.edits
        ),
        median(&unlock),
        median(&load),
        Some(1.2),
    );

    // The same two, alternated pair by pair, so that drift on a shared machine (another
    // build starting, the CPU clock changing) lands on both sides.
    let (mut unlock_p, mut load_p) = (Vec::new(), Vec::new());
    for _ in 0..pairs {
        let key = Vault::passphrase_key(dir, pass).expect("kdf");
        let start = Instant::now();
        let vault = Vault::unlock_with_key(dir, key).expect("unlock");
        unlock_p.push(start.elapsed());
        vault.lock().expect("lock");
        timed(&mut load_p, 1, || {
            Automerge::load(&twin.saved).expect("load")
        });
    }
    report.ratio(
        &format!(
            "1 unlock_with_key ({} edits) / Automerge::load, {pairs} alternated pairs",
            twin.edits
        ),
        median(&unlock_p),
        median(&load_p),
        Some(1.2),
    );
    unlock.extend_from_slice(&unlock_p);
    UnlockResults {
        unlock,
        kdf: kdf_in_unlock,
    }
}

fn bench_kdf(
    c: &mut Criterion,
    dir: &Path,
    pass: &Passphrase,
    unlocked: &UnlockResults,
    report: &mut Report,
) {
    let mut kdf = Vec::new();
    let mut g = c.benchmark_group("4_argon2id");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("vault_passphrase_key", |b| {
        b.iter_custom(|iters| {
            timed(&mut kdf, iters, || {
                Vault::passphrase_key(dir, pass).expect("kdf")
            })
        })
    });
    g.finish();
    // The keys derived outside the clock in benchmark 1 are more samples of the same work.
    kdf.extend_from_slice(&unlocked.kdf);
    if let Some(m) = median(&kdf) {
        report.note(format!(
            "ARGON2ID passphrase_key: median {:.1} ms, p99 {:.1} ms over {} runs",
            ms(m),
            ms(percentile(&kdf, 0.99).expect("non-empty")),
            kdf.len()
        ));
    }
    report.ratio(
        "4 Argon2id / rest of unlock (unlock_with_key)",
        median(&kdf),
        median(&unlocked.unlock),
        None,
    );
    if let (Some(k), Some(u)) = (median(&kdf), median(&unlocked.unlock)) {
        report.note(format!(
            "ARGON2ID share of a full unlock: {:.0}% of {:.1} ms",
            100.0 * k.as_secs_f64() / (k + u).as_secs_f64(),
            ms(k + u)
        ));
    }
}

// ---------------------------------------------------------------------------------------
// 2: one committed edit

/// Size of what one `set` writes: the incremental Automerge change (made here the way the
/// twin makes it: one put with a provenance message) plus the audit row's columns.
fn edit_bytes(saved: &[u8]) -> usize {
    let mut doc = Automerge::load(saved).expect("load");
    let heads = doc.get_heads();
    let personal = match doc.get(ROOT, "personal") {
        Ok(Some((automerge::Value::Object(ObjType::Map), id))) => id,
        _ => panic!("the twin has a personal map"),
    };
    let address = match doc.get(&personal, "address") {
        Ok(Some((automerge::Value::Object(ObjType::Map), id))) => id,
        _ => panic!("the twin has an address map"),
    };
    let mut tx = doc.transaction();
    tx.put(&address, "town", "Bench Town A").expect("put");
    tx.commit_with(
        CommitOptions::default()
            .with_message(r#"{"v":1,"who":"you","why":"changed by you"}"#.to_owned())
            .with_time(1_780_000_000_000),
    );
    let change = doc.save_after(&heads).len();
    let line = "You changed your town (personal.address.town).";
    change + 8 + 8 + "edit".len() + line.len() + 32
}

fn floor_db(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open floor db");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         CREATE TABLE IF NOT EXISTS blobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, bytes BLOB NOT NULL) STRICT;",
    )
    .expect("floor schema");
    conn
}

fn floor_insert(conn: &mut Connection, blob: &[u8]) {
    let tx = conn.transaction().expect("begin");
    tx.execute("INSERT INTO blobs (bytes) VALUES (?1)", [blob])
        .expect("insert");
    tx.commit().expect("commit");
}

fn bench_edit(
    c: &mut Criterion,
    dir: &Path,
    pass: &Passphrase,
    twin: &Twin,
    full: bool,
    report: &mut Report,
) {
    const EDITED: [(&str, [&str; 2]); 3] = [
        ("personal.address.town", ["Bench Town A", "Bench Town B"]),
        (
            "personal.email",
            ["bench-a@example.org", "bench-b@example.org"],
        ),
        ("personal.full_name", ["Bench Person A", "Bench Person B"]),
    ];
    let mut vault = Vault::unlock(dir, pass).expect("unlock");
    let mut n = 0usize;
    // Each call sets the next of three fields to the value it did not hold: every call
    // changes the document and commits.
    let mut one_edit = move |vault: &mut Vault| {
        let (path, values) = EDITED[n % 3];
        let changed = vault.set(path, values[(n / 3) % 2], None).expect("set");
        assert!(changed, "every benchmarked edit changes a field");
        n += 1;
    };
    let size = edit_bytes(&twin.saved);
    let blob: Vec<u8> = (0..size).map(|i| (i * 131 % 251) as u8).collect();
    let mut floor = floor_db(&dir.join("floor-plain.db"));

    // First, median and p99 from a plain loop that alternates the two, so drift on the
    // machine hits both. Both start as a session does: the vault just unlocked (its WAL
    // emptied by the last lock), the floor a new file. A growing WAL costs more per fsync
    // than one reused after a checkpoint, so both sides start in the same state.
    let rounds = if full { P99_SAMPLES } else { 3 };
    let (mut set_p, mut insert_p) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        timed(&mut set_p, 1, || one_edit(&mut vault));
        timed(&mut insert_p, 1, || floor_insert(&mut floor, &blob));
    }
    report.note(format!(
        "EDIT one committed set on the {}-edit twin ({} samples): median {:.2} ms, p99 {:.2} ms; raw INSERT tx of {size} bytes: median {:.2} ms, p99 {:.2} ms",
        twin.edits,
        rounds,
        ms(median(&set_p).expect("samples")),
        ms(percentile(&set_p, 0.99).expect("samples")),
        ms(median(&insert_p).expect("samples")),
        ms(percentile(&insert_p, 0.99).expect("samples")),
    ));
    report.ratio(
        "2 vault.set / raw INSERT tx, median (alternated loop)",
        median(&set_p),
        median(&insert_p),
        None,
    );
    report.ratio(
        "2 vault.set / raw INSERT tx, p99 (alternated loop)",
        percentile(&set_p, 0.99),
        percentile(&insert_p, 0.99),
        None,
    );
    // Then criterion's own loops, on the twin as the loop above left it.
    let mut set = Vec::new();
    let mut insert = Vec::new();
    let mut g = c.benchmark_group("2_edit_on_100k_twin");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    g.bench_function("vault_set", |b| {
        b.iter_custom(|iters| timed(&mut set, iters, || one_edit(&mut vault)))
    });
    g.bench_function("floor_sqlite_insert_tx", |b| {
        b.iter_custom(|iters| timed(&mut insert, iters, || floor_insert(&mut floor, &blob)))
    });
    g.finish();
    report.ratio(
        &format!(
            "2 vault.set / raw INSERT tx, median (criterion loops, {} more edits)",
            set.len()
        ),
        median(&set),
        median(&insert),
        None,
    );

    vault.lock().expect("lock");
}

// ---------------------------------------------------------------------------------------
// 3: SQLCipher store vs plain SQLite

/// `twin-store`'s schema (migration 1), copied.
const SCHEMA: &str = "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT;
     CREATE TABLE snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), bytes BLOB NOT NULL) STRICT;
     CREATE TABLE changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, bytes BLOB NOT NULL) STRICT;
     CREATE TABLE audit (
         seq INTEGER PRIMARY KEY,
         at_ms INTEGER NOT NULL,
         kind TEXT NOT NULL,
         line TEXT NOT NULL,
         hash BLOB NOT NULL
     ) STRICT;";

/// What `Store::open` does, statement for statement, minus `PRAGMA key`: the same
/// connection flags, pragmas, migration check and length check. Keep in step with
/// `twin-store`.
fn plain_open(path: &Path) -> Connection {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).expect("open plain");
    conn.execute_batch("PRAGMA cipher_log_level = NONE;")
        .expect("log level");
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    })
    .expect("schema");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -65536;
         PRAGMA foreign_keys = ON;",
    )
    .expect("pragmas");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    if version == 0 {
        let tx = conn.transaction().expect("begin");
        tx.execute_batch(SCHEMA).expect("schema");
        tx.execute_batch("PRAGMA user_version = 1")
            .expect("version");
        tx.commit().expect("commit");
    } else {
        // `Store::check_length`: with an empty WAL, the file must hold every page counted.
        let wal = twin_store::files_of(path)[1].clone();
        if std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) == 0 {
            let pages: i64 = conn
                .query_row("PRAGMA page_count", [], |r| r.get(0))
                .expect("page_count");
            let size: i64 = conn
                .query_row("PRAGMA page_size", [], |r| r.get(0))
                .expect("page_size");
            let len = std::fs::metadata(path).expect("metadata").len();
            assert!(pages as u64 * size as u64 <= len, "the plain file is whole");
        }
    }
    conn
}

/// `Store::load_doc`, on the plain connection.
fn plain_load_doc(conn: &Connection) -> (Vec<u8>, Vec<Vec<u8>>) {
    let snapshot: Vec<u8> = conn
        .query_row("SELECT bytes FROM snapshot WHERE id = 1", [], |r| r.get(0))
        .optional()
        .expect("snapshot")
        .unwrap_or_default();
    let mut stmt = conn
        .prepare_cached("SELECT bytes FROM changes ORDER BY seq")
        .expect("prepare");
    let changes = stmt
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect::<Result<Vec<Vec<u8>>, _>>())
        .expect("changes");
    (snapshot, changes)
}

/// `Store::commit`, on the plain connection.
fn plain_commit(conn: &mut Connection, batch: &Batch) {
    let tx = conn.transaction().expect("begin");
    if let Some(bytes) = &batch.change {
        tx.execute("INSERT INTO changes (bytes) VALUES (?1)", [bytes])
            .expect("change");
    }
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO audit (seq, at_ms, kind, line, hash) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .expect("prepare");
        for r in &batch.audit {
            stmt.execute(rusqlite::params![
                r.seq as i64,
                r.at_ms,
                r.kind,
                r.line,
                r.hash.as_slice()
            ])
            .expect("audit");
        }
    }
    tx.commit().expect("commit");
}

/// The `seq`-th batch: one change block of `CHANGE_BYTES` noise-like bytes and one audit row.
fn batch(seq: u64) -> Batch {
    let mut x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let change = (0..CHANGE_BYTES)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&x.to_be_bytes());
    Batch {
        change: Some(change),
        audit: vec![AuditRow {
            seq,
            at_ms: 1_780_000_000_000 + seq as i64,
            kind: "edit".into(),
            line: "You changed your town (personal.address.town).".into(),
            hash,
        }],
        meta: Vec::new(),
    }
}

/// Which SQLCipher and crypto library the store runs on, and its per-page settings.
fn sqlcipher_build(path: &Path, key: &DataKey) -> String {
    let conn = Connection::open(path).expect("open");
    conn.execute_batch(&format!(
        "PRAGMA key = \"{}\";",
        key.sqlcipher_literal().as_str()
    ))
    .expect("key");
    let text = |sql: &str| {
        conn.query_row(sql, [], |r| r.get::<_, String>(0))
            .unwrap_or_else(|_| "?".into())
    };
    format!(
        "SQLCIPHER {} on {} {}; page {} bytes, HMAC {}",
        text("PRAGMA cipher_version"),
        text("PRAGMA cipher_provider"),
        text("PRAGMA cipher_provider_version"),
        text("PRAGMA cipher_page_size"),
        text("PRAGMA cipher_hmac_algorithm"),
    )
}

fn bench_store(
    c: &mut Criterion,
    dir: &Path,
    snapshot: &[u8],
    changes: usize,
    rounds: usize,
    report: &mut Report,
) {
    let key = DataKey::generate();
    let store_path = dir.join("store-sqlcipher.db");
    let plain_path = dir.join("store-plain.db");
    {
        let mut store = Store::create(&store_path, &key).expect("create store");
        let mut plain = plain_open(&plain_path);
        store.compact(snapshot).expect("snapshot");
        plain
            .execute(
                "INSERT OR REPLACE INTO snapshot (id, bytes) VALUES (1, ?1)",
                [snapshot],
            )
            .expect("snapshot");
        for seq in 1..=changes as u64 {
            store.commit(batch(seq)).expect("commit");
            plain_commit(&mut plain, &batch(seq));
        }
        // As after `Vault::lock`: the WAL moved into the main file and emptied.
        store.close().expect("close");
        plain
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("checkpoint");
    }
    // The write benchmarks get copies, so the files that are read stay the same size
    // however many batches criterion decides to write.
    let store_w_path = dir.join("store-sqlcipher-w.db");
    let plain_w_path = dir.join("store-plain-w.db");
    std::fs::copy(&store_path, &store_w_path).expect("copy");
    std::fs::copy(&plain_path, &plain_w_path).expect("copy");
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    report.note(sqlcipher_build(&store_path, &key));
    report.note(format!(
        "STORE workload: snapshot of {} bytes + {changes} change rows of {CHANGE_BYTES} bytes + {changes} audit rows; SQLCipher file {} bytes, plain file {} bytes (WALs checkpointed, as after a lock)",
        snapshot.len(),
        size(&store_path),
        size(&plain_path),
    ));
    let store = Store::open(&store_path, &key).expect("open");
    let plain = plain_open(&plain_path);
    let (a, b) = (store.load_doc().expect("load"), plain_load_doc(&plain));
    assert_eq!(a, b, "both databases hold the same document");
    drop((a, b));
    let mut store_w = Store::open(&store_w_path, &key).expect("open");
    let mut plain_w = plain_open(&plain_w_path);
    let (mut seq_s, mut seq_p) = (changes as u64, changes as u64);

    let (mut warm_s, mut warm_p) = (Vec::new(), Vec::new());
    let (mut cold_s, mut cold_p) = (Vec::new(), Vec::new());
    let (mut write_s, mut write_p) = (Vec::new(), Vec::new());
    let cold_store = || {
        let s = Store::open(&store_path, &key).expect("open");
        let doc = s.load_doc().expect("load");
        (s, doc)
    };
    let cold_plain = || {
        let p = plain_open(&plain_path);
        let doc = plain_load_doc(&p);
        (p, doc)
    };
    let mut g = c.benchmark_group("3_store_sqlcipher_vs_plain");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("sqlcipher_load_doc_warm", |b| {
        b.iter_custom(|iters| timed(&mut warm_s, iters, || store.load_doc().expect("load")))
    });
    g.bench_function("plain_load_doc_warm", |b| {
        b.iter_custom(|iters| timed(&mut warm_p, iters, || plain_load_doc(&plain)))
    });
    // A fresh connection: every page read misses the page cache (the OS cache is warm), so
    // SQLCipher decrypts and authenticates each page. This is what unlocking pays.
    g.bench_function("sqlcipher_open_and_load_doc_cold", |b| {
        b.iter_custom(|iters| timed(&mut cold_s, iters, cold_store))
    });
    g.bench_function("plain_open_and_load_doc_cold", |b| {
        b.iter_custom(|iters| timed(&mut cold_p, iters, cold_plain))
    });
    // The batch is made before the clock starts; only the durable commit is timed.
    g.bench_function("sqlcipher_commit_batch", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    seq_s += 1;
                    let mut one = Some(batch(seq_s));
                    timed(&mut write_s, 1, || {
                        store_w
                            .commit(one.take().expect("one batch"))
                            .expect("commit")
                    })
                })
                .sum()
        })
    });
    g.bench_function("plain_commit_batch", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    seq_p += 1;
                    let one = batch(seq_p);
                    timed(&mut write_p, 1, || plain_commit(&mut plain_w, &one))
                })
                .sum()
        })
    });
    g.finish();
    for (what, s, p) in [
        ("load_doc, page cache warm", &warm_s, &warm_p),
        ("open + load_doc, cache cold", &cold_s, &cold_p),
        ("commit one batch", &write_s, &write_p),
    ] {
        report.ratio(
            &format!("3 SQLCipher / plain, {what}, criterion loops"),
            median(s),
            median(p),
            Some(1.1),
        );
    }

    // The same three, alternated SQLCipher / plain one operation at a time.
    let (mut warm_s, mut warm_p) = (Vec::new(), Vec::new());
    let (mut cold_s, mut cold_p) = (Vec::new(), Vec::new());
    let (mut write_s, mut write_p) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        timed(&mut warm_s, 1, || store.load_doc().expect("load"));
        timed(&mut warm_p, 1, || plain_load_doc(&plain));
        timed(&mut cold_s, 1, cold_store);
        timed(&mut cold_p, 1, cold_plain);
        seq_s += 1;
        let mut one = Some(batch(seq_s));
        timed(&mut write_s, 1, || {
            store_w
                .commit(one.take().expect("one batch"))
                .expect("commit")
        });
        seq_p += 1;
        let one = batch(seq_p);
        timed(&mut write_p, 1, || plain_commit(&mut plain_w, &one));
    }
    for (what, s, p) in [
        ("load_doc, page cache warm", &warm_s, &warm_p),
        ("open + load_doc, cache cold", &cold_s, &cold_p),
        ("commit one batch", &write_s, &write_p),
    ] {
        report.ratio(
            &format!("3 SQLCipher / plain, {what}, {rounds} alternated rounds"),
            median(s),
            median(p),
            Some(1.1),
        );
    }
    store_w.close().expect("close");
    store.close().expect("close");
}

fn main() {
    let full = full_run();
    let mut c = Criterion::default().configure_from_args();
    let mut report = Report::new(Unit::Ms);

    let tmp = tempfile::Builder::new()
        .prefix("twin-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temporary folder");
    let dir = tmp.path().join("vault");
    let pass = Passphrase::new(PASSPHRASE.to_owned());
    let edits = if full { EDITS } else { 1_400 };
    if !full {
        report.note(
            "TEST MODE: a small twin and one sample each; the ratios below mean nothing".into(),
        );
    }
    let twin = build_twin(&dir, &pass, edits);
    report.note(format!(
        "SETUP twin: {} field edits in {} imports (changes) built in {:.1} s; saved document {} bytes",
        twin.edits,
        twin.imports,
        twin.build.as_secs_f64(),
        twin.saved.len()
    ));

    let unlocked = bench_unlock(
        &mut c,
        &dir,
        &pass,
        &twin,
        if full { UNLOCK_PAIRS } else { 1 },
        &mut report,
    );
    bench_kdf(&mut c, &dir, &pass, &unlocked, &mut report);
    bench_edit(&mut c, &dir, &pass, &twin, full, &mut report);
    bench_store(
        &mut c,
        tmp.path(),
        &twin.saved,
        if full { STORE_CHANGES } else { 50 },
        if full { STORE_ROUNDS } else { 1 },
        &mut report,
    );

    c.final_summary();
    report.summary("summary (every ratio against a floor measured in this run)");
}
