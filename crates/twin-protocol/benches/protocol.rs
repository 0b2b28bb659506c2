//! Benchmarks of the grant protocol, each against a floor measured in the same run.
//!
//! Run with `cargo bench -p twin-protocol --bench protocol`; results and the machine are
//! in `docs/benchmarks.md`. Every benchmark prints a `RATIO` line: the protocol's median
//! over the median of a floor timed in this process, made of the bare primitives the
//! protocol cannot avoid (`ed25519-dalek` and `hpke`, called directly, on the very bytes
//! the protocol signs and seals).
//!
//! 1. Issuing a grant whose sealed payload is 1 KiB (`GrantBuilder::build`) vs one
//!    Ed25519 signature over bytes of the size the grant signs (its COSE `Sig_structure`)
//!    plus one HPKE base-mode seal (X25519-HKDF-SHA256, ChaCha20-Poly1305) of 1 KiB.
//! 2. Verifying and opening that grant with every check (`UnverifiedGrant::parse` then
//!    `verify`) vs `verify_strict` of the signed bytes plus the HPKE open of its payload.
//! 3. Opening a record sent back by the agency (`open_record`: HPKE open, COSE parse,
//!    `verify_strict`, scope checks) vs the HPKE open plus `verify_strict` alone.
//!
//! Each is measured twice: criterion's loops (protocol first, then floor) and a loop that
//! alternates the two call by call, so drift on a shared machine hits both sides alike.
//! Run as a test (`cargo test --benches`, or `cargo bench -- --test`) each runs once.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hpke::{Deserializable, OpModeR, OpModeS};
use serde_json::{Value, json};
use twin_protocol::{
    AgencyCard, AgencyView, CardKey, Grant, GrantBuilder, KeyPair, Limits, Purpose, RecordClaims,
    UnverifiedGrant, open_record,
};
use twin_types::{AgencyId, FieldPath};

type Kem = hpke::kem::X25519HkdfSha256;
type Aead = hpke::aead::ChaCha20Poly1305;
type Kdf = hpke::kdf::HkdfSha256;

const NOW: i64 = 1_795_000_000; // November 2026
const DAY: i64 = 86_400;
/// Size of the grant's payload before sealing: `{"fields":{"social.feedback":"…"}}`.
const PAYLOAD_BYTES: usize = 1024;
/// The payload's field: free text of up to 2,000 characters.
const FIELD: &str = "social.feedback";
/// Alternated protocol / floor pairs per benchmark.
const PAIRS: usize = 3_000;

/// An agency with one key and a purpose, and the citizen's pairwise key for it (as in the
/// crate's unit tests).
struct World {
    card: AgencyCard,
    agency_key: KeyPair,
    citizen: KeyPair,
}

fn world() -> World {
    let agency_key = KeyPair::from_seeds([3; 32], [4; 32]);
    let card = AgencyCard {
        v: 1,
        agency: AgencyId::parse("sandbox-benefits").expect("agency id"),
        name: "Sandbox Benefits Agency".into(),
        endpoint: "http://127.0.0.1:8700".into(),
        sandbox: true,
        keys: vec![CardKey {
            kid: "k1".into(),
            sign: agency_key.sign_public(),
            seal: agency_key.seal_public(),
            not_after: NOW + 180 * DAY,
        }],
        record_types: vec!["benefit-award/v1".into()],
        purposes: vec![Purpose {
            code: "service-feedback".into(),
            words: "Feedback on our services".into(),
            fields: vec![FIELD.into()],
            legal_basis: "Public Services (Feedback) Regulations 2026".into(),
            retention_days: 30,
        }],
        expires_at: NOW + 365 * DAY,
    };
    let citizen = KeyPair::pairwise(&[9; 32], &card.agency);
    World {
        card,
        agency_key,
        citizen,
    }
}

/// A text value that makes the payload exactly `PAYLOAD_BYTES` long (ASCII, no escapes).
fn feedback_value() -> Value {
    let overhead = serde_json::to_vec(&json!({ "fields": { FIELD: "" } }))
        .expect("json")
        .len();
    let words = "The appointment was easy to book and the letter was clear. ";
    let text: String = words
        .chars()
        .cycle()
        .take(PAYLOAD_BYTES - overhead)
        .collect();
    let value = json!(text);
    let len = serde_json::to_vec(&json!({ "fields": { FIELD: &value } }))
        .expect("json")
        .len();
    assert_eq!(len, PAYLOAD_BYTES, "the payload is 1 KiB");
    value
}

