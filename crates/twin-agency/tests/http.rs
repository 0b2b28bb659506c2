//! Fault tests for the agency service, each through a real HTTP server on loopback
//! (docs/agency-api.md). The citizen's side of every request is made with
//! `twin_protocol`'s public API, exactly as a vault would make it.
//!
//! Every test starts its own server (`twin_agency::http::serve` on `127.0.0.1:0`) over a
//! fresh folder, with a [`ManualClock`] so that expiry, write-back windows and purges can be
//! reached without sleeping.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::Digest;
use tempfile::TempDir;
use twin_agency::home::{self, Identity, InitOptions};
use twin_agency::http::{self, Limits as HttpLimits};
use twin_agency::{Agency, Clock, ManualClock, SystemClock};
use twin_agency_store::SqliteStore;
use twin_protocol::{
    AgencyCard, Grant, GrantBuilder, KeyPair, Receipt, ReceiptEvent, RecordError, Revocation,
    SignedCard, SignedHeaders, TrustList, make_refresh, open_record, sign_request,
};
use twin_types::{FieldPath, GrantId};

const DAY: i64 = 86_400;
const CANARY: &str = "Canary Zqxjvw Pellucid";

// ---------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------

/// An agency service on loopback, on its own tokio runtime in a background thread.
struct Server {
    addr: SocketAddr,
    agency: Arc<Agency>,
    clock: Arc<ManualClock>,
    http: Option<reqwest::blocking::Client>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Limits with a short body timeout and the given purge period.
fn limits(body_timeout: Duration, purge_every: Duration) -> HttpLimits {
    HttpLimits {
        max_body: 256 * 1024,
        body_timeout,
        purge_every,
    }
}

/// A 1-second body timeout; no periodic purge within a test's lifetime.
fn quiet_limits() -> HttpLimits {
    limits(Duration::from_secs(1), Duration::from_secs(3600))
}

impl Server {
    /// Opens the store in `dir` and serves `identity` from it; returns once `/readyz` says so.
    fn start(
        dir: &Path,
        identity: Identity,
        clock: Arc<ManualClock>,
        limits: HttpLimits,
    ) -> Server {
        let store = SqliteStore::open(dir).expect("the store opens");
        let time: Arc<dyn Clock> = clock.clone();
        let agency = Arc::new(Agency::new(identity, Arc::new(store), time));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let served = Arc::clone(&agency);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("a loopback port");
                addr_tx
                    .send(listener.local_addr().expect("its address"))
                    .expect("the test waits for the address");
                http::serve(listener, served, limits, async {
                    let _ = stop_rx.await;
                })
                .await
                .expect("the service runs");
            });
        });
        let addr = addr_rx.recv().expect("the server's address");
        let server = Server {
            addr,
            agency,
            clock,
            http: Some(
                reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(20))
                    .build()
                    .expect("an HTTP client"),
            ),
            stop: Some(stop_tx),
            thread: Some(thread),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ready = server
                .client()
                .get(server.url("/readyz"))
                .send()
                .is_ok_and(|r| r.status() == 200);
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not become ready (did start-up fail?)"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn client(&self) -> &reqwest::blocking::Client {
        self.http
            .as_ref()
            .expect("the client lives as long as the server")
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Posts `body` with the given signature headers (or none).
    fn post(&self, path: &str, body: &[u8], headers: Option<&SignedHeaders>) -> (u16, Value) {
        let mut req = self
            .client()
            .post(self.url(path))
            .header("content-type", "application/octet-stream")
            .body(body.to_vec());
        if let Some(h) = headers {
            req = req
                .header("content-digest", &h.content_digest)
                .header("signature-input", &h.signature_input)
                .header("signature", &h.signature);
        }
        answer(req.send().expect("the service answers"))
    }

    /// Posts `body` signed by `key` at the agency's current time, with a fresh nonce.
    fn post_signed(&self, path: &str, body: &[u8], key: &KeyPair) -> (u16, Value) {
        let h = sign(path, body, self.now(), key);
        self.post(path, body, Some(&h))
    }

    fn get(&self, path: &str) -> reqwest::blocking::Response {
        self.client()
            .get(self.url(path))
            .send()
            .expect("the service answers")
    }

    /// One inbox page for `key` after `after`: (items, next, more).
    fn inbox_page(&self, key: &KeyPair, after: u64) -> (Vec<Item>, u64, bool) {
        let body = json!({ "after": after }).to_string();
        let (status, v) = self.post_signed("/v1/inbox", body.as_bytes(), key);
        assert_eq!(status, 200, "inbox: {v}");
        let items = v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| Item {
                seq: i["seq"].as_u64().expect("seq"),
                kind: i["kind"].as_str().expect("kind").to_owned(),
                grant_id: i["grant_id"].as_str().map(str::to_owned),
                body: B64
                    .decode(i["body"].as_str().expect("body"))
                    .expect("base64"),
            })
            .collect();
        (
            items,
            v["next"].as_u64().expect("next"),
            v["more"].as_bool().expect("more"),
        )
    }

    /// The whole inbox for `key`, following `next` while `more`.
    fn inbox(&self, key: &KeyPair) -> Vec<Item> {
        let (mut all, mut after) = (Vec::new(), 0);
        loop {
            let (items, next, more) = self.inbox_page(key, after);
            all.extend(items);
            after = next;
            if !more {
                return all;
            }
        }
    }

    /// Sends a grant signed by its own citizen and expects it to be kept (201).
    fn redeem(&self, grant: &Grant, citizen: &KeyPair) {
        let (status, v) = self.post_signed("/v1/grants", &grant.bytes, citizen);
        assert_eq!(status, 201, "redeem: {v}");
        assert_eq!(v["grant_id"], grant.claims.grant_id.to_string());
        assert_eq!(v["status"], "redeemed");
        assert_eq!(v["expires_at"], grant.claims.expires_at);
    }

    /// Sends a revocation notice for `id`, signed by `citizen`.
    fn revoke(&self, id: GrantId, citizen: &KeyPair) -> (u16, Value) {
        let notice = Revocation::sign(
            id,
            self.agency.identity.card.agency.clone(),
            self.now(),
            citizen,
        );
        self.post_signed("/v1/revocations", &notice, citizen)
    }

    /// Stops the server and waits until it has let go of the store.
    fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // Idle keep-alive connections first, so the graceful shutdown has nothing to wait for.
        self.http.take();
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Status and JSON body of an answer.
fn answer(resp: reqwest::blocking::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().expect("a body");
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, v)
}

/// Asserts a refusal: its status, its `code`, and a non-empty plain message.
#[track_caller]
fn refused((status, v): (u16, Value), want_status: u16, want_code: &str) {
    assert_eq!(
        (status, v["code"].as_str()),
        (want_status, Some(want_code)),
        "answer: {v}"
    );
    assert!(
        v["message"].as_str().is_some_and(|m| !m.is_empty()),
        "a refusal has a message: {v}"
    );
}

/// One inbox item.
#[derive(Debug, Clone)]
struct Item {
    seq: u64,
    kind: String,
    grant_id: Option<String>,
    body: Vec<u8>,
}

