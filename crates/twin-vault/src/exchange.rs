//! What online exchange with agencies needs from the vault: which shares and notices are
//! still to send, what each agency acknowledged, refreshes of shared values, receipts
//! (access and deletion) and the inbox cursor. No networking happens here: the
//! `twin-sync` crate talks to agencies and reports back through these methods, so every
//! answer is checked and kept by the vault, and every event is one plain line in the
//! activity log.
//!
//! Ledger additions (in the twin document, so they merge between computers):
//! - `grants.issued.<grant id>`: `send` (true: to send over the internet), `accepted_at`
//!   (when the agency acknowledged it), `refused` (JSON text `{code, message, at}`: the
//!   agency refused it for good), `pushed_digest` (hex SHA-256 of the values the agency
//!   last received: in the grant, then in each refresh), `refresh_seq` (the last refresh
//!   sequence number used), `refresh_refused_digest` (values the agency refused, not sent
//!   again), `refresh_stopped` (a code: the agency will take no more refreshes);
//! - `grants.revoked.<grant id>`: `sent_at` (when the agency acknowledged the notice),
//!   `agency_status` (`purged` or `remembered`), `refused` (JSON text `{code, message, at}`);
//! - `grants.deleted.<grant id>`: `receipt` (the signed deletion receipt, base64), `at`,
//!   `reason`;
//! - `grants.access.<grant id>`: one entry per access receipt, keyed
//!   `<seq, 20 digits>-<first 8 bytes of its SHA-256, hex>`, holding JSON text
//!   `{"signed": base64}`. The receipt is re-verified against the pinned card each time it
//!   is read; two different receipts with one number are both kept, as evidence.
//!
//! Device-local (store metadata, not merged): `inbox_cursor:<agency id>`, the `next` of
//! the last inbox page imported from that agency.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use twin_protocol::{AgencyCard, Grant, Receipt, ReceiptEvent};
use twin_schema::Catalog;
use twin_store::Batch;
use twin_types::{AgencyId, FieldPath, GrantId};

use crate::sharing::{
    AgencySummary, GrantState, GrantSummary, RecordSummary, b64, from_b64, now_secs, summary_of,
};
use crate::{RequestSummary, Vault, VaultError, human_date};

/// How a share reaches its agency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum Delivery {
    /// Handed over as a file or as text; this vault does not send it.
    ByHand,
    /// Marked to send over the internet; the next `twin sync` sends it.
    ToSend,
    /// The agency acknowledged it.
    Accepted {
        /// When (seconds since 1970, UTC).
        at: i64,
    },
    /// The agency refused it; it is not sent again.
    Refused {
        /// The agency's stable code, e.g. `grant-invalid-value`.
        code: String,
        /// The agency's plain message.
        message: String,
    },
}

/// Where the revocation notice of a stopped share stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoticeState {
    /// When the agency acknowledged the notice; `None` while it has not been told.
    pub sent_at: Option<i64>,
    /// What it answered: `purged` (it held the share and deleted it) or `remembered`
    /// (it had not received the share, and will refuse it if it arrives).
    pub agency_status: Option<String>,
    /// The agency refused the notice (its code); it is not sent again.
    pub refused: Option<String>,
}

/// A range of missing receipt numbers, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SeqRange {
    /// The first missing number.
    pub from: u64,
    /// The last missing number.
    pub to: u64,
}

/// The access receipts of one share: numbered from 1 and chained (each names the
/// SHA-256 of the one before), so a receipt the agency left out shows as a gap.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccessChain {
    /// Receipts held.
    pub receipts: u64,
    /// Numbers missing below the highest one held.
    pub missing: Vec<SeqRange>,
    /// Receipts whose link to the one before does not hold.
    pub broken: Vec<u64>,
    /// Numbers for which the agency signed two different receipts.
    pub conflicting: Vec<u64>,
}

impl AccessChain {
    /// Whether every receipt up to the highest is held and linked.
    pub fn is_whole(&self) -> bool {
        self.missing.is_empty() && self.broken.is_empty() && self.conflicting.is_empty()
    }

    /// The problems, each in plain words.
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .missing
            .iter()
            .map(|r| {
                if r.from == r.to {
                    format!("receipt {} is missing", r.from)
                } else {
                    format!("receipts {} to {} are missing", r.from, r.to)
                }
            })
            .collect();
        out.extend(self.broken.iter().map(|s| match s {
            0 => "a receipt is numbered 0, which no receipt may be".to_owned(),
            1 => "receipt 1 does not start the chain".to_owned(),
            s => format!("receipt {s} does not follow on from receipt {}", s - 1),
        }));
        out.extend(
            self.conflicting
                .iter()
                .map(|s| format!("the agency signed two different receipts numbered {s}")),
        );
        out
    }
}

/// One access receipt: a named member of the agency's staff opened the shared fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessReceipt {
    /// Its number, from 1 per share.
    pub seq: u64,
    /// When (seconds since 1970, UTC).
    pub at: i64,
    /// Who, as the agency names them.
    pub staff: String,
    /// The fields shown.
    pub fields: Vec<String>,
    /// Why, in the agency's words.
    pub purpose: String,
}

