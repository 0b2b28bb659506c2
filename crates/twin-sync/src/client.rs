//! A small typed client for one agency's HTTP interface (`docs/agency-api.md`): blocking,
//! rustls, 10 s to connect and 30 s per request, redirects followed only within the same
//! scheme, host and port. Every `POST` is signed with the citizen's pairwise key for
//! that agency (`twin_protocol::sign_request`).

use std::io::Read;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use reqwest::Url;
use reqwest::blocking::{Client, Response};
use reqwest::header::CONTENT_TYPE;
use serde::{Deserialize, Serialize};
use twin_protocol::KeyPair;
use twin_types::GrantId;

/// Time allowed to open a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a whole request and its answer.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest card read.
const MAX_CARD_BYTES: usize = 64 * 1024;
/// Largest JSON answer read (a revocation answer carries a receipt).
const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// Largest inbox page read: 100 items of at most 256 KiB each, in base64, and some.
const MAX_PAGE_BYTES: usize = 40 * 1024 * 1024;
/// Most items accepted in one inbox page (the service sends at most 100).
const MAX_PAGE_ITEMS: usize = 1000;

/// Standard base64; padding optional, as a lenient reader.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why the agency could not be reached. Always worth retrying later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unreachable {
    /// No connection could be made (refused, no route, name not found, TLS failed).
    #[error("no connection could be made")]
    Connect,
    /// It did not answer in time.
    #[error("it did not answer in time")]
    Timeout,
    /// It answered that it is busy or unavailable (HTTP 5xx, 408, 429).
    #[error("it is busy or unavailable just now (HTTP {0})")]
    Unavailable(u16),
    /// The connection broke off mid-way.
    #[error("the connection broke off")]
    Interrupted,
}

/// Why a call to an agency failed: the three cases a caller treats differently.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The agency's address is not one this client talks to (not https, or plain http
    /// to another computer for a card that is not a sandbox card).
    #[error("the agency's address {endpoint} cannot be used: {why}")]
    BadEndpoint {
        /// The address, as given.
        endpoint: String,
        /// Why, in plain words.
        why: &'static str,
    },
    /// The agency could not be reached: try again later; nothing was decided.
    #[error("could not reach {origin}: {why}")]
    Unreachable {
        /// Where (scheme, host and port).
        origin: String,
        /// What went wrong.
        why: Unreachable,
    },
    /// The agency refused the request (HTTP 4xx), with its own code and plain message.
    #[error("the agency refused: {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The agency's stable code, e.g. `grant-expired` (or `http-<status>` if it gave
        /// none).
        code: String,
        /// Its message, made safe to print (one line, at most 300 characters).
        message: String,
    },
    /// The agency answered something that does not follow the interface.
    #[error("{origin} gave an answer that could not be understood ({what})")]
    Garbled {
        /// Where.
        origin: String,
        /// What was wrong with it.
        what: String,
    },
}

impl ClientError {
    /// A stable code for this error, for the command line and the app.
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::BadEndpoint { .. } => "agency-address-refused",
            ClientError::Unreachable { .. } => "agency-unreachable",
            ClientError::Refused { .. } => "agency-refused",
            ClientError::Garbled { .. } => "agency-answer-garbled",
        }
    }

    /// Whether trying again later may succeed (the agency was not reached, or was busy).
    pub fn is_retryable(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. })
    }
}

/// The agency's answer to a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantReceived {
    /// The grant it received.
    pub grant_id: GrantId,
    /// Its status (`redeemed`).
    pub status: String,
    /// When the grant ends, as the agency reads it.
    pub expires_at: i64,
    /// It had already received this grant before (HTTP 200 rather than 201).
    pub already: bool,
}

/// The agency's answer to a refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshReceived {
    /// The grant refreshed.
    pub grant_id: GrantId,
    /// The sequence number it accepted.
    pub seq: u64,
}

/// What the agency did with a revocation notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationStatus {
    /// It held the grant and deleted it; a deletion receipt comes with the answer.
    Purged,
    /// It had not received the grant; it will refuse it if it arrives.
    Remembered,
}

/// The agency's answer to a revocation notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationAnswer {
    /// The grant stopped.
    pub grant_id: GrantId,
    /// What it did.
    pub status: RevocationStatus,
    /// The signed deletion receipt, when it purged the grant.
    pub receipt: Option<Vec<u8>>,
}

/// What an inbox item is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemKind {
    /// A signed agency request.
    Request,
    /// A sealed record.
    Record,
    /// A signed access receipt.
    AccessReceipt,
    /// A signed deletion receipt.
    DeletionReceipt,
    /// A kind this version does not know (its name, at most 40 characters).
    Other(String),
}

