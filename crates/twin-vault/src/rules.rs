//! Rule packs the citizen added: signed by an agency they already added, checked
//! against its pinned card, evaluated on this computer only. The activity log says that
//! a pack was added and that rules were evaluated, never outcomes or values.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use serde_json::{Value, json};
use time::Date;
use twin_rules::{
    Agreement, Decision, Facts, FactsError, LineResult, Outcome, RecordFact, RuleId, RuleKind,
    RulePack,
};
use twin_types::{AgencyId, Category, FieldPath};

use crate::sharing::now_secs;
use crate::{Vault, VaultError};

/// Where packs live in the ledger: `grants/rule-packs/<publisher>/<pack id>`.
const LEDGER: &str = "rule-packs";

/// A rule pack kept in the vault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackSummary {
    /// The agency that published and signed it.
    pub publisher: AgencyId,
    /// The publisher's name (with "(SANDBOX)" where it applies).
    pub publisher_name: String,
    /// The pack's id.
    pub pack: String,
    /// Its version.
    pub version: u32,
    /// Its title.
    pub title: String,
    /// How many rules it holds.
    pub rules: usize,
}

fn summary(p: &RulePack, publisher_name: String) -> PackSummary {
    PackSummary {
        publisher: p.publisher().clone(),
        publisher_name,
        pack: p.id().to_string(),
        version: p.version(),
        title: p.title().to_owned(),
        rules: p.rules().len(),
    }
}

/// The `publisher` member of a pack's JSON, read from inside the signed message before
/// the signature is checked (only to find which pinned card to check it against).
fn claimed_publisher(bytes: &[u8]) -> Option<AgencyId> {
    // The payload is the pack's JSON inside a COSE_Sign1: find `"publisher"` by parsing
    // every `{` start that makes a JSON object with one.
    if bytes.len() > twin_protocol::MAX_RULE_PACK_BYTES {
        return None;
    }
    let text = bytes;
    for (i, b) in text.iter().enumerate() {
        if *b != b'{' {
            continue;
        }
        let mut de = serde_json::Deserializer::from_slice(&text[i..]).into_iter::<Value>();
        if let Some(Ok(v)) = de.next()
            && let Some(p) = v.get("publisher").and_then(Value::as_str)
        {
            return AgencyId::parse(p).ok();
        }
    }
    None
}

/// Where accepted pre-filled lines are kept, and the one field their share holds.
const RETURN_LINES: &str = "government.tax.return_lines";

/// The records an agency may send back under a share made from a rule of `kind`: its
/// decision, for an eligibility rule (if its card says it issues them).
fn decision_records(kind: RuleKind) -> Vec<String> {
    match kind {
        RuleKind::Eligibility => vec!["benefit-award/v1".to_owned()],
        RuleKind::Prefill | RuleKind::Reminder => Vec::new(),
    }
}

/// The share a rule or an accepted pre-fill makes, for the citizen to review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleShare {
    /// The rule's id.
    pub rule: String,
    /// The rule's title.
    pub title: String,
    /// The agency that published it.
    pub agency: AgencyId,
    /// Its name (with "(SANDBOX)" where it applies).
    pub agency_name: String,
    /// The purpose code on its card.
    pub purpose: String,
    /// The purpose in plain words, as its card says (the code if the card lacks it).
    pub purpose_words: String,
    /// Exactly the fields to share.
    pub fields: Vec<String>,
    /// The record types the agency may send back.
    pub records: Vec<String>,
}

/// An agency's decision re-checked against the rule it cites.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionCheck {
    /// The record's id.
    pub record: String,
    /// The agency that decided.
    pub agency: AgencyId,
    /// Its name.
    pub agency_name: String,
    /// The benefit decided on.
    pub benefit: String,
    /// When the decision was issued (seconds since 1970, UTC).
    pub issued_at: i64,
    /// What the re-check found, when it could be made.
    pub agreement: Option<Agreement>,
    /// Why it could not be made, in plain words.
    pub problem: Option<String>,
    /// The twin's values differ from those last sent: the check used the values now.
    pub values_changed: bool,
}

fn refused(reason: impl std::fmt::Display) -> VaultError {
    VaultError::RulePack(reason.to_string())
}

