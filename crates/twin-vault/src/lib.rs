//! The citizen's vault: the one façade the `twin` command line and the desktop app call.
//!
//! A vault is a folder (0700) holding:
//! - `vault.keys` — Argon2id settings, the data key wrapped under the passphrase and under
//!   the recovery code, the audit anchor (see [`keyfile`]);
//! - `twin-N.db` — the SQLCipher database of generation N (every erasure makes N+1);
//! - `failed-unlocks` — timestamps of wrong passphrases, folded into the audit log at the
//!   next unlock (a failed unlock cannot write the encrypted log);
//! - `active-shares` — present while some share may still be in use at an agency that
//!   has not been told to stop; holds only the time the last of them ends, so deleting
//!   the vault (which needs no passphrase) can refuse until the agencies are told;
//! - `vault.lock` — held while a program has the vault open.
//!
//! Exactly one Argon2id runs per unlock; changing the passphrase rewraps one key.
#![forbid(unsafe_code)]

mod audit;
mod backup;
mod error;
mod exchange;
mod keyfile;
mod requests;
mod rules;
mod sharing;

use std::fs;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use twin_crypto::{DataKey, KdfParams, Kek, RootSecret, derive_kek, random_array};
use twin_doc::{Provenance, TwinDoc};
use twin_schema::Catalog;
use twin_store::{Batch, Store};
use twin_types::{Category, FieldPath, LineageId, VaultId};

pub use audit::{AuditEntry, AuditReport};
pub use backup::{
    BackupRecord, ExportReport, HeaderFacts, InspectError, Progress, RestoreMode, RestoreReport,
    RestoreUnlock, VerifyError, VerifyReport, holds_vault, inspect, restore_backup, verify,
};
pub use error::VaultError;
pub use exchange::{
    AccessChain, AccessReceipt, Delivery, Imported, NoticeOutcome, NoticeState, NoticeStatus,
    Outgoing, PendingRefresh, ReceiptImport, ReceiptKind, SeqRange,
};
pub use requests::RequestSummary;
pub use rules::{DecisionCheck, PackSummary, RuleShare};
pub use sharing::{
    AgencySummary, GrantState, GrantSummary, RecordSummary, ShareRequest, Shared, human_date,
    trust_list,
};
pub use twin_backup::Fingerprint;
pub use twin_crypto::{Passphrase, RecoveryCode, harden_process};
pub use twin_doc::{HistoryEntry, nest};
pub use twin_protocol::{KeyPair, TrustList};
pub use twin_rules;

/// Fields named for people by their titles: "date of birth and postcode". Paths that
/// name no field are shown as they are.
pub fn describe_fields(paths: &[String]) -> String {
    let parsed: Vec<FieldPath> = paths
        .iter()
        .filter_map(|p| FieldPath::parse(p).ok())
        .collect();
    twin_doc::describe_titles(&parsed)
}

/// Checks that `path` names a field, a group of fields or a category.
pub fn check_path(path: &str) -> Result<(), VaultError> {
    Catalog::get().known(path)?;
    Ok(())
}

use keyfile::{Anchor, KeyFile, Slot, shred, sync_dir};

const FAILED_UNLOCKS: &str = "failed-unlocks";
const ACTIVE_SHARES: &str = "active-shares";
const LOCK_FILE: &str = "vault.lock";
/// Compact the saved changes into one snapshot past this many change blocks…
const COMPACT_AFTER_CHANGES: u64 = 256;
/// …or this many bytes of them.
const COMPACT_AFTER_BYTES: u64 = 4 * 1024 * 1024;
/// Shortest passphrase accepted for a new vault.
pub const MIN_PASSPHRASE_CHARS: usize = 10;

/// Metadata keys inside the encrypted store.
mod meta {
    pub const VAULT_ID: &str = "vault_id";
    pub const ROOT_SECRET: &str = "root_secret";
    pub const ACTOR: &str = "actor";
    /// `recovery_kek:<salt hex>`: the key-encryption key of the recovery code with that
    /// salt, so an erasure can rewrap under the code the key file actually names.
    pub fn recovery_kek(salt: &[u8; 16]) -> String {
        format!("recovery_kek:{}", hex::encode(salt))
    }
    pub const CREATED_MS: &str = "created_ms";
    /// `inbox_cursor:<agency id>`: where this computer left off in that agency's inbox.
    pub fn inbox_cursor(agency: &twin_types::AgencyId) -> String {
        format!("inbox_cursor:{agency}")
    }
}

/// A key derived from the passphrase by [`Vault::passphrase_key`]. Zeroized on drop.
#[derive(Debug)]
pub struct PassphraseKey(Kek);

/// What `init` and `recover` hand back once: the new recovery code.
#[derive(Debug)]
pub struct NewRecoveryCode(pub RecoveryCode);

/// Facts about a vault that need no passphrase.
#[derive(Debug, Clone, Serialize)]
pub struct LockedStatus {
    /// The vault folder.
    pub dir: PathBuf,
    /// The current database file.
    pub database: PathBuf,
    /// Its size in bytes (with its WAL).
    pub database_bytes: u64,
    /// Times an erasure has re-keyed the database.
    pub generation: u64,
    /// Argon2id settings.
    pub kdf: KdfParams,
    /// Audit entries when last locked.
    pub audit_entries: u64,
    /// Wrong passphrases since the last unlock.
    pub failed_unlocks: u64,
}