/// A share or a notice waiting to be sent to its agency.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The share.
    pub grant: GrantId,
    /// Its agency.
    pub agency: AgencyId,
    /// The agency's name for people (with "(SANDBOX)" where it applies).
    pub agency_name: String,
    /// The share's purpose, in plain words.
    pub purpose: String,
    /// The signed bytes to send (the grant, or the revocation notice).
    pub bytes: Vec<u8>,
}

/// A refresh made ready: the current values of an accepted share's fields, sealed to the
/// agency and signed, with the next sequence number.
#[derive(Debug, Clone)]
pub struct PendingRefresh {
    /// The share.
    pub grant: GrantId,
    /// Its agency.
    pub agency: AgencyId,
    /// The agency's name for people.
    pub agency_name: String,
    /// The share's purpose, in plain words.
    pub purpose: String,
    /// The fields refreshed (those holding a value).
    pub fields: Vec<String>,
    /// Its sequence number.
    pub seq: u64,
    /// The refresh's bytes (`twin_protocol::make_refresh`).
    pub bytes: Vec<u8>,
    /// A digest of the values it carries (never the values).
    digest: String,
}

/// What an agency answered to a revocation notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoticeStatus {
    /// It held the share and deleted it.
    Purged,
    /// It had not received the share; it will refuse it if it arrives.
    Remembered,
}

/// What keeping an agency's answer to a notice did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoticeOutcome {
    /// The agency confirmed the deletion with a valid receipt, at this time.
    pub deletion_confirmed: Option<i64>,
    /// A receipt that came with the answer but did not check out, in plain words.
    pub problem: Option<String>,
    /// What happened, in plain words (as written to the activity log).
    pub line: String,
}

/// What a receipt from an agency was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ReceiptKind {
    /// Staff opened the shared fields.
    Access {
        /// Its number.
        seq: u64,
    },
    /// The agency deleted what it held.
    Deletion {
        /// Why: `expired`, `revoked` or `request`.
        reason: String,
    },
}

/// What importing a receipt did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceiptImport {
    /// The share it is about.
    pub grant: GrantId,
    /// What it records.
    pub kind: ReceiptKind,
    /// Whether it was new to this vault (false: already held; nothing was written).
    pub new: bool,
    /// Gaps or broken links this receipt revealed in the share's access receipts.
    pub problems: Vec<String>,
    /// What happened, in plain words (as written to the activity log when new).
    pub line: String,
}

/// Something imported from an agency, and whether it was new to this vault.
#[derive(Debug, Clone, Serialize)]
pub struct Imported<T> {
    /// What it is.
    pub item: T,
    /// False when the vault already held it (nothing was written).
    pub new: bool,
}

