//! Helpers shared by the benchmarks of this crate, `benches/vault.rs`,
//! `benches/record_merge.rs` and `benches/backup.rs`, each of which includes this file
//! with `mod support;`: the twin of many field edits they start from, the timing loop,
//! percentiles, and the report of ratio and time lines.

// Each benchmark uses only some of these helpers.
#![allow(dead_code)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use twin_crypto::Passphrase;
use twin_types::FieldPath;
use twin_vault::Vault;

pub const PASSPHRASE: &str = "correct horse battery staple";
/// Field edits in the large twin.
pub const EDITS: usize = 100_000;

/// Whether this is a real benchmark run. Criterion benchmarks only with `--bench` and
/// without `--test`; otherwise it runs each benchmark once as a test, and a small twin is
/// enough.
pub fn full_run() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test" || a == "--list")
}

/// The editable fields of the two categories that need no opt-in, with a value for the
/// `i`-th import. Every value differs from the one of import `i - 1`, so every import
/// really changes every field it carries.
pub fn field_values(i: usize) -> Vec<(&'static str, Value)> {
    const FIRST: [&str; 8] = ["Alex", "Sam", "Jo", "Chris", "Robin", "Kim", "Noor", "Mika"];
    const LAST: [&str; 6] = ["Smith", "Jones", "Okafor", "Nowak", "Evans", "Patel"];
    const TOWNS: [&str; 9] = [
        "Leeds", "York", "Hull", "Bath", "Derby", "Truro", "Ely", "Wells", "Ripon",
    ];
    const STREETS: [&str; 5] = ["High", "Station", "Church", "Mill", "Park"];
    const LANGS: [&str; 5] = ["en", "cy", "gd", "fr-FR", "pl"];
    const CHANNELS: [&str; 4] = ["email", "phone", "post", "app"];
    vec![
        (
            "personal.full_name",
            json!(format!("{} {}", FIRST[i % 8], LAST[(i / 8) % 6])),
        ),
        ("personal.address.town", json!(TOWNS[i % 9])),
        (
            "personal.email",
            json!(format!("citizen{}@example.org", i % 1000)),
        ),
        ("personal.household.size", json!(1 + i % 30)),
        (
            "government.tax.annual_income",
            json!(18_000.0 + (i % 5000) as f64 * 12.5),
        ),
        (
            "personal.phone",
            json!(format!("+44 7700 9{:05}", i % 100_000)),
        ),
        (
            "personal.address.line1",
            json!(format!("{} {} Street", 1 + i % 200, STREETS[i % 5])),
        ),
        (
            "personal.address.postcode",
            json!(format!("LS{} {}AB", 1 + i % 20, i % 10)),
        ),
        (
            "personal.date_of_birth",
            json!(format!(
                "19{:02}-{:02}-{:02}",
                40 + i % 60,
                1 + i % 12,
                1 + i % 28
            )),
        ),
        ("personal.preferences.language", json!(LANGS[i % 5])),
        (
            "personal.preferences.contact_channel",
            json!(CHANNELS[i % 4]),
        ),
        (
            "government.tax.reference",
            json!(format!("AB{:06}C", i % 1_000_000)),
        ),
        (
            "government.licences.driving.number",
            json!(format!("SMITH{:06}AB", i % 1_000_000)),
        ),
        (
            "government.licences.driving.expires",
            json!(format!(
                "20{:02}-{:02}-{:02}",
                30 + i % 40,
                1 + i % 12,
                1 + i % 28
            )),
        ),
    ]
}

/// A vault created in `dir` with `edits` field edits made through the public API:
/// `Vault::import` of fragments carrying up to 14 fields each (one Automerge change, one
/// audit line and one durable transaction per import), nested as `twin import` reads them
/// (`{"a": {"b": v}}` for `a.b`). Returns the unlocked vault, the edits made and the
/// number of imports that made them.
pub fn vault_with_edits(dir: &Path, pass: &Passphrase, edits: usize) -> (Vault, usize, usize) {
    let (mut vault, _code) = Vault::init(dir, pass).expect("init");
    let (mut done, mut imports) = (0, 0);
    while done < edits {
        let pairs: Vec<(FieldPath, Value)> = field_values(imports)
            .into_iter()
            .take(edits - done)
            .map(|(path, value)| (FieldPath::parse(path).expect("field path"), value))
            .collect();
        let report = vault
            .import(&twin_vault::nest(&pairs), "bench")
            .expect("import");
        done += report.changed.len();
        imports += 1;
    }
    (vault, done, imports)
}

