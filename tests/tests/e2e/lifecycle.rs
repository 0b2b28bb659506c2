//! The vault's life: confirmations without a terminal, recovery, another program holding
//! the vault, and deleting it for good.

use std::fs;

use serde_json::json;
use twin_vault::{Passphrase, Vault};

use crate::common::{PASS, World, assert_success, files_under, recovery_code_in};

#[test]
fn delete_vault_removes_everything_and_reports_it() {
    let w = World::new();
    w.init();
    w.ok(&["set", "personal.full_name", "Alex Smith"]);
    w.run_env(
        &["get", "personal.full_name"],
        &[("TWIN_PASSPHRASE", "a wrong passphrase")],
    )
    .fails_with("wrong-passphrase");
    let files: Vec<_> = files_under(&w.vault).into_keys().collect();
    assert!(files.contains(&w.vault.join("failed-unlocks")), "{files:?}");

    // Needs no passphrase.
    let mut c = w.bare();
    c.arg("--vault")
        .arg(&w.vault)
        .args(["delete-vault", "--yes"]);
    let out = w.exec(c, None);
    assert_success(&out);
    let listed: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .collect();
    // The key file goes first, then every other file, then the folder.
    assert_eq!(
        listed.first().copied(),
        Some(w.vault.join("vault.keys").to_str().unwrap()),
        "{}",
        out.stdout
    );
    for f in &files {
        assert!(
            listed.contains(&f.to_str().unwrap()),
            "{} not reported: {}",
            f.display(),
            out.stdout
        );
    }
    assert_eq!(
        listed.last().copied(),
        Some(format!("{} (the folder)", w.vault.display()).as_str())
    );
    assert!(!w.vault.exists());
    let line = w.fails(&["status"], "no-vault");
    assert!(line.contains("twin init"), "{line}");
    w.fails(&["get", "personal.full_name"], "no-vault");
    w.fails(&["delete-vault", "--yes"], "no-vault");
}

#[test]
fn delete_vault_keeps_files_that_are_not_the_vaults() {
    let w = World::new();
    w.init();
    let mine = w.vault.join("my-notes.txt");
    fs::write(&mine, "not the twin's").unwrap();
    let out = w.ok(&["delete-vault", "--yes"]);
    assert!(!out.stdout.contains("my-notes.txt"), "{}", out.stdout);
    assert!(!out.stdout.contains("(the folder)"), "{}", out.stdout);
    assert_eq!(
        files_under(&w.vault).into_keys().collect::<Vec<_>>(),
        vec![mine]
    );
    w.fails(&["status"], "no-vault");
}

