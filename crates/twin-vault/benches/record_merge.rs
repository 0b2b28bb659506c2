//! Benchmarks of merging one verified agency record into a twin of 100,000 field edits.
//!
//! Run with `cargo bench -p twin-vault --bench record_merge`; results and the machine are
//! in `docs/benchmarks.md`.
//!
//! What the vault does with a record (`Vault::import_record`, then `keep_record`): it opens
//! and checks it (`twin_protocol::open_record`), then writes it as **one** ledger entry —
//! key: the record id; value: the JSON text `{"type", "grant", "issued_at", "signed"
//! (base64), "hidden": false}` — into the map `records.<agency>` with
//! `TwinDoc::ledger_put` (a **local** Automerge transaction on the document in memory, one
//! `put` operation), and commits the change durably. It never applies the record as a
//! remote change. Measured here, all in one process:
//!
//! 1. `TwinDoc::ledger_put(&["records", agency], &[(record_id, json_text)])` on a twin
//!    loaded from the saved bytes of a vault with 100,000 field edits (goal: ≤ 100 µs),
//!    against the floor: a local transaction on a plain `automerge::Automerge` loaded from
//!    the same bytes that finds the existing agency map and puts the same string into it
//!    under the same key, committed with the same message and time.
//! 2. Everything `keep_record` does in memory: the duplicate check
//!    (`ledger_has(&["records", agency], id)`, one lookup per copy of the map), the JSON
//!    text, `ledger_put`, and the incremental `save_after` that the
//!    commit writes; then the duplicate check alone at the number of records the map has
//!    reached, beside one Automerge `get` of the record id for reference.
//! 3. `open_record` on its own (HPKE open, COSE, `verify_strict`, scope checks).
//! 4. The other path, for comparison: the same record change applied to the 100,000-edit
//!    document as a *remote* change (`load_incremental`), as a merge between computers
//!    would. The vault does not take this path for a record.
//! 5. `Vault::import_record` end to end on the 100,000-edit vault, durable commit
//!    included (reported only).
//!
//! Run as a test (`cargo test --benches`, or `cargo bench -- --test`) the same code runs
//! on a small twin with a few samples, so it stays compiled and working.

mod support;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use criterion::{Criterion, SamplingMode};
use serde_json::{Value, json};
use twin_crypto::Passphrase;
use twin_doc::{Provenance, TwinDoc};
use twin_protocol::{
    AgencyCard, Anchor, CardKey, Grant, GrantBuilder, GrantClaims, KeyPair, Purpose, RecordClaims,
    TrustList, VerifiedRecord, open_record,
};
use twin_types::{AgencyId, FieldPath, MessageId};
use twin_vault::{ShareRequest, Vault};

use support::{EDITS, PASSPHRASE, Report, Unit, full_run, median, timed, us, vault_with_edits};

/// Alternated rounds of benchmarks 1–3: each round adds one record to each document.
const ROUNDS: usize = 1_000;
/// Remote changes applied in the plain loop of benchmark 4.
const REMOTE_ROUNDS: usize = 30;
/// Records imported through the vault in benchmark 5.
const VAULT_IMPORTS: usize = 200;
const AGENCY: &str = "bench-benefits";
const RECORD_TYPE: &str = "benefit-award/v1";
const DAY: i64 = 86_400;

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// A trust anchor, an agency card it signed, and the agency's key.
struct Agency {
    trust: TrustList,
    card: AgencyCard,
    card_bytes: Vec<u8>,
    key: KeyPair,
}

