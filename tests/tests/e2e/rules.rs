//! Rule packs end to end: a real sandbox agency signs its pack with
//! `twin-agency rules sign`; the signature holds against its card, and a pack naming
//! another publisher is refused before anything is signed.

use std::path::{Path, PathBuf};
use std::process::Command;

use twin_protocol::{AgencyCard, verify_rule_pack};

use crate::agency::{agency, agency_bin, now};

fn pack_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../packaging/rules")
        .join(name)
}

#[test]
fn an_agency_signs_its_own_pack_and_refuses_another_publishers() {
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let dir = tmp.path().join("agency");
    agency(
        &dir,
        &[
            "init",
            "--name",
            "Sandbox Benefits",
            "--id",
            "sandbox-benefits",
            "--sandbox",
        ],
    );
    let card: AgencyCard =
        serde_json::from_slice(&std::fs::read(dir.join("card.json")).expect("card.json"))
            .expect("a card");

    let out = tmp.path().join("benefits.twinrules");
    let pack = pack_path("benefits.json");
    let said = agency(
        &dir,
        &[
            "rules",
            "sign",
            pack.to_str().expect("utf-8 path"),
            "--out",
            out.to_str().expect("utf-8 path"),
        ],
    );
    assert!(said.contains("Signed rule pack"), "{said}");
    let signed = std::fs::read(&out).expect("the signed pack");
    let payload = verify_rule_pack(&signed, &card, now()).expect("the signature holds");
    assert_eq!(payload, std::fs::read(&pack).expect("the pack"));

    // A pack of another publisher is refused, and nothing is written.
    let other = tmp.path().join("tax.twinrules");
    let tax = pack_path("tax.json");
    let refused = Command::new(agency_bin())
        .arg("--dir")
        .arg(&dir)
        .args(["rules", "sign"])
        .arg(&tax)
        .arg("--out")
        .arg(&other)
        .output()
        .expect("twin-agency runs");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("not this agency") && stderr.contains("[code: wrong-publisher]"),
        "{stderr}"
    );
    assert!(!other.exists());
}

fn sign(dir: &Path, pack: &Path, out: &Path) {
    agency(
        dir,
        &[
            "rules",
            "sign",
            pack.to_str().expect("utf-8 path"),
            "--out",
            out.to_str().expect("utf-8 path"),
        ],
    );
}

/// A sandbox agency `name` (`id`) set up under `root` and served on loopback, with
/// `purposes` on its card (else the sandbox set): its folder, its address and the server.
fn serve_agency(
    root: &Path,
    name: &str,
    id: &str,
    purposes: Option<&Path>,
) -> (PathBuf, String, crate::agency::Server) {
    let dir = root.join(id);
    let port = crate::agency::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut args = vec![
        "init",
        "--name",
        name,
        "--id",
        id,
        "--sandbox",
        "--endpoint",
        &url,
    ];
    if let Some(p) = purposes {
        args.extend(["--purposes", p.to_str().expect("utf-8 path")]);
    }
    agency(&dir, &args);
    let server = crate::agency::Server::start_on(&dir, port);
    (dir, url, server)
}