/// Facts about an unlocked vault.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Facts that need no passphrase.
    #[serde(flatten)]
    pub locked: LockedStatus,
    /// Fields holding a value.
    pub fields_set: usize,
    /// Categories opted into (personal and government always are).
    pub opted_in: Vec<Category>,
    /// The document's lineage.
    pub lineage: String,
    /// Paths erased in this lineage or before (never values).
    pub erased_paths: Vec<String>,
    /// Changes in the document's history.
    pub changes: usize,
    /// Computers that have written to the twin.
    pub devices: usize,
    /// The fingerprint every backup of this vault carries (short form), for support
    /// staff to compare with `twin backup inspect`.
    pub backup_fingerprint: String,
    /// Backups this vault exported.
    pub backups: usize,
}

/// What an import changed.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// Fields whose value changed.
    pub changed: Vec<FieldPath>,
    /// Fields in the file that already held that value.
    pub unchanged: Vec<FieldPath>,
}

/// What an erasure did.
#[derive(Debug, Clone, Serialize)]
pub struct EraseReport {
    /// The path erased.
    pub path: FieldPath,
    /// Fields that held a value before.
    pub fields_cleared: Vec<FieldPath>,
    /// The database file destroyed with its key.
    pub destroyed_database: PathBuf,
    /// The new database file.
    pub new_database: PathBuf,
}

/// What `delete-vault` removed.
#[derive(Debug, Clone, Serialize)]
pub struct DeleteReport {
    /// Files removed, key file first.
    pub removed: Vec<PathBuf>,
    /// Whether the folder itself was removed (it is kept if other files are in it).
    pub removed_folder: bool,
}

/// An unlocked vault. Dropping it locks it; [`Vault::lock`] does so and reports errors.
#[derive(Debug)]
pub struct Vault {
    dir: PathBuf,
    keys: KeyFile,
    data_key: DataKey,
    pass_kek: Kek,
    store: Option<Store>,
    doc: TwinDoc,
    saved_heads: Vec<twin_doc::ChangeHash>,
    who: String,
    _lock: OwnedFd,
}

fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// "3 December 2026 at 14:05 UTC".
pub fn human_time(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[day padding:none] [month repr:long] [year] at [hour]:[minute] UTC"
    );
    t.format(&fmt).unwrap_or_default()
}

fn check_new_passphrase(p: &Passphrase) -> Result<(), VaultError> {
    if p.expose().chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(VaultError::WeakPassphrase(
            "choose a passphrase of at least 10 characters; a few unrelated words are easy to remember and hard to guess",
        ));
    }
    Ok(())
}

fn take_lock(dir: &Path) -> Result<OwnedFd, VaultError> {
    let path = dir.join(LOCK_FILE);
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| VaultError::io(&path, e))?;
    let fd = OwnedFd::from(f);
    rustix::fs::flock(&fd, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .map_err(|_| VaultError::Busy)?;
    Ok(fd)
}

/// Removes database files of other generations: leftovers of an erasure that was
/// interrupted before or after the key file switched over. Their keys are gone or were
/// never published, so they are unreadable; removing them keeps the folder honest.
/// That includes a `-journal`: SQLite keeps one while a new database file is set up (before
/// it switches to WAL), so an erasure killed at that moment leaves one behind.
fn remove_stale_databases(dir: &Path, generation: u64) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if database_generation(&name).is_some_and(|g| g < generation) {
            let _ = shred(&e.path());
        }
    }
}

/// The generation N of a vault database file `twin-N.db` (or its `-wal`, `-shm`,
/// `-journal`); `None` for any other name, which the vault never touches.
fn database_generation(name: &str) -> Option<u64> {
    let base = ["-wal", "-shm", "-journal"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name);
    base.strip_prefix("twin-")?
        .strip_suffix(".db")?
        .parse()
        .ok()
}

/// Whether `name` is a file a vault keeps in its folder.
fn is_vault_file(name: &str) -> bool {
    database_generation(name).is_some()
        || name == FAILED_UNLOCKS
        || name == ACTIVE_SHARES
        || name == LOCK_FILE
        || name == KeyFile::NAME
        || name == format!("{}.tmp", KeyFile::NAME)
}

/// Facts about the vault in `dir` that need no passphrase.
pub fn locked_status(dir: &Path) -> Result<LockedStatus, VaultError> {
    let keys = KeyFile::read(dir)?;
    let database = keys.database_path(dir);
    let database_bytes = twin_store::files_of(&database)
        .iter()
        .filter_map(|f| fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    Ok(LockedStatus {
        dir: dir.to_owned(),
        database,
        database_bytes,
        generation: keys.generation,
        kdf: keys.kdf,
        audit_entries: keys.anchor.length,
        failed_unlocks: read_failed_unlocks(dir).len() as u64,
    })
}

fn read_failed_unlocks(dir: &Path) -> Vec<i64> {
    fs::read_to_string(dir.join(FAILED_UNLOCKS))
        .map(|s| {
            s.lines()
                .filter_map(|l| l.trim().parse().ok())
                .take(100_000)
                .collect()
        })
        .unwrap_or_default()
}

fn record_failed_unlock(dir: &Path) {
    let path = dir.join(FAILED_UNLOCKS);
    if let Ok(mut f) = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&path)
    {
        let _ = writeln!(f, "{}", now_ms());
        let _ = f.sync_all();
    }
}

