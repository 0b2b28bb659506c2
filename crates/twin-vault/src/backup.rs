//! Backups: export the vault to one self-contained `.twinbackup` file, restore it into an
//! empty folder on another computer, or merge it back into a vault of the same identity.
//!
//! Sections written (see `docs/backup-format.md` for the file itself):
//! - **Snapshot**: the Automerge document saved whole (fields, consents, lineage, ledger);
//! - **Audit**: the activity log rows, JSON;
//! - **Grants** and **Records**: the sharing ledger as JSON, so that a damaged snapshot
//!   still leaves the signed shares, revocations and records;
//! - **Settings**: what a restore needs besides: vault id, root secret (which derives the
//!   pairwise agency keys), the recovery code's key, the fingerprint salt, lineage.
//!
//! The backup's passphrase slot uses the vault's passphrase; its recovery slot uses the
//! key of the vault's recovery code, so the one printed code opens both. Every backup of
//! one vault is signed by one Ed25519 key derived from the root secret, so one
//! fingerprint (shown by `twin status --unlock`) names all of them.

use std::fs;
use std::io::{self, Seek};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use twin_backup::{Fingerprint, OpenedBackup, RecoverySlot, SectionKind};
use twin_crypto::{DataKey, KdfParams, Kek, RecoveryCode, derive_kek, random_array};
use twin_doc::{Provenance, TwinDoc};
use twin_schema::Catalog;
use twin_store::{AuditRow, Batch, Store};
use twin_types::{LineageId, VaultId};
use zeroize::Zeroizing;

use crate::keyfile::{Anchor, KeyFile, Slot, sync_dir};
use crate::{
    FAILED_UNLOCKS, NewRecoveryCode, Passphrase, Vault, VaultError, audit, check_new_passphrase,
    human_time, keyfile, meta, now_ms, take_lock,
};

pub use twin_backup::{
    HeaderFacts, InspectError, Progress, VerifyError, VerifyReport, inspect, verify,
};

/// Store metadata: the salt of this vault's backup fingerprint.
const FINGERPRINT_SALT: &str = "backup_fingerprint_salt";
/// Store metadata: JSON list of the backups this vault exported.
const BACKUPS: &str = "backups";
/// HKDF label of the backup signing key.
const SIGNING_LABEL: &[u8] = b"citizen-twin/backup-signing/v1";

/// A backup this vault exported, as remembered in its store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRecord {
    /// Where it was written (as given, made absolute when possible).
    pub path: PathBuf,
    /// When, milliseconds since 1970 (UTC).
    pub created_ms: i64,
    /// Its size in bytes.
    pub size: u64,
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// The file.
    pub path: PathBuf,
    /// Bytes written.
    pub size: u64,
    /// Sections in it.
    pub sections: u32,
    /// Authenticated chunks in it.
    pub chunks: u32,
    /// The vault's backup fingerprint, in full (hex).
    pub fingerprint: String,
    /// Its first 16 digits in groups of four, for reading aloud.
    pub fingerprint_short: String,
    /// When it was made, milliseconds since 1970 (UTC).
    pub created_ms: i64,
}

/// How to open a backup for a restore.
#[derive(Debug, Clone, Copy)]
pub enum RestoreUnlock<'a> {
    /// The passphrase the backup was made with; a vault created by the restore keeps it.
    Passphrase(&'a Passphrase),
    /// The recovery code (text as typed), and the passphrase a vault created by the
    /// restore gets (unused when merging into an existing vault).
    RecoveryCode {
        /// The code as typed.
        code: &'a str,
        /// The new vault's passphrase.
        new_passphrase: &'a Passphrase,
    },
}

/// How a restore used its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestoreMode {
    /// A new vault was created in an empty folder.
    Created,
    /// The backup was merged into the vault already there.
    Merged,
}

/// What a restore did, and what it could not do.
#[derive(Debug, Serialize)]
pub struct RestoreReport {
    /// Created or merged.
    pub mode: RestoreMode,
    /// The target vault folder.
    pub dir: PathBuf,
    /// The backup's fingerprint, short form.
    pub fingerprint: String,
    /// When the backup was made (seconds since 1970, UTC).
    pub made_at: i64,
    /// Parts of the backup restored, in plain words.
    pub restored: Vec<String>,
    /// Parts that could not be restored, in plain words (never hidden).
    pub lost: Vec<String>,
    /// Changes brought in from the backup (merge) or restored (create).
    pub changes: usize,
    /// Fields that now hold two values to choose between.
    pub conflicts: Vec<String>,
    /// Fields the backup held but this vault erased since: left out.
    pub left_out_erased: Vec<String>,
    /// The backup belonged to another vault and was restored on request.
    pub other_identity: bool,
    /// A new recovery code, when the backup's own could not be kept. Shown once.
    #[serde(skip)]
    pub new_recovery_code: Option<NewRecoveryCode>,
}

impl RestoreReport {
    /// Whether everything in the backup was restored.
    pub fn is_complete(&self) -> bool {
        self.lost.is_empty()
    }
}