// ---------------------------------------------------------------------------------------
// The citizen's side
// ---------------------------------------------------------------------------------------

fn nonce() -> String {
    let mut n = [0u8; 16];
    getrandom::fill(&mut n).expect("random bytes");
    hex::encode(n)
}

/// Signs a POST to `path` as a vault does (`twin_protocol::sign_request`).
fn sign(path: &str, body: &[u8], created: i64, key: &KeyPair) -> SignedHeaders {
    sign_request("POST", path, body, created, &nonce(), key)
}

fn path(p: &str) -> FieldPath {
    FieldPath::parse(p).expect("a field path")
}

/// A citizen with a fresh root secret: their pairwise key pair for `card`'s agency.
fn citizen(card: &AgencyCard) -> KeyPair {
    let mut root = [0u8; 32];
    getrandom::fill(&mut root).expect("random bytes");
    KeyPair::pairwise(&root, &card.agency)
}

/// A 7-day housing-support grant of a name and a postcode.
fn housing_grant(card: &AgencyCard, citizen: &KeyPair, now: i64, name: &str) -> Grant {
    GrantBuilder::new(card, "housing-support", 7 * DAY)
        .field(path("personal.full_name"), json!(name))
        .field(path("personal.address.postcode"), json!("LS1 4AP"))
        .build(citizen, now)
        .expect("a grant")
}

/// A staff member registered in the folder and in the store.
fn staff(dir: &Path, agency: &Agency, name: &str) -> KeyPair {
    let key = home::add_staff(dir, name).expect("a staff key");
    agency
        .add_staff(name, &key.sign_public())
        .expect("staff registered");
    key
}

/// Access receipts of `grant` among `items`, in inbox order.
fn access_receipts(items: &[Item], grant: &GrantId) -> Vec<Vec<u8>> {
    items
        .iter()
        .filter(|i| i.kind == "access-receipt" && i.grant_id == Some(grant.to_string()))
        .map(|i| i.body.clone())
        .collect()
}

/// Checks a chain of access receipts: each verifies against `card`, numbered from 1, each
/// `prev` the SHA-256 of the previous receipt's signed bytes (zeros first).
#[track_caller]
fn check_chain(receipts: &[Vec<u8>], card: &AgencyCard, grant: &GrantId) {
    let mut prev = vec![0u8; 32];
    for (i, bytes) in receipts.iter().enumerate() {
        let r = Receipt::verify(bytes, card).expect("an access receipt that verifies");
        assert_eq!(r.grant_id, *grant);
        match r.event {
            ReceiptEvent::Access { seq, prev: p, .. } => {
                assert_eq!(seq, i as u64 + 1, "access receipts are numbered from 1");
                assert_eq!(
                    p,
                    prev,
                    "receipt {seq}'s prev is the hash of receipt {}",
                    seq - 1
                );
            }
            other => panic!("not an access receipt: {other:?}"),
        }
        prev = sha2::Sha256::digest(bytes).to_vec();
    }
}

/// The deletion receipt in `items` for `grant`, checked against `card` and `reason`.
#[track_caller]
fn deletion_receipt(items: &[Item], card: &AgencyCard, grant: &GrantId, reason: &str) -> Vec<u8> {
    let found: Vec<&Item> = items
        .iter()
        .filter(|i| i.kind == "deletion-receipt" && i.grant_id == Some(grant.to_string()))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one deletion receipt for {grant}: {items:?}"
    );
    check_deletion(&found[0].body, card, grant, reason);
    found[0].body.clone()
}

#[track_caller]
fn check_deletion(bytes: &[u8], card: &AgencyCard, grant: &GrantId, reason: &str) {
    let r = Receipt::verify(bytes, card).expect("a deletion receipt that verifies");
    assert_eq!(r.grant_id, *grant);
    assert_eq!(
        r.event,
        ReceiptEvent::Deletion {
            reason: reason.into()
        }
    );
}

// ---------------------------------------------------------------------------------------
// Agencies: a sandbox agency made by `home::init`, and the protocol's test-vector agency
// ---------------------------------------------------------------------------------------

/// A sandbox agency in a fresh folder, at the real time.
fn sandbox() -> (TempDir, Identity, Arc<ManualClock>) {
    let dir = TempDir::new().expect("a temporary folder");
    let now = SystemClock.now();
    let identity = home::init(
        dir.path(),
        &InitOptions {
            name: "Sandbox Benefits".into(),
            id: None,
            endpoint: "http://127.0.0.1:8700".into(),
            sandbox: true,
            anchor: None,
            purposes: None,
            record_types: vec!["benefit-award/v1".into(), "identity-link/v1".into()],
            valid_days: 365,
        },
        now,
    )
    .expect("a sandbox agency");
    (dir, identity, Arc::new(ManualClock::at(now)))
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/vectors")
}

fn vector(name: &str) -> Value {
    let p = vectors_dir().join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&p).expect("a vector file")).expect("JSON")
}

fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))).expect("hex")
}

fn seeds(bytes: &[u8]) -> KeyPair {
    let sign: [u8; 32] = bytes[..32].try_into().expect("32 bytes");
    let seal: [u8; 32] = bytes[32..64].try_into().expect("32 bytes");
    KeyPair::from_seeds(sign, seal)
}

/// The vector agency (schemas/vectors/context.json): its identity, the vector citizen's
/// pairwise key, and the vectors' `now`.
fn vector_agency() -> (Identity, KeyPair, i64) {
    let ctx = vector("context");
    let signed_card = hex_field(&ctx, "card");
    let card = SignedCard(signed_card.clone())
        .read_pinned()
        .expect("the vector card");
    let kid = ctx["agency_key_id"].as_str().expect("kid").to_owned();
    let identity = Identity {
        card,
        signed_card,
        keys: vec![(kid, Arc::new(seeds(&hex_field(&ctx, "agency_key_seeds"))))],
    };
    let citizen = seeds(&hex_field(&ctx, "citizen_pairwise_seeds"));
    (identity, citizen, ctx["now"].as_i64().expect("now"))
}

/// `FieldOutsideScope` → `field-outside-scope`.
fn kebab(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Raw HTTP, for what a polite client cannot send
// ---------------------------------------------------------------------------------------

/// Parses a complete HTTP/1.1 answer with a Content-Length body, if `buf` holds one.
fn parse_answer(buf: &[u8]) -> Option<(u16, Value)> {
    let text = std::str::from_utf8(buf).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let len: usize = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if k.trim().eq_ignore_ascii_case("content-length") {
            v.trim().parse().ok()
        } else {
            None
        }
    })?;
    if body.len() < len {
        return None;
    }
    Some((status, serde_json::from_str(&body[..len]).ok()?))
}

/// Reads one answer; tolerates the server resetting the connection after it.
fn read_answer(s: &mut TcpStream) -> (u16, Value) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if let Some(a) = parse_answer(&buf) {
                    return a;
                }
            }
        }
    }
    parse_answer(&buf)
        .unwrap_or_else(|| panic!("no complete answer: {:?}", String::from_utf8_lossy(&buf)))
}

