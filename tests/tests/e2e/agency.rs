//! The real `twin-agency` binary on loopback: killed with SIGKILL while single-use grants
//! are being redeemed, then restarted. A grant the agency answered "redeemed" is never
//! redeemable again, and no grant is redeemed twice, whatever moment the kill landed.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use twin_protocol::{AgencyCard, GrantBuilder, KeyPair, sign_request};
use twin_types::{FieldPath, MessageId};

/// The `twin-agency` binary, built from the current sources (as `common::twin_bin`).
pub fn agency_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("TWIN_AGENCY_BIN") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().expect("the test binary knows its path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test binary lives in target/<profile>/deps")
            .to_owned();
        let bin = profile_dir.join("twin-agency");
        if let Some(cargo) = std::env::var_os("CARGO") {
            let mut build = Command::new(cargo);
            build
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "twin-agency",
                    "--bin",
                    "twin-agency",
                ])
                .arg("--target-dir")
                .arg(profile_dir.parent().expect("target/<profile> has a parent"))
                .current_dir(env!("CARGO_MANIFEST_DIR"));
            match profile_dir.file_name().and_then(OsStr::to_str) {
                Some("debug") | None => {}
                Some("release") => {
                    build.arg("--release");
                }
                Some(other) => {
                    build.args(["--profile", other]);
                }
            }
            assert!(
                build.status().expect("cargo runs").success(),
                "building twin-agency failed"
            );
        }
        assert!(bin.is_file(), "no twin-agency binary at {}", bin.display());
        bin
    })
}

