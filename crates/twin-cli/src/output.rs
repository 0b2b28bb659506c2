//! How the command line prints: plain text for people, stable JSON for scripts.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use twin_types::{Category, FieldPath};
use twin_vault::{LockedStatus, RecoveryCode};

pub(crate) const INIT_EXPLANATION: &str = "\
Citizen Twin keeps your personal details, tax and licence information, and — only if you \
opt in — your health and social data, encrypted on this computer. It is your copy: \
nothing is sent anywhere unless you choose to share it, and you can stop sharing or delete \
it at any time. Health and social data stay off until you run `twin opt-in`.";

pub(crate) fn print_json<T: Serialize + ?Sized>(v: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("JSON output serialises")
    );
}

/// RFC 3339 UTC text for a millisecond timestamp.
pub(crate) fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// A value as a person reads it: text without quotes, lists as JSON.
pub(crate) fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn print_recovery_code(code: &RecoveryCode, dir: &Path) {
    println!();
    println!("Your twin is ready in {}.", dir.display());
    println!();
    println!("Your recovery code — shown only this once:");
    println!();
    println!("    {}", code.display().as_str());
    println!();
    println!("Write it down or print it, and keep it somewhere safe away from this computer.");
    println!("If you forget your passphrase, `twin recover` and this code get you back in.");
}

pub(crate) fn print_locked_status(s: &LockedStatus) {
    println!("Vault folder:             {}", s.dir.display());
    println!(
        "Database file:            {} ({} bytes, encrypted)",
        s.database.display(),
        s.database_bytes
    );
    println!(
        "Passphrase protection:    Argon2id, {} MiB, {} passes",
        s.kdf.memory_kib / 1024,
        s.kdf.iterations
    );
    println!("Activity log entries:     {}", s.audit_entries);
    if s.failed_unlocks > 0 {
        println!(
            "Failed unlock attempts:   {} since the last unlock",
            s.failed_unlocks
        );
    }
}

pub(crate) fn print_fields(fields: &[(FieldPath, Value)], opted_in: &[Category], all: bool) {
    if fields.is_empty() {
        println!(
            "Nothing here yet. Add a field with `twin set PATH VALUE`; `twin set --help` lists how."
        );
    }
    let width = fields
        .iter()
        .map(|(p, _)| p.as_str().len())
        .max()
        .unwrap_or(0);
    let mut last: Option<Category> = None;
    for (p, v) in fields {
        if p.category() != last {
            last = p.category();
            println!("{}", last.map(|c| c.as_str()).unwrap_or_default());
        }
        println!("  {:width$}  {}", p.as_str(), plain(v));
    }
    if all {
        for c in [Category::Health, Category::Social] {
            if !opted_in.contains(&c) {
                println!("({c}: not in use — `twin opt-in {c}` to add {c} data)");
            }
        }
    }
}
