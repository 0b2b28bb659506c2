//! Share grants: signed claims plus field values sealed to the agency.
//!
//! ```text
//! Grant (CBOR map)  = { v: 1, kid: agency key id, signed: COSE_Sign1(GrantClaims), sealed: HPKE(payload) }
//! GrantClaims       = { …, payload_digest: SHA-256("citizen-twin/grant-payload-digest/v1" ‖ enc ‖ ct) }
//! payload           = JSON { "fields": { "personal.address.postcode": "LS1 4AP", … } }
//! HPKE info         = "citizen-twin/grant-payload/v1" ‖ grant id (16 bytes); aad = ""
//! ```
//!
//! HPKE base mode does not authenticate the sender, so the signed digest is what ties the
//! values to the citizen: with a copy of a grant, nobody can seal other values under it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest;
use twin_types::{AgencyId, FieldPath, GrantId, MessageId};

use crate::card::{AgencyCard, Purpose};
use crate::cbor;
use crate::cose::{self, CoseError, Unchecked};
use crate::keys::{self, KeyPair, SealPublic, Sealed, SignPublic, serde_bytes_compat};

/// The grant format this crate makes and reads.
pub const VERSION: u8 = 1;

/// Explicit limits, checked before any expensive work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest encoded grant accepted, in bytes.
    pub max_grant_bytes: usize,
    /// Largest sealed payload, in bytes.
    pub max_payload_bytes: usize,
    /// Most fields in one grant.
    pub max_fields: usize,
    /// Clock difference tolerated between citizen and agency, in seconds.
    pub max_skew_secs: i64,
    /// Longest read window, from not-before to expires-at, in seconds.
    pub max_duration_secs: i64,
    /// Longest write-back window after issue, in seconds.
    pub max_records_secs: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_grant_bytes: 128 * 1024,
            max_payload_bytes: 64 * 1024,
            max_fields: 64,
            max_skew_secs: 300,
            max_duration_secs: 90 * 24 * 3600,
            max_records_secs: 2 * 365 * 24 * 3600,
        }
    }
}

/// The purpose of a grant, as the agency's card states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurposeClaim {
    /// The card's purpose code.
    pub code: String,
    /// Plain words.
    pub words: String,
    /// Legal basis.
    pub legal_basis: String,
    /// Retention in days.
    pub retention_days: u32,
}

impl From<&Purpose> for PurposeClaim {
    fn from(p: &Purpose) -> Self {
        PurposeClaim {
            code: p.code.clone(),
            words: p.words.clone(),
            legal_basis: p.legal_basis.clone(),
            retention_days: p.retention_days,
        }
    }
}

/// What a grant says, signed by the citizen's pairwise key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantClaims {
    /// Format version.
    pub v: u8,
    /// The grant's id.
    pub grant_id: GrantId,
    /// The citizen's pairwise signing key for this agency (signs this grant).
    pub citizen_sign: SignPublic,
    /// The citizen's pairwise sealing key for this agency (records are sealed to it).
    pub citizen_seal: SealPublic,
    /// Audience: the agency.
    pub agency: AgencyId,
    /// Audience: the agency key the payload is sealed to.
    pub kid: String,
    /// Fields the agency may read.
    pub fields: Vec<FieldPath>,
    /// Record types the agency may write back.
    pub records: Vec<String>,
    /// Until when it may write them back.
    pub records_until: Option<i64>,
    /// Why.
    pub purpose: PurposeClaim,
    /// The agency request this answers, if any.
    pub request_id: Option<MessageId>,
    /// The agency's case reference, if any.
    pub case_ref: Option<String>,
    /// Whether the agency may redeem it only once.
    pub single_use: bool,
    /// When it was made (seconds since 1970, UTC).
    pub issued_at: i64,
    /// Not valid before.
    pub not_before: i64,
    /// Not valid after.
    pub expires_at: i64,
    /// SHA-256 over the sealed payload.
    #[serde(with = "serde_bytes_compat")]
    pub payload_digest: Vec<u8>,
}

/// A grant as it travels (file, HTTP body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Wire {
    pub(crate) v: u8,
    pub(crate) kid: String,
    #[serde(with = "serde_bytes_compat")]
    pub(crate) signed: Vec<u8>,
    pub(crate) sealed: Sealed,
}

