//! The commands the UI may call. Each is a line or two over the vault façade
//! (`twin-vault`, `twin-sync`); what they return is described in
//! `schemas/app/desktop-api.schema.json`, from which the UI's types are generated.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tauri::{AppHandle, Manager, State};
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
    std::thread::scope(|sc| sc.spawn(f).join()).unwrap_or_else(|_| Err(internal_error()))
}

/// Runs a command's work on the blocking pool, never on the async runtime's few worker
/// threads (Argon2id, SQLCipher and fsync take long). A panic in the work becomes a plain
/// error for the window instead of a promise that never settles.
async fn blocking<T: Send + 'static>(
    app: AppHandle,
    f: impl FnOnce(&Session) -> Answer<T> + Send + 'static,
) -> Answer<T> {
    tauri::async_runtime::spawn_blocking(move || f(&app.state::<Session>()))
        .await
        .unwrap_or_else(|_| Err(internal_error()))
}

fn internal_error() -> UiError {
    UiError::new(
        "app-error",
        "The app could not complete that. Nothing you saved was changed. Please try again.",
    )
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

#[tauri::command]
pub async fn create_twin(
    app: AppHandle,
    passphrase: Zeroizing<String>,
) -> Answer<view::RecoveryCodeView> {
    blocking(app, move |s| {
        let (vault, code) = Vault::init(&s.dir, &Passphrase::new(passphrase.to_string()))?;
        s.put(vault);
        Ok(view::show_recovery_code(s, code.0))
    })
    .await
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

#[tauri::command]
pub async fn unlock(app: AppHandle, passphrase: Zeroizing<String>) -> Answer<()> {
    blocking(app, move |s| {
        s.may_try_unlock()?;
        match Vault::unlock(&s.dir, &Passphrase::new(passphrase.to_string())) {
            Ok(v) => {
                s.put(v);
                Ok(())
            }
            Err(e @ twin_vault::VaultError::WrongPassphrase) => Err(s.failed_unlock(e.into())),
            Err(e) => Err(e.into()),
        }
    })
    .await
}

#[tauri::command]
pub async fn recover(
    app: AppHandle,
    code: Zeroizing<String>,
    passphrase: Zeroizing<String>,
) -> Answer<view::RecoveryCodeView> {
    blocking(app, move |s| {
        let (vault, new_code) =
            Vault::recover(&s.dir, &code, &Passphrase::new(passphrase.to_string()))?;
        s.put(vault);
        Ok(view::show_recovery_code(s, new_code.0))
    })
    .await
}

#[tauri::command]
pub async fn lock(app: AppHandle) -> Answer<()> {
    blocking(app, move |s| s.lock().map(drop)).await
}

/// The UI saw the citizen type, click or scroll: the auto-lock clock restarts.
#[tauri::command]
pub fn still_here(s: State<'_, Session>) {
    s.touch();
}

#[tauri::command]
pub async fn twin(app: AppHandle) -> Answer<view::TwinView> {
    blocking(app, move |s| s.with(view::twin)).await
}

#[tauri::command]
pub async fn set_field(app: AppHandle, path: String, text: String) -> Answer<bool> {
    blocking(app, move |s| {
        s.with(|v| v.set(&path, &text, Some("changed in the app")))
    })
    .await
}

#[tauri::command]
pub async fn field_history(app: AppHandle, path: String) -> Answer<Vec<HistoryEntry>> {
    blocking(app, move |s| s.with(|v| v.history(&path))).await
}

#[tauri::command]
pub async fn opt_in(app: AppHandle, category: Category) -> Answer<bool> {
    blocking(app, move |s| s.with(|v| v.opt_in(category))).await
}

#[tauri::command]
pub async fn opt_out(app: AppHandle, category: Category) -> Answer<Option<EraseReport>> {
    blocking(app, move |s| s.with(|v| v.opt_out(category))).await
}

#[tauri::command]
pub async fn erase(app: AppHandle, path: String) -> Answer<EraseReport> {
    blocking(app, move |s| s.with(|v| v.erase(&path))).await
}

#[tauri::command]
pub async fn conflicts(app: AppHandle) -> Answer<Vec<view::Conflict>> {
    blocking(app, move |s| s.with(|v| Ok(view::conflicts(v)))).await
}

#[tauri::command]
pub async fn choose_value(app: AppHandle, path: String, value: Value) -> Answer<bool> {
    blocking(app, move |s| {
        s.with(|v| v.set_value(&path, value, Some("chosen between two values in the app")))
    })
    .await
}

#[tauri::command]
pub async fn records(app: AppHandle) -> Answer<Vec<RecordSummary>> {
    blocking(app, move |s| s.with(|v| v.records())).await
}

#[tauri::command]
pub async fn hide_record(app: AppHandle, id: String, hidden: bool) -> Answer<RecordSummary> {
    blocking(app, move |s| {
        s.with(|v| {
            if hidden {
                v.hide_record(&id)
            } else {
                v.unhide_record(&id)
            }
        })
    })
    .await
}

#[tauri::command]
pub async fn requests(app: AppHandle) -> Answer<Vec<RequestSummary>> {
    blocking(app, move |s| s.with(|v| Ok(v.requests()))).await
}

#[tauri::command]
pub async fn approve_request(
    app: AppHandle,
    id: String,
    fields: Vec<String>,
) -> Answer<view::ShareOutcome> {
    blocking(app, move |s| {
        networked(|| {
            s.with_ui(|v| {
                let shared = v.approve_request(&id, &fields, &s.trust)?;
                view::send(v, &s.trust, shared)
            })
        })
    })
    .await
}

#[tauri::command]
pub async fn decline_request(app: AppHandle, id: String) -> Answer<RequestSummary> {
    blocking(app, move |s| s.with(|v| v.decline_request(&id))).await
}

#[tauri::command]
pub async fn agencies(app: AppHandle) -> Answer<Vec<AgencySummary>> {
    blocking(app, move |s| s.with(|v| Ok(v.agencies()))).await
}

#[tauri::command]
pub async fn add_agency(app: AppHandle, url: String) -> Answer<AgencySummary> {
    blocking(app, move |s| {
        networked(|| {
            let card = twin_sync::fetch_card(&url)?;
            s.with(|v| v.add_agency(&card, &s.trust))
        })
    })
    .await
}

#[tauri::command]
pub async fn share(
    app: AppHandle,
    request: view::ShareInput,
    delivery: view::Delivery,
) -> Answer<view::ShareOutcome> {
    blocking(app, move |s| {
        networked(|| s.with_ui(|v| view::share(v, &s.trust, &request.into_request()?, &delivery)))
    })
    .await
}

#[tauri::command]
pub async fn grants(app: AppHandle) -> Answer<Vec<GrantSummary>> {
    blocking(app, move |s| s.with(|v| Ok(v.grants()))).await
}

#[tauri::command]
pub async fn access_receipts(app: AppHandle, id: GrantId) -> Answer<Vec<AccessReceipt>> {
    blocking(app, move |s| s.with(|v| v.access_receipts(&id))).await
}

#[tauri::command]
pub async fn revoke(app: AppHandle, id: String) -> Answer<view::Revoked> {
    blocking(app, move |s| {
        networked(|| s.with_ui(|v| view::revoke(v, &id)))
    })
    .await
}

#[tauri::command]
pub async fn sync(app: AppHandle) -> Answer<twin_sync::SyncReport> {
    blocking(app, move |s| {
        networked(|| s.with(|v| twin_sync::sync(v, &s.trust)))
    })
    .await
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

#[tauri::command]
pub async fn activity(app: AppHandle) -> Answer<Activity> {
    blocking(app, move |s| {
        s.with(|v| {
            let report = v.verify_audit()?;
            Ok(Activity {
                entries: v.audit()?,
                intact: report.is_intact(),
                report,
            })
        })
    })
    .await
}

#[tauri::command]
pub async fn change_passphrase(
    app: AppHandle,
    current: Zeroizing<String>,
    new: Zeroizing<String>,
) -> Answer<()> {
    blocking(app, move |s| {
        s.with_ui(|v| {
            s.recheck_passphrase(v, &Passphrase::new(current.to_string()))?;
            Ok(v.change_passphrase(&Passphrase::new(new.to_string()))?)
        })
    })
    .await
}

#[tauri::command]
pub fn set_auto_lock(s: State<'_, Session>, minutes: u32) -> Answer<Settings> {
    s.set_auto_lock(minutes)
}

#[tauri::command]
pub async fn deletion_summary(app: AppHandle) -> Answer<view::DeletionSummary> {
    blocking(app, move |s| s.with(view::deletion_summary)).await
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

#[tauri::command]
pub async fn delete_twin(app: AppHandle, input: DeleteInput) -> Answer<DeleteReport> {
    blocking(app, move |s| {
        networked(|| {
            view::delete_twin(
                s,
                input.confirm.trim(),
                &Passphrase::new(input.passphrase.to_string()),
                input.even_with_active_shares,
            )
        })
    })
    .await
}

#[tauri::command]
pub async fn for_you(app: AppHandle, what_if: Vec<view::WhatIf>) -> Answer<view::ForYou> {
    blocking(app, move |s| s.with_ui(|v| view::for_you(v, &what_if))).await
}

#[tauri::command]
pub async fn add_rule_pack(app: AppHandle, path: PathBuf) -> Answer<twin_vault::PackSummary> {
    blocking(app, move |s| {
        let bytes = view::read_rule_pack(&path)?;
        s.with(|v| v.add_rule_pack(&bytes, view::today()))
    })
    .await
}

#[tauri::command]
pub async fn rule_share(app: AppHandle, rule: String) -> Answer<twin_vault::RuleShare> {
    blocking(app, move |s| s.with(|v| v.rule_share(&rule, view::today()))).await
}

#[tauri::command]
pub async fn accept_prefill(
    app: AppHandle,
    rule: String,
    lines: Vec<view::PrefillLineInput>,
) -> Answer<twin_vault::RuleShare> {
    blocking(app, move |s| {
        let lines: Vec<(String, Value)> = lines.into_iter().map(|l| (l.line, l.value)).collect();
        s.with(|v| v.accept_prefill(&rule, &lines, view::today()))
    })
    .await
}
