//! What the app holds while it runs: the unlocked vault (or none), when the citizen last
//! did something, the auto-lock setting, and the recovery code between showing it and
//! the citizen confirming they kept it. The UI holds none of these.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use twin_vault::{Passphrase, RecoveryCode, TrustList, Vault};

use crate::error::UiError;

/// Auto-lock after this many minutes without activity, unless the citizen chose otherwise.
pub const DEFAULT_AUTO_LOCK_MINUTES: u32 = 5;
/// The longest auto-lock the settings offer.
pub const MAX_AUTO_LOCK_MINUTES: u32 = 60;

/// Preferences kept in the app's config folder. They hold no twin data.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Settings {
    /// Minutes without activity before the vault locks itself.
    pub auto_lock_minutes: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            auto_lock_minutes: DEFAULT_AUTO_LOCK_MINUTES,
        }
    }
}

/// Why the vault locked itself, as the UI says it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum LockReason {
    /// Nothing happened for the auto-lock time.
    Idle,
    /// The computer went to sleep.
    Sleep,
}

/// The app's state, shared by every command.
#[derive(Debug)]
pub struct Session {
    /// The vault folder (the same one the `twin` command line uses).
    pub dir: PathBuf,
    /// Whether the sandbox anchor is believed (`make run`, tests): the app says so.
    pub sandbox: bool,
    /// The agencies' trust anchors.
    pub trust: TrustList,
    vault: Mutex<Option<Vault>>,
    /// Whether `vault` holds an unlocked vault, readable without waiting for a long
    /// command (a sync) that holds the vault's mutex.
    unlocked: AtomicBool,
    /// Wrong passphrases typed again while unlocked (to change it, or to delete the twin).
    rechecks_failed: AtomicU64,
    last_use: Mutex<Instant>,
    not_before: Mutex<Option<Instant>>,
    settings: Mutex<Settings>,
    settings_path: Option<PathBuf>,
    recovery: Mutex<Option<RecoveryCode>>,
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in one command must not make every later one fail.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Session {
    /// A session over the vault in `dir`, with settings from `settings_path` if given.
    pub fn new(
        dir: PathBuf,
        sandbox: bool,
        trust: TrustList,
        settings_path: Option<PathBuf>,
    ) -> Self {
        let settings = settings_path
            .as_deref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice::<Settings>(&b).ok())
            .map(|s| Settings {
                auto_lock_minutes: s.auto_lock_minutes.clamp(1, MAX_AUTO_LOCK_MINUTES),
            })
            .unwrap_or_default();
        Session {
            dir,
            sandbox,
            trust,
            vault: Mutex::new(None),
            unlocked: AtomicBool::new(false),
            rechecks_failed: AtomicU64::new(0),
            last_use: Mutex::new(Instant::now()),
            not_before: Mutex::new(None),
            settings: Mutex::new(settings),
            settings_path,
            recovery: Mutex::new(None),
        }
    }

