//! Sharing through the real binary: an agency's card, a grant handed over as a file or
//! sealed text, opened at the agency with nothing but the protocol crate, a record back,
//! and stopping a share — each with the refusals a citizen would meet.

use std::fs;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use twin_protocol::{
    AgencyCard, AgencyView, CardKey, KeyPair, Limits, Purpose, RecordClaims, Revocation,
    UnverifiedGrant, open_text,
};
use twin_types::{AgencyId, MessageId};

use crate::common::{World, contains};

const ANCHOR: &str = include_str!("../../../packaging/trust/sandbox/anchor-private.json");

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Agency {
    card: AgencyCard,
    key: KeyPair,
}

/// A sandbox agency whose card the sandbox anchor (private key in the repository) signs.
fn agency(id: &str, dir: &Path) -> (Agency, std::path::PathBuf) {
    agency_at(id, dir, "http://127.0.0.1:8700")
}

/// The same, listening (or not) at `endpoint`.
fn agency_at(id: &str, dir: &Path, endpoint: &str) -> (Agency, std::path::PathBuf) {
    let key = KeyPair::generate();
    let card = AgencyCard {
        v: 1,
        agency: AgencyId::parse(id).unwrap(),
        name: format!("Sandbox {id}"),
        endpoint: endpoint.into(),
        sandbox: true,
        keys: vec![CardKey {
            kid: "k1".into(),
            sign: key.sign_public(),
            seal: key.seal_public(),
            not_after: now() + 90 * 86_400,
        }],
        record_types: vec!["benefit-award/v1".into()],
        purposes: vec![Purpose {
            code: "pension-credit-check".into(),
            words: "Pension Credit check".into(),
            fields: vec![
                "personal.date_of_birth".into(),
                "personal.address.postcode".into(),
            ],
            legal_basis: "State Pension Credit Act 2002".into(),
            retention_days: 30,
        }],
        expires_at: now() + 365 * 86_400,
    };
    let anchor: Value = serde_json::from_str(ANCHOR).unwrap();
    let mut seed = [0u8; 32];
    hex::decode_to_slice(anchor["sign_seed"].as_str().unwrap(), &mut seed).unwrap();
    let signed = card.sign("sandbox-anchor", &KeyPair::from_seeds(seed, [0; 32]));
    let path = dir.join(format!("{id}.twincard"));
    fs::write(&path, &signed.0).unwrap();
    (Agency { card, key }, path)
}

impl Agency {
    fn open(
        &self,
        bytes: &[u8],
    ) -> Result<twin_protocol::VerifiedGrant, twin_protocol::GrantError> {
        let keys = [("k1".to_owned(), &self.key)];
        let view = AgencyView {
            card: &self.card,
            keys: &keys,
            limits: Limits::default(),
        };
        UnverifiedGrant::parse(bytes, &view.limits)?.verify(
            &view,
            now(),
            |_, _| false,
            |_, _| false,
        )
    }
}

const FIELDS: &str = "personal.date_of_birth,personal.address.postcode";

