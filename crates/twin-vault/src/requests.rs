//! Agency requests on the citizen's side: an agency asks first; the citizen sees what,
//! why, under which law and for how long — with over-asking flagged — and approves
//! (trimming the fields) into a grant, or declines.
//!
//! Ledger: `grants.requests.<request id>`: `request` (the signed request, base64),
//! `agency`, `state` (`pending`, `approved`, `declined`), `grant` (when approved).

use serde::Serialize;
use serde_json::{Value, json};
use twin_protocol::{AgencyRequest, TrustList};
use twin_types::{AgencyId, FieldPath};

use crate::sharing::{Shared, b64, from_b64, now_secs, summary_of};
use crate::{Vault, VaultError, human_date};

/// A request as the citizen sees it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestSummary {
    /// Its id.
    pub id: String,
    /// The agency asking.
    pub agency: AgencyId,
    /// Its name (with "(SANDBOX)" where it applies).
    pub agency_name: String,
    /// The fields asked for.
    pub fields: Vec<String>,
    /// Fields the agency's card does not list for this purpose: over-asking.
    pub over_asking: Vec<String>,
    /// Why, in plain words.
    pub purpose: String,
    /// The law that allows it.
    pub legal_basis: String,
    /// How long the agency keeps what it receives, in days.
    pub retention_days: u32,
    /// For how long it asks to read the fields, in seconds.
    pub duration_secs: i64,
    /// The agency's case reference.
    pub case_ref: Option<String>,
    /// Record types it asks to send back (a benefit award, an identity link, …).
    pub records: Vec<String>,
    /// For how long after approval it may send them, in seconds.
    pub records_secs: i64,
    /// The request lapses after this time (seconds since 1970, UTC).
    pub expires_at: i64,
    /// `pending`, `approved`, `declined` or `lapsed`.
    pub state: String,
}

impl Vault {
    /// Imports a request an agency sent, verified against that agency's pinned card. A
    /// request already held is not written again.
    pub fn import_request(&mut self, bytes: &[u8]) -> Result<RequestSummary, VaultError> {
        self.import_request_inner(bytes, None).map(|(r, _)| r)
    }

