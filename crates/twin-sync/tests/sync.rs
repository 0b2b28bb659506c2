//! The client and `twin sync` against a small agency served in-process over real HTTP
//! on loopback, built from `docs/agency-api.md` and the protocol crate's public API
//! alone (the real service lives in `crates/twin-agency`).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use twin_protocol::{
    AgencyCard, AgencyView, CardKey, GrantClaims, GrantError, KeyPair, Limits, Purpose, Receipt,
    ReceiptEvent, RecordClaims, RefreshError, Revocation, SignPublic, SignedHeaders,
    UnverifiedGrant,
};
use twin_sync::{AgencyClient, ClientError, Outcome, Step, SyncReport, Unreachable};
use twin_types::{AgencyId, FieldPath, GrantId, MessageId};
use twin_vault::{Delivery, GrantState, Passphrase, ShareRequest, Vault, trust_list};

const ANCHOR: &str = include_str!("../../../packaging/trust/sandbox/anchor-private.json");
const P: &str = "correct horse battery";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An inbox item: (seq, kind, grant id, body, for whom).
type Item = (u64, String, Option<String>, Vec<u8>, SignPublic);

/// What the fake agency remembers.
#[derive(Default)]
struct State {
    grants: HashMap<GrantId, (GrantClaims, BTreeMap<FieldPath, Value>)>,
    revoked: HashSet<(GrantId, SignPublic)>,
    last_seq: HashMap<GrantId, u64>,
    nonces: HashSet<String>,
    inbox: Vec<Item>,
    /// Answers forced on the next requests: (status, raw body, extra header).
    forced: VecDeque<(u16, String, Option<String>)>,
    /// Paths asked, in order.
    asked: Vec<String>,
    page_size: usize,
}

struct Agency {
    card: AgencyCard,
    signed_card: Vec<u8>,
    key: KeyPair,
    state: Mutex<State>,
}

