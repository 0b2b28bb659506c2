//! Sharing: agencies the citizen trusts, grants made to them, revocations and records
//! received — the ledger kept in the twin document under `grants` and `records`.
//!
//! Document layout (all under the twin's Automerge document, so it merges between
//! computers with the rest of the twin):
//! - `grants.agencies.<agency id>`: `card` (the signed card, base64), `name`, `sandbox`;
//! - `grants.issued.<grant id>`: `grant` (the grant's bytes, base64), `agency`, `fields`
//!   (comma-separated paths), `purpose`, `issued_at`, `expires_at`;
//! - `grants.revoked.<grant id>`: `at`, `notice` (the signed notice, base64). An add-only
//!   set: nothing ever removes an entry, so after any merge a revoked grant stays revoked;
//! - `records.<agency id>`: one entry per record, keyed by record id, holding JSON text
//!   `{"type", "grant", "issued_at", "signed" (base64), "hidden"}` — one Automerge
//!   operation per record, so merging a record stays cheap on a large twin. A record is
//!   never altered; only `hidden` changes, by writing the entry again.
//!
//! What online exchange adds to these entries is described in `exchange.rs`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use serde_json::{Value, json};
use twin_protocol::{AgencyCard, Grant, GrantBuilder, KeyPair, Revocation, SignedCard, TrustList};
use twin_schema::Catalog;
use twin_types::{AgencyId, FieldPath, GrantId};

use crate::exchange::{AccessChain, Delivery, NoticeState};
use crate::{Vault, VaultError, human_time, meta};

/// An agency the citizen has added, from its verified card.
#[derive(Debug, Clone, Serialize)]
pub struct AgencySummary {
    /// Its id.
    pub id: AgencyId,
    /// Its name.
    pub name: String,
    /// Signed by the sandbox anchor: for trying things out only.
    pub sandbox: bool,
    /// Where it listens.
    pub endpoint: String,
    /// What it asks for, and why.
    pub purposes: Vec<twin_protocol::Purpose>,
    /// Record types it issues.
    pub record_types: Vec<String>,
}

impl AgencySummary {
    /// The name as people should see it: sandbox agencies always say so.
    pub fn display_name(&self) -> String {
        if self.sandbox {
            format!("{} (SANDBOX)", self.name)
        } else {
            self.name.clone()
        }
    }
}

/// Where a grant stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum GrantState {
    /// The agency may read the fields.
    Active,
    /// Past its end.
    Expired,
    /// Stopped by the citizen on this computer (or another, once merged). Whether the
    /// agency has been told is in [`GrantSummary::notice`].
    Stopped {
        /// When, seconds since 1970 (UTC).
        at: i64,
    },
    /// The agency confirmed, with a signed deletion receipt, that it deleted what it held.
    Deleted {
        /// When it deleted it (seconds since 1970, UTC), as its receipt says.
        at: i64,
        /// Why, as its receipt says: `revoked`, `expired` or `request`.
        reason: String,
        /// When the citizen stopped the share, if they did.
        stopped_at: Option<i64>,
    },
}

/// A grant as the citizen sees it.
#[derive(Debug, Clone, Serialize)]
pub struct GrantSummary {
    /// Its id.
    pub id: GrantId,
    /// The agency.
    pub agency: AgencyId,
    /// The agency's name (with "(SANDBOX)" where it applies).
    pub agency_name: String,
    /// The fields shared.
    pub fields: Vec<String>,
    /// The purpose, in plain words.
    pub purpose: String,
    /// Record types the agency may send back.
    pub records: Vec<String>,
    /// When it was made (seconds since 1970, UTC).
    pub issued_at: i64,
    /// When it ends.
    pub expires_at: i64,
    /// Where it stands now.
    pub state: GrantState,
    /// How it reaches the agency: by hand, to send, acknowledged or refused.
    pub delivery: Delivery,
    /// Once stopped: whether the agency has been told.
    pub notice: Option<NoticeState>,
    /// Updates of the values sent since the share (the last sequence number used).
    pub refreshes: u64,
    /// The agency's access receipts for it: how many, and any gaps.
    pub access: AccessChain,
}