/// A signed POST written by hand: `chunked` sends the body with `Transfer-Encoding: chunked`
/// and no Content-Length. Write errors are ignored (the server may answer and close before
/// the whole body is sent); the answer is read either way.
fn raw_post(
    addr: SocketAddr,
    path: &str,
    body: &[u8],
    h: &SignedHeaders,
    chunked: bool,
) -> (u16, Value) {
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_owned()
    } else {
        format!("Content-Length: {}", body.len())
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\n\
         Content-Digest: {}\r\nSignature-Input: {}\r\nSignature: {}\r\n{framing}\r\n\r\n",
        h.content_digest, h.signature_input, h.signature
    );
    let mut wire = head.into_bytes();
    if chunked {
        for c in body.chunks(8 * 1024) {
            wire.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            wire.extend_from_slice(c);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
    } else {
        wire.extend_from_slice(body);
    }
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_write_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    for c in wire.chunks(16 * 1024) {
        if s.write_all(c).is_err() {
            break;
        }
    }
    read_answer(&mut s)
}

/// A slow client's answer and how long it took to come.
type SlowAnswer = ((u16, Value), Duration);

/// A slowloris: headers announcing a 1000-byte body, then one byte every 300 ms. Returns
/// the answer, how long it took, and a flag set when it arrived.
fn slowloris(addr: SocketAddr) -> (JoinHandle<SlowAnswer>, Arc<AtomicBool>) {
    let answered = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&answered);
    let handle = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        let started = Instant::now();
        s.write_all(
            format!(
                "POST /v1/grants HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n"
            )
            .as_bytes(),
        )
        .expect("headers sent");
        let mut w = s.try_clone().expect("a second handle");
        let stop = Arc::new(AtomicBool::new(false));
        let stop_w = Arc::clone(&stop);
        // Gives up after 10 s even unanswered, so that a failing test still ends promptly.
        let dribbler = std::thread::spawn(move || {
            for _ in 0..1000 {
                if stop_w.load(Ordering::SeqCst)
                    || started.elapsed() > Duration::from_secs(10)
                    || w.write_all(b"x").is_err()
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        });
        let got = read_answer(&mut s);
        let took = started.elapsed();
        flag.store(true, Ordering::SeqCst);
        stop.store(true, Ordering::SeqCst);
        let _ = dribbler.join();
        (got, took)
    });
    (handle, answered)
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("a readable folder") {
            let p = e.expect("an entry").path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The files under `dir` that contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| {
            std::fs::read(p)
                .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// 1. The protocol's test vectors, over HTTP
// ---------------------------------------------------------------------------------------

/// Vectors of messages the agency never receives (cards, records, receipts, requests, rule packs,
/// key-file settings): the citizen's side checks them, `crates/twin-protocol/tests`.
const CITIZEN_SIDE: &[&str] = &[
    "fail_card_bad_signature",
    "fail_hostile_kdf_params",
    "fail_receipt_bad_signature",
    "fail_record_after_window",
    "fail_record_bad_signature",
    "fail_record_type_outside_scope",
    "fail_request_expired",
    "fail_revoked_anchor_key",
    "fail_rules_bad_signature",
    "fail_rules_expired_key",
    "fail_rules_wrong_publisher",
    "fail_untrusted_anchor",
];

#[test]
fn test_vectors_over_http() {
    let (identity, citizen, now) = vector_agency();
    let card = identity.card.clone();
    let dir = TempDir::new().expect("a folder");
    let clock = Arc::new(ManualClock::at(now));
    let server = Server::start(dir.path(), identity.clone(), clock.clone(), quiet_limits());
    let mut exercised = BTreeSet::new();

    // Every refused grant vector, signed by the vector citizen, at the vector's time.
    let mut names: Vec<String> = std::fs::read_dir(vectors_dir())
        .expect("the vectors")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter_map(|f| f.strip_suffix(".json").map(str::to_owned))
        .filter(|n| n.starts_with("fail_"))
        .collect();
    names.sort();
    for name in &names {
        let v = vector(name);
        // These two need the agency's memory first: below.
        if v["kind"] != "grant" || name == "fail_replayed_single_use" || name == "fail_revoked" {
            continue;
        }
        clock.set(v["now"].as_i64().expect("now"));
        let want = format!("grant-{}", kebab(v["expect"].as_str().expect("expect")));
        let got = server.post_signed("/v1/grants", &hex_field(&v, "input"), &citizen);
        assert_eq!(
            (got.0, got.1["code"].as_str()),
            (400, Some(want.as_str())),
            "{name}: {}",
            got.1
        );
        exercised.insert(name.clone());
    }
    assert!(exercised.len() >= 12, "grant vectors found: {exercised:?}");
    assert!(
        server.agency.store().grants().expect("grants").is_empty(),
        "nothing is stored from a refused grant"
    );

    // grant_ok: 201, then 200 with the same body (an idempotent retry); the values are the
    // vector's.
    let ok = vector("grant_ok");
    clock.set(ok["now"].as_i64().expect("now"));
    let ok_bytes = hex_field(&ok, "input");
    let (status, first) = server.post_signed("/v1/grants", &ok_bytes, &citizen);
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["status"], "redeemed");
    let (status, again) = server.post_signed("/v1/grants", &ok_bytes, &citizen);
    assert_eq!((status, &again), (200, &first));
    let gid1: GrantId = first["grant_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("an id");
    let officer = staff(dir.path(), &server.agency, "J. Officer");
    let shown = server
        .agency
        .show(&gid1, "J. Officer", &officer)
        .expect("staff can read a valid grant");
    let values: BTreeMap<String, Value> = shown
        .values
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let want: BTreeMap<String, Value> =
        serde_json::from_value(ok["values"].clone()).expect("the vector's values");
    assert_eq!(values, want);

    // grant_single_use_ok, then the same bytes again: fail_replayed_single_use.
    let single = vector("grant_single_use_ok");
    clock.set(single["now"].as_i64().expect("now"));
    let (status, v) = server.post_signed("/v1/grants", &hex_field(&single, "input"), &citizen);
    assert_eq!(status, 201, "{v}");
    let replay = vector("fail_replayed_single_use");
    assert_eq!(replay["expect"], "Replayed");
    refused(
        server.post_signed("/v1/grants", &hex_field(&replay, "input"), &citizen),
        409,
        "grant-replayed",
    );
    exercised.insert("fail_replayed_single_use".to_owned());

    // refresh_ok (seq 2 after none), then the same refresh again: fail_refresh_rollback.
    let refresh = vector("refresh_ok");
    clock.set(refresh["now"].as_i64().expect("now"));
    let refresh_path = format!("/v1/grants/{gid1}/refresh");
    let (status, v) = server.post_signed(&refresh_path, &hex_field(&refresh, "input"), &citizen);
    assert_eq!(
        (status, &v),
        (200, &json!({"grant_id": gid1.to_string(), "seq": 2}))
    );
    let rollback = vector("fail_refresh_rollback");
    assert_eq!(rollback["expect"], "Rollback");
    clock.set(rollback["now"].as_i64().expect("now"));
    refused(
        server.post_signed(&refresh_path, &hex_field(&rollback, "input"), &citizen),
        409,
        "refresh-rollback",
    );
    exercised.insert("fail_refresh_rollback".to_owned());

    // A notice for another agency.
    let elsewhere = vector("fail_revocation_wrong_audience");
    clock.set(elsewhere["now"].as_i64().expect("now"));
    refused(
        server.post_signed("/v1/revocations", &hex_field(&elsewhere, "input"), &citizen),
        400,
        "revocation-wrong-audience",
    );
    exercised.insert("fail_revocation_wrong_audience".to_owned());

    // revocation_ok after redemption: purged, with a deletion receipt; then grant_ok again
    // is refused as revoked (fail_revoked with the grant held before).
    let notice = hex_field(&vector("revocation_ok"), "input");
    let (status, v) = server.post_signed("/v1/revocations", &notice, &citizen);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "purged");
    let receipt = B64
        .decode(v["receipt"].as_str().expect("a receipt"))
        .expect("base64");
    check_deletion(&receipt, &card, &gid1, "revoked");
    let revoked = vector("fail_revoked");
    assert_eq!(revoked["expect"], "Revoked");
    clock.set(revoked["now"].as_i64().expect("now"));
    refused(
        server.post_signed("/v1/grants", &hex_field(&revoked, "input"), &citizen),
        409,
        "grant-revoked",
    );
    server.stop();

    // fail_revoked as the vector means it: the notice arrives first ("remembered"), then
    // the grant.
    let dir2 = TempDir::new().expect("a folder");
    let server = Server::start(
        dir2.path(),
        identity,
        Arc::new(ManualClock::at(now)),
        quiet_limits(),
    );
    let (status, v) = server.post_signed("/v1/revocations", &notice, &citizen);
    assert_eq!(
        (status, &v["status"], &v["receipt"]),
        (200, &json!("remembered"), &Value::Null)
    );
    refused(
        server.post_signed("/v1/grants", &hex_field(&revoked, "input"), &citizen),
        409,
        "grant-revoked",
    );
    assert!(server.agency.store().grants().expect("grants").is_empty());
    exercised.insert("fail_revoked".to_owned());

    // Every fail_* vector is either exercised here or checked on the citizen's side.
    let accounted: BTreeSet<String> = exercised
        .iter()
        .cloned()
        .chain(CITIZEN_SIDE.iter().map(|s| (*s).to_owned()))
        .collect();
    let all: BTreeSet<String> = names.into_iter().collect();
    assert_eq!(
        all, accounted,
        "a new fail_* vector needs a place in this test"
    );
}

// ---------------------------------------------------------------------------------------
// 2. Request signatures
// ---------------------------------------------------------------------------------------

#[test]
fn request_signature_faults() {
    let (dir, identity, clock) = sandbox();
    let card = identity.card.clone();
    let server = Server::start(dir.path(), identity, clock, quiet_limits());
    let (alice, mallory) = (citizen(&card), citizen(&card));
    let body = br#"{"after":0}"#;
    let now = server.now();

    // The same signed request twice: the second is a replay.
    let h = sign("/v1/inbox", body, now, &alice);
    assert_eq!(server.post("/v1/inbox", body, Some(&h)).0, 200);
    refused(
        server.post("/v1/inbox", body, Some(&h)),
        401,
        "replayed-request",
    );

    // Too old, from the future; just inside the window is fine.
    let h = sign("/v1/inbox", body, now - 301, &alice);
    refused(
        server.post("/v1/inbox", body, Some(&h)),
        401,
        "stale-request",
    );
    let h = sign("/v1/inbox", body, now + 301, &alice);
    refused(
        server.post("/v1/inbox", body, Some(&h)),
        401,
        "stale-request",
    );
    let h = sign("/v1/inbox", body, now - 299, &alice);
    assert_eq!(server.post("/v1/inbox", body, Some(&h)).0, 200);

    // The body changed after signing.
    let h = sign("/v1/inbox", body, now, &alice);
    refused(
        server.post("/v1/inbox", br#"{"after":1}"#, Some(&h)),
        400,
        "digest-mismatch",
    );
    // ... with its digest recomputed: the signature no longer holds.
    let mut forged = sign("/v1/inbox", body, now, &alice);
    forged.content_digest = sign("/v1/inbox", br#"{"after":1}"#, now, &alice).content_digest;
    refused(
        server.post("/v1/inbox", br#"{"after":1}"#, Some(&forged)),
        401,
        "bad-request-signature",
    );
    // Signed for another path.
    let h = sign("/v1/inbox", body, now, &alice);
    refused(
        server.post("/v1/revocations", body, Some(&h)),
        401,
        "bad-request-signature",
    );

    // Missing or malformed headers.
    refused(
        server.post("/v1/inbox", body, None),
        400,
        "bad-signature-headers",
    );
    let h = sign("/v1/inbox", body, now, &alice);
    let resp = server
        .client()
        .post(server.url("/v1/inbox"))
        .header("content-digest", &h.content_digest)
        .header("signature-input", &h.signature_input)
        .body(body.to_vec())
        .send()
        .expect("an answer");
    refused(answer(resp), 400, "bad-signature-headers");
    let short_nonce = sign_request("POST", "/v1/inbox", body, now, &nonce()[..31], &alice);
    refused(
        server.post("/v1/inbox", body, Some(&short_nonce)),
        400,
        "bad-signature-headers",
    );

    // A grant signed by someone other than its citizen: refused, nothing kept; its own
    // citizen then redeems it.
    let grant = housing_grant(&card, &alice, now, "Alice Example");
    refused(
        server.post_signed("/v1/grants", &grant.bytes, &mallory),
        403,
        "signer-mismatch",
    );
    assert!(
        server
            .agency
            .store()
            .grant(&grant.claims.grant_id)
            .expect("read")
            .is_none()
    );
    server.redeem(&grant, &alice);

    // Mallory can neither refresh nor revoke Alice's grant, even with her own notice.
    let mut values = BTreeMap::new();
    values.insert(path("personal.address.postcode"), json!("YO1 7HH"));
    let refresh = make_refresh(&grant.claims, &card, &values, 1, now, &alice).expect("a refresh");
    let refresh_path = format!("/v1/grants/{}/refresh", grant.claims.grant_id);
    refused(
        server.post_signed(&refresh_path, &refresh, &mallory),
        403,
        "signer-mismatch",
    );
    let alices_notice = Revocation::sign(grant.claims.grant_id, card.agency.clone(), now, &alice);
    refused(
        server.post_signed("/v1/revocations", &alices_notice, &mallory),
        403,
        "signer-mismatch",
    );
    let (status, v) = server.revoke(grant.claims.grant_id, &mallory);
    assert_eq!((status, &v["status"]), (200, &json!("remembered")), "{v}");
    let row = server
        .agency
        .store()
        .grant(&grant.claims.grant_id)
        .expect("read")
        .expect("held");
    assert!(
        row.purged.is_none(),
        "another key's notice does not stop Alice's grant"
    );
    assert_eq!(server.post_signed(&refresh_path, &refresh, &alice).0, 200);
}

// ---------------------------------------------------------------------------------------
// 3. Refreshes
// ---------------------------------------------------------------------------------------

#[test]
fn refresh_faults() {
    let (dir, identity, clock) = sandbox();
    let card = identity.card.clone();
    let server = Server::start(dir.path(), identity, clock, quiet_limits());
    let alice = citizen(&card);
    let now = server.now();
    let grant = housing_grant(&card, &alice, now, "Alice Example");
    server.redeem(&grant, &alice);
    let refresh_path = format!("/v1/grants/{}/refresh", grant.claims.grant_id);
    let refresh = |seq: u64, name: &str| {
        let mut values = BTreeMap::new();
        values.insert(path("personal.full_name"), json!(name));
        make_refresh(&grant.claims, &card, &values, seq, server.now(), &alice).expect("a refresh")
    };

    let (status, v) = server.post_signed(&refresh_path, &refresh(1, "Alice B. Example"), &alice);
    assert_eq!((status, &v["seq"]), (200, &json!(1)), "{v}");
    assert_eq!(
        server
            .post_signed(&refresh_path, &refresh(3, "Alice C. Example"), &alice)
            .0,
        200
    );
    // Older, and equal: rollbacks.
    refused(
        server.post_signed(&refresh_path, &refresh(2, "Old Name"), &alice),
        409,
        "refresh-rollback",
    );
    refused(
        server.post_signed(&refresh_path, &refresh(3, "Old Name"), &alice),
        409,
        "refresh-rollback",
    );
    // A value that breaks the field's schema (a full name is 1 to 200 characters).
    refused(
        server.post_signed(&refresh_path, &refresh(4, ""), &alice),
        400,
        "refresh-invalid-value",
    );
    let row = server
        .agency
        .store()
        .grant(&grant.claims.grant_id)
        .expect("read")
        .expect("held");
    assert_eq!(row.refresh_seq, 3);

    // A refresh for a grant this service never received: 404, as is a path that is no id.
    let never = housing_grant(&card, &alice, now, "Alice Example");
    let mut values = BTreeMap::new();
    values.insert(path("personal.full_name"), json!("Alice Example"));
    let stray = make_refresh(&never.claims, &card, &values, 1, now, &alice).expect("a refresh");
    refused(
        server.post_signed(
            &format!("/v1/grants/{}/refresh", never.claims.grant_id),
            &stray,
            &alice,
        ),
        404,
        "not-found",
    );
    refused(
        server.post_signed("/v1/grants/not-an-id/refresh", &stray, &alice),
        404,
        "not-found",
    );

    // After revocation.
    let (status, v) = server.revoke(grant.claims.grant_id, &alice);
    assert_eq!((status, &v["status"]), (200, &json!("purged")), "{v}");
    refused(
        server.post_signed(&refresh_path, &refresh(4, "Alice D. Example"), &alice),
        409,
        "refresh-revoked",
    );
}

// ---------------------------------------------------------------------------------------
// 4. Records
// ---------------------------------------------------------------------------------------

fn award() -> Value {
    json!({"benefit": "Housing Benefit", "decision": "awarded", "amount": 81.5, "currency": "GBP", "period": "week", "effective_from": "2026-12-01"})
}

#[test]
fn record_faults() {
    let (dir, identity, clock) = sandbox();
    let card = identity.card.clone();
    let server = Server::start(dir.path(), identity, clock.clone(), quiet_limits());
    let alice = citizen(&card);
    let now = server.now();
    let grant = GrantBuilder::new(&card, "housing-support", 7 * DAY)
        .field(path("personal.full_name"), json!("Alice Example"))
        .records(vec!["benefit-award/v1".into()], now + 3 * DAY)
        .build(&alice, now)
        .expect("a grant");
    let id = grant.claims.grant_id;
    server.redeem(&grant, &alice);
    let agency = &server.agency;
    let code = |r: Result<twin_protocol::RecordClaims, twin_agency::ServiceError>| {
        r.expect_err("refused").code()
    };

    // A type the grant does not allow (one the card issues, and one nobody knows).
    let link = json!({"case_ref": "HB-1", "checked": "passport seen"});
    assert_eq!(
        code(agency.issue(&id, "identity-link/v1", &link)),
        "record-type-not-granted"
    );
    assert_eq!(
        code(agency.issue(&id, "licence/v1", &award())),
        "record-type-not-granted"
    );
    // A body that breaks schemas/records/benefit-award.v1.schema.json.
    let mut bad = award();
    bad["decision"] = json!("maybe");
    assert_eq!(
        code(agency.issue(&id, "benefit-award/v1", &bad)),
        "record-body-invalid"
    );
    assert_eq!(
        code(agency.issue(
            &id,
            "benefit-award/v1",
            &json!({"benefit": "Housing Benefit"})
        )),
        "record-body-invalid"
    );
    // A good one reaches the citizen, who opens it with the agency's card.
    let issued = agency
        .issue(&id, "benefit-award/v1", &award())
        .expect("a record");
    let items = server.inbox(&alice);
    let records: Vec<&Item> = items.iter().filter(|i| i.kind == "record").collect();
    assert_eq!(records.len(), 1, "{items:?}");
    let opened =
        open_record(&records[0].body, &alice, &card, &grant.claims).expect("the citizen opens it");
    assert_eq!(opened.claims.record_id, issued.record_id);
    assert_eq!(opened.body, award());

    // After the write-back window (the grant itself is still readable).
    clock.set(now + 3 * DAY + 1);
    assert_eq!(
        code(agency.issue(&id, "benefit-award/v1", &award())),
        "record-window-closed"
    );
    clock.set(now + DAY);
    assert!(agency.issue(&id, "benefit-award/v1", &award()).is_ok());

    // After revocation.
    let (status, v) = server.revoke(id, &alice);
    assert_eq!((status, &v["status"]), (200, &json!("purged")), "{v}");
    assert_eq!(
        code(agency.issue(&id, "benefit-award/v1", &award())),
        "revoked"
    );
    // Records already issued stay pullable.
    let records = server
        .inbox(&alice)
        .into_iter()
        .filter(|i| i.kind == "record")
        .count();
    assert_eq!(records, 2);
}

#[test]
fn a_record_from_an_untrusted_agency_is_refused_by_the_citizen() {
    // The trusted agency: a sandbox card, which the sandbox trust list accepts.
    let (_trusted_dir, trusted, clock) = sandbox();
    let sandbox_trust: TrustList = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../packaging/trust/sandbox/trust-list.json"),
        )
        .expect("the sandbox trust list"),
    )
    .expect("a trust list");
    let now = clock.now();
    SignedCard(trusted.signed_card.clone())
        .verify(&sandbox_trust, now)
        .expect("the trusted agency's card verifies");

    // An impostor with the same agency id, its card signed by an anchor nobody trusts.
    let rogue_dir = TempDir::new().expect("a folder");
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).expect("random bytes");
    let rogue = home::init(
        rogue_dir.path(),
        &InitOptions {
            name: "Sandbox Benefits".into(),
            id: Some(trusted.card.agency.to_string()),
            endpoint: "http://127.0.0.1:8701".into(),
            sandbox: true,
            anchor: Some(("rogue-anchor".into(), seed)),
            purposes: None,
            record_types: vec!["benefit-award/v1".into()],
            valid_days: 365,
        },
        now,
    )
    .expect("an agency");
    assert!(
        SignedCard(rogue.signed_card.clone())
            .verify(&sandbox_trust, now)
            .is_err(),
        "the impostor's card is not trusted"
    );
    let rogue_card = rogue.card.clone();
    let server = Server::start(rogue_dir.path(), rogue, clock, quiet_limits());

    // The same citizen (the same pairwise key: same agency id) ends up sharing with it, and
    // it sends a well-formed record back.
    let citizen_key = citizen(&trusted.card);
    let grant = GrantBuilder::new(&rogue_card, "housing-support", 7 * DAY)
        .field(path("personal.full_name"), json!("Alice Example"))
        .records(vec!["benefit-award/v1".into()], now + DAY)
        .build(&citizen_key, now)
        .expect("a grant");
    server.redeem(&grant, &citizen_key);
    server
        .agency
        .issue(&grant.claims.grant_id, "benefit-award/v1", &award())
        .expect("the impostor issues a record");
    let item = server
        .inbox(&citizen_key)
        .into_iter()
        .find(|i| i.kind == "record")
        .expect("a record in the inbox");
    // Control: the record is sound under the impostor's own card...
    open_record(&item.body, &citizen_key, &rogue_card, &grant.claims).expect("well-formed");
    // ...but the citizen checks records against the pinned, trusted card: refused.
    assert_eq!(
        open_record(&item.body, &citizen_key, &trusted.card, &grant.claims).map(|_| ()),
        Err(RecordError::BadSignature)
    );
}

// ---------------------------------------------------------------------------------------
// 5. Hostile bodies
// ---------------------------------------------------------------------------------------

#[test]
fn hostile_bodies() {
    let (dir, identity, clock) = sandbox();
    let card = identity.card.clone();
    let server = Server::start(
        dir.path(),
        identity,
        clock,
        limits(Duration::from_secs(2), Duration::from_secs(3600)),
    );
    let alice = citizen(&card);
    let now = server.now();

    // 300 KiB, validly signed: refused by size, with a Content-Length and chunked.
    let big = vec![b'a'; 300 * 1024];
    let h = sign("/v1/grants", &big, now, &alice);
    refused(
        raw_post(server.addr, "/v1/grants", &big, &h, false),
        413,
        "body-too-large",
    );
    let h = sign("/v1/grants", &big, now, &alice);
    refused(
        raw_post(server.addr, "/v1/grants", &big, &h, true),
        413,
        "body-too-large",
    );
    // Under the body limit but over the grant limit (128 KiB).
    let large = vec![b'a'; 200 * 1024];
    refused(
        server.post_signed("/v1/grants", &large, &alice),
        400,
        "grant-too-large",
    );
    // Garbage, validly signed.
    let mut garbage = b"this is not a grant \x00\xff\x13".to_vec();
    let mut noise = [0u8; 512];
    getrandom::fill(&mut noise).expect("random bytes");
    garbage.extend_from_slice(&noise);
    refused(
        server.post_signed("/v1/grants", &garbage, &alice),
        400,
        "grant-malformed",
    );
    refused(
        server.post_signed("/v1/grants", b"", &alice),
        400,
        "grant-malformed",
    );
    refused(
        server.post_signed("/v1/inbox", b"not json", &alice),
        400,
        "invalid",
    );

    // Slowloris: three connections dribbling bodies. Meanwhile others are served promptly.
    let slow: Vec<_> = (0..3).map(|_| slowloris(server.addr)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    let health = server.get("/healthz");
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.json::<Value>().expect("JSON"),
        json!({"status": "ok"})
    );
    let healthz_took = t.elapsed();
    let t = Instant::now();
    server.redeem(&housing_grant(&card, &alice, now, "Alice Example"), &alice);
    let grant_took = t.elapsed();
    assert!(
        slow.iter()
            .all(|(_, answered)| !answered.load(Ordering::SeqCst)),
        "the slow clients were still sending while others were served"
    );
    assert!(
        healthz_took < Duration::from_secs(1),
        "healthz took {healthz_took:?}"
    );
    assert!(
        grant_took < Duration::from_secs(1),
        "the grant took {grant_took:?}"
    );
    for (handle, _) in slow {
        let (got, took) = handle.join().expect("the slow client");
        refused(got, 408, "slow-request");
        assert!(
            took >= Duration::from_millis(1900) && took < Duration::from_secs(6),
            "cut off after the body timeout, not {took:?}"
        );
    }
    // And the service is still there.
    assert_eq!(server.get("/healthz").status(), 200);
}

// ---------------------------------------------------------------------------------------
// 6. Revocation
// ---------------------------------------------------------------------------------------

#[test]
fn revocation_before_and_after_redemption() {
    let (dir, identity, clock) = sandbox();
    let card = identity.card.clone();
    let server = Server::start(dir.path(), identity, clock, quiet_limits());
    let officer = staff(dir.path(), &server.agency, "Alice Smith");
    let (alice, bob) = (citizen(&card), citizen(&card));
    let now = server.now();

    // Revoked before it arrives: remembered (again on a repeat), then the grant is refused.
    let early = housing_grant(&card, &alice, now, "Alice Example");
    for _ in 0..2 {
        let (status, v) = server.revoke(early.claims.grant_id, &alice);
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["grant_id"], early.claims.grant_id.to_string());
        assert_eq!(
            (&v["status"], &v["receipt"]),
            (&json!("remembered"), &Value::Null)
        );
    }
    refused(
        server.post_signed("/v1/grants", &early.bytes, &alice),
        409,
        "grant-revoked",
    );
    assert!(
        server
            .agency
            .store()
            .grant(&early.claims.grant_id)
            .expect("read")
            .is_none()
    );

    // Revoked after redemption and two accesses: purged, with a deletion receipt; the same
    // notice again answers the same receipt.
    let grant = housing_grant(&card, &alice, now, "Alice Example");
    let id = grant.claims.grant_id;
    server.redeem(&grant, &alice);
    for _ in 0..2 {
        server
            .agency
            .show(&id, "Alice Smith", &officer)
            .expect("shown");
    }
    let notice = Revocation::sign(id, card.agency.clone(), now, &alice);
    let (status, v) = server.post_signed("/v1/revocations", &notice, &alice);
    assert_eq!((status, &v["status"]), (200, &json!("purged")), "{v}");
    let receipt = B64
        .decode(v["receipt"].as_str().expect("a receipt"))
        .expect("base64");
    check_deletion(&receipt, &card, &id, "revoked");
    let (status, again) = server.post_signed("/v1/revocations", &notice, &alice);
    assert_eq!((status, &again), (200, &v));
    let row = server
        .agency
        .store()
        .grant(&id)
        .expect("read")
        .expect("held");
    assert_eq!(row.purged.as_ref().map(|p| p.1.as_str()), Some("revoked"));
    assert_eq!(
        server
            .agency
            .show(&id, "Alice Smith", &officer)
            .expect_err("purged")
            .code(),
        "purged"
    );

    // Another citizen's grant and its access receipt.
    let bobs = housing_grant(&card, &bob, now, "Bob Example");
    server.redeem(&bobs, &bob);
    server
        .agency
        .show(&bobs.claims.grant_id, "Alice Smith", &officer)
        .expect("shown");

    // Alice's inbox: her two access receipts and her deletion receipt, nothing of Bob's.
    let items = server.inbox(&alice);
    assert_eq!(items.len(), 3, "{items:?}");
    assert!(
        items.iter().all(|i| i.grant_id == Some(id.to_string())),
        "{items:?}"
    );
    check_chain(&access_receipts(&items, &id), &card, &id);
    assert_eq!(access_receipts(&items, &id).len(), 2);
    assert_eq!(deletion_receipt(&items, &card, &id, "revoked"), receipt);
    // Bob's: his one access receipt.
    let items = server.inbox(&bob);
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].grant_id, Some(bobs.claims.grant_id.to_string()));
    check_chain(
        &access_receipts(&items, &bobs.claims.grant_id),
        &card,
        &bobs.claims.grant_id,
    );
}