#[test]
fn share_with_a_sandbox_agency_get_a_record_back_and_stop() {
    let w = World::new();
    w.init();
    w.ok(&["set", "personal.date_of_birth", "1958-03-14"]);
    w.ok(&["set", "personal.address.postcode", "LS1 4AP"]);
    let (benefits, card) = agency("sandbox-benefits", w.root());
    let card = card.to_str().unwrap();

    // A sandbox card is not trusted unless sandbox trust is switched on, and says how.
    let msg = w.fails(&["agency", "add", card], "card-refused");
    assert!(msg.contains("--sandbox"), "{msg}");
    let added = w.ok(&["--sandbox", "agency", "add", card]);
    assert!(added.stdout.contains("(SANDBOX)"), "{}", added.stdout);
    let list = w.ok(&["agency", "list", "--json"]).json();
    assert_eq!(list[0]["id"], "sandbox-benefits");

    let grant_file = w.root().join("share.twingrant");
    fn share<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "share",
            "--agency",
            "sandbox-benefits",
            "--fields",
            FIELDS,
            "--purpose",
            "Pension Credit check",
        ];
        args.extend_from_slice(extra);
        args
    }
    // Sandbox trust off: the pinned sandbox card is checked again and refused.
    w.fails(&share(&["--expires", "7d", "--text"]), "card-refused");
    // Refusals a citizen meets, each with nothing shared.
    w.fails(
        &[
            "--sandbox",
            "share",
            "--agency",
            "sandbox-benefits",
            "--fields",
            "personal.email",
            "--purpose",
            "Pension Credit check",
            "--expires",
            "7d",
            "--text",
        ],
        "field-empty",
    );
    w.fails(
        &[
            "--sandbox",
            "share",
            "--agency",
            "sandbox-benefits",
            "--fields",
            FIELDS,
            "--purpose",
            "Tax refund",
            "--expires",
            "7d",
            "--text",
        ],
        "share-refused",
    );
    w.fails(
        &[
            "--sandbox",
            "share",
            "--agency",
            "sandbox-benefits",
            "--fields",
            FIELDS,
            "--purpose",
            "Pension Credit check",
            "--expires",
            "100d",
            "--text",
        ],
        "share-refused",
    );
    w.fails(
        &[
            "--sandbox",
            "share",
            "--agency",
            "sandbox-elsewhere",
            "--fields",
            FIELDS,
            "--purpose",
            "x",
            "--expires",
            "7d",
            "--text",
        ],
        "unknown-agency",
    );
    assert!(
        w.ok(&["grants", "--json"])
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );

    let mut args = vec!["--sandbox"];
    let full = share(&[
        "--expires",
        "7d",
        "--records",
        "benefit-award/v1",
        "--json",
        "--out",
        grant_file.to_str().unwrap(),
    ]);
    args.extend(full);
    let out = w.ok(&args).json();
    let grant_id = out["grant_id"].as_str().unwrap().to_owned();
    assert_eq!(out["agency"], "sandbox-benefits");
    // The file is only the owner's; it is never overwritten.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&grant_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    w.fails(&args, "file-not-written");

    // The agency opens exactly the two fields, with the protocol crate alone.
    let bytes = fs::read(&grant_file).unwrap();
    assert!(
        !contains(&bytes, b"LS1 4AP") && !contains(&bytes, b"1958-03-14"),
        "values are sealed"
    );
    let opened = benefits.open(&bytes).unwrap();
    assert_eq!(opened.claims.grant_id.to_string(), grant_id);
    assert_eq!(opened.values.len(), 2);
    assert_eq!(
        opened.values[&"personal.address.postcode".parse().unwrap()],
        json!("LS1 4AP")
    );

    // The sealed text form hides fields, purpose and agency.
    let mut args = vec!["--sandbox"];
    args.extend(share(&["--expires", "2d", "--text"]));
    let text_out = w.ok(&args);
    let text = text_out
        .stdout
        .lines()
        .find(|l| l.starts_with("twin-grant:"))
        .unwrap()
        .to_owned();
    for secret in ["LS1", "1958", "Pension", "sandbox-benefits", "personal"] {
        assert!(!text.contains(secret), "{secret} in the text form");
    }
    let keys = [("k1".to_owned(), &benefits.key)];
    assert!(benefits.open(&open_text(&text, &keys).unwrap()).is_ok());

    // A record back, signed by the agency and sealed to this citizen.
    let record = RecordClaims {
        v: 1,
        record_id: MessageId::random(),
        record_type: "benefit-award/v1".into(),
        agency: benefits.card.agency.clone(),
        subject: opened.claims.citizen_sign,
        grant_id: opened.claims.grant_id,
        issued_at: now(),
        body: r#"{"award": "Pension Credit", "weekly_amount": 218.15}"#.into(),
    }
    .issue("k1", &benefits.key, &opened.claims.citizen_seal)
    .unwrap();
    let mut tampered = record.clone();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 1;
    let tampered_path = w.root().join("tampered.twinrecord");
    fs::write(&tampered_path, &tampered).unwrap();
    w.fails(
        &["records", "import", tampered_path.to_str().unwrap()],
        "record-refused",
    );
    let record_path = w.root().join("award.twinrecord");
    fs::write(&record_path, &record).unwrap();
    w.ok(&["records", "import", record_path.to_str().unwrap()]);
    let records = w.ok(&["records", "list", "--json"]).json();
    assert_eq!(records[0]["body"]["weekly_amount"], json!(218.15));

    // Stop sharing: at once, and a signed notice for the agency.
    let notice_path = w.root().join("stop.twinnotice");
    w.ok(&[
        "revoke",
        &grant_id,
        "--notice-out",
        notice_path.to_str().unwrap(),
    ]);
    let grants = w.ok(&["grants", "--json"]).json();
    let g = grants
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == grant_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(g["state"]["state"], "stopped");
    let notice =
        Revocation::verify(&fs::read(&notice_path).unwrap(), &benefits.card.agency).unwrap();
    assert_eq!(notice.signer, opened.claims.citizen_sign);
    w.fails(
        &["revoke", "00000000000000000000000000000000"],
        "unknown-grant",
    );

    // The activity log says it in plain words, and never the values.
    let lines: Vec<String> = w
        .audit()
        .iter()
        .map(|e| e["line"].as_str().unwrap().to_owned())
        .collect();
    assert!(lines.iter().any(|l| l.starts_with(
        "You shared your date of birth and postcode with Sandbox sandbox-benefits (SANDBOX) for 'Pension Credit check' until"
    )), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("You stopped sharing with"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("You received a signed record"))
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("LS1") || l.contains("1958"))
    );
    w.assert_audit_intact();
}

