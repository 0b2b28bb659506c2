//! The SQLite backend.
//!
//! Two files under the agency's folder:
//! - `agency.db` (WAL, `synchronous = FULL`, `secure_delete`): grants' claims and their
//!   values encrypted under per-grant keys, revocations, nonces, receipts, inboxes, records,
//!   requests, links, staff;
//! - `keys.db` (rollback journal, `synchronous = FULL`, `secure_delete`): one random key per
//!   held grant, and nothing else. Never back it up: losing it loses only the values of
//!   live grants, which citizens can share again, and keeping it out of backups is what
//!   makes a deletion receipt true of every backup of `agency.db`.
//!
//! One writer thread owns the write connections and commits concurrent writes together
//! (group commit): each write runs in its own savepoint, answers wait until the batch is
//! on disk. A batch commits new keys first, then `agency.db`, then destroys the keys of
//! grants it purged, so a crash at any point leaves only keys without a live grant, which
//! [`AgencyStore::reconcile`] removes at start-up.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};
use sha2::Digest;
use twin_protocol::{GrantClaims, SignPublic};
use twin_types::GrantId;
use zeroize::Zeroizing;

use crate::{
    AgencyStore, GrantRow, InboxItem, NewGrant, Opened, RecordRow, Redeemed, RequestRow,
    RevokeOutcome, SignReceipt, StoreError, seal,
};

const MIGRATIONS: &[&str] = &[
    // 1: the first layout.
    "CREATE TABLE grants (
         grant_id TEXT PRIMARY KEY,
         signer BLOB NOT NULL,
         claims BLOB NOT NULL,
         single_use INTEGER NOT NULL,
         expires_at INTEGER NOT NULL,
         redeemed_at INTEGER NOT NULL,
         refresh_seq INTEGER NOT NULL DEFAULT 0,
         sealed BLOB,
         purged_at INTEGER,
         purge_reason TEXT
     ) STRICT;
     CREATE INDEX grants_live ON grants (expires_at) WHERE purged_at IS NULL;
     CREATE TABLE revocations (
         grant_id TEXT NOT NULL,
         signer BLOB NOT NULL,
         received_at INTEGER NOT NULL,
         notice BLOB NOT NULL,
         PRIMARY KEY (grant_id, signer)
     ) STRICT;
     CREATE TABLE nonces (
         signer BLOB NOT NULL,
         nonce TEXT NOT NULL,
         expires_at INTEGER NOT NULL,
         PRIMARY KEY (signer, nonce)
     ) STRICT, WITHOUT ROWID;
     CREATE INDEX nonces_expiry ON nonces (expires_at);
     CREATE TABLE receipts (
         grant_id TEXT NOT NULL,
         kind TEXT NOT NULL,
         seq INTEGER NOT NULL,
         signed BLOB NOT NULL,
         hash BLOB NOT NULL,
         at INTEGER NOT NULL,
         PRIMARY KEY (grant_id, kind, seq)
     ) STRICT;
     CREATE TABLE inbox (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         signer BLOB NOT NULL,
         kind TEXT NOT NULL,
         grant_id TEXT,
         body BLOB NOT NULL,
         at INTEGER NOT NULL
     ) STRICT;
     CREATE INDEX inbox_signer ON inbox (signer, seq);
     CREATE TABLE records (
         record_id TEXT PRIMARY KEY,
         grant_id TEXT NOT NULL,
         record_type TEXT NOT NULL,
         issued_at INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE requests (
         request_id TEXT PRIMARY KEY,
         case_ref TEXT,
         body BLOB NOT NULL,
         created_at INTEGER NOT NULL,
         to_signer BLOB
     ) STRICT;
     CREATE TABLE links (
         case_ref TEXT PRIMARY KEY,
         signer BLOB NOT NULL,
         grant_id TEXT NOT NULL,
         at INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE staff (
         name TEXT PRIMARY KEY,
         public_key BLOB NOT NULL,
         added_at INTEGER NOT NULL
     ) STRICT;",
];

const KEYS_SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS grant_keys (grant_id TEXT PRIMARY KEY, key BLOB NOT NULL) STRICT;";

/// Most writes committed together.
const MAX_BATCH: usize = 512;

/// What a write sees: both connections, inside the batch's transactions.
struct Ctx<'a> {
    main: &'a Connection,
    keys: &'a Connection,
    /// Grants whose keys are destroyed once `agency.db` has committed their purge.
    shred: Vec<String>,
}