/// The agency's own words, made safe for one line of the activity log: no control
/// characters, at most `max` characters.
pub(crate) fn plain_words(text: &str, max: usize) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    let cleaned = cleaned.trim().trim_end_matches('.').to_owned();
    if text.chars().count() > max {
        format!("{cleaned}…")
    } else {
        cleaned
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn reason_words(reason: &str) -> String {
    match reason {
        "revoked" => "because you stopped sharing".into(),
        "expired" => "because the share had ended".into(),
        "request" => "because you asked it to".into(),
        other => format!("(reason given: {})", plain_words(other, 40)),
    }
}

fn access_key(seq: u64, signed: &[u8]) -> String {
    format!("{seq:020}-{}", hex::encode(&sha256(signed)[..8]))
}

/// Gaps, broken links and conflicts in a set of access receipts `(seq, SHA-256 of the
/// signed bytes, prev)`.
pub(crate) fn chain_of(receipts: &[(u64, [u8; 32], Vec<u8>)]) -> AccessChain {
    /// A receipt's hash and its `prev`.
    type Link<'a> = (&'a [u8; 32], &'a [u8]);
    let mut by_seq: BTreeMap<u64, Vec<Link<'_>>> = BTreeMap::new();
    for (seq, hash, prev) in receipts {
        by_seq.entry(*seq).or_default().push((hash, prev));
    }
    let mut chain = AccessChain {
        receipts: receipts.len() as u64,
        ..AccessChain::default()
    };
    let mut expected = 1u64;
    for (&seq, here) in &by_seq {
        if seq == 0 {
            chain.broken.push(0);
            continue;
        }
        if seq > expected {
            chain.missing.push(SeqRange {
                from: expected,
                to: seq - 1,
            });
        }
        expected = seq.saturating_add(1);
        let mut distinct: Vec<&[u8; 32]> = here.iter().map(|(h, _)| *h).collect();
        distinct.sort();
        distinct.dedup();
        if distinct.len() > 1 {
            chain.conflicting.push(seq);
        }
        let links = if seq == 1 {
            Some(vec![[0u8; 32]])
        } else {
            by_seq
                .get(&(seq - 1))
                .map(|before| before.iter().map(|(h, _)| **h).collect::<Vec<_>>())
        };
        // A receipt whose predecessor is missing is already reported as a gap.
        if let Some(links) = links
            && here
                .iter()
                .any(|(_, prev)| !links.iter().any(|l| l.as_slice() == *prev))
        {
            chain.broken.push(seq);
        }
    }
    chain
}

/// The internal record of a share's exchange with its agency, read from the ledger.
#[derive(Debug, Default)]
pub(crate) struct ExchangeState {
    pub(crate) delivery: Option<Delivery>,
    pub(crate) notice: Option<NoticeState>,
    pub(crate) deleted: Option<(i64, String)>,
    pub(crate) refresh_seq: u64,
}

fn refused_of(entry: &Map<String, Value>) -> Option<(String, String)> {
    let text = entry.get("refused")?.as_str()?;
    let v: Value = serde_json::from_str(text).ok()?;
    Some((
        v.get("code")?.as_str()?.to_owned(),
        v.get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
    ))
}

impl Vault {
    pub(crate) fn issued_entry(&self, id: &GrantId) -> Map<String, Value> {
        self.doc.ledger_get(&["grants", "issued", &id.to_string()])
    }

    /// How a share stands with its agency, from the ledger.
    pub(crate) fn exchange_state(&self, id: &GrantId) -> ExchangeState {
        let gid = id.to_string();
        let issued = self.doc.ledger_get(&["grants", "issued", &gid]);
        let delivery = if let Some((code, message)) = refused_of(&issued) {
            Delivery::Refused { code, message }
        } else if let Some(at) = issued.get("accepted_at").and_then(Value::as_i64) {
            Delivery::Accepted { at }
        } else if issued.get("send").and_then(Value::as_bool) == Some(true) {
            Delivery::ToSend
        } else {
            Delivery::ByHand
        };
        let revoked = self.doc.ledger_get(&["grants", "revoked", &gid]);
        let notice = (!revoked.is_empty()).then(|| NoticeState {
            sent_at: revoked.get("sent_at").and_then(Value::as_i64),
            agency_status: revoked
                .get("agency_status")
                .and_then(Value::as_str)
                .map(str::to_owned),
            refused: refused_of(&revoked).map(|(code, _)| code),
        });
        let deleted = self.doc.ledger_get(&["grants", "deleted", &gid]);
        let deleted = deleted.get("at").and_then(Value::as_i64).map(|at| {
            (
                at,
                deleted
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            )
        });
        ExchangeState {
            delivery: Some(delivery),
            notice,
            deleted,
            refresh_seq: issued
                .get("refresh_seq")
                .and_then(Value::as_i64)
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
        }
    }

    /// The access receipts held for a share, re-verified against the pinned card, with
    /// each one's SHA-256 and `prev` (for the chain).
    fn access_entries(
        &self,
        id: &GrantId,
        card: &AgencyCard,
    ) -> Vec<(AccessReceipt, [u8; 32], Vec<u8>)> {
        let mut out = Vec::new();
        for (_, text) in self.doc.ledger_get(&["grants", "access", &id.to_string()]) {
            let Some(signed) = text
                .as_str()
                .and_then(|t| serde_json::from_str::<Map<String, Value>>(t).ok())
                .and_then(|e| from_b64(e.get("signed")))
            else {
                continue;
            };
            let Ok(r) = Receipt::verify(&signed, card) else {
                continue;
            };
            if r.grant_id != *id {
                continue;
            }
            if let ReceiptEvent::Access {
                seq,
                prev,
                staff,
                fields,
                purpose,
            } = r.event
            {
                out.push((
                    AccessReceipt {
                        seq,
                        at: r.at,
                        staff,
                        fields: fields.iter().map(FieldPath::to_string).collect(),
                        purpose,
                    },
                    sha256(&signed),
                    prev,
                ));
            }
        }
        out.sort_by_key(|(r, _, _)| r.seq);
        out
    }

    pub(crate) fn access_chain(&self, id: &GrantId, card: &AgencyCard) -> AccessChain {
        let entries: Vec<(u64, [u8; 32], Vec<u8>)> = self
            .access_entries(id, card)
            .into_iter()
            .map(|(r, h, p)| (r.seq, h, p))
            .collect();
        chain_of(&entries)
    }

    /// The access receipts an agency gave for a share, lowest number first, each
    /// re-verified against the agency's pinned card.
    pub fn access_receipts(&self, id: &GrantId) -> Result<Vec<AccessReceipt>, VaultError> {
        let (grant, card) = self.grant(&id.to_string())?;
        Ok(self
            .access_entries(&grant.claims.grant_id, &card)
            .into_iter()
            .map(|(r, _, _)| r)
            .collect())
    }

    /// The pinned card of `agency`, verified again against `trust` now, as the citizen
    /// sees it. Fails if the agency is not added, or its card is no longer trusted.
    pub fn trusted_agency(
        &self,
        agency: &AgencyId,
        trust: &twin_protocol::TrustList,
    ) -> Result<AgencySummary, VaultError> {
        Ok(summary_of(&self.trusted_card(agency, trust)?))
    }

    /// The agency a share was made with, and the share's purpose, in plain words.
    fn about(&self, id: &GrantId) -> Result<(Grant, AgencyCard, AgencySummary), VaultError> {
        let (grant, card) = self.grant(&id.to_string())?;
        let summary = summary_of(&card);
        Ok((grant, card, summary))
    }

    /// Marks a share to be sent to its agency over the internet (`twin share --send`).
    /// It stays marked until the agency acknowledges or refuses it, so a failed attempt
    /// is retried by the next `twin sync`. Writes nothing to the activity log: sending
    /// is logged when the agency answers.
    pub fn mark_to_send(&mut self, id: &GrantId) -> Result<(), VaultError> {
        self.about(id)?;
        if self.issued_entry(id).get("send").and_then(Value::as_bool) == Some(true) {
            return Ok(());
        }
        let prov = self.prov("chose to send a share");
        self.doc.ledger_put(
            &["grants", "issued", &id.to_string()],
            &[("send", json!(true))],
            &prov,
        )?;
        self.commit_quiet(Vec::new())
    }

    /// Shares marked to send that the agency has neither acknowledged nor refused, and
    /// that are neither stopped nor ended. A stopped share is never sent.
    pub fn grants_to_send(&self) -> Vec<Outgoing> {
        let now = now_secs();
        self.doc
            .ledger_children(&["grants", "issued"])
            .into_iter()
            .filter_map(|gid| self.grant(&gid).ok())
            .filter(|(grant, _)| {
                let id = grant.claims.grant_id;
                self.exchange_state(&id).delivery == Some(Delivery::ToSend)
                    && self.revoked_at(&id).is_none()
                    && now <= grant.claims.expires_at
            })
            .map(|(grant, card)| Outgoing {
                grant: grant.claims.grant_id,
                agency: grant.claims.agency.clone(),
                agency_name: summary_of(&card).display_name(),
                purpose: grant.claims.purpose.words.clone(),
                bytes: grant.bytes,
            })
            .collect()
    }

    /// Records that the agency acknowledged a share at `at`. Returns the line written to
    /// the activity log.
    pub fn grant_accepted(&mut self, id: &GrantId, at: i64) -> Result<String, VaultError> {
        let (grant, _, agency) = self.about(id)?;
        if let Some(Delivery::Accepted { .. }) = self.exchange_state(id).delivery {
            return Ok(format!(
                "{} already had your share for '{}'.",
                agency.display_name(),
                grant.claims.purpose.words
            ));
        }
        let prov = self.prov("an agency received a share");
        self.doc.ledger_put(
            &["grants", "issued", &id.to_string()],
            &[("accepted_at", json!(at))],
            &prov,
        )?;
        let line = format!(
            "{} received your share for '{}' over the internet on {}.",
            agency.display_name(),
            grant.claims.purpose.words,
            human_date(at)
        );
        self.commit("share-delivered", line.clone(), Vec::new())?;
        Ok(line)
    }

    /// Records that the agency refused a share for good (its code and plain message). It
    /// is not sent again. Returns the line written to the activity log.
    pub fn grant_refused(
        &mut self,
        id: &GrantId,
        code: &str,
        message: &str,
    ) -> Result<String, VaultError> {
        self.keep_refusal(id, "issued", "share-refused", code, message, |agency, purpose, m| {
            format!(
                "{agency} refused your share for '{purpose}': {m}. It will not be sent again; make a new share if you still want to share."
            )
        })
    }

    /// Keeps an agency's final refusal (code and plain message, shortened) under
    /// `grants.<ledger>.<id>.refused`, and writes `line(agency, purpose, message)` to the
    /// activity log as `kind`. Returns that line.
    fn keep_refusal(
        &mut self,
        id: &GrantId,
        ledger: &str,
        kind: &str,
        code: &str,
        message: &str,
        line: impl FnOnce(&str, &str, &str) -> String,
    ) -> Result<String, VaultError> {
        let (grant, _, agency) = self.about(id)?;
        let (code, message) = (plain_words(code, 64), plain_words(message, 200));
        let prov = self.prov(match kind {
            "share-refused" => "an agency refused a share",
            _ => "an agency refused a notice",
        });
        self.doc.ledger_put(
            &["grants", ledger, &id.to_string()],
            &[(
                "refused",
                json!(json!({"code": code, "message": message, "at": now_secs()}).to_string()),
            )],
            &prov,
        )?;
        let line = line(
            &agency.display_name(),
            &grant.claims.purpose.words,
            &message,
        );
        self.commit(kind, line.clone(), Vec::new())?;
        Ok(line)
    }

    /// Revocation notices the agency has not yet acknowledged (nor refused).
    pub fn notices_to_send(&self) -> Vec<Outgoing> {
        self.doc
            .ledger_children(&["grants", "revoked"])
            .into_iter()
            .filter_map(|gid| {
                let (grant, card) = self.grant(&gid).ok()?;
                let notice = self.exchange_state(&grant.claims.grant_id).notice?;
                if notice.sent_at.is_some() || notice.refused.is_some() {
                    return None;
                }
                Some(Outgoing {
                    grant: grant.claims.grant_id,
                    agency: grant.claims.agency.clone(),
                    agency_name: summary_of(&card).display_name(),
                    purpose: grant.claims.purpose.words.clone(),
                    bytes: self.revocation_notice(&grant.claims.grant_id)?,
                })
            })
            .collect()
    }

    /// Records the agency's answer to a revocation notice: it deleted what it held
    /// (`Purged`, with a deletion receipt, checked against the pinned card and kept), or
    /// it had not received the share (`Remembered`). A receipt that does not check out
    /// is not kept, and is reported.
    pub fn notice_answered(
        &mut self,
        id: &GrantId,
        status: NoticeStatus,
        receipt: Option<&[u8]>,
    ) -> Result<NoticeOutcome, VaultError> {
        let (grant, card, agency) = self.about(id)?;
        let purpose = grant.claims.purpose.words.clone();
        if self.revoked_at(id).is_none() {
            return Err(VaultError::Receipt(
                "the agency answered a notice for a share that was not stopped".into(),
            ));
        }
        let now = now_secs();
        let prov = self.prov("an agency answered a notice");
        self.doc.ledger_put(
            &["grants", "revoked", &id.to_string()],
            &[
                ("sent_at", json!(now)),
                (
                    "agency_status",
                    json!(match status {
                        NoticeStatus::Purged => "purged",
                        NoticeStatus::Remembered => "remembered",
                    }),
                ),
            ],
            &prov,
        )?;
        let mut outcome = NoticeOutcome {
            deletion_confirmed: None,
            problem: None,
            line: String::new(),
        };
        match receipt.map(|bytes| self.check_deletion(bytes, &card, id)) {
            Some(Ok((at, reason, bytes))) => {
                self.put_deletion(id, &bytes, at, &reason)?;
                outcome.deletion_confirmed = Some(at);
                outcome.line = format!(
                    "{} confirmed it deleted what you shared for '{purpose}' on {} {}.",
                    agency.display_name(),
                    human_date(at),
                    reason_words(&reason)
                );
            }
            Some(Err(e)) => {
                outcome.problem = Some(e.to_string());
                outcome.line = format!(
                    "{} was told you stopped sharing for '{purpose}', but its deletion receipt was not accepted: {e}.",
                    agency.display_name()
                );
            }
            None if status == NoticeStatus::Remembered => {
                outcome.line = format!(
                    "{} was told you stopped sharing for '{purpose}'. It had not received that share, and will refuse it if it arrives.",
                    agency.display_name()
                );
            }
            None => {
                outcome.line = format!(
                    "{} was told you stopped sharing for '{purpose}', but it sent no deletion receipt.",
                    agency.display_name()
                );
            }
        }
        self.commit("notice-delivered", outcome.line.clone(), Vec::new())?;
        Ok(outcome)
    }

    /// Records that the agency refused a revocation notice for good. Returns the line
    /// written to the activity log.
    pub fn notice_refused(
        &mut self,
        id: &GrantId,
        code: &str,
        message: &str,
    ) -> Result<String, VaultError> {
        self.keep_refusal(id, "revoked", "notice-refused", code, message, |agency, purpose, m| {
            format!(
                "{agency} refused your notice to stop sharing for '{purpose}': {m}. The share stays stopped on your computers."
            )
        })
    }

    /// Checks a deletion receipt for share `id` against the agency's pinned card.
    fn check_deletion(
        &self,
        bytes: &[u8],
        card: &AgencyCard,
        id: &GrantId,
    ) -> Result<(i64, String, Vec<u8>), VaultError> {
        let r = Receipt::verify(bytes, card).map_err(|e| VaultError::Receipt(e.to_string()))?;
        if r.grant_id != *id {
            return Err(VaultError::Receipt(
                "it is about another share than the one stopped".into(),
            ));
        }
        match r.event {
            ReceiptEvent::Deletion { reason } => Ok((r.at, plain_words(&reason, 40), bytes.into())),
            _ => Err(VaultError::Receipt("it is not a deletion receipt".into())),
        }
    }

    /// Keeps a checked deletion receipt (the first one kept for a share stays).
    fn put_deletion(
        &mut self,
        id: &GrantId,
        bytes: &[u8],
        at: i64,
        reason: &str,
    ) -> Result<bool, VaultError> {
        let path = ["grants", "deleted", &id.to_string()];
        if !self.doc.ledger_get(&path).is_empty() {
            return Ok(false);
        }
        let prov = self.prov("an agency confirmed a deletion");
        let gid = id.to_string();
        self.doc.ledger_put(
            &["grants", "deleted", &gid],
            &[
                ("receipt", b64(bytes)),
                ("at", json!(at)),
                ("reason", json!(reason)),
            ],
            &prov,
        )?;
        Ok(true)
    }

    /// Imports a receipt (access or deletion) from `agency`: verified against its
    /// pinned card, for a share made with that agency, kept with its signed bytes. An
    /// access receipt is checked against the share's chain, and any gap it reveals is
    /// reported. Each new receipt is one line in the activity log, e.g. "Sandbox
    /// Benefits Agency (SANDBOX): Alice Smith opened your date of birth and postcode for
    /// 'Pension Credit check' on 3 December 2026."
    pub fn import_receipt(
        &mut self,
        agency: &AgencyId,
        bytes: &[u8],
    ) -> Result<ReceiptImport, VaultError> {
        if bytes.len() > twin_protocol::MAX_RECORD_BYTES {
            return Err(VaultError::Receipt("it is far too large".into()));
        }
        let card = self.card(agency)?;
        let name = summary_of(&card).display_name();
        let r = Receipt::verify(bytes, &card).map_err(|e| VaultError::Receipt(e.to_string()))?;
        let id = r.grant_id;
        let own = self
            .grant(&id.to_string())
            .ok()
            .filter(|(g, _)| g.claims.agency == *agency);
        let Some((grant, _)) = own else {
            return Err(VaultError::Receipt(
                "it is about a share this vault did not make with that agency".into(),
            ));
        };
        match r.event {
            ReceiptEvent::Deletion { reason } => {
                let purpose = &grant.claims.purpose.words;
                let reason = plain_words(&reason, 40);
                let line = format!(
                    "{name} confirmed it deleted what you shared for '{purpose}' on {} {}.",
                    human_date(r.at),
                    reason_words(&reason)
                );
                let new = self.put_deletion(&id, bytes, r.at, &reason)?;
                if new {
                    self.commit("deletion-confirmed", line.clone(), Vec::new())?;
                }
                Ok(ReceiptImport {
                    grant: id,
                    kind: ReceiptKind::Deletion { reason },
                    new,
                    problems: Vec::new(),
                    line,
                })
            }
            ReceiptEvent::Access {
                seq,
                staff,
                fields,
                purpose: their_purpose,
                ..
            } => {
                let staff = plain_words(&staff, 80);
                let mut line = format!(
                    "{name}: {staff} opened your {} for '{}' on {}.",
                    twin_doc::describe_titles(&fields),
                    plain_words(&their_purpose, 120),
                    human_date(r.at)
                );
                let key = access_key(seq, bytes);
                let path = ["grants", "access", &id.to_string()];
                if self.doc.ledger_has(&path, &key) {
                    return Ok(ReceiptImport {
                        grant: id,
                        kind: ReceiptKind::Access { seq },
                        new: false,
                        problems: Vec::new(),
                        line,
                    });
                }
                let before = self.access_chain(&id, &card).problems();
                let prov = self.prov("an agency gave an access receipt");
                self.doc.ledger_put(
                    &path,
                    &[(
                        key.as_str(),
                        Value::String(json!({"signed": b64(bytes)}).to_string()),
                    )],
                    &prov,
                )?;
                let problems: Vec<String> = self
                    .access_chain(&id, &card)
                    .problems()
                    .into_iter()
                    .filter(|p| !before.contains(p))
                    .collect();
                if !problems.is_empty() {
                    line.push_str(&format!(
                        " Warning: {name} has not accounted for every time your data was opened: {}.",
                        problems.join("; ")
                    ));
                }
                self.commit("access-receipt", line.clone(), Vec::new())?;
                Ok(ReceiptImport {
                    grant: id,
                    kind: ReceiptKind::Access { seq },
                    new: true,
                    problems,
                    line,
                })
            }
        }
    }

    /// A keyed digest of the current values of `fields` (absent ones included as absent),
    /// and those values. The digest tells whether the agency already has these values; it
    /// is kept in the ledger (and so in backups), never the values themselves. It is an
    /// HMAC under a key derived from the vault's root secret: a plain hash of a date of
    /// birth could be reversed by trying every date, even after the field was erased.
    pub(crate) fn values_digest(
        &mut self,
        fields: &[FieldPath],
    ) -> Result<(String, BTreeMap<FieldPath, Value>), VaultError> {
        use hmac::{KeyInit, Mac};
        let secret =
            zeroize::Zeroizing::new(self.store()?.meta(crate::meta::ROOT_SECRET)?.ok_or_else(
                || twin_doc::DocError::Corrupt("the vault's root secret is missing".into()),
            )?);
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        hkdf::Hkdf::<Sha256>::new(None, &secret)
            .expand(b"citizen-twin/vault/pushed-values-key/v1", key.as_mut())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let mut h = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key.as_ref())
            .expect("HMAC takes a key of any length");
        h.update(b"citizen-twin/vault/pushed-values/v1");
        let mut values = BTreeMap::new();
        // In path order, however the share listed them.
        let fields: std::collections::BTreeSet<&FieldPath> = fields.iter().collect();
        for f in fields {
            h.update(&(f.as_str().len() as u64).to_be_bytes());
            h.update(f.as_str().as_bytes());
            match Catalog::get()
                .field(f.as_str())
                .ok()
                .and_then(|field| self.doc.get(field))
            {
                Some(v) => {
                    let text = zeroize::Zeroizing::new(v.to_string());
                    h.update(&[1u8]);
                    h.update(&(text.len() as u64).to_be_bytes());
                    h.update(text.as_bytes());
                    values.insert((*f).clone(), v);
                }
                None => h.update(&[0u8]),
            }
        }
        Ok((hex::encode(h.finalize().into_bytes()), values))
    }

    /// Refreshes to push: for every share that is active (not stopped, not ended, not
    /// deleted), acknowledged by its agency, and whose fields' current values differ
    /// from those the agency last received, the current values sealed to the agency and
    /// signed, with the next sequence number. Values the agency refused are not offered
    /// again until they change; a stopped share never pushes again.
    pub fn pending_refreshes(&mut self) -> Result<Vec<PendingRefresh>, VaultError> {
        let now = now_secs();
        let mut out = Vec::new();
        for gid in self.doc.ledger_children(&["grants", "issued"]) {
            let Ok((grant, card)) = self.grant(&gid) else {
                continue;
            };
            let id = grant.claims.grant_id;
            let state = self.exchange_state(&id);
            let entry = self.issued_entry(&id);
            if !matches!(state.delivery, Some(Delivery::Accepted { .. }))
                || self.revoked_at(&id).is_some()
                || state.deleted.is_some()
                || now > grant.claims.expires_at
                || entry.contains_key("refresh_stopped")
            {
                continue;
            }
            let (digest, values) = self.values_digest(&grant.claims.fields)?;
            let seen = |k: &str| entry.get(k).and_then(Value::as_str) == Some(digest.as_str());
            if values.is_empty() || seen("pushed_digest") || seen("refresh_refused_digest") {
                continue;
            }
            let seq = state.refresh_seq.saturating_add(1);
            let key = self.agency_key(&grant.claims.agency)?;
            let Some(bytes) =
                twin_protocol::make_refresh(&grant.claims, &card, &values, seq, now, &key)
            else {
                continue;
            };
            out.push(PendingRefresh {
                grant: id,
                agency: grant.claims.agency.clone(),
                agency_name: summary_of(&card).display_name(),
                purpose: grant.claims.purpose.words.clone(),
                fields: values.keys().map(FieldPath::to_string).collect(),
                seq,
                bytes,
                digest,
            });
        }
        Ok(out)
    }

    /// Records that the agency accepted a refresh. Returns the line written to the
    /// activity log.
    pub fn refresh_pushed(&mut self, r: &PendingRefresh) -> Result<String, VaultError> {
        let prov = self.prov("sent new values to an agency");
        self.doc.ledger_put(
            &["grants", "issued", &r.grant.to_string()],
            &[
                ("refresh_seq", json!(r.seq)),
                ("pushed_digest", json!(r.digest)),
            ],
            &prov,
        )?;
        let line = format!(
            "You sent {} the current values of your {} for '{}' (update {}).",
            r.agency_name,
            crate::describe_fields(&r.fields),
            r.purpose,
            r.seq
        );
        self.commit("refresh-sent", line.clone(), Vec::new())?;
        Ok(line)
    }

    /// Records that the agency refused a refresh, by its code: an older sequence number
    /// than one it has (`refresh-rollback`: the next refresh takes a higher number), a
    /// share it no longer takes refreshes for (`refresh-revoked`, `refresh-expired`,
    /// `not-found`: no more refreshes), or anything else (these values are not offered
    /// again until they change). Returns the line written to the activity log.
    pub fn refresh_refused(
        &mut self,
        r: &PendingRefresh,
        code: &str,
        message: &str,
    ) -> Result<String, VaultError> {
        let message = plain_words(message, 200);
        let gid = r.grant.to_string();
        let prov = self.prov("an agency refused new values");
        let (entries, line) = match code {
            "refresh-rollback" => (
                vec![("refresh_seq", json!(r.seq))],
                format!(
                    "{} already had an update numbered {} or higher for '{}'; the next `twin sync` sends a newer one.",
                    r.agency_name, r.seq, r.purpose
                ),
            ),
            "refresh-revoked" | "refresh-expired" | "not-found" => (
                vec![
                    ("refresh_seq", json!(r.seq)),
                    ("refresh_stopped", json!(plain_words(code, 64))),
                ],
                format!(
                    "{} no longer takes new values for '{}': {message}. None will be sent again.",
                    r.agency_name, r.purpose
                ),
            ),
            _ => (
                vec![
                    ("refresh_seq", json!(r.seq)),
                    ("refresh_refused_digest", json!(r.digest)),
                ],
                format!(
                    "{} refused the current values of your {} for '{}': {message}. They are not sent again unless they change.",
                    r.agency_name,
                    crate::describe_fields(&r.fields),
                    r.purpose
                ),
            ),
        };
        self.doc
            .ledger_put(&["grants", "issued", &gid], &entries, &prov)?;
        self.commit("refresh-refused", line.clone(), Vec::new())?;
        Ok(line)
    }

    /// Where this computer left off in `agency`'s inbox (0 at first). Kept on this
    /// computer only: each computer of the citizen pulls the inbox itself, and drops
    /// what it already holds.
    pub fn inbox_cursor(&mut self, agency: &AgencyId) -> Result<u64, VaultError> {
        Ok(self
            .store()?
            .meta(&crate::meta::inbox_cursor(agency))?
            .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0))
    }

    /// Moves this computer's place in `agency`'s inbox on to `next`.
    pub fn set_inbox_cursor(&mut self, agency: &AgencyId, next: u64) -> Result<(), VaultError> {
        self.commit_quiet(vec![(
            crate::meta::inbox_cursor(agency),
            next.to_be_bytes().to_vec(),
        )])
    }

    /// Imports a request that came from `agency`'s inbox: verified against that
    /// agency's pinned card only.
    pub fn import_request_from(
        &mut self,
        agency: &AgencyId,
        bytes: &[u8],
    ) -> Result<Imported<RequestSummary>, VaultError> {
        let (item, new) = self.import_request_inner(bytes, Some(agency))?;
        Ok(Imported { item, new })
    }

    /// Imports a record that came from `agency`'s inbox: opened and verified against
    /// that agency's pinned card and the share it names.
    pub fn import_record_from(
        &mut self,
        agency: &AgencyId,
        bytes: &[u8],
    ) -> Result<Imported<RecordSummary>, VaultError> {
        let (item, new) = self.import_record_inner(bytes, Some(agency))?;
        Ok(Imported { item, new })
    }

    /// Shares an agency may still be using and has not been told to stop: active ones,
    /// and stopped ones whose notice the agency has not acknowledged, until they end.
    /// Deleting the vault is refused while there are any (see [`crate::delete_vault`]).
    pub fn outstanding_shares(&self) -> Vec<GrantSummary> {
        self.grants()
            .into_iter()
            .filter(|g| is_outstanding(g, now_secs()))
            .collect()
    }

    /// The time the last outstanding share ends (see [`Vault::outstanding_shares`]), if
    /// there is one; cheap enough to run at every lock.
    pub(crate) fn outstanding_until(&self) -> Option<i64> {
        let now = now_secs();
        self.doc
            .ledger_children(&["grants", "issued"])
            .into_iter()
            .filter_map(|gid| {
                let entry = self.doc.ledger_get(&["grants", "issued", &gid]);
                let grant = from_b64(entry.get("grant")).and_then(|b| Grant::from_own_bytes(&b))?;
                let c = &grant.claims;
                if now > c.expires_at {
                    return None;
                }
                let ex = self.exchange_state(&c.grant_id);
                if matches!(ex.delivery, Some(Delivery::Refused { .. })) || ex.deleted.is_some() {
                    return None;
                }
                match ex.notice {
                    Some(n) if n.sent_at.is_some() || n.refused.is_some() => None,
                    _ => Some(c.expires_at),
                }
            })
            .max()
    }

    /// Saves unsaved document changes and metadata without an activity-log line: for
    /// bookkeeping that is not itself an event (a mark, a cursor).
    pub(crate) fn commit_quiet(&mut self, meta: Vec<(String, Vec<u8>)>) -> Result<(), VaultError> {
        let heads = self.doc.heads();
        let change = (heads != self.saved_heads).then(|| self.doc.save_after(&self.saved_heads));
        let result = self.store()?.commit(Batch {
            change,
            audit: Vec::new(),
            meta,
        });
        match result {
            Ok(()) => {
                self.saved_heads = heads;
                Ok(())
            }
            Err(e) => {
                self.reload()?;
                Err(e.into())
            }
        }
    }
}

