//! `docs/openapi.yaml` against the service it describes.
//!
//! - it is OpenAPI 3.1 and every `$ref` in it resolves;
//! - its paths and methods are exactly the routes of `twin_agency::http::router()`. axum
//!   cannot list a router's routes, so [`ROUTES`] mirrors them, is itself checked against
//!   the `.route(…)` calls in `src/http.rs`, and every documented path is requested from a
//!   real server (in process, on 127.0.0.1:0), which must not answer the router's fallback
//!   `404 not-found` or `405 method-not-allowed`;
//! - every signed `POST` documents the three signature headers as required;
//! - the `ErrorCode` enum holds exactly the codes the HTTP service can produce, read from
//!   the source of `src/http.rs`, `ServiceError::code()` in `src/service.rs` and the error
//!   enums of twin-protocol it turns into codes;
//! - answers of the running server (successes and refusals) have a documented status and
//!   fit the documented JSON schema for it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use twin_agency::home::{self, InitOptions};
use twin_agency::http::{Limits, serve};
use twin_agency::{Agency, Clock, ServiceError, SystemClock};
use twin_agency_store::SqliteStore;
use twin_protocol::{GrantBuilder, GrantError, KeyPair, RefreshError, Revocation, sign_request};
use twin_types::FieldPath;

/// Mirrors `router()` in `src/http.rs`, in its order.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/.well-known/twin-agency"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("post", "/v1/grants"),
    ("post", "/v1/grants/{grant_id}/refresh"),
    ("post", "/v1/revocations"),
    ("post", "/v1/inbox"),
];

/// Codes `ServiceError::code()` makes that only staff commands can reach (never an HTTP
/// handler): not in the HTTP contract.
const STAFF_ONLY: &[&str] = &[
    "revoked",
    "not-valid-now",
    "record-type-not-granted",
    "record-window-closed",
    "record-body-invalid",
    "unknown-staff",
];
/// Code prefixes of the same kind (`paper-*`: grants handed over on paper).
const STAFF_ONLY_PREFIXES: &[&str] = &["paper-"];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn source(rel: &str) -> String {
    let p = crate_dir().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn spec() -> Value {
    let text = source("../../docs/openapi.yaml");
    serde_yaml_ng::from_str(&text).expect("docs/openapi.yaml is YAML that maps to JSON")
}

/// Resolves a local `$ref` (`#/a/b`).
fn pointer<'a>(spec: &'a Value, reference: &str) -> Option<&'a Value> {
    spec.pointer(reference.strip_prefix('#')?)
}

/// Follows `$ref`s until a node without one.
fn resolved<'a>(spec: &'a Value, mut node: &'a Value) -> &'a Value {
    for _ in 0..16 {
        match node.get("$ref").and_then(Value::as_str) {
            Some(r) => node = pointer(spec, r).unwrap_or_else(|| panic!("unresolved {r}")),
            None => return node,
        }
    }
    panic!("a $ref loop")
}

/// `(method, path)` of every operation in the document.
fn documented(spec: &Value) -> BTreeSet<(String, String)> {
    let paths = spec["paths"].as_object().expect("a paths object");
    let mut out = BTreeSet::new();
    for (path, item) in paths {
        for (key, _) in item.as_object().expect("a path item") {
            if METHODS.contains(&key.as_str()) {
                out.insert((key.clone(), path.clone()));
            }
        }
    }
    out
}

fn routes() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect()
}

#[test]
fn it_is_openapi_3_1() {
    let spec = spec();
    let version = spec["openapi"].as_str().expect("an `openapi` field");
    assert!(version.starts_with("3.1."), "OpenAPI {version}, not 3.1");
    assert!(spec["info"]["title"].is_string());
    assert!(spec["info"]["version"].is_string());
    assert!(spec["paths"].is_object());
}

#[test]
fn every_ref_resolves() {
    fn walk(spec: &Value, node: &Value, at: &str, missing: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                for (k, v) in map {
                    if k == "$ref" {
                        let r = v.as_str().unwrap_or_default();
                        if pointer(spec, r).is_none() {
                            missing.push(format!("{at}: {r}"));
                        }
                    } else {
                        walk(spec, v, &format!("{at}/{k}"), missing);
                    }
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(spec, v, &format!("{at}/{i}"), missing);
                }
            }
            _ => {}
        }
    }
    let spec = spec();
    let mut missing = Vec::new();
    walk(&spec, &spec, "", &mut missing);
    assert!(missing.is_empty(), "unresolved $ref: {missing:#?}");
}