/// What `share` made.
#[derive(Debug)]
pub struct Shared {
    /// The grant as the citizen sees it.
    pub summary: GrantSummary,
    /// The grant's bytes, to save as a file.
    pub bytes: Vec<u8>,
    /// The text form for paper or a QR code, if it fits.
    pub text: Result<String, twin_protocol::PaperError>,
}

/// What the citizen asks to share.
#[derive(Debug, Clone)]
pub struct ShareRequest {
    /// With whom.
    pub agency: AgencyId,
    /// Which fields.
    pub fields: Vec<String>,
    /// The purpose: its code or its words on the agency's card.
    pub purpose: String,
    /// For how long, in seconds.
    pub duration_secs: i64,
    /// Record types the agency may send back.
    pub records: Vec<String>,
    /// How long after sharing it may send them, in seconds.
    pub records_secs: i64,
    /// Whether the agency may use it only once.
    pub single_use: bool,
}

/// A record received from an agency.
#[derive(Debug, Clone, Serialize)]
pub struct RecordSummary {
    /// Its id.
    pub id: String,
    /// The agency that issued and signed it.
    pub agency: AgencyId,
    /// Its type.
    pub record_type: String,
    /// When it was issued.
    pub issued_at: i64,
    /// Its contents; `null` when it does not verify (they are not shown as the agency's).
    pub body: Value,
    /// The share it was sent under.
    pub grant: String,
    /// Whether its signature, subject and scope verify now against the agency's pinned
    /// card and the share.
    pub verified: bool,
    /// Why it does not verify, in plain words.
    pub problem: Option<String>,
    /// Hidden by the citizen: kept, unaltered, but not shown unless asked for.
    pub hidden: bool,
}

pub(crate) fn now_secs() -> i64 {
    crate::now_ms() / 1000
}

pub(crate) fn b64(bytes: &[u8]) -> Value {
    Value::String(B64.encode(bytes))
}

pub(crate) fn from_b64(v: Option<&Value>) -> Option<Vec<u8>> {
    v.and_then(Value::as_str).and_then(|s| B64.decode(s).ok())
}

impl Vault {
    /// The pairwise key pair for `agency` (derived from the vault's root secret), to sign
    /// requests to it. Never leaves the process; zeroized on drop.
    pub fn agency_key(&mut self, agency: &AgencyId) -> Result<KeyPair, VaultError> {
        let secret = self
            .store()?
            .meta(meta::ROOT_SECRET)?
            .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
            .ok_or_else(|| {
                twin_doc::DocError::Corrupt("the vault's root secret is missing".into())
            })?;
        let secret = zeroize::Zeroizing::new(secret);
        Ok(KeyPair::pairwise(&secret, agency))
    }

    pub(crate) fn card(&self, agency: &AgencyId) -> Result<AgencyCard, VaultError> {
        let entry = self
            .doc
            .ledger_get(&["grants", "agencies", agency.as_str()]);
        let bytes = from_b64(entry.get("card"))
            .ok_or_else(|| VaultError::UnknownAgency(agency.to_string()))?;
        // Re-read the card this vault verified when it was added (kept in the encrypted store).
        twin_protocol::SignedCard(bytes)
            .read_pinned()
            .ok_or_else(|| VaultError::UnknownAgency(agency.to_string()))
    }

