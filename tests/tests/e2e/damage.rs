//! Damaged files: a truncated or bit-flipped database, a missing database, a truncated
//! or bit-flipped key file. Each is refused with one clear line naming the file — never
//! a panic, never wrong values, and the vault is never silently re-created.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{Out, World, assert_no_panic, files_under, recovery_code_in};

type Snapshot = BTreeMap<PathBuf, Vec<u8>>;

/// Puts the vault folder back exactly as `snap` (removing files it did not have).
fn restore(dir: &Path, snap: &Snapshot) {
    for p in files_under(dir).keys() {
        if !snap.contains_key(p) {
            fs::remove_file(p).unwrap();
        }
    }
    for (p, bytes) in snap {
        fs::write(p, bytes).unwrap();
    }
}

/// Asserts `out` refused the damaged `file` in the contract's form, with one of `codes`,
/// naming the file, without a recovery code.
fn refused_naming(out: &Out, file: &Path, codes: &[&str], what: &str) {
    assert!(
        !out.status.success(),
        "{what}: {} succeeded: {}",
        out.what,
        out.stdout
    );
    assert_no_panic(out);
    let code = codes
        .iter()
        .find(|c| out.stderr.trim_end().ends_with(&format!("[code: {c}]")))
        .unwrap_or_else(|| panic!("{what}: expected one of {codes:?}, got {}", out.stderr));
    out.fails_with(code);
    let name = file.file_name().unwrap().to_str().unwrap();
    assert!(
        out.stderr.contains(name),
        "{what}: the error does not name {name}: {}",
        out.stderr
    );
    assert!(
        recovery_code_in(&out.stdout).is_none(),
        "{what}: a recovery code was printed: {}",
        out.stdout
    );
}

/// `init` on a damaged vault must refuse: it is still there.
fn init_refused(w: &World, what: &str) {
    let out = w.run(&["init", "--yes"]);
    assert!(
        recovery_code_in(&out.stdout).is_none(),
        "{what}: init made a new vault: {}",
        out.stdout
    );
    out.fails_with("vault-exists");
}

#[test]
fn a_damaged_or_missing_database_is_refused_by_name_and_never_recreated() {
    let w = World::new();
    w.init();
    w.ok(&["set", "personal.full_name", "Alex Smith"]);
    w.ok(&["set", "personal.address.town", "Leeds"]);
    let db = w.database();
    assert_eq!(db.file_name().unwrap(), "twin-1.db");
    let keys = w.vault.join("vault.keys");
    let pristine = files_under(&w.vault);
    let original = pristine[&db].clone();
    let page = 4096;
    assert_eq!(original.len() % page, 0, "the database is whole pages");
    let pages = original.len() / page;
    assert!(pages >= 3, "{pages} pages");

    let mut cases: Vec<(String, Option<Vec<u8>>)> = Vec::new();
    for len in [
        0,
        100,
        page,
        original.len() / 2,
        original.len() - page,
        original.len() - 1,
    ] {
        cases.push((
            format!("truncated to {len} bytes"),
            Some(original[..len].to_vec()),
        ));
    }
    for p in 0..pages {
        for off in [0, 100, page / 2, page - 1] {
            let mut d = original.clone();
            d[p * page + off] ^= 0x01;
            cases.push((format!("bit flipped in page {} at {off}", p + 1), Some(d)));
        }
    }
    cases.push(("missing".into(), None));

    let mut refused_pages = std::collections::BTreeSet::new();
    for (what, damaged) in &cases {
        restore(&w.vault, &pristine);
        match damaged {
            Some(d) => fs::write(&db, d).unwrap(),
            None => fs::remove_file(&db).unwrap(),
        }
        let out = w.run(&["get", "personal.full_name", "--json"]);
        if out.status.success() {
            // Only damage nothing reads may go unnoticed (a free page): then every value
            // must be right and every table must still read.
            assert!(
                what.starts_with("bit flipped") && !what.contains("page 1 "),
                "{what}: accepted"
            );
            assert_eq!(out.json()["value"], "Alex Smith", "{what}");
            assert_eq!(
                w.get_str("personal.address.town").as_deref(),
                Some("Leeds"),
                "{what}"
            );
            let v = w.run(&["audit", "verify"]);
            if !v.status.success() {
                refused_naming(&v, &db, &["database-damaged"], what);
            }
            continue;
        }
        let codes: &[&str] = if damaged.is_some() {
            &["database-damaged"]
        } else {
            &["database-missing"]
        };
        refused_naming(&out, &db, codes, what);
        if let Some(p) = what.strip_prefix("bit flipped in page ") {
            refused_pages.insert(p.split(' ').next().unwrap().to_owned());
        }
        // A write is refused the same way.
        if what.contains("page 2 at 100") || what.contains("truncated to 0") {
            let out = w.run(&["set", "personal.full_name", "Mallory"]);
            refused_naming(&out, &db, codes, what);
        }
        init_refused(&w, what);
        // Nothing was repaired, replaced or added.
        let now = files_under(&w.vault);
        assert_eq!(now.get(&db), damaged.as_ref(), "{what}: database touched");
        assert_eq!(
            now.get(&keys),
            pristine.get(&keys),
            "{what}: key file touched"
        );
        let mut names: Vec<_> = now.keys().collect();
        names.retain(|p| *p != &db);
        let mut before: Vec<_> = pristine.keys().collect();
        before.retain(|p| *p != &db);
        assert_eq!(names, before, "{what}: files added or removed");
    }
    assert!(refused_pages.contains("1"), "{refused_pages:?}");
    assert!(
        refused_pages.len() >= 2,
        "flips in data pages must be caught: {refused_pages:?}"
    );

    // Put back whole, the vault opens with its values: the damage was the cause.
    restore(&w.vault, &pristine);
    assert_eq!(
        w.get_str("personal.full_name").as_deref(),
        Some("Alex Smith")
    );
    w.assert_audit_intact();
}