#[test]
fn the_route_list_mirrors_the_router() {
    // Every `.route("PATH", METHOD(handler))` in http.rs.
    let text = source("src/http.rs");
    let mut found = BTreeSet::new();
    for (i, _) in text.match_indices(".route(") {
        let rest = text[i + ".route(".len()..].trim_start();
        let rest = rest.strip_prefix('"').expect("a route path literal");
        let end = rest.find('"').expect("a closing quote");
        let path = &rest[..end];
        let after = rest[end + 1..].trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        let method: String = after
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect();
        assert!(
            METHODS.contains(&method.as_str()),
            "route {path}: method {method:?} not understood; update this test"
        );
        found.insert((method, path.to_owned()));
    }
    assert_eq!(
        found,
        routes(),
        "ROUTES does not mirror router() in src/http.rs"
    );
}

#[test]
fn the_document_has_exactly_the_routes() {
    let spec = spec();
    let doc = documented(&spec);
    let missing: Vec<_> = routes().difference(&doc).cloned().collect();
    let extra: Vec<_> = doc.difference(&routes()).cloned().collect();
    assert!(missing.is_empty(), "served but not documented: {missing:?}");
    assert!(extra.is_empty(), "documented but not served: {extra:?}");
}

#[test]
fn signed_posts_require_the_signature_headers() {
    let spec = spec();
    for (method, path) in routes() {
        if method != "post" {
            continue;
        }
        let op = &spec["paths"][&path][&method];
        let headers: BTreeMap<String, bool> = op["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{path}: no parameters"))
            .iter()
            .map(|p| resolved(&spec, p))
            .filter(|p| p["in"] == "header")
            .map(|p| {
                (
                    p["name"].as_str().unwrap_or_default().to_ascii_lowercase(),
                    p["required"] == true,
                )
            })
            .collect();
        for h in ["content-digest", "signature-input", "signature"] {
            assert_eq!(
                headers.get(h),
                Some(&true),
                "{path}: {h} is not a required header"
            );
        }
        let body = &op["requestBody"];
        assert_eq!(body["required"], true, "{path}: the body is not required");
        let media = if path == "/v1/inbox" {
            "application/json"
        } else {
            "application/octet-stream"
        };
        assert!(
            body["content"][media].is_object(),
            "{path}: no {media} body"
        );
    }
}

/// `TooLarge(131072)` → `too-large`, as `service.rs` makes codes from `Debug` names.
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

/// The variant names of `pub enum NAME` in a source file.
fn variants(file: &str, name: &str) -> Vec<String> {
    let text = source(file);
    let start = text
        .find(&format!("pub enum {name} {{"))
        .unwrap_or_else(|| panic!("no enum {name} in {file}"));
    let body = &text[start..];
    let body = &body[body.find('{').unwrap() + 1..body.find("\n}").unwrap()];
    body.lines()
        .map(str::trim)
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
        .map(|l| {
            l.chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect::<String>()
        })
        .collect()
}

/// The string literals in `text`.
fn literals(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('"') {
        let after = &rest[i + 1..];
        let Some(j) = after.find('"') else { break };
        out.push(after[..j].to_owned());
        rest = &after[j + 1..];
    }
    out
}

/// Every code the HTTP service can produce, from the source.
fn producible() -> BTreeSet<String> {
    let mut codes = BTreeSet::new();
    // http.rs: `ApiError::new(StatusCode::X, "code", …)`.
    let http = source("src/http.rs");
    for (i, _) in http.match_indices("ApiError::new(") {
        let args = &http[i..];
        let code = literals(args).into_iter().next().expect("a code literal");
        codes.insert(code);
    }
    // service.rs: the body of `ServiceError::code()`.
    let service = source("src/service.rs");
    let start = service
        .find("pub fn code(&self) -> String {")
        .expect("ServiceError::code in service.rs");
    let body = &service[start..];
    let body = &body[..body.find("\n    }\n").expect("the end of code()")];
    let enums: BTreeMap<&str, (&str, &str)> = [
        ("grant-", ("../twin-protocol/src/grant.rs", "GrantError")),
        (
            "refresh-",
            ("../twin-protocol/src/refresh.rs", "RefreshError"),
        ),
        (
            "revocation-",
            ("../twin-protocol/src/revocation.rs", "RevocationError"),
        ),
        ("paper-", ("../twin-protocol/src/paper.rs", "PaperError")),
    ]
    .into_iter()
    .collect();
    for lit in literals(body) {
        if let Some(prefix) = lit.strip_suffix("{}") {
            let (file, name) = enums
                .get(prefix)
                .unwrap_or_else(|| panic!("code() makes codes {lit:?}: teach this test the enum"));
            for v in variants(file, name) {
                codes.insert(format!("{prefix}{}", kebab(&v)));
            }
        } else if !lit.is_empty() && !lit.contains(['{', ' ']) {
            codes.insert(lit);
        }
    }
    codes
}