    /// Verifies an agency card against the trust list and pins it.
    pub fn add_agency(
        &mut self,
        card_bytes: &[u8],
        trust: &TrustList,
    ) -> Result<AgencySummary, VaultError> {
        let signed = SignedCard(card_bytes.to_vec());
        let card = signed.verify(trust, now_secs())?;
        let summary = summary_of(&card);
        let prov = self.prov("added an agency");
        self.doc.ledger_put(
            &["grants", "agencies", card.agency.as_str()],
            &[
                ("card", b64(card_bytes)),
                ("name", json!(card.name)),
                ("sandbox", json!(card.sandbox)),
            ],
            &prov,
        )?;
        let line = format!(
            "You added {} to the agencies you can share with.",
            summary.display_name()
        );
        self.commit("agency-added", line, Vec::new())?;
        Ok(summary)
    }

    /// The agencies the citizen has added.
    pub fn agencies(&self) -> Vec<AgencySummary> {
        self.doc
            .ledger_children(&["grants", "agencies"])
            .into_iter()
            .filter_map(|id| AgencyId::parse(&id).ok())
            .filter_map(|id| self.card(&id).ok())
            .map(|c| summary_of(&c))
            .collect()
    }

    /// Makes a grant: the named fields' current values, sealed to the agency, signed with
    /// the pairwise key for that agency. Recorded in the ledger and the audit log.
    ///
    /// The pinned card is verified again against `trust` now: an agency whose anchor was
    /// withdrawn, or a sandbox agency while sandbox trust is off, gets nothing.
    pub fn share(&mut self, req: &ShareRequest, trust: &TrustList) -> Result<Shared, VaultError> {
        let card = self.trusted_card(&req.agency, trust)?;
        let purpose = card
            .purposes
            .iter()
            .find(|p| p.code == req.purpose || p.words.eq_ignore_ascii_case(&req.purpose))
            .ok_or_else(|| {
                let known: Vec<String> = card
                    .purposes
                    .iter()
                    .map(|p| format!("{} ({})", p.code, p.words))
                    .collect();
                VaultError::Share(format!(
                    "{} does not list the purpose \"{}\"; its purposes are: {}",
                    card.name,
                    req.purpose,
                    known.join(", ")
                ))
            })?
            .clone();
        let now = now_secs();
        let mut builder =
            GrantBuilder::new(&card, &purpose.code, req.duration_secs).single_use(req.single_use);
        if !req.records.is_empty() {
            builder = builder.records(req.records.clone(), now.saturating_add(req.records_secs));
        }
        self.make_grant(builder, &card, &req.fields, now)
    }

    /// The pinned card of `agency`, verified again against `trust` now.
    pub(crate) fn trusted_card(
        &self,
        agency: &AgencyId,
        trust: &TrustList,
    ) -> Result<AgencyCard, VaultError> {
        let entry = self
            .doc
            .ledger_get(&["grants", "agencies", agency.as_str()]);
        let bytes = from_b64(entry.get("card"))
            .ok_or_else(|| VaultError::UnknownAgency(agency.to_string()))?;
        Ok(SignedCard(bytes).verify(trust, now_secs())?)
    }