// ---------------------------------------------------------------------------------------
// 7. Purge at expiry
// ---------------------------------------------------------------------------------------

#[test]
fn purge_at_expiry_by_the_periodic_purge() {
    let (dir, identity, clock) = sandbox();
    let card = identity.card.clone();
    let server = Server::start(
        dir.path(),
        identity,
        clock.clone(),
        limits(Duration::from_secs(1), Duration::from_millis(100)),
    );
    let alice = citizen(&card);
    let now = server.now();
    let grant = GrantBuilder::new(&card, "pension-credit-check", 3600)
        .field(path("personal.date_of_birth"), json!("1958-03-14"))
        .build(&alice, now)
        .expect("a grant");
    let id = grant.claims.grant_id;
    server.redeem(&grant, &alice);
    std::thread::sleep(Duration::from_millis(300));
    let row = server
        .agency
        .store()
        .grant(&id)
        .expect("read")
        .expect("held");
    assert!(row.purged.is_none(), "not purged while valid");

    clock.set(grant.claims.expires_at + 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    let purged = loop {
        let row = server
            .agency
            .store()
            .grant(&id)
            .expect("read")
            .expect("held");
        if let Some(p) = row.purged {
            break p;
        }
        assert!(Instant::now() < deadline, "the periodic purge did not come");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(purged, (grant.claims.expires_at + 1, "expired".to_owned()));
    deletion_receipt(&server.inbox(&alice), &card, &id, "expired");
}

#[test]
fn purge_at_expiry_at_start_up() {
    let (dir, identity, clock) = sandbox();
    let card = identity.card.clone();
    let server = Server::start(dir.path(), identity.clone(), clock.clone(), quiet_limits());
    let alice = citizen(&card);
    let now = server.now();
    let grant = housing_grant(&card, &alice, now, "Alice Example");
    let id = grant.claims.grant_id;
    server.redeem(&grant, &alice);
    server.stop();

    clock.set(grant.claims.expires_at + 60);
    let server = Server::start(dir.path(), identity, clock, quiet_limits());
    let row = server
        .agency
        .store()
        .grant(&id)
        .expect("read")
        .expect("held");
    assert_eq!(row.purged.as_ref().map(|p| p.1.as_str()), Some("expired"));
    deletion_receipt(&server.inbox(&alice), &card, &id, "expired");
}

/// Deletion does not depend on the agency having a current key: once its (only) key has
/// lapsed, a revocation is still taken and honoured, and expired grants are still purged,
/// their deletion receipts signed with the lapsed key (which `Receipt::verify` accepts: any
/// key on the card, expired or not).
#[test]
fn deletion_still_works_after_the_agency_key_lapsed() {
    let (identity, citizen, _) = vector_agency();
    let card = identity.card.clone();
    let key_end = card.keys[0].not_after;
    let dir = TempDir::new().expect("a folder");
    let clock = Arc::new(ManualClock::at(key_end - DAY));
    let server = Server::start(dir.path(), identity, clock.clone(), quiet_limits());
    let make = || {
        GrantBuilder::new(&card, "pension-credit-check", 3 * DAY)
            .field(path("personal.date_of_birth"), json!("1958-03-14"))
            .build(&citizen, key_end - DAY)
            .expect("a grant")
    };
    let (a, b) = (make(), make());
    server.redeem(&a, &citizen);
    server.redeem(&b, &citizen);

    // The key lapses; both grants stay valid for another day.
    clock.set(key_end + 60);
    let (status, v) = server.revoke(a.claims.grant_id, &citizen);
    assert_eq!((status, &v["status"]), (200, &json!("purged")), "{v}");
    let receipt = B64
        .decode(v["receipt"].as_str().expect("a receipt"))
        .expect("base64");
    check_deletion(&receipt, &card, &a.claims.grant_id, "revoked");

    clock.set(b.claims.expires_at + 1);
    server
        .agency
        .purge_due()
        .expect("the purge runs without a current key");
    let row = server
        .agency
        .store()
        .grant(&b.claims.grant_id)
        .expect("read")
        .expect("held");
    assert_eq!(row.purged.as_ref().map(|p| p.1.as_str()), Some("expired"));
    deletion_receipt(
        &server.inbox(&citizen),
        &card,
        &b.claims.grant_id,
        "expired",
    );
}

// ---------------------------------------------------------------------------------------
// 8. Canary: no value, and no destroyed key, anywhere on disk
// ---------------------------------------------------------------------------------------

fn grant_key(dir: &Path, id: &GrantId) -> Option<Vec<u8>> {
    let c = rusqlite::Connection::open_with_flags(
        dir.join("keys.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("keys.db opens");
    let key = c
        .query_row(
            "SELECT key FROM grant_keys WHERE grant_id = ?1",
            [id.to_string()],
            |r| r.get(0),
        )
        .ok();
    drop(c);
    key
}

#[test]
fn canary_values_and_keys_never_on_disk() {
    let (dir, identity, clock) = sandbox();
    let card = identity.card.clone();
    let server = Server::start(dir.path(), identity, clock, quiet_limits());
    let officer = staff(dir.path(), &server.agency, "Alice Smith");
    let alice = citizen(&card);
    let now = server.now();
    let grant = housing_grant(&card, &alice, now, CANARY);
    let id = grant.claims.grant_id;
    server.redeem(&grant, &alice);
    // Read by staff (an access receipt is written), and refreshed with a second canary.
    let shown = server
        .agency
        .show(&id, "Alice Smith", &officer)
        .expect("shown");
    assert_eq!(shown.values[&path("personal.full_name")], json!(CANARY));
    let second = "Canary Vbnmqx Obsidian";
    let mut values = BTreeMap::new();
    values.insert(path("personal.full_name"), json!(second));
    let refresh = make_refresh(&grant.claims, &card, &values, 1, now, &alice).expect("a refresh");
    let (status, v) = server.post_signed(&format!("/v1/grants/{id}/refresh"), &refresh, &alice);
    assert_eq!(status, 200, "{v}");

    let key = grant_key(dir.path(), &id).expect("a per-grant key while the grant is held");
    assert_eq!(key.len(), 32);
    assert!(
        files_containing(dir.path(), &key).contains(&dir.path().join("keys.db")),
        "the scan finds the key where it lives (a check of the check)"
    );
    for canary in [CANARY, second] {
        assert_eq!(
            files_containing(dir.path(), canary.as_bytes()),
            Vec::<PathBuf>::new()
        );
    }

    // Purged (by revocation): the key is gone from every file, and no canary appeared.
    let (status, v) = server.revoke(id, &alice);
    assert_eq!((status, &v["status"]), (200, &json!("purged")), "{v}");
    assert_eq!(grant_key(dir.path(), &id), None);
    let check = |when: &str| {
        let names: Vec<String> = files_under(dir.path())
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            files_containing(dir.path(), &key),
            Vec::<PathBuf>::new(),
            "{when}: the destroyed key is in no file of {names:?}"
        );
        for canary in [CANARY, second] {
            assert_eq!(
                files_containing(dir.path(), canary.as_bytes()),
                Vec::<PathBuf>::new()
            );
        }
    };
    check("running");
    server.stop();
    check("stopped");
}

// ---------------------------------------------------------------------------------------
// 9. Access receipts
// ---------------------------------------------------------------------------------------

#[test]
fn access_receipts_are_numbered_and_chained() {
    let (dir, identity, clock) = sandbox();
    let card = identity.card.clone();
    let server = Server::start(dir.path(), identity, clock.clone(), quiet_limits());
    let officer = staff(dir.path(), &server.agency, "Alice Smith");
    let alice = citizen(&card);
    let now = server.now();
    let grant = housing_grant(&card, &alice, now, "Alice Example");
    let id = grant.claims.grant_id;
    server.redeem(&grant, &alice);

    for want in 1..=3 {
        let shown = server
            .agency
            .show(&id, "Alice Smith", &officer)
            .expect("shown");
        assert_eq!(shown.receipt_seq, want);
    }
    let items = server.inbox(&alice);
    let receipts = access_receipts(&items, &id);
    assert_eq!(receipts.len(), 3, "{items:?}");
    check_chain(&receipts, &card, &id);
    for bytes in &receipts {
        let r = Receipt::verify(bytes, &card).expect("verifies");
        match r.event {
            ReceiptEvent::Access {
                staff,
                fields,
                purpose,
                ..
            } => {
                assert_eq!(staff, "Alice Smith");
                assert_eq!(fields, grant.claims.fields);
                assert_eq!(purpose, grant.claims.purpose.words);
            }
            other => panic!("{other:?}"),
        }
    }

    // Not a registered member of staff, or the wrong key for a registered name.
    let stranger = KeyPair::generate();
    let refused_as = |name: &str, key: &KeyPair| {
        server
            .agency
            .show(&id, name, key)
            .expect_err("refused")
            .code()
    };
    assert_eq!(refused_as("Mallory", &stranger), "unknown-staff");
    assert_eq!(refused_as("Alice Smith", &stranger), "unknown-staff");

    // After expiry: not valid now; once purged: purged. No receipt is written for either.
    clock.set(grant.claims.expires_at + 1);
    assert_eq!(refused_as("Alice Smith", &officer), "not-valid-now");
    server.agency.purge_due().expect("the purge runs");
    assert_eq!(refused_as("Alice Smith", &officer), "purged");
    assert_eq!(access_receipts(&server.inbox(&alice), &id).len(), 3);
}

// ---------------------------------------------------------------------------------------
// 10. Inbox paging
// ---------------------------------------------------------------------------------------

#[test]
fn inbox_pages_of_one_hundred() {
    let (dir, identity, clock) = sandbox();
    let card = identity.card.clone();
    let server = Server::start(dir.path(), identity, clock, quiet_limits());
    let officer = staff(dir.path(), &server.agency, "Alice Smith");
    let (alice, bob) = (citizen(&card), citizen(&card));
    let now = server.now();
    let grant = housing_grant(&card, &alice, now, "Alice Example");
    let bobs = housing_grant(&card, &bob, now, "Bob Example");
    let id = grant.claims.grant_id;
    server.redeem(&grant, &alice);
    server.redeem(&bobs, &bob);

    // 120 access receipts for Alice, 3 for Bob, written concurrently.
    let agency: &Agency = &server.agency;
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..30 {
                    agency.show(&id, "Alice Smith", &officer).expect("shown");
                }
            });
        }
        s.spawn(|| {
            for _ in 0..3 {
                agency
                    .show(&bobs.claims.grant_id, "Alice Smith", &officer)
                    .expect("shown");
            }
        });
    });

    let (first, next, more) = server.inbox_page(&alice, 0);
    assert_eq!((first.len(), more), (100, true));
    assert_eq!(next, first[99].seq);
    let (second, next2, more2) = server.inbox_page(&alice, next);
    assert_eq!((second.len(), more2), (20, false));
    assert_eq!(next2, second[19].seq);
    let (third, next3, more3) = server.inbox_page(&alice, next2);
    assert!(third.is_empty() && !more3);
    assert_eq!(next3, next2, "an empty page answers the same position");

    let all: Vec<Item> = first.into_iter().chain(second).collect();
    assert!(
        all.windows(2).all(|w| w[0].seq < w[1].seq),
        "in order, no repeats"
    );
    assert!(
        all.iter().all(|i| i.grant_id == Some(id.to_string())),
        "only Alice's items"
    );
    check_chain(&access_receipts(&all, &id), &card, &id);
    assert_eq!(access_receipts(&all, &id).len(), 120);
    assert_eq!(server.inbox(&bob).len(), 3);
}

