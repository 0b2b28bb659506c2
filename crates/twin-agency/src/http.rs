//! The HTTP surface (docs/agency-api.md, docs/openapi.yaml): axum on tokio. Handlers read
//! the body within a size and time bound, then run the service's blocking work on the
//! blocking pool, so a slow or hostile client holds only its own connection.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use twin_agency_store::StoreError;
use twin_protocol::{GrantError, RefreshError, SignedHeaders};
use twin_types::GrantId;

use crate::service::{Agency, ServiceError};

/// Bounds on what a client may send.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body, in bytes.
    pub max_body: usize,
    /// Longest time to receive a body.
    pub body_timeout: Duration,
    /// How often expired and revoked grants are purged.
    pub purge_every: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 256 * 1024,
            body_timeout: Duration::from_secs(10),
            purge_every: Duration::from_secs(30),
        }
    }
}

#[derive(Clone)]
struct AppState {
    agency: Arc<Agency>,
    limits: Limits,
    ready: Arc<AtomicBool>,
}

/// A refusal as it goes over the wire: `{code, message}` with a status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({ "code": self.code, "message": self.message })),
        )
            .into_response()
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as E;
        let status = match &e {
            E::Grant(GrantError::Replayed | GrantError::Revoked)
            | E::Refresh(RefreshError::Rollback)
            | E::RefreshRevoked
            | E::GrantIdTaken
            | E::Purged { .. }
            | E::Revoked(_) => StatusCode::CONFLICT,
            E::RequestSig(_)
                if matches!(
                    e.code().as_str(),
                    "stale-request" | "replayed-request" | "bad-request-signature"
                ) =>
            {
                StatusCode::UNAUTHORIZED
            }
            E::SignerMismatch => StatusCode::FORBIDDEN,
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Store(_) | E::NoCurrentKey => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        let message = match &e {
            E::Store(StoreError::DiskFull) => {
                "the agency cannot store anything just now; try again later".to_owned()
            }
            E::Store(inner) => {
                tracing::error!(error = %inner, "store failure");
                "the agency's service is not available just now; try again later".to_owned()
            }
            _ => e.to_string(),
        };
        ApiError {
            status,
            code: e.code(),
            message,
        }
    }
}

/// The router, with its state.
pub fn router(agency: Arc<Agency>, limits: Limits, ready: Arc<AtomicBool>) -> Router {
    let state = AppState {
        agency,
        limits,
        ready,
    };
    Router::new()
        .route("/.well-known/twin-agency", get(card))
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .route("/v1/grants", post(post_grant))
        .route("/v1/grants/{grant_id}/refresh", post(post_refresh))
        .route("/v1/revocations", post(post_revocation))
        .route("/v1/inbox", post(post_inbox))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "there is nothing at this address",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "this address does not take that method",
            )
        })
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// Serves on `listener` until `shutdown` resolves: reconciles the store and purges what is
/// due before it reports ready, then purges periodically.
pub async fn serve(
    listener: tokio::net::TcpListener,
    agency: Arc<Agency>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let ready = Arc::new(AtomicBool::new(false));
    let app = router(Arc::clone(&agency), limits, Arc::clone(&ready));
    let startup = Arc::clone(&agency);
    let started = tokio::task::spawn_blocking(move || {
        startup
            .store()
            .reconcile()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        startup
            .purge_due()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok::<_, std::io::Error>(())
    });
    started
        .await
        .map_err(std::io::Error::other)?
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    ready.store(true, Ordering::SeqCst);
    let purger = Arc::clone(&agency);
    let every = limits.purge_every;
    let purge_task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let a = Arc::clone(&purger);
            match tokio::task::spawn_blocking(move || a.purge_due()).await {
                Ok(Err(e)) => tracing::error!(error = %e, "periodic purge failed"),
                Err(e) => tracing::error!(error = %e, "periodic purge stopped"),
                Ok(Ok(_)) => {}
            }
        }
    });
    let result = serve_connections(listener, app, limits, shutdown).await;
    purge_task.abort();
    result
}

/// Accepts connections until `shutdown`, each served by hyper with a header timeout (a
/// client that never finishes its headers is cut off, as one that never finishes its body
/// is by `read_body`); then lets open connections finish, for at most 10 seconds.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.body_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, do not spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                let conn = builder.serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
    Ok(())
}