impl Vault {
    /// Adds a signed rule pack: its signature must hold against the pinned card of the
    /// agency it names as publisher (one the citizen added), and the pack must load
    /// ([`RulePack::load`]) on `today`. Only the highest version of each pack is kept; an
    /// older or equal version is refused.
    pub fn add_rule_pack(&mut self, bytes: &[u8], today: Date) -> Result<PackSummary, VaultError> {
        let publisher = claimed_publisher(bytes)
            .ok_or_else(|| refused("this is not a signed rule pack, or it is damaged"))?;
        let agency = self
            .agencies()
            .into_iter()
            .find(|a| a.id == publisher)
            .ok_or_else(|| {
                refused(format!(
                    "it comes from {publisher}, an agency you have not added; add that agency first"
                ))
            })?;
        let card = self.card(&publisher)?;
        let payload = twin_protocol::verify_rule_pack(bytes, &card, now_secs()).map_err(refused)?;
        let pack = RulePack::load(&payload, today).map_err(refused)?;
        let s = summary(&pack, agency.display_name());
        let path = ["grants", LEDGER, publisher.as_str()];
        if let Some(have) = self.kept_version(&publisher, &s.pack)
            && have >= s.version
        {
            return Err(refused(format!(
                "you already have version {have} of {} from {}; this one is version {}",
                s.title,
                agency.display_name(),
                s.version
            )));
        }
        let entry = json!({ "version": s.version, "signed": B64.encode(bytes) });
        let prov = self.prov("added a rule pack");
        self.doc.ledger_put(
            &path,
            &[(s.pack.as_str(), Value::String(entry.to_string()))],
            &prov,
        )?;
        let line = format!(
            "You added rule pack {} version {} from {}.",
            s.pack,
            s.version,
            agency.display_name()
        );
        self.commit("rule-pack-added", line, Vec::new())?;
        Ok(s)
    }

    fn kept_version(&self, publisher: &AgencyId, pack: &str) -> Option<u32> {
        let entry = self
            .doc
            .ledger_get(&["grants", LEDGER, publisher.as_str()])
            .remove(pack)?;
        let v: Value = serde_json::from_str(entry.as_str()?).ok()?;
        v.get("version")?
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
    }

    /// Every kept pack that still verifies against its publisher's pinned card and loads
    /// on `today`, highest version of each.
    fn packs(&self, today: Date) -> Vec<RulePack> {
        let mut out = Vec::new();
        for agency in self.agencies() {
            let Ok(card) = self.card(&agency.id) else {
                continue;
            };
            for (_, entry) in self.doc.ledger_get(&["grants", LEDGER, agency.id.as_str()]) {
                let signed = entry
                    .as_str()
                    .and_then(|s| serde_json::from_str::<Value>(s).ok())
                    .and_then(|v| v.get("signed").and_then(Value::as_str).map(str::to_owned))
                    .and_then(|b| B64.decode(b).ok());
                let Some(signed) = signed else { continue };
                let pack = twin_protocol::verify_rule_pack(&signed, &card, now_secs())
                    .ok()
                    .and_then(|payload| RulePack::load(&payload, today).ok());
                out.extend(pack);
            }
        }
        out
    }

    /// The rule packs kept in the vault that verify and load on `today`.
    pub fn rule_packs(&self, today: Date) -> Vec<PackSummary> {
        self.packs(today)
            .iter()
            .map(|p| summary(p, self.agency_name(p.publisher())))
            .collect()
    }

    fn purpose_words(&self, agency: &AgencyId, code: &str) -> String {
        self.card(agency)
            .ok()
            .and_then(|c| c.purposes.into_iter().find(|p| p.code == code))
            .map_or_else(|| code.to_owned(), |p| p.words)
    }

    fn agency_name(&self, id: &AgencyId) -> String {
        self.agencies()
            .into_iter()
            .find(|a| &a.id == id)
            .map_or_else(|| id.to_string(), |a| a.display_name())
    }

    /// The share "apply" makes from the rule `rule` (its id) in force on `today` in a
    /// kept pack: to its publisher, for its purpose, with exactly the fields it reads.
    pub fn rule_share(&self, rule: &str, today: Date) -> Result<RuleShare, VaultError> {
        let (pack, r) = self.rule_in_force(rule, today)?;
        Ok(RuleShare {
            rule: r.id().to_string(),
            title: r.title().to_owned(),
            agency: pack.publisher().clone(),
            agency_name: self.agency_name(pack.publisher()),
            purpose: r.purpose().to_owned(),
            purpose_words: self.purpose_words(pack.publisher(), r.purpose()),
            fields: r.fields_read().iter().map(FieldPath::to_string).collect(),
            records: match self.card(pack.publisher()) {
                Ok(card) => decision_records(r.kind())
                    .into_iter()
                    .filter(|t| card.record_types.contains(t))
                    .collect(),
                Err(_) => Vec::new(),
            },
        })
    }

