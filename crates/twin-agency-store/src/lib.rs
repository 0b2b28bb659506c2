//! The agency service's durable memory, behind one trait ([`AgencyStore`]) so that a
//! PostgreSQL backend can follow the SQLite one; [`conformance_tests!`] is the suite every
//! backend must pass.
//!
//! What it promises:
//! - **Honest deletion.** Shared values are kept encrypted (XChaCha20-Poly1305) under a
//!   random key per grant. The keys live apart from everything else (for SQLite, in
//!   `keys.db`, rollback-journalled with `secure_delete`, never backed up); purging a grant
//!   destroys its key and its ciphertext, so a deletion receipt stays true of the WAL, free
//!   pages and any backup of the main database. The grant's raw bytes (which carry the
//!   values sealed to the agency's long-lived key) are never stored.
//! - **Durable before the answer.** Every write returns only once it is committed to disk
//!   (`synchronous = FULL`); concurrent writes share one commit (group commit).
//! - **Memory that cannot be talked around.** Revocations are kept by (grant id, signer)
//!   even for grants never seen; a single-use grant is refused a second time; a nonce is
//!   accepted once.
//! - **Receipts in the same transaction.** Opening a grant's values writes its numbered,
//!   chained access receipt in the transaction that reads them; purging writes the deletion
//!   receipt in the transaction that destroys them.
#![forbid(unsafe_code)]

mod conformance;
mod seal;
mod sqlite;

pub use sqlite::SqliteStore;

use twin_protocol::{GrantClaims, SignPublic};
use twin_types::GrantId;
use zeroize::Zeroizing;

/// Why a store operation failed. Messages never hold a field value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The citizen revoked this grant (possibly before it arrived).
    #[error("the citizen has stopped this grant")]
    Revoked,
    /// A single-use grant already redeemed.
    #[error("this single-use grant has already been used")]
    Replayed,
    /// The request's nonce was already used (a replayed request).
    #[error("this request was already received (replay)")]
    NonceReused,
    /// No such grant here.
    #[error("no grant {0} here")]
    NotFound(String),
    /// Its values were purged.
    #[error("the values of grant {0} were deleted on {1}")]
    Purged(String, i64),
    /// A refresh not newer than the last one accepted.
    #[error("this refresh is older than one already received")]
    Rollback,
    /// A record, link or staff name already exists.
    #[error("{0} already exists")]
    Exists(String),
    /// The disk is full: nothing was written.
    #[error("the agency's disk is full; nothing was written")]
    DiskFull,
    /// The store's files are damaged or unreadable.
    #[error("the agency's store is damaged or unreadable: {0}")]
    Corrupt(String),
    /// Any other storage failure.
    #[error("the agency's store failed: {0}")]
    Io(String),
}

/// A grant that passed verification, to keep.
#[derive(Debug)]
pub struct NewGrant {
    /// What it says (no values).
    pub claims: GrantClaims,
    /// The values, as JSON `{"path": value, …}`. Encrypted before they touch storage.
    pub values: Zeroizing<Vec<u8>>,
    /// When it was redeemed.
    pub at: i64,
    /// The nonce of the signed request that brought it, with when it may be forgotten:
    /// spent in the same commit as the grant (one commit per redemption, not two).
    pub nonce: Option<(String, i64)>,
}

/// What redeeming did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeemed {
    /// First time: kept.
    New,
    /// Already held (a retry of a grant that is not single-use): nothing changed.
    Again,
}

/// A grant as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    /// What it says.
    pub claims: GrantClaims,
    /// When it was redeemed.
    pub redeemed_at: i64,
    /// The last refresh accepted (0: none).
    pub refresh_seq: u64,
    /// When and why its values were purged.
    pub purged: Option<(i64, String)>,
    /// How many access receipts it has.
    pub accesses: u64,
}

/// Values opened by a member of staff, with the receipt written for it.
#[derive(Debug)]
pub struct Opened {
    /// The values, JSON `{"path": value, …}`.
    pub values: Zeroizing<Vec<u8>>,
    /// The signed access receipt.
    pub receipt: Vec<u8>,
    /// Its number.
    pub seq: u64,
}

/// What a revocation notice did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// The grant was held: its values are purged; here is the signed deletion receipt.
    Purged(Vec<u8>),
    /// Not (yet) held: remembered, so the grant is refused if it arrives.
    Remembered,
}

/// One item in a citizen's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    /// Position in the agency's inbox (increasing).
    pub seq: u64,
    /// `request`, `record`, `access-receipt` or `deletion-receipt`.
    pub kind: String,
    /// The grant it concerns, if any.
    pub grant_id: Option<GrantId>,
    /// Signed (records: sealed) bytes.
    pub body: Vec<u8>,
}

/// A record the agency issued, as listed for staff (its body is sealed to the citizen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// Its id.
    pub record_id: String,
    /// The grant that allowed it.
    pub grant_id: GrantId,
    /// Its type.
    pub record_type: String,
    /// When.
    pub issued_at: i64,
}

/// A request the agency made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRow {
    /// Its id.
    pub request_id: String,
    /// The agency's case reference.
    pub case_ref: Option<String>,
    /// The signed request.
    pub body: Vec<u8>,
    /// When it was made.
    pub created_at: i64,
    /// The citizen it was posted to, if known.
    pub to: Option<SignPublic>,
}

/// Signs a receipt given its number and the hash of the previous one (access receipts), or
/// given nothing (deletion receipts: both arguments are ignored).
pub type SignReceipt = std::sync::Arc<dyn Fn(u64, [u8; 32]) -> Vec<u8> + Send + Sync>;