#[test]
fn a_citizen_adds_a_signed_pack_gets_explained_suggestions_and_applies() {
    use crate::common::World;

    let w = World::new();
    w.init();
    let root = w.root().to_path_buf();
    let (dir, url, _server) = serve_agency(&root, "Sandbox Benefits", "sandbox-benefits", None);
    let signed = root.join("benefits.twinrules");
    sign(&dir, &pack_path("benefits.json"), &signed);
    let signed_s = signed.to_str().expect("utf-8 path");

    // Not added the agency yet: refused, in plain words.
    let line = w
        .run(&["rules", "add", signed_s])
        .fails_with("rule-pack-refused")
        .to_owned();
    assert!(line.contains("have not added"), "{line}");

    w.ok(&["--sandbox", "agency", "add", &url]);

    // Tampered: one byte of the pack changed.
    let mut bytes = std::fs::read(&signed).expect("signed pack");
    let at = bytes
        .windows(7)
        .position(|b| b == b"218.15\"")
        .expect("the threshold is in the pack");
    bytes[at] = b'9';
    let tampered = root.join("tampered.twinrules");
    std::fs::write(&tampered, &bytes).expect("write");
    let line = w
        .run(&["rules", "add", tampered.to_str().expect("utf-8")])
        .fails_with("rule-pack-refused")
        .to_owned();
    assert!(line.contains("altered"), "{line}");

    let added = w.ok(&["rules", "add", signed_s]);
    assert!(
        added.stdout.contains("Added rule pack benefits version 1"),
        "{}",
        added.stdout
    );
    let list = w.ok(&["rules", "list", "--json"]).json();
    assert_eq!(list[0]["pack"], "benefits", "{list}");

    // Undecided: says what to add.
    w.ok(&["set", "personal.date_of_birth", "1951-07-19"]);
    let s = w.ok(&["suggest"]).stdout;
    assert!(s.contains("Add your yearly income"), "{s}");

    // Eligible.
    w.ok(&["set", "government.tax.annual_income", "9000"]);
    let s = w.ok(&["suggest"]).stdout;
    assert!(s.contains("You may be eligible for Pension Credit"), "{s}");
    assert!(s.contains("< £218.15"), "{s}");
    let json = w.ok(&["suggest", "--json"]).json();
    let pc = json
        .as_array()
        .expect("a list")
        .iter()
        .find(|o| o["rule"] == "pension-credit")
        .expect("pension credit")
        .clone();
    assert_eq!(pc["status"], "applies", "{pc}");

    // What if the income were higher: no longer applies; the twin is unchanged.
    let json = w
        .ok(&[
            "suggest",
            "--json",
            "--what-if",
            "government.tax.annual_income=40000",
        ])
        .json();
    let pc2 = json
        .as_array()
        .expect("a list")
        .iter()
        .find(|o| o["rule"] == "pension-credit")
        .expect("pension credit")
        .clone();
    assert_eq!(pc2["status"], "does_not_apply", "{pc2}");
    assert_eq!(
        w.get("government.tax.annual_income")
            .and_then(|v| v.as_f64()),
        Some(9000.0)
    );

    // The audit log says rules were evaluated, never the values or answers.
    let audit = serde_json::to_string(&w.audit()).expect("json");
    assert!(audit.contains("Rules were evaluated"), "{audit}");
    assert!(
        audit.contains("You added rule pack benefits version 1"),
        "{audit}"
    );
    assert!(
        !audit.contains("9000") && !audit.contains("Pension Credit"),
        "{audit}"
    );

    // Apply: a share with exactly the rule's fields.
    let applied = w.ok(&["--sandbox", "apply", "pension-credit", "--send", "--json"]);
    let grant = applied.json();
    let mut want: Vec<String> = pc["fields_read"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f.as_str().expect("a path").to_owned())
        .collect();
    let mut got: Vec<String> = grant["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f.as_str().expect("a path").to_owned())
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "{grant}");

    // The agency refuses, citing the rule: the shared values meet every criterion, so
    // the citizen's twin says the refusal does not follow from the published rule.
    let grant_id = grant["grant_id"].as_str().expect("a grant id");
    let refusal = root.join("refusal.json");
    std::fs::write(
        &refusal,
        r#"{"benefit": "Pension Credit", "decision": "refused", "effective_from": "2026-12-07",
            "reason": "Income too high.",
            "rule": {"pack": "benefits", "id": "pension-credit", "version": 1}}"#,
    )
    .expect("write");
    agency(
        &dir,
        &[
            "issue",
            "--grant",
            grant_id,
            "--type",
            "benefit-award/v1",
            "--body",
            refusal.to_str().expect("utf-8"),
        ],
    );
    w.ok(&["--sandbox", "sync"]);
    let checks = w.ok(&["decisions", "--json"]).json();
    let check = &checks[0];
    assert_eq!(check["agreement"]["verdict"], "disagree", "{checks}");
    assert_eq!(check["values_changed"], false, "{checks}");
    assert_eq!(
        check["agreement"]["evidence"]["values_used"]["government.tax.annual_income"], 9000.0,
        "{checks}"
    );
    let said = w.ok(&["decisions"]).stdout;
    assert!(
        said.contains(
            "The agency refused, but by its own published rule Pension Credit (version 1)"
        ) && said.contains("< £218.15"),
        "{said}"
    );

    // Once the income changes, the check says it used the values in the twin now.
    w.ok(&["set", "government.tax.annual_income", "40000"]);
    let checks = w.ok(&["decisions", "--json"]).json();
    assert_eq!(checks[0]["values_changed"], true, "{checks}");
    assert_eq!(checks[0]["agreement"]["verdict"], "agree", "{checks}");
}

#[test]
fn a_citizen_accepts_a_prefilled_tax_return_line_by_line_and_shares_only_those_lines() {
    use crate::common::World;

    let w = World::new();
    w.init();
    let root = w.root().to_path_buf();
    let purposes = pack_path("tax.purposes.json");
    let (dir, url, _server) =
        serve_agency(&root, "Sandbox Tax Office", "sandbox-tax", Some(&purposes));
    let signed = root.join("tax.twinrules");
    sign(&dir, &pack_path("tax.json"), &signed);
    w.ok(&["--sandbox", "agency", "add", &url]);
    w.ok(&["rules", "add", signed.to_str().expect("utf-8 path")]);

    // Without a tax reference the return cannot be pre-filled: undecided, with a hint.
    let line = w
        .run(&["prefill", "self-assessment"])
        .fails_with("nothing-to-prefill")
        .to_owned();
    assert!(line.contains("Add your tax reference"), "{line}");

    w.ok(&["set", "government.tax.reference", "AB123456C"]);
    w.ok(&["set", "government.tax.annual_income", "18250.50"]);
    let shown = w.ok(&["prefill", "self-assessment"]).stdout;
    assert!(
        shown.contains("line 1.1 Tax reference: AB123456C") && shown.contains("line 1.4"),
        "{shown}"
    );

    // A line the form does not have, and a word where a number belongs: refused, and
    // nothing is kept.
    w.run(&["prefill", "self-assessment", "--skip", "9.9", "--accept"])
        .fails_with("invalid-line");
    w.run(&[
        "prefill",
        "self-assessment",
        "--set",
        "1.4=lots",
        "--accept",
    ])
    .fails_with("invalid-line");
    assert_eq!(w.get("government.tax.return_lines"), None);

    // Leave out the allowance, correct the yearly income, send.
    let sent = w
        .ok(&[
            "--sandbox",
            "prefill",
            "self-assessment",
            "--skip",
            "2.1",
            "--set",
            "1.4=18500",
            "--send",
            "--json",
        ])
        .json();
    assert_eq!(
        sent["fields"],
        serde_json::json!(["government.tax.return_lines"]),
        "{sent}"
    );
    let kept = w.get("government.tax.return_lines").expect("kept");
    let lines: Vec<(&str, &serde_json::Value)> = kept
        .as_array()
        .expect("a list")
        .iter()
        .map(|l| (l["line"].as_str().expect("line"), &l["value"]))
        .collect();
    assert!(lines.iter().all(|(l, _)| *l != "2.1"), "{kept}");
    assert!(
        lines.contains(&("1.4", &serde_json::json!(18500.0))),
        "{kept}"
    );
    assert!(
        lines.contains(&("1.1", &serde_json::json!("AB123456C"))),
        "{kept}"
    );
}