/// Whether an agency may still be using a share without having been told to stop.
pub(crate) fn is_outstanding(g: &GrantSummary, now: i64) -> bool {
    if now > g.expires_at {
        return false;
    }
    if let Delivery::Refused { .. } = g.delivery {
        return false;
    }
    match &g.state {
        GrantState::Active => true,
        GrantState::Stopped { .. } => g
            .notice
            .as_ref()
            .is_none_or(|n| n.sent_at.is_none() && n.refused.is_none()),
        GrantState::Expired | GrantState::Deleted { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> [u8; 32] {
        [n; 32]
    }

    #[test]
    fn a_whole_chain_has_no_problems() {
        let c = chain_of(&[
            (1, h(1), vec![0; 32]),
            (2, h(2), h(1).to_vec()),
            (3, h(3), h(2).to_vec()),
        ]);
        assert!(c.is_whole(), "{c:?}");
        assert_eq!(c.receipts, 3);
    }

    #[test]
    fn gaps_broken_links_and_conflicts_are_named() {
        let c = chain_of(&[
            (1, h(1), vec![1; 32]),
            (2, h(2), h(1).to_vec()),
            (5, h(5), h(4).to_vec()),
            (6, h(6), h(9).to_vec()),
            (6, h(7), h(5).to_vec()),
            (8, h(8), h(7).to_vec()),
        ]);
        assert_eq!(
            c.missing,
            [SeqRange { from: 3, to: 4 }, SeqRange { from: 7, to: 7 }]
        );
        assert_eq!(c.broken, [1, 6]);
        assert_eq!(c.conflicting, [6]);
        assert_eq!(
            c.problems(),
            [
                "receipts 3 to 4 are missing",
                "receipt 7 is missing",
                "receipt 1 does not start the chain",
                "receipt 6 does not follow on from receipt 5",
                "the agency signed two different receipts numbered 6"
            ]
        );
    }

    #[test]
    fn a_huge_number_is_one_range_not_a_long_list() {
        let c = chain_of(&[(1, h(1), vec![0; 32]), (u64::MAX, h(2), vec![0; 32])]);
        assert_eq!(
            c.missing,
            [SeqRange {
                from: 2,
                to: u64::MAX - 1
            }]
        );
    }

    #[test]
    fn agency_words_are_one_short_line() {
        assert_eq!(plain_words("Alice\nSmith.", 80), "Alice Smith");
        assert_eq!(plain_words("abcdef", 3), "abc…");
    }
}
