//! The encrypted store: one SQLCipher database file per vault generation.
//!
//! The file is encrypted page by page under the vault's 256-bit data key, given to
//! SQLCipher as a raw key (`x'…'`), so SQLCipher's own PBKDF2 never runs. It holds the twin
//! document (a compacted snapshot plus the incremental changes saved since), the vault's
//! metadata (ids, the root secret) and the hash-chained audit log.
//!
//! Durability: WAL with `synchronous = FULL`, so every commit that returns is on disk.
//! Temporary tables and sort files stay in memory (`temp_store = MEMORY`), so no
//! plaintext reaches a temp file. SQLCipher's own logging is switched off before the key
//! is given, so a wrong key prints only our message.
#![forbid(unsafe_code)]

use std::fs;
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use twin_crypto::DataKey;

/// Numbered schema migrations; `PRAGMA user_version` is the number applied.
const MIGRATIONS: &[&str] = &[
    // 1: the first layout.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT;
     CREATE TABLE snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), bytes BLOB NOT NULL) STRICT;
     CREATE TABLE changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, bytes BLOB NOT NULL) STRICT;
     CREATE TABLE audit (
         seq INTEGER PRIMARY KEY,
         at_ms INTEGER NOT NULL,
         kind TEXT NOT NULL,
         line TEXT NOT NULL,
         hash BLOB NOT NULL
     ) STRICT;",
];

/// Page cache size in KiB. The whole store of a large twin fits, so SQLCipher decrypts
/// each page once per session rather than on every read.
const CACHE_KIB: i64 = 64 * 1024;

/// One line of the audit log as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// When, in milliseconds since 1970 (UTC).
    pub at_ms: i64,
    /// A stable kind ("edit", "unlock", …).
    pub kind: String,
    /// The plain-language line. Never holds a field value.
    pub line: String,
    /// SHA-256 over the previous hash and this entry.
    pub hash: [u8; 32],
}

/// What one commit writes, in one transaction.
#[derive(Debug, Default)]
pub struct Batch {
    /// An incremental block of Automerge changes.
    pub change: Option<Vec<u8>>,
    /// Audit lines to append.
    pub audit: Vec<AuditRow>,
    /// Metadata to set.
    pub meta: Vec<(String, Vec<u8>)>,
}

/// Why a store operation failed. Messages name the file, never its contents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No database file where the key file says it is.
    #[error("the vault's database file {0} is missing")]
    Missing(PathBuf),
    /// A database file that already exists where a new one was to be made.
    #[error("{0} already exists; nothing was overwritten")]
    Exists(PathBuf),
    /// The file cannot be read with this key: damaged, truncated or not ours.
    #[error(
        "the vault's database file {path} is damaged or is not a Citizen Twin database ({detail})"
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What SQLite said, which never includes data.
        detail: String,
    },
    /// Made by a newer version of this program.
    #[error(
        "the vault's database file {path} was made by a newer version of Citizen Twin (format {found}); please update"
    )]
    Newer {
        /// The file.
        path: PathBuf,
        /// The format number found.
        found: i64,
    },
    /// The disk is full.
    #[error("the disk is full, so nothing was saved; free some space and try again")]
    DiskFull,
    /// Any other file-system error.
    #[error("could not use the vault's database file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Any other database error.
    #[error("the vault's database file {path} could not be used: {detail}")]
    Sql {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },
}