#[test]
fn the_code_derivation_matches_service_error_code() {
    // This test rebuilds codes from enum names; make sure it agrees with the real thing.
    assert_eq!(
        ServiceError::Grant(GrantError::TooLarge(1)).code(),
        "grant-too-large"
    );
    assert_eq!(
        ServiceError::Grant(GrantError::RecordsWindowTooLong).code(),
        "grant-records-window-too-long"
    );
    assert_eq!(
        ServiceError::Grant(GrantError::FieldOutsideScope("x".into())).code(),
        "grant-field-outside-scope"
    );
    assert_eq!(
        ServiceError::Refresh(RefreshError::FieldOutsideScope("x".into())).code(),
        "refresh-field-outside-scope"
    );
    assert_eq!(ServiceError::RefreshRevoked.code(), "refresh-revoked");
    let made = producible();
    for c in [
        "grant-issued-in-the-future",
        "refresh-wrong-grant",
        "revocation-wrong-audience",
        "body-too-large",
        "method-not-allowed",
        "disk-full",
        "stale-request",
    ] {
        assert!(made.contains(c), "{c} not found in the source: {made:?}");
    }
}

#[test]
fn error_codes_are_exactly_those_the_service_produces() {
    let spec = spec();
    let listed: BTreeSet<String> = spec["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("an ErrorCode enum")
        .iter()
        .map(|c| c.as_str().expect("a string code").to_owned())
        .collect();
    let made = producible();
    let unknown: Vec<_> = listed.difference(&made).collect();
    assert!(
        unknown.is_empty(),
        "ErrorCode lists codes the service never produces: {unknown:?}"
    );
    let over_http: BTreeSet<String> = made
        .into_iter()
        .filter(|c| !STAFF_ONLY.contains(&c.as_str()))
        .filter(|c| !STAFF_ONLY_PREFIXES.iter().any(|p| c.starts_with(p)))
        .collect();
    let undocumented: Vec<_> = over_http.difference(&listed).collect();
    assert!(
        undocumented.is_empty(),
        "the service produces codes ErrorCode does not list: {undocumented:?}"
    );
    // Every code a response narrows to is one of ErrorCode's.
    let mut narrowed = Vec::new();
    for (name, response) in spec["components"]["responses"].as_object().unwrap() {
        let schema = &response["content"]["application/json"]["schema"];
        for part in schema["allOf"].as_array().into_iter().flatten() {
            let code = &part["properties"]["code"];
            let codes: Vec<&Value> = match (code.get("enum"), code.get("const")) {
                (Some(e), _) => e.as_array().unwrap().iter().collect(),
                (None, Some(c)) => vec![c],
                _ => vec![],
            };
            for c in codes {
                let c = c.as_str().unwrap();
                if !listed.contains(c) {
                    narrowed.push(format!("{name}: {c}"));
                }
            }
        }
    }
    assert!(
        narrowed.is_empty(),
        "responses name codes ErrorCode lacks: {narrowed:?}"
    );
}

// --- against a running server ---------------------------------------------------------

struct Server {
    base: String,
    agency: Arc<Agency>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemClock.now();
        let identity = home::init(
            dir.path(),
            &InitOptions {
                name: "Sandbox Benefits".into(),
                id: None,
                endpoint: "http://127.0.0.1:0".into(),
                sandbox: true,
                anchor: None,
                purposes: None,
                record_types: vec!["benefit-award/v1".into(), "identity-link/v1".into()],
                valid_days: 365,
            },
            now,
        )
        .unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let agency = Arc::new(Agency::new(
            identity,
            Arc::new(store),
            Arc::new(SystemClock),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(
            listener,
            Arc::clone(&agency),
            Limits::default(),
            async {
                let _ = stopped.await;
            },
        ));
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = client.get(format!("{base}/readyz")).send().await
                && r.status() == 200
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        Server {
            base,
            agency,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(std::time::Duration::from_secs(10), t)
                .await
                .expect("the server stops")
                .unwrap()
                .unwrap();
        }
    }
}

/// An answer, as the checks need it.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    json: Option<Value>,
}

