use std::io;
use std::path::{Path, PathBuf};

use twin_crypto::{KdfError, RecoveryCodeError};
use twin_doc::DocError;
use twin_schema::{FragmentError, UnknownField};
use twin_store::StoreError;

/// Why a vault operation failed. Each variant has a stable [`VaultError::code`] for the
/// CLI and the app, and a message written for the citizen: what happened, what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// No vault in this folder.
    #[error("there is no vault in {0}; create one with `twin init`")]
    NoVault(PathBuf),
    /// A vault already exists here.
    #[error("there is already a vault in {0}; nothing was changed")]
    AlreadyExists(PathBuf),
    /// The passphrase does not open the vault.
    #[error(
        "that passphrase does not open this vault, so nothing was changed. If you have forgotten it, run `twin recover` with your recovery code"
    )]
    WrongPassphrase,
    /// The recovery code is well-formed but does not open this vault.
    #[error(
        "that recovery code does not open this vault, so nothing was changed. Check it against your printed copy"
    )]
    WrongRecoveryCode,
    /// The recovery code was mistyped.
    #[error("the recovery code was not accepted: {0}")]
    RecoveryCode(#[from] RecoveryCodeError),
    /// A new passphrase too weak to protect the twin.
    #[error("{0}")]
    WeakPassphrase(&'static str),
    /// The key file cannot be read.
    #[error(
        "the vault's key file {path} is damaged ({detail}); nothing was changed. Restore the vault from a backup"
    )]
    KeyFileDamaged {
        /// The key file.
        path: PathBuf,
        /// Which check failed.
        detail: String,
    },
    /// A file from a newer version of Citizen Twin.
    #[error("{path} was made by a newer version of Citizen Twin ({found}); please update")]
    Newer {
        /// The file.
        path: PathBuf,
        /// The format it declares.
        found: String,
    },
    /// Unsafe key-derivation settings in the key file.
    #[error("the vault's key file is damaged: {0}")]
    Kdf(#[from] KdfError),
    /// Another program has this vault open.
    #[error("the vault is open in another window or command; close it and try again")]
    Busy,
    /// A path that names no field.
    #[error(transparent)]
    UnknownField(#[from] UnknownField),
    /// A twin document error: schema, opt-in, or damage.
    #[error(transparent)]
    Doc(#[from] DocError),
    /// An import file that is not a valid twin fragment.
    #[error("nothing was imported: {0}")]
    Import(#[from] FragmentError),
    /// An agency card that is not trusted or not valid.
    #[error("the agency card was not accepted: {0}")]
    Card(#[from] twin_protocol::CardError),
    /// An agency the citizen has not added.
    #[error(
        "you have not added an agency called {0}; add its card with `twin agency add CARD_FILE`"
    )]
    UnknownAgency(String),
    /// A share that cannot be made as asked.
    #[error("nothing was shared: {0}")]
    Share(String),
    /// A field to share that holds no value.
    #[error("nothing was shared: {0} is empty; set it first with `twin set {0} VALUE`")]
    EmptyField(String),
    /// A grant id this vault did not make.
    #[error("there is no share with the id {0}; `twin grants` lists them")]
    UnknownGrant(String),
    /// A record that was not accepted.
    #[error("the record was not accepted: {0}")]
    Record(twin_protocol::RecordError),
    /// A rule pack that was not accepted, or values a rule cannot use.
    #[error("the rule pack was not accepted: {0}")]
    RulePack(String),
    /// A request that cannot be imported, approved or declined.
    #[error("{0}")]
    Request(String),
    /// A request id this vault has not received.
    #[error("there is no request with the id {0}; `twin requests` lists them")]
    UnknownRequest(String),
    /// A record id this vault has not received.
    #[error("there is no record with the id {0}; `twin records` lists them")]
    UnknownRecord(String),
    /// A name for a computer that cannot be used.
    #[error("a computer's name is 1 to 60 characters, without control characters")]
    BadDeviceName,
    /// A receipt from an agency that was not accepted.
    #[error("the agency's receipt was not accepted: {0}")]
    Receipt(String),
    /// Deletion refused: shares are still active and their agencies have not been told
    /// to stop.
    #[error(
        "your twin was not deleted: some of your shares are still active and their agencies have not confirmed they were told to stop. Once your twin is deleted you can never stop them. Run `twin delete-vault` again when the agencies can be reached (it sends the notices first), or add --yes-with-active-grants to delete anyway"
    )]
    ActiveShares,
    /// A backup of another vault, refused.
    #[error(
        "this backup belongs to another vault (fingerprint {fingerprint}), so nothing was restored. If you really want its contents in this twin, add --other-identity"
    )]
    OtherIdentity {
        /// The backup's fingerprint, short form.
        fingerprint: String,
    },
    /// A backup that cannot be opened.
    #[error(transparent)]
    BackupOpen(#[from] twin_backup::OpenError),
    /// A backup whose header cannot be read.
    #[error(transparent)]
    BackupInspect(#[from] twin_backup::InspectError),
    /// A backup that could not be written.
    #[error("{0}; no backup file was left behind")]
    BackupWrite(#[from] twin_backup::WriteError),
    /// A database error.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file-system error.
    #[error("could not use {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl VaultError {
    pub(crate) fn io(path: &Path, source: io::Error) -> VaultError {
        if source.raw_os_error() == Some(28) {
            return VaultError::Store(StoreError::DiskFull);
        }
        VaultError::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            VaultError::NoVault(_) => "no-vault",
            VaultError::AlreadyExists(_) => "vault-exists",
            VaultError::WrongPassphrase => "wrong-passphrase",
            VaultError::WrongRecoveryCode => "wrong-recovery-code",
            VaultError::RecoveryCode(_) => "recovery-code-mistyped",
            VaultError::WeakPassphrase(_) => "weak-passphrase",
            VaultError::KeyFileDamaged { .. } | VaultError::Kdf(_) => "key-file-damaged",
            VaultError::Newer { .. } | VaultError::Store(StoreError::Newer { .. }) => {
                "newer-format"
            }
            VaultError::Busy => "vault-busy",
            VaultError::UnknownField(_) | VaultError::Doc(DocError::UnknownField(_)) => {
                "unknown-field"
            }
            VaultError::Doc(DocError::Invalid(_)) => "invalid-value",
            VaultError::Doc(DocError::NotOptedIn(_)) => "not-opted-in",
            VaultError::Doc(_) => "document-damaged",
            VaultError::Import(_) => "invalid-import",
            VaultError::Store(StoreError::DiskFull) => "disk-full",
            VaultError::Store(StoreError::Missing(_)) => "database-missing",
            VaultError::Store(StoreError::Damaged { .. }) => "database-damaged",
            VaultError::Store(_) => "database-error",
            VaultError::Io { .. } => "io-error",
            VaultError::Card(_) => "card-refused",
            VaultError::UnknownAgency(_) => "unknown-agency",
            VaultError::Share(_) => "share-refused",
            VaultError::EmptyField(_) => "field-empty",
            VaultError::UnknownGrant(_) => "unknown-grant",
            VaultError::Record(_) => "record-refused",
            VaultError::Request(_) => "request-refused",
            VaultError::RulePack(_) => "rule-pack-refused",
            VaultError::UnknownRequest(_) => "unknown-request",
            VaultError::UnknownRecord(_) => "unknown-record",
            VaultError::BadDeviceName => "bad-device-name",
            VaultError::Receipt(_) => "receipt-refused",
            VaultError::ActiveShares => "active-shares",
            VaultError::OtherIdentity { .. } => "other-identity",
            VaultError::BackupOpen(e) => match e {
                twin_backup::OpenError::WrongPassphrase => "wrong-passphrase",
                twin_backup::OpenError::WrongRecoveryCode => "wrong-recovery-code",
                twin_backup::OpenError::NewerVersion { .. } => "newer-format",
                twin_backup::OpenError::NotABackup => "not-a-backup",
                twin_backup::OpenError::Io(_) => "io-error",
                _ => "backup-damaged",
            },
            VaultError::BackupInspect(e) => match e {
                twin_backup::InspectError::NewerVersion { .. } => "newer-format",
                twin_backup::InspectError::NotABackup => "not-a-backup",
                twin_backup::InspectError::Io(_) => "io-error",
                _ => "backup-damaged",
            },
            VaultError::BackupWrite(twin_backup::WriteError::Io { source, .. })
                if source.raw_os_error() == Some(28) =>
            {
                "disk-full"
            }
            VaultError::BackupWrite(_) => "backup-write-failed",
        }
    }
}
