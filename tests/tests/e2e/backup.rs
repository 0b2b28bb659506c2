//! Backups through the real `twin` binary: export, the support desk's verify and
//! inspect (no passphrase, no content), restore into a new folder, and damage.

use std::fs;

use crate::common::{PASS, World, contains};

const SECRET: &str = "Zebedee Quintrell-Applegarth";

#[test]
fn export_verify_inspect_restore_and_damage() {
    let w = World::new();
    w.init();
    w.ok(&["set", "personal.full_name", SECRET]);
    let file = w.root().join("my.twinbackup");
    let f = file.to_str().unwrap();
    let out = w.ok(&["backup", "export", f, "--json"]).json();
    let fp = out["fingerprint_short"].as_str().unwrap().to_owned();
    assert!(file.is_file());
    assert!(!contains(&fs::read(&file).unwrap(), SECRET.as_bytes()));

    // Support desk: no vault, no passphrase, no content.
    let mut c = w.bare();
    c.args(["backup", "verify", f]);
    let v = w.exec(c, None);
    assert!(v.status.success(), "{}", v.stderr);
    assert!(v.stdout.contains("whole") && v.stdout.contains(&fp));
    let mut c = w.bare();
    c.args(["backup", "inspect", f]);
    let i = w.exec(c, None);
    assert!(i.status.success(), "{}", i.stderr);
    assert!(i.stdout.contains(&fp) && i.stdout.contains("format version 1"));
    assert!(!i.stdout.contains(SECRET) && !v.stdout.contains(SECRET));

    // The citizen's settings show the same fingerprint.
    let st = w.ok(&["status", "--unlock", "--json"]).json();
    assert_eq!(st["backup_fingerprint"], fp.as_str());
    let list = w.ok(&["backup", "list", "--json"]).json();
    assert_eq!(list.as_array().unwrap().len(), 1);

    // Restore into an empty folder: a vault with the same content.
    let into = w.root().join("restored");
    let r = w
        .ok(&[
            "backup",
            "restore",
            f,
            "--into",
            into.to_str().unwrap(),
            "--json",
        ])
        .json();
    assert_eq!(r["mode"], "created");
    assert!(r["lost"].as_array().unwrap().is_empty());
    let mut c = w.bare();
    c.arg("--vault")
        .arg(&into)
        .env("TWIN_PASSPHRASE", PASS)
        .args(["get", "personal.full_name", "--json"]);
    let g = w.exec(c, None);
    assert!(g.status.success(), "{}", g.stderr);
    assert!(g.stdout.contains(SECRET));

    // Merging it back into the original brings nothing new and is allowed.
    let m = w.ok(&["backup", "restore", f, "--json"]).json();
    assert_eq!(m["mode"], "merged");

    // A truncated copy: verify names the chunk and part, and exits non-zero.
    let bytes = fs::read(&file).unwrap();
    let cut = w.root().join("cut.twinbackup");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let mut c = w.bare();
    c.args(["backup", "verify", cut.to_str().unwrap()]);
    let line = w.exec(c, None).fails_with("backup-truncated").to_owned();
    assert!(line.contains("chunk") && line.contains("part"), "{line}");

    // A flipped bit in the body: damage with chunk, part and byte offset.
    let mut flipped = bytes.clone();
    let at = flipped.len() / 3;
    flipped[at] ^= 0x10;
    let bad = w.root().join("bad.twinbackup");
    fs::write(&bad, &flipped).unwrap();
    let mut c = w.bare();
    c.args(["backup", "verify", bad.to_str().unwrap()]);
    let line = w.exec(c, None).fails_with("backup-damaged").to_owned();
    assert!(line.contains("chunk") && line.contains("byte"), "{line}");

    // A newer format version: "update the app", for verify, inspect and restore.
    let mut newer = bytes.clone();
    newer[8..10].copy_from_slice(&2u16.to_be_bytes());
    {
        use sha2::Digest;
        let sum: [u8; 32] = sha2::Sha256::digest(&newer[..326 - 32]).into();
        newer[326 - 32..326].copy_from_slice(&sum);
    }
    let nf = w.root().join("newer.twinbackup");
    fs::write(&nf, &newer).unwrap();
    let nfs = nf.to_str().unwrap();
    for args in [
        vec!["backup", "verify", nfs],
        vec!["backup", "inspect", nfs],
    ] {
        let mut c = w.bare();
        c.args(&args);
        let line = w.exec(c, None).fails_with("newer-format").to_owned();
        assert!(line.contains("update the app"), "{line}");
    }
    let other = w.root().join("other");
    w.fails(
        &["backup", "restore", nfs, "--into", other.to_str().unwrap()],
        "newer-format",
    );

    // A wrong passphrase restores nothing.
    let mut c = w.bare();
    c.arg("--vault")
        .arg(&other)
        .env("TWIN_PASSPHRASE", "not the right passphrase")
        .args(["backup", "restore", f]);
    w.exec(c, None).fails_with("wrong-passphrase");
    assert!(!other.join("vault.keys").exists());
}