/// Why a grant could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The agency's card has no key valid now.
    #[error("the agency has no current key; ask it for an up-to-date card")]
    NoAgencyKey,
    /// A purpose the card does not list.
    #[error("the agency's card does not list the purpose \"{0}\"")]
    UnknownPurpose(String),
    /// Longer than the limit allows.
    #[error("a share can last at most {0} days")]
    TooLong(i64),
    /// No fields, or more than the limit.
    #[error("a share must name between 1 and {0} fields")]
    FieldCount(usize),
    /// A record type the card does not issue.
    #[error("the agency does not issue records of type \"{0}\"")]
    UnknownRecordType(String),
    /// Records allowed back for longer than the limit.
    #[error("an agency can be allowed to send records back for at most {0} days")]
    RecordsTooLong(i64),
    /// The sealed values are larger than the limit.
    #[error("the values to share are too large ({0} bytes)")]
    TooLarge(usize),
    /// HPKE failed (an invalid agency key).
    #[error("the agency's key is not usable")]
    Seal,
}

/// Builds a grant. Consuming; ends in [`GrantBuilder::build`].
#[derive(Debug)]
pub struct GrantBuilder<'a> {
    card: &'a AgencyCard,
    purpose: String,
    values: BTreeMap<FieldPath, Value>,
    records: Vec<String>,
    records_until: Option<i64>,
    request_id: Option<MessageId>,
    case_ref: Option<String>,
    single_use: bool,
    not_before: Option<i64>,
    duration_secs: i64,
    limits: Limits,
    grant_id: Option<GrantId>,
    #[cfg_attr(not(feature = "test-vectors"), allow(dead_code))]
    forged_fields: Option<Vec<FieldPath>>,
}

impl<'a> GrantBuilder<'a> {
    /// A grant to the agency of `card` for the card's purpose `purpose`, lasting
    /// `duration_secs` from when it is built.
    pub fn new(card: &'a AgencyCard, purpose: &str, duration_secs: i64) -> Self {
        GrantBuilder {
            card,
            purpose: purpose.to_owned(),
            values: BTreeMap::new(),
            records: Vec::new(),
            records_until: None,
            request_id: None,
            case_ref: None,
            single_use: false,
            not_before: None,
            duration_secs,
            limits: Limits::default(),
            grant_id: None,
            forged_fields: None,
        }
    }

    /// Shares one field with its current value.
    pub fn field(mut self, path: FieldPath, value: Value) -> Self {
        self.values.insert(path, value);
        self
    }

    /// Lets the agency write back records of `types` until `until`.
    pub fn records(mut self, types: Vec<String>, until: i64) -> Self {
        self.records = types;
        self.records_until = Some(until);
        self
    }

    /// Answers the agency's request `id` for case `case_ref`.
    pub fn answering(mut self, id: MessageId, case_ref: Option<String>) -> Self {
        self.request_id = Some(id);
        self.case_ref = case_ref;
        self
    }

    /// The agency may redeem it only once.
    pub fn single_use(mut self, yes: bool) -> Self {
        self.single_use = yes;
        self
    }

    /// Not valid before `t` (default: when built).
    pub fn not_before(mut self, t: i64) -> Self {
        self.not_before = Some(t);
        self
    }

    /// Limits other than the defaults.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Claims these fields instead of the ones whose values are sealed. Only for making
    /// the `fail_field_outside_scope` test vector: a real vault never does this.
    #[cfg(feature = "test-vectors")]
    pub fn forge_claimed_fields(mut self, fields: Vec<FieldPath>) -> Self {
        self.forged_fields = Some(fields);
        self
    }

    /// A fixed grant id (test vectors); by default a random one.
    pub fn grant_id(mut self, id: GrantId) -> Self {
        self.grant_id = Some(id);
        self
    }