/// The agency's durable memory. Every method that writes returns only once the write is on
/// disk. Implementations must pass [`conformance_tests!`].
pub trait AgencyStore: Send + Sync + 'static {
    /// Keeps a verified grant, unless (in the same transaction) a revocation by the same
    /// signer is known (`Revoked`), it is single-use and already held (`Replayed`), or
    /// its request nonce was used before (`NonceReused`, checked first; the nonce is
    /// spent in the same transaction, under the all-zero signer like `use_nonce` callers
    /// that share one namespace).
    fn redeem(&self, grant: NewGrant) -> Result<Redeemed, StoreError>;
    /// Replaces a held grant's values with a refresh numbered `seq`, which must be above
    /// the last one (`Rollback`); refused for revoked or purged grants.
    fn refresh(
        &self,
        id: &GrantId,
        seq: u64,
        values: Zeroizing<Vec<u8>>,
        at: i64,
    ) -> Result<(), StoreError>;
    /// Remembers a revocation notice by (grant id, signer). If that grant is held and not
    /// yet purged, purges it and keeps the deletion receipt `sign` makes, in one
    /// transaction; if already purged, answers the receipt made then.
    fn revoke(
        &self,
        id: &GrantId,
        signer: &SignPublic,
        notice: &[u8],
        at: i64,
        sign: SignReceipt,
    ) -> Result<RevokeOutcome, StoreError>;
    /// Whether a revocation by this signer is known for this grant id.
    fn is_revoked(&self, id: &GrantId, signer: &SignPublic) -> Result<bool, StoreError>;
    /// Whether this grant (by this signer) is held or was held.
    fn was_redeemed(&self, id: &GrantId, signer: &SignPublic) -> Result<bool, StoreError>;
    /// One grant.
    fn grant(&self, id: &GrantId) -> Result<Option<GrantRow>, StoreError>;
    /// Every grant, newest first.
    fn grants(&self) -> Result<Vec<GrantRow>, StoreError>;
    /// Decrypts a grant's values for a member of staff, writing the next access receipt
    /// (made by `sign(seq, prev_hash)`) in the same transaction. Refused once purged.
    fn open(&self, id: &GrantId, at: i64, sign: SignReceipt) -> Result<Opened, StoreError>;
    /// Destroys a grant's key and values and keeps the deletion receipt `sign` makes; the
    /// receipt is posted to the citizen's inbox. Purging twice answers the first receipt.
    fn purge(
        &self,
        id: &GrantId,
        reason: &str,
        at: i64,
        sign: SignReceipt,
    ) -> Result<Vec<u8>, StoreError>;
    /// Grants to purge at `now`: expired, or revoked, and not yet purged.
    fn due_for_purge(&self, now: i64) -> Result<Vec<(GrantId, String)>, StoreError>;
    /// Accepts a request nonce once: `false` if this signer used it before. Forgets nonces
    /// whose `expires_at` has passed (they would be refused as stale anyway).
    fn use_nonce(
        &self,
        signer: &SignPublic,
        nonce: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Whether a nonce was already used by this signer (a read; nothing is spent).
    fn nonce_used(&self, signer: &SignPublic, nonce: &str) -> Result<bool, StoreError>;
    /// Posts an item to a citizen's inbox.
    fn post(
        &self,
        to: &SignPublic,
        kind: &str,
        grant: Option<&GrantId>,
        body: &[u8],
        at: i64,
    ) -> Result<u64, StoreError>;
    /// A citizen's inbox after `after`, at most `limit` items.
    fn inbox(
        &self,
        to: &SignPublic,
        after: u64,
        limit: usize,
    ) -> Result<Vec<InboxItem>, StoreError>;
    /// Keeps an issued record and posts it (sealed) to the citizen, in one transaction.
    fn add_record(&self, row: &RecordRow, to: &SignPublic, sealed: &[u8])
    -> Result<(), StoreError>;
    /// Records issued under a grant.
    fn records(&self, grant: &GrantId) -> Result<Vec<RecordRow>, StoreError>;
    /// Keeps a request, posting it to `row.to` if known.
    fn add_request(&self, row: &RequestRow) -> Result<(), StoreError>;
    /// Every request, newest first.
    fn requests(&self) -> Result<Vec<RequestRow>, StoreError>;
    /// Links a case reference to a citizen's pairwise key.
    fn link(
        &self,
        case_ref: &str,
        to: &SignPublic,
        grant: &GrantId,
        at: i64,
    ) -> Result<(), StoreError>;
    /// The citizen linked to a case reference.
    fn linked(&self, case_ref: &str) -> Result<Option<SignPublic>, StoreError>;
    /// Registers a member of staff's public key.
    fn add_staff(&self, name: &str, key: &SignPublic, at: i64) -> Result<(), StoreError>;
    /// A member of staff's public key.
    fn staff(&self, name: &str) -> Result<Option<SignPublic>, StoreError>;
    /// A grant's receipts in order: `(kind, seq, signed bytes)`.
    fn receipts(&self, id: &GrantId) -> Result<Vec<(String, u64, Vec<u8>)>, StoreError>;
    /// Removes keys that belong to no held grant, left by a crash between the two halves of
    /// a write. Run at start-up.
    fn reconcile(&self) -> Result<(), StoreError>;
}

#[cfg(test)]
conformance_tests!(sqlite_conformance, |dir| crate::SqliteStore::open(dir)
    .unwrap());