#[derive(Serialize, Deserialize)]
struct Settings {
    #[serde(with = "hex")]
    vault_id: Vec<u8>,
    #[serde(with = "hex")]
    root_secret: Vec<u8>,
    #[serde(with = "hex")]
    recovery_salt: [u8; 16],
    #[serde(with = "hex")]
    recovery_kek: Vec<u8>,
    #[serde(with = "hex")]
    fingerprint_salt: [u8; 16],
    created_ms: i64,
    lineage: String,
    erased: Vec<String>,
    devices: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct AuditJson {
    seq: u64,
    at_ms: i64,
    kind: String,
    line: String,
    #[serde(with = "hex")]
    hash: [u8; 32],
}

/// The ledger map at `path` and every map under it, as `{"entries", "children"}`.
fn dump_ledger(doc: &TwinDoc, path: &mut Vec<String>) -> Value {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    let entries = doc.ledger_get(&p);
    let mut children = Map::new();
    for c in doc.ledger_children(&p) {
        path.push(c.clone());
        children.insert(c, dump_ledger(doc, path));
        path.pop();
    }
    json!({"entries": entries, "children": children})
}

/// Writes a ledger tree from [`dump_ledger`] back, adding only entries missing here:
/// the ledger is add-only, so a revocation or record is never lost or overwritten.
fn load_ledger(
    doc: &mut TwinDoc,
    path: &mut Vec<String>,
    tree: &Value,
    prov: &Provenance,
) -> Result<usize, VaultError> {
    let mut added = 0;
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    if let Some(entries) = tree.get("entries").and_then(Value::as_object) {
        let have = doc.ledger_get(&p);
        let missing: Vec<(&str, Value)> = entries
            .iter()
            .filter(|(k, _)| !have.contains_key(*k))
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        if !missing.is_empty() && path.len() > 1 {
            doc.ledger_put(&p, &missing, prov)?;
            added += missing.len();
        }
    }
    if let Some(children) = tree.get("children").and_then(Value::as_object) {
        for (name, sub) in children {
            path.push(name.clone());
            added += load_ledger(doc, path, sub, prov)?;
            path.pop();
        }
    }
    Ok(added)
}

fn corrupt(what: &str) -> VaultError {
    VaultError::Doc(twin_doc::DocError::Corrupt(what.to_owned()))
}

fn signing_key(root_secret: &[u8]) -> ed25519_dalek::SigningKey {
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"citizen-twin/root-secret/v1"), root_secret);
    let mut seed = Zeroizing::new([0u8; 32]);
    hk.expand(SIGNING_LABEL, seed.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    ed25519_dalek::SigningKey::from_bytes(&seed)
}

fn loss_words(opened: &OpenedBackup) -> Vec<String> {
    let mut out = Vec::new();
    for l in &opened.lost {
        match l {
            twin_backup::Loss::Section { index, kind, damage } => out.push(format!(
                "part {} ({kind}) is damaged from chunk {} at byte {}{}",
                index + 1,
                damage.chunk,
                damage.offset,
                if damage.truncated {
                    " (the file is cut short there)"
                } else {
                    ""
                }
            )),
            twin_backup::Loss::Rest {
                from_byte,
                from_section,
                listed_sections,
            } => out.push(match listed_sections {
                Some(n) => format!(
                    "parts {} to {n} could not be read (from byte {from_byte} on)",
                    from_section + 1
                ),
                None => format!(
                    "everything after byte {from_byte} could not be read; the backup may have held more parts"
                ),
            }),
            _ => out.push("a part of the backup could not be read".into()),
        }
    }
    if opened.trailer != twin_backup::TrailerStatus::Intact && out.is_empty() {
        out.push("the backup's signed list of contents is missing or damaged, so it cannot prove nothing else was in it".into());
    }
    out
}

fn section(opened: &OpenedBackup, kind: SectionKind) -> Option<&[u8]> {
    opened
        .sections
        .iter()
        .find(|(k, _)| *k == kind)
        .and_then(|(_, r)| r.as_ref().ok())
        .map(|b| b.as_slice())
}

fn open_file(file: &Path, unlock: RestoreUnlock<'_>) -> Result<OpenedBackup, VaultError> {
    let f = fs::File::open(file).map_err(|e| VaultError::io(file, e))?;
    let code;
    let u = match unlock {
        RestoreUnlock::Passphrase(p) => twin_backup::Unlock::Passphrase(p),
        RestoreUnlock::RecoveryCode { code: text, .. } => {
            code = RecoveryCode::parse(text)?;
            twin_backup::Unlock::RecoveryCode(&code)
        }
    };
    Ok(twin_backup::open(io::BufReader::new(f), u)?)
}

fn read_header(file: &Path) -> Result<HeaderFacts, VaultError> {
    let mut f = fs::File::open(file).map_err(|e| VaultError::io(file, e))?;
    f.rewind().map_err(|e| VaultError::io(file, e))?;
    Ok(twin_backup::inspect(f)?)
}