fn agency(now: i64) -> Agency {
    let anchor = KeyPair::from_seeds([1; 32], [2; 32]);
    let key = KeyPair::from_seeds([3; 32], [4; 32]);
    let trust = TrustList {
        anchors: vec![Anchor {
            id: "bench-anchor".into(),
            name: "Benchmark trust anchor".into(),
            public_key: anchor.sign_public(),
            not_before: now - 365 * DAY,
            not_after: now + 365 * DAY,
            sandbox: false,
        }],
        revoked: vec![],
    };
    let card = AgencyCard {
        v: 1,
        agency: AgencyId::parse(AGENCY).expect("agency id"),
        name: "Benchmark Benefits Agency".into(),
        endpoint: "http://127.0.0.1:8700".into(),
        sandbox: false,
        keys: vec![CardKey {
            kid: "k1".into(),
            sign: key.sign_public(),
            seal: key.seal_public(),
            not_after: now + 180 * DAY,
        }],
        record_types: vec![RECORD_TYPE.into()],
        purposes: vec![Purpose {
            code: "pension-credit-check".into(),
            words: "Pension Credit check".into(),
            fields: vec![
                "personal.date_of_birth".into(),
                "personal.address.postcode".into(),
            ],
            legal_basis: "State Pension Credit Act 2002".into(),
            retention_days: 30,
        }],
        expires_at: now + 365 * DAY,
    };
    let card_bytes = card.sign("bench-anchor", &anchor).0;
    Agency {
        trust,
        card,
        card_bytes,
        key,
    }
}

/// A benefit award, signed by the agency and sealed to the citizen of `grant`.
fn award(agency: &Agency, grant: &GrantClaims, issued_at: i64) -> Vec<u8> {
    RecordClaims {
        v: 1,
        record_id: MessageId::random(),
        record_type: RECORD_TYPE.into(),
        agency: agency.card.agency.clone(),
        subject: grant.citizen_sign,
        grant_id: grant.grant_id,
        issued_at,
        body: json!({
            "award": "Pension Credit",
            "weekly_amount": 218.15,
            "from": "2026-12-01",
            "reference": "PC-2026-0042-7781",
            "decided_by": "Benchmark Benefits Agency, Leeds office"
        })
        .to_string(),
    }
    .issue("k1", &agency.key, &grant.citizen_seal)
    .expect("record")
}

/// What the benchmarks start from.
struct Setup {
    edits: usize,
    imports: usize,
    build: Duration,
    /// `Vault::saved_document` after the imports, the agency, the grant and one record.
    saved: Vec<u8>,
    /// The vault's own Automerge actor.
    actor: Vec<u8>,
    /// The grant the vault made, whose records it accepts.
    grant: GrantClaims,
}

/// Creates a vault in `dir`, makes `edits` field edits through `Vault::import` (fragments
/// of up to 14 fields, as in `benches/vault.rs`: `support::vault_with_edits`), adds the
/// agency, shares two fields with it allowing records back, imports one record (so
/// `records.<agency>` exists, as for a citizen who already has one), then locks it, which
/// compacts the document.
fn build_vault(dir: &Path, pass: &Passphrase, edits: usize, agency: &Agency) -> Setup {
    let started = Instant::now();
    let (mut vault, done, imports) = vault_with_edits(dir, pass, edits);
    vault
        .add_agency(&agency.card_bytes, &agency.trust)
        .expect("add agency");
    let shared = vault
        .share(
            &ShareRequest {
                agency: agency.card.agency.clone(),
                fields: vec![
                    "personal.date_of_birth".into(),
                    "personal.address.postcode".into(),
                ],
                purpose: "pension-credit-check".into(),
                duration_secs: 30 * DAY,
                records: vec![RECORD_TYPE.into()],
                records_secs: 365 * DAY,
                single_use: false,
            },
            &agency.trust,
        )
        .expect("share");
    let grant = Grant::from_own_bytes(&shared.bytes)
        .expect("own grant")
        .claims;
    vault
        .import_record(&award(agency, &grant, now_secs()))
        .expect("first record");
    let saved = vault.saved_document();
    vault.lock().expect("lock");
    let doc = TwinDoc::load(&saved, std::iter::empty::<&[u8]>(), &[0xEE; 16]).expect("load");
    let devices = doc.devices();
    assert_eq!(devices.len(), 1, "one computer wrote this twin");
    Setup {
        edits: done,
        imports,
        build: started.elapsed(),
        saved,
        actor: hex::decode(&devices[0]).expect("actor hex"),
        grant,
    }
}

