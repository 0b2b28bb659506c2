//! The command-line contract, command by command, on the happy path (and its near misses).

use std::fs;
use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};

use crate::common::{PASS, World, assert_success, recovery_code_in};

fn kinds(audit: &[Value]) -> Vec<String> {
    audit
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn init_status_set_get_show_history_import() {
    let w = World::new();

    // No vault yet.
    let line = w.fails(&["status"], "no-vault");
    assert!(line.contains("twin init"), "{line}");

    // A weak passphrase creates nothing.
    let out = w.run_env(&["init", "--yes"], &[("TWIN_PASSPHRASE", "short")]);
    out.fails_with("weak-passphrase");
    assert!(!w.vault.join("vault.keys").exists());
    assert!(recovery_code_in(&out.stdout).is_none());

    // init prints the recovery code once: 8 groups of 5.
    let out = w.ok(&["init", "--yes"]);
    let code = recovery_code_in(&out.stdout).expect("a recovery code");
    assert_eq!(code.len(), 8 * 5 + 7);
    assert!(
        out.stdout.contains("shown only this once"),
        "{}",
        out.stdout
    );
    assert_eq!(out.stdout.matches(&code).count(), 1);

    // A second init changes nothing and shows no code.
    let keys_before = fs::read(w.vault.join("vault.keys")).unwrap();
    let out = w.run(&["init", "--yes"]);
    out.fails_with("vault-exists");
    assert!(recovery_code_in(&out.stdout).is_none());
    assert_eq!(fs::read(w.vault.join("vault.keys")).unwrap(), keys_before);

    // Private files.
    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&w.vault), 0o700);
    assert_eq!(mode(&w.vault.join("vault.keys")), 0o600);
    assert_eq!(mode(&w.vault.join("twin-1.db")), 0o600);

    // status needs no passphrase.
    let s = w
        .exec(
            {
                let mut c = w.bare();
                c.args(["status", "--json"]).arg("--vault").arg(&w.vault);
                c
            },
            None,
        )
        .json();
    assert_eq!(s["dir"], json!(w.vault));
    assert_eq!(s["database"], json!(w.vault.join("twin-1.db")));
    assert_eq!(s["generation"], 1);
    assert_eq!(s["kdf"]["memory_kib"], 65536);
    assert_eq!(s["kdf"]["iterations"], 3);
    assert_eq!(s["audit_entries"], 1);
    assert_eq!(s["failed_unlocks"], 0);
    assert!(s["database_bytes"].as_u64().unwrap() > 0);
    let text = w.ok(&["status"]).stdout;
    assert!(text.contains("twin-1.db"), "{text}");
    assert!(text.contains("Argon2id, 64 MiB, 3 passes"), "{text}");

    // set / get.
    let out = w.ok(&[
        "set",
        "personal.full_name",
        "Alex Smith",
        "--why",
        "as on my passport",
    ]);
    assert_eq!(out.stdout, "Saved personal.full_name.\n");
    let out = w.ok(&["set", "personal.full_name", "Alex Smith"]);
    assert_eq!(
        out.stdout,
        "personal.full_name already had that value; nothing changed.\n"
    );
    assert_eq!(w.ok(&["get", "personal.full_name"]).stdout, "Alex Smith\n");
    assert_eq!(
        w.ok(&["get", "personal.full_name", "--json"]).json(),
        json!({"path": "personal.full_name", "value": "Alex Smith", "conflicts": []})
    );
    assert_eq!(
        w.ok(&["get", "personal.phone"]).stdout,
        "personal.phone is empty.\n"
    );
    assert_eq!(w.get("personal.phone"), None);
    w.ok(&["set", "personal.household.size", "3"]);
    assert_eq!(w.get("personal.household.size"), Some(json!(3)));
    w.ok(&["set", "government.tax.annual_income", "18250.5"]);
    assert_eq!(w.get("government.tax.annual_income"), Some(json!(18250.5)));

    // show.
    let out = w.ok(&["show"]);
    assert!(
        out.stdout.contains("personal.full_name") && out.stdout.contains("Alex Smith"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("(health: not in use"), "{}", out.stdout);
    assert!(
        w.ok(&["show", "personal.address"])
            .stdout
            .contains("Nothing here yet")
    );
    assert_eq!(
        w.ok(&["show", "--json"]).json(),
        json!({
            "personal": {"full_name": "Alex Smith", "household": {"size": 3}},
            "government": {"tax": {"annual_income": 18250.5}}
        })
    );
    assert_eq!(
        w.ok(&["show", "personal", "--json"]).json(),
        json!({"personal": {"full_name": "Alex Smith", "household": {"size": 3}}})
    );

    // history: oldest first, with who, why, when and the computer.
    w.ok(&[
        "set",
        "personal.full_name",
        "Alex J Smith",
        "--why",
        "married",
    ]);
    let h = w.ok(&["history", "personal.full_name", "--json"]).json();
    let h = h.as_array().expect("a list");
    assert_eq!(h.len(), 2, "{h:?}");
    assert_eq!(h[0]["value"], "Alex Smith");
    assert_eq!(h[0]["why"], "as on my passport");
    assert_eq!(h[1]["value"], "Alex J Smith");
    assert_eq!(h[1]["why"], "married");
    for e in h {
        assert_eq!(e["who"], "you, with the twin command line");
        assert!(e["at"].as_str().unwrap().ends_with('Z'), "{e}");
        assert!(!e["device"].as_str().unwrap().is_empty(), "{e}");
    }
    let text = w.ok(&["history", "personal.full_name"]).stdout;
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains("set to Alex Smith — why: as on my passport"),
        "{text}"
    );
    assert!(
        w.ok(&["history", "personal.phone"])
            .stdout
            .contains("has never been set")
    );
    assert_eq!(
        w.ok(&["history", "personal.phone", "--json"]).json(),
        json!([])
    );

    // import: all the file's fields in one change.
    let file = w.root().join("fields.json");
    fs::write(
        &file,
        r#"{"personal": {"address": {"line1": "1 High Street", "town": "Leeds", "postcode": "LS1 4AP"}, "full_name": "Alex J Smith"}}"#,
    )
    .unwrap();
    let out = w.ok(&["import", file.to_str().unwrap()]);
    assert!(
        out.stdout.contains("3 changed, 1 already up to date"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("changed  personal.address.town"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("same     personal.full_name"),
        "{}",
        out.stdout
    );
    assert_eq!(w.get_str("personal.address.town").as_deref(), Some("Leeds"));
    assert_eq!(
        w.get_str("personal.address.postcode").as_deref(),
        Some("LS1 4AP")
    );
    let h = w.ok(&["history", "personal.address.town", "--json"]).json();
    assert_eq!(h[0]["why"], "imported from fields.json");

    // status --unlock counts what the vault holds.
    let s = w.ok(&["status", "--unlock", "--json"]).json();
    assert_eq!(s["fields_set"], 6, "{s}");
    assert_eq!(s["opted_in"], json!(["personal", "government"]), "{s}");
    assert_eq!(s["devices"], 1, "{s}");
    assert_eq!(s["erased_paths"], json!([]), "{s}");
    let text = w.ok(&["status", "--unlock"]).stdout;
    assert!(text.contains("Fields holding a value:   6"), "{text}");

    // TWIN_VAULT instead of --vault; the passphrase on stdin instead of TWIN_PASSPHRASE.
    let mut c = w.bare();
    c.env("TWIN_VAULT", &w.vault)
        .env("TWIN_PASSPHRASE", PASS)
        .args(["get", "personal.full_name"]);
    let out = w.exec(c, None);
    assert_success(&out);
    assert_eq!(out.stdout, "Alex J Smith\n");
    let out = w.run_stdin(&["get", "personal.address.town"], &format!("{PASS}\n"));
    assert_success(&out);
    assert_eq!(out.stdout, "Leeds\n");
    // Without any passphrase and no terminal: refused, not hung.
    let mut c = w.bare();
    c.arg("--vault")
        .arg(&w.vault)
        .args(["get", "personal.full_name"]);
    w.exec(c, None).fails_with("no-passphrase");
    w.run_stdin(&["get", "personal.full_name"], "")
        .fails_with("no-passphrase");

    // The activity log: what happened, never a value.
    let audit = w.audit();
    let k = kinds(&audit);
    for want in ["created", "unlocked", "edit", "import"] {
        assert!(k.iter().any(|x| x == want), "no {want} in {k:?}");
    }
    for (i, e) in audit.iter().enumerate() {
        assert_eq!(e["seq"], i as u64 + 1);
    }
    let text = w.ok(&["audit"]).stdout;
    assert!(text.contains("You imported"), "{text}");
    for value in ["Alex", "Leeds", "High Street", "LS1", "18250", "passport"] {
        assert!(!text.contains(value), "audit shows {value}: {text}");
    }
    let out = w.ok(&["audit", "verify"]);
    assert!(out.stdout.contains("intact"), "{}", out.stdout);
    w.assert_audit_intact();
}

#[test]
fn consent_erasure_and_passphrase_change() {
    let mut w = World::new();
    w.init();

    // Health and social are off until opted into.
    let line = w.fails(&["set", "social.feedback", "hello"], "not-opted-in");
    assert!(line.contains("twin opt-in social"), "{line}");
    let out = w.ok(&["opt-in", "personal"]);
    assert!(
        out.stdout.contains("nothing to opt in to"),
        "{}",
        out.stdout
    );
    let out = w.ok(&["opt-in", "health"]);
    assert!(
        out.stdout.contains("You can now keep health data"),
        "{}",
        out.stdout
    );
    let out = w.ok(&["opt-in", "health"]);
    assert!(out.stdout.contains("already opted in"), "{}", out.stdout);
    w.ok(&["set", "health.gp_practice", "Park Lane Surgery"]);
    w.ok(&[
        "set",
        "health.medications",
        r#"[{"name": "Metformin", "dose": "500 mg", "schedule": "twice a day"}]"#,
    ]);
    assert_eq!(
        w.get("health.medications"),
        Some(json!([{"name": "Metformin", "dose": "500 mg", "schedule": "twice a day"}]))
    );
    w.fails(&["opt-out", "personal", "--yes"], "not-opt-in");

    // Opting out erases the category, history and all.
    let out = w.ok(&["opt-out", "health", "--yes"]);
    assert!(
        out.stdout.contains("2 field(s) were erased"),
        "{}",
        out.stdout
    );
    assert_eq!(w.get("health.gp_practice"), None);
    assert_eq!(
        w.ok(&["history", "health.gp_practice", "--json"]).json(),
        json!([])
    );
    assert_eq!(
        w.ok(&["history", "health.medications", "--json"]).json(),
        json!([])
    );
    let s = w.ok(&["status", "--unlock", "--json"]).json();
    assert_eq!(s["opted_in"], json!(["personal", "government"]), "{s}");
    assert_eq!(s["erased_paths"], json!(["health"]), "{s}");
    assert_eq!(s["generation"], 2, "{s}");
    assert_eq!(s["database"], json!(w.vault.join("twin-2.db")));
    assert!(!w.vault.join("twin-1.db").exists());
    w.fails(
        &["set", "health.gp_practice", "Elm Surgery"],
        "not-opted-in",
    );
    let out = w.ok(&["opt-out", "social", "--yes"]);
    assert!(out.stdout.contains("held none"), "{}", out.stdout);

    // Erase one field, then a group.
    w.ok(&["set", "personal.phone", "+44 20 7946 0000"]);
    w.ok(&["set", "personal.full_name", "Alex Smith"]);
    let out = w.ok(&["erase", "personal.phone", "--yes"]);
    assert!(
        out.stdout
            .contains("Erased personal.phone (1 field(s) held a value)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("twin-3.db"), "{}", out.stdout);
    assert_eq!(w.get("personal.phone"), None);
    assert_eq!(
        w.ok(&["history", "personal.phone", "--json"]).json(),
        json!([])
    );
    assert_eq!(
        w.get_str("personal.full_name").as_deref(),
        Some("Alex Smith")
    );
    w.ok(&["set", "personal.address.town", "Leeds"]);
    w.ok(&["set", "personal.address.postcode", "LS1 4AP"]);
    let out = w.ok(&["erase", "personal.address", "--yes"]);
    assert!(
        out.stdout.contains("(2 field(s) held a value)"),
        "{}",
        out.stdout
    );
    assert_eq!(w.get("personal.address.town"), None);
    assert_eq!(w.get("personal.address.postcode"), None);
    assert_eq!(w.status()["generation"], 4);
    // An unknown path is refused before any confirmation is asked for.
    let line = w.fails(&["erase", "personal.adress"], "unknown-field");
    assert!(line.contains("personal.address"), "{line}");

    // passwd: from TWIN_NEW_PASSPHRASE…
    let out = w.run_env(
        &["passwd"],
        &[("TWIN_NEW_PASSPHRASE", "a brand new passphrase")],
    );
    assert_success(&out);
    assert!(
        out.stdout.contains("Your passphrase was changed"),
        "{}",
        out.stdout
    );
    w.fails(&["get", "personal.full_name"], "wrong-passphrase");
    w.pass = "a brand new passphrase".into();
    assert_eq!(
        w.get_str("personal.full_name").as_deref(),
        Some("Alex Smith")
    );
    // …a weak one is refused and changes nothing…
    w.run_env(&["passwd"], &[("TWIN_NEW_PASSPHRASE", "short")])
        .fails_with("weak-passphrase");
    w.ok(&["get", "personal.full_name"]);
    // …or the second line of stdin; a missing second line changes nothing.
    w.run_stdin(&["passwd"], "a brand new passphrase\n")
        .fails_with("no-passphrase");
    w.ok(&["get", "personal.full_name"]);
    let out = w.run_stdin(
        &["passwd"],
        "a brand new passphrase\nthird passphrase here\n",
    );
    assert_success(&out);
    w.fails(&["get", "personal.full_name"], "wrong-passphrase");
    w.pass = "third passphrase here".into();
    assert_eq!(
        w.get_str("personal.full_name").as_deref(),
        Some("Alex Smith")
    );

    let audit = w.audit();
    let k = kinds(&audit);
    for want in [
        "opt-in",
        "opt-out",
        "erase",
        "passphrase-changed",
        "failed-unlocks",
    ] {
        assert!(k.iter().any(|x| x == want), "no {want} in {k:?}");
    }
    let text = serde_json::to_string(&audit).unwrap();
    for value in ["Park Lane", "Metformin", "7946", "Leeds", "Alex"] {
        assert!(!text.contains(value), "audit shows {value}: {text}");
    }
    w.assert_audit_intact();
}
