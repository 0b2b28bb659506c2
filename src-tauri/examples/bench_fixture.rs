//! The desktop app's benchmark fixture and its backend floor (`ui/tests/bench/`,
//! `docs/benchmarks.md`, section "Desktop app").
//!
//! ```text
//! bench_fixture build DIR [--records N]   a vault with a full twin and N signed records
//! bench_fixture floor DIR [--runs N]      the backend's own time for what the app does
//! ```
//!
//! `build` creates a vault in DIR (which must not exist) with the passphrase
//! [`PASSPHRASE`]: every field of `schemas/twin/fields.schema.json` filled (health and
//! social opted in), a few later edits, a sandbox agency card signed by the sandbox anchor
//! (`packaging/trust/sandbox/anchor-private.json`), a grant allowing `benefit-award/v1`
//! records back, and N (default 10,000) records signed by that agency, each imported with
//! `Vault::import_record`, one durable commit each, as an agency's records arrive. It then
//! locks the vault (which compacts the document) and prints what that took.
//!
//! `floor` copies DIR to a temporary folder (the app gets a fresh copy per run too: an
//! unlock writes an audit line) and times, in this process, exactly what the app's
//! commands run for the measured steps: `Vault::passphrase_key` (Argon2id) and
//! `Vault::unlock_with_key` (the `unlock` command), `view::twin` (`twin`),
//! `Vault::agencies` (`agencies`) and `Vault::records` (`records`), each followed by
//! `serde_json::to_vec` of its answer, as Tauri serialises a command's answer. It prints
//! one line `BENCH_FLOOR {json}` per run, with milliseconds.
//!
//! Built in the workspace's debug profile (workspace crates unoptimised, dependencies at
//! opt-level 2), like the app that `make app` builds; with `--release`, like the release app.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use citizen_twin::view;
use serde_json::json;
use twin_protocol::{AgencyCard, CardKey, Grant, KeyPair, Purpose, RecordClaims};
use twin_types::{AgencyId, Category, MessageId};
use twin_vault::{Passphrase, ShareRequest, Vault};

/// The fixture's passphrase (the benchmark types it into the unlock screen).
pub const PASSPHRASE: &str = "bench fixture ten thousand records";

const ANCHOR: &str = include_str!("../../packaging/trust/sandbox/anchor-private.json");
const AGENCY: &str = "sandbox-benefits";
const RECORD_TYPE: &str = "benefit-award/v1";
const DAY: i64 = 86_400;

type Fail = Box<dyn std::error::Error>;

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn seed(hex_text: &str) -> Result<[u8; 32], Fail> {
    let bytes = hex_text.as_bytes();
    if bytes.len() != 64 {
        return Err("a seed is 64 hex digits".into());
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(pair)?, 16)?;
    }
    Ok(out)
}

/// The sandbox anchor's signing key (public on purpose: sandbox only).
fn sandbox_anchor() -> Result<(String, KeyPair), Fail> {
    let v: serde_json::Value = serde_json::from_str(ANCHOR)?;
    let id = v["id"].as_str().ok_or("anchor id")?.to_owned();
    let sign = seed(v["sign_seed"].as_str().ok_or("anchor seed")?)?;
    Ok((id, KeyPair::from_seeds(sign, [0; 32])))
}

fn card(agency_key: &KeyPair, now: i64) -> Result<AgencyCard, Fail> {
    Ok(AgencyCard {
        v: 1,
        agency: AgencyId::parse(AGENCY)?,
        name: "Sandbox Benefits Agency".into(),
        endpoint: "http://127.0.0.1:8700".into(),
        sandbox: true,
        keys: vec![CardKey {
            kid: "k1".into(),
            sign: agency_key.sign_public(),
            seal: agency_key.seal_public(),
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
            legal_basis: "State Pension Credit Act 2002, section 1".into(),
            retention_days: 30,
        }],
        expires_at: now + 365 * DAY,
    })
}