    fn rule_in_force(
        &self,
        rule: &str,
        today: Date,
    ) -> Result<(RulePack, twin_rules::Rule), VaultError> {
        for p in self.packs(today) {
            if let Some(r) = p
                .rules()
                .iter()
                .find(|r| r.id().as_str() == rule && r.in_force(today))
            {
                let r = r.clone();
                return Ok((p, r));
            }
        }
        Err(refused(format!(
            "no rule pack you added has a rule called \"{rule}\" in force today"
        )))
    }

    /// Keeps the pre-filled lines of rule `rule` (a `prefill` rule in force on `today`)
    /// that the citizen accepted, each with the value proposed or as they edited it, in
    /// `government.tax.return_lines`, and answers with the share that sends them to the
    /// rule's publisher. A line the rule does not propose is refused; so is a value of
    /// another kind than proposed (a number edited into text).
    pub fn accept_prefill(
        &mut self,
        rule: &str,
        accepted: &[(String, Value)],
        today: Date,
    ) -> Result<RuleShare, VaultError> {
        let (pack, r) = self.rule_in_force(rule, today)?;
        if r.kind() != RuleKind::Prefill {
            return Err(refused(format!(
                "{} is not a pre-fill rule, so it has no lines to accept",
                r.title()
            )));
        }
        if accepted.is_empty() {
            return Err(refused("accept at least one line to share"));
        }
        let facts = self.facts()?;
        let outcome = pack
            .evaluate_rule(r.id(), &facts, today)
            .ok_or_else(|| refused(format!("{} could not be worked out", r.title())))?;
        let mut lines = Vec::new();
        for (i, (line, value)) in accepted.iter().enumerate() {
            if accepted[..i].iter().any(|(seen, _)| seen == line) {
                return Err(refused(format!("line {line} was accepted twice")));
            }
            let proposed = outcome
                .prefill
                .iter()
                .find(|l| &l.line == line)
                .and_then(|l| match &l.result {
                    LineResult::Proposed { value, .. } => Some((l, value)),
                    _ => None,
                })
                .ok_or_else(|| {
                    refused(format!(
                        "line {line} has no value to accept in {}",
                        r.title()
                    ))
                })?;
            let (l, proposed) = proposed;
            if value.is_number() != proposed.is_number()
                || !(value.is_number() || value.is_string())
            {
                return Err(refused(format!(
                    "line {line} ({}) needs {}",
                    l.label,
                    if proposed.is_number() {
                        "a number"
                    } else {
                        "text"
                    }
                )));
            }
            lines.push(json!({ "line": line, "label": l.label, "value": value }));
        }
        let why = format!("accepted from the pre-filled {}", r.title());
        self.set_value(RETURN_LINES, Value::Array(lines), Some(&why))?;
        Ok(RuleShare {
            rule: r.id().to_string(),
            title: r.title().to_owned(),
            agency: pack.publisher().clone(),
            agency_name: self.agency_name(pack.publisher()),
            purpose: r.purpose().to_owned(),
            purpose_words: self.purpose_words(pack.publisher(), r.purpose()),
            fields: vec![RETURN_LINES.to_owned()],
            records: Vec::new(),
        })
    }

