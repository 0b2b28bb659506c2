//! Bad input: a wrong passphrase, unknown paths, values their schema refuses, imports
//! with one bad entry.

use std::fs;

use serde_json::{Value, json};

use crate::common::{PASS, World, files_under};

#[test]
fn wrong_passphrase_is_refused_changes_nothing_and_is_audited() {
    let w = World::new();
    w.init();
    w.ok(&["set", "personal.full_name", "Alex Smith"]);
    w.ok(&["set", "personal.address.town", "Leeds"]);
    let before = files_under(&w.vault);

    // From the environment, from stdin, for a read and for writes.
    let wrong = [("TWIN_PASSPHRASE", "not the passphrase at all")];
    let line = w
        .run_env(&["get", "personal.full_name"], &wrong)
        .fails_with("wrong-passphrase")
        .to_owned();
    assert!(line.contains("twin recover"), "{line}");
    w.run_env(&["set", "personal.full_name", "Mallory"], &wrong)
        .fails_with("wrong-passphrase");
    w.run_stdin(
        &["erase", "personal.address.town", "--yes"],
        "not the passphrase either\n",
    )
    .fails_with("wrong-passphrase");

    // Nothing but the failed-unlock record changed on disk.
    let after = files_under(&w.vault);
    for (path, bytes) in &before {
        assert_eq!(
            after.get(path),
            Some(bytes),
            "{} changed after wrong passphrases",
            path.display()
        );
    }
    let extra: Vec<_> = after.keys().filter(|p| !before.contains_key(*p)).collect();
    assert_eq!(extra, vec![&w.vault.join("failed-unlocks")], "{extra:?}");
    assert_eq!(w.status()["failed_unlocks"], 3);

    // The next successful unlock sees the same values and logs the attempts.
    assert_eq!(
        w.get_str("personal.full_name").as_deref(),
        Some("Alex Smith")
    );
    assert_eq!(w.get_str("personal.address.town").as_deref(), Some("Leeds"));
    let audit = w.audit();
    let failed: Vec<&Value> = audit
        .iter()
        .filter(|e| e["kind"] == "failed-unlocks")
        .collect();
    assert_eq!(failed.len(), 1, "{audit:?}");
    let text = failed[0]["line"].as_str().unwrap();
    assert!(
        text.contains("3 failed attempts to unlock"),
        "audit line: {text}"
    );
    assert_eq!(w.status()["failed_unlocks"], 0);
    assert!(!w.vault.join("failed-unlocks").exists());
    let human = w.ok(&["audit"]).stdout;
    assert!(human.contains("failed attempts"), "{human}");

    // One more wrong one is reported alone.
    w.run_stdin(&["get", "personal.full_name"], "wrong again, sorry\n")
        .fails_with("wrong-passphrase");
    let audit = w.audit();
    let last_failed = audit
        .iter()
        .rev()
        .find(|e| e["kind"] == "failed-unlocks")
        .unwrap();
    assert!(
        last_failed["line"]
            .as_str()
            .unwrap()
            .contains("1 failed attempt to unlock"),
        "{last_failed}"
    );
    w.assert_audit_intact();
}

#[test]
fn an_unknown_path_suggests_the_nearest_real_one() {
    let w = World::new();
    w.init();
    w.ok(&["set", "personal.full_name", "Alex Smith"]);
    let cases = [
        (
            vec!["set", "personal.ful_name", "Alex"],
            "personal.full_name",
        ),
        (vec!["get", "personal.adress.town"], "personal.address.town"),
        (
            vec!["history", "personal.address.postcod"],
            "personal.address.postcode",
        ),
        (vec!["show", "persnal"], "personal"),
        (
            vec!["set", "government.tax.refrence", "AB123456C"],
            "government.tax.reference",
        ),
        (vec!["erase", "personal.phon", "--yes"], "personal.phone"),
    ];
    for (args, nearest) in cases {
        let line = w.fails(&args, "unknown-field");
        assert!(
            line.contains("did you mean") && line.contains(nearest),
            "{args:?}: {line}"
        );
    }
    // A path nothing resembles still says what to do.
    let line = w.fails(&["get", "zzzz"], "unknown-field");
    assert!(line.contains("twin show"), "{line}");
    assert_eq!(
        w.get_str("personal.full_name").as_deref(),
        Some("Alex Smith")
    );
    assert_eq!(w.status()["generation"], 1);
}