    /// Adds the named fields' current values to `builder`, signs with the pairwise key,
    /// and keeps the grant in the ledger and the audit log.
    pub(crate) fn make_grant(
        &mut self,
        mut builder: GrantBuilder<'_>,
        card: &AgencyCard,
        fields: &[String],
        now: i64,
    ) -> Result<Shared, VaultError> {
        let mut paths = Vec::new();
        for f in fields {
            let field = Catalog::get().field(f)?;
            let value = self
                .doc
                .get(field)
                .ok_or_else(|| VaultError::EmptyField(f.clone()))?;
            builder = builder.field(field.path().clone(), value);
            paths.push(field.path().clone());
        }
        let citizen = self.agency_key(&card.agency)?;
        let grant = builder
            .build(&citizen, now)
            .map_err(|e| VaultError::Share(e.to_string()))?;
        let text = grant.to_text(card);
        let (digest, _) = self.values_digest(&paths)?;
        let prov = self.prov("shared with an agency");
        self.doc.ledger_put(
            &["grants", "issued", &grant.claims.grant_id.to_string()],
            &[
                ("grant", b64(&grant.bytes)),
                ("agency", json!(card.agency.as_str())),
                (
                    "fields",
                    json!(
                        paths
                            .iter()
                            .map(FieldPath::as_str)
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                ),
                ("purpose", json!(grant.claims.purpose.words)),
                ("issued_at", json!(grant.claims.issued_at)),
                ("expires_at", json!(grant.claims.expires_at)),
                ("pushed_digest", json!(digest)),
            ],
            &prov,
        )?;
        let summary = self.summarize(&grant, card, now);
        let line = format!(
            "You shared your {} with {} for '{}' until {}.",
            twin_doc::describe_titles(&paths),
            summary.agency_name,
            summary.purpose,
            human_date(grant.claims.expires_at)
        );
        self.commit("shared", line, Vec::new())?;
        // At once, not only at lock: a share made by a process that then dies must still
        // stop the vault being deleted without telling the agency. Best effort; every
        // lock writes it again.
        let _ = crate::write_active_shares(&self.dir, self.outstanding_until());
        Ok(Shared {
            summary,
            bytes: grant.bytes,
            text,
        })
    }

    /// Every grant made, newest first.
    pub fn grants(&self) -> Vec<GrantSummary> {
        let now = now_secs();
        let mut out: Vec<GrantSummary> = self
            .doc
            .ledger_children(&["grants", "issued"])
            .into_iter()
            .filter_map(|id| self.grant(&id).ok())
            .map(|(grant, card)| self.summarize(&grant, &card, now))
            .collect();
        out.sort_by_key(|g| std::cmp::Reverse(g.issued_at));
        out
    }

    /// A grant as the citizen sees it, with how it stands with its agency.
    pub(crate) fn summarize(&self, grant: &Grant, card: &AgencyCard, now: i64) -> GrantSummary {
        let id = grant.claims.grant_id;
        let ex = self.exchange_state(&id);
        let revoked = self.revoked_at(&id);
        let mut summary = summary_of_grant(grant, card, revoked, now);
        if let Some((at, reason)) = ex.deleted {
            summary.state = GrantState::Deleted {
                at,
                reason,
                stopped_at: revoked,
            };
        }
        summary.delivery = ex.delivery.unwrap_or(Delivery::ByHand);
        summary.notice = ex.notice;
        summary.refreshes = ex.refresh_seq;
        summary.access = self.access_chain(&id, card);
        summary
    }

    pub(crate) fn grant(&self, id: &str) -> Result<(Grant, AgencyCard), VaultError> {
        let entry = self.doc.ledger_get(&["grants", "issued", id]);
        let grant = from_b64(entry.get("grant"))
            .and_then(|b| Grant::from_own_bytes(&b))
            .ok_or_else(|| VaultError::UnknownGrant(id.chars().take(40).collect()))?;
        let card = self.card(&grant.claims.agency)?;
        Ok((grant, card))
    }

    pub(crate) fn revoked_at(&self, id: &GrantId) -> Option<i64> {
        let e = self.doc.ledger_get(&["grants", "revoked", &id.to_string()]);
        e.get("at").and_then(Value::as_i64)
    }

    /// Stops a grant on this computer at once: it joins the add-only revoked set, and a
    /// signed notice is kept for the agency. Decisions the agency already made stand.
    pub fn revoke(&mut self, id: &str) -> Result<GrantSummary, VaultError> {
        let (grant, card) = self.grant(id)?;
        let gid = grant.claims.grant_id;
        let now = now_secs();
        if self.revoked_at(&gid).is_some() {
            return Ok(self.summarize(&grant, &card, now));
        }
        let citizen = self.agency_key(&grant.claims.agency)?;
        let notice = Revocation::sign(gid, grant.claims.agency.clone(), now, &citizen);
        let prov = self.prov("stopped sharing");
        self.doc.ledger_put(
            &["grants", "revoked", &gid.to_string()],
            &[("at", json!(now)), ("notice", b64(&notice))],
            &prov,
        )?;
        let summary = self.summarize(&grant, &card, now);
        let line = format!(
            "You stopped sharing with {} for '{}'. A notice asking it to delete what it holds is ready to send; decisions it already made stand.",
            summary.agency_name, summary.purpose
        );
        self.commit("stopped-sharing", line, Vec::new())?;
        Ok(summary)
    }

    /// The signed revocation notice kept for a grant, to send to the agency.
    pub fn revocation_notice(&self, id: &GrantId) -> Option<Vec<u8>> {
        from_b64(
            self.doc
                .ledger_get(&["grants", "revoked", &id.to_string()])
                .get("notice"),
        )
    }

    /// Imports a record handed over as a file: opened with the pairwise key of the agency
    /// it came from, its signature checked against the pinned card and its scope against
    /// the grant, then kept with its signed bytes under `records.<agency>`, keyed by its id.
    /// A record already held is not written again.
    pub fn import_record(&mut self, bytes: &[u8]) -> Result<RecordSummary, VaultError> {
        self.import_record_inner(bytes, None).map(|(r, _)| r)
    }

    /// [`Vault::import_record`], from `only` that agency if given; also says whether the
    /// record was new.
    pub(crate) fn import_record_inner(
        &mut self,
        bytes: &[u8],
        only: Option<&AgencyId>,
    ) -> Result<(RecordSummary, bool), VaultError> {
        let mut last_err = None;
        for agency in self.agencies() {
            if only.is_some_and(|a| *a != agency.id) {
                continue;
            }
            let citizen = self.agency_key(&agency.id)?;
            let card = self.card(&agency.id)?;
            for gid in self.doc.ledger_children(&["grants", "issued"]) {
                let Ok((grant, _)) = self.grant(&gid) else {
                    continue;
                };
                if grant.claims.agency != agency.id {
                    continue;
                }
                match twin_protocol::open_record(bytes, &citizen, &card, &grant.claims) {
                    Ok(r) => return self.keep_record(r, &agency),
                    Err(twin_protocol::RecordError::CannotOpen) => break,
                    Err(twin_protocol::RecordError::WrongAgency) => continue,
                    Err(e) => last_err = Some(e),
                }
            }
        }
        Err(last_err
            .map(VaultError::Record)
            .unwrap_or(VaultError::Record(twin_protocol::RecordError::CannotOpen)))
    }

    fn keep_record(
        &mut self,
        r: twin_protocol::VerifiedRecord,
        agency: &AgencySummary,
    ) -> Result<(RecordSummary, bool), VaultError> {
        let id = r.claims.record_id.to_string();
        let path = ["records", agency.id.as_str()];
        if self.doc.ledger_has(&path, &id) {
            // The first copy of a record id is kept; show that one.
            let summary = self
                .record_by_id(&id)?
                .ok_or_else(|| VaultError::UnknownRecord(id.clone()))?;
            return Ok((summary, false));
        }
        // One entry per record (its signed bytes are immutable; only `hidden` may change,
        // by writing the entry again): one Automerge operation, not six.
        let entry = json!({
            "type": r.claims.record_type,
            "grant": r.claims.grant_id.to_string(),
            "issued_at": r.claims.issued_at,
            "signed": B64.encode(&r.signed),
            "hidden": false,
        });
        let prov = self.prov("received a record");
        self.doc.ledger_put(
            &path,
            &[(id.as_str(), Value::String(entry.to_string()))],
            &prov,
        )?;
        let line = format!(
            "You received a signed record ({}) from {}, issued on {}.",
            r.claims.record_type,
            agency.display_name(),
            human_date(r.claims.issued_at)
        );
        self.commit("record-received", line, Vec::new())?;
        let summary = RecordSummary {
            id,
            agency: agency.id.clone(),
            record_type: r.claims.record_type,
            issued_at: r.claims.issued_at,
            body: r.body,
            grant: r.claims.grant_id.to_string(),
            verified: true,
            problem: None,
            hidden: false,
        };
        Ok((summary, true))
    }

    /// One record as kept, re-verified from its signed bytes against the agency's pinned
    /// card and the share it names. One that does not verify is still listed, marked,
    /// with its contents withheld.
    fn record_summary(
        &self,
        agency: &AgencyId,
        citizen: &KeyPair,
        card: &AgencyCard,
        rid: &str,
        entry: &Value,
    ) -> RecordSummary {
        let e = entry
            .as_str()
            .and_then(|t| serde_json::from_str::<serde_json::Map<String, Value>>(t).ok())
            .unwrap_or_default();
        let gid = e.get("grant").and_then(Value::as_str).unwrap_or_default();
        let mut summary = RecordSummary {
            id: rid.to_owned(),
            agency: agency.clone(),
            record_type: e
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .chars()
                .take(64)
                .collect(),
            issued_at: e.get("issued_at").and_then(Value::as_i64).unwrap_or(0),
            body: Value::Null,
            grant: gid.chars().take(40).collect(),
            verified: false,
            problem: None,
            hidden: e.get("hidden").and_then(Value::as_bool).unwrap_or(false),
        };
        let Some(signed) = from_b64(e.get("signed")) else {
            summary.problem = Some("its signed copy is missing".into());
            return summary;
        };
        let Ok((grant, _)) = self.grant(gid) else {
            summary.problem = Some("the share it was sent under is not on this computer".into());
            return summary;
        };
        match twin_protocol::verify_signed_record(&signed, citizen, card, &grant.claims) {
            Ok(r) if r.claims.record_id.to_string() == rid => {
                summary.record_type = r.claims.record_type;
                summary.issued_at = r.claims.issued_at;
                summary.body = r.body;
                summary.verified = true;
            }
            Ok(_) => summary.problem = Some("it is kept under another record's id".into()),
            Err(e) => summary.problem = Some(e.to_string()),
        }
        summary
    }

    /// Every record received, hidden ones included (marked), each re-verified from its
    /// signed bytes; one that no longer verifies is listed as unverified, without its
    /// contents.
    pub fn records(&mut self) -> Result<Vec<RecordSummary>, VaultError> {
        let mut out = Vec::new();
        for agency in self.agencies() {
            let citizen = self.agency_key(&agency.id)?;
            let card = self.card(&agency.id)?;
            for (rid, entry) in self.doc.ledger_get(&["records", agency.id.as_str()]) {
                out.push(self.record_summary(&agency.id, &citizen, &card, &rid, &entry));
            }
        }
        Ok(out)
    }

    fn record_by_id(&mut self, id: &str) -> Result<Option<RecordSummary>, VaultError> {
        for agency in self.agencies() {
            let path = ["records", agency.id.as_str()];
            if !self.doc.ledger_has(&path, id) {
                continue;
            }
            let citizen = self.agency_key(&agency.id)?;
            let card = self.card(&agency.id)?;
            if let Some(entry) = self.doc.ledger_get(&path).get(id) {
                return Ok(Some(
                    self.record_summary(&agency.id, &citizen, &card, id, entry),
                ));
            }
        }
        Ok(None)
    }

    /// Hides a record: it is kept, unaltered (a citizen can hide a record, never change
    /// it), and listed as hidden. Returns the record.
    pub fn hide_record(&mut self, id: &str) -> Result<RecordSummary, VaultError> {
        self.set_hidden(id, true)
    }

    /// Shows a hidden record again.
    pub fn unhide_record(&mut self, id: &str) -> Result<RecordSummary, VaultError> {
        self.set_hidden(id, false)
    }

    fn set_hidden(&mut self, id: &str, hidden: bool) -> Result<RecordSummary, VaultError> {
        let unknown = || VaultError::UnknownRecord(id.chars().take(40).collect());
        let record = self.record_by_id(id)?.ok_or_else(unknown)?;
        if record.hidden == hidden {
            return Ok(record);
        }
        let path = ["records", record.agency.as_str()];
        let text = self
            .doc
            .ledger_get(&path)
            .get(id)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(unknown)?;
        let mut entry: serde_json::Map<String, Value> =
            serde_json::from_str(&text).map_err(|_| unknown())?;
        entry.insert("hidden".into(), Value::Bool(hidden));
        let prov = self.prov(if hidden {
            "hid a record"
        } else {
            "showed a record again"
        });
        self.doc.ledger_put(
            &path,
            &[(id, Value::String(Value::Object(entry).to_string()))],
            &prov,
        )?;
        let name = self
            .card(&record.agency)
            .map(|c| summary_of(&c).display_name())
            .unwrap_or_else(|_| record.agency.to_string());
        let line = if hidden {
            format!(
                "You hid a record ({}) from {name}. It is kept unaltered; `twin records unhide` shows it again.",
                record.record_type
            )
        } else {
            format!(
                "You showed a hidden record ({}) from {name} again.",
                record.record_type
            )
        };
        self.commit(
            if hidden {
                "record-hidden"
            } else {
                "record-shown"
            },
            line,
            Vec::new(),
        )?;
        Ok(RecordSummary { hidden, ..record })
    }
}

pub(crate) fn summary_of(card: &AgencyCard) -> AgencySummary {
    AgencySummary {
        id: card.agency.clone(),
        name: card.name.clone(),
        sandbox: card.sandbox,
        endpoint: card.endpoint.clone(),
        purposes: card.purposes.clone(),
        record_types: card.record_types.clone(),
    }
}

fn summary_of_grant(
    grant: &Grant,
    card: &AgencyCard,
    revoked: Option<i64>,
    now: i64,
) -> GrantSummary {
    let c = &grant.claims;
    let state = match revoked {
        Some(at) => GrantState::Stopped { at },
        None if now > c.expires_at => GrantState::Expired,
        None => GrantState::Active,
    };
    GrantSummary {
        id: c.grant_id,
        agency: c.agency.clone(),
        agency_name: summary_of(card).display_name(),
        fields: c.fields.iter().map(FieldPath::to_string).collect(),
        purpose: c.purpose.words.clone(),
        records: c.records.clone(),
        issued_at: c.issued_at,
        expires_at: c.expires_at,
        state,
        delivery: Delivery::ByHand,
        notice: None,
        refreshes: 0,
        access: AccessChain::default(),
    }
}

/// "30 November 2026".
pub fn human_date(secs: i64) -> String {
    let full = human_time(secs.saturating_mul(1000));
    full.split(" at ").next().unwrap_or_default().to_owned()
}

/// The trust list that ships (`packaging/trust/trust-list.json`).
pub const SHIPPED_TRUST_LIST: &str = include_str!("../../../packaging/trust/trust-list.json");
/// The sandbox trust list (`packaging/trust/sandbox/trust-list.json`): believed only when
/// a developer switches sandbox trust on.
pub const SANDBOX_TRUST_LIST: &str =
    include_str!("../../../packaging/trust/sandbox/trust-list.json");

/// The trust list to use: `custom` (a file's text) if given, else the shipped one; with
/// `sandbox`, the sandbox anchor is added.
pub fn trust_list(custom: Option<&str>, sandbox: bool) -> Result<TrustList, VaultError> {
    let bad = |what: &str| VaultError::Share(format!("the {what} trust list is not readable"));
    let mut list: TrustList = serde_json::from_str(custom.unwrap_or(SHIPPED_TRUST_LIST))
        .map_err(|_| bad("configured"))?;
    if sandbox {
        let sandbox: TrustList =
            serde_json::from_str(SANDBOX_TRUST_LIST).map_err(|_| bad("sandbox"))?;
        list.anchors.extend(sandbox.anchors);
    }
    Ok(list)
}