/// Runs a `twin-agency` staff command in `dir`; panics with its output if it fails.
pub fn agency(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(agency_bin())
        .arg("--dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("twin-agency runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "twin-agency {args:?} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

/// A running `twin-agency serve`, killed with SIGKILL when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

impl Server {
    /// Starts `serve` on a free loopback port and waits until it is ready.
    pub fn start(dir: &Path) -> Server {
        let mut child = Command::new(agency_bin())
            .arg("--dir")
            .arg(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("twin-agency serve starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the server printed its address before exiting")
                .expect("readable log");
            let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if v["fields"]["message"] == "listening" {
                break v["fields"]["addr"].as_str().expect("an address").to_owned();
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Server::ready(child, format!("http://{addr}"))
    }

    /// Waits until `/readyz` says so; kills the child and panics if it never does.
    fn ready(mut child: Child, url: String) -> Server {
        let client = reqwest::blocking::Client::new();
        for _ in 0..400 {
            if client
                .get(format!("{url}/readyz"))
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return Server { child, url };
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("twin-agency never became ready at {url}");
    }

    /// SIGKILL, now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs() as i64
}

/// POSTs a signed body as the citizen `key`: (status, JSON answer). `None` if the server
/// did not answer (killed).
pub fn post_signed(
    client: &reqwest::blocking::Client,
    url: &str,
    path: &str,
    body: &[u8],
    key: &KeyPair,
) -> Option<(u16, Value)> {
    let h = sign_request(
        "POST",
        path,
        body,
        now(),
        &MessageId::random().to_string(),
        key,
    );
    let r = client
        .post(format!("{url}{path}"))
        .header("content-digest", h.content_digest)
        .header("signature-input", h.signature_input)
        .header("signature", h.signature)
        .body(body.to_vec())
        .send()
        .ok()?;
    let status = r.status().as_u16();
    Some((status, r.json().unwrap_or(Value::Null)))
}

fn sandbox_agency(dir: &Path) -> AgencyCard {
    agency(dir, &["init", "--name", "Kill Test Agency", "--sandbox"]);
    serde_json::from_slice(&std::fs::read(dir.join("card.json")).expect("card.json"))
        .expect("a card")
}

#[test]
fn sigkill_during_single_use_redemptions_never_lets_a_grant_be_redeemed_twice() {
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let dir = tmp.path().join("agency");
    let card = sandbox_agency(&dir);
    let dob = FieldPath::parse("personal.date_of_birth").expect("a path");
    let grants: Vec<(KeyPair, Vec<u8>)> = (0..48)
        .map(|_| {
            let citizen = KeyPair::generate();
            let g = GrantBuilder::new(&card, "pension-credit-check", 3600)
                .field(dob.clone(), Value::String("1950-03-02".into()))
                .single_use(true)
                .build(&citizen, now())
                .expect("a grant");
            (citizen, g.bytes)
        })
        .collect();

    let mut server = Server::start(&dir);
    let url = server.url.clone();
    // Fire them all from 6 threads; kill the server while they are in flight.
    let handles: Vec<_> = grants
        .chunks(8)
        .map(|chunk| {
            let chunk: Vec<(Vec<u8>, [u8; 64])> = chunk
                .iter()
                .map(|(k, b)| (b.clone(), *k.to_seeds()))
                .collect();
            let url = url.clone();
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                chunk
                    .iter()
                    .map(|(bytes, seeds)| {
                        let key = KeyPair::from_seeds(
                            seeds[..32].try_into().expect("32"),
                            seeds[32..].try_into().expect("32"),
                        );
                        post_signed(&client, &url, "/v1/grants", bytes, &key)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(60));
    server.kill();
    let first: Vec<Option<(u16, Value)>> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("a sender thread"))
        .collect();
    let answered: Vec<bool> = first
        .iter()
        .map(|r| match r {
            Some((201, _)) => true,
            Some((status, body)) => panic!("before the kill: unexpected {status} {body}"),
            None => false,
        })
        .collect();

    let server = Server::start(&dir);
    let client = reqwest::blocking::Client::new();
    let mut redeemed_after_restart = 0;
    for ((citizen, bytes), was_answered) in grants.iter().zip(&answered) {
        let (status, body) =
            post_signed(&client, &server.url, "/v1/grants", bytes, citizen).expect("an answer");
        if *was_answered {
            assert_eq!(
                (status, body["code"].as_str()),
                (409, Some("grant-replayed")),
                "a grant answered before the kill was redeemable again: {body}"
            );
        } else {
            // Committed but unanswered (409), or never committed (201): both are right.
            assert!(
                status == 409 && body["code"] == "grant-replayed" || status == 201,
                "after restart: {status} {body}"
            );
            if status == 201 {
                redeemed_after_restart += 1;
            }
        }
        let (again, body) =
            post_signed(&client, &server.url, "/v1/grants", bytes, citizen).expect("an answer");
        assert_eq!(
            (again, body["code"].as_str()),
            (409, Some("grant-replayed"))
        );
    }
    let listed: Value =
        serde_json::from_str(&agency(&dir, &["grants", "list", "--json"])).expect("JSON");
    assert_eq!(
        listed.as_array().expect("a list").len(),
        grants.len(),
        "every grant is held exactly once"
    );
    eprintln!(
        "answered before the kill: {}, redeemed only after the restart: {redeemed_after_restart}",
        answered.iter().filter(|a| **a).count()
    );
}

/// A free loopback port (bound, then released for the server to take).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("an address").port()
}

impl Server {
    /// Starts `serve` on `port` (the one in the card's endpoint).
    pub fn start_on(dir: &Path, port: u16) -> Server {
        let child = Command::new(agency_bin())
            .arg("--dir")
            .arg(dir)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("twin-agency serve starts");
        Server::ready(child, format!("http://127.0.0.1:{port}"))
    }
}

/// The whole story, as the issue's "done when" tells it: a real agency on loopback asks;
/// the citizen approves two of the fields asked; a named officer opens them (access
/// receipt); the agency links its case and awards a benefit; the citizen syncs and sees
/// both records verified and the receipt; stops sharing; the agency purges and the
/// citizen holds its signed deletion receipt; no value is in any file of the agency.
#[test]
fn request_approve_open_link_award_sync_revoke_and_deletion_receipt() {
    use crate::common::{World, files_under};
    let w = World::new();
    w.init();
    w.ok(&["set", "personal.date_of_birth", "1951-07-19"]);
    w.ok(&["set", "personal.address.postcode", "ZZ9 9QX"]);
    w.ok(&["set", "personal.full_name", "Wilhelmina Canaryfield"]);

    let dir = w.root().join("agency");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    agency(
        &dir,
        &[
            "init",
            "--name",
            "Sandbox Benefits",
            "--sandbox",
            "--endpoint",
            &url,
        ],
    );
    agency(&dir, &["staff", "add", "Alice Smith"]);
    let _server = Server::start_on(&dir, port);

    w.ok(&["--sandbox", "agency", "add", &url]);

    // The agency asks for three fields for its Pension Credit check; the card lists two.
    let request_file = w.root().join("ask.twinrequest");
    agency(
        &dir,
        &[
            "request",
            "--fields",
            "personal.date_of_birth,personal.address.postcode,personal.full_name",
            "--purpose",
            "pension-credit-check",
            "--case",
            "PC-2026-0042",
            "--out",
            request_file.to_str().expect("UTF-8"),
        ],
    );
    w.ok(&[
        "--sandbox",
        "requests",
        "import",
        request_file.to_str().expect("UTF-8"),
    ]);
    let requests = w.ok(&["requests", "--json"]).json();
    assert_eq!(
        requests[0]["over_asking"],
        serde_json::json!(["personal.full_name"]),
        "over-asking is flagged: {requests}"
    );
    let request_id = requests[0]["id"].as_str().expect("an id").to_owned();

    // Approve two of the three; the share goes to the agency at once.
    let approved = w.ok(&[
        "--sandbox",
        "approve",
        &request_id,
        "--fields",
        "personal.date_of_birth,personal.address.postcode",
    ]);
    assert!(
        approved.stdout.contains("received your share"),
        "{}",
        approved.stdout
    );
    let grants = w.ok(&["grants", "--json"]).json();
    let grant_id = grants[0]["id"].as_str().expect("a grant id").to_owned();

    // At the agency: exactly two fields, the case reference, readable now.
    let listed: Value =
        serde_json::from_str(&agency(&dir, &["grants", "list", "--json"])).expect("JSON");
    assert_eq!(listed[0]["grant_id"], grant_id.as_str());
    assert_eq!(
        listed[0]["fields"],
        serde_json::json!(["personal.address.postcode", "personal.date_of_birth"])
    );
    assert_eq!(listed[0]["case_ref"], "PC-2026-0042");
    let shown: Value = serde_json::from_str(&agency(
        &dir,
        &["grants", "show", &grant_id, "--as", "Alice Smith", "--json"],
    ))
    .expect("JSON");
    assert_eq!(shown["values"]["personal.date_of_birth"], "1951-07-19");
    assert_eq!(shown["values"]["personal.address.postcode"], "ZZ9 9QX");
    assert!(
        shown["values"].get("personal.full_name").is_none(),
        "trimmed away"
    );
    assert_eq!(shown["access_receipt"], 1);

    // The agency links its case and awards the benefit.
    agency(
        &dir,
        &["link", "--grant", &grant_id, "--case", "PC-2026-0042"],
    );
    let award = w.root().join("award.json");
    std::fs::write(
        &award,
        r#"{"benefit": "Pension Credit", "decision": "awarded", "amount": 218.15, "currency": "GBP", "period": "week", "effective_from": "2026-12-07"}"#,
    )
    .expect("a body file");
    agency(
        &dir,
        &[
            "issue",
            "--grant",
            &grant_id,
            "--type",
            "benefit-award/v1",
            "--body",
            award.to_str().expect("UTF-8"),
        ],
    );
    // A type the grant does not allow is refused by the agency itself.
    let refused = Command::new(agency_bin())
        .arg("--dir")
        .arg(&dir)
        .args(["issue", "--grant", &grant_id, "--type", "tax/v1", "--body"])
        .arg(&award)
        .output()
        .expect("runs");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("[code: record-type-not-granted]"));

    // The citizen syncs: two verified records and one access receipt, chain whole.
    let synced = w.ok(&["--sandbox", "sync", "--json"]).json();
    assert!(
        synced["events"]
            .as_array()
            .expect("events")
            .iter()
            .all(|e| e["outcome"] != "failed"),
        "{synced}"
    );
    let records = w.ok(&["records", "--json"]).json();
    let mut kinds: Vec<&str> = records
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            assert_eq!(r["verified"], true, "{r}");
            r["record_type"].as_str().unwrap_or_default()
        })
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["benefit-award/v1", "identity-link/v1"], "{records}");
    let audit = w.ok(&["audit"]).stdout;
    assert!(
        audit.contains("Alice Smith opened"),
        "the access receipt is in the activity log in plain words:\n{audit}"
    );
    let grants = w.ok(&["grants", "--json"]).json();
    let g = &grants[0];
    assert_eq!(g["id"], grant_id.as_str());
    assert_eq!(g["access"]["receipts"], 1, "{g}");
    assert_eq!(g["access"]["missing"], serde_json::json!([]), "{g}");

    // Stop sharing: the agency confirms deletion with a signed receipt.
    let out = w.ok(&["--sandbox", "revoke", &grant_id]);
    assert!(out.stdout.contains("confirmed"), "{}", out.stdout);
    let grants = w.ok(&["grants", "--json"]).json();
    assert_eq!(grants[0]["state"]["state"], "deleted", "{}", grants[0]);
    assert!(
        w.ok(&["grants"])
            .stdout
            .contains("agency confirmed deletion on"),
        "told apart from 'stopped on this computer'"
    );
    let listed: Value =
        serde_json::from_str(&agency(&dir, &["grants", "list", "--json"])).expect("JSON");
    assert_eq!(listed[0]["purge_reason"], "revoked");
    // Staff can no longer open it.
    let gone = Command::new(agency_bin())
        .arg("--dir")
        .arg(&dir)
        .args(["grants", "show", &grant_id, "--as", "Alice Smith"])
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&gone.stderr).contains("[code: purged]"));

    // No shared value, and not the name it never received, in any file of the agency.
    for (path, bytes) in files_under(&dir) {
        for canary in ["1951-07-19", "ZZ9 9QX", "Canaryfield"] {
            assert!(
                !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
                "{canary} found in {}",
                path.display()
            );
        }
    }
}