/// The value `Vault::keep_record` stores for a record: the JSON text of its one entry,
/// built as `keep_record` builds it.
fn record_entry(r: &VerifiedRecord) -> String {
    json!({
        "type": r.claims.record_type,
        "grant": r.claims.grant_id.to_string(),
        "issued_at": r.claims.issued_at,
        "signed": B64.encode(&r.signed),
        "hidden": false,
    })
    .to_string()
}

/// The `n`-th record id of a run: distinct, so every write adds a record.
fn record_id(n: u64) -> String {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&0xBE7C_0000_0000_0000u64.to_be_bytes());
    b[8..].copy_from_slice(&n.to_be_bytes());
    MessageId::from_bytes(b).to_string()
}

fn map_in(tx: &impl ReadDoc, parent: &ObjId, key: &str) -> ObjId {
    match tx.get(parent, key) {
        Ok(Some((automerge::Value::Object(ObjType::Map), id))) => id,
        other => panic!("{key} is not a map: {other:?}"),
    }
}

/// The floor: one local transaction on a plain Automerge document that finds the existing
/// map `records.<agency>` and puts the record's JSON text into it under the record id (one
/// operation), committed with the same message and time as the twin's change.
fn floor_put(doc: &mut Automerge, id: &str, entry: &str, message: &str, at_ms: i64) {
    let mut tx = doc.transaction();
    let records = map_in(&tx, &ROOT, "records");
    let agency = map_in(&tx, &records, AGENCY);
    tx.put(&agency, id, ScalarValue::Str(entry.into()))
        .expect("put");
    tx.commit_with(
        CommitOptions::default()
            .with_message(message.to_owned())
            .with_time(at_ms),
    );
}