/// signer, sealed values, refresh number, purged at.
type HeldRow = (Vec<u8>, Option<Vec<u8>>, i64, Option<i64>);
type Deliver = Box<dyn FnOnce(Option<StoreError>) + Send>;
type Job = Box<dyn FnOnce(&mut Ctx<'_>) -> (bool, Deliver) + Send>;

/// The SQLite store. Cheap to share (`Arc` inside).
#[derive(Clone)]
pub struct SqliteStore {
    jobs: SyncSender<Job>,
    reader: Arc<Mutex<Connection>>,
    dir: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("dir", &self.dir)
            .finish()
    }
}

fn err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StoreError::DiskFull,
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            StoreError::Corrupt(e.to_string())
        }
        _ => StoreError::Io(e.to_string()),
    }
}

fn io(e: std::io::Error) -> StoreError {
    if e.raw_os_error() == Some(28) {
        StoreError::DiskFull
    } else {
        StoreError::Io(e.to_string())
    }
}

/// Finishes SQLCipher's process-wide start-up once, before any connection is keyed:
/// SQLite runs SQLCipher's start-up hook after it marks itself initialised, so two
/// threads opening their first connections together could key before the crypto
/// provider exists ("SQL logic error"). `Once` makes the others wait.
fn init_sqlcipher() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let _ = Connection::open_in_memory();
    });
}