impl Vault {
    /// Creates a new vault in `dir` (which must not hold one) and returns it unlocked,
    /// with the recovery code to show the citizen once.
    pub fn init(
        dir: &Path,
        passphrase: &Passphrase,
    ) -> Result<(Vault, NewRecoveryCode), VaultError> {
        check_new_passphrase(passphrase)?;
        if dir.join(KeyFile::NAME).exists() {
            return Err(VaultError::AlreadyExists(dir.to_owned()));
        }
        // A folder made here, or an empty one, becomes owner-only; an existing folder
        // with other things in it keeps its permissions (each vault file is 0600 anyway).
        let fresh = fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(true);
        if fresh {
            twin_store::make_private_dir(dir).map_err(|e| VaultError::io(dir, e))?;
        }
        let lock = take_lock(dir)?;
        let kdf = KdfParams::DEFAULT;
        let pass_salt: [u8; 16] = random_array();
        let pass_kek = derive_kek(passphrase, &pass_salt, kdf)?;
        let code = RecoveryCode::generate();
        let rec_salt: [u8; 16] = random_array();
        let rec_kek = code.to_kek(&rec_salt);
        let data_key = DataKey::generate();

        let database = "twin-1.db".to_owned();
        let db_path = dir.join(&database);
        // A database file without a key file is a leftover of an interrupted init.
        for f in twin_store::files_of(&db_path) {
            let _ = fs::remove_file(f);
        }
        let mut store = Store::create(&db_path, &data_key)?;
        let actor: [u8; 16] = random_array();
        let at = now_ms();
        let prov = Provenance {
            who: "you".into(),
            why: "created your twin".into(),
            at_ms: at,
        };
        let doc = TwinDoc::create(&actor, LineageId::random(), &prov);
        let row = audit::next_row(
            (0, audit::GENESIS),
            at,
            "created",
            "You created your twin on this computer. Health and social data stay off until you opt in.".into(),
        );
        let head = (row.seq, row.hash);
        store.compact(&doc.save())?;
        store.commit(Batch {
            change: None,
            audit: vec![row],
            meta: vec![
                (meta::VAULT_ID.into(), VaultId::random().as_bytes().to_vec()),
                (
                    meta::ROOT_SECRET.into(),
                    RootSecret::generate().expose().to_vec(),
                ),
                (meta::ACTOR.into(), actor.to_vec()),
                (meta::recovery_kek(&rec_salt), rec_kek.expose().to_vec()),
                (meta::CREATED_MS.into(), at.to_be_bytes().to_vec()),
            ],
        })?;
        let mut keys = KeyFile {
            format: keyfile::FORMAT.into(),
            database,
            generation: 1,
            kdf,
            passphrase: Slot {
                salt: pass_salt,
                wrap: twin_crypto::WrappedKey {
                    nonce: [0; 24],
                    sealed: vec![],
                },
            },
            recovery: Slot {
                salt: rec_salt,
                wrap: twin_crypto::WrappedKey {
                    nonce: [0; 24],
                    sealed: vec![],
                },
            },
            anchor: Anchor::new(&data_key, head.0, head.1),
        };
        keys.seal(&data_key, (&pass_kek, pass_salt), (&rec_kek, rec_salt));
        keys.write(dir)?;
        let _ = fs::remove_file(dir.join(FAILED_UNLOCKS));
        let saved_heads = doc.heads();
        let vault = Vault {
            dir: dir.to_owned(),
            keys,
            data_key,
            pass_kek,
            store: Some(store),
            doc,
            saved_heads,
            who: "you".into(),
            _lock: lock,
        };
        Ok((vault, NewRecoveryCode(code)))
    }

    /// Unlocks the vault in `dir` with the passphrase. A wrong passphrase is recorded in
    /// `failed-unlocks` and changes nothing else.
    pub fn unlock(dir: &Path, passphrase: &Passphrase) -> Result<Vault, VaultError> {
        let key = Vault::passphrase_key(dir, passphrase)?;
        Vault::unlock_with_key(dir, key)
    }

    /// The slow half of [`Vault::unlock`]: runs Argon2id over the passphrase with the
    /// vault's salt and settings. The app runs it off the interface thread; benchmarks
    /// time it apart from the rest of unlocking.
    pub fn passphrase_key(
        dir: &Path,
        passphrase: &Passphrase,
    ) -> Result<PassphraseKey, VaultError> {
        let keys = KeyFile::read(dir)?;
        Ok(PassphraseKey(derive_kek(
            passphrase,
            &keys.passphrase.salt,
            keys.kdf,
        )?))
    }