#[allow(clippy::too_many_arguments)]
/// Benchmarks 1–3: the merge in memory, its floor, `keep_record`'s in-memory work and
/// `open_record`, first alternated round by round, then in criterion's loops.
fn bench_in_memory(
    c: &mut Criterion,
    setup: &Setup,
    record: &[u8],
    citizen: &KeyPair,
    card: &AgencyCard,
    grant: &GrantClaims,
    rounds: usize,
    report: &mut Report,
) {
    let load_twin =
        || TwinDoc::load(&setup.saved, std::iter::empty::<&[u8]>(), &setup.actor).expect("load");
    // Three copies of the same document: one per writer, so that each gains only its own
    // records.
    let mut twin = load_twin();
    let mut keep = load_twin();
    let mut plain = Automerge::load(&setup.saved).expect("load");
    plain.set_actor(ActorId::from(setup.actor.as_slice()));
    let verified = open_record(record, citizen, card, grant).expect("record");
    let entry = record_entry(&verified);
    let prov = Provenance {
        who: "you".into(),
        why: "received a record".into(),
        at_ms: now_secs() * 1000,
    };
    let message = json!({ "v": 1, "who": prov.who, "why": prov.why }).to_string();
    report.note(format!(
        "RECORD entry: one string of {} bytes under a {}-character key (signed COSE_Sign1 {} bytes, {} in base64)",
        entry.len(),
        record_id(0).len(),
        verified.signed.len(),
        B64.encode(&verified.signed).len()
    ));

    let mut n_twin = 0u64;
    let mut put_twin = |twin: &mut TwinDoc| {
        n_twin += 1;
        let id = record_id(n_twin);
        twin.ledger_put(
            &["records", AGENCY],
            &[(id.as_str(), Value::String(entry.clone()))],
            &prov,
        )
        .expect("ledger_put");
    };
    let mut n_plain = 0u64;
    let mut put_plain = |doc: &mut Automerge| {
        n_plain += 1;
        floor_put(doc, &record_id(n_plain), &entry, &message, prov.at_ms);
    };
    // `keep_record` minus the audit line and the durable commit: the duplicate check, the
    // entry's JSON text, `ledger_put`, then the incremental save that `commit` stores.
    let mut n_keep = 0u64;
    let mut saved_heads = keep.heads();
    let mut keep_in_memory = |doc: &mut TwinDoc| {
        n_keep += 1;
        let id = record_id(n_keep);
        let path = ["records", AGENCY];
        assert!(!doc.ledger_has(&path, &id), "a new record");
        let entry = record_entry(&verified);
        doc.ledger_put(&path, &[(id.as_str(), Value::String(entry))], &prov)
            .expect("ledger_put");
        let change = doc.save_after(&saved_heads);
        saved_heads = doc.heads();
        change
    };
    let mut open = || open_record(record, citizen, card, grant).expect("record");

    let (mut t, mut f, mut k, mut o) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        timed(&mut t, 1, || put_twin(&mut twin));
        timed(&mut f, 1, || put_plain(&mut plain));
        timed(&mut k, 1, || keep_in_memory(&mut keep));
        timed(&mut o, 1, &mut open);
    }
    report.time(
        &format!(
            "1 TwinDoc::ledger_put of one record on the {}-edit twin, {rounds} alternated rounds",
            setup.edits
        ),
        &t,
        Some(100.0),
    );
    report.time("1 floor: Automerge local transaction, same put", &f, None);
    report.ratio(
        "1 ledger_put / Automerge local transaction, alternated",
        median(&t),
        median(&f),
        None,
    );
    let tenth = (rounds / 10).max(1);
    report.note(format!(
        "  drift: ledger_put median {:.1} us over the first {tenth} rounds, {:.1} us over the last {tenth} (records.{AGENCY} grows from 1 to {} records)",
        us(median(&t[..tenth]).expect("samples")),
        us(median(&t[t.len() - tenth..]).expect("samples")),
        rounds + 1,
    ));
    report.time(
        "2 keep_record in memory (ledger_has + JSON text + ledger_put + save_after)",
        &k,
        None,
    );
    let few = k.len().min(10);
    report.note(format!(
        "  drift: keep_record median {:.1} us over the first {few} rounds, {:.1} us over the first {tenth}, {:.1} us over the last {tenth} (records.{AGENCY} grows by one record a round)",
        us(median(&k[..few]).expect("samples")),
        us(median(&k[..tenth]).expect("samples")),
        us(median(&k[k.len() - tenth..]).expect("samples")),
    ));
    duplicate_check(&keep, "after the alternated rounds", report);
    report.time(
        "3 open_record (HPKE open, COSE, verify_strict, scope)",
        &o,
        None,
    );
    if let (Some(open), Some(keep)) = (median(&o), median(&k)) {
        report.note(format!(
            "TIME 1+2+3 open_record + keep_record in memory (sum of medians): {:.1} us",
            us(open + keep)
        ));
    }

    // The same in criterion's loops. Few iterations, so the documents grow by a few
    // thousand records at most.
    let (mut t, mut f, mut k, mut o) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut g = c.benchmark_group("1_record_merge_100k_twin");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(400));
    g.bench_function("twin_ledger_put", |b| {
        b.iter_custom(|iters| timed(&mut t, iters, || put_twin(&mut twin)))
    });
    g.bench_function("floor_automerge_local_tx", |b| {
        b.iter_custom(|iters| timed(&mut f, iters, || put_plain(&mut plain)))
    });
    g.bench_function("keep_record_in_memory", |b| {
        b.iter_custom(|iters| timed(&mut k, iters, || keep_in_memory(&mut keep)))
    });
    g.bench_function("open_record", |b| {
        b.iter_custom(|iters| timed(&mut o, iters, &mut open))
    });
    g.finish();
    report.ratio(
        &format!(
            "1 ledger_put / Automerge local transaction, criterion loops ({} + {} more records)",
            t.len(),
            f.len()
        ),
        median(&t),
        median(&f),
        None,
    );
    report.time("1 TwinDoc::ledger_put, criterion loops", &t, Some(100.0));
    let tenth = (t.len() / 10).max(1);
    report.note(format!(
        "  drift: ledger_put median {:.1} us over the first {tenth} of those, {:.1} us over the last {tenth}",
        us(median(&t[..tenth]).expect("samples")),
        us(median(&t[t.len() - tenth..]).expect("samples")),
    ));
    report.time("2 keep_record in memory, criterion loops", &k, None);
    let tenth = (k.len() / 10).max(1);
    report.note(format!(
        "  drift: keep_record median {:.1} us over the first {tenth} of those, {:.1} us over the last {tenth}",
        us(median(&k[..tenth]).expect("samples")),
        us(median(&k[k.len() - tenth..]).expect("samples")),
    ));
    duplicate_check(&keep, "after criterion's loops", report);
    report.time("3 open_record, criterion loops", &o, None);
}