pub fn median(samples: &[Duration]) -> Option<Duration> {
    percentile(samples, 0.5)
}

/// Nearest-rank percentile.
pub fn percentile(samples: &[Duration], p: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    let mut s = samples.to_vec();
    s.sort_unstable();
    let rank = ((p * s.len() as f64).ceil() as usize).clamp(1, s.len());
    Some(s[rank - 1])
}

/// Times `f` once per iteration, keeping every iteration's time in `samples`.
/// Whatever `f` returns is dropped after the clock stops.
pub fn timed<T>(samples: &mut Vec<Duration>, iters: u64, mut f: impl FnMut() -> T) -> Duration {
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

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The unit a [`Report`] prints its times in.
#[derive(Clone, Copy, Debug)]
pub enum Unit {
    /// Milliseconds, to three decimals.
    Ms,
    /// Microseconds, to one decimal.
    Us,
}

impl Unit {
    fn of(self, d: Duration) -> f64 {
        match self {
            Unit::Ms => ms(d),
            Unit::Us => us(d),
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Unit::Ms => "ms",
            Unit::Us => "us",
        }
    }

    fn decimals(self) -> usize {
        match self {
            Unit::Ms => 3,
            Unit::Us => 1,
        }
    }
}

/// Ratio and time lines, printed as they are measured and again together at the end.
pub struct Report {
    unit: Unit,
    lines: Vec<String>,
}

impl Report {
    pub fn new(unit: Unit) -> Self {
        Report {
            unit,
            lines: Vec::new(),
        }
    }

    /// The ratio of the medians `target` over `floor`, against a goal for the ratio if
    /// there is one.
    pub fn ratio(
        &mut self,
        what: &str,
        target: Option<Duration>,
        floor: Option<Duration>,
        goal: Option<f64>,
    ) {
        let (unit, p) = (self.unit.symbol(), self.unit.decimals());
        let line = match (target, floor) {
            (Some(t), Some(f)) => {
                let r = t.as_secs_f64() / f.as_secs_f64();
                let verdict = match goal {
                    Some(g) if r <= g => format!("  goal <= {g}x: met"),
                    Some(g) => format!("  goal <= {g}x: MISSED"),
                    None => String::new(),
                };
                let (t, f) = (self.unit.of(t), self.unit.of(f));
                format!(
                    "RATIO {what}: {r:.2}x  ({t:.p$} {unit} / {f:.p$} {unit}, difference {:+.p$} {unit}){verdict}",
                    t - f
                )
            }
            _ => format!("RATIO {what}: not measured in this run (filtered out)"),
        };
        self.note(line);
    }

    /// A median (and p99) against an absolute goal in the report's unit, if there is one.
    pub fn time(&mut self, what: &str, samples: &[Duration], goal: Option<f64>) {
        let (unit, p) = (self.unit.symbol(), self.unit.decimals());
        let line = match (median(samples), percentile(samples, 0.99)) {
            (Some(m), Some(p99)) => {
                let (m, p99) = (self.unit.of(m), self.unit.of(p99));
                let verdict = match goal {
                    Some(g) if m <= g => format!("  goal <= {g} {unit}: met"),
                    Some(g) => format!("  goal <= {g} {unit}: MISSED"),
                    None => String::new(),
                };
                format!(
                    "TIME {what}: median {m:.p$} {unit}, p99 {p99:.p$} {unit} over {} samples{verdict}",
                    samples.len()
                )
            }
            _ => format!("TIME {what}: not measured in this run (filtered out)"),
        };
        self.note(line);
    }

    pub fn note(&mut self, line: String) {
        println!("{line}");
        self.lines.push(line);
    }

    /// Every line again, under `heading`.
    pub fn summary(&self, heading: &str) {
        println!("\n==== {heading} ====");
        for line in &self.lines {
            println!("{line}");
        }
    }
}
