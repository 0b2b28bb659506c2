//! Rule packs the citizen added: signed by an agency they already added, checked
//! against its pinned card, evaluated on this computer only. The activity log says that
//! a pack was added and that rules were evaluated, never outcomes or values.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use serde_json::{Value, json};
use time::Date;
use twin_rules::{Facts, FactsError, Outcome, RecordFact, RulePack};
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
    /// The pack's id.
    pub pack: String,
    /// Its version.
    pub version: u32,
    /// Its title.
    pub title: String,
    /// How many rules it holds.
    pub rules: usize,
}

fn summary(p: &RulePack) -> PackSummary {
    PackSummary {
        publisher: p.publisher().clone(),
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
                    "it comes from {publisher}, an agency you have not added; add its card with `twin agency add` first"
                ))
            })?;
        let card = self.card(&publisher)?;
        let payload = twin_protocol::verify_rule_pack(bytes, &card, now_secs()).map_err(refused)?;
        let pack = RulePack::load(&payload, today).map_err(refused)?;
        let s = summary(&pack);
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
        self.packs(today).iter().map(summary).collect()
    }

    /// The publisher, purpose code and fields read of the rule `rule` (its id) in force on
    /// `today` in a kept pack: exactly what a share made from it holds.
    pub fn rule_share(
        &self,
        rule: &str,
        today: Date,
    ) -> Result<(AgencyId, String, Vec<FieldPath>), VaultError> {
        for p in self.packs(today) {
            if let Some(r) = p
                .rules()
                .iter()
                .find(|r| r.id().to_string() == rule && r.in_force(today))
            {
                return Ok((
                    p.publisher().clone(),
                    r.purpose().to_owned(),
                    r.fields_read().iter().cloned().collect(),
                ));
            }
        }
        Err(refused(format!(
            "no rule pack you added has a rule called \"{rule}\" in force today; `twin suggest` lists them"
        )))
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