    /// Signs with the citizen's pairwise key for this agency and seals the values to the
    /// agency's current key.
    pub fn build(self, citizen: &KeyPair, now: i64) -> Result<Grant, IssueError> {
        let key = self.card.current_key(now).ok_or(IssueError::NoAgencyKey)?;
        let purpose = self
            .card
            .purpose(&self.purpose)
            .ok_or_else(|| IssueError::UnknownPurpose(self.purpose.clone()))?;
        if self.duration_secs <= 0 || self.duration_secs > self.limits.max_duration_secs {
            return Err(IssueError::TooLong(self.limits.max_duration_secs / 86_400));
        }
        if self.values.is_empty() || self.values.len() > self.limits.max_fields {
            return Err(IssueError::FieldCount(self.limits.max_fields));
        }
        if let Some(t) = self
            .records
            .iter()
            .find(|t| !self.card.record_types.contains(t))
        {
            return Err(IssueError::UnknownRecordType(t.clone()));
        }
        if self
            .records_until
            .is_some_and(|t| t.saturating_sub(now) > self.limits.max_records_secs)
        {
            return Err(IssueError::RecordsTooLong(
                self.limits.max_records_secs / 86_400,
            ));
        }
        let grant_id = self.grant_id.unwrap_or_else(GrantId::random);
        let payload = zeroize::Zeroizing::new(
            serde_json::to_vec(&serde_json::json!({ "fields": self.values }))
                .expect("values serialise"),
        );
        let sealed = keys::seal(&key.seal, &payload_info(&grant_id), &[], &payload)
            .ok_or(IssueError::Seal)?;
        if sealed.ct.len() > self.limits.max_payload_bytes {
            return Err(IssueError::TooLarge(sealed.ct.len()));
        }
        let not_before = self.not_before.unwrap_or(now);
        let claims = GrantClaims {
            v: VERSION,
            grant_id,
            citizen_sign: citizen.sign_public(),
            citizen_seal: citizen.seal_public(),
            agency: self.card.agency.clone(),
            kid: key.kid.clone(),
            fields: self
                .forged_fields
                .unwrap_or_else(|| self.values.keys().cloned().collect()),
            records: self.records,
            records_until: self.records_until,
            purpose: purpose.into(),
            request_id: self.request_id,
            case_ref: self.case_ref,
            single_use: self.single_use,
            issued_at: now,
            not_before,
            expires_at: not_before
                .checked_add(self.duration_secs)
                .ok_or(IssueError::TooLong(self.limits.max_duration_secs / 86_400))?,
            payload_digest: payload_digest(&sealed).to_vec(),
        };
        let signed = cose::sign(
            cose::kind::GRANT,
            &claims.citizen_sign.0,
            cbor::to_vec(&claims),
            citizen,
        );
        let bytes = cbor::to_vec(&Wire {
            v: VERSION,
            kid: key.kid.clone(),
            signed,
            sealed,
        });
        Ok(Grant { claims, bytes })
    }
}

fn payload_info(id: &GrantId) -> Vec<u8> {
    [b"citizen-twin/grant-payload/v1".as_slice(), id.as_bytes()].concat()
}

fn payload_digest(sealed: &Sealed) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    h.update(b"citizen-twin/grant-payload-digest/v1");
    h.update((sealed.enc.len() as u64).to_be_bytes());
    h.update(&sealed.enc);
    h.update(&sealed.ct);
    h.finalize().into()
}

impl Grant {
    /// Reads back the claims of a grant this vault made and kept in its own encrypted
    /// store. Checks nothing: never use it on a grant received from elsewhere.
    pub fn from_own_bytes(bytes: &[u8]) -> Option<Grant> {
        let wire: Wire = cbor::from_slice(bytes)?;
        let cose = Unchecked::parse(&wire.signed, cose::kind::GRANT).ok()?;
        let claims = cbor::from_slice(cose.payload_unchecked())?;
        Some(Grant {
            claims,
            bytes: bytes.to_vec(),
        })
    }
}

/// A grant the citizen made: its claims, and its bytes to hand over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// What it says.
    pub claims: GrantClaims,
    /// The encoded grant.
    pub bytes: Vec<u8>,
}