/// Times `keep_record`'s duplicate check on its own — `ledger_has`, one lookup per copy
/// of the agency map — on `doc` as it stands, and says how many records the map holds.
/// For reference (not a floor of the same work): one Automerge `get` of the record id in
/// that map, on a plain document loaded from `doc`'s saved bytes.
fn duplicate_check(doc: &TwinDoc, when: &str, report: &mut Report) {
    let path = ["records", AGENCY];
    let held = doc.ledger_get(&path).len();
    let plain = Automerge::load(&doc.save()).expect("load");
    let records = map_in(&plain, &ROOT, "records");
    let agency = map_in(&plain, &records, AGENCY);
    let (mut check, mut get) = (Vec::new(), Vec::new());
    for n in 0..30 {
        let id = record_id(u64::MAX - n);
        timed(&mut check, 1, || doc.ledger_has(&path, &id));
        timed(&mut get, 1, || {
            plain.get(&agency, id.as_str()).expect("get").is_some()
        });
    }
    report.time(
        &format!("2a duplicate check alone (ledger_has, {held} records held), {when}"),
        &check,
        None,
    );
    report.time(
        "2a for reference: Automerge get of the one record id in that map",
        &get,
        None,
    );
}

/// Benchmark 4: the record's change applied as a remote change. A second document (another
/// computer, another actor) makes the change; the timed part is `load_incremental` of its
/// bytes into a document that holds the 100,000-edit history.
fn bench_remote(
    c: &mut Criterion,
    setup: &Setup,
    record: &VerifiedRecord,
    rounds: usize,
    report: &mut Report,
) {
    let mut other = Automerge::load(&setup.saved).expect("load");
    other.set_actor(ActorId::from([0x0A; 16].as_slice()));
    let mut here = Automerge::load(&setup.saved).expect("load");
    here.set_actor(ActorId::from(setup.actor.as_slice()));
    let entry = record_entry(record);
    // `load_incremental` counts operations: the record is one `put`.
    let ops = 1;
    let message = r#"{"v":1,"who":"you","why":"received a record"}"#;
    let mut n = 1_000_000u64;
    // One record change made on the other computer, as the bytes a sync would carry.
    let mut next_change = move || {
        n += 1;
        let heads = other.get_heads();
        floor_put(
            &mut other,
            &record_id(n),
            &entry,
            message,
            now_secs() * 1000,
        );
        other.save_after(&heads)
    };
    let bytes = next_change();
    report.note(format!("REMOTE one record change: {} bytes", bytes.len()));
    let apply = |here: &mut Automerge, bytes: &[u8]| {
        let applied = here.load_incremental(bytes).expect("apply");
        assert_eq!(applied, ops, "the one change applied");
    };
    let mut samples = Vec::new();
    timed(&mut samples, 1, || apply(&mut here, &bytes));
    for _ in 1..rounds {
        let bytes = next_change();
        timed(&mut samples, 1, || apply(&mut here, &bytes));
    }
    report.time(
        &format!(
            "4 remote path: load_incremental of one record change into the {}-edit document, the first {rounds} since load (not what the vault does)",
            setup.edits
        ),
        &samples,
        None,
    );
    let mut crit = Vec::new();
    let mut g = c.benchmark_group("4_remote_change_100k");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("automerge_load_incremental_one_change", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let bytes = next_change();
                    timed(&mut crit, 1, || apply(&mut here, &bytes))
                })
                .sum()
        })
    });
    g.finish();
    report.time(
        &format!(
            "4 remote path, criterion loops (changes {} to {} applied since load)",
            rounds + 1,
            rounds + crit.len()
        ),
        &crit,
        None,
    );
    let tenth = (crit.len() / 10).max(1);
    report.note(format!(
        "  drift: median {:.1} us over the first {tenth} of those, {:.1} us over the last {tenth}",
        us(median(&crit[..tenth]).expect("samples")),
        us(median(&crit[crit.len() - tenth..]).expect("samples")),
    ));
}