#[test]
fn a_damaged_key_file_is_refused_by_name_and_never_recreated() {
    let w = World::new();
    w.init();
    w.ok(&["set", "personal.full_name", "Alex Smith"]);
    let keys = w.vault.join("vault.keys");
    let db = w.database();
    let pristine = files_under(&w.vault);
    let original = pristine[&keys].clone();

    let check = |what: &str, damaged: &[u8], cmd: &[&str]| {
        let out = w.run(cmd);
        refused_naming(&out, &keys, &["key-file-damaged"], what);
        assert_eq!(
            fs::read(&keys).unwrap(),
            damaged,
            "{what}: key file touched"
        );
        assert_eq!(
            fs::read(&db).unwrap(),
            pristine[&db],
            "{what}: database touched"
        );
    };

    // Truncated: refused by every command, including the one that needs no passphrase.
    let n = original.len();
    for len in [0, 1, 10, n / 4, n / 2, n - 2] {
        let what = format!("key file truncated to {len} bytes");
        let damaged = &original[..len];
        fs::write(&keys, damaged).unwrap();
        check(&what, damaged, &["get", "personal.full_name"]);
        check(&what, damaged, &["status", "--json"]);
        check(&what, damaged, &["set", "personal.full_name", "Mallory"]);
        init_refused(&w, &what);
    }

    // One bit flipped, at every byte of the file.
    for i in 0..n {
        let mut damaged = original.clone();
        damaged[i] ^= 0x01;
        fs::write(&keys, &damaged).unwrap();
        check(
            &format!("key file bit flipped at byte {i}"),
            &damaged,
            &["get", "personal.full_name"],
        );
    }
    restore(&w.vault, &pristine);
    assert_eq!(
        w.get_str("personal.full_name").as_deref(),
        Some("Alex Smith")
    );

    // The right to be forgotten does not need a readable key file.
    fs::write(&keys, &original[..n / 2]).unwrap();
    let out = w.ok(&["delete-vault", "--yes"]);
    assert!(out.stdout.contains("vault.keys"), "{}", out.stdout);
    assert!(!w.vault.exists(), "the vault folder is still there");
}