async fn call(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Answer {
    let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
    let mut req = client.request(method, format!("{base}{path}"));
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let r = req.body(body).send().await.expect("the server answers");
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = r.bytes().await.unwrap();
    let json = if content_type.starts_with("application/json") {
        Some(serde_json::from_slice(&bytes).expect("JSON, as its content type says"))
    } else {
        None
    };
    Answer {
        status,
        content_type,
        json,
    }
}

fn signed(path: &str, body: &[u8], key: &KeyPair) -> Vec<(&'static str, String)> {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).unwrap();
    let h = sign_request(
        "POST",
        path,
        body,
        SystemClock.now(),
        &hex::encode(nonce),
        key,
    );
    vec![
        ("content-digest", h.content_digest),
        ("signature-input", h.signature_input),
        ("signature", h.signature),
    ]
}

/// Checks that `answer` is a documented response of `template`'s `method` and fits its
/// schema.
fn conforms(spec: &Value, method: &str, template: &str, answer: &Answer) {
    let op = &spec["paths"][template][method];
    let status = answer.status.to_string();
    let response = op["responses"]
        .get(&status)
        .unwrap_or_else(|| panic!("{method} {template}: {answer:?} is not a documented status"));
    let response = resolved(spec, response);
    let media = response["content"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {template} {status}: no content documented"));
    let media_type = answer
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    let documented = media.get(media_type).unwrap_or_else(|| {
        panic!("{method} {template} {status}: answered {media_type}, documented {media:?}")
    });
    if let Some(json) = &answer.json {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": spec["components"],
            "allOf": [documented["schema"]],
        });
        let validator = jsonschema::options()
            .build(&schema)
            .expect("the documented schema compiles");
        let errors: Vec<String> = validator.iter_errors(json).map(|e| e.to_string()).collect();
        assert!(
            errors.is_empty(),
            "{method} {template} {status}: {json} does not fit the document: {errors:?}"
        );
    }
}