    /// The fast half of [`Vault::unlock`]: opens the wrapped data key, the database and
    /// the twin document with a key from [`Vault::passphrase_key`].
    pub fn unlock_with_key(dir: &Path, key: PassphraseKey) -> Result<Vault, VaultError> {
        let keys = KeyFile::read(dir)?;
        let lock = take_lock(dir)?;
        let kek = key.0;
        let data_key = match keys.passphrase.wrap.open(&kek, &keys.context("passphrase")) {
            Ok(k) => k,
            Err(_) => {
                record_failed_unlock(dir);
                return Err(VaultError::WrongPassphrase);
            }
        };
        let mut vault = Vault::open_with(dir, keys, data_key, kek, lock)?;
        vault.fold_failed_unlocks()?;
        vault.append("unlocked", "You unlocked your twin.".into())?;
        Ok(vault)
    }

    /// Unlocks with the recovery code, sets a new passphrase, and issues a new recovery
    /// code; the old code stops working.
    pub fn recover(
        dir: &Path,
        code_text: &str,
        new_passphrase: &Passphrase,
    ) -> Result<(Vault, NewRecoveryCode), VaultError> {
        check_new_passphrase(new_passphrase)?;
        let code = RecoveryCode::parse(code_text)?;
        let keys = KeyFile::read(dir)?;
        let lock = take_lock(dir)?;
        let kek = code.to_kek(&keys.recovery.salt);
        let data_key = keys
            .recovery
            .wrap
            .open(&kek, &keys.context("recovery"))
            .map_err(|_| VaultError::WrongRecoveryCode)?;
        let pass_salt: [u8; 16] = random_array();
        let pass_kek = derive_kek(new_passphrase, &pass_salt, keys.kdf)?;
        let mut vault = Vault::open_with(dir, keys, data_key, pass_kek, lock)?;
        vault.fold_failed_unlocks()?;
        let new_code = RecoveryCode::generate();
        let rec_salt: [u8; 16] = random_array();
        let rec_kek = new_code.to_kek(&rec_salt);
        // The new code's key goes into the store first (under its own salt), then the key
        // file switches to it, then the log says so: at every point the code the key file
        // names can be rewrapped by a later erasure, and the log never says more than is true.
        vault.store()?.commit(Batch {
            meta: vec![(meta::recovery_kek(&rec_salt), rec_kek.expose().to_vec())],
            ..Default::default()
        })?;
        let data_key = vault.data_key.clone();
        let mut keys = vault.keys.clone();
        keys.seal(
            &data_key,
            (&vault.pass_kek, pass_salt),
            (&rec_kek, rec_salt),
        );
        keys.write(dir)?;
        vault.keys = keys;
        vault.append(
            "recovered",
            "You used your recovery code and chose a new passphrase. A new recovery code was issued; the old one no longer works."
                .into(),
        )?;
        Ok((vault, NewRecoveryCode(new_code)))
    }

    fn open_with(
        dir: &Path,
        keys: KeyFile,
        data_key: DataKey,
        pass_kek: Kek,
        lock: OwnedFd,
    ) -> Result<Vault, VaultError> {
        let store = Store::open(&keys.database_path(dir), &data_key)?;
        let actor = store
            .meta(meta::ACTOR)?
            .ok_or_else(|| twin_doc::DocError::Corrupt("the vault has no computer id".into()))?;
        let (snapshot, changes) = store.load_doc()?;
        let doc = TwinDoc::load(&snapshot, changes.iter().map(Vec::as_slice), &actor)?;
        let saved_heads = doc.heads();
        let mut vault = Vault {
            dir: dir.to_owned(),
            keys,
            data_key,
            pass_kek,
            store: Some(store),
            doc,
            saved_heads,
            who: "you".into(),
            _lock: lock,
        };
        vault.check_anchor()?;
        // Only now that the current database opened: a key file restored from an older
        // copy must never cause the live database to be removed.
        remove_stale_databases(dir, vault.keys.generation);
        Ok(vault)
    }

    /// Compares the audit log with the anchor stored at the last lock. A log shorter than
    /// the anchor, or whose entry at the anchor's length differs, was cut or rewritten at
    /// rest: that is recorded in the log itself, so it can never be hidden afterwards.
    /// A log *longer* than the anchor is a session that ended before it could lock.
    fn check_anchor(&mut self) -> Result<(), VaultError> {
        let anchor = self.keys.anchor.clone();
        let at_anchor = self.store()?.audit_hash(anchor.length)?;
        let holds =
            anchor.verify(&self.data_key) && anchor.length >= 1 && at_anchor == Some(anchor.head);
        if !holds {
            let now = self.head()?.0;
            let line = format!(
                "Your activity log was found cut short or altered: when your twin was last locked it had {} entries; now it has {now}.",
                anchor.length,
            );
            self.append("log-cut-short", line)?;
        }
        Ok(())
    }

    fn fold_failed_unlocks(&mut self) -> Result<(), VaultError> {
        let failed = read_failed_unlocks(&self.dir);
        if let (Some(first), Some(last)) = (failed.first(), failed.last()) {
            let line = match failed.len() {
                1 => format!(
                    "1 failed attempt to unlock since you last unlocked, on {}.",
                    human_time(*first)
                ),
                n => format!(
                    "{n} failed attempts to unlock since you last unlocked, between {} and {}.",
                    human_time(*first),
                    human_time(*last)
                ),
            };
            self.append("failed-unlocks", line)?;
            let path = self.dir.join(FAILED_UNLOCKS);
            fs::remove_file(&path).map_err(|e| VaultError::io(&path, e))?;
        }
        Ok(())
    }

