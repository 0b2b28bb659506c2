//! Shapes the vault's answers for the UI: the twin as categories and fields with the
//! schema's titles and hints, a share handed over as the citizen chose, and the facts the
//! delete screen states. Decisions stay in `twin-vault` and `twin-sync`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use twin_schema::{Catalog, Kind};
use twin_types::{AgencyId, Category};
use twin_vault::twin_rules::{Facts, Outcome};
use twin_vault::{
    DecisionCheck, DeleteReport, GrantSummary, IfSharesActive, PackSummary, Passphrase,
    RecoveryCode, Shared, TrustList, Vault, VaultError,
};

use crate::error::UiError;
use crate::session::Session;

/// How strong a passphrase looks, for the meter on the welcome screen.
#[derive(Debug, Serialize)]
pub struct Strength {
    /// 0 (guessed at once) to 4 (very hard to guess), by the zxcvbn estimator.
    pub score: u8,
    /// Long enough for the vault to accept it.
    pub long_enough: bool,
    /// The estimator's warning, if any.
    pub warning: Option<String>,
    /// Its suggestions.
    pub suggestions: Vec<String>,
}

pub fn strength(passphrase: &str) -> Strength {
    let long_enough = passphrase.chars().count() >= 10;
    if passphrase.is_empty() {
        return Strength {
            score: 0,
            long_enough,
            warning: None,
            suggestions: vec![],
        };
    }
    let est = zxcvbn::zxcvbn(passphrase, &["citizen", "twin"]);
    let feedback = est.feedback();
    Strength {
        score: est.score() as u8,
        long_enough,
        warning: feedback.and_then(|f| f.warning()).map(|w| w.to_string()),
        suggestions: feedback
            .map(|f| f.suggestions().iter().map(|s| s.to_string()).collect())
            .unwrap_or_default(),
    }
}

/// The recovery code, shown once, and which group the citizen must type back.
#[derive(Debug, Serialize)]
pub struct RecoveryCodeView {
    /// The code's groups, in order.
    pub groups: Vec<String>,
    /// Which group (1-based) to type back, to show it was kept.
    pub check_group: usize,
}

pub fn show_recovery_code(s: &Session, code: RecoveryCode) -> RecoveryCodeView {
    let groups: Vec<String> = code.display().split('-').map(str::to_owned).collect();
    let check_group = 1 + usize::from(twin_crypto::random_array::<1>()[0]) % groups.len().max(1);
    s.hold_recovery_code(code);
    RecoveryCodeView {
        groups,
        check_group,
    }
}

pub fn group_matches(code: &RecoveryCode, group: usize, typed: &str) -> bool {
    let typed: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect();
    code.group(group).is_some_and(|g| *g == typed)
}

/// Creates a new file only the owner can read; never overwrites one.
fn create_private_new(path: &Path) -> Result<std::fs::File, UiError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| not_saved(path, &e))
}

fn not_saved(path: &Path, e: &std::io::Error) -> UiError {
    let why = if e.kind() == std::io::ErrorKind::AlreadyExists {
        "a file with that name is already there; choose another name".to_owned()
    } else {
        e.to_string()
    };
    UiError::new(
        "file-not-saved",
        format!("Could not save {}: {why}.", path.display()),
    )
}

fn write_all(mut f: std::fs::File, path: &Path, bytes: &[u8]) -> Result<(), UiError> {
    use std::io::Write;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| {
        let _ = std::fs::remove_file(path);
        not_saved(path, &e)
    })
}

/// Writes a new file only the owner can read; never overwrites one.
pub fn write_private_new(path: &Path, bytes: &[u8]) -> Result<(), UiError> {
    write_all(create_private_new(path)?, path, bytes)
}

/// The whole twin for the "My twin" screen.
#[derive(Debug, Serialize)]
pub struct TwinView {
    /// Every category, in order.
    pub categories: Vec<CategoryView>,
    /// Fields where two computers wrote different values.
    pub conflicts: usize,
}

/// One category.
#[derive(Debug, Serialize)]
pub struct CategoryView {
    /// `personal`, `government`, `health` or `social`.
    pub id: Category,
    /// Health and social need the citizen's opt-in.
    pub needs_opt_in: bool,
    /// Opted in (always, for personal and government).
    pub opted_in: bool,
    /// Its fields.
    pub fields: Vec<FieldView>,
}