impl Vault {
    fn root_secret_bytes(&mut self) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        self.store()?
            .meta(meta::ROOT_SECRET)?
            .map(Zeroizing::new)
            .ok_or_else(|| corrupt("the vault's root secret is missing"))
    }

    fn vault_id_bytes(&mut self) -> Result<Vec<u8>, VaultError> {
        self.store()?
            .meta(meta::VAULT_ID)?
            .ok_or_else(|| corrupt("the vault's id is missing"))
    }

    /// The fingerprint salt, made and saved on first use.
    fn fingerprint_salt(&mut self) -> Result<[u8; 16], VaultError> {
        if let Some(s) = self
            .store()?
            .meta(FINGERPRINT_SALT)?
            .and_then(|v| <[u8; 16]>::try_from(v.as_slice()).ok())
        {
            return Ok(s);
        }
        let salt: [u8; 16] = random_array();
        self.store()?.commit(Batch {
            meta: vec![(FINGERPRINT_SALT.into(), salt.to_vec())],
            ..Default::default()
        })?;
        Ok(salt)
    }

    /// The fingerprint every backup of this vault carries: read it out to support staff,
    /// who compare it with what `twin backup inspect` prints.
    pub fn backup_fingerprint(&mut self) -> Result<Fingerprint, VaultError> {
        let salt = self.fingerprint_salt()?;
        let id = self.vault_id_bytes()?;
        let key = signing_key(&self.root_secret_bytes()?);
        Ok(Fingerprint::compute(&salt, &id, &key.verifying_key()))
    }

    /// The backups this vault exported (path and date), oldest first. They may since
    /// have been moved or deleted; [`BackupRecord::path`] is where they were written.
    pub fn backups(&mut self) -> Result<Vec<BackupRecord>, VaultError> {
        Ok(self
            .store()?
            .meta(BACKUPS)?
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default())
    }

    /// The recovery code's key, checked against the key file's recovery wrap.
    fn recovery_kek_checked(&mut self) -> Result<(Kek, [u8; 16]), VaultError> {
        let salt = self.keys.recovery.salt;
        let kek = self.stored_recovery_kek()?.ok_or_else(|| {
                corrupt("the vault's copy of your recovery key does not match your recovery code; run `twin recover` to issue a new code, then export again")
            })?;
        Ok((kek, salt))
    }

    /// Exports the whole vault to `path` (atomically: a full disk or a kill never leaves
    /// a half-written file under that name). `passphrase` is the one that unlocked the
    /// vault; the vault's recovery code opens the backup too. `progress` is called after
    /// every chunk.
    pub fn export_backup(
        &mut self,
        path: &Path,
        passphrase: &Passphrase,
        progress: impl FnMut(Progress),
    ) -> Result<ExportReport, VaultError> {
        let salt = self.fingerprint_salt()?;
        let vault_id = self.vault_id_bytes()?;
        let root = self.root_secret_bytes()?;
        let signer = signing_key(&root);
        let (rec_kek, rec_salt) = self.recovery_kek_checked()?;
        let created_ms = now_ms();
        let audit_rows: Vec<AuditJson> = self
            .store()?
            .audit()?
            .into_iter()
            .map(|r| AuditJson {
                seq: r.seq,
                at_ms: r.at_ms,
                kind: r.kind,
                line: r.line,
                hash: r.hash,
            })
            .collect();
        let settings = Settings {
            vault_id: vault_id.clone(),
            root_secret: root.to_vec(),
            recovery_salt: rec_salt,
            recovery_kek: rec_kek.expose().to_vec(),
            fingerprint_salt: salt,
            created_ms: self
                .store()?
                .meta(meta::CREATED_MS)?
                .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
                .map(i64::from_be_bytes)
                .unwrap_or(created_ms),
            lineage: self
                .doc
                .lineage()
                .map(|l| l.to_string())
                .unwrap_or_default(),
            erased: self.doc.erased_paths(),
            devices: self.doc.devices(),
        };
        let snapshot = Zeroizing::new(self.doc.save());
        let audit_json = Zeroizing::new(serde_json::to_vec(&audit_rows).expect("serialises"));
        let grants = Zeroizing::new(
            serde_json::to_vec(&dump_ledger(&self.doc, &mut vec!["grants".into()]))
                .expect("serialises"),
        );
        let records = Zeroizing::new(
            serde_json::to_vec(&dump_ledger(&self.doc, &mut vec!["records".into()]))
                .expect("serialises"),
        );
        let settings_json = Zeroizing::new(serde_json::to_vec(&settings).expect("serialises"));
        let params = twin_backup::BackupParams {
            vault_id: &vault_id,
            fingerprint_salt: salt,
            signer: signer.verifying_key(),
            created_at: created_ms / 1000,
            kdf: self.keys.kdf,
            passphrase,
            recovery: RecoverySlot::from_kek(rec_kek, rec_salt),
            chunk_size: twin_backup::DEFAULT_CHUNK_SIZE,
        };
        let sections: [(SectionKind, &[u8]); 5] = [
            (SectionKind::Settings, &settings_json),
            (SectionKind::Snapshot, &snapshot),
            (SectionKind::Grants, &grants),
            (SectionKind::Records, &records),
            (SectionKind::Audit, &audit_json),
        ];
        let summary = twin_backup::write_atomic(path, params, &sections, &signer, progress)?;
        let shown = fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let mut list = self.backups()?;
        list.push(BackupRecord {
            path: shown.clone(),
            created_ms,
            size: summary.size,
        });
        let line = format!(
            "You exported a backup of your twin to {} (fingerprint {}). It holds your whole twin, encrypted under your passphrase and your recovery code.",
            shown.display(),
            summary.fingerprint.short()
        );
        self.commit(
            "backup-exported",
            line,
            vec![(
                BACKUPS.into(),
                serde_json::to_vec(&list).expect("serialises"),
            )],
        )?;
        Ok(ExportReport {
            path: shown,
            size: summary.size,
            sections: summary.sections,
            chunks: summary.chunks,
            fingerprint: summary.fingerprint.to_string(),
            fingerprint_short: summary.fingerprint.short(),
            created_ms,
        })
    }

    /// Merges a backup of this vault into it: edits made on both computers survive,
    /// revocations and records are kept whatever the order, anything this vault erased
    /// is left out, and fields both sides changed at once are listed as conflicts. All in
    /// one transaction: a kill midway leaves the vault as it was. A backup of another
    /// vault identity is refused unless `allow_other_identity`.
    pub fn merge_backup(
        &mut self,
        file: &Path,
        unlock: RestoreUnlock<'_>,
        allow_other_identity: bool,
    ) -> Result<RestoreReport, VaultError> {
        let header = read_header(file)?;
        let id = self.vault_id_bytes()?;
        let ours = signing_key(&self.root_secret_bytes()?).verifying_key();
        let same = Fingerprint::compute(&header.fingerprint_salt, &id, &ours) == header.fingerprint
            && header.signer == *ours.as_bytes();
        if !same && !allow_other_identity {
            return Err(VaultError::OtherIdentity {
                fingerprint: header.fingerprint.short(),
            });
        }
        let opened = open_file(file, unlock)?;
        let mut lost = loss_words(&opened);
        let mut restored = Vec::new();
        let made = human_time(header.created_at.saturating_mul(1000));
        let prov = self.prov(&format!(
            "restored from backup {} made {made}",
            header.fingerprint.short()
        ));
        let erased_here = self.doc.erased_paths();
        let mut left_out = Vec::new();
        let mut changes = 0;
        match section(&opened, SectionKind::Snapshot) {
            Some(bytes) => {
                let actor: [u8; 16] = random_array();
                let mut theirs = TwinDoc::load(bytes, [], &actor)?;
                if theirs.lineage() == self.doc.lineage() {
                    changes = self.doc.merge(&mut theirs)?;
                } else {
                    // Another lineage (an erasure happened on one side since): no common
                    // history to merge, so bring over field by field what is newer there.
                    let mut edits = Vec::new();
                    for field in Catalog::get().fields() {
                        let p = field.path();
                        if erased_here.iter().any(|e| within(p.as_str(), e)) {
                            if theirs.get(field).is_some() {
                                left_out.push(p.to_string());
                            }
                            continue;
                        }
                        let (Some(v), here) = (theirs.get(field), self.doc.get(field)) else {
                            continue;
                        };
                        if here.as_ref() == Some(&v) {
                            continue;
                        }
                        let there_ms = theirs.last_edit_ms(p).unwrap_or(i64::MIN);
                        let here_ms = self.doc.last_edit_ms(p).unwrap_or(i64::MIN);
                        if there_ms > here_ms && self.doc.opted_in(field.category()) {
                            edits.push((p.clone(), Some(v)));
                        }
                    }
                    changes = self.doc.edit(&edits, &prov)?.len();
                }
                restored.push("your twin's fields and history".to_owned());
            }
            None => lost.push(
                "your twin's fields could not be read from this backup; nothing of them was merged"
                    .into(),
            ),
        }
        for (kind, root) in [
            (SectionKind::Grants, "grants"),
            (SectionKind::Records, "records"),
        ] {
            if let Some(tree) = section(&opened, kind).and_then(|b| serde_json::from_slice(b).ok())
            {
                changes += load_ledger(&mut self.doc, &mut vec![root.to_owned()], &tree, &prov)?;
                restored.push(format!("your {kind}"));
            }
        }
        let conflicts: Vec<String> = self
            .doc
            .conflicts()
            .into_iter()
            .map(|(p, _)| p.to_string())
            .collect();
        let mut line = format!(
            "You restored a backup (fingerprint {}, made {made}) into this twin: {changes} change(s) came from it.",
            header.fingerprint.short()
        );
        if !same {
            line.push_str(" The backup belonged to another vault; you chose to restore it anyway.");
        }
        if !conflicts.is_empty() {
            line.push_str(&format!(
                " {} field(s) now hold two values to choose between: {}.",
                conflicts.len(),
                crate::describe_fields(&conflicts)
            ));
        }
        if !left_out.is_empty() {
            line.push_str(&format!(
                " Left out because you erased them since: {}.",
                crate::describe_fields(&left_out)
            ));
        }
        if !lost.is_empty() {
            line.push_str(&format!(
                " The backup was damaged; not restored: {}.",
                lost.join("; ")
            ));
        }
        self.commit("backup-restored", line, Vec::new())?;
        Ok(RestoreReport {
            mode: RestoreMode::Merged,
            dir: self.dir.clone(),
            fingerprint: header.fingerprint.short(),
            made_at: header.created_at,
            restored,
            lost,
            changes,
            conflicts,
            left_out_erased: left_out,
            other_identity: !same,
            new_recovery_code: None,
        })
    }
}