    /// Sets who is acting, for provenance ("you, with the twin command line").
    pub fn set_who(&mut self, who: &str) {
        who.clone_into(&mut self.who);
    }

    fn store(&mut self) -> Result<&mut Store, VaultError> {
        self.store.as_mut().ok_or_else(|| VaultError::Io {
            path: self.dir.clone(),
            source: io::Error::other("the vault is locked"),
        })
    }

    /// The recovery code's key as the store keeps it, if it opens the key file's recovery
    /// wrap (so nothing built on it can leave the printed code unable to open the vault).
    pub(crate) fn stored_recovery_kek(&mut self) -> Result<Option<Kek>, VaultError> {
        let salt = self.keys.recovery.salt;
        Ok(self
            .store()?
            .meta(&meta::recovery_kek(&salt))?
            .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
            .map(Kek::from_bytes)
            .filter(|k| {
                self.keys
                    .recovery
                    .wrap
                    .open(k, &self.keys.context("recovery"))
                    .is_ok()
            }))
    }

    fn prov(&self, why: &str) -> Provenance {
        Provenance {
            who: self.who.clone(),
            why: why.to_owned(),
            at_ms: now_ms(),
        }
    }

    fn head(&mut self) -> Result<(u64, [u8; 32]), VaultError> {
        Ok(self.store()?.audit_head()?.unwrap_or((0, audit::GENESIS)))
    }

    fn append(&mut self, kind: &str, line: String) -> Result<(), VaultError> {
        self.commit(kind, line, Vec::new())
    }