/// Why an agency refused a grant. Checked in the order of the variants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GrantError {
    /// Larger than the limit: refused before parsing.
    #[error("the grant is larger than {0} bytes")]
    TooLarge(usize),
    /// Not a grant, or cut short.
    #[error("this is not a share grant, or it is incomplete")]
    Malformed,
    /// A format version this program does not know.
    #[error("the grant uses format version {0}, which this service does not know")]
    UnknownVersion(u8),
    /// The signature does not hold.
    #[error("the grant's signature does not check out; it may have been altered")]
    BadSignature,
    /// Meant for another agency.
    #[error("the grant is meant for another agency")]
    WrongAudience,
    /// Sealed to a key id this agency does not have, or one that has expired.
    #[error("the grant is sealed to a key this agency does not have or no longer uses")]
    UnknownKey,
    /// A purpose the agency's card does not state (or states with another legal basis
    /// or retention).
    #[error("the grant's purpose is not one this agency's card states")]
    UnknownPurpose,
    /// Lasts longer than the limit.
    #[error("the grant lasts longer than a grant may")]
    DurationTooLong,
    /// Made in the future: its write-back window would then start later than it seems.
    #[error("the grant says it was made in the future")]
    IssuedInTheFuture,
    /// Lets the agency write back for longer than the limit.
    #[error("the grant's write-back window is longer than allowed")]
    RecordsWindowTooLong,
    /// Not valid yet.
    #[error("the grant is not valid yet")]
    NotYetValid,
    /// No longer valid.
    #[error("the grant has expired")]
    Expired,
    /// The citizen revoked it.
    #[error("the citizen has stopped this grant")]
    Revoked,
    /// A single-use grant already redeemed.
    #[error("this single-use grant has already been used")]
    Replayed,
    /// The sealed values are larger than the limit.
    #[error("the shared values are larger than allowed")]
    PayloadTooLarge,
    /// The sealed values are not the ones the citizen signed.
    #[error("the shared values do not match what the citizen signed")]
    PayloadSwapped,
    /// The values cannot be opened with this agency's key.
    #[error("the shared values cannot be opened with this agency's key")]
    CannotOpen,
    /// More fields than the limit.
    #[error("the grant has more fields than allowed")]
    TooManyFields,
    /// Fewer values than the fields the grant names.
    #[error("the grant names fields whose values it does not carry")]
    MissingValues,
    /// A value for a field the grant does not name.
    #[error("the grant carries a field it does not name: {0}")]
    FieldOutsideScope(String),
    /// A record type the agency's card does not issue.
    #[error("the grant names a record type this agency does not issue: {0}")]
    RecordTypeOutsideScope(String),
}

/// A parsed grant whose signature and contents have not been checked.
#[derive(Debug)]
pub struct UnverifiedGrant {
    wire: Wire,
}

/// What the agency brings to verification.
#[derive(Debug)]
pub struct AgencyView<'a> {
    /// The agency's own card.
    pub card: &'a AgencyCard,
    /// Its key pairs by key id (the secret halves of the card's keys).
    pub keys: &'a [(String, &'a KeyPair)],
    /// Limits.
    pub limits: Limits,
}

/// A grant that passed every check, with its opened values.
#[derive(Debug)]
pub struct VerifiedGrant {
    /// What it says.
    pub claims: GrantClaims,
    /// The shared values, exactly the fields it names.
    pub values: BTreeMap<FieldPath, Value>,
}

impl UnverifiedGrant {
    /// Parses an encoded grant. Checks size first, then structure and version.
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<UnverifiedGrant, GrantError> {
        if bytes.len() > limits.max_grant_bytes {
            return Err(GrantError::TooLarge(limits.max_grant_bytes));
        }
        let wire: Wire = cbor::from_slice(bytes).ok_or(GrantError::Malformed)?;
        if wire.v != VERSION {
            return Err(GrantError::UnknownVersion(wire.v));
        }
        Ok(UnverifiedGrant { wire })
    }

    /// The grant id, for logs and for the replay and revocation lookups. Not yet trusted.
    pub fn claimed_id(&self) -> Option<GrantId> {
        let cose = Unchecked::parse(&self.wire.signed, cose::kind::GRANT).ok()?;
        cbor::from_slice::<GrantClaims>(cose.payload_unchecked()).map(|c| c.grant_id)
    }