#[test]
fn two_agencies_see_unrelated_identities() {
    let w = World::new();
    w.init();
    w.ok(&["set", "personal.date_of_birth", "1958-03-14"]);
    let (a, card_a) = agency("sandbox-benefits", w.root());
    let (b, card_b) = agency("sandbox-housing", w.root());
    let mut grants = Vec::new();
    for (ag, card, id) in [
        (&a, &card_a, "sandbox-benefits"),
        (&b, &card_b, "sandbox-housing"),
    ] {
        w.ok(&["--sandbox", "agency", "add", card.to_str().unwrap()]);
        let file = w.root().join(format!("{id}.twingrant"));
        w.ok(&[
            "--sandbox",
            "share",
            "--agency",
            id,
            "--fields",
            "personal.date_of_birth",
            "--purpose",
            "pension-credit-check",
            "--expires",
            "1d",
            "--out",
            file.to_str().unwrap(),
        ]);
        grants.push((
            ag.open(&fs::read(&file).unwrap()).unwrap(),
            fs::read(&file).unwrap(),
        ));
    }
    let (ga, bytes_a) = &grants[0];
    let (gb, bytes_b) = &grants[1];
    assert_ne!(ga.claims.citizen_sign, gb.claims.citizen_sign);
    assert_ne!(ga.claims.citizen_seal, gb.claims.citizen_seal);
    for key in [ga.claims.citizen_sign.0, ga.claims.citizen_seal.0] {
        assert!(
            !contains(bytes_b, &key[..16]),
            "agency B's file holds a key from agency A's"
        );
    }
    for key in [gb.claims.citizen_sign.0, gb.claims.citizen_seal.0] {
        assert!(!contains(bytes_a, &key[..16]));
    }
    assert!(!contains(
        bytes_b,
        ga.claims.grant_id.to_string().as_bytes()
    ));
}