/// Benchmark 5: `Vault::import_record` on the unlocked 100,000-edit vault: everything it
/// does, its durable commit included. Each record is made before the clock starts.
fn bench_vault_import(
    dir: &Path,
    pass: &Passphrase,
    agency: &Agency,
    grant: &GrantClaims,
    imports: usize,
    report: &mut Report,
) {
    let mut vault = Vault::unlock(dir, pass).expect("unlock");
    let mut samples = Vec::new();
    for _ in 0..imports {
        let record = award(agency, grant, now_secs());
        timed(&mut samples, 1, || {
            vault.import_record(&record).expect("import_record")
        });
    }
    report.time(
        "5 Vault::import_record end to end, durable commit included (reported only)",
        &samples,
        None,
    );
    let tenth = (samples.len() / 10).max(1);
    report.note(format!(
        "  drift: median {:.1} us over the first {tenth} imports, {:.1} us over the last {tenth} (records.{AGENCY} grows from 1 to {} records)",
        us(median(&samples[..tenth]).expect("samples")),
        us(median(&samples[samples.len() - tenth..]).expect("samples")),
        imports + 1,
    ));
    vault.lock().expect("lock");
}

fn main() {
    let full = full_run();
    let mut c = Criterion::default().configure_from_args();
    let mut report = Report::new(Unit::Us);
    if !full {
        report.note(
            "TEST MODE: a small twin and a few samples; the numbers below mean nothing".into(),
        );
    }
    let tmp = tempfile::Builder::new()
        .prefix("twin-bench-records-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temporary folder");
    let dir = tmp.path().join("vault");
    let pass = Passphrase::new(PASSPHRASE.to_owned());
    let now = now_secs();
    let agency = agency(now);
    let setup = build_vault(&dir, &pass, if full { EDITS } else { 1_400 }, &agency);
    report.note(format!(
        "SETUP twin: {} field edits in {} imports, plus an agency, a grant and one record, built in {:.1} s; saved document {} bytes",
        setup.edits,
        setup.imports,
        setup.build.as_secs_f64(),
        setup.saved.len()
    ));

    // `open_record` needs the citizen's pairwise key, which the vault keeps in its store:
    // a grant made here with a known key stands in for it (same card, same sizes).
    let citizen = KeyPair::pairwise(&[9; 32], &agency.card.agency);
    let grant = GrantBuilder::new(&agency.card, "pension-credit-check", 30 * DAY)
        .field(
            FieldPath::parse("personal.address.postcode").expect("path"),
            json!("LS1 4AP"),
        )
        .records(vec![RECORD_TYPE.into()], now + 365 * DAY)
        .build(&citizen, now)
        .expect("grant")
        .claims;
    let record = award(&agency, &grant, now);
    bench_in_memory(
        &mut c,
        &setup,
        &record,
        &citizen,
        &agency.card,
        &grant,
        if full { ROUNDS } else { 3 },
        &mut report,
    );
    let verified = open_record(&record, &citizen, &agency.card, &grant).expect("record");
    bench_remote(
        &mut c,
        &setup,
        &verified,
        if full { REMOTE_ROUNDS } else { 2 },
        &mut report,
    );
    bench_vault_import(
        &dir,
        &pass,
        &agency,
        &setup.grant,
        if full { VAULT_IMPORTS } else { 3 },
        &mut report,
    );

    c.final_summary();
    report.summary("summary");
}