/// One field: its rules from the schema, its value now.
#[derive(Debug, Serialize)]
pub struct FieldView {
    /// Its path (`personal.address.postcode`).
    pub path: String,
    /// Its name in plain words.
    pub title: String,
    /// What goes in it.
    pub hint: String,
    /// `text`, `integer`, `number` or `list`.
    pub kind: &'static str,
    /// Its value, or `null`.
    pub value: Value,
}

pub fn twin(v: &mut Vault) -> Result<TwinView, VaultError> {
    let catalog = Catalog::get();
    let mut categories = Vec::new();
    for c in Category::ALL {
        let opted_in = v.opted_in(c);
        let mut fields = Vec::new();
        for f in catalog.fields().filter(|f| f.category() == c) {
            let value = if opted_in {
                v.get(f.path().as_str())?.unwrap_or(Value::Null)
            } else {
                Value::Null
            };
            fields.push(FieldView {
                path: f.path().to_string(),
                title: f.title().to_owned(),
                hint: f.hint().to_owned(),
                kind: match f.kind() {
                    Kind::Text => "text",
                    Kind::Integer => "integer",
                    Kind::Number => "number",
                    Kind::List => "list",
                },
                value,
            });
        }
        categories.push(CategoryView {
            id: c,
            needs_opt_in: c.needs_opt_in(),
            opted_in,
            fields,
        });
    }
    Ok(TwinView {
        categories,
        conflicts: v.conflicts().len(),
    })
}

/// A field two computers changed: choose one value.
#[derive(Debug, Serialize)]
pub struct Conflict {
    /// The field.
    pub path: String,
    /// Its name in plain words.
    pub title: String,
    /// The values, the one shown now first.
    pub values: Vec<Value>,
}

pub fn conflicts(v: &Vault) -> Vec<Conflict> {
    v.conflicts()
        .into_iter()
        .map(|(path, values)| Conflict {
            title: Catalog::get()
                .field(path.as_str())
                .map(|f| f.title().to_owned())
                .unwrap_or_else(|_| path.to_string()),
            path: path.to_string(),
            values,
        })
        .collect()
}

/// The share wizard's choices.
#[derive(Debug, Deserialize)]
pub struct ShareInput {
    /// The agency.
    pub agency: String,
    /// The fields.
    pub fields: Vec<String>,
    /// The purpose, as on the agency's card.
    pub purpose: String,
    /// For how long the agency may read them, in days.
    pub days: u32,
    /// Record types the agency may send back.
    pub records: Vec<String>,
    /// For how long after sharing it may send them, in days.
    pub records_days: u32,
    /// The agency may use it once only.
    pub single_use: bool,
}

const DAY: i64 = 86_400;

impl ShareInput {
    pub fn into_request(self) -> Result<twin_vault::ShareRequest, UiError> {
        let agency = AgencyId::parse(&self.agency)
            .map_err(|e| UiError::new("unknown-agency", e.to_string()))?;
        Ok(twin_vault::ShareRequest {
            agency,
            fields: self.fields,
            purpose: self.purpose,
            duration_secs: i64::from(self.days) * DAY,
            records: self.records,
            records_secs: i64::from(self.records_days) * DAY,
            single_use: self.single_use,
        })
    }
}

/// How a new share reaches its agency.
#[derive(Debug, Deserialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum Delivery {
    /// Over the internet, now (and by the next sync if the agency is unreachable).
    Send,
    /// As a file the citizen hands over.
    File {
        /// Where to save it.
        path: PathBuf,
    },
    /// On paper or screen: the text form and its QR code.
    Paper,
}

/// What became of a new share.
#[derive(Debug, Serialize)]
pub struct ShareOutcome {
    /// The share as the citizen sees it now.
    pub grant: GrantSummary,
    /// The text form, for paper (sealed: only the agency can read the values).
    pub text: Option<String>,
    /// Its QR code as an SVG document.
    pub qr_svg: Option<String>,
    /// Where the file was saved.
    pub file: Option<String>,
    /// What sending did, when sent.
    pub sent: Option<twin_sync::SyncReport>,
}