fn issue(w: &World, path: &FieldPath, value: &Value) -> Grant {
    GrantBuilder::new(&w.card, "service-feedback", 7 * DAY)
        .field(path.clone(), value.clone())
        .build(&w.citizen, NOW)
        .expect("grant")
}

/// What a CBOR map holds under the text key `key`.
fn entry<'a>(map: &'a ciborium::Value, key: &str) -> &'a ciborium::Value {
    map.as_map()
        .expect("a CBOR map")
        .iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("the map has {key}"))
}

fn bytes(v: &ciborium::Value) -> Vec<u8> {
    v.as_bytes().expect("a byte string").clone()
}

/// The exact bytes a COSE_Sign1 signs (its `Sig_structure`) and its signature.
fn tbs_and_signature(cose_sign1: &[u8]) -> (Vec<u8>, Vec<u8>) {
    use coset::CborSerializable;
    let cose = coset::CoseSign1::from_slice(cose_sign1).expect("COSE_Sign1");
    (cose.tbs_data(&[]), cose.signature.clone())
}

/// What the floors work on, taken from one real grant: the bytes its signature covers,
/// the signature, the signer's public key, the sealed payload and its HPKE `info`.
struct GrantParts {
    tbs: Vec<u8>,
    signature: Vec<u8>,
    signer: [u8; 32],
    enc: Vec<u8>,
    ct: Vec<u8>,
    info: Vec<u8>,
}

fn grant_parts(g: &Grant) -> GrantParts {
    let wire: ciborium::Value = ciborium::from_reader(g.bytes.as_slice()).expect("grant CBOR");
    let (tbs, signature) = tbs_and_signature(&bytes(entry(&wire, "signed")));
    let sealed = entry(&wire, "sealed");
    GrantParts {
        tbs,
        signature,
        signer: g.claims.citizen_sign.0,
        enc: bytes(entry(sealed, "enc")),
        ct: bytes(entry(sealed, "ct")),
        info: [
            b"citizen-twin/grant-payload/v1".as_slice(),
            g.claims.grant_id.as_bytes(),
        ]
        .concat(),
    }
}

/// HPKE base mode, X25519-HKDF-SHA256 + ChaCha20-Poly1305, straight from `hpke`.
fn hpke_seal(pk: &<Kem as hpke::Kem>::PublicKey, info: &[u8], plain: &[u8]) -> (Vec<u8>, Vec<u8>) {
    use hpke::Serializable;
    let (enc, ct) = hpke::single_shot_seal::<Aead, Kdf, Kem>(&OpModeS::Base, pk, info, plain, &[])
        .expect("seal");
    (enc.to_bytes().to_vec(), ct)
}

fn hpke_open(sk: &<Kem as hpke::Kem>::PrivateKey, enc: &[u8], info: &[u8], ct: &[u8]) -> Vec<u8> {
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).expect("enc");
    hpke::single_shot_open::<Aead, Kdf, Kem>(&OpModeR::Base, sk, &enc, info, ct, &[]).expect("open")
}

/// `verify_strict` from the key's 32 bytes, as a verifier receiving them must do.
fn ed25519_verify(signer: &[u8; 32], message: &[u8], signature: &[u8]) {
    let key = VerifyingKey::from_bytes(signer).expect("key");
    let sig = Signature::from_slice(signature).expect("signature");
    key.verify_strict(message, &sig).expect("valid signature");
}

fn median(samples: &[Duration]) -> Option<Duration> {
    percentile(samples, 0.5)
}

/// Nearest-rank percentile.
fn percentile(samples: &[Duration], p: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    let mut s = samples.to_vec();
    s.sort_unstable();
    let rank = ((p * s.len() as f64).ceil() as usize).clamp(1, s.len());
    Some(s[rank - 1])
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Ratio lines, printed as they are measured and again together at the end.
#[derive(Default)]
struct Report {
    lines: Vec<String>,
}

impl Report {
    fn ratio(
        &mut self,
        what: &str,
        target: Option<Duration>,
        floor: Option<Duration>,
        goal: Option<f64>,
    ) {
        let line = match (target, floor) {
            (Some(t), Some(f)) => {
                let r = t.as_secs_f64() / f.as_secs_f64();
                let verdict = match goal {
                    Some(g) if r <= g => format!("  goal <= {g}x: met"),
                    Some(g) => format!("  goal <= {g}x: MISSED"),
                    None => String::new(),
                };
                format!(
                    "RATIO {what}: {r:.2}x  ({:.1} us / {:.1} us, difference {:+.1} us){verdict}",
                    us(t),
                    us(f),
                    us(t) - us(f)
                )
            }
            _ => format!("RATIO {what}: not measured in this run (filtered out)"),
        };
        println!("{line}");
        self.lines.push(line);
    }

    fn note(&mut self, line: String) {
        println!("{line}");
        self.lines.push(line);
    }
}

/// Times `f` once per iteration, keeping every iteration's time in `samples`.
/// Whatever `f` returns is dropped after the clock stops.
fn timed<T>(samples: &mut Vec<Duration>, iters: u64, mut f: impl FnMut() -> T) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        let out = black_box(f());
        let d = start.elapsed();
        drop(out);
        samples.push(d);
        total += d;
    }
    total
}