    /// Runs every check, in this order (each has its own error): signature by the pairwise
    /// key the claims name (`verify_strict`) · version · audience agency · key id known and
    /// unexpired, and equal to the outer one · purpose stated on the card · duration cap ·
    /// not issued in the future · write-back cap · not before (with skew) · expiry (with
    /// skew) · revoked · replayed single use · payload size · payload digest · HPKE open ·
    /// field count · every value's field named in the claims, and every named field
    /// carried · record types on the card. `revoked` and `seen` are the agency's own
    /// memory, asked by grant id *and* signing key: a stranger who copies a grant id into
    /// a notice signed with another key must not be able to block or use up the grant.
    pub fn verify(
        self,
        agency: &AgencyView<'_>,
        now: i64,
        revoked: impl Fn(&GrantId, &SignPublic) -> bool,
        seen: impl Fn(&GrantId, &SignPublic) -> bool,
    ) -> Result<VerifiedGrant, GrantError> {
        let limits = &agency.limits;
        let cose = Unchecked::parse(&self.wire.signed, cose::kind::GRANT).map_err(|e| match e {
            CoseError::Malformed | CoseError::WrongKind => GrantError::Malformed,
        })?;
        let claims: GrantClaims =
            cbor::from_slice(cose.payload_unchecked()).ok_or(GrantError::Malformed)?;
        if cose.kid() != claims.citizen_sign.0 || !cose.verify(&claims.citizen_sign) {
            return Err(GrantError::BadSignature);
        }
        if claims.v != VERSION {
            return Err(GrantError::UnknownVersion(claims.v));
        }
        if claims.agency != agency.card.agency {
            return Err(GrantError::WrongAudience);
        }
        let keypair = match (
            agency.card.key(&claims.kid, now),
            claims.kid == self.wire.kid,
        ) {
            (Some(_), true) => agency
                .keys
                .iter()
                .find(|(kid, _)| *kid == claims.kid)
                .map(|(_, k)| *k)
                .ok_or(GrantError::UnknownKey)?,
            _ => return Err(GrantError::UnknownKey),
        };
        let purpose = agency
            .card
            .purpose(&claims.purpose.code)
            .ok_or(GrantError::UnknownPurpose)?;
        if purpose.legal_basis != claims.purpose.legal_basis
            || purpose.retention_days != claims.purpose.retention_days
        {
            return Err(GrantError::UnknownPurpose);
        }
        // Differences are computed without overflow: a hostile grant may carry any i64.
        if claims
            .expires_at
            .checked_sub(claims.not_before)
            .is_none_or(|d| !(0..=limits.max_duration_secs).contains(&d))
        {
            return Err(GrantError::DurationTooLong);
        }
        if claims.issued_at > now.saturating_add(limits.max_skew_secs) {
            return Err(GrantError::IssuedInTheFuture);
        }
        if claims.records_until.is_some_and(|t| {
            t.checked_sub(claims.issued_at)
                .is_none_or(|d| d > limits.max_records_secs)
        }) {
            return Err(GrantError::RecordsWindowTooLong);
        }
        if now.saturating_add(limits.max_skew_secs) < claims.not_before {
            return Err(GrantError::NotYetValid);
        }
        if now.saturating_sub(limits.max_skew_secs) > claims.expires_at {
            return Err(GrantError::Expired);
        }
        if revoked(&claims.grant_id, &claims.citizen_sign) {
            return Err(GrantError::Revoked);
        }
        if claims.single_use && seen(&claims.grant_id, &claims.citizen_sign) {
            return Err(GrantError::Replayed);
        }
        if self.wire.sealed.ct.len() > limits.max_payload_bytes {
            return Err(GrantError::PayloadTooLarge);
        }
        if payload_digest(&self.wire.sealed).as_slice() != claims.payload_digest.as_slice() {
            return Err(GrantError::PayloadSwapped);
        }
        let plain = keys::open(
            keypair,
            &payload_info(&claims.grant_id),
            &[],
            &self.wire.sealed,
        )
        .ok_or(GrantError::CannotOpen)?;
        #[derive(Deserialize)]
        struct Payload {
            fields: BTreeMap<String, Value>,
        }
        let payload: Payload = serde_json::from_slice(&plain).map_err(|_| GrantError::Malformed)?;
        if payload.fields.len() > limits.max_fields || claims.fields.len() > limits.max_fields {
            return Err(GrantError::TooManyFields);
        }
        let mut values = BTreeMap::new();
        for (k, v) in payload.fields {
            let path = FieldPath::parse(&k)
                .map_err(|_| GrantError::FieldOutsideScope(k.chars().take(64).collect()))?;
            if !claims.fields.contains(&path) {
                return Err(GrantError::FieldOutsideScope(path.to_string()));
            }
            values.insert(path, v);
        }
        if values.len() != claims.fields.len() {
            return Err(GrantError::MissingValues);
        }
        if let Some(t) = claims
            .records
            .iter()
            .find(|t| !agency.card.record_types.contains(t))
        {
            return Err(GrantError::RecordTypeOutsideScope(t.clone()));
        }
        Ok(VerifiedGrant { claims, values })
    }
}
