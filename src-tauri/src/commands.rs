//! The commands the UI may call. Each is a line or two over the vault façade
//! (`twin-vault`, `twin-sync`); what they return is described in
//! `schemas/app/desktop-api.schema.json`, from which the UI's types are generated.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tauri::State;
use twin_types::{Category, GrantId};
use twin_vault::{
    AccessReceipt, AgencySummary, AuditEntry, AuditReport, DeleteReport, EraseReport, GrantSummary,
    HistoryEntry, Passphrase, RecordSummary, RequestSummary, Vault,
};
use zeroize::Zeroizing;

use crate::error::UiError;
use crate::session::{Session, Settings};
use crate::view;

type Answer<T> = Result<T, UiError>;

/// Runs work that talks to an agency on a thread of its own. The HTTP client is blocking
/// (`twin-sync`), and a blocking client must not run on the async runtime's threads,
/// where Tauri runs commands.
fn networked<T: Send>(f: impl FnOnce() -> Answer<T> + Send) -> Answer<T> {
    std::thread::scope(|sc| sc.spawn(f).join()).unwrap_or_else(|_| {
        Err(UiError::new(
            "app-error",
            "The app could not complete that. Nothing you saved was changed. Please try again.",
        ))
    })
}

/// What the app is, and where the twin stands.
#[derive(Debug, Serialize)]
pub struct AppInfo {
    /// The app's version.
    pub version: &'static str,
    /// Sandbox agencies are believed: the app is for trying things out.
    pub sandbox: bool,
    /// The vault folder.
    pub vault_dir: String,
    /// A twin exists in that folder.
    pub has_vault: bool,
    /// It is unlocked now.
    pub unlocked: bool,
    /// The auto-lock time.
    pub settings: Settings,
    /// A sandbox agency started with the app (`make run`), to add in one click.
    pub sandbox_agency: Option<String>,
}

#[tauri::command]
pub fn app_info(s: State<'_, Session>) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION"),
        sandbox: s.sandbox,
        vault_dir: s.dir.display().to_string(),
        has_vault: twin_vault::holds_vault(&s.dir),
        unlocked: s.is_unlocked(),
        settings: s.settings(),
        sandbox_agency: s
            .sandbox
            .then(|| std::env::var("TWIN_SANDBOX_AGENCY").ok())
            .flatten(),
    }
}

#[tauri::command]
pub fn passphrase_strength(passphrase: Zeroizing<String>) -> view::Strength {
    view::strength(&passphrase)
}

#[tauri::command(async)]
pub fn create_twin(
    s: State<'_, Session>,
    passphrase: Zeroizing<String>,
) -> Answer<view::RecoveryCodeView> {
    let (vault, code) = Vault::init(&s.dir, &Passphrase::new(passphrase.to_string()))?;
    s.put(vault);
    Ok(view::show_recovery_code(&s, code.0))
}

#[tauri::command]
pub fn check_recovery_group(
    s: State<'_, Session>,
    group: usize,
    typed: Zeroizing<String>,
) -> Answer<bool> {
    s.with_recovery_code(|code| Ok(view::group_matches(code, group, &typed)))
}

#[tauri::command]
pub fn save_recovery_code(s: State<'_, Session>, path: PathBuf) -> Answer<()> {
    s.with_recovery_code(|code| view::write_private_new(&path, code.display().as_bytes()))
}

#[tauri::command]
pub fn forget_recovery_code(s: State<'_, Session>) {
    s.forget_recovery_code();
}

#[tauri::command(async)]
pub fn unlock(s: State<'_, Session>, passphrase: Zeroizing<String>) -> Answer<()> {
    s.may_try_unlock()?;
    match Vault::unlock(&s.dir, &Passphrase::new(passphrase.to_string())) {
        Ok(v) => {
            s.put(v);
            Ok(())
        }
        Err(e @ twin_vault::VaultError::WrongPassphrase) => Err(s.failed_unlock(e.into())),
        Err(e) => Err(e.into()),
    }
}

#[tauri::command(async)]
pub fn recover(
    s: State<'_, Session>,
    code: Zeroizing<String>,
    passphrase: Zeroizing<String>,
) -> Answer<view::RecoveryCodeView> {
    let (vault, new_code) =
        Vault::recover(&s.dir, &code, &Passphrase::new(passphrase.to_string()))?;
    s.put(vault);
    Ok(view::show_recovery_code(&s, new_code.0))
}

#[tauri::command(async)]
pub fn lock(s: State<'_, Session>) -> Answer<()> {
    s.lock().map(drop)
}

/// The UI saw the citizen type, click or scroll: the auto-lock clock restarts.
#[tauri::command]
pub fn still_here(s: State<'_, Session>) {
    s.touch();
}

#[tauri::command(async)]
pub fn twin(s: State<'_, Session>) -> Answer<view::TwinView> {
    s.with(view::twin)
}

#[tauri::command(async)]
pub fn set_field(s: State<'_, Session>, path: String, text: String) -> Answer<bool> {
    s.with(|v| v.set(&path, &text, Some("changed in the app")))
}

#[tauri::command(async)]
pub fn field_history(s: State<'_, Session>, path: String) -> Answer<Vec<HistoryEntry>> {
    s.with(|v| v.history(&path))
}

#[tauri::command(async)]
pub fn opt_in(s: State<'_, Session>, category: Category) -> Answer<bool> {
    s.with(|v| v.opt_in(category))
}

