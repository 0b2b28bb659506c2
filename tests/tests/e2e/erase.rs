//! After `erase` (and `opt-out`), no trace of the value: not through the command line,
//! not in any file's bytes, and not in the store read back decrypted — every row of every
//! table, the document saved without compression and every change of its history.

use std::fs;

use serde_json::Value;
use twin_vault::{Passphrase, Vault};

use crate::common::{World, contains, files_under, random_hex};

/// Everything the vault holds, decrypted (see `Vault::export_raw_for_tests`).
fn decrypted(w: &World) -> Vec<u8> {
    let mut v = Vault::unlock(&w.vault, &Passphrase::new(w.pass.clone())).expect("unlock");
    let raw = v.export_raw_for_tests().expect("export");
    v.lock().expect("lock");
    raw
}

fn key_file(w: &World) -> Value {
    serde_json::from_slice(&fs::read(w.vault.join("vault.keys")).unwrap()).unwrap()
}

#[test]
fn erased_values_leave_no_trace_even_decrypted() {
    let w = World::new();
    w.init();
    let canary = format!("CANARY{}", random_hex(8));
    let c = canary.as_str();

    // The canary in several fields, several times, by set and by import; kept fields
    // around it.
    w.ok(&[
        "set",
        "personal.full_name",
        &format!("{c} One"),
        "--why",
        "first",
    ]);
    w.ok(&[
        "set",
        "personal.full_name",
        &format!("{c} Two"),
        "--why",
        "second",
    ]);
    w.ok(&["set", "personal.email", &format!("{c}@example.org")]);
    w.ok(&["set", "personal.household.size", "3"]);
    let file = w.root().join("letter.json");
    fs::write(
        &file,
        format!(r#"{{"personal": {{"address": {{"line1": "1 {c} Street", "town": "Leeds"}}}}}}"#),
    )
    .unwrap();
    w.ok(&["import", file.to_str().unwrap()]);
    w.ok(&["opt-in", "health"]);
    w.ok(&[
        "set",
        "health.medications",
        &format!(r#"[{{"name": "{c}", "dose": "5 mg"}}]"#),
    ]);

    // Control: the decrypted export does hold the canary before erasure.
    let before = decrypted(&w);
    assert!(
        contains(&before, c.as_bytes()),
        "the export does not show the values it should"
    );

    let mut generation = w.status()["generation"].as_u64().unwrap();
    let erasures: [&[&str]; 4] = [
        &["erase", "personal.full_name", "--yes"],
        &["erase", "personal.email", "--yes"],
        &["erase", "personal.address.line1", "--yes"],
        &["opt-out", "health", "--yes"],
    ];
    for args in erasures {
        let old = w.database();
        w.ok(args);
        let new = w.database();
        generation += 1;
        assert_ne!(old, new, "{args:?}: same database file");
        assert_eq!(w.status()["generation"], generation);
        for f in [
            old.clone(),
            old.with_extension("db-wal"),
            old.with_extension("db-shm"),
        ] {
            assert!(!f.exists(), "{args:?}: {} is still there", f.display());
        }
        assert_eq!(
            key_file(&w)["database"],
            new.file_name().unwrap().to_str().unwrap(),
            "{args:?}"
        );
        assert!(new.exists());
    }

    // Through the command line.
    for path in [
        "personal.full_name",
        "personal.email",
        "personal.address.line1",
        "health.medications",
    ] {
        assert_eq!(w.get(path), None, "{path}");
        assert_eq!(
            w.ok(&["history", path, "--json"]).json(),
            serde_json::json!([]),
            "{path}"
        );
    }
    let shown = w.ok(&["show", "--json"]).stdout;
    assert!(!shown.contains(c), "{shown}");
    assert!(shown.contains("Leeds"), "{shown}");
    let town = w.ok(&["history", "personal.address.town", "--json"]).json();
    assert_eq!(town.as_array().unwrap().len(), 1, "{town}");
    assert_eq!(town[0]["why"], "imported from letter.json");
    let s = w.ok(&["status", "--unlock", "--json"]).json();
    let erased: Vec<&str> = s["erased_paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for p in [
        "personal.full_name",
        "personal.email",
        "personal.address.line1",
        "health",
    ] {
        assert!(erased.contains(&p), "{p} not in {erased:?}");
    }
    let audit = serde_json::to_string(&w.audit()).unwrap();
    assert!(!audit.contains(c), "{audit}");

    // On disk: no file, and no file name, holds it.
    for (path, bytes) in files_under(&w.vault) {
        assert!(!path.to_string_lossy().contains(c), "{}", path.display());
        assert!(
            !contains(&bytes, c.as_bytes()),
            "{} holds the canary",
            path.display()
        );
    }

    // Decrypted, every row of every table and the whole history: gone.
    let after = decrypted(&w);
    assert!(
        contains(&after, b"Leeds"),
        "the export does not show kept values"
    );
    assert!(
        !contains(&after, c.as_bytes()),
        "an erased value survives in the decrypted store"
    );
    // Nor in lower case or hex, in case a layer re-encodes it.
    assert!(!contains(&after, c.to_lowercase().as_bytes()));
    let hex: String = c.bytes().map(|b| format!("{b:02x}")).collect();
    assert!(!contains(&after, hex.as_bytes()));
    w.assert_audit_intact();
}
