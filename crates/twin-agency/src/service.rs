//! The agency's work, independent of HTTP: every operation the service and the staff
//! commands perform, with its checks, over a [`AgencyStore`] and a [`Clock`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use twin_agency_store::{
    AgencyStore, GrantRow, InboxItem, NewGrant, Opened, RecordRow, Redeemed, RequestRow,
    RevokeOutcome, SignReceipt, StoreError,
};
use twin_protocol::{
    AgencyRequest, AgencyView, GrantClaims, GrantError, KeyPair, Limits, PaperError, Receipt,
    ReceiptEvent, RecordClaims, RefreshError, RequestSigError, Revocation, RevocationError,
    SignPublic, SignedHeaders, UnverifiedGrant, VerifiedRequest,
};
use twin_schema::RecordBodyError;
use twin_types::{FieldPath, GrantId, MessageId};
use zeroize::Zeroizing;

use crate::clock::Clock;
use crate::home::Identity;

/// Seconds a signed request may be early or late.
pub const MAX_REQUEST_SKEW_SECS: i64 = 300;
/// Items per inbox page.
pub const INBOX_PAGE: usize = 100;

/// Why the agency refused or could not do something. Messages never hold a field value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// A grant failed a check.
    #[error("{0}")]
    Grant(#[from] GrantError),
    /// A shared value breaks the twin's schema for its field.
    #[error("the shared value of {0} does not fit the twin's rules for that field")]
    GrantInvalidValue(String),
    /// A paper grant could not be read.
    #[error("{0}")]
    Paper(#[from] PaperError),
    /// A refresh failed a check.
    #[error("{0}")]
    Refresh(#[from] RefreshError),
    /// A refreshed value breaks the twin's schema for its field.
    #[error("the refreshed value of {0} does not fit the twin's rules for that field")]
    RefreshInvalidValue(String),
    /// A refresh for a grant the citizen stopped.
    #[error("the citizen has stopped this grant; its values cannot be refreshed")]
    RefreshRevoked,
    /// A revocation notice failed a check.
    #[error("{0}")]
    Revocation(#[from] RevocationError),
    /// A request signature failed a check.
    #[error("{0}")]
    RequestSig(#[from] RequestSigError),
    /// Another citizen's grant already has this id (ids are random: someone copied it).
    #[error("a grant with this id is already held for another citizen; make a new share")]
    GrantIdTaken,
    /// Signed by another key than the one the message is about.
    #[error("this message is signed by another key than the one it is about")]
    SignerMismatch,
    /// No such grant here.
    #[error("no grant {0} here")]
    NotFound(String),
    /// The grant's values were deleted.
    #[error("the values of grant {id} were deleted on {on} ({reason})")]
    Purged {
        /// The grant.
        id: String,
        /// When, in words.
        on: String,
        /// Why.
        reason: String,
    },
    /// The citizen stopped the grant.
    #[error("the citizen has stopped grant {0}")]
    Revoked(String),
    /// Outside the grant's read window.
    #[error("grant {id} can be read from {from} until {until}; it is not valid now")]
    NotValidNow {
        /// The grant.
        id: String,
        /// Start, in words.
        from: String,
        /// End, in words.
        until: String,
    },
    /// The grant does not allow this record type.
    #[error("grant {id} does not allow records of type {kind}; it allows: {allowed}")]
    RecordTypeNotGranted {
        /// The grant.
        id: String,
        /// The type asked for.
        kind: String,
        /// What it allows.
        allowed: String,
    },
    /// The grant's write-back window has closed.
    #[error("grant {id} allowed records until {until}; that window has closed")]
    RecordWindowClosed {
        /// The grant.
        id: String,
        /// The end of the window, in words.
        until: String,
    },
    /// The record body does not fit its type.
    #[error("{0}")]
    RecordBody(#[from] RecordBodyError),
    /// Not a registered member of staff, or the key does not match.
    #[error(
        "\"{0}\" is not a registered member of staff of this agency, or their key does not match"
    )]
    UnknownStaff(String),
    /// A bad argument from staff.
    #[error("{0}")]
    Invalid(String),
    /// The agency has no key valid now.
    #[error("the agency has no key valid now: renew its card")]
    NoCurrentKey,
    /// The store failed.
    #[error("{0}")]
    Store(StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        ServiceError::Store(e)
    }
}

/// `TooLarge(131072)` → `too-large`.
fn kebab(debug: &str) -> String {
    let name = debug.split(['(', ' ', '{']).next().unwrap_or_default();
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

impl ServiceError {
    /// A stable machine-readable code (see docs/agency-api.md).
    pub fn code(&self) -> String {
        use ServiceError as E;
        match self {
            E::Grant(e) => format!("grant-{}", kebab(&format!("{e:?}"))),
            E::GrantInvalidValue(_) => "grant-invalid-value".into(),
            E::Paper(e) => format!("paper-{}", kebab(&format!("{e:?}"))),
            E::Refresh(e) => format!("refresh-{}", kebab(&format!("{e:?}"))),
            E::RefreshInvalidValue(_) => "refresh-invalid-value".into(),
            E::RefreshRevoked => "refresh-revoked".into(),
            E::Revocation(e) => format!("revocation-{}", kebab(&format!("{e:?}"))),
            E::RequestSig(e) => match e {
                RequestSigError::Malformed => "bad-signature-headers",
                RequestSigError::DigestMismatch => "digest-mismatch",
                RequestSigError::Stale => "stale-request",
                RequestSigError::Replayed => "replayed-request",
                _ => "bad-request-signature",
            }
            .into(),
            E::GrantIdTaken => "grant-id-taken".into(),
            E::SignerMismatch => "signer-mismatch".into(),
            E::NotFound(_) => "not-found".into(),
            E::Purged { .. } => "purged".into(),
            E::Revoked(_) => "revoked".into(),
            E::NotValidNow { .. } => "not-valid-now".into(),
            E::RecordTypeNotGranted { .. } => "record-type-not-granted".into(),
            E::RecordWindowClosed { .. } => "record-window-closed".into(),
            E::RecordBody(_) => "record-body-invalid".into(),
            E::UnknownStaff(_) => "unknown-staff".into(),
            E::Invalid(_) => "invalid".into(),
            E::NoCurrentKey => "no-current-key".into(),
            E::Store(StoreError::DiskFull) => "disk-full".into(),
            E::Store(_) => "unavailable".into(),
        }
    }
}

/// What an agency asks a citizen for (see [`Agency::request`]).
#[derive(Debug, Clone, Default)]
pub struct RequestSpec {
    /// Field paths.
    pub fields: Vec<String>,
    /// A purpose code (or its words) on the card.
    pub purpose: String,
    /// The agency's case reference.
    pub case_ref: Option<String>,
    /// How long it asks to read the fields, in seconds.
    pub duration_secs: i64,
    /// Record types it asks to send back.
    pub records: Vec<String>,
    /// For how long after approval, in seconds.
    pub records_secs: i64,
    /// How long the citizen has to answer, in seconds.
    pub valid_secs: i64,
}

/// What redeeming a grant did.
#[derive(Debug)]
pub struct RedeemAnswer {
    /// The grant's claims.
    pub claims: GrantClaims,
    /// Already held (a retry): nothing changed.
    pub again: bool,
}

/// A grant's values opened by a member of staff.
#[derive(Debug)]
pub struct Shown {
    /// The grant.
    pub row: GrantRow,
    /// The values, by field.
    pub values: BTreeMap<FieldPath, Value>,
    /// The access receipt written.
    pub receipt_seq: u64,
}

/// One inbox page.
#[derive(Debug)]
pub struct InboxPage {
    /// The items.
    pub items: Vec<InboxItem>,
    /// Where to ask from next.
    pub next: u64,
    /// Whether more are waiting.
    pub more: bool,
}

/// The agency: identity, store, clock.
pub struct Agency {
    /// Card and keys.
    pub identity: Identity,
    store: Arc<dyn AgencyStore>,
    clock: Arc<dyn Clock>,
    limits: Limits,
}

/// "3 December 2026 at 14:05 UTC".
pub fn words_for_time(secs: i64) -> String {
    let fmt = time::macros::format_description!(
        "[day padding:none] [month repr:long] [year] at [hour]:[minute] UTC"
    );
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| format!("{secs} seconds since 1970"))
}

fn parse_values(bytes: &[u8]) -> Result<BTreeMap<FieldPath, Value>, ServiceError> {
    let map: BTreeMap<FieldPath, Value> = serde_json::from_slice(bytes)
        .map_err(|_| ServiceError::Store(StoreError::Corrupt("stored values".into())))?;
    Ok(map)
}

fn check_values(
    values: &BTreeMap<FieldPath, Value>,
    bad: impl Fn(String) -> ServiceError,
) -> Result<(), ServiceError> {
    for (path, value) in values {
        let field = twin_schema::Catalog::get()
            .field(path.as_str())
            .map_err(|_| bad(path.to_string()))?;
        field.check(value).map_err(|_| bad(path.to_string()))?;
    }
    Ok(())
}

impl std::fmt::Debug for Agency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agency")
            .field("agency", &self.identity.card.agency)
            .finish_non_exhaustive()
    }
}

impl Agency {
    /// An agency over `store`, telling time by `clock`.
    pub fn new(identity: Identity, store: Arc<dyn AgencyStore>, clock: Arc<dyn Clock>) -> Agency {
        Agency {
            identity,
            store,
            clock,
            limits: Limits::default(),
        }
    }

    /// Now, by the agency's clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The store.
    pub fn store(&self) -> &dyn AgencyStore {
        self.store.as_ref()
    }

    fn current_key(&self) -> Result<(String, Arc<KeyPair>), ServiceError> {
        let now = self.now();
        let kid = self
            .identity
            .card
            .current_key(now)
            .ok_or(ServiceError::NoCurrentKey)?
            .kid
            .clone();
        let key = self
            .identity
            .keys
            .iter()
            .find(|(k, _)| *k == kid)
            .map(|(_, k)| Arc::clone(k))
            .ok_or(ServiceError::NoCurrentKey)?;
        Ok((kid, key))
    }

    /// The key that signs deletion receipts: the current one, or else the held key on the
    /// card that lapsed last. Deleting (and taking a revocation) must not wait for a card
    /// renewal, and `Receipt::verify` accepts any key on the card, expired or not.
    fn deletion_key(&self) -> Result<(String, Arc<KeyPair>), ServiceError> {
        self.current_key().or_else(|_| {
            self.identity
                .keys
                .iter()
                .filter_map(|(kid, key)| {
                    let on_card = self.identity.card.keys.iter().find(|c| c.kid == *kid)?;
                    Some((on_card.not_after, kid, key))
                })
                .max_by_key(|(not_after, _, _)| *not_after)
                .map(|(_, kid, key)| (kid.clone(), Arc::clone(key)))
                .ok_or(ServiceError::NoCurrentKey)
        })
    }

    fn deletion_signer(&self, id: GrantId, reason: &str) -> Result<SignReceipt, ServiceError> {
        let (kid, key) = self.deletion_key()?;
        let (agency, reason, at) = (
            self.identity.card.agency.clone(),
            reason.to_owned(),
            self.now(),
        );
        Ok(Arc::new(move |_, _| {
            Receipt {
                v: 1,
                agency: agency.clone(),
                grant_id: id,
                event: ReceiptEvent::Deletion {
                    reason: reason.clone(),
                },
                at,
            }
            .sign(&kid, &key)
        }))
    }

    /// Checks a citizen's signed HTTP request: digest, time, signature, and that its nonce
    /// is new. With `spend`, the nonce is spent durably now; without, the caller spends
    /// it in the commit of the work it protects (see [`Agency::redeem_request`]).
    pub fn check_signed(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        headers: &SignedHeaders,
        spend: bool,
    ) -> Result<VerifiedRequest, ServiceError> {
        let now = self.now();
        let failure: Mutex<Option<StoreError>> = Mutex::new(None);
        let anyone = SignPublic([0; 32]);
        let verified = twin_protocol::verify_request(
            method,
            path,
            body,
            headers,
            now,
            MAX_REQUEST_SKEW_SECS,
            |nonce| match if spend {
                self.store
                    .use_nonce(&anyone, nonce, Self::nonce_expiry(now), now)
                    .map(|fresh| !fresh)
            } else {
                self.store.nonce_used(&anyone, nonce)
            } {
                Ok(seen) => seen,
                Err(e) => {
                    *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    true
                }
            },
        );
        if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e.into());
        }
        Ok(verified?)
    }

    /// Until when a nonce is remembered: past it, the request is refused as stale anyway.
    fn nonce_expiry(now: i64) -> i64 {
        now + 2 * MAX_REQUEST_SKEW_SECS
    }

    /// Redeems a grant that came in a signed request checked without spending its nonce:
    /// the nonce is spent in the grant's own commit, so a redemption waits for one commit,
    /// not two. A refused grant spends nothing (sending it again is refused again).
    pub fn redeem_request(
        &self,
        bytes: &[u8],
        request: &VerifiedRequest,
    ) -> Result<RedeemAnswer, ServiceError> {
        let nonce = (request.nonce.clone(), Self::nonce_expiry(self.now()));
        self.redeem_inner(bytes, Some(&request.signer), Some(nonce))
    }

    /// Verifies and keeps a grant. `signer`, when the grant came over HTTP, must be the
    /// grant's own pairwise key. Nothing is stored from a refused grant.
    pub fn redeem(
        &self,
        bytes: &[u8],
        signer: Option<&SignPublic>,
    ) -> Result<RedeemAnswer, ServiceError> {
        self.redeem_inner(bytes, signer, None)
    }

    fn redeem_inner(
        &self,
        bytes: &[u8],
        signer: Option<&SignPublic>,
        nonce: Option<(String, i64)>,
    ) -> Result<RedeemAnswer, ServiceError> {
        let now = self.now();
        let unverified = UnverifiedGrant::parse(bytes, &self.limits)?;
        let keys: Vec<(String, &KeyPair)> = self
            .identity
            .keys
            .iter()
            .map(|(k, p)| (k.clone(), p.as_ref()))
            .collect();
        let view = AgencyView {
            card: &self.identity.card,
            keys: &keys,
            limits: self.limits,
        };
        let failure: Mutex<Option<StoreError>> = Mutex::new(None);
        let remember = |r: Result<bool, StoreError>| match r {
            Ok(b) => b,
            Err(e) => {
                *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                true
            }
        };
        let verified = unverified.verify(
            &view,
            now,
            |id, key| remember(self.store.is_revoked(id, key)),
            |id, key| remember(self.store.was_redeemed(id, key)),
        );
        if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e.into());
        }
        let verified = verified?;
        if signer.is_some_and(|s| *s != verified.claims.citizen_sign) {
            return Err(ServiceError::SignerMismatch);
        }
        check_values(&verified.values, ServiceError::GrantInvalidValue)?;
        let values = Zeroizing::new(
            serde_json::to_vec(&verified.values)
                .map_err(|e| ServiceError::Invalid(e.to_string()))?,
        );
        let claims = verified.claims;
        let outcome = self
            .store
            .redeem(NewGrant {
                claims: claims.clone(),
                values,
                at: now,
                nonce,
            })
            .map_err(|e| match e {
                StoreError::Revoked => ServiceError::Grant(GrantError::Revoked),
                StoreError::Replayed => ServiceError::Grant(GrantError::Replayed),
                StoreError::Exists(_) => ServiceError::GrantIdTaken,
                StoreError::NonceReused => ServiceError::RequestSig(RequestSigError::Replayed),
                e => e.into(),
            })?;
        tracing::info!(grant = %claims.grant_id, again = outcome == Redeemed::Again, "grant redeemed");
        Ok(RedeemAnswer {
            claims,
            again: outcome == Redeemed::Again,
        })
    }

    /// Redeems a grant handed over on paper (`twin-grant:…`) or as a file's bytes.
    pub fn redeem_handed_over(&self, input: &[u8]) -> Result<RedeemAnswer, ServiceError> {
        let text = std::str::from_utf8(input).ok().map(str::trim);
        match text {
            Some(t) if t.starts_with(twin_protocol::TEXT_PREFIX) => {
                let keys: Vec<(String, &KeyPair)> = self
                    .identity
                    .keys
                    .iter()
                    .map(|(k, p)| (k.clone(), p.as_ref()))
                    .collect();
                let bytes = twin_protocol::open_text(t, &keys)?;
                self.redeem(&bytes, None)
            }
            _ => self.redeem(input, None),
        }
    }

    fn held(&self, id: &GrantId) -> Result<GrantRow, ServiceError> {
        self.store
            .grant(id)?
            .ok_or_else(|| ServiceError::NotFound(id.to_string()))
    }

    /// Accepts a refresh of a held grant, signed by its citizen.
    pub fn refresh(
        &self,
        id: &GrantId,
        bytes: &[u8],
        signer: &SignPublic,
    ) -> Result<u64, ServiceError> {
        let row = self.held(id)?;
        if *signer != row.claims.citizen_sign {
            return Err(ServiceError::SignerMismatch);
        }
        if self.store.is_revoked(id, signer)? {
            return Err(ServiceError::RefreshRevoked);
        }
        let key = self
            .identity
            .keys
            .iter()
            .find(|(k, _)| *k == row.claims.kid)
            .map(|(_, k)| Arc::clone(k))
            .ok_or(ServiceError::NoCurrentKey)?;
        let now = self.now();
        let (claims, values) = twin_protocol::open_refresh(
            bytes,
            &row.claims,
            &key,
            row.refresh_seq,
            now,
            self.limits.max_skew_secs,
        )?;
        check_values(&values, ServiceError::RefreshInvalidValue)?;
        let plain = Zeroizing::new(
            serde_json::to_vec(&values).map_err(|e| ServiceError::Invalid(e.to_string()))?,
        );
        self.store
            .refresh(id, claims.seq, plain, now)
            .map_err(|e| match e {
                StoreError::Rollback => ServiceError::Refresh(RefreshError::Rollback),
                StoreError::Revoked => ServiceError::RefreshRevoked,
                StoreError::Purged(id, t) => ServiceError::Purged {
                    id,
                    on: words_for_time(t),
                    reason: "purged".into(),
                },
                e => e.into(),
            })?;
        tracing::info!(grant = %id, seq = claims.seq, "grant refreshed");
        Ok(claims.seq)
    }

    /// Takes a citizen's revocation notice: remembered at once; a held grant is purged and
    /// the signed deletion receipt returned.
    pub fn revoke(
        &self,
        bytes: &[u8],
        signer: Option<&SignPublic>,
    ) -> Result<(GrantId, Option<Vec<u8>>), ServiceError> {
        let notice = Revocation::verify(bytes, &self.identity.card.agency)?;
        if signer.is_some_and(|s| *s != notice.signer) {
            return Err(ServiceError::SignerMismatch);
        }
        let sign = self.deletion_signer(notice.grant_id, "revoked")?;
        let out = self
            .store
            .revoke(&notice.grant_id, &notice.signer, bytes, self.now(), sign)?;
        tracing::info!(grant = %notice.grant_id, purged = matches!(out, RevokeOutcome::Purged(_)), "revocation received");
        Ok(match out {
            RevokeOutcome::Purged(r) => (notice.grant_id, Some(r)),
            RevokeOutcome::Remembered => (notice.grant_id, None),
        })
    }

    /// Opens a grant's values for a named member of staff, writing a signed access receipt
    /// in the same transaction. Only while the grant is valid and not stopped.
    pub fn show(
        &self,
        id: &GrantId,
        staff_name: &str,
        staff_key: &KeyPair,
    ) -> Result<Shown, ServiceError> {
        if self.store.staff(staff_name)? != Some(staff_key.sign_public()) {
            return Err(ServiceError::UnknownStaff(staff_name.to_owned()));
        }
        let row = self.held(id)?;
        let now = self.now();
        if let Some((t, reason)) = &row.purged {
            return Err(ServiceError::Purged {
                id: id.to_string(),
                on: words_for_time(*t),
                reason: reason.clone(),
            });
        }
        if self.store.is_revoked(id, &row.claims.citizen_sign)? {
            return Err(ServiceError::Revoked(id.to_string()));
        }
        if now < row.claims.not_before || now > row.claims.expires_at {
            return Err(ServiceError::NotValidNow {
                id: id.to_string(),
                from: words_for_time(row.claims.not_before),
                until: words_for_time(row.claims.expires_at),
            });
        }
        let (kid, key) = self.current_key()?;
        let (agency, fields, purpose, staff) = (
            self.identity.card.agency.clone(),
            row.claims.fields.clone(),
            row.claims.purpose.words.clone(),
            staff_name.to_owned(),
        );
        let gid = *id;
        let sign: SignReceipt = Arc::new(move |seq, prev| {
            Receipt {
                v: 1,
                agency: agency.clone(),
                grant_id: gid,
                event: ReceiptEvent::Access {
                    seq,
                    prev: prev.to_vec(),
                    staff: staff.clone(),
                    fields: fields.clone(),
                    purpose: purpose.clone(),
                },
                at: now,
            }
            .sign(&kid, &key)
        });
        let Opened { values, seq, .. } = self.store.open(id, now, sign).map_err(|e| match e {
            StoreError::Purged(id, t) => ServiceError::Purged {
                id,
                on: words_for_time(t),
                reason: "purged".into(),
            },
            e => e.into(),
        })?;
        tracing::info!(grant = %id, receipt = seq, "grant opened by staff");
        Ok(Shown {
            values: parse_values(&values)?,
            row: self.held(id)?,
            receipt_seq: seq,
        })
    }

    /// Issues a signed record under a grant: of a type the grant allows, within its
    /// write-back window, not after the citizen stopped it, its body checked against the
    /// type's schema. Sealed to the citizen and posted to their inbox.
    pub fn issue(
        &self,
        id: &GrantId,
        record_type: &str,
        body: &Value,
    ) -> Result<RecordClaims, ServiceError> {
        let row = self.held(id)?;
        let c = &row.claims;
        if !c.records.iter().any(|t| t == record_type) {
            return Err(ServiceError::RecordTypeNotGranted {
                id: id.to_string(),
                kind: record_type.chars().take(64).collect(),
                allowed: if c.records.is_empty() {
                    "none".into()
                } else {
                    c.records.join(", ")
                },
            });
        }
        let now = self.now();
        let until = c.records_until.unwrap_or(c.expires_at);
        if now > until {
            return Err(ServiceError::RecordWindowClosed {
                id: id.to_string(),
                until: words_for_time(until),
            });
        }
        if self.store.is_revoked(id, &c.citizen_sign)? {
            return Err(ServiceError::Revoked(id.to_string()));
        }
        twin_schema::check_record(record_type, body)?;
        let (kid, key) = self.current_key()?;
        let claims = RecordClaims {
            v: 1,
            record_id: MessageId::random(),
            record_type: record_type.to_owned(),
            agency: self.identity.card.agency.clone(),
            subject: c.citizen_sign,
            grant_id: *id,
            issued_at: now,
            body: body.to_string(),
        };
        let sealed = claims
            .issue(&kid, &key, &c.citizen_seal)
            .ok_or_else(|| ServiceError::Invalid("the record could not be sealed".into()))?;
        self.store.add_record(
            &RecordRow {
                record_id: claims.record_id.to_string(),
                grant_id: *id,
                record_type: record_type.to_owned(),
                issued_at: now,
            },
            &c.citizen_sign,
            &sealed,
        )?;
        tracing::info!(grant = %id, record = %claims.record_id, kind = record_type, "record issued");
        Ok(claims)
    }

    /// Issues the identity-link record binding `case_ref` to the grant's pairwise key, and
    /// remembers the link (later requests for that case go to that citizen's inbox).
    pub fn link(
        &self,
        id: &GrantId,
        case_ref: &str,
        checked: &str,
    ) -> Result<RecordClaims, ServiceError> {
        let row = self.held(id)?;
        if let Some(other) = self.store.linked(case_ref)?
            && other != row.claims.citizen_sign
        {
            return Err(ServiceError::Invalid(format!(
                "case {case_ref} is already linked to another citizen"
            )));
        }
        let body = serde_json::json!({ "case_ref": case_ref, "checked": checked });
        let record = self.issue(id, twin_protocol::IDENTITY_LINK, &body)?;
        self.store
            .link(case_ref, &row.claims.citizen_sign, id, self.now())?;
        Ok(record)
    }

    /// Makes and signs a request for fields, for a purpose on the card. If the case is
    /// linked to a citizen, the request is posted to their inbox too.
    pub fn request(
        &self,
        ask: &RequestSpec,
    ) -> Result<(AgencyRequest, Vec<u8>, bool), ServiceError> {
        let RequestSpec {
            fields,
            purpose,
            case_ref,
            duration_secs,
            records,
            records_secs,
            valid_secs,
        } = ask;
        let (purpose, case_ref) = (purpose.as_str(), case_ref.as_deref());
        let (duration_secs, records_secs, valid_secs) =
            (*duration_secs, *records_secs, *valid_secs);
        let card = &self.identity.card;
        let purpose = card
            .purpose(purpose)
            .or_else(|| {
                card.purposes
                    .iter()
                    .find(|p| p.words.eq_ignore_ascii_case(purpose))
            })
            .ok_or_else(|| {
                ServiceError::Invalid(format!(
                    "the card does not state the purpose \"{purpose}\"; it states: {}",
                    card.purposes
                        .iter()
                        .map(|p| p.code.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        if fields.is_empty() {
            return Err(ServiceError::Invalid(
                "name at least one field to ask for".into(),
            ));
        }
        let mut paths = Vec::new();
        for f in fields {
            let field = twin_schema::Catalog::get()
                .field(f)
                .map_err(|e| ServiceError::Invalid(e.to_string()))?;
            paths.push(field.path().clone());
        }
        if !(60..=self.limits.max_duration_secs).contains(&duration_secs) {
            return Err(ServiceError::Invalid(format!(
                "a request may ask to read for 1 minute to {} days",
                self.limits.max_duration_secs / 86_400
            )));
        }
        if let Some(t) = records.iter().find(|t| !card.record_types.contains(t)) {
            return Err(ServiceError::Invalid(format!(
                "the card does not list the record type {t}; it lists: {}",
                card.record_types.join(", ")
            )));
        }
        if !records.is_empty() && !(0..=self.limits.max_records_secs).contains(&records_secs) {
            return Err(ServiceError::Invalid(format!(
                "records may be sent back for at most {} days",
                self.limits.max_records_secs / 86_400
            )));
        }
        let now = self.now();
        let request = AgencyRequest {
            v: 1,
            request_id: MessageId::random(),
            agency: card.agency.clone(),
            fields: paths,
            purpose: purpose.code.clone(),
            case_ref: case_ref.map(str::to_owned),
            duration_secs,
            records: records.to_vec(),
            records_secs,
            issued_at: now,
            expires_at: now.saturating_add(valid_secs),
        };
        let (kid, key) = self.current_key()?;
        let bytes = request.sign(&kid, &key);
        let to = match case_ref {
            Some(c) => self.store.linked(c)?,
            None => None,
        };
        self.store.add_request(&RequestRow {
            request_id: request.request_id.to_string(),
            case_ref: request.case_ref.clone(),
            body: bytes.clone(),
            created_at: now,
            to,
        })?;
        tracing::info!(request = %request.request_id, posted = to.is_some(), "request made");
        Ok((request, bytes, to.is_some()))
    }

    /// Purges a grant on staff's request (reason `request`), with a deletion receipt.
    pub fn purge(&self, id: &GrantId, reason: &str) -> Result<Vec<u8>, ServiceError> {
        self.held(id)?;
        let sign = self.deletion_signer(*id, reason)?;
        Ok(self.store.purge(id, reason, self.now(), sign)?)
    }

    /// Purges every grant that expired or was revoked and is not yet purged, after
    /// destroying any key left without a live grant. Run at start-up and periodically.
    pub fn purge_due(&self) -> Result<Vec<(GrantId, String)>, ServiceError> {
        // Keys a failed key-destruction step left behind go first.
        self.store.reconcile()?;
        let due = self.store.due_for_purge(self.now())?;
        for (id, reason) in &due {
            let sign = self.deletion_signer(*id, reason)?;
            self.store.purge(id, reason, self.now(), sign)?;
            tracing::info!(grant = %id, reason = %reason, "grant purged");
        }
        Ok(due)
    }

    /// A citizen's inbox page after `after`.
    pub fn inbox(&self, signer: &SignPublic, after: u64) -> Result<InboxPage, ServiceError> {
        let mut items = self.store.inbox(signer, after, INBOX_PAGE + 1)?;
        let more = items.len() > INBOX_PAGE;
        items.truncate(INBOX_PAGE);
        let next = items.last().map_or(after, |i| i.seq);
        Ok(InboxPage { items, next, more })
    }

    /// Registers a member of staff's public key.
    pub fn add_staff(&self, name: &str, key: &SignPublic) -> Result<(), ServiceError> {
        Ok(self.store.add_staff(name.trim(), key, self.now())?)
    }
}
