//! Citizen Twin, the desktop app: a thin Tauri 2 shell. The window (`ui/`) calls the
//! commands in [`commands`], each a line or two over the vault façade; the vault stays in
//! this process, and the UI holds no secret and no twin data of its own.
//!
//! Environment, shared with the `twin` command line:
//! - `TWIN_VAULT`: the vault folder (default: the data folder's `citizen-twin/vault`);
//! - `TWIN_TRUST_LIST`: a trust list file instead of the one that ships;
//! - `TWIN_SANDBOX=1`: also believe the sandbox anchor (the app then says "sandbox").

#![forbid(unsafe_code)]

pub mod commands;
pub mod error;
pub mod session;
pub mod view;

use std::path::PathBuf;
use std::time::Duration;

use tauri::{Emitter, Manager};

use crate::session::{Session, SleepDetector};

/// How often the auto-lock watcher looks.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// The vault folder: `TWIN_VAULT`, else the same default as the `twin` command line.
pub fn vault_dir() -> Option<PathBuf> {
    match std::env::var_os("TWIN_VAULT") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => dirs::data_dir().map(|d| d.join("citizen-twin").join("vault")),
    }
}

fn trust(sandbox: bool) -> Result<twin_vault::TrustList, String> {
    let custom = match std::env::var_os("TWIN_TRUST_LIST") {
        Some(p) => Some(
            std::fs::read_to_string(&p)
                .map_err(|e| format!("could not read the trust list {}: {e}", p.display()))?,
        ),
        None => None,
    };
    twin_vault::trust_list(custom.as_deref(), sandbox).map_err(|e| e.to_string())
}

/// Starts the app.
pub fn run() {
    // No core dumps with keys in them; no other process of this user may attach.
    let _ = twin_vault::harden_process();
    // A panic's message could hold a value; when the app is started from the desktop its
    // stderr goes to the journal, on disk. Say only that something went wrong.
    std::panic::set_hook(Box::new(|_| {
        eprintln!("Citizen Twin hit an internal error. Nothing you saved was changed.");
    }));
    let sandbox = std::env::var("TWIN_SANDBOX").is_ok_and(|v| v == "1");
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .setup(move |app| {
            let dir = vault_dir().ok_or("could not find your data folder; set TWIN_VAULT")?;
            let settings = app
                .path()
                .app_config_dir()
                .ok()
                .map(|d| d.join("settings.json"));
            app.manage(Session::new(dir, sandbox, trust(sandbox)?, settings));
            main_window(app)?;
            watch(app.handle().clone());
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::passphrase_strength,
            commands::create_twin,
            commands::check_recovery_group,
            commands::save_recovery_code,
            commands::forget_recovery_code,
            commands::unlock,
            commands::recover,
            commands::lock,
            commands::still_here,
            commands::twin,
            commands::set_field,
            commands::field_history,
            commands::opt_in,
            commands::opt_out,
            commands::erase,
            commands::conflicts,
            commands::choose_value,
            commands::records,
            commands::hide_record,
            commands::requests,
            commands::approve_request,
            commands::decline_request,
            commands::agencies,
            commands::add_agency,
            commands::share,
            commands::grants,
            commands::access_receipts,
            commands::revoke,
            commands::sync,
            commands::activity,
            commands::change_passphrase,
            commands::set_auto_lock,
            commands::deletion_summary,
            commands::delete_twin,
            commands::for_you,
            commands::add_rule_pack,
            commands::rule_share,
            commands::accept_prefill,
        ])
        .build(tauri::generate_context!())
        .expect("the app's configuration is built into it");
    app.run(|handle, event| {
        // Closing the window (or the app being told to quit) locks the vault: everything
        // saved stays saved, and the database is closed cleanly.
        if let tauri::RunEvent::Exit = event
            && let Some(s) = handle.try_state::<Session>()
        {
            let _ = s.lock();
        }
    });
}

/// Opens the main window as `tauri.conf.json` describes it: an incognito web view, so
/// WebKit keeps no storage, cache or cookies on disk. WebDriver cannot drive an
/// incognito context, so in a debug build under automation (`TAURI_WEBVIEW_AUTOMATION=true`,
/// which tauri-driver sets) the window is a normal one; the window tests' canary search shows
/// that even then nothing of the twin reaches WebKit's files.
fn main_window(app: &tauri::App) -> Result<(), Box<dyn std::error::Error>> {
    // Only builds for testing (debug) may be driven: a release window is always incognito.
    let automation = cfg!(debug_assertions)
        && std::env::var("TAURI_WEBVIEW_AUTOMATION").is_ok_and(|v| v == "true");
    let config = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == "main")
        .ok_or("tauri.conf.json describes no main window")?;
    tauri::WebviewWindowBuilder::from_config(app.handle(), config)?
        .incognito(!automation)
        .build()?;
    Ok(())
}

/// Locks the vault after the auto-lock time without activity, and when the computer
/// wakes from sleep; tells the window, which goes back to the unlock screen.
fn watch(app: tauri::AppHandle) {
    std::thread::spawn(move || {
        let mut sleep = SleepDetector::new();
        let mut reminded_on = None;
        loop {
            std::thread::sleep(WATCH_EVERY);
            let Some(s) = app.try_state::<Session>() else {
                continue;
            };
            let slept = sleep.slept();
            // While a new recovery code is on screen, waiting to be confirmed as kept, the
            // vault stays open: locking would lose the code for good.
            if !s.is_unlocked() || s.recovery_code_pending() {
                continue;
            }
            remind(&app, &s, &mut reminded_on);
            let limit = Duration::from_secs(u64::from(s.settings().auto_lock_minutes) * 60);
            let Some(reason) = session::lock_reason(slept, s.idle_for(), limit) else {
                continue;
            };
            // The window is told whatever closing the database said: the vault is
            // locked either way.
            let _ = s.lock();
            let _ = app.emit("vault-locked", reason);
        }
    });
}

/// Once a day while the twin is unlocked: if a rule pack's reminder is due, raises a
/// desktop notification that says only "You have a reminder". Notifications can be read
/// by other software on the desktop, so the reminder itself stays in the window's
/// "For you" page.
fn remind(app: &tauri::AppHandle, s: &Session, reminded_on: &mut Option<time::Date>) {
    use tauri_plugin_notification::NotificationExt;
    let today = view::today();
    if *reminded_on == Some(today) {
        return;
    }
    let Ok(outcomes) = s.with(|v| v.suggest(today, &[])) else {
        return;
    };
    *reminded_on = Some(today);
    if outcomes.iter().any(view::reminder_due) {
        // No notification service (a bare X server) is not the citizen's problem: the
        // page shows the reminder either way.
        let _ = app
            .notification()
            .builder()
            .title("Citizen Twin")
            .body(REMINDER_NOTICE)
            .show();
    }
}

/// The whole text of the reminder notification.
pub const REMINDER_NOTICE: &str = "You have a reminder";
