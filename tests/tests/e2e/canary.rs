//! A unique canary value written through the command line must never appear in clear:
//! not in any file the program can write (vault, HOME, XDG folders, TMPDIR), not in any
//! output except the commands that print values by design (`get`, `show`, `history`),
//! and not in any error message — including the errors about the value itself.

use std::fs;
use std::path::Path;

use crate::common::{Out, PASS, World, assert_success, contains, files_under, random_hex};

/// Runs `twin` with the default vault location (from XDG_DATA_HOME) and keeps the output.
struct Session<'a> {
    w: &'a World,
    outputs: Vec<(String, Out)>,
}

impl Session<'_> {
    fn run(&mut self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> &Out {
        let mut c = self.w.bare();
        if stdin.is_some() {
            c.arg("--passphrase-stdin");
        } else {
            c.env("TWIN_PASSPHRASE", PASS);
        }
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = self.w.exec(c, stdin);
        self.outputs.push((args[0].to_owned(), out));
        &self.outputs.last().unwrap().1
    }

    fn ok(&mut self, args: &[&str]) -> &Out {
        let out = self.run(args, None, &[]);
        assert_success(out);
        out
    }

    fn fails(&mut self, args: &[&str], code: &str) {
        self.run(args, None, &[]).fails_with(code);
    }
}