const SOME_GRANT: &str = "00112233445566778899aabbccddeeff";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_is_served() {
    let spec = spec();
    let server = Server::start().await;
    let client = reqwest::Client::new();
    for (method, template) in documented(&spec) {
        let path = template.replace("{grant_id}", SOME_GRANT);
        let a = call(&client, &server.base, &method, &path, &[], Vec::new()).await;
        let code = a
            .json
            .as_ref()
            .and_then(|j| j["code"].as_str())
            .unwrap_or_default();
        assert!(
            !(a.status == 404 && code == "not-found") && a.status != 405,
            "{method} {template}: the router does not serve it ({a:?})"
        );
        conforms(&spec, &method, &template, &a);
    }
    // The check above can fail: what the router does not serve answers the fallback.
    let a = call(
        &client,
        &server.base,
        "post",
        "/v1/nothing-here",
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(a.status, 404);
    assert_eq!(a.json.unwrap()["code"], "not-found");
    let a = call(&client, &server.base, "get", "/v1/grants", &[], Vec::new()).await;
    assert_eq!(a.status, 405);
    assert_eq!(a.json.unwrap()["code"], "method-not-allowed");
    drop(client);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_fit_the_document() {
    let spec = spec();
    let server = Server::start().await;
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let card = server.agency.identity.card.clone();
    let citizen = KeyPair::generate();
    let now = SystemClock.now();
    let grant = |single_use: bool| {
        GrantBuilder::new(&card, "pension-credit-check", 86_400)
            .field(
                "personal.date_of_birth".parse::<FieldPath>().unwrap(),
                json!("1950-01-31"),
            )
            .field(
                "personal.address.postcode".parse::<FieldPath>().unwrap(),
                json!("LS1 4AP"),
            )
            .single_use(single_use)
            .build(&citizen, now)
            .unwrap()
    };

    // POST /v1/grants: 201, then 200 for the same (not single-use) grant.
    let g = grant(false);
    let t = "/v1/grants";
    let a = call(
        &client,
        &base,
        "post",
        t,
        &signed(t, &g.bytes, &citizen),
        g.bytes.clone(),
    )
    .await;
    assert_eq!(a.status, 201, "{a:?}");
    conforms(&spec, "post", t, &a);
    let a = call(
        &client,
        &base,
        "post",
        t,
        &signed(t, &g.bytes, &citizen),
        g.bytes.clone(),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    conforms(&spec, "post", t, &a);
    // 409: a single-use grant twice.
    let once = grant(true);
    for status in [201, 409] {
        let h = signed(t, &once.bytes, &citizen);
        let a = call(&client, &base, "post", t, &h, once.bytes.clone()).await;
        assert_eq!(a.status, status, "{a:?}");
        conforms(&spec, "post", t, &a);
    }
    // 401: the very same signed request again.
    let other = grant(false);
    let h = signed(t, &other.bytes, &citizen);
    let a = call(&client, &base, "post", t, &h, other.bytes.clone()).await;
    assert_eq!(a.status, 201, "{a:?}");
    let a = call(&client, &base, "post", t, &h, other.bytes.clone()).await;
    assert_eq!(
        (a.status, a.json.as_ref().unwrap()["code"].as_str()),
        (401, Some("replayed-request"))
    );
    conforms(&spec, "post", t, &a);
    // 403: signed by someone else.
    let stranger = KeyPair::generate();
    let g3 = grant(false);
    let a = call(
        &client,
        &base,
        "post",
        t,
        &signed(t, &g3.bytes, &stranger),
        g3.bytes.clone(),
    )
    .await;
    assert_eq!(a.status, 403, "{a:?}");
    conforms(&spec, "post", t, &a);
    // 400: digest mismatch, and not a grant.
    let mut h = signed(t, b"something else", &citizen);
    let a = call(&client, &base, "post", t, &h, g3.bytes.clone()).await;
    assert_eq!(
        (a.status, a.json.as_ref().unwrap()["code"].as_str()),
        (400, Some("digest-mismatch"))
    );
    conforms(&spec, "post", t, &a);
    h = signed(t, b"not a grant", &citizen);
    let a = call(&client, &base, "post", t, &h, b"not a grant".to_vec()).await;
    assert_eq!(
        (a.status, a.json.as_ref().unwrap()["code"].as_str()),
        (400, Some("grant-malformed"))
    );
    conforms(&spec, "post", t, &a);
    // 413: above 256 KiB.
    let big = vec![0u8; 257 * 1024];
    let a = call(&client, &base, "post", t, &signed(t, &big, &citizen), big).await;
    assert_eq!(a.status, 413, "{a:?}");
    conforms(&spec, "post", t, &a);

    // POST /v1/grants/{grant_id}/refresh: 200, 409 (rollback), 404 (not held).
    let tr = "/v1/grants/{grant_id}/refresh";
    let path = tr.replace("{grant_id}", &g.claims.grant_id.to_string());
    let values: BTreeMap<FieldPath, Value> = [(
        "personal.address.postcode".parse::<FieldPath>().unwrap(),
        json!("LS2 7HY"),
    )]
    .into_iter()
    .collect();
    let refresh =
        twin_protocol::make_refresh(&g.claims, &card, &values, 1, SystemClock.now(), &citizen)
            .unwrap();
    for status in [200, 409] {
        let h = signed(&path, &refresh, &citizen);
        let a = call(&client, &base, "post", &path, &h, refresh.clone()).await;
        assert_eq!(a.status, status, "{a:?}");
        conforms(&spec, "post", tr, &a);
    }
    let unknown = tr.replace("{grant_id}", SOME_GRANT);
    let a = call(
        &client,
        &base,
        "post",
        &unknown,
        &signed(&unknown, &refresh, &citizen),
        refresh.clone(),
    )
    .await;
    assert_eq!(a.status, 404, "{a:?}");
    conforms(&spec, "post", tr, &a);
    let bad_id = tr.replace("{grant_id}", "not-a-grant-id");
    let a = call(&client, &base, "post", &bad_id, &[], Vec::new()).await;
    assert_eq!(a.status, 404, "{a:?}");
    conforms(&spec, "post", tr, &a);
    // axum's own refusal of a path that does not decode to UTF-8 (documented as text/plain).
    let not_utf8 = tr.replace("{grant_id}", "%FF");
    let a = call(&client, &base, "post", &not_utf8, &[], Vec::new()).await;
    assert_eq!(a.status, 400, "{a:?}");
    conforms(&spec, "post", tr, &a);

    // POST /v1/inbox: 200 (a deletion receipt arrives below), 400 for a body that is not
    // {"after": N}.
    let ti = "/v1/inbox";
    let body = br#"{"after": 0}"#.to_vec();
    let a = call(
        &client,
        &base,
        "post",
        ti,
        &signed(ti, &body, &citizen),
        body.clone(),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    conforms(&spec, "post", ti, &a);
    let body = br#"{"after": -1}"#.to_vec();
    let a = call(
        &client,
        &base,
        "post",
        ti,
        &signed(ti, &body, &citizen),
        body.clone(),
    )
    .await;
    assert_eq!(a.status, 400, "{a:?}");
    conforms(&spec, "post", ti, &a);

    // POST /v1/revocations: purged (held), remembered (never seen), 403, 400.
    let tv = "/v1/revocations";
    let notice = Revocation::sign(
        g.claims.grant_id,
        card.agency.clone(),
        SystemClock.now(),
        &citizen,
    );
    let a = call(
        &client,
        &base,
        "post",
        tv,
        &signed(tv, &notice, &citizen),
        notice.clone(),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json.as_ref().unwrap()["status"], "purged");
    conforms(&spec, "post", tv, &a);
    let unseen = twin_types::GrantId::random();
    let notice2 = Revocation::sign(unseen, card.agency.clone(), SystemClock.now(), &citizen);
    let a = call(
        &client,
        &base,
        "post",
        tv,
        &signed(tv, &notice2, &citizen),
        notice2.clone(),
    )
    .await;
    assert_eq!(a.json.as_ref().unwrap()["status"], "remembered", "{a:?}");
    conforms(&spec, "post", tv, &a);
    let a = call(
        &client,
        &base,
        "post",
        tv,
        &signed(tv, &notice2, &stranger),
        notice2.clone(),
    )
    .await;
    assert_eq!(a.status, 403, "{a:?}");
    conforms(&spec, "post", tv, &a);
    let a = call(
        &client,
        &base,
        "post",
        tv,
        &signed(tv, b"no", &citizen),
        b"no".to_vec(),
    )
    .await;
    assert_eq!(a.status, 400, "{a:?}");
    conforms(&spec, "post", tv, &a);
    // A refresh of the revoked grant: 409 refresh-revoked.
    let refresh2 =
        twin_protocol::make_refresh(&g.claims, &card, &values, 2, SystemClock.now(), &citizen)
            .unwrap();
    let a = call(
        &client,
        &base,
        "post",
        &path,
        &signed(&path, &refresh2, &citizen),
        refresh2,
    )
    .await;
    assert_eq!(a.status, 409, "{a:?}");
    conforms(&spec, "post", tr, &a);

    // The inbox now holds the deletion receipt.
    let body = br#"{"after": 0}"#.to_vec();
    let a = call(
        &client,
        &base,
        "post",
        ti,
        &signed(ti, &body, &citizen),
        body,
    )
    .await;
    assert_eq!(
        a.json.as_ref().unwrap()["items"].as_array().map(Vec::len),
        Some(1),
        "{a:?}"
    );
    conforms(&spec, "post", ti, &a);

    // The public endpoints.
    for p in ["/.well-known/twin-agency", "/healthz", "/readyz"] {
        let a = call(&client, &base, "get", p, &[], Vec::new()).await;
        assert_eq!(a.status, 200, "{a:?}");
        conforms(&spec, "get", p, &a);
    }
    drop(client);
    server.stop().await;
}

#[test]
fn the_prose_contract_names_the_same_routes() {
    // docs/agency-api.md's tables name each route as `METHOD /path`.
    let text =
        std::fs::read_to_string(Path::new(&crate_dir()).join("../../docs/agency-api.md")).unwrap();
    for (method, path) in ROUTES {
        let needle = format!("`{} {}`", method.to_ascii_uppercase(), path);
        assert!(
            text.contains(&needle),
            "docs/agency-api.md does not name {needle}"
        );
    }
}