fn within(path: &str, prefix: &str) -> bool {
    path == prefix || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'.'))
}

/// Removes a folder when dropped, unless emptied first.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            let _ = fs::remove_dir_all(d);
        }
    }
}

/// The folder `dir` is in (`.` for a bare name); `None` for a root.
fn parent_of(dir: &Path) -> Option<PathBuf> {
    match dir.parent() {
        Some(p) if p.as_os_str().is_empty() => Some(PathBuf::from(".")),
        Some(p) => Some(p.to_owned()),
        None => None,
    }
}

/// A fresh, private staging folder `.NAME.restoring` beside `dir`, for a restore to
/// build the vault in before renaming it into place. A leftover of a restore that was
/// killed is removed first (unless another restore holds it: [`VaultError::Busy`]).
/// `None` when `dir` has no name to put one beside (a root): then it is built in place.
fn staging_dir(dir: &Path) -> Result<Option<PathBuf>, VaultError> {
    let (Some(parent), Some(name)) = (parent_of(dir), dir.file_name()) else {
        return Ok(None);
    };
    fs::create_dir_all(&parent).map_err(|e| VaultError::io(&parent, e))?;
    let staging = parent.join(format!(".{}.restoring", name.to_string_lossy()));
    if fs::symlink_metadata(&staging).is_ok() {
        // Held by a restore still running: busy. Otherwise a leftover: removed.
        drop(take_lock(&staging)?);
        fs::remove_dir_all(&staging).map_err(|e| VaultError::io(&staging, e))?;
    }
    twin_store::make_private_dir(&staging).map_err(|e| VaultError::io(&staging, e))?;
    Ok(Some(staging))
}