/// Makes a share and hands it over as the citizen chose. Whatever can fail before the
/// share exists is checked first (the file can be created), so a failed hand-over does
/// not leave behind a share that never reached anyone.
pub fn share(
    v: &mut Vault,
    trust: &TrustList,
    req: &twin_vault::ShareRequest,
    how: &Delivery,
) -> Result<ShareOutcome, UiError> {
    let file = match how {
        Delivery::File { path } => Some((create_private_new(path)?, path)),
        _ => None,
    };
    let shared = match v.share(req, trust) {
        Ok(s) => s,
        Err(e) => {
            if let Some((_, path)) = file {
                let _ = std::fs::remove_file(path);
            }
            return Err(e.into());
        }
    };
    let id = shared.summary.id;
    let mut out = ShareOutcome {
        grant: shared.summary,
        text: None,
        qr_svg: None,
        file: None,
        sent: None,
    };
    match (how, file) {
        (Delivery::File { .. }, Some((f, path))) => {
            write_all(f, path, &shared.bytes)?;
            out.file = Some(path.display().to_string());
        }
        (Delivery::Paper, _) => match shared.text.map_err(|e| e.to_string()).and_then(|t| {
            let svg = qr_svg(&t)?;
            Ok((t, svg))
        }) {
            Ok((text, svg)) => {
                out.text = Some(text);
                out.qr_svg = Some(svg);
            }
            Err(why) => {
                // Never handed over: stop it at once, so nothing is left active.
                v.revoke(&id.to_string())?;
                return Err(UiError::new(
                    "too-big-for-paper",
                    format!(
                        "This share is too big for paper or a QR code ({why}), so nothing was shared. Save it as a file or send it instead."
                    ),
                ));
            }
        },
        _ => {
            v.mark_to_send(&id)?;
            out.sent = Some(twin_sync::send_share(v, trust, id)?);
        }
    }
    if let Some(g) = v.grants().into_iter().find(|g| g.id == id) {
        out.grant = g;
    }
    Ok(out)
}

/// Sends a share the vault just made (an approved request).
pub fn send(v: &mut Vault, trust: &TrustList, shared: Shared) -> Result<ShareOutcome, UiError> {
    let id = shared.summary.id;
    v.mark_to_send(&id)?;
    let sent = twin_sync::send_share(v, trust, id)?;
    let grant = v
        .grants()
        .into_iter()
        .find(|g| g.id == id)
        .unwrap_or(shared.summary);
    Ok(ShareOutcome {
        grant,
        text: None,
        qr_svg: None,
        file: None,
        sent: Some(sent),
    })
}

fn qr_svg(text: &str) -> Result<String, String> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| e.to_string())?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build())
}

/// A share stopped: at once on this computer, then the agency is told if it can be.
#[derive(Debug, Serialize)]
pub struct Revoked {
    /// The share now.
    pub grant: GrantSummary,
    /// What telling the agency did.
    pub sent: Option<twin_sync::SyncReport>,
    /// Why the agency could not be told now (the next sync tries again).
    pub not_sent: Option<UiError>,
}

pub fn revoke(v: &mut Vault, id: &str) -> Result<Revoked, UiError> {
    let g = v.revoke(id)?;
    // Notices go to every agency, trusted now or not: no values travel.
    let (sent, not_sent) = match twin_sync::send_notices(v, &TrustList::default(), Some(g.id)) {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(UiError::from(e))),
    };
    let grant = v.grants().into_iter().find(|x| x.id == g.id).unwrap_or(g);
    Ok(Revoked {
        grant,
        sent,
        not_sent,
    })
}

/// The words the citizen types to delete the twin.
pub const DELETE_PHRASE: &str = "delete my twin";

/// What deleting the twin destroys, for the delete screen.
#[derive(Debug, Serialize)]
pub struct DeletionSummary {
    /// Fields holding a value.
    pub fields: usize,
    /// Records from agencies.
    pub records: usize,
    /// Audit log entries.
    pub audit_entries: u64,
    /// Shares still active whose agency was not told to stop.
    pub active_shares: Vec<GrantSummary>,
    /// Backups exported from this twin (they are not on this computer's vault folder).
    pub backups: usize,
    /// The vault folder.
    pub dir: String,
    /// What to type.
    pub phrase: &'static str,
}