#[test]
fn an_agency_request_is_seen_trimmed_and_approved_or_declined() {
    let w = World::new();
    w.init();
    w.ok(&["set", "personal.date_of_birth", "1958-03-14"]);
    w.ok(&["set", "personal.email", "alex@example.org"]);
    let (benefits, card) = agency("sandbox-benefits", w.root());
    w.ok(&["--sandbox", "agency", "add", card.to_str().unwrap()]);
    let ask = |n: u8| {
        let bytes = twin_protocol::AgencyRequest {
            v: 1,
            request_id: MessageId::from_bytes([n; 16]),
            agency: benefits.card.agency.clone(),
            fields: vec![
                "personal.date_of_birth".parse().unwrap(),
                "personal.email".parse().unwrap(),
            ],
            purpose: "pension-credit-check".into(),
            case_ref: Some("PC-77".into()),
            duration_secs: 7 * 86_400,
            records: Vec::new(),
            records_secs: 0,
            issued_at: now(),
            expires_at: now() + 14 * 86_400,
        }
        .sign("k1", &benefits.key);
        let path = w.root().join(format!("request-{n}.twinrequest"));
        fs::write(&path, bytes).unwrap();
        path
    };
    let first = ask(1);
    let shown = w.ok(&["requests", "import", first.to_str().unwrap()]);
    assert!(
        shown
            .stdout
            .contains("Warning: its card does not list your email address"),
        "{}",
        shown.stdout
    );
    let list = w.ok(&["requests", "list", "--json"]).json();
    let id = list[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list[0]["over_asking"], json!(["personal.email"]));
    assert_eq!(list[0]["legal_basis"], "State Pension Credit Act 2002");

    let out = w.root().join("answer.twingrant");
    w.ok(&[
        "--sandbox",
        "requests",
        "approve",
        &id,
        "--fields",
        "personal.date_of_birth",
        "--out",
        out.to_str().unwrap(),
    ]);
    let opened = benefits.open(&fs::read(&out).unwrap()).unwrap();
    assert_eq!(opened.values.len(), 1, "the over-asked field stayed home");
    assert_eq!(opened.claims.case_ref.as_deref(), Some("PC-77"));
    w.fails(
        &["--sandbox", "requests", "approve", &id, "--text"],
        "request-refused",
    );

    let second = ask(2);
    w.ok(&["requests", "import", second.to_str().unwrap()]);
    let id2 = MessageId::from_bytes([2; 16]).to_string();
    w.ok(&["requests", "decline", &id2]);
    w.fails(
        &["requests", "decline", "00000000000000000000000000000000"],
        "unknown-request",
    );
    let states: Vec<Value> = w
        .ok(&["requests", "list", "--json"])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].clone())
        .collect();
    assert!(states.contains(&json!("approved")) && states.contains(&json!("declined")));
    // A request signed by someone else is refused.
    let forged =
        twin_protocol::AgencyRequest::verify(&fs::read(&first).unwrap(), &benefits.card, now())
            .unwrap()
            .request
            .sign("k1", &KeyPair::generate());
    let forged_path = w.root().join("forged.twinrequest");
    fs::write(&forged_path, forged).unwrap();
    w.fails(
        &["requests", "import", forged_path.to_str().unwrap()],
        "request-refused",
    );
    w.assert_audit_intact();
}