#[test]
fn a_value_its_schema_refuses_names_the_rule_not_the_value() {
    let w = World::new();
    w.init();
    w.ok(&["set", "personal.household.size", "4"]);
    w.ok(&["opt-in", "health"]);
    // (path, value, words the rule must be named with)
    let cases: &[(&str, &str, &[&str])] = &[
        ("personal.household.size", "99", &["maximum", "30"]),
        ("personal.household.size", "0", &["minimum"]),
        ("personal.household.size", "3.5", &["whole number"]),
        ("personal.email", "QX7-not-an-email", &["email"]),
        ("personal.date_of_birth", "1958-02-30", &["date"]),
        (
            "personal.address.postcode",
            "QX7!!!",
            &["expected form", "LS1 4AP"],
        ),
        (
            "personal.preferences.contact_channel",
            "QX7pigeon",
            &["one of"],
        ),
        ("government.tax.annual_income", "-5", &["minimum"]),
        ("health.medications", "QX7 twice a day", &["JSON list"]),
        (
            "health.medications",
            r#"[{"dose": "QX7 mg"}]"#,
            &["required"],
        ),
        (
            "health.immunisations",
            r#"[{"name": "QX7", "date": "2025-13-45"}]"#,
            &["date"],
        ),
    ];
    for (path, value, words) in cases {
        // `--`: a value like -5 is not an option.
        let line = w.fails(&["set", "--", path, value], "invalid-value");
        for word in *words {
            assert!(
                line.contains(word),
                "set {path} {value}: rule not named ({word}): {line}"
            );
        }
        // The field by its name in plain words (the path was typed by the citizen).
        assert!(line.contains("does not accept that value"), "{line}");
        if value.len() >= 3 {
            assert!(!line.contains(value), "the value was echoed: {line}");
        }
        assert!(
            !line.contains("QX7"),
            "part of the value was echoed: {line}"
        );
    }
    let line = w.fails(&["set", "personal.household.size", "99"], "invalid-value");
    assert!(!line.contains("99"), "{line}");
    // Nothing was changed by any of them.
    assert_eq!(w.get("personal.household.size"), Some(json!(4)));
    assert_eq!(w.get("personal.email"), None);
    assert_eq!(w.get("health.medications"), None);
    let s = w.ok(&["status", "--unlock", "--json"]).json();
    assert_eq!(s["fields_set"], 1, "{s}");
}

#[test]
fn an_import_with_one_bad_entry_imports_nothing() {
    let w = World::new();
    w.init();
    w.ok(&["set", "personal.address.town", "York"]);
    let edits_before = w.audit().len();
    let file = w.root().join("fragment.json");
    let bad_files = [
        // One invalid value after good ones.
        (
            r#"{"personal": {"full_name": "Quinn Zebedee", "address": {"town": "Leeds"}, "household": {"size": 99}}}"#,
            "invalid-import",
            "maximum",
        ),
        // One unknown field.
        (
            r#"{"personal": {"full_name": "Quinn Zebedee", "address": {"town": "Leeds", "postcod": "LS1 4AP"}}}"#,
            "invalid-import",
            "personal.address.postcode",
        ),
        // One field of a category not opted into.
        (
            r#"{"personal": {"full_name": "Quinn Zebedee", "address": {"town": "Leeds"}}, "health": {"gp_practice": "Park Lane Surgery"}}"#,
            "not-opted-in",
            "opt-in health",
        ),
        // Not JSON at all: nothing is even unlocked.
        (
            "{\"personal\": {\"full_name\": \"Quinn Zebedee\",\n \"address\": }",
            "invalid-import",
            "line 2",
        ),
        // Not an object of categories.
        (r#"["Quinn Zebedee"]"#, "invalid-import", "JSON object"),
    ];
    for (text, code, hint) in bad_files {
        fs::write(&file, text).unwrap();
        let line = w.fails(&["import", file.to_str().unwrap()], code);
        assert!(line.contains(hint), "{text}: {line}");
        assert!(!line.contains("Zebedee"), "value echoed: {line}");
        assert_eq!(w.get("personal.full_name"), None, "after {text}");
        assert_eq!(
            w.get_str("personal.address.town").as_deref(),
            Some("York"),
            "after {text}"
        );
    }
    let missing = w.root().join("no-such-file.json");
    w.fails(&["import", missing.to_str().unwrap()], "import-unreadable");

    // No import was ever logged, and the good file then imports whole.
    let audit = w.audit();
    assert!(audit.len() > edits_before);
    assert!(!audit.iter().any(|e| e["kind"] == "import"), "{audit:?}");
    fs::write(
        &file,
        r#"{"personal": {"full_name": "Quinn Zebedee", "address": {"town": "Leeds"}}}"#,
    )
    .unwrap();
    w.ok(&["import", file.to_str().unwrap()]);
    assert_eq!(
        w.get_str("personal.full_name").as_deref(),
        Some("Quinn Zebedee")
    );
    assert_eq!(w.get_str("personal.address.town").as_deref(), Some("Leeds"));
    assert_eq!(w.pass, PASS);
}