#[tauri::command(async)]
pub fn opt_out(s: State<'_, Session>, category: Category) -> Answer<Option<EraseReport>> {
    s.with(|v| v.opt_out(category))
}

#[tauri::command(async)]
pub fn erase(s: State<'_, Session>, path: String) -> Answer<EraseReport> {
    s.with(|v| v.erase(&path))
}

#[tauri::command(async)]
pub fn conflicts(s: State<'_, Session>) -> Answer<Vec<view::Conflict>> {
    s.with(|v| Ok(view::conflicts(v)))
}

#[tauri::command(async)]
pub fn choose_value(s: State<'_, Session>, path: String, value: Value) -> Answer<bool> {
    s.with(|v| v.set_value(&path, value, Some("chosen between two values in the app")))
}

#[tauri::command(async)]
pub fn records(s: State<'_, Session>) -> Answer<Vec<RecordSummary>> {
    s.with(|v| v.records())
}

#[tauri::command(async)]
pub fn hide_record(s: State<'_, Session>, id: String, hidden: bool) -> Answer<RecordSummary> {
    s.with(|v| {
        if hidden {
            v.hide_record(&id)
        } else {
            v.unhide_record(&id)
        }
    })
}

#[tauri::command(async)]
pub fn requests(s: State<'_, Session>) -> Answer<Vec<RequestSummary>> {
    s.with(|v| Ok(v.requests()))
}

#[tauri::command(async)]
pub fn approve_request(
    s: State<'_, Session>,
    id: String,
    fields: Vec<String>,
) -> Answer<view::ShareOutcome> {
    networked(|| {
        s.with_ui(|v| {
            let shared = v.approve_request(&id, &fields, &s.trust)?;
            view::send(v, &s.trust, shared)
        })
    })
}

#[tauri::command(async)]
pub fn decline_request(s: State<'_, Session>, id: String) -> Answer<RequestSummary> {
    s.with(|v| v.decline_request(&id))
}

#[tauri::command(async)]
pub fn agencies(s: State<'_, Session>) -> Answer<Vec<AgencySummary>> {
    s.with(|v| Ok(v.agencies()))
}

#[tauri::command(async)]
pub fn add_agency(s: State<'_, Session>, url: String) -> Answer<AgencySummary> {
    networked(|| {
        let card = twin_sync::fetch_card(&url)?;
        s.with(|v| v.add_agency(&card, &s.trust))
    })
}

#[tauri::command(async)]
pub fn share(
    s: State<'_, Session>,
    request: view::ShareInput,
    delivery: view::Delivery,
) -> Answer<view::ShareOutcome> {
    networked(|| s.with_ui(|v| view::share(v, &s.trust, &request.into_request()?, &delivery)))
}

#[tauri::command(async)]
pub fn grants(s: State<'_, Session>) -> Answer<Vec<GrantSummary>> {
    s.with(|v| Ok(v.grants()))
}

#[tauri::command(async)]
pub fn access_receipts(s: State<'_, Session>, id: GrantId) -> Answer<Vec<AccessReceipt>> {
    s.with(|v| v.access_receipts(&id))
}

#[tauri::command(async)]
pub fn revoke(s: State<'_, Session>, id: String) -> Answer<view::Revoked> {
    networked(|| s.with_ui(|v| view::revoke(v, &id)))
}

#[tauri::command(async)]
pub fn sync(s: State<'_, Session>) -> Answer<twin_sync::SyncReport> {
    networked(|| s.with(|v| twin_sync::sync(v, &s.trust)))
}

#[derive(Debug, Serialize)]
pub struct Activity {
    /// The audit log, oldest first.
    pub entries: Vec<AuditEntry>,
    /// Whether its hash chain holds.
    pub report: AuditReport,
    /// Whole and never cut short.
    pub intact: bool,
}

#[tauri::command(async)]
pub fn activity(s: State<'_, Session>) -> Answer<Activity> {
    s.with(|v| {
        let report = v.verify_audit()?;
        Ok(Activity {
            entries: v.audit()?,
            intact: report.is_intact(),
            report,
        })
    })
}

#[tauri::command(async)]
pub fn change_passphrase(
    s: State<'_, Session>,
    current: Zeroizing<String>,
    new: Zeroizing<String>,
) -> Answer<()> {
    s.with(|v| {
        v.check_passphrase(&Passphrase::new(current.to_string()))?;
        v.change_passphrase(&Passphrase::new(new.to_string()))
    })
}

#[tauri::command]
pub fn set_auto_lock(s: State<'_, Session>, minutes: u32) -> Answer<Settings> {
    s.set_auto_lock(minutes)
}

#[tauri::command(async)]
pub fn deletion_summary(s: State<'_, Session>) -> Answer<view::DeletionSummary> {
    s.with(view::deletion_summary)
}

#[derive(Debug, Deserialize)]
pub struct DeleteInput {
    /// What the citizen typed: it must be [`view::DELETE_PHRASE`].
    pub confirm: String,
    /// Their passphrase, again.
    pub passphrase: Zeroizing<String>,
    /// Delete even though some agency was not told to stop.
    pub even_with_active_shares: bool,
}

#[tauri::command(async)]
pub fn delete_twin(s: State<'_, Session>, input: DeleteInput) -> Answer<DeleteReport> {
    networked(|| {
        view::delete_twin(
            &s,
            input.confirm.trim(),
            &Passphrase::new(input.passphrase.to_string()),
            input.even_with_active_shares,
        )
    })
}