async fn log_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    tracing::info!(
        %method,
        route,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

async fn card(State(s): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/cose")],
        s.agency.identity.signed_card.clone(),
    )
        .into_response()
}

async fn readyz(State(s): State<AppState>) -> Response {
    if s.ready.load(Ordering::SeqCst) {
        axum::Json(json!({"status": "ready"})).into_response()
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the service is starting",
        )
        .into_response()
    }
}

/// Reads a body within the size and time bounds.
async fn read_body(body: Body, headers: &HeaderMap, limits: &Limits) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!("the body is larger than {} KiB", limits.max_body / 1024),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body as u64) {
        return Err(too_large());
    }
    let limited = http_body_util::Limited::new(body, limits.max_body);
    match tokio::time::timeout(limits.body_timeout, limited.collect()).await {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "slow-request",
            format!(
                "the body did not arrive within {} seconds",
                limits.body_timeout.as_secs()
            ),
        )),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Ok(Err(_)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed-body",
            "the body could not be read",
        )),
        Ok(Ok(c)) => Ok(c.to_bytes()),
    }
}

fn signed_headers(h: &HeaderMap) -> Result<SignedHeaders, ApiError> {
    let get = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad-signature-headers",
                    "the request is not signed: Content-Digest, Signature-Input and Signature are needed",
                )
            })
    };
    Ok(SignedHeaders {
        content_digest: get("content-digest")?,
        signature_input: get("signature-input")?,
        signature: get("signature")?,
    })
}

/// Reads, bounds and verifies a signed citizen request, then runs `work` on the blocking
/// pool with the verified request. With `spend`, the nonce is spent first; without, `work`
/// must spend it in its own commit.
async fn signed<T: Send + 'static>(
    s: AppState,
    req: Request,
    spend: bool,
    work: impl FnOnce(&Agency, &twin_protocol::VerifiedRequest, &[u8]) -> Result<T, ServiceError>
    + Send
    + 'static,
) -> Result<T, ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = read_body(body, &parts.headers, &s.limits).await?;
    let headers = signed_headers(&parts.headers)?;
    let path = parts.uri.path().to_owned();
    let method = parts.method.as_str().to_owned();
    let agency = Arc::clone(&s.agency);
    tokio::task::spawn_blocking(move || {
        let v = agency.check_signed(&method, &path, &bytes, &headers, spend)?;
        work(&agency, &v, &bytes)
    })
    .await
    .map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the service failed while answering",
        )
    })?
    .map_err(ApiError::from)
}

async fn post_grant(State(s): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let answer = signed(s, req, false, |a, v, body| a.redeem_request(body, v)).await?;
    let status = if answer.again {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        axum::Json(json!({
            "grant_id": answer.claims.grant_id.to_string(),
            "status": "redeemed",
            "expires_at": answer.claims.expires_at,
        })),
    )
        .into_response())
}

async fn post_refresh(
    State(s): State<AppState>,
    Path(grant_id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let id: GrantId = grant_id
        .parse()
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such grant here"))?;
    let seq = signed(s, req, true, move |a, v, body| {
        a.refresh(&id, body, &v.signer)
    })
    .await?;
    Ok(axum::Json(json!({"grant_id": id.to_string(), "seq": seq})).into_response())
}

async fn post_revocation(State(s): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let (id, receipt) = signed(s, req, true, |a, v, body| a.revoke(body, Some(&v.signer))).await?;
    Ok(axum::Json(json!({
        "grant_id": id.to_string(),
        "status": if receipt.is_some() { "purged" } else { "remembered" },
        "receipt": receipt.map(|r| B64.encode(r)),
    }))
    .into_response())
}

async fn post_inbox(State(s): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let page = signed(s, req, true, |a, request, body| {
        let v: Value = serde_json::from_slice(body)
            .map_err(|_| ServiceError::Invalid("the body must be JSON {\"after\": N}".into()))?;
        let after = v
            .get("after")
            .and_then(Value::as_u64)
            .ok_or_else(|| ServiceError::Invalid("the body must be JSON {\"after\": N}".into()))?;
        a.inbox(&request.signer, after)
    })
    .await?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|i| {
            json!({
                "seq": i.seq,
                "kind": i.kind,
                "grant_id": i.grant_id.map(|g| g.to_string()),
                "body": B64.encode(&i.body),
            })
        })
        .collect();
    Ok(axum::Json(json!({"items": items, "next": page.next, "more": page.more})).into_response())
}