fn open_conn(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    init_sqlcipher();
    let c = Connection::open_with_flags(path, flags).map_err(err)?;
    c.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(err)?;
    Ok(c)
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir`: `agency.db` and `keys.db`, mode 0600.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir).map_err(io)?;
        let main_path = dir.join("agency.db");
        let keys_path = dir.join("keys.db");
        let rw = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let main = open_conn(&main_path, rw)?;
        main.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA secure_delete = ON;
             PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
        )
        .map_err(err)?;
        let version: i64 = main
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(err)?;
        let version = usize::try_from(version).unwrap_or(usize::MAX);
        if version > MIGRATIONS.len() {
            return Err(StoreError::Corrupt(format!(
                "agency.db has schema version {version}; this program knows up to {}: update twin-agency",
                MIGRATIONS.len()
            )));
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(version) {
            main.execute_batch(&format!(
                "BEGIN IMMEDIATE; {m}; PRAGMA user_version = {}; COMMIT;",
                i + 1
            ))
            .map_err(err)?;
        }
        let keys = open_conn(&keys_path, rw)?;
        keys.execute_batch(
            "PRAGMA journal_mode = DELETE; PRAGMA synchronous = FULL; PRAGMA secure_delete = ON;
             PRAGMA temp_store = MEMORY;",
        )
        .map_err(err)?;
        keys.execute_batch(KEYS_SCHEMA).map_err(err)?;
        for p in [&main_path, &keys_path] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
        let reader = open_conn(
            &main_path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let (tx, rx) = sync_channel::<Job>(4 * MAX_BATCH);
        std::thread::Builder::new()
            .name("agency-store-writer".into())
            .spawn(move || writer(main, keys, rx))
            .map_err(io)?;
        Ok(SqliteStore {
            jobs: tx,
            reader: Arc::new(Mutex::new(reader)),
            dir: dir.to_path_buf(),
        })
    }

    /// Runs `f` in the next group commit and answers once it is on disk.
    fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Ctx<'_>) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (tx, rx) = sync_channel(1);
        let job: Job = Box::new(move |ctx| {
            let r = f(ctx);
            let ok = r.is_ok();
            let deliver: Deliver = Box::new(move |commit_err| {
                let _ = tx.send(match commit_err {
                    Some(e) => Err(e),
                    None => r,
                });
            });
            (ok, deliver)
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Io("the store's writer has stopped".into()))?;
        rx.recv()
            .map_err(|_| StoreError::Io("the store could not start a write".into()))?
    }

    fn read<R>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> Result<R, StoreError> {
        let c = self
            .reader
            .lock()
            .map_err(|_| StoreError::Io("the store's reader failed".into()))?;
        f(&c).map_err(err)
    }
}

fn writer(main: Connection, keys: Connection, rx: Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let mut delivers = Vec::with_capacity(batch.len());
        let begun = keys
            .execute_batch("BEGIN IMMEDIATE")
            .and_then(|_| main.execute_batch("BEGIN IMMEDIATE"));
        if begun.is_err() {
            let _ = keys.execute_batch("ROLLBACK");
            // Dropping the jobs unblocks their callers with "could not write".
            drop(batch);
            continue;
        }
        let mut ctx = Ctx {
            main: &main,
            keys: &keys,
            shred: Vec::new(),
        };
        for job in batch {
            let sp = ctx
                .main
                .execute_batch("SAVEPOINT job")
                .and_then(|_| ctx.keys.execute_batch("SAVEPOINT job"));
            if let Err(e) = sp {
                delivers.push((
                    false,
                    Box::new(move |_: Option<StoreError>| drop(e)) as Deliver,
                ));
                continue;
            }
            let shred_before = ctx.shred.len();
            let (ok, deliver) = job(&mut ctx);
            let end = if ok {
                "RELEASE job"
            } else {
                ctx.shred.truncate(shred_before);
                "ROLLBACK TO job; RELEASE job"
            };
            let _ = ctx.main.execute_batch(end);
            let _ = ctx.keys.execute_batch(end);
            delivers.push((ok, deliver));
        }
        let shred = std::mem::take(&mut ctx.shred);
        // New keys first, then the grants that use them, then the keys of purged grants.
        let committed = keys
            .execute_batch("COMMIT")
            .and_then(|_| main.execute_batch("COMMIT"));
        let failure = committed.err().map(|e| {
            let _ = keys.execute_batch("ROLLBACK");
            let _ = main.execute_batch("ROLLBACK");
            err(e)
        });
        // The batch is on disk: its answers are true whatever happens next. If destroying
        // the purged grants' keys fails now (a full disk), they are left for `reconcile`,
        // which the service runs at start-up and with every periodic purge.
        if failure.is_none() && !shred.is_empty() {
            let shredded = keys.execute_batch("BEGIN IMMEDIATE").and_then(|_| {
                for id in &shred {
                    keys.execute("DELETE FROM grant_keys WHERE grant_id = ?1", [id])?;
                }
                keys.execute_batch("COMMIT")
            });
            if shredded.is_err() {
                let _ = keys.execute_batch("ROLLBACK");
            }
        }
        for (_, deliver) in delivers {
            deliver(failure.clone());
        }
    }
}

fn hex(k: &SignPublic) -> Vec<u8> {
    k.0.to_vec()
}

fn sign_public(bytes: Vec<u8>) -> Option<SignPublic> {
    <[u8; 32]>::try_from(bytes.as_slice()).ok().map(SignPublic)
}

/// Whether a revocation by `signer` is known for grant `id`.
fn revoked(c: &Connection, id: &str, signer: &[u8]) -> Result<bool, StoreError> {
    c.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM revocations WHERE grant_id = ?1 AND signer = ?2)",
    )
    .and_then(|mut st| st.query_row(params![id, signer], |r| r.get(0)))
    .map_err(err)
}

fn grant_key(keys: &Connection, id: &str) -> Result<Option<Zeroizing<[u8; 32]>>, StoreError> {
    let k: Option<Vec<u8>> = keys
        .query_row(
            "SELECT key FROM grant_keys WHERE grant_id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?;
    let k = k.map(Zeroizing::new);
    Ok(k.and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok().map(Zeroizing::new)))
}

fn row_to_grant(r: &rusqlite::Row<'_>) -> rusqlite::Result<GrantRow> {
    let claims: Vec<u8> = r.get("claims")?;
    let claims: GrantClaims = ciborium::from_reader(claims.as_slice()).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
    })?;
    let purged_at: Option<i64> = r.get("purged_at")?;
    let reason: Option<String> = r.get("purge_reason")?;
    Ok(GrantRow {
        claims,
        redeemed_at: r.get("redeemed_at")?,
        refresh_seq: r.get::<_, i64>("refresh_seq")? as u64,
        purged: purged_at.map(|t| (t, reason.unwrap_or_default())),
        accesses: r.get::<_, i64>("accesses")? as u64,
    })
}

const GRANT_COLUMNS: &str = "claims, redeemed_at, refresh_seq, purged_at, purge_reason,
     (SELECT COUNT(*) FROM receipts r WHERE r.grant_id = g.grant_id AND r.kind = 'access') AS accesses";

/// Purges a held grant inside a write; answers the existing receipt if already purged.
fn purge_in(
    ctx: &mut Ctx<'_>,
    id: &str,
    reason: &str,
    at: i64,
    sign: &SignReceipt,
) -> Result<Vec<u8>, StoreError> {
    let row: Option<(Vec<u8>, Option<i64>)> = ctx
        .main
        .query_row(
            "SELECT signer, purged_at FROM grants WHERE grant_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(err)?;
    let Some((signer, purged_at)) = row else {
        return Err(StoreError::NotFound(id.to_owned()));
    };
    if purged_at.is_some() {
        return ctx
            .main
            .query_row(
                "SELECT signed FROM receipts WHERE grant_id = ?1 AND kind = 'deletion'",
                [id],
                |r| r.get(0),
            )
            .map_err(err);
    }
    ctx.main
        .execute(
            "UPDATE grants SET sealed = NULL, purged_at = ?2, purge_reason = ?3 WHERE grant_id = ?1",
            params![id, at, reason],
        )
        .map_err(err)?;
    let receipt = sign(0, [0; 32]);
    let hash = sha2::Sha256::digest(&receipt).to_vec();
    ctx.main
        .execute(
            "INSERT INTO receipts (grant_id, kind, seq, signed, hash, at) VALUES (?1, 'deletion', 0, ?2, ?3, ?4)",
            params![id, receipt, hash, at],
        )
        .map_err(err)?;
    ctx.main
        .execute(
            "INSERT INTO inbox (signer, kind, grant_id, body, at) VALUES (?1, 'deletion-receipt', ?2, ?3, ?4)",
            params![signer, id, receipt, at],
        )
        .map_err(err)?;
    ctx.shred.push(id.to_owned());
    Ok(receipt)
}

impl AgencyStore for SqliteStore {
    fn redeem(&self, grant: NewGrant) -> Result<Redeemed, StoreError> {
        self.write(move |ctx| {
            if let Some((nonce, expires_at)) = &grant.nonce {
                ctx.main
                    .execute("DELETE FROM nonces WHERE expires_at < ?1", [grant.at])
                    .map_err(err)?;
                let fresh = ctx
                    .main
                    .execute(
                        "INSERT OR IGNORE INTO nonces (signer, nonce, expires_at) VALUES (?1, ?2, ?3)",
                        params![vec![0u8; 32], nonce, expires_at],
                    )
                    .map_err(err)?;
                if fresh == 0 {
                    return Err(StoreError::NonceReused);
                }
            }
            let id = grant.claims.grant_id.to_string();
            let signer = hex(&grant.claims.citizen_sign);
            if revoked(ctx.main, &id, &signer)? {
                return Err(StoreError::Revoked);
            }
            let held: Option<(Vec<u8>, bool)> = ctx
                .main
                .query_row(
                    "SELECT signer, single_use FROM grants WHERE grant_id = ?1",
                    [&id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(err)?;
            match held {
                Some((s, single)) if s == signer => {
                    return if single {
                        Err(StoreError::Replayed)
                    } else {
                        Ok(Redeemed::Again)
                    };
                }
                Some(_) => return Err(StoreError::Exists(format!("grant {id}"))),
                None => {}
            }
            let key = seal::fresh_key();
            let sealed = seal::seal(&key, &grant.claims.grant_id, 0, &grant.values);
            ctx.keys
                .execute(
                    "INSERT INTO grant_keys (grant_id, key) VALUES (?1, ?2)",
                    params![id, key.as_slice()],
                )
                .map_err(err)?;
            let mut claims = Vec::new();
            ciborium::into_writer(&grant.claims, &mut claims)
                .map_err(|e| StoreError::Io(e.to_string()))?;
            ctx.main
                .execute(
                    "INSERT INTO grants (grant_id, signer, claims, single_use, expires_at, redeemed_at, sealed)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        id,
                        signer,
                        claims,
                        grant.claims.single_use,
                        grant.claims.expires_at,
                        grant.at,
                        sealed
                    ],
                )
                .map_err(err)?;
            Ok(Redeemed::New)
        })
    }

    fn refresh(
        &self,
        id: &GrantId,
        seq: u64,
        values: Zeroizing<Vec<u8>>,
        _at: i64,
    ) -> Result<(), StoreError> {
        let gid = *id;
        self.write(move |ctx| {
            let id = gid.to_string();
            let row: Option<(Vec<u8>, i64, Option<i64>)> = ctx
                .main
                .query_row(
                    "SELECT signer, refresh_seq, purged_at FROM grants WHERE grant_id = ?1",
                    [&id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(err)?;
            let (signer, last, purged) = row.ok_or_else(|| StoreError::NotFound(id.clone()))?;
            if revoked(ctx.main, &id, &signer)? {
                return Err(StoreError::Revoked);
            }
            if let Some(t) = purged {
                return Err(StoreError::Purged(id, t));
            }
            if seq <= last as u64 {
                return Err(StoreError::Rollback);
            }
            let key = grant_key(ctx.keys, &id)?.ok_or_else(|| StoreError::Purged(id.clone(), 0))?;
            let sealed = seal::seal(&key, &gid, seq, &values);
            ctx.main
                .execute(
                    "UPDATE grants SET sealed = ?2, refresh_seq = ?3 WHERE grant_id = ?1",
                    params![id, sealed, seq as i64],
                )
                .map_err(err)?;
            Ok(())
        })
    }

    fn revoke(
        &self,
        id: &GrantId,
        signer: &SignPublic,
        notice: &[u8],
        at: i64,
        sign: SignReceipt,
    ) -> Result<RevokeOutcome, StoreError> {
        let (id, signer, notice) = (id.to_string(), hex(signer), notice.to_vec());
        self.write(move |ctx| {
            ctx.main
                .execute(
                    "INSERT OR IGNORE INTO revocations (grant_id, signer, received_at, notice) VALUES (?1, ?2, ?3, ?4)",
                    params![id, signer, at, notice],
                )
                .map_err(err)?;
            let held: bool = ctx
                .main
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM grants WHERE grant_id = ?1 AND signer = ?2)",
                    params![id, signer],
                    |r| r.get(0),
                )
                .map_err(err)?;
            if !held {
                return Ok(RevokeOutcome::Remembered);
            }
            purge_in(ctx, &id, "revoked", at, &sign).map(RevokeOutcome::Purged)
        })
    }

    fn is_revoked(&self, id: &GrantId, signer: &SignPublic) -> Result<bool, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM revocations WHERE grant_id = ?1 AND signer = ?2)",
                params![id.to_string(), hex(signer)],
                |r| r.get(0),
            )
        })
    }

    fn was_redeemed(&self, id: &GrantId, signer: &SignPublic) -> Result<bool, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM grants WHERE grant_id = ?1 AND signer = ?2)",
                params![id.to_string(), hex(signer)],
                |r| r.get(0),
            )
        })
    }

    fn grant(&self, id: &GrantId) -> Result<Option<GrantRow>, StoreError> {
        self.read(|c| {
            c.query_row(
                &format!("SELECT {GRANT_COLUMNS} FROM grants g WHERE grant_id = ?1"),
                [id.to_string()],
                row_to_grant,
            )
            .optional()
        })
    }

    fn grants(&self) -> Result<Vec<GrantRow>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {GRANT_COLUMNS} FROM grants g ORDER BY redeemed_at DESC, rowid DESC"
            ))?;
            st.query_map([], row_to_grant)?.collect()
        })
    }

    fn open(&self, id: &GrantId, at: i64, sign: SignReceipt) -> Result<Opened, StoreError> {
        let gid = *id;
        self.write(move |ctx| {
            let id = gid.to_string();
            let row: Option<HeldRow> = ctx
                .main
                .query_row(
                    "SELECT signer, sealed, refresh_seq, purged_at FROM grants WHERE grant_id = ?1",
                    [&id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()
                .map_err(err)?;
            let (signer, sealed, seq, purged) =
                row.ok_or_else(|| StoreError::NotFound(id.clone()))?;
            if let Some(t) = purged {
                return Err(StoreError::Purged(id, t));
            }
            let key = grant_key(ctx.keys, &id)?;
            let values = match (key, sealed) {
                (Some(k), Some(s)) => seal::open(&k, &gid, seq as u64, &s)
                    .ok_or_else(|| StoreError::Corrupt(format!("grant {id}'s values do not open")))?,
                _ => return Err(StoreError::Corrupt(format!("grant {id}'s key is missing"))),
            };
            let (last, prev): (i64, Option<Vec<u8>>) = ctx
                .main
                .query_row(
                    "SELECT COALESCE(MAX(seq), 0), (SELECT hash FROM receipts WHERE grant_id = ?1 AND kind = 'access' ORDER BY seq DESC LIMIT 1)
                     FROM receipts WHERE grant_id = ?1 AND kind = 'access'",
                    [&id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(err)?;
            let prev: [u8; 32] = prev
                .and_then(|p| p.try_into().ok())
                .unwrap_or([0; 32]);
            let seq = last as u64 + 1;
            let receipt = sign(seq, prev);
            let hash = sha2::Sha256::digest(&receipt).to_vec();
            ctx.main
                .execute(
                    "INSERT INTO receipts (grant_id, kind, seq, signed, hash, at) VALUES (?1, 'access', ?2, ?3, ?4, ?5)",
                    params![id, seq as i64, receipt, hash, at],
                )
                .map_err(err)?;
            ctx.main
                .execute(
                    "INSERT INTO inbox (signer, kind, grant_id, body, at) VALUES (?1, 'access-receipt', ?2, ?3, ?4)",
                    params![signer, id, receipt, at],
                )
                .map_err(err)?;
            Ok(Opened {
                values,
                receipt,
                seq,
            })
        })
    }

    fn purge(
        &self,
        id: &GrantId,
        reason: &str,
        at: i64,
        sign: SignReceipt,
    ) -> Result<Vec<u8>, StoreError> {
        let (id, reason) = (id.to_string(), reason.to_owned());
        self.write(move |ctx| purge_in(ctx, &id, &reason, at, &sign))
    }

    fn due_for_purge(&self, now: i64) -> Result<Vec<(GrantId, String)>, StoreError> {
        let rows: Vec<(String, bool)> = self.read(|c| {
            let mut st = c.prepare(
                "SELECT grant_id, EXISTS (SELECT 1 FROM revocations v WHERE v.grant_id = g.grant_id AND v.signer = g.signer)
                 FROM grants g
                 WHERE purged_at IS NULL
                   AND (expires_at < ?1 OR EXISTS (SELECT 1 FROM revocations v WHERE v.grant_id = g.grant_id AND v.signer = g.signer))",
            )?;
            st.query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, revoked)| {
                let reason = if revoked { "revoked" } else { "expired" };
                id.parse().ok().map(|g| (g, reason.to_owned()))
            })
            .collect())
    }

    fn use_nonce(
        &self,
        signer: &SignPublic,
        nonce: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (signer, nonce) = (hex(signer), nonce.to_owned());
        self.write(move |ctx| {
            ctx.main
                .execute("DELETE FROM nonces WHERE expires_at < ?1", [now])
                .map_err(err)?;
            let n = ctx
                .main
                .execute(
                    "INSERT OR IGNORE INTO nonces (signer, nonce, expires_at) VALUES (?1, ?2, ?3)",
                    params![signer, nonce, expires_at],
                )
                .map_err(err)?;
            Ok(n == 1)
        })
    }

    fn nonce_used(&self, signer: &SignPublic, nonce: &str) -> Result<bool, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM nonces WHERE signer = ?1 AND nonce = ?2)",
                params![hex(signer), nonce],
                |r| r.get(0),
            )
        })
    }

    fn post(
        &self,
        to: &SignPublic,
        kind: &str,
        grant: Option<&GrantId>,
        body: &[u8],
        at: i64,
    ) -> Result<u64, StoreError> {
        let (to, kind, grant, body) = (
            hex(to),
            kind.to_owned(),
            grant.map(GrantId::to_string),
            body.to_vec(),
        );
        self.write(move |ctx| {
            ctx.main
                .execute(
                    "INSERT INTO inbox (signer, kind, grant_id, body, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![to, kind, grant, body, at],
                )
                .map_err(err)?;
            Ok(ctx.main.last_insert_rowid() as u64)
        })
    }

    fn inbox(
        &self,
        to: &SignPublic,
        after: u64,
        limit: usize,
    ) -> Result<Vec<InboxItem>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT seq, kind, grant_id, body FROM inbox WHERE signer = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?;
            st.query_map(
                params![hex(to), after.min(i64::MAX as u64) as i64, limit as i64],
                |r| {
                    let gid: Option<String> = r.get(2)?;
                    Ok(InboxItem {
                        seq: r.get::<_, i64>(0)? as u64,
                        kind: r.get(1)?,
                        grant_id: gid.and_then(|g| g.parse().ok()),
                        body: r.get(3)?,
                    })
                },
            )?
            .collect()
        })
    }

    fn add_record(
        &self,
        row: &RecordRow,
        to: &SignPublic,
        sealed: &[u8],
    ) -> Result<(), StoreError> {
        let (row, to, sealed) = (row.clone(), hex(to), sealed.to_vec());
        self.write(move |ctx| {
            let n = ctx
                .main
                .execute(
                    "INSERT OR IGNORE INTO records (record_id, grant_id, record_type, issued_at) VALUES (?1, ?2, ?3, ?4)",
                    params![row.record_id, row.grant_id.to_string(), row.record_type, row.issued_at],
                )
                .map_err(err)?;
            if n == 0 {
                return Err(StoreError::Exists(format!("record {}", row.record_id)));
            }
            ctx.main
                .execute(
                    "INSERT INTO inbox (signer, kind, grant_id, body, at) VALUES (?1, 'record', ?2, ?3, ?4)",
                    params![to, row.grant_id.to_string(), sealed, row.issued_at],
                )
                .map_err(err)?;
            Ok(())
        })
    }

    fn records(&self, grant: &GrantId) -> Result<Vec<RecordRow>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT record_id, grant_id, record_type, issued_at FROM records WHERE grant_id = ?1 ORDER BY issued_at, record_id",
            )?;
            st.query_map([grant.to_string()], |r| {
                let g: String = r.get(1)?;
                Ok(RecordRow {
                    record_id: r.get(0)?,
                    grant_id: g.parse().unwrap_or(GrantId::from_bytes([0; 16])),
                    record_type: r.get(2)?,
                    issued_at: r.get(3)?,
                })
            })?
            .collect()
        })
    }

    fn add_request(&self, row: &RequestRow) -> Result<(), StoreError> {
        let row = row.clone();
        self.write(move |ctx| {
            let to = row.to.as_ref().map(hex);
            ctx.main
                .execute(
                    "INSERT INTO requests (request_id, case_ref, body, created_at, to_signer) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![row.request_id, row.case_ref, row.body, row.created_at, to],
                )
                .map_err(|e| match e.sqlite_error_code() {
                    Some(ErrorCode::ConstraintViolation) => {
                        StoreError::Exists(format!("request {}", row.request_id))
                    }
                    _ => err(e),
                })?;
            if let Some(to) = to {
                ctx.main
                    .execute(
                        "INSERT INTO inbox (signer, kind, grant_id, body, at) VALUES (?1, 'request', NULL, ?2, ?3)",
                        params![to, row.body, row.created_at],
                    )
                    .map_err(err)?;
            }
            Ok(())
        })
    }

    fn requests(&self) -> Result<Vec<RequestRow>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT request_id, case_ref, body, created_at, to_signer FROM requests ORDER BY created_at DESC, rowid DESC",
            )?;
            st.query_map([], |r| {
                let to: Option<Vec<u8>> = r.get(4)?;
                Ok(RequestRow {
                    request_id: r.get(0)?,
                    case_ref: r.get(1)?,
                    body: r.get(2)?,
                    created_at: r.get(3)?,
                    to: to.and_then(sign_public),
                })
            })?
            .collect()
        })
    }

    fn link(
        &self,
        case_ref: &str,
        to: &SignPublic,
        grant: &GrantId,
        at: i64,
    ) -> Result<(), StoreError> {
        let (case_ref, to, grant) = (case_ref.to_owned(), hex(to), grant.to_string());
        self.write(move |ctx| {
            let existing: Option<Vec<u8>> = ctx
                .main
                .query_row(
                    "SELECT signer FROM links WHERE case_ref = ?1",
                    [&case_ref],
                    |r| r.get(0),
                )
                .optional()
                .map_err(err)?;
            match existing {
                Some(s) if s == to => Ok(()),
                Some(_) => Err(StoreError::Exists(format!(
                    "a link for case {case_ref} to another citizen"
                ))),
                None => ctx
                    .main
                    .execute(
                        "INSERT INTO links (case_ref, signer, grant_id, at) VALUES (?1, ?2, ?3, ?4)",
                        params![case_ref, to, grant, at],
                    )
                    .map(|_| ())
                    .map_err(err),
            }
        })
    }

    fn linked(&self, case_ref: &str) -> Result<Option<SignPublic>, StoreError> {
        let k: Option<Vec<u8>> = self.read(|c| {
            c.query_row(
                "SELECT signer FROM links WHERE case_ref = ?1",
                [case_ref],
                |r| r.get(0),
            )
            .optional()
        })?;
        Ok(k.and_then(sign_public))
    }

    fn add_staff(&self, name: &str, key: &SignPublic, at: i64) -> Result<(), StoreError> {
        let (name, key) = (name.to_owned(), hex(key));
        self.write(move |ctx| {
            let n = ctx
                .main
                .execute(
                    "INSERT OR IGNORE INTO staff (name, public_key, added_at) VALUES (?1, ?2, ?3)",
                    params![name, key, at],
                )
                .map_err(err)?;
            if n == 0 {
                return Err(StoreError::Exists(format!("staff member {name}")));
            }
            Ok(())
        })
    }

    fn staff(&self, name: &str) -> Result<Option<SignPublic>, StoreError> {
        let k: Option<Vec<u8>> = self.read(|c| {
            c.query_row(
                "SELECT public_key FROM staff WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()
        })?;
        Ok(k.and_then(sign_public))
    }

    fn receipts(&self, id: &GrantId) -> Result<Vec<(String, u64, Vec<u8>)>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT kind, seq, signed FROM receipts WHERE grant_id = ?1 ORDER BY at, kind, seq",
            )?;
            st.query_map([id.to_string()], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?))
            })?
            .collect()
        })
    }

    fn reconcile(&self) -> Result<(), StoreError> {
        self.write(|ctx| {
            let live: std::collections::HashSet<String> = {
                let mut st = ctx
                    .main
                    .prepare("SELECT grant_id FROM grants WHERE purged_at IS NULL")
                    .map_err(err)?;
                st.query_map([], |r| r.get(0))
                    .map_err(err)?
                    .collect::<Result<_, _>>()
                    .map_err(err)?
            };
            let keyed: Vec<String> = {
                let mut st = ctx
                    .keys
                    .prepare("SELECT grant_id FROM grant_keys")
                    .map_err(err)?;
                st.query_map([], |r| r.get(0))
                    .map_err(err)?
                    .collect::<Result<_, _>>()
                    .map_err(err)?
            };
            for id in keyed.into_iter().filter(|id| !live.contains(id)) {
                ctx.shred.push(id);
            }
            Ok(())
        })
    }
}