/// Every field of `schemas/twin/fields.schema.json`.
fn full_twin() -> serde_json::Value {
    json!({
        "personal": {
            "full_name": "Alexandra Margaret Smith",
            "date_of_birth": "1958-03-14",
            "email": "alex.smith@example.org",
            "phone": "+44 113 496 0000",
            "address": { "line1": "14 Park Lane", "town": "Leeds", "postcode": "LS1 4AP" },
            "household": { "size": 2 },
            "preferences": { "language": "en", "contact_channel": "email" }
        },
        "government": {
            "tax": { "reference": "AB123456C", "annual_income": 18250.5 },
            "licences": { "driving": { "number": "SMITH758143AM9IJ", "expires": "2031-06-30" } }
        },
        "health": {
            "gp_practice": "Park Lane Surgery",
            "immunisations": [
                { "name": "Flu", "date": "2025-10-01" },
                { "name": "COVID-19 booster", "date": "2025-10-15" },
                { "name": "Shingles", "date": "2024-04-02" }
            ],
            "medications": [
                { "name": "Metformin", "dose": "500 mg", "schedule": "twice a day" },
                { "name": "Atorvastatin", "dose": "20 mg", "schedule": "at night" }
            ]
        },
        "social": {
            "feedback": "Letters in large print, please; phone calls after 10 am."
        }
    })
}

const BENEFITS: [&str; 5] = [
    "Pension Credit",
    "Winter Fuel Payment",
    "Housing Benefit",
    "Council Tax Reduction",
    "Attendance Allowance",
];
const DECISIONS: [&str; 4] = ["awarded", "changed", "refused", "ended"];

/// The `n`th record's body (`schemas/records/benefit-award.v1.schema.json`).
fn award_body(n: usize, issued_at: i64) -> String {
    let date = twin_vault::human_date(issued_at);
    json!({
        "benefit": BENEFITS[n % BENEFITS.len()],
        "decision": DECISIONS[n % DECISIONS.len()],
        "amount": 50.0 + (n % 400) as f64 * 0.75,
        "currency": "GBP",
        "period": "week",
        "effective_from": format!("{}", 2018 + (n % 9)) + "-04-06",
        "reason": format!("Decision {n} of the Sandbox Benefits Agency, made on {date} after the review of your circumstances."),
        "appeal": "Ask for a mandatory reconsideration within one month of this decision."
    })
    .to_string()
}