pub fn deletion_summary(v: &mut Vault) -> Result<DeletionSummary, VaultError> {
    let status = v.status()?;
    Ok(DeletionSummary {
        fields: status.fields_set,
        records: v.records()?.len(),
        audit_entries: status.locked.audit_entries,
        active_shares: v.outstanding_shares(),
        backups: status.backups,
        dir: status.locked.dir.display().to_string(),
        phrase: DELETE_PHRASE,
    })
}

pub fn delete_twin(
    s: &Session,
    typed: &str,
    passphrase: &Passphrase,
    even_with_active_shares: bool,
) -> Result<DeleteReport, UiError> {
    if !typed.eq_ignore_ascii_case(DELETE_PHRASE) {
        return Err(UiError::new(
            "confirmation-mismatch",
            format!("Type \"{DELETE_PHRASE}\" to confirm. Nothing was deleted."),
        ));
    }
    let vault = s.take_if(|v| {
        s.recheck_passphrase(v, passphrase)?;
        // Stop every share and tell its agency first, while the pairwise keys exist.
        let (_, left) = twin_sync::stop_every_share(v)?;
        if !left.is_empty() && !even_with_active_shares {
            let mut names: Vec<String> = left.iter().map(|g| g.agency_name.clone()).collect();
            names.sort();
            names.dedup();
            return Err(UiError::new(
                "active-shares",
                format!(
                    "Your twin was not deleted: {} could not be told to stop using your shares (they are stopped on this computer). Once your twin is deleted they can never be told. Try again later, or choose to delete anyway.",
                    names.join(", ")
                ),
            ));
        }
        Ok(())
    })?;
    vault.lock()?;
    let policy = if even_with_active_shares {
        IfSharesActive::DeleteAnyway
    } else {
        IfSharesActive::Refuse
    };
    Ok(twin_vault::delete_vault(&s.dir, policy)?)
}

/// The "For you" page: every rule of every kept pack worked out now, and the decisions
/// agencies sent back re-checked against the rules they cite.
#[derive(Debug, Serialize)]
pub struct ForYou {
    /// The rule packs kept.
    pub packs: Vec<PackSummary>,
    /// Every rule, worked out on this computer.
    pub outcomes: Vec<Outcome>,
    /// Decisions re-checked.
    pub decisions: Vec<DecisionCheck>,
    /// Worked out with "what if" values (the twin is not changed).
    pub what_if: bool,
}

/// A "what if" value: a field's path and the value as typed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatIf {
    pub path: String,
    pub value: String,
}

/// One pre-filled line the citizen accepted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefillLineInput {
    pub line: String,
    pub value: Value,
}

pub fn for_you(v: &mut Vault, what_if: &[WhatIf]) -> Result<ForYou, UiError> {
    let overrides = what_if
        .iter()
        .map(|w| Facts::parse_override(&format!("{}={}", w.path.trim(), w.value)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| UiError::new("invalid-what-if", crate::error::sentence(&e.to_string())))?;
    let today = today();
    Ok(ForYou {
        packs: v.rule_packs(today),
        outcomes: v.suggest(today, &overrides)?,
        decisions: v.check_decisions()?,
        what_if: !overrides.is_empty(),
    })
}

/// A reminder that is due now (within its rule's window, or overdue).
pub fn reminder_due(o: &Outcome) -> bool {
    o.reminder.as_ref().is_some_and(|r| r.in_window)
}

/// Today's date (UTC), for rules.
pub fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

/// Reads a rule-pack file the citizen chose, refusing one too big to be a pack before
/// reading it.
pub fn read_rule_pack(path: &Path) -> Result<Vec<u8>, UiError> {
    let unreadable = |e: std::io::Error| {
        UiError::new(
            "unreadable-file",
            format!("That file could not be read ({e}). Nothing was added."),
        )
    };
    let len = std::fs::metadata(path).map_err(unreadable)?.len();
    if len > twin_protocol::MAX_RULE_PACK_BYTES as u64 {
        return Err(UiError::new(
            "rule-pack-refused",
            "That file is too big to be a rule pack. Nothing was added.",
        ));
    }
    std::fs::read(path).map_err(unreadable)
}