/// An open, unlocked store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Creates a new database at `path` (which must not exist), readable only by its owner.
    pub fn create(path: &Path, key: &DataKey) -> Result<Store, StoreError> {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => StoreError::Exists(path.to_owned()),
                _ => io_err(path, e),
            })?;
        let conn = connect(path)?;
        let mut store = Store {
            conn,
            path: path.to_owned(),
        };
        store.start(key)?;
        Ok(store)
    }

    /// Opens an existing database. Never creates one: a missing file is an error.
    pub fn open(path: &Path, key: &DataKey) -> Result<Store, StoreError> {
        match fs::metadata(path) {
            Ok(m) if m.len() == 0 => {
                return Err(StoreError::Damaged {
                    path: path.to_owned(),
                    detail: "the file is empty".into(),
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::Missing(path.to_owned()));
            }
            Err(e) => return Err(io_err(path, e)),
        }
        let conn = connect(path)?;
        let mut store = Store {
            conn,
            path: path.to_owned(),
        };
        store.start(key)?;
        Ok(store)
    }

    fn start(&mut self, key: &DataKey) -> Result<(), StoreError> {
        let path = self.path.clone();
        let c = &self.conn;
        // Silence SQLCipher before the key: a wrong key must print only our message.
        c.execute_batch("PRAGMA cipher_log_level = NONE;")
            .map_err(|e| sql_err(&path, e))?;
        let literal = key.sqlcipher_literal();
        let stmt = zeroize::Zeroizing::new(format!("PRAGMA key = \"{}\";", literal.as_str()));
        c.execute_batch(&stmt).map_err(|e| sql_err(&path, e))?;
        // The first read checks the key against the file's page MACs.
        c.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(|e| damaged(&path, e))?;
        c.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA temp_store = MEMORY;
             PRAGMA cache_size = -{CACHE_KIB};
             PRAGMA foreign_keys = ON;"
        ))
        .map_err(|e| damaged(&path, e))?;
        self.migrate()
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| damaged(&path, e))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::Newer {
                path,
                found: version,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction().map_err(|e| sql_err(&path, e))?;
            tx.execute_batch(sql).map_err(|e| sql_err(&path, e))?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
                .map_err(|e| sql_err(&path, e))?;
            tx.commit().map_err(|e| sql_err(&path, e))?;
        }
        if version > 0 {
            self.check_length()?;
        }
        Ok(())
    }

    /// A file cut short shows at once, not at the first read of a missing page: when
    /// the WAL is empty (the file was closed cleanly), the main file must hold every page
    /// the database counts. Cheap: no page is read.
    fn check_length(&self) -> Result<(), StoreError> {
        let wal = files_of(&self.path)[1].clone();
        let wal_len = fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        if wal_len > 0 {
            return Ok(());
        }
        let pages: i64 = self
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .map_err(|e| self.damaged(e))?;
        // SQLCipher answers `page_size` as its own `cipher_page_size`, as text.
        let size: i64 = self
            .conn
            .query_row("PRAGMA cipher_page_size", [], |r| r.get::<_, String>(0))
            .map_err(|e| self.damaged(e))?
            .parse()
            .unwrap_or(4096);
        let len = fs::metadata(&self.path)
            .map_err(|e| io_err(&self.path, e))?
            .len();
        if (pages.max(0) as u64).saturating_mul(size.max(0) as u64) > len {
            return Err(StoreError::Damaged {
                path: self.path.clone(),
                detail: "the file is shorter than it should be: it was cut off".into(),
            });
        }
        Ok(())
    }

    /// The database file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A metadata value.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.damaged(e))
    }

    /// The saved document: the snapshot (empty if none) and the change blocks after it.
    pub fn load_doc(&self) -> Result<(Vec<u8>, Vec<Vec<u8>>), StoreError> {
        let snapshot: Vec<u8> = self
            .conn
            .query_row("SELECT bytes FROM snapshot WHERE id = 1", [], |r| r.get(0))
            .optional()
            .map_err(|e| self.damaged(e))?
            .unwrap_or_default();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT bytes FROM changes ORDER BY seq")
            .map_err(|e| self.damaged(e))?;
        let changes = stmt
            .query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect::<Result<Vec<Vec<u8>>, _>>())
            .map_err(|e| self.damaged(e))?;
        Ok((snapshot, changes))
    }

    /// Number of change blocks saved since the last snapshot, and their total size.
    pub fn pending_changes(&self) -> Result<(u64, u64), StoreError> {
        self.conn
            .query_row(
                "SELECT count(*), coalesce(sum(length(bytes)), 0) FROM changes",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .map_err(|e| self.damaged(e))
    }

    /// Writes a batch in one durable transaction: all of it or none.
    pub fn commit(&mut self, batch: Batch) -> Result<(), StoreError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| sql_err(&path, e))?;
        if let Some(bytes) = &batch.change {
            tx.execute("INSERT INTO changes (bytes) VALUES (?1)", [bytes])
                .map_err(|e| sql_err(&path, e))?;
        }
        insert_audit(&tx, &batch.audit).map_err(|e| sql_err(&path, e))?;
        for (k, v) in &batch.meta {
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                params![k, v],
            )
            .map_err(|e| sql_err(&path, e))?;
        }
        tx.commit().map_err(|e| sql_err(&path, e))
    }

    /// Replaces the snapshot with `snapshot` and drops the change blocks it contains, in
    /// one transaction.
    pub fn compact(&mut self, snapshot: &[u8]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| sql_err(&path, e))?;
        tx.execute(
            "INSERT OR REPLACE INTO snapshot (id, bytes) VALUES (1, ?1)",
            [snapshot],
        )
        .map_err(|e| sql_err(&path, e))?;
        tx.execute("DELETE FROM changes", [])
            .map_err(|e| sql_err(&path, e))?;
        tx.commit().map_err(|e| sql_err(&path, e))
    }

    /// The whole audit log, oldest first.
    pub fn audit(&self) -> Result<Vec<AuditRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, at_ms, kind, line, hash FROM audit ORDER BY seq")
            .map_err(|e| self.damaged(e))?;
        let rows = stmt
            .query_map([], |r| {
                let hash: Vec<u8> = r.get(4)?;
                Ok(AuditRow {
                    seq: r.get::<_, i64>(0)? as u64,
                    at_ms: r.get(1)?,
                    kind: r.get(2)?,
                    line: r.get(3)?,
                    hash: hash.try_into().unwrap_or([0; 32]),
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.damaged(e))?;
        Ok(rows)
    }

    /// The hash of audit entry `seq`, if it exists.
    pub fn audit_hash(&self, seq: u64) -> Result<Option<[u8; 32]>, StoreError> {
        self.conn
            .query_row("SELECT hash FROM audit WHERE seq = ?1", [seq as i64], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .optional()
            .map(|h| h.map(|h| h.try_into().unwrap_or([0; 32])))
            .map_err(|e| self.damaged(e))
    }

    /// The last audit entry's number and hash, if any.
    pub fn audit_head(&self) -> Result<Option<(u64, [u8; 32])>, StoreError> {
        self.conn
            .query_row(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| {
                    let hash: Vec<u8> = r.get(1)?;
                    Ok((
                        r.get::<_, i64>(0)? as u64,
                        hash.try_into().unwrap_or([0; 32]),
                    ))
                },
            )
            .optional()
            .map_err(|e| self.damaged(e))
    }

    /// Writes a new database at `path` under `key` holding this store's metadata and
    /// audit log and the given document snapshot, and nothing else: no old change
    /// blocks, no free pages, no WAL frames of this file. Used by erasure.
    pub fn write_fresh(
        &self,
        path: &Path,
        key: &DataKey,
        snapshot: &[u8],
        extra: Batch,
    ) -> Result<Store, StoreError> {
        let mut fresh = Store::create(path, key)?;
        let meta: Vec<(String, Vec<u8>)> = {
            let mut stmt = self
                .conn
                .prepare("SELECT key, value FROM meta")
                .map_err(|e| self.damaged(e))?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(|e| self.damaged(e))?
        };
        let audit = self.audit()?;
        let fpath = fresh.path.clone();
        let tx = fresh.conn.transaction().map_err(|e| sql_err(&fpath, e))?;
        for (k, v) in meta.iter().chain(extra.meta.iter()) {
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                params![k, v],
            )
            .map_err(|e| sql_err(&fpath, e))?;
        }
        insert_audit(&tx, &audit).map_err(|e| sql_err(&fpath, e))?;
        insert_audit(&tx, &extra.audit).map_err(|e| sql_err(&fpath, e))?;
        tx.execute(
            "INSERT INTO snapshot (id, bytes) VALUES (1, ?1)",
            [snapshot],
        )
        .map_err(|e| sql_err(&fpath, e))?;
        tx.commit().map_err(|e| sql_err(&fpath, e))?;
        fresh.checkpoint()?;
        Ok(fresh)
    }

    /// Moves the WAL's pages into the main file and empties the WAL.
    pub fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| sql_err(&self.path, e))
    }

    /// Closes the database, checkpointing the WAL first.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.checkpoint()?;
        let path = self.path.clone();
        self.conn.close().map_err(|(_, e)| sql_err(&path, e))
    }

    fn damaged(&self, e: rusqlite::Error) -> StoreError {
        damaged(&self.path, e)
    }

    /// Every row of every table (the schema table included), decrypted, each column's
    /// bytes followed by a zero byte. Only for the end-to-end tests, which search it for
    /// erased values; not part of the supported interface.
    #[doc(hidden)]
    pub fn dump_for_tests(&self) -> Result<Vec<u8>, StoreError> {
        let mut tables: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
                .map_err(|e| self.damaged(e))?;
            stmt.query_map([], |r| r.get(0))
                .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
                .map_err(|e| self.damaged(e))?
        };
        tables.insert(0, "sqlite_schema".into());
        let mut out = Vec::new();
        for table in tables {
            let sql = format!("SELECT * FROM \"{}\"", table.replace('"', "\"\""));
            let mut stmt = self.conn.prepare(&sql).map_err(|e| self.damaged(e))?;
            let columns = stmt.column_count();
            let mut rows = stmt.query([]).map_err(|e| self.damaged(e))?;
            while let Some(row) = rows.next().map_err(|e| self.damaged(e))? {
                for i in 0..columns {
                    match row.get_ref(i).map_err(|e| self.damaged(e))? {
                        rusqlite::types::ValueRef::Null => {}
                        rusqlite::types::ValueRef::Integer(n) => {
                            out.extend_from_slice(n.to_string().as_bytes())
                        }
                        rusqlite::types::ValueRef::Real(f) => {
                            out.extend_from_slice(f.to_string().as_bytes())
                        }
                        rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => {
                            out.extend_from_slice(b)
                        }
                    }
                    out.push(0);
                }
            }
        }
        Ok(out)
    }
}

