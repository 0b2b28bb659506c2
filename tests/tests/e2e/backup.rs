//! Backups through the real `twin` binary: export, the support desk's verify and
//! inspect (no passphrase, no content), restore into a new folder, and damage.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::common::{PASS, World, assert_success, contains, files_under, names_in, random_hex};

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

/// `twin --vault DIR ARGS…` with the world's passphrase.
fn in_vault(w: &World, dir: &Path, args: &[&str]) -> Command {
    let mut c = w.bare();
    c.arg("--vault")
        .arg(dir)
        .env("TWIN_PASSPHRASE", &w.pass)
        .args(args);
    c
}

/// `show personal --json` of the vault in `dir` (which also proves it opens).
fn shown(w: &World, dir: &Path) -> Value {
    let out = w.exec(in_vault(w, dir, &["show", "personal", "--json"]), None);
    assert_success(&out);
    out.json()
}

fn audit_intact(w: &World, dir: &Path) {
    let out = w.exec(in_vault(w, dir, &["audit", "verify", "--json"]), None);
    assert_success(&out);
    let r = out.json();
    assert_eq!(r["first_broken"], Value::Null, "audit chain broken: {r}");
    assert_eq!(r["cut_short"], json!([]), "audit log cut: {r}");
}

fn seed() -> u64 {
    std::env::var("TWIN_E2E_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        })
}

/// xorshift64*, replayable from the printed seed.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// Runs `cmd` and SIGKILLs it `after` later (a no-op if it finished first). Returns
/// whether it exited by itself with success; any other ending must be the kill.
fn run_and_kill(mut cmd: Command, after: Duration, what: &str) -> bool {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn twin");
    sleep(after);
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait for twin");
    if out.status.success() {
        return true;
    }
    assert_eq!(
        out.status.signal(),
        Some(9),
        "{what} failed without being killed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

const KILL_ROUNDS: u64 = 8;

/// `kill -9` of a restore into a new folder, and of a merge into an existing vault, at
/// random moments: the target is afterwards either as it was (no vault in a folder that
/// had none; the same fields in a vault) or complete — it opens, its log verifies, and
/// it shows what the backup holds — never half-restored or half-merged.
#[test]
fn restore_and_merge_killed_midway_leave_the_target_as_it_was_or_complete() {
    let mut rng = seed();
    eprintln!("backup kill test seed: TWIN_E2E_SEED={rng}");
    let w = World::new();
    w.init();
    w.ok(&["set", "personal.full_name", "Alex Smith"]);
    w.ok(&["set", "personal.address.town", "Leeds"]);
    let file = w.root().join("a.twinbackup");
    w.ok(&["backup", "export", file.to_str().unwrap()]);
    let want = shown(&w, &w.vault);

    // Restore --into a missing folder (even rounds) or an empty one (odd rounds).
    let f = file.to_str().unwrap().to_owned();
    let restore = |into: &Path| {
        in_vault(
            &w,
            &w.vault,
            &["backup", "restore", &f, "--into", into.to_str().unwrap()],
        )
    };
    let start = Instant::now();
    let cal = w.root().join("calibration");
    assert_success(&w.exec(restore(&cal), None));
    let total_us = start.elapsed().as_micros() as u64;
    let (mut killed, mut finished) = (0, 0);
    for round in 0..KILL_ROUNDS {
        let into = w.root().join(format!("restored-{round}"));
        if round % 2 == 1 {
            fs::create_dir(&into).unwrap();
        }
        let after = Duration::from_micros(next(&mut rng) % (total_us * 6 / 5 + 1));
        let done = run_and_kill(restore(&into), after, "restore");
        if into.join("vault.keys").exists() {
            assert_eq!(shown(&w, &into), want, "round {round} (seed {rng})");
            audit_intact(&w, &into);
        } else {
            assert!(!done, "round {round}: restore succeeded but left no vault");
            if round % 2 == 1 {
                assert_eq!(names_in(&into), Vec::<String>::new(), "round {round}");
            } else {
                assert!(!into.exists(), "round {round}: {:?}", names_in(&into));
            }
            // Restoring again works, and clears what the killed one left beside it.
            assert_success(&w.exec(restore(&into), None));
            assert_eq!(shown(&w, &into), want);
        }
        if done {
            finished += 1
        } else {
            killed += 1
        }
        let staging = format!(".restored-{round}.restoring");
        assert!(
            !names_in(w.root()).contains(&staging),
            "round {round}: {staging} left"
        );
    }
    eprintln!("restore: {killed} killed, {finished} finished first");

    // Merge: a copy edited elsewhere, exported, merged back while being killed.
    let b = w.root().join("restored-0");
    let (mut killed, mut finished) = (0, 0);
    let mut total_us = None;
    for round in 0..KILL_ROUNDS {
        let phone = format!("+44 20 7946 {round:04}");
        assert_success(&w.exec(in_vault(&w, &b, &["set", "personal.phone", &phone]), None));
        let fb = w.root().join(format!("b-{round}.twinbackup"));
        assert_success(&w.exec(
            in_vault(&w, &b, &["backup", "export", fb.to_str().unwrap()]),
            None,
        ));
        let after_state = shown(&w, &b);
        let before = shown(&w, &w.vault);
        let merge = in_vault(&w, &w.vault, &["backup", "restore", fb.to_str().unwrap()]);
        let done = match total_us {
            None => {
                let start = Instant::now();
                assert_success(&w.exec(merge, None));
                total_us = Some(start.elapsed().as_micros() as u64);
                true
            }
            Some(t) => run_and_kill(
                merge,
                Duration::from_micros(next(&mut rng) % (t * 6 / 5 + 1)),
                "merge",
            ),
        };
        let seen = shown(&w, &w.vault);
        if done {
            finished += 1;
            assert_eq!(seen, after_state, "round {round}: merged (seed {rng})");
        } else {
            killed += 1;
            assert!(
                seen == before || seen == after_state,
                "round {round}: half-merged: {seen} is neither {before} nor {after_state} (seed {rng})"
            );
        }
        audit_intact(&w, &w.vault);
    }
    eprintln!("merge: {killed} killed, {finished} finished first");
}

/// A disk filling up during an export (a file-size limit): no file under the final name,
/// no temporary file beside it when the process lived to clean up, and the vault
/// unchanged. The same export without the limit then succeeds.
#[test]
fn an_export_that_runs_out_of_space_leaves_nothing_and_changes_nothing() {
    let w = World::new();
    w.init();
    w.ok(&["opt-in", "health"]);
    // Random text does not compress: the backup outgrows the limit, the vault's own
    // writes at unlock (a few WAL pages) do not.
    for _ in 0..3 {
        let meds: Vec<Value> = (0..100)
            .map(|_| json!({"name": random_hex(50), "dose": random_hex(25), "schedule": random_hex(50)}))
            .collect();
        let imp = w.root().join("meds.json");
        fs::write(&imp, json!({"health": {"medications": meds}}).to_string()).unwrap();
        w.ok(&["import", imp.to_str().unwrap()]);
    }
    let before = w.ok(&["show", "--json"]).json();
    let out_dir = w.root().join("usb");
    fs::create_dir(&out_dir).unwrap();
    let file = out_dir.join("full.twinbackup");
    let twin = crate::common::twin_bin().to_str().unwrap().to_owned();
    // 64 blocks: 32 KiB (dash counts 512-byte blocks) or 64 KiB; the backup is larger.
    for (trap, survives) in [("", false), ("trap '' XFSZ; ", true)] {
        let mut c = w.bare();
        c.env("TWIN_PASSPHRASE", &w.pass).args([
            "-c",
            &format!("{trap}ulimit -f 64; exec \"$0\" --vault \"$1\" backup export \"$2\""),
            &twin,
            w.vault.to_str().unwrap(),
            file.to_str().unwrap(),
        ]);
        let mut sh = Command::new("/bin/sh");
        sh.args(c.get_args()).current_dir(w.root()).env_clear();
        for (k, v) in c.get_envs() {
            if let Some(v) = v {
                sh.env(k, v);
            }
        }
        let out = sh.output().expect("run sh");
        assert!(!out.status.success(), "the export fit under the limit");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if survives {
            assert_eq!(out.status.code(), Some(1), "{stderr}");
            assert!(
                stderr.contains("[code: backup-write-failed]")
                    || stderr.contains("[code: disk-full]")
                    || stderr.contains("[code: io-error]"),
                "{stderr}"
            );
            assert!(!stderr.contains("panicked"), "{stderr}");
            assert_eq!(names_in(&out_dir), Vec::<String>::new(), "left beside it");
        } else {
            assert_eq!(out.status.signal(), Some(libc_sigxfsz()), "{stderr}");
            assert!(!file.exists());
            // A killed process cannot clean up: only its temporary file may be left.
            for n in names_in(&out_dir) {
                assert!(n.starts_with(".full.twinbackup.tmp-"), "{n}");
                fs::remove_file(out_dir.join(n)).unwrap();
            }
        }
        assert!(!file.exists(), "a backup under the final name");
        assert_eq!(w.ok(&["show", "--json"]).json(), before);
        assert_eq!(w.ok(&["backup", "list", "--json"]).json(), json!([]));
        w.assert_audit_intact();
    }
    w.ok(&["backup", "export", file.to_str().unwrap()]);
    let mut c = w.bare();
    c.args(["backup", "verify", file.to_str().unwrap()]);
    assert_success(&w.exec(c, None));
    assert_eq!(names_in(&out_dir), vec!["full.twinbackup".to_owned()]);
}

fn libc_sigxfsz() -> i32 {
    25 // SIGXFSZ on Linux
}

/// Before an erasure or a deletion the citizen sees the backups this twin made that still
/// exist (where, when) and that they still hold the value; `--delete-backups` deletes
/// them after it succeeded, and without it they are kept and the output says how.
#[test]
fn erase_opt_out_and_delete_vault_name_the_backups_that_still_hold_the_value() {
    let w = World::new();
    w.init();
    w.ok(&["opt-in", "health"]);
    w.ok(&["set", "personal.phone", "+44 20 7946 0000"]);
    w.ok(&["set", "health.gp_practice", "Park Lane Surgery"]);
    let one = w.root().join("one.twinbackup");
    let two = w.root().join("two.twinbackup");
    let gone = w.root().join("gone.twinbackup");
    for f in [&one, &two, &gone] {
        w.ok(&["backup", "export", f.to_str().unwrap()]);
    }
    fs::remove_file(&gone).unwrap();
    let canon = |p: &Path| fs::canonicalize(p).unwrap().display().to_string();

    // Erase without --delete-backups: listed before the erasure's report, and kept.
    let out = w.ok(&["erase", "personal.phone", "--yes"]);
    let s = &out.stdout;
    let warn = s.find("still hold").expect(s);
    let erased = s.find("Erased personal.phone").expect(s);
    assert!(warn < erased, "the warning comes first: {s}");
    assert!(s.contains(&canon(&one)) && s.contains(&canon(&two)), "{s}");
    assert!(
        !s.contains("gone.twinbackup"),
        "a deleted backup is not listed: {s}"
    );
    assert!(s.contains("--delete-backups"), "{s}");
    assert!(one.exists() && two.exists());

    // Without a terminal, asking first is still refused before anything changes.
    let before = files_under(&w.vault);
    w.fails(
        &["erase", "health", "--delete-backups"],
        "confirmation-needed",
    );
    assert_eq!(files_under(&w.vault), before);
    assert!(one.exists() && two.exists());

    // opt-out --delete-backups: erased, then the backups deleted (plainly, and it says so).
    let (p1, p2) = (canon(&one), canon(&two));
    let out = w.ok(&["opt-out", "health", "--yes", "--delete-backups"]);
    let s = &out.stdout;
    assert!(
        s.find("still hold").unwrap() < s.find("You opted out").unwrap(),
        "{s}"
    );
    assert!(s.contains(&format!("Deleted the backup {p1}")), "{s}");
    assert!(s.contains(&format!("Deleted the backup {p2}")), "{s}");
    assert!(s.contains("not overwritten"), "{s}");
    assert!(!one.exists() && !two.exists());
    assert_eq!(w.get("health.gp_practice"), None);

    // delete-vault: with the passphrase the backups are listed and deleted after.
    let three = w.root().join("three.twinbackup");
    w.ok(&["backup", "export", three.to_str().unwrap()]);
    let p3 = canon(&three);
    let out = w.ok(&["delete-vault", "--yes", "--delete-backups"]);
    let s = &out.stdout;
    assert!(
        s.find(&p3).unwrap() < s.find("Your twin was deleted").unwrap(),
        "{s}"
    );
    assert!(s.contains(&format!("Deleted the backup {p3}")), "{s}");
    assert!(!three.exists() && !w.vault.exists());
}

/// `delete-vault` needs no passphrase; without one it cannot list the backups, says so
/// when asked to delete them, and deletes the vault anyway, leaving the backups.
#[test]
fn delete_vault_without_the_passphrase_keeps_the_backups_and_says_so() {
    let w = World::new();
    w.init();
    let file = w.root().join("kept.twinbackup");
    w.ok(&["backup", "export", file.to_str().unwrap()]);
    let mut c = w.bare();
    c.arg("--vault")
        .arg(&w.vault)
        .args(["delete-vault", "--yes", "--delete-backups"]);
    let out = w.exec(c, None);
    assert_success(&out);
    assert!(out.stdout.contains("cannot be listed"), "{}", out.stdout);
    assert!(file.exists());
    assert!(!w.vault.exists());
}