/// A port on this computer where nothing listens.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn online_commands_with_an_agency_that_cannot_be_reached() {
    let w = World::new();
    w.init();
    w.ok(&["set", "personal.date_of_birth", "1958-03-14"]);
    w.ok(&["set", "personal.address.postcode", "LS1 4AP"]);
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let (benefits, card) = agency_at("sandbox-benefits", w.root(), &endpoint);
    w.ok(&["--sandbox", "agency", "add", card.to_str().unwrap()]);
    // An address that is not https, to another computer, is refused before any request.
    w.fails(
        &["--sandbox", "agency", "add", "http://agency.example.org"],
        "agency-address-refused",
    );
    w.fails(
        &["--sandbox", "agency", "add", &endpoint],
        "agency-unreachable",
    );

    // Sent now if possible; otherwise kept to send, and said so. Not a failure.
    let file = w.root().join("share.twingrant");
    let out = w.ok(&[
        "--sandbox",
        "share",
        "--agency",
        "sandbox-benefits",
        "--fields",
        FIELDS,
        "--purpose",
        "pension-credit-check",
        "--expires",
        "7d",
        "--records",
        "benefit-award/v1",
        "--send",
        "--out",
        file.to_str().unwrap(),
        "--json",
    ]);
    let shared = out.json();
    let grant_id = shared["grant_id"].as_str().unwrap().to_owned();
    assert_eq!(shared["sent"][0]["code"], "agency-unreachable");
    assert!(
        shared["sent"][0]["line"]
            .as_str()
            .unwrap()
            .ends_with("The next sync tries again.")
    );
    let grants = w.ok(&["grants", "--json"]).json();
    assert_eq!(grants[0]["delivery"]["state"], "to-send");
    assert!(
        w.ok(&["grants"])
            .stdout
            .contains("waiting to be sent (`twin sync` sends it)")
    );

    // `twin sync` says what it could not do, and exits with a code for scripts.
    let out = w.run(&["--sandbox", "sync"]);
    assert!(
        out.stdout
            .contains("Could not reach Sandbox sandbox-benefits (SANDBOX)"),
        "{}",
        out.stdout
    );
    out.fails_with("sync-incomplete");
    let out = w.run(&["--sandbox", "sync", "--json"]);
    assert_eq!(out.json()["events"][0]["outcome"], "failed");

    // Records: listed with whether they verify; hidden, never altered.
    let opened = benefits.open(&fs::read(&file).unwrap()).unwrap();
    let record = RecordClaims {
        v: 1,
        record_id: MessageId::random(),
        record_type: "benefit-award/v1".into(),
        agency: benefits.card.agency.clone(),
        subject: opened.claims.citizen_sign,
        grant_id: opened.claims.grant_id,
        issued_at: now(),
        body: r#"{"award": "Pension Credit"}"#.into(),
    }
    .issue("k1", &benefits.key, &opened.claims.citizen_seal)
    .unwrap();
    assert!(w.ok(&["records"]).stdout.contains("no records"));
    let record_path = w.root().join("award.twinrecord");
    fs::write(&record_path, &record).unwrap();
    w.ok(&["records", "import", record_path.to_str().unwrap()]);
    let listed = w.ok(&["records", "--json"]).json();
    let rid = listed[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listed[0]["verified"], true);
    assert_eq!(listed[0]["hidden"], false);
    assert!(w.ok(&["records"]).stdout.contains("verified ✓"));
    w.ok(&["records", "hide", &rid]);
    let listed = w.ok(&["records", "--json"]).json();
    assert_eq!(listed[0]["hidden"], true);
    assert_eq!(
        listed[0]["body"]["award"], "Pension Credit",
        "kept unaltered"
    );
    let shown = w.ok(&["records"]).stdout;
    assert!(
        shown.contains("hidden") && !shown.contains("Pension Credit"),
        "{shown}"
    );
    w.ok(&["records", "unhide", &rid]);
    assert_eq!(
        w.ok(&["records", "list", "--json"]).json()[0]["hidden"],
        false
    );
    w.fails(&["records", "hide", "0123"], "unknown-record");

    // The top-level request commands.
    assert_eq!(w.ok(&["requests", "--json"]).json(), json!([]));
    assert!(w.ok(&["requests"]).stdout.contains("No agency has asked"));
    w.fails(
        &["decline", "00000000000000000000000000000000"],
        "unknown-request",
    );
    w.fails(
        &["--sandbox", "approve", "00000000000000000000000000000000"],
        "unknown-request",
    );

    // Stopping is at once; the agency is told later.
    let out = w.ok(&["revoke", &grant_id, "--no-send"]);
    assert!(
        out.stdout.contains("has not been told yet"),
        "{}",
        out.stdout
    );
    let out = w.ok(&["revoke", &grant_id]);
    assert!(
        out.stdout.contains("Could not reach") && out.stdout.contains("The next sync tries again"),
        "{}",
        out.stdout
    );
    assert!(
        w.ok(&["grants"])
            .stdout
            .contains("the agency has not been told yet")
    );

    // Deleting the twin first tells the agencies; one that cannot be told stops it.
    w.ok(&[
        "--sandbox",
        "share",
        "--agency",
        "sandbox-benefits",
        "--fields",
        "personal.date_of_birth",
        "--purpose",
        "pension-credit-check",
        "--expires",
        "1d",
        "--text",
    ]);
    let line = w.fails(&["delete-vault", "--yes"], "active-shares");
    assert!(line.contains("--yes-with-active-grants"), "{line}");
    assert!(w.vault.join("vault.keys").exists(), "nothing was deleted");
    let grants = w.ok(&["grants", "--json"]).json();
    assert!(
        grants
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["state"]["state"] == "stopped"),
        "every share was stopped first: {grants}"
    );
    w.assert_audit_intact();
    // Without the passphrase, too, the vault knows it may still be in use.
    let mut c = w.bare();
    c.arg("--vault")
        .arg(&w.vault)
        .args(["delete-vault", "--yes"]);
    w.exec(c, None).fails_with("no-passphrase");
    let out = w.ok(&["delete-vault", "--yes-with-active-grants"]);
    assert!(out.stdout.contains("Your twin was deleted"));
    assert!(!w.vault.exists());
}