/// One item of the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    /// Its position in this citizen's inbox.
    pub seq: u64,
    /// What it is.
    pub kind: ItemKind,
    /// The grant it concerns, if any.
    pub grant_id: Option<GrantId>,
    /// Its bytes: signed (requests, receipts) or sealed (records).
    pub body: Vec<u8>,
}

/// One page of the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The items, in order.
    pub items: Vec<InboxItem>,
    /// Where to ask from next time (`after`).
    pub next: u64,
    /// More items wait: ask again with `after = next`.
    pub more: bool,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct GrantBody {
    grant_id: String,
    status: String,
    expires_at: i64,
}

#[derive(Deserialize)]
struct RefreshBody {
    grant_id: String,
    seq: u64,
}

#[derive(Deserialize)]
struct RevocationBody {
    grant_id: String,
    status: String,
    receipt: Option<String>,
}

#[derive(Deserialize)]
struct PageBody {
    items: Vec<ItemBody>,
    next: u64,
    more: bool,
}

#[derive(Deserialize)]
struct ItemBody {
    seq: u64,
    kind: String,
    #[serde(default)]
    grant_id: Option<String>,
    body: String,
}

/// One line of the agency's own words, safe to print.
fn one_line(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out.trim().to_owned()
}

fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(h) => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

fn origin_of(url: &Url) -> String {
    format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    )
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn nonce() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    hex::encode(bytes)
}

/// A client for one agency.
#[derive(Debug, Clone)]
pub struct AgencyClient {
    http: Client,
    base: Url,
    origin: String,
}

impl AgencyClient {
    /// A client for the agency at `endpoint` (its base URL): `https`, or plain `http`
    /// only to this computer (loopback), as a local sandbox agency listens.
    pub fn new(endpoint: &str) -> Result<AgencyClient, ClientError> {
        AgencyClient::build(endpoint, false, CONNECT_TIMEOUT, TOTAL_TIMEOUT)
    }

    /// A client for an agency whose card says `endpoint` and whether it is a sandbox
    /// agency: a sandbox agency may also use plain `http` to another computer; a real
    /// one must use `https` unless it is on this computer.
    pub fn for_card(endpoint: &str, sandbox: bool) -> Result<AgencyClient, ClientError> {
        AgencyClient::build(endpoint, sandbox, CONNECT_TIMEOUT, TOTAL_TIMEOUT)
    }

    /// As [`AgencyClient::for_card`], with other time limits (tests).
    pub fn with_timeouts(
        endpoint: &str,
        sandbox: bool,
        connect: Duration,
        total: Duration,
    ) -> Result<AgencyClient, ClientError> {
        AgencyClient::build(endpoint, sandbox, connect, total)
    }