fn build(dir: &Path, records: usize) -> Result<(), Fail> {
    if dir.exists() {
        return Err(format!("{} exists already", dir.display()).into());
    }
    let started = Instant::now();
    let pass = Passphrase::new(PASSPHRASE.to_owned());
    let (mut vault, _code) = Vault::init(dir, &pass)?;
    vault.opt_in(Category::Health)?;
    vault.opt_in(Category::Social)?;
    vault.import(&full_twin(), "the benchmark fixture")?;
    // A little history, as a twin in use has.
    vault.set("personal.address.line1", "12 Park Lane", Some("moved"))?;
    vault.set("personal.address.line1", "14 Park Lane", Some("moved back"))?;
    vault.set("personal.household.size", "3", None)?;
    vault.set("personal.household.size", "2", None)?;

    let now = now_secs();
    let trust = twin_vault::trust_list(None, true)?;
    let (anchor_id, anchor) = sandbox_anchor()?;
    let agency_key = KeyPair::generate();
    let card = card(&agency_key, now)?;
    vault.add_agency(&card.sign(&anchor_id, &anchor).0, &trust)?;
    let shared = vault.share(
        &ShareRequest {
            agency: card.agency.clone(),
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
        &trust,
    )?;
    let grant = Grant::from_own_bytes(&shared.bytes)
        .ok_or("the grant just made does not read back")?
        .claims;
    let setup = started.elapsed();

    // The agency's records, issued over the past years, newest last.
    let t = Instant::now();
    let mut sealed = Vec::with_capacity(records);
    for n in 0..records {
        let issued_at = now - (records - n) as i64 * 6 * 3600;
        let bytes = RecordClaims {
            v: 1,
            record_id: MessageId::random(),
            record_type: RECORD_TYPE.into(),
            agency: card.agency.clone(),
            subject: grant.citizen_sign,
            grant_id: grant.grant_id,
            issued_at,
            body: award_body(n, issued_at),
        }
        .issue("k1", &agency_key, &grant.citizen_seal)
        .ok_or("could not seal a record")?;
        sealed.push(bytes);
    }
    let issue = t.elapsed();

    let t = Instant::now();
    let mut each = Vec::with_capacity(records);
    for (n, bytes) in sealed.iter().enumerate() {
        let one = Instant::now();
        vault.import_record(bytes)?;
        each.push(ms(one.elapsed()));
        if (n + 1) % 1000 == 0 {
            eprintln!(
                "  {} records imported, {:.1} s",
                n + 1,
                t.elapsed().as_secs_f64()
            );
        }
    }
    let import = t.elapsed();
    let t = Instant::now();
    vault.lock()?;
    let lock = t.elapsed();
    let tenth = (records / 10).max(1);
    let first = median(&mut each[..tenth].to_vec());
    let last = median(&mut each[records - tenth..].to_vec());
    let bytes: u64 = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    let report = json!({
        "records": records,
        "setup_ms": ms(setup),
        "issue_ms": ms(issue),
        "import_ms": ms(import),
        "import_each_median_ms": median(&mut each),
        "import_first_tenth_median_ms": first,
        "import_last_tenth_median_ms": last,
        "lock_ms": ms(lock),
        "vault_bytes": bytes,
        "total_ms": ms(started.elapsed()),
    });
    println!("BENCH_FIXTURE {report}");
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), Fail> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_file() {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

fn floor(dir: &Path, runs: usize) -> Result<(), Fail> {
    let pass = Passphrase::new(PASSPHRASE.to_owned());
    for _ in 0..runs {
        let tmp = std::env::temp_dir().join(format!(
            "ct-bench-floor-{}-{}",
            std::process::id(),
            MessageId::random()
        ));
        copy_dir(dir, &tmp)?;
        let t = Instant::now();
        let key = Vault::passphrase_key(&tmp, &pass)?;
        let kdf = t.elapsed();
        let t = Instant::now();
        let mut vault = Vault::unlock_with_key(&tmp, key)?;
        let open = t.elapsed();

        let t = Instant::now();
        let twin = view::twin(&mut vault)?;
        let twin_json = serde_json::to_vec(&twin)?;
        let twin_t = t.elapsed();

        let t = Instant::now();
        let agencies = serde_json::to_vec(&vault.agencies())?;
        let agencies_t = t.elapsed();

        let t = Instant::now();
        let records = vault.records()?;
        let records_only = t.elapsed();
        let records_json = serde_json::to_vec(&records)?;
        let records_t = t.elapsed();
        let verified = records.iter().filter(|r| r.verified).count();
        let count = records.len();
        drop(records);
        vault.lock()?;
        let _ = std::fs::remove_dir_all(&tmp);
        let line = json!({
            "argon2id_ms": ms(kdf),
            "unlock_with_key_ms": ms(open),
            "unlock_ms": ms(kdf + open),
            "twin_ms": ms(twin_t),
            "twin_json_bytes": twin_json.len(),
            "agencies_ms": ms(agencies_t),
            "agencies_json_bytes": agencies.len(),
            "records_ms": ms(records_t),
            "records_without_json_ms": ms(records_only),
            "records_json_bytes": records_json.len(),
            "records": count,
            "verified": verified,
        });
        println!("BENCH_FLOOR {line}");
    }
    Ok(())
}

fn main() -> Result<(), Fail> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str, default: usize| -> Result<usize, Fail> {
        match args.iter().position(|a| a == name) {
            Some(i) => Ok(args
                .get(i + 1)
                .ok_or("a number after the option")?
                .parse()?),
            None => Ok(default),
        }
    };
    match (args.first().map(String::as_str), args.get(1)) {
        (Some("build"), Some(dir)) => build(&PathBuf::from(dir), opt("--records", 10_000)?),
        (Some("floor"), Some(dir)) => floor(&PathBuf::from(dir), opt("--runs", 1)?),
        _ => Err("usage: bench_fixture build DIR [--records N] | floor DIR [--runs N]".into()),
    }
}