/// The agency is down while the citizen shares, and again while they stop sharing: local
/// state is right at once, and the next `twin sync` with the agency back delivers both.
#[test]
fn agency_down_during_send_and_revoke_then_sync_delivers_both() {
    use crate::common::World;
    let w = World::new();
    w.init();
    w.ok(&["set", "personal.date_of_birth", "1951-07-19"]);
    let dir = w.root().join("agency");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    agency(
        &dir,
        &[
            "init",
            "--name",
            "Sandbox Benefits",
            "--sandbox",
            "--endpoint",
            &url,
        ],
    );
    let mut server = Server::start_on(&dir, port);
    w.ok(&["--sandbox", "agency", "add", &url]);
    server.kill();

    // Down: the share is made and kept to send; nothing reached the agency.
    let shared = w
        .ok(&[
            "--sandbox",
            "share",
            "--agency",
            "sandbox-benefits",
            "--fields",
            "personal.date_of_birth",
            "--purpose",
            "pension-credit-check",
            "--expires",
            "7d",
            "--send",
            "--json",
        ])
        .json();
    assert_eq!(shared["sent"][0]["code"], "agency-unreachable", "{shared}");
    let grant_id = shared["grant_id"].as_str().expect("an id").to_owned();
    assert_eq!(
        w.ok(&["grants", "--json"]).json()[0]["delivery"]["state"],
        "to-send"
    );

    // Up again: sync sends it.
    let server = Server::start_on(&dir, port);
    w.ok(&["--sandbox", "sync"]);
    let listed: Value =
        serde_json::from_str(&agency(&dir, &["grants", "list", "--json"])).expect("JSON");
    assert_eq!(listed[0]["grant_id"], grant_id.as_str());
    drop(server);

    // Down: stopping works at once on this computer; the notice waits.
    let out = w.ok(&["--sandbox", "revoke", &grant_id]);
    assert!(
        out.stdout.contains("The next sync tries again"),
        "{}",
        out.stdout
    );
    let g = &w.ok(&["grants", "--json"]).json()[0];
    assert_eq!(g["state"]["state"], "stopped", "{g}");
    assert!(
        w.ok(&["grants"])
            .stdout
            .contains("stopped on this computer"),
        "not yet confirmed by the agency"
    );

    // Up again: sync sends the notice; the agency purges and the receipt comes back.
    let _server = Server::start_on(&dir, port);
    w.ok(&["--sandbox", "sync"]);
    let g = &w.ok(&["grants", "--json"]).json()[0];
    assert_eq!(g["state"]["state"], "deleted", "{g}");
    let listed: Value =
        serde_json::from_str(&agency(&dir, &["grants", "list", "--json"])).expect("JSON");
    assert_eq!(listed[0]["purge_reason"], "revoked");
}