    /// Runs `f` on the unlocked vault, counting it as activity.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut Vault) -> Result<T, twin_vault::VaultError>,
    ) -> Result<T, UiError> {
        self.with_ui(|v| f(v).map_err(UiError::from))
    }

    /// Like [`Session::with`], for work that fails with the app's own errors.
    pub fn with_ui<T>(
        &self,
        f: impl FnOnce(&mut Vault) -> Result<T, UiError>,
    ) -> Result<T, UiError> {
        let mut slot = match self.vault.lock() {
            Ok(slot) => slot,
            Err(poisoned) => {
                // A command panicked while it held the vault: its state in memory cannot
                // be trusted. Drop it (everything committed is on disk) and ask for the
                // passphrase again.
                let mut slot = poisoned.into_inner();
                drop(slot.take());
                self.unlocked.store(false, Ordering::SeqCst);
                self.vault.clear_poison();
                return Err(UiError::locked());
            }
        };
        let v = slot.as_mut().ok_or_else(UiError::locked)?;
        self.touch();
        let out = f(v);
        // Long work (a sync) counts as activity until it ends.
        self.touch();
        out
    }

    /// Whether the vault is unlocked. Never waits for a running command.
    pub fn is_unlocked(&self) -> bool {
        self.unlocked.load(Ordering::SeqCst)
    }

    /// Keeps an unlocked vault.
    pub fn put(&self, mut vault: Vault) {
        vault.set_who("you, in the Citizen Twin app");
        *guard(&self.vault) = Some(vault);
        self.unlocked.store(true, Ordering::SeqCst);
        *guard(&self.not_before) = None;
        self.rechecks_failed.store(0, Ordering::SeqCst);
        self.touch();
    }

    /// Locks the vault, if unlocked. Returns whether it was. The session counts as
    /// locked at once, even while a running command finishes with the vault.
    pub fn lock(&self) -> Result<bool, UiError> {
        self.unlocked.store(false, Ordering::SeqCst);
        let taken = guard(&self.vault).take();
        *guard(&self.recovery) = None;
        match taken {
            Some(v) => v.lock().map(|()| true).map_err(UiError::from),
            None => Ok(false),
        }
    }

    /// Runs `f` on the unlocked vault and, if it succeeds, takes the vault out (to delete
    /// it) under the same hold, so no other command can change it in between.
    pub fn take_if(
        &self,
        f: impl FnOnce(&mut Vault) -> Result<(), UiError>,
    ) -> Result<Vault, UiError> {
        let mut slot = guard(&self.vault);
        f(slot.as_mut().ok_or_else(UiError::locked)?)?;
        self.unlocked.store(false, Ordering::SeqCst);
        slot.take().ok_or_else(UiError::locked)
    }

    /// Checks the passphrase typed again while unlocked (to change it or delete the
    /// twin), with the same growing wait after wrong ones as unlocking has.
    pub fn recheck_passphrase(&self, v: &Vault, passphrase: &Passphrase) -> Result<(), UiError> {
        self.may_try_unlock()?;
        match v.check_passphrase(passphrase) {
            Ok(()) => {
                self.rechecks_failed.store(0, Ordering::SeqCst);
                Ok(())
            }
            Err(e @ twin_vault::VaultError::WrongPassphrase) => {
                let n = self.rechecks_failed.fetch_add(1, Ordering::SeqCst) + 1;
                let secs = unlock_delay_secs(n);
                *guard(&self.not_before) = Some(Instant::now() + Duration::from_secs(secs));
                let mut err = UiError::from(e);
                err.retry_in_secs = Some(secs);
                err.message = format!(
                    "That is not your current passphrase. Nothing was changed. Try again in {secs} second{}.",
                    if secs == 1 { "" } else { "s" }
                );
                Err(err)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether a new recovery code is on screen, not yet confirmed as kept.
    pub fn recovery_code_pending(&self) -> bool {
        guard(&self.recovery).is_some()
    }

    /// The citizen did something.
    pub fn touch(&self) {
        *guard(&self.last_use) = Instant::now();
    }

    /// How long since the citizen last did something.
    pub fn idle_for(&self) -> Duration {
        guard(&self.last_use).elapsed()
    }

    /// The settings now.
    pub fn settings(&self) -> Settings {
        *guard(&self.settings)
    }

    /// Changes the auto-lock time and saves it.
    pub fn set_auto_lock(&self, minutes: u32) -> Result<Settings, UiError> {
        if !(1..=MAX_AUTO_LOCK_MINUTES).contains(&minutes) {
            return Err(UiError::new(
                "invalid-setting",
                format!("Choose between 1 and {MAX_AUTO_LOCK_MINUTES} minutes."),
            ));
        }
        let new = Settings {
            auto_lock_minutes: minutes,
        };
        if let Some(path) = &self.settings_path {
            save_settings(path, &new)?;
        }
        *guard(&self.settings) = new;
        Ok(new)
    }

    /// Before an unlock attempt: refused while the wait after a wrong passphrase runs.
    pub fn may_try_unlock(&self) -> Result<(), UiError> {
        if let Some(t) = *guard(&self.not_before) {
            let now = Instant::now();
            if now < t {
                let secs = (t - now).as_secs_f64().ceil() as u64;
                return Err(UiError {
                    retry_in_secs: Some(secs),
                    ..UiError::new(
                        "wait",
                        format!(
                            "Please wait {secs} second{} before trying again. Your twin is safe; nothing is locked out.",
                            if secs == 1 { "" } else { "s" }
                        ),
                    )
                });
            }
        }
        Ok(())
    }

    /// After a wrong passphrase: the next try waits longer each time (1, 2, 4 … 30 s),
    /// counting the failures the vault itself recorded, so restarting the app does not
    /// reset the wait. Never a lockout: the twin is never made unreadable.
    pub fn failed_unlock(&self, mut e: UiError) -> UiError {
        let failures = twin_vault::locked_status(&self.dir)
            .map(|s| s.failed_unlocks)
            .unwrap_or(1)
            .max(1);
        let secs = unlock_delay_secs(failures);
        *guard(&self.not_before) = Some(Instant::now() + Duration::from_secs(secs));
        e.retry_in_secs = Some(secs);
        e.message = format!(
            "That passphrase is not the one for this twin. Check Caps Lock and try again in {secs} second{}. If you have forgotten it, use your recovery code.",
            if secs == 1 { "" } else { "s" }
        );
        e
    }

    /// Keeps a new recovery code until the citizen confirms they wrote it down.
    pub fn hold_recovery_code(&self, code: RecoveryCode) {
        *guard(&self.recovery) = Some(code);
    }

    /// Runs `f` on the recovery code being shown, if any.
    pub fn with_recovery_code<T>(
        &self,
        f: impl FnOnce(&RecoveryCode) -> Result<T, UiError>,
    ) -> Result<T, UiError> {
        let held = guard(&self.recovery);
        let code = held.as_ref().ok_or_else(|| {
            UiError::new(
                "no-recovery-code",
                "The recovery code is no longer held: it is shown only once.",
            )
        })?;
        f(code)
    }

    /// Forgets the recovery code (it was kept, or the citizen moved on).
    pub fn forget_recovery_code(&self) {
        *guard(&self.recovery) = None;
    }
}

/// Whether the watcher locks an unlocked vault now, and why: the computer slept, or the
/// citizen did nothing for `limit`.
pub fn lock_reason(slept: bool, idle: Duration, limit: Duration) -> Option<LockReason> {
    if slept {
        Some(LockReason::Sleep)
    } else if idle >= limit {
        Some(LockReason::Idle)
    } else {
        None
    }
}

/// Seconds to wait after the `failures`-th wrong passphrase in a row.
pub fn unlock_delay_secs(failures: u64) -> u64 {
    1u64.checked_shl(failures.saturating_sub(1).min(5) as u32)
        .unwrap_or(32)
        .min(30)
}

fn save_settings(path: &Path, s: &Settings) -> Result<(), UiError> {
    let fail = |e: std::io::Error| {
        UiError::new(
            "settings-not-saved",
            format!("Could not save the setting ({e}). It applies until the app closes."),
        )
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let tmp = path.with_extension("json.new");
    std::fs::write(&tmp, serde_json::to_vec_pretty(s).unwrap_or_default()).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

/// Notices that the computer slept: `CLOCK_BOOTTIME` runs on through a suspend,
/// `CLOCK_MONOTONIC` does not, so their difference jumps by the time asleep.
#[derive(Debug)]
pub struct SleepDetector {
    gap: Duration,
}

impl SleepDetector {
    /// Starts watching now.
    pub fn new() -> Self {
        SleepDetector { gap: clock_gap() }
    }

    /// Whether the computer slept (for more than a few seconds) since the last call.
    pub fn slept(&mut self) -> bool {
        let gap = clock_gap();
        let slept = gap.saturating_sub(self.gap) > Duration::from_secs(3);
        self.gap = gap;
        slept
    }
}

impl Default for SleepDetector {
    fn default() -> Self {
        Self::new()
    }
}

fn clock_gap() -> Duration {
    use rustix::time::{ClockId, clock_gettime};
    let t = |id| {
        let ts = clock_gettime(id);
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    };
    t(ClockId::Boottime).saturating_sub(t(ClockId::Monotonic))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_grows_and_is_capped() {
        let waits: Vec<u64> = (1..=8).map(unlock_delay_secs).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(unlock_delay_secs(0), 1);
        assert_eq!(unlock_delay_secs(u64::MAX), 30);
    }

    #[test]
    fn auto_lock_is_bounded_and_saved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conf").join("settings.json");
        let s = Session::new(
            dir.path().join("v"),
            false,
            TrustList::default(),
            Some(path.clone()),
        );
        assert_eq!(s.settings().auto_lock_minutes, DEFAULT_AUTO_LOCK_MINUTES);
        assert_eq!(s.set_auto_lock(0).unwrap_err().code, "invalid-setting");
        assert_eq!(s.set_auto_lock(61).unwrap_err().code, "invalid-setting");
        s.set_auto_lock(15).unwrap();
        let again = Session::new(
            dir.path().join("v"),
            false,
            TrustList::default(),
            Some(path),
        );
        assert_eq!(again.settings().auto_lock_minutes, 15);
    }

    #[test]
    fn locks_after_sleep_or_the_idle_time() {
        let min = Duration::from_secs(60);
        assert_eq!(lock_reason(false, Duration::from_secs(59), min), None);
        assert_eq!(lock_reason(false, min, min), Some(LockReason::Idle));
        assert_eq!(
            lock_reason(true, Duration::ZERO, min),
            Some(LockReason::Sleep)
        );
    }

    #[test]
    fn no_sleep_is_seen_without_one() {
        let mut d = SleepDetector::new();
        assert!(!d.slept());
    }

    #[test]
    fn a_locked_session_refuses_work() {
        let dir = tempfile::tempdir().unwrap();
        let s = Session::new(dir.path().to_owned(), false, TrustList::default(), None);
        assert_eq!(s.with(|_| Ok(())).unwrap_err().code, "locked");
        assert!(!s.lock().unwrap());
    }
}