    /// Every decision an agency sent back (a verified, visible `benefit-award/v1`
    /// record that awards or refuses and cites a rule) re-checked against that rule, as
    /// published in a pack the citizen added, on the values shared under the record's
    /// share. Reads only; writes nothing.
    pub fn check_decisions(&mut self) -> Result<Vec<DecisionCheck>, VaultError> {
        let mut out = Vec::new();
        for r in self.records()? {
            if !r.verified || r.hidden || r.record_type != "benefit-award/v1" {
                continue;
            }
            let decision = match r.body.get("decision").and_then(Value::as_str) {
                Some("awarded") => Decision::Awarded,
                Some("refused") => Decision::Refused,
                _ => continue,
            };
            let Some(cited) = r.body.get("rule") else {
                continue;
            };
            let (Some(pack_id), Some(rule_id), Some(version)) = (
                cited.get("pack").and_then(Value::as_str),
                cited.get("id").and_then(Value::as_str),
                cited
                    .get("version")
                    .and_then(Value::as_u64)
                    .and_then(|v| u32::try_from(v).ok()),
            ) else {
                continue;
            };
            let decided_on = time::OffsetDateTime::from_unix_timestamp(r.issued_at)
                .map(|t| t.date())
                .unwrap_or(time::Date::MIN);
            let mut check = DecisionCheck {
                record: r.id.clone(),
                agency: r.agency.clone(),
                agency_name: self.agency_name(&r.agency),
                benefit: r
                    .body
                    .get("benefit")
                    .and_then(Value::as_str)
                    .unwrap_or("A decision")
                    .to_owned(),
                issued_at: r.issued_at,
                agreement: None,
                problem: None,
                values_changed: false,
            };
            let pack = self
                .packs(decided_on)
                .into_iter()
                .find(|p| p.publisher() == &r.agency && p.id().as_str() == pack_id);
            let (Some(pack), Ok(rule_id)) = (pack, RuleId::parse(rule_id)) else {
                check.problem = Some(format!(
                    "it cites rule {rule_id} of rule pack {pack_id} from {}, which you have not added; add that pack to check the decision",
                    check.agency_name
                ));
                out.push(check);
                continue;
            };
            let (facts, changed) = self.shared_facts(&r.grant)?;
            check.values_changed = changed;
            match pack.check_decision(&rule_id, version, decision, &facts, decided_on) {
                Ok(a) => check.agreement = Some(a),
                Err(e) => check.problem = Some(e.to_string()),
            }
            out.push(check);
        }
        Ok(out)
    }

    /// The values shared under grant `grant` as rules see them, and whether the twin's
    /// values now differ from the ones last sent (then these are the values now: the
    /// shared values themselves were sealed to the agency and are not kept).
    fn shared_facts(&mut self, grant: &str) -> Result<(Facts, bool), VaultError> {
        let mut facts = Facts::new();
        for c in Category::ALL {
            if self.opted_in(c) {
                facts.opt_in(c);
            }
        }
        let Ok((g, _)) = self.grant(grant) else {
            return Ok((facts, false));
        };
        let (digest, values) = self.values_digest(&g.claims.fields)?;
        let sent = self
            .issued_entry(&g.claims.grant_id)
            .get("pushed_digest")
            .and_then(Value::as_str)
            .map(str::to_owned);
        for (path, value) in values {
            let _ = facts.set(path.as_str(), value);
        }
        Ok((facts, sent.is_some_and(|d| d != digest)))
    }

    /// The citizen's current values (only categories turned on) and verified, visible
    /// records, as rules see them.
    pub fn facts(&mut self) -> Result<Facts, VaultError> {
        let mut facts = Facts::new();
        for c in Category::ALL {
            if self.opted_in(c) {
                facts.opt_in(c);
            }
        }
        for (path, value) in self.show(None)? {
            if path.category().is_some_and(|c| !facts.is_available(c)) {
                continue;
            }
            // A value the schema no longer accepts is left out, not fatal.
            let _ = facts.set(path.as_str(), value);
        }
        for r in self.records()? {
            if !r.verified || r.hidden {
                continue;
            }
            let Some(issued_on) = time::OffsetDateTime::from_unix_timestamp(r.issued_at)
                .ok()
                .map(|t| t.date())
            else {
                continue;
            };
            facts.add_record(RecordFact {
                record_type: r.record_type,
                agency: r.agency,
                issued_on,
                body: r.body,
            });
        }
        Ok(facts)
    }

    /// Evaluates every kept pack on `today`, with `overrides` ("what if") applied to the
    /// citizen's values without changing the twin. Appends one activity-log line saying
    /// how many rules of how many packs were evaluated, never the outcomes.
    pub fn suggest(
        &mut self,
        today: Date,
        overrides: &[(FieldPath, Value)],
    ) -> Result<Vec<Outcome>, VaultError> {
        let facts = self
            .facts()?
            .with_overrides(overrides)
            .map_err(|e: FactsError| VaultError::RulePack(e.to_string()))?;
        let packs = self.packs(today);
        if packs.is_empty() {
            // Nothing was evaluated, so nothing to record.
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for p in &packs {
            out.extend(p.evaluate(&facts, today));
        }
        let line = format!(
            "Rules were evaluated ({} rules from {} packs).",
            out.len(),
            packs.len()
        );
        self.commit("rules-evaluated", line, Vec::new())?;
        Ok(out)
    }
}