fn kebab(variant: &str) -> String {
    let name = variant.split(['(', ' ', '{']).next().unwrap_or_default();
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

struct Req {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

fn read_request(stream: &TcpStream) -> Option<Req> {
    let mut r = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Req {
        method,
        path,
        headers,
        body,
    })
}

fn respond(mut stream: TcpStream, status: u16, body: &[u8], extra: Option<&str>) {
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n",
        body.len(),
        extra.map(|e| format!("{e}\r\n")).unwrap_or_default()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

fn error(status: u16, code: &str) -> (u16, Vec<u8>) {
    (
        status,
        json!({"code": code, "message": format!("refused: {code}")})
            .to_string()
            .into_bytes(),
    )
}

impl Agency {
    /// Starts an agency on a free loopback port; its card names that port.
    fn start() -> Arc<Agency> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let key = KeyPair::generate();
        let card = AgencyCard {
            v: 1,
            agency: AgencyId::parse("sandbox-benefits").unwrap(),
            name: "Sandbox Benefits Agency".into(),
            endpoint: format!("http://127.0.0.1:{port}"),
            sandbox: true,
            keys: vec![CardKey {
                kid: "k1".into(),
                sign: key.sign_public(),
                seal: key.seal_public(),
                not_after: now() + 100 * 86_400,
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
        let signed_card = card
            .sign("sandbox-anchor", &KeyPair::from_seeds(seed, [0; 32]))
            .0;
        let agency = Arc::new(Agency {
            card,
            signed_card,
            key,
            state: Mutex::new(State {
                page_size: 2,
                ..State::default()
            }),
        });
        let served = agency.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let Some(req) = read_request(&stream) else {
                    continue;
                };
                let forced = {
                    let mut st = served.state.lock().unwrap();
                    st.asked.push(req.path.clone());
                    st.forced.pop_front()
                };
                if let Some((status, body, extra)) = forced {
                    if status == 0 {
                        // Never answer: the client must give up on its own.
                        std::thread::sleep(Duration::from_secs(3));
                        continue;
                    }
                    respond(stream, status, body.as_bytes(), extra.as_deref());
                    continue;
                }
                let (status, body) = served.handle(&req);
                respond(stream, status, &body, None);
            }
        });
        agency
    }

    fn view_keys(&self) -> [(String, &KeyPair); 1] {
        [("k1".to_owned(), &self.key)]
    }

    fn force(&self, status: u16, body: &str, extra: Option<&str>) {
        self.state.lock().unwrap().forced.push_back((
            status,
            body.to_owned(),
            extra.map(str::to_owned),
        ));
    }

    /// Puts an item in the inbox of the citizen who signs with `to`.
    fn push(&self, to: SignPublic, kind: &str, grant: Option<GrantId>, body: Vec<u8>) {
        let mut st = self.state.lock().unwrap();
        let seq = st.inbox.len() as u64 * 10 + 7;
        st.inbox
            .push((seq, kind.into(), grant.map(|g| g.to_string()), body, to));
    }

    fn handle(&self, req: &Req) -> (u16, Vec<u8>) {
        if req.method == "GET" && req.path == "/.well-known/twin-agency" {
            return (200, self.signed_card.clone());
        }
        if req.method != "POST" {
            return error(404, "not-found");
        }
        let h = |n: &str| req.headers.get(n).cloned().unwrap_or_default();
        let headers = SignedHeaders {
            content_digest: h("content-digest"),
            signature_input: h("signature-input"),
            signature: h("signature"),
        };
        let mut st = self.state.lock().unwrap();
        let signer = match twin_protocol::verify_request(
            "POST",
            &req.path,
            &req.body,
            &headers,
            now(),
            300,
            |n| st.nonces.contains(n),
        ) {
            Ok(v) => {
                st.nonces.insert(v.nonce);
                v.signer
            }
            Err(e) => return error(401, &format!("request-{}", kebab(&format!("{e:?}")))),
        };
        let keys = self.view_keys();
        let view = AgencyView {
            card: &self.card,
            keys: &keys,
            limits: Limits::default(),
        };
        match req.path.as_str() {
            "/v1/grants" => {
                let revoked = st.revoked.clone();
                let verified = UnverifiedGrant::parse(&req.body, &view.limits).and_then(|g| {
                    g.verify(
                        &view,
                        now(),
                        |id, s| revoked.contains(&(*id, *s)),
                        |_, _| false,
                    )
                });
                let g = match verified {
                    Ok(g) => g,
                    Err(e @ (GrantError::Revoked | GrantError::Replayed)) => {
                        return error(409, &format!("grant-{}", kebab(&format!("{e:?}"))));
                    }
                    Err(e) => return error(400, &format!("grant-{}", kebab(&format!("{e:?}")))),
                };
                if g.claims.citizen_sign != signer {
                    return error(403, "signer-mismatch");
                }
                let id = g.claims.grant_id;
                let expires_at = g.claims.expires_at;
                let status = if st.grants.contains_key(&id) {
                    200
                } else {
                    201
                };
                st.grants.insert(id, (g.claims, g.values));
                (
                    status,
                    json!({"grant_id": id.to_string(), "status": "redeemed", "expires_at": expires_at})
                        .to_string()
                        .into_bytes(),
                )
            }
            "/v1/revocations" => {
                let Ok(r) = Revocation::verify(&req.body, &self.card.agency) else {
                    return error(400, "revocation-malformed");
                };
                if r.signer != signer {
                    return error(403, "signer-mismatch");
                }
                st.revoked.insert((r.grant_id, r.signer));
                let held = st
                    .grants
                    .get(&r.grant_id)
                    .is_some_and(|(c, _)| c.citizen_sign == r.signer);
                if held {
                    st.grants.remove(&r.grant_id);
                    let receipt = Receipt {
                        v: 1,
                        agency: self.card.agency.clone(),
                        grant_id: r.grant_id,
                        event: ReceiptEvent::Deletion {
                            reason: "revoked".into(),
                        },
                        at: now(),
                    }
                    .sign("k1", &self.key);
                    (
                        200,
                        json!({"grant_id": r.grant_id.to_string(), "status": "purged", "receipt": B64.encode(receipt)})
                            .to_string()
                            .into_bytes(),
                    )
                } else {
                    (
                        200,
                        json!({"grant_id": r.grant_id.to_string(), "status": "remembered", "receipt": null})
                            .to_string()
                            .into_bytes(),
                    )
                }
            }
            "/v1/inbox" => {
                let Ok(ask) = serde_json::from_slice::<Value>(&req.body) else {
                    return error(400, "malformed-body");
                };
                let after = ask["after"].as_u64().unwrap_or(0);
                let mine: Vec<_> = st
                    .inbox
                    .iter()
                    .filter(|(seq, .., to)| *seq > after && *to == signer)
                    .collect();
                let page: Vec<Value> = mine
                    .iter()
                    .take(st.page_size)
                    .map(|(seq, kind, grant, body, _)| {
                        json!({"seq": seq, "kind": kind, "grant_id": grant, "body": B64.encode(body)})
                    })
                    .collect();
                let next = mine
                    .iter()
                    .take(st.page_size)
                    .map(|i| i.0)
                    .max()
                    .unwrap_or(after);
                let more = mine.len() > st.page_size;
                (
                    200,
                    json!({"items": page, "next": next, "more": more})
                        .to_string()
                        .into_bytes(),
                )
            }
            path => {
                let Some(id) = path
                    .strip_prefix("/v1/grants/")
                    .and_then(|p| p.strip_suffix("/refresh"))
                    .and_then(|g| g.parse::<GrantId>().ok())
                else {
                    return error(404, "not-found");
                };
                let Some((claims, _)) = st.grants.get(&id).cloned() else {
                    return error(404, "not-found");
                };
                if claims.citizen_sign != signer {
                    return error(403, "signer-mismatch");
                }
                if st.revoked.contains(&(id, signer)) {
                    return error(409, "refresh-revoked");
                }
                let last = st.last_seq.get(&id).copied().unwrap_or(0);
                match twin_protocol::open_refresh(&req.body, &claims, &self.key, last, now(), 300) {
                    Ok((r, values)) => {
                        st.last_seq.insert(id, r.seq);
                        st.grants.insert(id, (claims, values));
                        (
                            200,
                            json!({"grant_id": id.to_string(), "seq": r.seq})
                                .to_string()
                                .into_bytes(),
                        )
                    }
                    Err(RefreshError::Rollback) => error(409, "refresh-rollback"),
                    Err(e) => error(400, &format!("refresh-{}", kebab(&format!("{e:?}")))),
                }
            }
        }
    }

    fn value(&self, id: &GrantId, path: &str) -> Option<Value> {
        let st = self.state.lock().unwrap();
        st.grants
            .get(id)
            .and_then(|(_, v)| v.get(&path.parse::<FieldPath>().unwrap()).cloned())
    }
}

struct Citizen {
    _dir: tempfile::TempDir,
    d: PathBuf,
    v: Vault,
}

fn citizen(agency: &Agency) -> Citizen {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("v");
    let (mut v, _) = Vault::init(&d, &Passphrase::new(P.into())).unwrap();
    v.set("personal.date_of_birth", "1958-03-14", None).unwrap();
    v.set("personal.address.postcode", "LS1 4AP", None).unwrap();
    // The card as the agency serves it.
    let card = twin_sync::fetch_card(&agency.card.endpoint).unwrap();
    assert_eq!(card, agency.signed_card);
    v.add_agency(&card, &trust_list(None, true).unwrap())
        .unwrap();
    Citizen { _dir: dir, d, v }
}

impl Citizen {
    fn share(&mut self) -> GrantId {
        let shared = self
            .v
            .share(
                &ShareRequest {
                    agency: AgencyId::parse("sandbox-benefits").unwrap(),
                    fields: vec![
                        "personal.date_of_birth".into(),
                        "personal.address.postcode".into(),
                    ],
                    purpose: "pension-credit-check".into(),
                    duration_secs: 7 * 86_400,
                    records: vec!["benefit-award/v1".into()],
                    records_secs: 60 * 86_400,
                    single_use: false,
                },
                &trust_list(None, true).unwrap(),
            )
            .unwrap();
        self.v.mark_to_send(&shared.summary.id).unwrap();
        shared.summary.id
    }

    fn sync(&mut self) -> SyncReport {
        twin_sync::sync(&mut self.v, &trust_list(None, true).unwrap()).unwrap()
    }

    fn grant(&self, id: &GrantId) -> twin_vault::GrantSummary {
        self.v.grants().into_iter().find(|g| g.id == *id).unwrap()
    }

    fn key(&mut self) -> SignPublic {
        self.v
            .agency_key(&AgencyId::parse("sandbox-benefits").unwrap())
            .unwrap()
            .sign_public()
    }
}

fn lines(r: &SyncReport) -> Vec<String> {
    r.events.iter().map(|e| e.line.clone()).collect()
}

#[test]
fn a_full_sync_sends_refreshes_pulls_and_stops() {
    let agency = Agency::start();
    let mut c = citizen(&agency);
    let id = c.share();

    // Step 2: the share goes, and the agency opens both values.
    let r = c.sync();
    assert!(r.is_complete(), "{:#?}", r.events);
    let sent: Vec<_> = r.of(Step::Share).collect();
    assert_eq!(sent.len(), 1, "{:#?}", r.events);
    assert_eq!(sent[0].outcome, Outcome::Done);
    assert!(matches!(c.grant(&id).delivery, Delivery::Accepted { .. }));
    assert_eq!(
        agency.value(&id, "personal.address.postcode"),
        Some(json!("LS1 4AP"))
    );
    let again = c.sync();
    assert_eq!(
        lines(&again),
        ["Sandbox Benefits Agency (SANDBOX): up to date."]
    );

    // Step 3: a changed value follows.
    c.v.set("personal.address.postcode", "LS2 7HY", None)
        .unwrap();
    let r = c.sync();
    let refreshed: Vec<_> = r.of(Step::Refresh).collect();
    assert_eq!(refreshed.len(), 1, "{:#?}", r.events);
    assert!(
        !refreshed[0].line.contains("LS2"),
        "no values in what is shown"
    );
    assert_eq!(
        agency.value(&id, "personal.address.postcode"),
        Some(json!("LS2 7HY"))
    );
    assert_eq!(c.grant(&id).refreshes, 1);

    // Step 4: the inbox, over several pages; each item once.
    let me = c.key();
    let request = twin_protocol::AgencyRequest {
        v: 1,
        request_id: MessageId::random(),
        agency: agency.card.agency.clone(),
        fields: vec!["personal.date_of_birth".parse().unwrap()],
        purpose: "pension-credit-check".into(),
        case_ref: Some("PC-1".into()),
        duration_secs: 86_400,
        records: Vec::new(),
        records_secs: 0,
        issued_at: now(),
        expires_at: now() + 86_400,
    }
    .sign("k1", &agency.key);
    agency.push(me, "request", None, request);
    let claims = agency.state.lock().unwrap().grants[&id].0.clone();
    let record = RecordClaims {
        v: 1,
        record_id: MessageId::random(),
        record_type: "benefit-award/v1".into(),
        agency: agency.card.agency.clone(),
        subject: claims.citizen_sign,
        grant_id: id,
        issued_at: now(),
        body: r#"{"award": "Pension Credit"}"#.into(),
    }
    .issue("k1", &agency.key, &claims.citizen_seal)
    .unwrap();
    agency.push(me, "record", Some(id), record);
    let access = |seq: u64, prev: Vec<u8>| {
        Receipt {
            v: 1,
            agency: agency.card.agency.clone(),
            grant_id: id,
            event: ReceiptEvent::Access {
                seq,
                prev,
                staff: "Alice Smith".into(),
                fields: claims.fields.clone(),
                purpose: "Pension Credit check".into(),
            },
            at: now(),
        }
        .sign("k1", &agency.key)
    };
    let first = access(1, vec![0; 32]);
    use sha2::Digest;
    let second = access(2, sha2::Sha256::digest(&first).to_vec());
    agency.push(me, "access-receipt", Some(id), first);
    agency.push(me, "access-receipt", Some(id), second);
    agency.push(me, "access-receipt", Some(id), access(4, vec![3; 32]));
    agency.push(me, "something-new", None, b"?".to_vec());
    agency.push(
        KeyPair::generate().sign_public(),
        "record",
        None,
        b"not mine".to_vec(),
    );
    let r = c.sync();
    assert!(r.is_complete(), "{:#?}", r.events);
    let got = lines(&r);
    assert_eq!(got.len(), 6, "{got:#?}");
    assert!(got[0].contains("asked for your date of birth for 'Pension Credit check'"));
    assert!(got[1].contains("sent you a signed record (benefit-award/v1)"));
    assert!(got[2].starts_with(
        "Sandbox Benefits Agency (SANDBOX): Alice Smith opened your postcode and date of birth for 'Pension Credit check' on"
    ), "{}", got[2]);
    assert!(got[4].contains("receipt 3 is missing"), "{}", got[4]);
    assert!(
        got[5].contains("does not know (something-new)"),
        "{}",
        got[5]
    );
    assert_eq!(c.v.requests().len(), 1);
    assert_eq!(c.v.records().unwrap().len(), 1);
    assert_eq!(c.grant(&id).access.receipts, 3);
    let pages = agency
        .state
        .lock()
        .unwrap()
        .asked
        .iter()
        .filter(|p| *p == "/v1/inbox")
        .count();
    assert!(pages >= 3, "{pages} pages");
    // The place in the inbox is kept: nothing is imported twice.
    c.v.lock().unwrap();
    c.v = Vault::unlock(&c.d, &Passphrase::new(P.into())).unwrap();
    assert_eq!(
        lines(&c.sync()),
        ["Sandbox Benefits Agency (SANDBOX): up to date."]
    );

    // Step 1: stopping is local at once; the agency deletes and says so, signed.
    c.v.revoke(&id.to_string()).unwrap();
    c.v.set("personal.address.postcode", "LS3 1AA", None)
        .unwrap();
    let r = c.sync();
    assert!(r.is_complete(), "{:#?}", r.events);
    assert_eq!(
        r.of(Step::Refresh).count(),
        0,
        "a stopped share never pushes"
    );
    let told: Vec<_> = r.of(Step::Notice).collect();
    assert_eq!(told.len(), 1);
    assert!(
        told[0]
            .line
            .starts_with("Sandbox Benefits Agency (SANDBOX) confirmed it deleted what you shared"),
        "{}",
        told[0].line
    );
    assert!(matches!(c.grant(&id).state, GrantState::Deleted { .. }));
    assert!(agency.value(&id, "personal.address.postcode").is_none());
    assert!(c.v.outstanding_shares().is_empty());
}

#[test]
fn an_agency_that_cannot_be_reached_leaves_everything_for_the_next_sync() {
    let agency = Agency::start();
    let mut c = citizen(&agency);
    let a = c.share();
    let b = c.share();
    c.v.revoke(&b.to_string()).unwrap();

    agency.force(503, r#"{"code":"unavailable","message":"busy"}"#, None);
    let r = c.sync();
    assert!(!r.is_complete());
    assert_eq!(r.events.len(), 1, "nothing more is asked: {:#?}", r.events);
    assert_eq!(r.events[0].step, Step::Notice);
    assert_eq!(r.events[0].code.as_deref(), Some("agency-unreachable"));
    assert!(r.events[0].line.contains("The next sync tries again"));
    assert_eq!(c.v.notices_to_send().len(), 1);
    assert_eq!(c.v.grants_to_send().len(), 1);

    // A signature the agency finds stale is about the request, not the share: retried.
    agency.force(401, r#"{"code":"stale-request","message":"clock"}"#, None);
    let r = c.sync();
    assert_eq!(r.events[0].outcome, Outcome::Failed);
    assert_eq!(r.events[0].code.as_deref(), Some("stale-request"));
    assert!(!r.is_complete());

    // Next time it answers: everything goes.
    let r = c.sync();
    assert!(r.is_complete(), "{:#?}", r.events);
    assert!(matches!(c.grant(&a).delivery, Delivery::Accepted { .. }));
    assert!(c.v.notices_to_send().is_empty());
    assert!(c.grant(&b).notice.unwrap().sent_at.is_some());

    // Nobody listening at all.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = AgencyClient::new(&format!("http://127.0.0.1:{closed}")).unwrap();
    assert!(matches!(
        client.fetch_card(),
        Err(ClientError::Unreachable {
            why: Unreachable::Connect,
            ..
        })
    ));
}

#[test]
fn a_refusal_is_kept_and_not_retried() {
    let agency = Agency::start();
    let mut c = citizen(&agency);
    let id = c.share();
    agency.force(
        400,
        r#"{"code":"grant-invalid-value","message":"a value does not fit the rules"}"#,
        None,
    );
    let r = c.sync();
    let e = &r.events[0];
    assert_eq!((e.step, e.outcome), (Step::Share, Outcome::Refused));
    assert_eq!(e.code.as_deref(), Some("grant-invalid-value"));
    assert!(
        e.line.contains(
            "refused your share for 'Pension Credit check': a value does not fit the rules"
        ),
        "{}",
        e.line
    );
    assert!(c.v.grants_to_send().is_empty());
    assert!(matches!(c.grant(&id).delivery, Delivery::Refused { .. }));
}

#[test]
fn an_agency_no_longer_trusted_is_only_told_to_stop() {
    let agency = Agency::start();
    let mut c = citizen(&agency);
    let a = c.share();
    let b = c.share();
    c.v.revoke(&b.to_string()).unwrap();
    // Sandbox trust switched off.
    let r = twin_sync::sync(&mut c.v, &trust_list(None, false).unwrap()).unwrap();
    assert_eq!(r.of(Step::Notice).next().unwrap().outcome, Outcome::Done);
    let skipped = r.of(Step::Agency).next().unwrap();
    assert_eq!(skipped.outcome, Outcome::Skipped);
    assert!(
        skipped
            .line
            .starts_with("Nothing was sent to or fetched from")
    );
    assert_eq!(c.grant(&a).delivery, Delivery::ToSend);
    assert!(
        !agency
            .state
            .lock()
            .unwrap()
            .asked
            .iter()
            .any(|p| p == "/v1/grants" || p == "/v1/inbox")
    );
}

#[test]
fn answers_outside_the_interface_are_garbled_not_trusted() {
    let agency = Agency::start();
    let mut c = citizen(&agency);
    let key =
        c.v.agency_key(&AgencyId::parse("sandbox-benefits").unwrap())
            .unwrap();
    let client = AgencyClient::new(&agency.card.endpoint).unwrap();

    agency.force(200, "<html>hello</html>", None);
    assert!(matches!(
        client.inbox(&key, 0),
        Err(ClientError::Garbled { .. })
    ));
    agency.force(
        200,
        r#"{"items":[{"seq":3,"kind":"record","grant_id":null,"body":""},{"seq":2,"kind":"record","grant_id":null,"body":""}],"next":3,"more":false}"#,
        None,
    );
    assert!(matches!(
        client.inbox(&key, 0),
        Err(ClientError::Garbled { .. })
    ));
    agency.force(200, r#"{"items":[],"next":0,"more":true}"#, None);
    assert!(matches!(
        client.inbox(&key, 0),
        Err(ClientError::Garbled { .. })
    ));
    // A redirect to another computer is not followed.
    agency.force(302, "", Some("Location: http://127.0.0.2:9/v1/inbox"));
    assert!(matches!(
        client.inbox(&key, 0),
        Err(ClientError::Garbled { .. })
    ));
    // A 4xx without the JSON body still says it was refused.
    agency.force(404, "no", None);
    match client.inbox(&key, 0) {
        Err(ClientError::Refused { code, .. }) => assert_eq!(code, "http-404"),
        other => panic!("{other:?}"),
    }
    // An agency that never answers is given up on.
    let slow = AgencyClient::with_timeouts(
        &agency.card.endpoint,
        true,
        Duration::from_secs(1),
        Duration::from_millis(500),
    )
    .unwrap();
    agency.force(0, "", None);
    assert!(matches!(
        slow.inbox(&key, 0),
        Err(ClientError::Unreachable {
            why: Unreachable::Timeout,
            ..
        })
    ));
    // Every request is signed: the agency saw valid signatures throughout.
    let id = c.share();
    let r = twin_sync::send_share(&mut c.v, &trust_list(None, true).unwrap(), id).unwrap();
    assert!(r.is_complete(), "{:#?}", r.events);
}