/// A client that never finishes its headers is cut off after the timeout, and others are
/// served meanwhile.
#[test]
fn slow_headers_are_cut_off() {
    use std::io::{Read, Write};
    let (dir, identity, clock) = sandbox();
    let server = Server::start(
        dir.path(),
        identity,
        clock,
        limits(Duration::from_secs(1), Duration::from_secs(3600)),
    );
    let mut slow = TcpStream::connect(server.addr).expect("connects");
    slow.write_all(b"POST /v1/grants HTTP/1.1\r\nHost: x\r\n")
        .expect("writes");
    let started = Instant::now();
    let dribbler = std::thread::spawn(move || {
        // One header byte every 200 ms, never the blank line that ends the headers.
        for _ in 0..50 {
            if slow.write_all(b"X").is_err() {
                return (true, started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(200));
            let mut buf = [0u8; 256];
            slow.set_nonblocking(true).expect("nonblocking");
            match slow.read(&mut buf) {
                Ok(0) => return (true, started.elapsed()),
                Ok(_) => return (true, started.elapsed()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return (true, started.elapsed()),
            }
            slow.set_nonblocking(false).expect("blocking");
        }
        (false, started.elapsed())
    });
    assert_eq!(server.get("/healthz").status().as_u16(), 200);
    let (cut, after) = dribbler.join().expect("the slow client");
    assert!(
        cut,
        "a client dribbling its headers for 10 s was never cut off"
    );
    assert!(
        after < Duration::from_secs(8),
        "cut off only after {after:?}"
    );
}