    fn build(
        endpoint: &str,
        sandbox: bool,
        connect: Duration,
        total: Duration,
    ) -> Result<AgencyClient, ClientError> {
        let bad = |why| ClientError::BadEndpoint {
            endpoint: one_line(endpoint, 200),
            why,
        };
        let base = Url::parse(endpoint.trim()).map_err(|_| bad("it is not a web address"))?;
        if base.host_str().is_none_or(str::is_empty) {
            return Err(bad("it names no computer"));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(bad("it carries a user name or password"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(bad("it carries a query or a fragment"));
        }
        let loopback = is_loopback(&base);
        match base.scheme() {
            "https" => {}
            "http" if loopback || sandbox => {}
            "http" => {
                return Err(bad(
                    "it is plain http to another computer; agencies must use https",
                ));
            }
            _ => return Err(bad("it is not an http or https address")),
        }
        let start = base.clone();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects")
            } else if same_origin(attempt.url(), &start) {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let mut builder = Client::builder()
            .connect_timeout(connect)
            .timeout(total)
            .redirect(policy)
            .referer(false)
            .user_agent(concat!("citizen-twin/", env!("CARGO_PKG_VERSION")));
        if loopback {
            // A proxy set for the internet must not see (or break) local traffic.
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|_| bad("this computer could not set up a secure connection"))?;
        Ok(AgencyClient {
            http,
            origin: origin_of(&base),
            base,
        })
    }

    /// Where this client talks to (scheme, host and port), for messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The request path for `rel` (which starts with `/`) under the base URL's path.
    fn path(&self, rel: &str) -> String {
        format!("{}{rel}", self.base.path().trim_end_matches('/'))
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(path);
        url
    }

    fn garbled(&self, what: impl Into<String>) -> ClientError {
        ClientError::Garbled {
            origin: self.origin.clone(),
            what: what.into(),
        }
    }

    fn transport(&self, e: &reqwest::Error) -> ClientError {
        let why = if e.is_timeout() {
            Unreachable::Timeout
        } else if e.is_redirect() {
            return self.garbled("it redirected too many times");
        } else if e.is_connect() {
            Unreachable::Connect
        } else {
            Unreachable::Interrupted
        };
        ClientError::Unreachable {
            origin: self.origin.clone(),
            why,
        }
    }

    /// Reads an answer of at most `limit` bytes; a 2xx gives its status and body, any
    /// other status the matching error.
    fn answer(&self, resp: Response, limit: usize) -> Result<(u16, Vec<u8>), ClientError> {
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        resp.take(limit as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| {
                let timed_out = e.kind() == std::io::ErrorKind::TimedOut
                    || std::error::Error::source(&e)
                        .and_then(|s| s.downcast_ref::<reqwest::Error>())
                        .is_some_and(reqwest::Error::is_timeout);
                ClientError::Unreachable {
                    origin: self.origin.clone(),
                    why: if timed_out {
                        Unreachable::Timeout
                    } else {
                        Unreachable::Interrupted
                    },
                }
            })?;
        if body.len() > limit {
            return Err(self.garbled("the answer is far larger than it can be"));
        }
        match status {
            200..=299 => Ok((status, body)),
            408 | 429 | 500..=599 => Err(ClientError::Unreachable {
                origin: self.origin.clone(),
                why: Unreachable::Unavailable(status),
            }),
            400..=499 => {
                let (code, message) = match serde_json::from_slice::<ErrorBody>(&body) {
                    Ok(e) => (one_line(&e.code, 64), one_line(&e.message, 300)),
                    Err(_) => (
                        format!("http-{status}"),
                        format!("it answered HTTP {status} without saying why"),
                    ),
                };
                Err(ClientError::Refused {
                    status,
                    code,
                    message,
                })
            }
            300..=399 => Err(self.garbled(
                "it pointed to another address; redirects to other computers are not followed",
            )),
            _ => Err(self.garbled(format!("HTTP status {status}"))),
        }
    }

    fn json<T: for<'de> Deserialize<'de>>(&self, body: &[u8]) -> Result<T, ClientError> {
        serde_json::from_slice(body)
            .map_err(|_| self.garbled("its answer is not the JSON the interface describes"))
    }

    fn grant_id(&self, text: &str) -> Result<GrantId, ClientError> {
        text.parse()
            .map_err(|_| self.garbled("its answer names no valid share id"))
    }

    /// A signed `POST` of `body` to `rel`.
    fn post(
        &self,
        key: &KeyPair,
        rel: &str,
        body: Vec<u8>,
        content_type: &'static str,
        limit: usize,
    ) -> Result<(u16, Vec<u8>), ClientError> {
        let path = self.path(rel);
        let headers = twin_protocol::sign_request("POST", &path, &body, now_secs(), &nonce(), key);
        let resp = self
            .http
            .post(self.url(&path))
            .header(CONTENT_TYPE, content_type)
            .header("Content-Digest", headers.content_digest)
            .header("Signature-Input", headers.signature_input)
            .header("Signature", headers.signature)
            .body(body)
            .send()
            .map_err(|e| self.transport(&e))?;
        self.answer(resp, limit)
    }

    /// The agency's signed card, from `GET /.well-known/twin-agency` (unverified: the
    /// caller checks it against the trust list).
    pub fn fetch_card(&self) -> Result<Vec<u8>, ClientError> {
        let path = self.path("/.well-known/twin-agency");
        let resp = self
            .http
            .get(self.url(&path))
            .send()
            .map_err(|e| self.transport(&e))?;
        let (_, body) = self.answer(resp, MAX_CARD_BYTES)?;
        if body.is_empty() {
            return Err(self.garbled("its card is empty"));
        }
        Ok(body)
    }

    /// Sends a grant (`POST /v1/grants`), signed with the grant's pairwise key.
    pub fn send_grant(&self, key: &KeyPair, grant: &[u8]) -> Result<GrantReceived, ClientError> {
        let (status, body) = self.post(
            key,
            "/v1/grants",
            grant.to_vec(),
            "application/octet-stream",
            MAX_ANSWER_BYTES,
        )?;
        let b: GrantBody = self.json(&body)?;
        Ok(GrantReceived {
            grant_id: self.grant_id(&b.grant_id)?,
            status: one_line(&b.status, 40),
            expires_at: b.expires_at,
            already: status == 200,
        })
    }

    /// Sends a refresh of grant `grant_id` (`POST /v1/grants/{grant_id}/refresh`).
    pub fn send_refresh(
        &self,
        key: &KeyPair,
        grant_id: &GrantId,
        refresh: &[u8],
    ) -> Result<RefreshReceived, ClientError> {
        let (_, body) = self.post(
            key,
            &format!("/v1/grants/{grant_id}/refresh"),
            refresh.to_vec(),
            "application/octet-stream",
            MAX_ANSWER_BYTES,
        )?;
        let b: RefreshBody = self.json(&body)?;
        Ok(RefreshReceived {
            grant_id: self.grant_id(&b.grant_id)?,
            seq: b.seq,
        })
    }

    /// Sends a revocation notice (`POST /v1/revocations`).
    pub fn send_revocation(
        &self,
        key: &KeyPair,
        notice: &[u8],
    ) -> Result<RevocationAnswer, ClientError> {
        let (_, body) = self.post(
            key,
            "/v1/revocations",
            notice.to_vec(),
            "application/octet-stream",
            MAX_ANSWER_BYTES,
        )?;
        let b: RevocationBody = self.json(&body)?;
        let status = match b.status.as_str() {
            "purged" => RevocationStatus::Purged,
            "remembered" => RevocationStatus::Remembered,
            _ => return Err(self.garbled("its answer to the notice has an unknown status")),
        };
        let receipt = match b.receipt {
            None => None,
            Some(text) => Some(
                B64.decode(text.as_bytes())
                    .map_err(|_| self.garbled("its deletion receipt is not base64"))?,
            ),
        };
        Ok(RevocationAnswer {
            grant_id: self.grant_id(&b.grant_id)?,
            status,
            receipt,
        })
    }

    /// One page of this citizen's inbox after position `after` (`POST /v1/inbox`).
    /// Items come in order, each after `after`; a page that goes backwards, or says there
    /// is more without moving on, is refused as garbled.
    pub fn inbox(&self, key: &KeyPair, after: u64) -> Result<Page, ClientError> {
        let body = serde_json::to_vec(&serde_json::json!({ "after": after }))
            .expect("a JSON object serialises");
        let (_, body) = self.post(key, "/v1/inbox", body, "application/json", MAX_PAGE_BYTES)?;
        let b: PageBody = self.json(&body)?;
        if b.items.len() > MAX_PAGE_ITEMS {
            return Err(self.garbled("its inbox page holds far more items than allowed"));
        }
        let mut last = after;
        let mut items = Vec::with_capacity(b.items.len());
        for i in b.items {
            if i.seq <= last {
                return Err(self.garbled("its inbox items are out of order"));
            }
            last = i.seq;
            let kind = match i.kind.as_str() {
                "request" => ItemKind::Request,
                "record" => ItemKind::Record,
                "access-receipt" => ItemKind::AccessReceipt,
                "deletion-receipt" => ItemKind::DeletionReceipt,
                other => ItemKind::Other(one_line(other, 40)),
            };
            let grant_id = match i.grant_id {
                None => None,
                Some(g) => Some(self.grant_id(&g)?),
            };
            let body = B64
                .decode(i.body.as_bytes())
                .map_err(|_| self.garbled("an inbox item is not base64"))?;
            items.push(InboxItem {
                seq: i.seq,
                kind,
                grant_id,
                body,
            });
        }
        if b.next < last || (b.more && b.next <= after) {
            return Err(self.garbled("its inbox does not move on"));
        }
        Ok(Page {
            items,
            next: b.next,
            more: b.more,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(endpoint: &str, sandbox: bool) -> bool {
        matches!(
            AgencyClient::for_card(endpoint, sandbox),
            Err(ClientError::BadEndpoint { .. })
        )
    }

    #[test]
    fn plain_http_only_to_this_computer_unless_sandbox() {
        assert!(!refused("https://agency.example.org", false));
        assert!(!refused("http://127.0.0.1:8700", false));
        assert!(!refused("http://localhost:8700/", false));
        assert!(!refused("http://[::1]:8700", false));
        assert!(refused("http://agency.example.org", false));
        assert!(refused("http://10.0.0.5:8700", false));
        assert!(!refused("http://10.0.0.5:8700", true), "a sandbox card");
        assert!(refused("ftp://agency.example.org", true));
        assert!(refused("not a url", false));
        assert!(refused("https://user:pw@agency.example.org", false));
        assert!(refused("https://agency.example.org/?a=b", false));
    }

    #[test]
    fn paths_keep_the_base_path() {
        let c = AgencyClient::new("https://agency.example.org/twin/").unwrap();
        assert_eq!(c.path("/v1/grants"), "/twin/v1/grants");
        let c = AgencyClient::new("http://127.0.0.1:8700").unwrap();
        assert_eq!(c.path("/v1/inbox"), "/v1/inbox");
        assert_eq!(c.origin(), "http://127.0.0.1:8700");
    }

    #[test]
    fn the_agencys_words_are_one_short_line() {
        assert_eq!(one_line("a\nb", 10), "a b");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }
}