/// Whether `dir` holds a vault (its key file).
pub fn holds_vault(dir: &Path) -> bool {
    dir.join(KeyFile::NAME).exists()
}

/// Restores a backup into `dir`, which must hold no vault: creates a vault there from
/// every intact section, with a fresh computer id. Its passphrase is the backup's (or,
/// with the recovery code, the new one given); the backup's recovery code keeps working.
/// The key file is written last, so a kill midway leaves no vault (and a later restore
/// or `init` clears the leftovers). Returns the vault unlocked.
pub fn restore_backup(
    file: &Path,
    dir: &Path,
    unlock: RestoreUnlock<'_>,
) -> Result<(Vault, RestoreReport), VaultError> {
    if holds_vault(dir) {
        return Err(VaultError::AlreadyExists(dir.to_owned()));
    }
    let passphrase = match unlock {
        RestoreUnlock::Passphrase(p) => p,
        RestoreUnlock::RecoveryCode { new_passphrase, .. } => {
            check_new_passphrase(new_passphrase)?;
            new_passphrase
        }
    };
    let header = read_header(file)?;
    let mut opened = open_file(file, unlock)?;
    let mut lost = loss_words(&opened);
    let mut restored = Vec::new();
    let settings: Option<Settings> =
        section(&opened, SectionKind::Settings).and_then(|b| serde_json::from_slice(b).ok());
    if settings.is_none() {
        lost.push("the vault's settings (its identity and agency keys): this restored twin gets a new identity, and agencies will not recognise it".into());
    }
    let fresh = fs::read_dir(dir)
        .map(|mut d| d.next().is_none())
        .unwrap_or(true);
    // Into a missing or empty folder, the vault is built in a staging folder beside it
    // and renamed into place whole: a kill midway leaves the target as it was. Into a
    // folder holding other files, it is built in place with the key file written last,
    // so a kill leaves no vault there (a later restore or `init` clears the leftovers).
    let staging = if fresh { staging_dir(dir)? } else { None };
    let build: PathBuf = staging.clone().unwrap_or_else(|| dir.to_owned());
    if staging.is_none() && fresh {
        twin_store::make_private_dir(dir).map_err(|e| VaultError::io(dir, e))?;
    }
    // Whatever fails from here on, the staging folder does not stay behind.
    let mut guard = RemoveOnDrop(staging.clone());
    let lock: OwnedFd = take_lock(&build)?;
    // Opened with the passphrase the new vault keeps: its key (Argon2id settings checked
    // when the header was read) protects the new vault too, so Argon2id runs once. With
    // the recovery code, the new passphrase needs its own.
    let (kdf, pass_salt, pass_kek) = match (unlock, opened.passphrase_key.take()) {
        (RestoreUnlock::Passphrase(_), Some(k)) => (k.kdf, k.salt, k.kek),
        _ => {
            let salt: [u8; 16] = random_array();
            let kek = derive_kek(passphrase, &salt, KdfParams::DEFAULT)?;
            (KdfParams::DEFAULT, salt, kek)
        }
    };
    let (rec_kek, rec_salt, new_code) = match settings.as_ref().and_then(|s| {
        <[u8; 32]>::try_from(s.recovery_kek.as_slice())
            .ok()
            .map(|k| (k, s.recovery_salt))
    }) {
        Some((k, salt)) => (Kek::from_bytes(k), salt, None),
        None => {
            let code = RecoveryCode::generate();
            let salt: [u8; 16] = random_array();
            (code.to_kek(&salt), salt, Some(NewRecoveryCode(code)))
        }
    };
    let data_key = DataKey::generate();
    let database = "twin-1.db".to_owned();
    let db_path = build.join(&database);
    for f in twin_store::files_of(&db_path) {
        let _ = fs::remove_file(f);
    }
    let actor: [u8; 16] = random_array();
    let at = now_ms();
    let made = human_time(header.created_at.saturating_mul(1000));
    let prov = Provenance {
        who: "you".into(),
        why: format!(
            "restored from backup {} made {made}",
            header.fingerprint.short()
        ),
        at_ms: at,
    };
    let mut doc =
        match section(&opened, SectionKind::Snapshot).map(|b| TwinDoc::load(b, [], &actor)) {
            Some(Ok(d)) => {
                restored.push("your twin's fields and history".to_owned());
                d
            }
            other => {
                if let Some(Err(_)) = other {
                    lost.push("your twin's fields (the saved document could not be read)".into());
                } else {
                    lost.push("your twin's fields and their history".into());
                }
                let lineage = settings
                    .as_ref()
                    .and_then(|s| s.lineage.parse().ok())
                    .unwrap_or_else(LineageId::random);
                TwinDoc::create(&actor, lineage, &prov)
            }
        };
    for (kind, root) in [
        (SectionKind::Grants, "grants"),
        (SectionKind::Records, "records"),
    ] {
        if let Some(tree) = section(&opened, kind).and_then(|b| serde_json::from_slice(b).ok()) {
            load_ledger(&mut doc, &mut vec![root.to_owned()], &tree, &prov)?;
            restored.push(format!("your {kind}"));
        } else if !restored.iter().any(|r| r.contains("fields")) {
            lost.push(format!("your {kind}"));
        }
    }
    let mut rows: Vec<AuditRow> = Vec::new();
    match section(&opened, SectionKind::Audit)
        .and_then(|b| serde_json::from_slice::<Vec<AuditJson>>(b).ok())
    {
        Some(list) => {
            rows = list
                .into_iter()
                .map(|r| AuditRow {
                    seq: r.seq,
                    at_ms: r.at_ms,
                    kind: r.kind,
                    line: r.line,
                    hash: r.hash,
                })
                .collect();
            if !audit::verify(&rows).is_intact() || rows.is_empty() {
                rows.clear();
                lost.push("your activity log (it did not check out)".into());
            } else {
                restored.push("your activity log".into());
            }
        }
        None => lost.push("your activity log".into()),
    }
    let head = rows
        .last()
        .map(|r| (r.seq, r.hash))
        .unwrap_or((0, audit::GENESIS));
    let mut line = format!(
        "You restored your twin on this computer from a backup (fingerprint {}, made {made}).",
        header.fingerprint.short()
    );
    if !lost.is_empty() {
        line.push_str(&format!(
            " The backup was damaged; not restored: {}.",
            lost.join("; ")
        ));
    }
    let row = audit::next_row(head, at, "backup-restored", line);
    let head = (row.seq, row.hash);
    rows.push(row);
    let (vault_id, root_secret, fp_salt, created) = match &settings {
        Some(s) => (
            s.vault_id.clone(),
            s.root_secret.clone(),
            Some(s.fingerprint_salt),
            s.created_ms,
        ),
        None => (
            VaultId::random().as_bytes().to_vec(),
            twin_crypto::RootSecret::generate().expose().to_vec(),
            None,
            at,
        ),
    };
    let mut meta_rows = vec![
        (meta::VAULT_ID.into(), vault_id),
        (meta::ROOT_SECRET.into(), root_secret),
        (meta::ACTOR.into(), actor.to_vec()),
        (meta::recovery_kek(&rec_salt), rec_kek.expose().to_vec()),
        (meta::CREATED_MS.into(), created.to_be_bytes().to_vec()),
    ];
    if let Some(s) = fp_salt {
        meta_rows.push((FINGERPRINT_SALT.into(), s.to_vec()));
    }
    let result = (|| -> Result<(Store, KeyFile), VaultError> {
        let mut store = Store::create(&db_path, &data_key)?;
        store.compact(&doc.save())?;
        store.commit(Batch {
            change: None,
            audit: rows,
            meta: meta_rows,
        })?;
        store.checkpoint()?;
        let empty = || Slot {
            salt: [0; 16],
            wrap: twin_crypto::WrappedKey {
                nonce: [0; 24],
                sealed: vec![],
            },
        };
        let mut keys = KeyFile {
            format: keyfile::FORMAT.into(),
            database: database.clone(),
            generation: 1,
            kdf,
            passphrase: empty(),
            recovery: empty(),
            anchor: Anchor::new(&data_key, head.0, head.1),
        };
        keys.seal(&data_key, (&pass_kek, pass_salt), (&rec_kek, rec_salt));
        // The key file last: until it exists there is no vault here.
        keys.write(&build)?;
        let Some(staging) = &staging else {
            return Ok((store, keys));
        };
        // The whole vault now exists in the staging folder: close it, move the folder
        // into place in one rename (over the empty target folder, if there is one), and
        // open it there.
        store.close()?;
        fs::rename(staging, dir).map_err(|e| VaultError::io(dir, e))?;
        if let Some(parent) = parent_of(dir) {
            sync_dir(&parent)?;
        }
        let store = Store::open(&dir.join(&database), &data_key)?;
        Ok((store, keys))
    })();
    let (store, keys) = match result {
        Ok(v) => v,
        Err(e) => {
            if staging.is_none() {
                for f in twin_store::files_of(&db_path) {
                    let _ = fs::remove_file(f);
                }
            }
            return Err(e);
        }
    };
    guard.0 = None;
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
    let report = RestoreReport {
        mode: RestoreMode::Created,
        dir: dir.to_owned(),
        fingerprint: header.fingerprint.short(),
        made_at: header.created_at,
        restored,
        lost,
        changes: vault.doc.change_count(),
        conflicts: vault
            .doc
            .conflicts()
            .into_iter()
            .map(|(p, _)| p.to_string())
            .collect(),
        left_out_erased: Vec::new(),
        other_identity: false,
        new_recovery_code: new_code,
    };
    Ok((vault, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const P: &str = "correct horse battery";

    fn pass(s: &str) -> Passphrase {
        Passphrase::new(s.to_owned())
    }

    fn shown(v: &Vault) -> Vec<(String, Value)> {
        v.show(None)
            .unwrap()
            .into_iter()
            .map(|(p, v)| (p.to_string(), v))
            .collect()
    }

    /// A vault with two fields, exported; returns (tempdir, vault dir, backup file, code).
    fn exported() -> (tempfile::TempDir, PathBuf, PathBuf, String) {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("a");
        let (mut v, code) = Vault::init(&d, &pass(P)).unwrap();
        v.set("personal.full_name", "Alex Smith", None).unwrap();
        v.set("personal.address.town", "Leeds", None).unwrap();
        let file = t.path().join("twin.twinbackup");
        let mut seen = 0;
        let r = v.export_backup(&file, &pass(P), |_| seen += 1).unwrap();
        assert!(seen > 0, "progress is reported");
        assert_eq!(r.sections, 5);
        assert_eq!(r.fingerprint_short, v.backup_fingerprint().unwrap().short());
        assert_eq!(v.backups().unwrap().len(), 1);
        assert!(
            v.audit()
                .unwrap()
                .iter()
                .any(|e| e.kind == "backup-exported")
        );
        v.lock().unwrap();
        (t, d, file, code.0.display().to_string())
    }

    #[test]
    fn export_then_restore_into_an_empty_folder_gives_the_same_twin() {
        let (t, d, file, _) = exported();
        let facts = verify(fs::File::open(&file).unwrap()).unwrap();
        assert_eq!(facts.sections.len(), 5);
        let a = Vault::unlock(&d, &pass(P)).unwrap();
        let want = shown(&a);
        let a_actor = a.doc.actor_hex();
        let a_fp = {
            let mut a = a;
            let f = a.backup_fingerprint().unwrap();
            a.lock().unwrap();
            f
        };
        let b = t.path().join("b");
        let (mut v, report) =
            restore_backup(&file, &b, RestoreUnlock::Passphrase(&pass(P))).unwrap();
        assert!(report.is_complete(), "{:?}", report.lost);
        assert_eq!(report.mode, RestoreMode::Created);
        assert_eq!(shown(&v), want);
        assert_ne!(v.doc.actor_hex(), a_actor, "a fresh computer id");
        assert_eq!(v.backup_fingerprint().unwrap(), a_fp, "same identity");
        assert!(v.verify_audit().unwrap().is_intact());
        v.lock().unwrap();
        // The new vault opens with the passphrase, and refuses a second restore.
        let v = Vault::unlock(&b, &pass(P)).unwrap();
        assert_eq!(shown(&v), want);
        drop(v);
        assert!(matches!(
            restore_backup(&file, &b, RestoreUnlock::Passphrase(&pass(P))),
            Err(VaultError::AlreadyExists(_))
        ));
    }

    #[test]
    fn the_recovery_code_restores_and_wrong_secrets_are_typed_errors() {
        let (t, _d, file, code) = exported();
        let wrong = restore_backup(
            &file,
            &t.path().join("x"),
            RestoreUnlock::Passphrase(&pass("not the passphrase")),
        )
        .unwrap_err();
        assert_eq!(wrong.code(), "wrong-passphrase");
        assert!(!holds_vault(&t.path().join("x")));
        let other = RecoveryCode::generate().display().to_string();
        let wrong = restore_backup(
            &file,
            &t.path().join("y"),
            RestoreUnlock::RecoveryCode {
                code: &other,
                new_passphrase: &pass("a new passphrase here"),
            },
        )
        .unwrap_err();
        assert_eq!(wrong.code(), "wrong-recovery-code");
        let b = t.path().join("b");
        let (v, r) = restore_backup(
            &file,
            &b,
            RestoreUnlock::RecoveryCode {
                code: &code,
                new_passphrase: &pass("a new passphrase here"),
            },
        )
        .unwrap();
        assert!(
            r.new_recovery_code.is_none(),
            "the printed code keeps working"
        );
        assert_eq!(
            v.get("personal.full_name").unwrap(),
            Some(json!("Alex Smith"))
        );
        v.lock().unwrap();
        Vault::unlock(&b, &pass("a new passphrase here"))
            .unwrap()
            .lock()
            .unwrap();
        Vault::recover(&b, &code, &pass("yet another passphrase"))
            .unwrap()
            .0
            .lock()
            .unwrap();
    }

    #[test]
    fn merging_two_diverged_copies_keeps_both_edits_and_lists_conflicts() {
        let (t, d, file, _) = exported();
        let b = t.path().join("b");
        let (mut vb, _) = restore_backup(&file, &b, RestoreUnlock::Passphrase(&pass(P))).unwrap();
        vb.set("personal.phone", "0113 496 0000", None).unwrap();
        vb.set("personal.address.town", "York", None).unwrap();
        let file_b = t.path().join("b.twinbackup");
        vb.export_backup(&file_b, &pass(P), |_| {}).unwrap();
        vb.lock().unwrap();

        let mut va = Vault::unlock(&d, &pass(P)).unwrap();
        va.set("personal.address.postcode", "LS1 4AP", None)
            .unwrap();
        va.set("personal.address.town", "Bradford", None).unwrap();
        let r = va
            .merge_backup(&file_b, RestoreUnlock::Passphrase(&pass(P)), false)
            .unwrap();
        assert_eq!(r.mode, RestoreMode::Merged);
        assert!(r.changes > 0);
        assert_eq!(
            va.get("personal.phone").unwrap(),
            Some(json!("0113 496 0000"))
        );
        assert_eq!(
            va.get("personal.address.postcode").unwrap(),
            Some(json!("LS1 4AP"))
        );
        assert_eq!(r.conflicts, vec!["personal.address.town".to_owned()]);
        assert_eq!(va.get_all("personal.address.town").unwrap().len(), 2);
        let log = va.audit().unwrap();
        let last = log.last().unwrap();
        assert_eq!(last.kind, "backup-restored");
        assert!(last.line.contains(&r.fingerprint), "{}", last.line);
        assert!(!last.line.contains("York") && !last.line.contains("0113"));
        // Merging again brings nothing new.
        let again = va
            .merge_backup(&file_b, RestoreUnlock::Passphrase(&pass(P)), false)
            .unwrap();
        assert_eq!(again.changes, 0);
        va.lock().unwrap();
        let va = Vault::unlock(&d, &pass(P)).unwrap();
        assert_eq!(
            va.get("personal.phone").unwrap(),
            Some(json!("0113 496 0000"))
        );
    }

    #[test]
    fn a_value_erased_after_the_backup_does_not_come_back() {
        let (_t, d, file, _) = exported();
        let mut v = Vault::unlock(&d, &pass(P)).unwrap();
        v.erase("personal.full_name").unwrap();
        v.set("personal.address.town", "Hull", None).unwrap();
        let r = v
            .merge_backup(&file, RestoreUnlock::Passphrase(&pass(P)), false)
            .unwrap();
        assert_eq!(v.get("personal.full_name").unwrap(), None);
        assert_eq!(r.left_out_erased, vec!["personal.full_name".to_owned()]);
        assert_eq!(v.get("personal.address.town").unwrap(), Some(json!("Hull")));
        let raw = v.export_raw_for_tests().unwrap();
        assert!(
            !raw.windows(10).any(|w| w == b"Alex Smith"),
            "the erased value is nowhere in the vault"
        );
    }

    #[test]
    fn a_backup_of_another_vault_is_refused_unless_asked_for() {
        let (t, _d, file, _) = exported();
        let (mut other, _) = Vault::init(&t.path().join("o"), &pass(P)).unwrap();
        let e = other
            .merge_backup(&file, RestoreUnlock::Passphrase(&pass(P)), false)
            .unwrap_err();
        assert_eq!(e.code(), "other-identity");
        assert_eq!(other.get("personal.full_name").unwrap(), None);
        let r = other
            .merge_backup(&file, RestoreUnlock::Passphrase(&pass(P)), true)
            .unwrap();
        assert!(r.other_identity);
        assert_eq!(
            other.get("personal.full_name").unwrap(),
            Some(json!("Alex Smith"))
        );
    }

    #[test]
    fn a_damaged_backup_restores_the_intact_sections_and_says_what_was_lost() {
        let (t, _d, file, _) = exported();
        let report = verify(fs::File::open(&file).unwrap()).unwrap();
        let audit = report
            .sections
            .iter()
            .find(|s| s.kind == SectionKind::Audit)
            .unwrap();
        let mut bytes = fs::read(&file).unwrap();
        // A flipped bit inside the audit section's first chunk.
        bytes[(audit.offset + 33 + 10) as usize] ^= 1;
        let damaged = t.path().join("damaged.twinbackup");
        fs::write(&damaged, &bytes).unwrap();
        match verify(fs::File::open(&damaged).unwrap()) {
            Err(VerifyError::ChunkDamaged(d)) => assert_eq!(d.kind, SectionKind::Audit),
            other => panic!("{other:?}"),
        }
        let (v, r) = restore_backup(
            &damaged,
            &t.path().join("b"),
            RestoreUnlock::Passphrase(&pass(P)),
        )
        .unwrap();
        assert!(!r.is_complete());
        assert!(
            r.lost.iter().any(|l| l.contains("activity log")),
            "{:?}",
            r.lost
        );
        assert_eq!(
            v.get("personal.full_name").unwrap(),
            Some(json!("Alex Smith"))
        );
        let mut v = v;
        assert!(v.verify_audit().unwrap().is_intact());
        assert!(v.audit().unwrap()[0].line.contains("damaged"));
    }

    #[test]
    fn exporting_into_a_missing_or_read_only_folder_is_a_typed_error_leaving_nothing() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("a");
        let (mut v, _) = Vault::init(&d, &pass(P)).unwrap();
        v.set("personal.full_name", "Alex Smith", None).unwrap();
        let log = v.audit().unwrap().len();
        let missing = t.path().join("no-such-folder").join("b.twinbackup");
        let e = v.export_backup(&missing, &pass(P), |_| {}).unwrap_err();
        assert!(
            matches!(
                &e,
                VaultError::BackupWrite(twin_backup::WriteError::Io { .. })
            ),
            "{e:?}"
        );
        assert_eq!(e.code(), "backup-write-failed");
        assert!(!t.path().join("no-such-folder").exists());

        let ro = t.path().join("read-only");
        fs::create_dir(&ro).unwrap();
        fs::set_permissions(&ro, std::os::unix::fs::PermissionsExt::from_mode(0o500)).unwrap();
        // Root writes into a read-only folder anyway: then that half proves nothing.
        let probe = ro.join("probe");
        let privileged = fs::write(&probe, b"x").is_ok();
        let _ = fs::remove_file(&probe);
        if !privileged {
            let e = v
                .export_backup(&ro.join("b.twinbackup"), &pass(P), |_| {})
                .unwrap_err();
            assert!(
                matches!(
                    &e,
                    VaultError::BackupWrite(twin_backup::WriteError::Io { .. })
                ),
                "{e:?}"
            );
            assert_eq!(e.code(), "backup-write-failed");
            assert_eq!(fs::read_dir(&ro).unwrap().count(), 0, "nothing left behind");
        }
        fs::set_permissions(&ro, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        // Nothing recorded: no backup listed, no line in the log.
        assert!(v.backups().unwrap().is_empty());
        assert_eq!(v.audit().unwrap().len(), log);
        assert_eq!(
            v.get("personal.full_name").unwrap(),
            Some(json!("Alex Smith"))
        );
    }

    #[test]
    fn a_truncated_backup_restores_what_precedes_the_cut() {
        let (t, _d, file, _) = exported();
        let bytes = fs::read(&file).unwrap();
        let report = verify(fs::File::open(&file).unwrap()).unwrap();
        let grants = report
            .sections
            .iter()
            .find(|s| s.kind == SectionKind::Grants)
            .unwrap();
        let cut = t.path().join("cut.twinbackup");
        fs::write(&cut, &bytes[..grants.offset as usize + 40]).unwrap();
        assert!(matches!(
            verify(fs::File::open(&cut).unwrap()),
            Err(VerifyError::Truncated { .. })
        ));
        let (v, r) = restore_backup(
            &cut,
            &t.path().join("b"),
            RestoreUnlock::Passphrase(&pass(P)),
        )
        .unwrap();
        assert!(!r.lost.is_empty());
        assert_eq!(
            v.get("personal.address.town").unwrap(),
            Some(json!("Leeds"))
        );
    }
}