fn scan_files(dir: &Path, needles: &[&[u8]], skip: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for (path, bytes) in files_under(dir) {
        if path.starts_with(skip) {
            continue;
        }
        for n in needles {
            if contains(&bytes, n) || contains(path.to_string_lossy().as_bytes(), n) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[test]
fn the_canary_never_appears_in_clear() {
    let w = World::new();
    let canary = format!("CANARY{}", random_hex(8));
    let c = canary.as_str();
    let inputs = w.root().join("inputs");
    fs::create_dir_all(&inputs).unwrap();
    let mut s = Session {
        w: &w,
        outputs: Vec::new(),
    };

    s.ok(&["init", "--yes"]);
    let vault = w.xdg_data().join("citizen-twin").join("vault");
    assert!(
        vault.join("vault.keys").is_file(),
        "the default vault is not under XDG_DATA_HOME"
    );

    // Write it into several fields, by argument, by stdin and by import.
    s.ok(&["set", "personal.full_name", c, "--why", &format!("{c} why")]);
    s.ok(&["set", "personal.email", &format!("{c}@example.org")]);
    s.ok(&["opt-in", "health"]);
    s.ok(&[
        "set",
        "health.medications",
        &format!(r#"[{{"name": "{c}", "dose": "1 {c}"}}]"#),
    ]);
    let out = s.run(
        &["set", "personal.address.line1", "-"],
        Some(&format!("{PASS}\n1 {c} Road\n")),
        &[],
    );
    assert_success(out);
    let file = inputs.join("fragment.json");
    fs::write(
        &file,
        format!(r#"{{"personal": {{"address": {{"town": "{c}ton"}}}}}}"#),
    )
    .unwrap();
    s.ok(&["import", file.to_str().unwrap()]);

    // Commands that print values by design do print it (so the scan below means
    // something).
    assert!(s.ok(&["get", "personal.full_name"]).stdout.contains(c));
    assert!(s.ok(&["show", "--json"]).stdout.contains(c));
    assert!(s.ok(&["history", "personal.full_name"]).stdout.contains(c));
    s.ok(&["get", "health.medications", "--json"]);

    // Errors about the value itself never repeat it.
    let long = c.repeat(20);
    let refused: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "set".into(),
                "personal.email".into(),
                format!("{c}-not-an-email"),
            ],
            "invalid-value",
        ),
        (
            vec!["set".into(), "personal.household.size".into(), c.into()],
            "invalid-value",
        ),
        (
            vec![
                "set".into(),
                "government.tax.annual_income".into(),
                c.into(),
            ],
            "invalid-value",
        ),
        (
            vec!["set".into(), "personal.address.postcode".into(), c.into()],
            "invalid-value",
        ),
        (
            vec![
                "set".into(),
                "personal.preferences.contact_channel".into(),
                c.into(),
            ],
            "invalid-value",
        ),
        (
            vec!["set".into(), "government.tax.reference".into(), c.into()],
            "invalid-value",
        ),
        (
            vec!["set".into(), "personal.date_of_birth".into(), c.into()],
            "invalid-value",
        ),
        (
            vec!["set".into(), "personal.full_name".into(), long.clone()],
            "invalid-value",
        ),
        (
            vec!["set".into(), "health.medications".into(), format!("[{c}")],
            "invalid-value",
        ),
        (
            vec![
                "set".into(),
                "health.medications".into(),
                format!(r#"[{{"name": 5, "dose": "{c}"}}]"#),
            ],
            "invalid-value",
        ),
        (
            vec![
                "set".into(),
                "health.immunisations".into(),
                format!(r#"[{{"name": "{c}", "date": "{c}"}}]"#),
            ],
            "invalid-value",
        ),
        (
            vec!["set".into(), "social.feedback".into(), c.into()],
            "not-opted-in",
        ),
    ];
    for (args, code) in &refused {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        s.fails(&args, code);
    }
    for (text, code) in [
        (
            format!(r#"{{"personal": {{"email": "{c}"}}}}"#),
            "invalid-import",
        ),
        (
            format!(r#"{{"personal": {{"full_name": "{c}", "household": {{"size": "{c}"}}}}}}"#),
            "invalid-import",
        ),
        (
            format!("{{\"personal\": {{\"full_name\": \"{c}\"\n"),
            "invalid-import",
        ),
    ] {
        fs::write(&file, text).unwrap();
        s.fails(&["import", file.to_str().unwrap()], code);
    }
    let out = s.run(
        &["get", "personal.full_name"],
        None,
        &[("TWIN_PASSPHRASE", c)],
    );
    out.fails_with("wrong-passphrase");

    // Everything else the citizen might run.
    s.ok(&["status"]);
    s.ok(&["status", "--json"]);
    s.ok(&["status", "--unlock", "--json"]);
    s.ok(&["audit"]);
    s.ok(&["audit", "--json"]);
    s.ok(&["audit", "verify"]);
    s.ok(&["audit", "verify", "--json"]);
    s.ok(&["opt-in", "social"]);
    s.ok(&["set", "personal.phone", "+44 20 7946 0000"]);
    s.ok(&["erase", "personal.phone", "--yes"]);
    s.ok(&["set", "personal.full_name", &format!("{c} Again")]);
    let out = s.run(
        &["passwd"],
        None,
        &[("TWIN_NEW_PASSPHRASE", "another long passphrase")],
    );
    assert_success(out);
    let out = s.run(
        &["passwd"],
        Some("another long passphrase\ncorrect horse battery staple\n"),
        &[],
    );
    assert_success(out);
    s.ok(&["status", "--unlock"]);

    // Outputs: values only from get/show/history stdout.
    for (cmd, out) in &s.outputs {
        assert!(
            !out.stderr.contains(c),
            "{} wrote the canary to stderr: {}",
            out.what.replace(c, "<canary>"),
            out.stderr
        );
        if !["get", "show", "history"].contains(&cmd.as_str()) {
            assert!(
                !out.stdout.contains(c),
                "{} printed the canary: {}",
                out.what.replace(c, "<canary>"),
                out.stdout
            );
        }
    }

    // Files: everything in the test's world (vault, HOME, XDG folders, TMPDIR), in clear
    // or hex. The input file is the control that the scan finds what is there.
    let hex: String = c.bytes().map(|b| format!("{b:02x}")).collect();
    let lower = c.to_lowercase();
    let needles: [&[u8]; 3] = [c.as_bytes(), lower.as_bytes(), hex.as_bytes()];
    let control = scan_files(&inputs, &needles, Path::new("/nonexistent"));
    assert!(!control.is_empty(), "the scan cannot find the canary");
    let found = scan_files(w.root(), &needles, &inputs);
    assert!(found.is_empty(), "the canary is in clear in: {found:?}");
    for dir in [w.home(), w.xdg_data(), w.xdg_cache(), w.tmpdir(), vault] {
        assert!(
            dir.starts_with(w.root()),
            "{} was not scanned",
            dir.display()
        );
    }
}

/// The schema's message for an unexpected property inside a list value quotes the
/// property's name, which the citizen typed as part of the value.
#[test]
fn an_unexpected_key_inside_a_list_value_is_not_echoed() {
    let w = World::new();
    w.init();
    w.ok(&["opt-in", "health"]);
    let canary = format!("CANARY{}", random_hex(8));
    let value = format!(r#"[{{"name": "Metformin", "{canary}": "5 mg"}}]"#);
    let line = w.fails(&["set", "health.medications", &value], "invalid-value");
    assert!(!line.contains(&canary), "{line}");
}