/// Criterion's loops (target, then floor), then `pairs` alternated calls; a ratio for each.
#[allow(clippy::too_many_arguments)]
fn compare<T, F>(
    c: &mut Criterion,
    report: &mut Report,
    group: &str,
    what: &str,
    goal: Option<f64>,
    pairs: usize,
    mut target: impl FnMut() -> T,
    mut floor: impl FnMut() -> F,
) {
    let (mut t, mut f) = (Vec::new(), Vec::new());
    let mut g = c.benchmark_group(group);
    g.sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    g.bench_function("protocol", |b| {
        b.iter_custom(|iters| timed(&mut t, iters, &mut target))
    });
    g.bench_function("floor", |b| {
        b.iter_custom(|iters| timed(&mut f, iters, &mut floor))
    });
    g.finish();
    report.ratio(
        &format!("{what}, criterion loops"),
        median(&t),
        median(&f),
        goal,
    );
    let (mut t, mut f) = (Vec::new(), Vec::new());
    for _ in 0..pairs {
        timed(&mut t, 1, &mut target);
        timed(&mut f, 1, &mut floor);
    }
    report.ratio(
        &format!("{what}, {pairs} alternated pairs, median"),
        median(&t),
        median(&f),
        goal,
    );
    report.note(format!(
        "  p99 over the alternated pairs: protocol {:.1} us, floor {:.1} us",
        us(percentile(&t, 0.99).expect("samples")),
        us(percentile(&f, 0.99).expect("samples")),
    ));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Criterion benchmarks only with `--bench` and without `--test`; otherwise it runs each
    // benchmark once as a test.
    let full =
        args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test" || a == "--list");
    let pairs = if full { PAIRS } else { 3 };
    let mut c = Criterion::default().configure_from_args();
    let mut report = Report::default();
    if !full {
        report.note("TEST MODE: one sample each; the ratios below mean nothing".into());
    }

    let w = world();
    let path = FieldPath::parse(FIELD).expect("path");
    let value = feedback_value();
    let sample = issue(&w, &path, &value);
    let parts = grant_parts(&sample);
    let citizen_sign = SigningKey::from_bytes(
        &<[u8; 32]>::try_from(&w.citizen.to_seeds()[..32]).expect("32-byte seed"),
    );
    let agency_seal = <Kem as hpke::Kem>::PublicKey::from_bytes(&w.agency_key.seal_public().0)
        .expect("agency public key");
    let agency_open = <Kem as hpke::Kem>::PrivateKey::from_bytes(&[4; 32]).expect("agency key");
    let payload = serde_json::to_vec(&json!({ "fields": { FIELD: &value } })).expect("json");
    // The floors work on what the protocol really signs and seals.
    ed25519_verify(&parts.signer, &parts.tbs, &parts.signature);
    assert_eq!(
        hpke_open(&agency_open, &parts.enc, &parts.info, &parts.ct),
        payload,
        "the floor opens the grant's own payload"
    );
    report.note(format!(
        "SETUP grant: {} bytes encoded; payload {} bytes, sealed {} + {} bytes (enc + ct); signed Sig_structure {} bytes",
        sample.bytes.len(),
        payload.len(),
        parts.enc.len(),
        parts.ct.len(),
        parts.tbs.len()
    ));

    // 1: issuing.
    compare(
        &mut c,
        &mut report,
        "1_issue_grant_1KiB",
        "1 GrantBuilder::build (1 KiB payload) / Ed25519 sign + HPKE seal",
        Some(1.3),
        pairs,
        || issue(&w, &path, &value),
        || {
            let sig = citizen_sign.sign(&parts.tbs);
            (sig, hpke_seal(&agency_seal, &parts.info, &payload))
        },
    );

    // 2: verifying and opening, every check.
    let keys = [("k1".to_owned(), &w.agency_key)];
    let view = AgencyView {
        card: &w.card,
        keys: &keys,
        limits: Limits::default(),
    };
    let verify = || {
        UnverifiedGrant::parse(&sample.bytes, &view.limits)
            .expect("parse")
            .verify(&view, NOW + 60, |_, _| false, |_, _| false)
            .expect("verify")
    };
    assert_eq!(verify().values[&path], value, "the grant opens");
    compare(
        &mut c,
        &mut report,
        "2_verify_open_grant_1KiB",
        "2 UnverifiedGrant::parse + verify (every check) / Ed25519 verify_strict + HPKE open",
        Some(1.1),
        pairs,
        verify,
        || {
            ed25519_verify(&parts.signer, &parts.tbs, &parts.signature);
            hpke_open(&agency_open, &parts.enc, &parts.info, &parts.ct)
        },
    );

    // 3: a record sent back under a grant that allows it.
    let grant = GrantBuilder::new(&w.card, "service-feedback", 7 * DAY)
        .field(path.clone(), value.clone())
        .records(vec!["benefit-award/v1".into()], NOW + 60 * DAY)
        .build(&w.citizen, NOW)
        .expect("grant");
    let record = RecordClaims {
        v: 1,
        record_id: twin_types::MessageId::random(),
        record_type: "benefit-award/v1".into(),
        agency: w.card.agency.clone(),
        subject: grant.claims.citizen_sign,
        grant_id: grant.claims.grant_id,
        issued_at: NOW + DAY,
        body: json!({
            "award": "Pension Credit",
            "weekly_amount": 218.15,
            "from": "2026-12-01",
            "reference": "PC-2026-0042-7781",
            "decided_by": "Sandbox Benefits Agency, Leeds office"
        })
        .to_string(),
    }
    .issue("k1", &w.agency_key, &grant.claims.citizen_seal)
    .expect("record");
    let wire: ciborium::Value = ciborium::from_reader(record.as_slice()).expect("record CBOR");
    let sealed = entry(&wire, "sealed");
    let (enc, ct) = (bytes(entry(sealed, "enc")), bytes(entry(sealed, "ct")));
    let citizen_open =
        <Kem as hpke::Kem>::PrivateKey::from_bytes(&w.citizen.to_seeds()[32..]).expect("key");
    let info = b"citizen-twin/record/v1";
    let signed = hpke_open(&citizen_open, &enc, info, &ct);
    let (tbs, signature) = tbs_and_signature(&signed);
    let agency_sign = w.agency_key.sign_public().0;
    ed25519_verify(&agency_sign, &tbs, &signature);
    report.note(format!(
        "SETUP record: {} bytes sealed, {} bytes signed (COSE_Sign1)",
        record.len(),
        signed.len()
    ));
    compare(
        &mut c,
        &mut report,
        "3_open_record",
        "3 open_record / HPKE open + Ed25519 verify_strict",
        None,
        pairs,
        || open_record(&record, &w.citizen, &w.card, &grant.claims).expect("record"),
        || {
            let signed = hpke_open(&citizen_open, &enc, info, &ct);
            ed25519_verify(&agency_sign, &tbs, &signature);
            signed
        },
    );

    // Parts of the protocol's own work beyond the floors, for the notes.
    let mut g = c.benchmark_group("parts");
    g.sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g.bench_function("keypair_seal_public_x25519_base_mult", |b| {
        b.iter(|| w.citizen.seal_public())
    });
    g.bench_function("keypair_sign_public", |b| {
        b.iter(|| w.citizen.sign_public())
    });
    g.bench_function("unverified_grant_parse", |b| {
        b.iter(|| UnverifiedGrant::parse(&sample.bytes, &view.limits).expect("parse"))
    });
    g.bench_function("ed25519_sign_only", |b| {
        b.iter(|| citizen_sign.sign(&parts.tbs))
    });
    g.bench_function("hpke_seal_only", |b| {
        b.iter(|| hpke_seal(&agency_seal, &parts.info, &payload))
    });
    g.bench_function("ed25519_verify_strict_only", |b| {
        b.iter(|| ed25519_verify(&parts.signer, &parts.tbs, &parts.signature))
    });
    g.bench_function("hpke_open_only", |b| {
        b.iter(|| hpke_open(&agency_open, &parts.enc, &parts.info, &parts.ct))
    });
    g.finish();

    c.final_summary();
    println!("\n==== summary (every ratio against a floor measured in this run) ====");
    for line in &report.lines {
        println!("{line}");
    }
}