    /// Saves the document's unsaved changes and one audit line in one transaction. If it
    /// fails, the in-memory document is reloaded from disk, so memory never runs ahead of
    /// what is saved.
    fn commit(
        &mut self,
        kind: &str,
        line: String,
        meta: Vec<(String, Vec<u8>)>,
    ) -> Result<(), VaultError> {
        let heads = self.doc.heads();
        let change = (heads != self.saved_heads).then(|| self.doc.save_after(&self.saved_heads));
        let row = audit::next_row(self.head()?, now_ms(), kind, line);
        let result = self.store()?.commit(Batch {
            change,
            audit: vec![row],
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

    fn reload(&mut self) -> Result<(), VaultError> {
        let store = self.store()?;
        let actor = store.meta(meta::ACTOR)?.unwrap_or_default();
        let (snapshot, changes) = store.load_doc()?;
        self.doc = TwinDoc::load(&snapshot, changes.iter().map(Vec::as_slice), &actor)?;
        self.saved_heads = self.doc.heads();
        Ok(())
    }

    /// The whole twin document as Automerge saves it: the bytes [`Vault::lock`] compacts
    /// into the store. For benchmarks, which compare unlocking with `Automerge::load` of
    /// the same bytes; not part of the supported interface.
    #[doc(hidden)]
    pub fn saved_document(&self) -> Vec<u8> {
        self.doc.save()
    }

    /// Everything the unlocked vault holds, decrypted: every row of every table of the
    /// database, then the twin document saved without compression and every change of its
    /// history decoded. Only for the end-to-end tests, which search it for erased values
    /// (see `tests/tests/e2e/erase.rs`); not part of the supported interface.
    #[doc(hidden)]
    pub fn export_raw_for_tests(&mut self) -> Result<Vec<u8>, VaultError> {
        let mut out = self.store()?.dump_for_tests()?;
        out.extend(self.doc.dump_for_tests());
        Ok(out)
    }

    /// The current value of one field.
    pub fn get(&self, path: &str) -> Result<Option<Value>, VaultError> {
        Ok(self.doc.get(Catalog::get().field(path)?))
    }

    /// Every concurrent value of one field (more than one: a conflict to choose from).
    pub fn get_all(&self, path: &str) -> Result<Vec<Value>, VaultError> {
        Ok(self.doc.get_all(Catalog::get().field(path)?))
    }

    /// Fields that two computers changed at once, each with its values to choose from
    /// (`twin set` with the chosen value settles it).
    pub fn conflicts(&self) -> Vec<(FieldPath, Vec<Value>)> {
        self.doc.conflicts()
    }

    /// The computers (Automerge actor ids, hex) that have written to this twin, and which
    /// one is this computer.
    pub fn devices(&self) -> (Vec<String>, String) {
        (self.doc.devices(), self.doc.actor_hex())
    }

    /// The names the citizen gave computers, by actor id (hex). Kept in the twin, so every
    /// computer shows the same names once merged.
    pub fn device_names(&self) -> std::collections::BTreeMap<String, String> {
        self.doc
            .ledger_get(&["devices"])
            .into_iter()
            .filter_map(|(actor, v)| v.as_str().map(|n| (actor, n.to_owned())))
            .collect()
    }

    /// Names this computer (e.g. "Kitchen laptop"), for `devices` and the audit log.
    pub fn name_this_device(&mut self, name: &str) -> Result<(), VaultError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
            return Err(VaultError::BadDeviceName);
        }
        let actor = self.doc.actor_hex();
        let prov = self.prov("named this computer");
        self.doc.ledger_put(
            &["devices"],
            &[(actor.as_str(), Value::String(name.into()))],
            &prov,
        )?;
        let line = format!("You named this computer \"{name}\".");
        self.commit("device-named", line, Vec::new())
    }

    /// Every field holding a value at or inside `prefix` (or everywhere).
    pub fn show(&self, prefix: Option<&str>) -> Result<Vec<(FieldPath, Value)>, VaultError> {
        match prefix {
            None => Ok(Category::ALL
                .iter()
                .flat_map(|c| {
                    self.doc.values_within(
                        &FieldPath::parse(c.as_str()).expect("category names are paths"),
                    )
                })
                .collect()),
            Some(p) => Ok(self.doc.values_within(&Catalog::get().known(p)?)),
        }
    }

    /// Sets one field from text typed by the citizen (numbers and lists are parsed).
    pub fn set(&mut self, path: &str, text: &str, why: Option<&str>) -> Result<bool, VaultError> {
        let field = Catalog::get().field(path)?;
        let value = field.parse_text(text).map_err(twin_doc::DocError::from)?;
        self.set_value(path, value, why)
    }

    /// Sets one field to a JSON value.
    pub fn set_value(
        &mut self,
        path: &str,
        value: Value,
        why: Option<&str>,
    ) -> Result<bool, VaultError> {
        let field = Catalog::get().field(path)?;
        let prov = self.prov(why.unwrap_or("changed by you"));
        let changed = self
            .doc
            .edit(&[(field.path().clone(), Some(value))], &prov)?;
        if changed.is_empty() {
            return Ok(false);
        }
        let line = format!("You changed your {}.", twin_doc::describe(&changed));
        self.commit("edit", line, Vec::new())?;
        Ok(true)
    }

    /// Imports a JSON fragment (`{"personal": {"full_name": "…"}}`): every path and value
    /// is checked first, then all are applied in one change, or none.
    pub fn import(&mut self, fragment: &Value, source: &str) -> Result<ImportReport, VaultError> {
        let pairs = Catalog::get().flatten(fragment)?;
        let edits: Vec<(FieldPath, Option<Value>)> =
            pairs.into_iter().map(|(p, v)| (p, Some(v))).collect();
        let prov = self.prov(&format!("imported from {source}"));
        let changed = self.doc.edit(&edits, &prov)?;
        let unchanged = edits
            .iter()
            .map(|(p, _)| p.clone())
            .filter(|p| !changed.contains(p))
            .collect();
        if !changed.is_empty() {
            let line = format!(
                "You imported {} from {source}.",
                twin_doc::describe(&changed)
            );
            self.commit("import", line, Vec::new())?;
        }
        Ok(ImportReport { changed, unchanged })
    }

    /// The edits of one field, oldest first.
    pub fn history(&self, path: &str) -> Result<Vec<HistoryEntry>, VaultError> {
        let field = Catalog::get().field(path)?;
        Ok(self.doc.history(field.path()))
    }

    /// Whether the citizen has opted into `category`.
    pub fn opted_in(&self, category: Category) -> bool {
        self.doc.opted_in(category)
    }

    /// Opts into an opt-in category. Returns false if already opted in.
    pub fn opt_in(&mut self, category: Category) -> Result<bool, VaultError> {
        if self.doc.opted_in(category) {
            return Ok(false);
        }
        let prov = self.prov(&format!("opted in to {category}"));
        self.doc.set_opt_in(category, true, &prov);
        self.commit(
            "opt-in",
            format!("You opted in to keeping {category} data in your twin."),
            Vec::new(),
        )?;
        Ok(true)
    }

    /// Opts out of an opt-in category: records the withdrawal and, if the category holds
    /// anything now or in its history, erases it for real (see [`Vault::erase`]).
    pub fn opt_out(&mut self, category: Category) -> Result<Option<EraseReport>, VaultError> {
        if !category.needs_opt_in() {
            return Err(VaultError::Doc(twin_doc::DocError::Corrupt(format!(
                "{category} is not an opt-in category; you can erase fields in it with `twin erase`"
            ))));
        }
        if self.doc.opted_in(category) {
            let prov = self.prov(&format!("opted out of {category}"));
            self.doc.set_opt_in(category, false, &prov);
            self.commit(
                "opt-out",
                format!("You opted out of keeping {category} data in your twin."),
                Vec::new(),
            )?;
        }
        let path = FieldPath::parse(category.as_str()).expect("category names are paths");
        let ever_held = Catalog::get()
            .fields_within(&path)
            .any(|f| !self.doc.history(f.path()).is_empty());
        if ever_held {
            return self.erase(category.as_str()).map(Some);
        }
        Ok(None)
    }

    /// Erases a field, a group or a whole category from the twin **and its history**:
    /// the document is rebuilt without it as a new lineage, written to a new database
    /// file under a fresh data key, the keys are rewrapped, and the old file is destroyed
    /// with its key. The audit log records that an erasure happened, never the value.
    pub fn erase(&mut self, path: &str) -> Result<EraseReport, VaultError> {
        let target = Catalog::get().known(path)?;
        let fields_cleared: Vec<FieldPath> = self
            .doc
            .values_within(&target)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        let at = now_ms();
        let prov = Provenance {
            who: self.who.clone(),
            why: format!("erased {target}"),
            at_ms: at,
        };
        let rebuilt = self
            .doc
            .rebuild_without(&target, LineageId::random(), &prov);
        let new_key = DataKey::generate();
        let generation = self.keys.generation + 1;
        let database = format!("twin-{generation}.db");
        let new_path = self.dir.join(&database);
        let old_path = self.keys.database_path(&self.dir);
        for f in twin_store::files_of(&new_path) {
            let _ = fs::remove_file(f);
        }
        let what = match Catalog::get().field(target.as_str()) {
            Ok(f) => format!("your {} ({target})", twin_doc::lower_first(f.title())),
            Err(_) => format!("everything under {target}"),
        };
        let line = format!(
            "You erased {what} from your twin and from its history. Backups you exported earlier still hold it."
        );
        let row = audit::next_row(self.head()?, at, "erase", line);
        let head = (row.seq, row.hash);
        // The key of the recovery code the key file names, checked against its wrap, so
        // the erasure can never leave the citizen's printed code unable to open the vault.
        let rec_salt = self.keys.recovery.salt;
        let rec_kek = self.stored_recovery_kek()?.ok_or_else(|| {
                twin_doc::DocError::Corrupt(
                    "the vault's copy of your recovery key does not match your recovery code, so nothing was erased; run `twin recover` to issue a new code, then erase again".into(),
                )
            })?;
        let fresh = self.store()?.write_fresh(
            &new_path,
            &new_key,
            &rebuilt.save(),
            Batch {
                audit: vec![row],
                ..Default::default()
            },
        )?;
        // Switch the key file over: from here on only the new database can be opened.
        let mut keys = self.keys.clone();
        keys.database = database;
        keys.generation = generation;
        keys.anchor = Anchor::new(&new_key, head.0, head.1);
        let pass_salt = keys.passphrase.salt;
        keys.seal(&new_key, (&self.pass_kek, pass_salt), (&rec_kek, rec_salt));
        if let Err(e) = keys.write(&self.dir) {
            drop(fresh);
            for f in twin_store::files_of(&new_path) {
                let _ = fs::remove_file(f);
            }
            return Err(e);
        }
        self.keys = keys;
        self.data_key = new_key;
        if let Some(old) = self.store.replace(fresh) {
            drop(old);
        }
        self.doc = rebuilt;
        self.saved_heads = self.doc.heads();
        // The old file's key is gone; removing it is tidiness. If it fails, the next
        // unlock removes it (it is of a lower generation).
        for f in twin_store::files_of(&old_path) {
            let _ = shred(&f);
        }
        let _ = sync_dir(&self.dir);
        Ok(EraseReport {
            path: target,
            fields_cleared,
            destroyed_database: old_path,
            new_database: new_path,
        })
    }

    /// Whether `passphrase` is this vault's passphrase, without locking or unlocking:
    /// the app asks for it again before changing it or deleting the twin, in case someone
    /// else is at an unlocked computer. Runs Argon2id once.
    pub fn check_passphrase(&self, passphrase: &Passphrase) -> Result<(), VaultError> {
        use subtle::ConstantTimeEq;
        let kek = derive_kek(passphrase, &self.keys.passphrase.salt, self.keys.kdf)?;
        if bool::from(kek.expose().ct_eq(self.pass_kek.expose())) {
            Ok(())
        } else {
            Err(VaultError::WrongPassphrase)
        }
    }

    /// Changes the passphrase: one key is rewrapped; the database is not rewritten.
    pub fn change_passphrase(&mut self, new_passphrase: &Passphrase) -> Result<(), VaultError> {
        check_new_passphrase(new_passphrase)?;
        let salt: [u8; 16] = random_array();
        let kek = derive_kek(new_passphrase, &salt, self.keys.kdf)?;
        // The new key file is written first; memory and the log follow only once it is
        // on disk, so a failure leaves the old passphrase working and the log true.
        let mut keys = self.keys.clone();
        keys.passphrase = Slot {
            salt,
            wrap: twin_crypto::WrappedKey::seal(&kek, &self.data_key, &keys.context("passphrase")),
        };
        keys.write(&self.dir)?;
        self.keys = keys;
        self.pass_kek = kek;
        self.append("passphrase-changed", "You changed your passphrase.".into())
    }

    /// The audit log, oldest first.
    pub fn audit(&mut self) -> Result<Vec<AuditEntry>, VaultError> {
        Ok(self
            .store()?
            .audit()?
            .into_iter()
            .map(|r| AuditEntry {
                seq: r.seq,
                at_ms: r.at_ms,
                kind: r.kind,
                line: r.line,
            })
            .collect())
    }

    /// Checks the audit chain link by link.
    pub fn verify_audit(&mut self) -> Result<AuditReport, VaultError> {
        Ok(audit::verify(&self.store()?.audit()?))
    }

    /// Facts about the unlocked vault.
    pub fn status(&mut self) -> Result<Status, VaultError> {
        let locked = locked_status(&self.dir)?;
        let opted_in = Category::ALL
            .into_iter()
            .filter(|c| self.doc.opted_in(*c))
            .collect();
        Ok(Status {
            fields_set: self.show(None)?.len(),
            opted_in,
            lineage: self
                .doc
                .lineage()
                .map(|l| l.to_string())
                .unwrap_or_default(),
            erased_paths: self.doc.erased_paths(),
            changes: self.doc.change_count(),
            devices: self.doc.devices().len(),
            backup_fingerprint: self.backup_fingerprint()?.short(),
            backups: self.backups()?.len(),
            locked,
        })
    }

    /// Locks the vault: compacts saved changes if there are many, checkpoints the WAL,
    /// anchors the audit log in the key file, and forgets the keys.
    pub fn lock(mut self) -> Result<(), VaultError> {
        self.lock_inner()
    }

    fn lock_inner(&mut self) -> Result<(), VaultError> {
        let Some(mut store) = self.store.take() else {
            return Ok(());
        };
        let (n, bytes) = store.pending_changes()?;
        if n >= COMPACT_AFTER_CHANGES || bytes >= COMPACT_AFTER_BYTES {
            store.compact(&self.doc.save())?;
        }
        let head = store.audit_head()?.unwrap_or((0, audit::GENESIS));
        store.close()?;
        write_active_shares(&self.dir, self.outstanding_until())?;
        if head.0 != self.keys.anchor.length || head.1 != self.keys.anchor.head {
            self.keys.anchor = Anchor::new(&self.data_key, head.0, head.1);
            self.keys.write(&self.dir)?;
        }
        Ok(())
    }
}

impl Drop for Vault {
    fn drop(&mut self) {
        let _ = self.lock_inner();
    }
}

/// What deleting a vault does about shares an agency may still be using.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfSharesActive {
    /// Refuse ([`VaultError::ActiveShares`]) while some share is still active and its
    /// agency has not acknowledged a notice to stop: once the vault is gone its pairwise
    /// keys are gone too, and the share can never be stopped.
    Refuse,
    /// Delete anyway: the citizen chose so explicitly (`--yes-with-active-grants`).
    DeleteAnyway,
}