/// Every file SQLite may keep for the database at `path`: the file, its WAL and its
/// shared-memory index.
pub fn files_of(path: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut s = path.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    [path.to_owned(), with("-wal"), with("-shm")]
}

/// Makes `dir` (and its parents) with owner-only permissions on the last one.
pub fn make_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

fn insert_audit(tx: &rusqlite::Transaction<'_>, rows: &[AuditRow]) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO audit (seq, at_ms, kind, line, hash) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for r in rows {
        stmt.execute(params![
            r.seq as i64,
            r.at_ms,
            r.kind,
            r.line,
            r.hash.as_slice()
        ])?;
    }
    Ok(())
}

/// Finishes SQLCipher's process-wide start-up once, before any connection is keyed.
///
/// SQLite runs SQLCipher's start-up hook after it marks itself initialised, so a second
/// thread opening its first connection at the same moment can key before the crypto
/// provider is registered, and `PRAGMA key` fails with "SQL logic error". `Once` makes
/// every other opener wait until the first start-up has finished.
fn init_sqlcipher() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        // Opening any connection runs sqlite3_initialize and SQLCipher's hook in full.
        let _ = Connection::open_in_memory();
    });
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    init_sqlcipher();
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    Connection::open_with_flags(path, flags).map_err(|e| sql_err(path, e))
}

fn io_err(path: &Path, source: io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

fn is_full(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull)
}

fn sql_err(path: &Path, e: rusqlite::Error) -> StoreError {
    if is_full(&e) {
        return StoreError::DiskFull;
    }
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
            ) =>
        {
            damaged(path, e)
        }
        _ => StoreError::Sql {
            path: path.to_owned(),
            detail: code_only(&e),
        },
    }
}

fn damaged(path: &Path, e: rusqlite::Error) -> StoreError {
    if is_full(&e) {
        return StoreError::DiskFull;
    }
    StoreError::Damaged {
        path: path.to_owned(),
        detail: code_only(&e),
    }
}

/// SQLite's error code and its generic description; never the message text, which can
/// quote SQL parameters.
fn code_only(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => f.to_string(),
        other => format!("{other:?}").chars().take(120).collect(),
    }
}

#[cfg(test)]
mod tests;