    /// [`Vault::import_request`], from `only` that agency if given; also says whether the
    /// request was new.
    pub(crate) fn import_request_inner(
        &mut self,
        bytes: &[u8],
        only: Option<&AgencyId>,
    ) -> Result<(RequestSummary, bool), VaultError> {
        let now = now_secs();
        let mut last = None;
        for agency in self.agencies() {
            if only.is_some_and(|a| *a != agency.id) {
                continue;
            }
            let card = self.card(&agency.id)?;
            match AgencyRequest::verify(bytes, &card, now) {
                Ok(v) => {
                    let id = v.request.request_id.to_string();
                    let path = ["grants", "requests", id.as_str()];
                    let new = self.doc.ledger_get(&path).is_empty();
                    if new {
                        let prov = self.prov("received a request");
                        self.doc.ledger_put(
                            &path,
                            &[
                                ("request", b64(bytes)),
                                ("agency", json!(agency.id.as_str())),
                                ("state", json!("pending")),
                            ],
                            &prov,
                        )?;
                        let mut line = format!(
                            "{} asked for your {} for '{}'.",
                            agency.display_name(),
                            twin_doc::describe_titles(&v.request.fields),
                            v.purpose.words
                        );
                        if !v.over_asking.is_empty() {
                            line.push_str(&format!(
                                " It asked for more than its card lists for that purpose: {}.",
                                twin_doc::describe_titles(&v.over_asking)
                            ));
                        }
                        self.commit("request-received", line, Vec::new())?;
                    }
                    return self.request(&id).map(|r| (r, new));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(VaultError::Request(
            last.map(|e| e.to_string())
                .unwrap_or_else(|| "it does not come from an agency you have added".into()),
        ))
    }

    fn request(&self, id: &str) -> Result<RequestSummary, VaultError> {
        let e = self.doc.ledger_get(&["grants", "requests", id]);
        let unknown = || VaultError::UnknownRequest(id.chars().take(40).collect());
        let bytes = from_b64(e.get("request")).ok_or_else(unknown)?;
        let agency = e
            .get("agency")
            .and_then(Value::as_str)
            .and_then(|a| AgencyId::parse(a).ok())
            .ok_or_else(unknown)?;
        let card = self.card(&agency)?;
        // Verified again without the time checks (the signature, card key, agency and
        // purpose still count), so a lapsed request still shows, marked as lapsed.
        let issued = twin_protocol::AgencyRequest::verify(&bytes, &card, i64::MIN)
            .map_err(|e| VaultError::Request(e.to_string()))?;
        let r = &issued.request;
        let mut state = e
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("pending")
            .to_owned();
        if state == "pending" && now_secs() > r.expires_at {
            state = "lapsed".into();
        }
        Ok(RequestSummary {
            id: id.to_owned(),
            agency_name: summary_of(&card).display_name(),
            agency,
            fields: r.fields.iter().map(FieldPath::to_string).collect(),
            over_asking: issued
                .over_asking
                .iter()
                .map(FieldPath::to_string)
                .collect(),
            purpose: issued.purpose.words.clone(),
            legal_basis: issued.purpose.legal_basis.clone(),
            retention_days: issued.purpose.retention_days,
            duration_secs: r.duration_secs,
            case_ref: r.case_ref.clone(),
            records: r.records.clone(),
            records_secs: r.records_secs,
            expires_at: r.expires_at,
            state,
        })
    }

    /// Every request received.
    pub fn requests(&self) -> Vec<RequestSummary> {
        self.doc
            .ledger_children(&["grants", "requests"])
            .iter()
            .filter_map(|id| self.request(id).ok())
            .collect()
    }

    /// Approves a pending request with the fields the citizen keeps (a subset of those
    /// asked for; all of them if `fields` is empty): a grant answering it, with its id and
    /// case reference, for its purpose and duration.
    pub fn approve_request(
        &mut self,
        id: &str,
        fields: &[String],
        trust: &TrustList,
    ) -> Result<Shared, VaultError> {
        let summary = self.request(id)?;
        if summary.state != "pending" {
            return Err(VaultError::Request(format!(
                "this request is {}, so it cannot be approved",
                summary.state
            )));
        }
        let fields: Vec<String> = if fields.is_empty() {
            summary.fields.clone()
        } else {
            fields.to_vec()
        };
        if let Some(extra) = fields.iter().find(|f| !summary.fields.contains(f)) {
            return Err(VaultError::Request(format!(
                "the agency did not ask for {extra}; to share more, make a separate share"
            )));
        }
        let card = self.trusted_card(&summary.agency, trust)?;
        let e = self.doc.ledger_get(&["grants", "requests", id]);
        let bytes =
            from_b64(e.get("request")).ok_or_else(|| VaultError::UnknownRequest(id.into()))?;
        let now = now_secs();
        let verified = AgencyRequest::verify(&bytes, &card, now)
            .map_err(|e| VaultError::Request(e.to_string()))?;
        let shared = self.make_grant(verified.answer(&card, now), &card, &fields, now)?;
        let prov = self.prov("approved a request");
        self.doc.ledger_put(
            &["grants", "requests", id],
            &[
                ("state", json!("approved")),
                ("grant", json!(shared.summary.id.to_string())),
            ],
            &prov,
        )?;
        let line = format!(
            "You approved {}'s request for '{}' with {} of the {} fields it asked for, until {}.",
            summary.agency_name,
            summary.purpose,
            fields.len(),
            summary.fields.len(),
            human_date(shared.summary.expires_at)
        );
        self.commit("request-approved", line, Vec::new())?;
        Ok(shared)
    }

    /// Declines a pending request: nothing is shared.
    pub fn decline_request(&mut self, id: &str) -> Result<RequestSummary, VaultError> {
        let summary = self.request(id)?;
        if summary.state != "pending" {
            return Err(VaultError::Request(format!(
                "this request is {}, so it cannot be declined",
                summary.state
            )));
        }
        let prov = self.prov("declined a request");
        self.doc.ledger_put(
            &["grants", "requests", id],
            &[("state", json!("declined"))],
            &prov,
        )?;
        let line = format!(
            "You declined {}'s request for '{}'. Nothing was shared.",
            summary.agency_name, summary.purpose
        );
        self.commit("request-declined", line, Vec::new())?;
        self.request(id)
    }
}