/// Keeps `active-shares` true: the time the last outstanding share ends, or no file.
pub(crate) fn write_active_shares(dir: &Path, until: Option<i64>) -> Result<(), VaultError> {
    let path = dir.join(ACTIVE_SHARES);
    let want = until.map(|t| format!("{t}\n"));
    let have = fs::read_to_string(&path).ok();
    if want == have {
        return Ok(());
    }
    match want {
        None => match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(VaultError::io(&path, e)),
            _ => Ok(()),
        },
        Some(text) => {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| VaultError::io(&path, e))?;
            f.write_all(text.as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|e| VaultError::io(&path, e))
        }
    }
}

/// Whether the vault in `dir` may have shares still in use at agencies that have not
/// been told to stop, as of its last lock. Needs no passphrase. An unreadable marker
/// counts as yes.
pub fn may_have_active_shares(dir: &Path) -> bool {
    match fs::read_to_string(dir.join(ACTIVE_SHARES)) {
        Err(e) => e.kind() != io::ErrorKind::NotFound,
        Ok(text) => text
            .trim()
            .parse::<i64>()
            .map_or(true, |until| now_ms() / 1000 <= until),
    }
}

/// Deletes the vault in `dir` for good: the key file is overwritten and removed first
/// (without the wrapped keys nothing else can be decrypted), then the database files,
/// then the rest. Needs no passphrase: the right to be forgotten does not depend on
/// remembering one. With [`IfSharesActive::Refuse`] it refuses, changing nothing, while
/// the vault's last lock recorded shares still in use at agencies not yet told to stop
/// (see [`may_have_active_shares`]); unlocking, revoking and sending the notices (as
/// `twin delete-vault` does) clears that.
pub fn delete_vault(dir: &Path, if_active: IfSharesActive) -> Result<DeleteReport, VaultError> {
    // Any vault file counts, so an interrupted deletion (key file already gone) can be
    // finished; files that are not the vault's are never touched.
    let has_vault_files = fs::read_dir(dir)
        .map(|entries| {
            entries.flatten().any(|e| {
                is_vault_file(&e.file_name().to_string_lossy()) && e.file_name() != LOCK_FILE
            })
        })
        .unwrap_or(false);
    if !has_vault_files {
        return Err(VaultError::NoVault(dir.to_owned()));
    }
    let _lock = take_lock(dir)?;
    if if_active == IfSharesActive::Refuse && may_have_active_shares(dir) {
        return Err(VaultError::ActiveShares);
    }
    let mut removed = Vec::new();
    let key_path = dir.join(KeyFile::NAME);
    if shred(&key_path).map_err(|e| VaultError::io(&key_path, e))? {
        removed.push(key_path);
    }
    sync_dir(dir)?;
    let mut others: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| VaultError::io(dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| is_vault_file(&n.to_string_lossy()))
        })
        .collect();
    others.sort();
    for p in others {
        if shred(&p).map_err(|e| VaultError::io(&p, e))? {
            removed.push(p);
        }
    }
    let removed_folder = fs::remove_dir(dir).is_ok();
    Ok(DeleteReport {
        removed,
        removed_folder,
    })
}

#[cfg(test)]
mod tests;