#[test]
fn recover_names_a_mistyped_group_and_replaces_the_code() {
    let mut w = World::new();
    let code = w.init();
    w.ok(&["set", "personal.full_name", "Alex Smith"]);
    let new_pass = "a passphrase I will remember";
    let recover = |w: &World, code: &str| {
        w.run_env(
            &["recover"],
            &[
                ("TWIN_RECOVERY_CODE", code),
                ("TWIN_NEW_PASSPHRASE", new_pass),
            ],
        )
    };

    // Group 3 mistyped: one character replaced by another of the alphabet.
    let mut groups: Vec<String> = code.split('-').map(str::to_owned).collect();
    let alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let old = groups[2].as_bytes()[1] as char;
    let typo = alphabet
        .chars()
        .find(|c| *c != old)
        .expect("another character");
    groups[2].replace_range(1..2, &typo.to_string());
    let mistyped = groups.join("-");
    let keys_before = fs::read(w.vault.join("vault.keys")).unwrap();
    let line = recover(&w, &mistyped)
        .fails_with("recovery-code-mistyped")
        .to_owned();
    assert!(line.contains("group 3"), "{line}");
    assert!(!line.contains(&mistyped), "{line}");
    // Too short: says how long it should be.
    let line = recover(&w, &code[..code.len() - 6])
        .fails_with("recovery-code-mistyped")
        .to_owned();
    assert!(line.contains("8 groups of 5"), "{line}");
    // A well-formed code of another vault.
    let other = World::new();
    let other_code = other.init();
    recover(&w, &other_code).fails_with("wrong-recovery-code");
    // None of that changed anything.
    assert_eq!(fs::read(w.vault.join("vault.keys")).unwrap(), keys_before);
    assert_eq!(
        w.get_str("personal.full_name").as_deref(),
        Some("Alex Smith")
    );

    // The right code (typed in lower case, with spaces) sets the new passphrase.
    let typed = code.to_lowercase().replace('-', " ");
    let out = recover(&w, &typed);
    assert_success(&out);
    let new_code = recovery_code_in(&out.stdout).expect("a new recovery code");
    assert_ne!(new_code, code);
    assert!(out.stdout.contains("old recovery code no longer works"));
    w.fails(&["get", "personal.full_name"], "wrong-passphrase");
    w.pass = new_pass.into();
    assert_eq!(
        w.get_str("personal.full_name").as_deref(),
        Some("Alex Smith")
    );

    // The old code no longer opens the vault; the new one does, from stdin too.
    recover(&w, &code).fails_with("wrong-recovery-code");
    let out = w.run_stdin(&["recover"], &format!("{new_code}\nthe third passphrase\n"));
    assert_success(&out);
    w.pass = "the third passphrase".into();
    assert_eq!(
        w.get_str("personal.full_name").as_deref(),
        Some("Alex Smith")
    );
    let kinds: Vec<String> = w
        .audit()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "recovered").count(),
        2,
        "{kinds:?}"
    );
    w.assert_audit_intact();
}

#[test]
fn confirmations_without_a_terminal_are_refused_and_change_nothing() {
    let w = World::new();

    // init without --yes: nothing is created.
    let out = w.run(&["init"]);
    out.fails_with("confirmation-needed");
    assert!(recovery_code_in(&out.stdout).is_none());
    assert!(!w.vault.join("vault.keys").exists());

    w.init();
    w.ok(&["opt-in", "health"]);
    w.ok(&["set", "personal.phone", "+44 20 7946 0000"]);
    w.ok(&["set", "health.gp_practice", "Park Lane Surgery"]);
    let before = files_under(&w.vault);

    for args in [
        vec!["erase", "personal.phone"],
        vec!["erase", "personal"],
        vec!["opt-out", "health"],
        vec!["delete-vault"],
    ] {
        let line = w.fails(&args, "confirmation-needed");
        assert!(line.contains("--yes"), "{line}");
        assert_eq!(files_under(&w.vault), before, "{args:?} changed the vault");
    }
    // Piping the word in does not count as a terminal either.
    let out = w.run_stdin(&["erase", "personal.phone"], &format!("{PASS}\nerase\n"));
    out.fails_with("confirmation-needed");
    assert_eq!(files_under(&w.vault), before);

    assert_eq!(
        w.get_str("personal.phone").as_deref(),
        Some("+44 20 7946 0000")
    );
    assert_eq!(
        w.get_str("health.gp_practice").as_deref(),
        Some("Park Lane Surgery")
    );
    let s = w.ok(&["status", "--unlock", "--json"]).json();
    assert_eq!(s["generation"], 1);
    assert_eq!(s["opted_in"], json!(["personal", "government", "health"]));
}

#[test]
fn a_vault_open_elsewhere_is_busy_not_damaged() {
    let w = World::new();
    w.init();
    w.ok(&["set", "personal.full_name", "Alex Smith"]);
    let held = Vault::unlock(&w.vault, &Passphrase::new(PASS.to_owned())).expect("unlock");
    let line = w.fails(&["get", "personal.full_name"], "vault-busy");
    assert!(line.contains("try again"), "{line}");
    w.fails(&["set", "personal.full_name", "Mallory"], "vault-busy");
    w.fails(&["delete-vault", "--yes"], "vault-busy");
    held.lock().expect("lock");
    assert_eq!(
        w.get_str("personal.full_name").as_deref(),
        Some("Alex Smith")
    );
    w.assert_audit_intact();
}
