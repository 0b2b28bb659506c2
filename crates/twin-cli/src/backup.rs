//! `twin backup …`: export, restore, and the support desk's `verify` and `inspect`
//! (which need no vault and no passphrase, and print no twin content).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::json;
use twin_vault::{RestoreReport, RestoreUnlock, Vault, VerifyError};

use crate::input::Secrets;
use crate::output::{print_json, rfc3339};
use crate::{Failure, fail};

#[derive(Debug, Subcommand)]
pub(crate) enum BackupAction {
    /// Save your whole twin to one encrypted file, to keep on another disk or computer
    #[command(
        after_help = "The file holds your whole twin (fields, history, shares, records, activity log), encrypted. Your passphrase opens it, and so does your recovery code. Anyone can check it is whole with `twin backup verify FILE` without seeing what is in it. The file is written completely or not at all: a full disk never leaves half a backup under FILE.\n\nExample:\n  twin backup export /media/usb/my-twin.twinbackup"
    )]
    Export {
        /// Where to write the backup (an existing file is replaced only by a complete backup)
        file: PathBuf,
        /// Print JSON: {"path", "size", "fingerprint", "created_at"}
        #[arg(long)]
        json: bool,
    },
    /// Bring a backup back: into an empty folder (a new computer), or merged into your twin
    #[command(
        after_help = "Into a folder with no vault (use --into DIR, or the default vault folder on a new computer), a vault is created from the backup, with your passphrase (or, with --recovery-code, a new passphrase you choose). Into your existing twin, the backup is merged: edits made on both computers are kept, stopped shares stay stopped, anything you erased since the backup stays erased, and fields changed on both computers are listed for you to choose between (`twin conflicts`). Nothing is ever overwritten, and if it is interrupted your twin is left as it was. A damaged backup restores every intact part and says exactly what was lost.\n\nExamples:\n  twin backup restore my-twin.twinbackup --into ~/twin\n  twin backup restore my-twin.twinbackup --recovery-code"
    )]
    Restore {
        /// The backup file
        file: PathBuf,
        /// The vault folder to restore into [default: --vault or your default vault folder]
        #[arg(long, value_name = "DIR")]
        into: Option<PathBuf>,
        /// Open the backup with your recovery code instead of the passphrase
        #[arg(long)]
        recovery_code: bool,
        /// Merge even a backup of another vault (normally refused)
        #[arg(long)]
        other_identity: bool,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Check a backup is whole (for support staff: needs no passphrase, shows no content)
    #[command(
        after_help = "Checks the format version, the signed list of contents and every chunk. On damage it exits with an error naming the first damaged chunk, its part of the backup and its byte offset. Compare the fingerprint with the one the citizen reads out from `twin status --unlock`."
    )]
    Verify {
        /// The backup file
        file: PathBuf,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Show a backup's header facts (for support staff: needs no passphrase, shows no content)
    Inspect {
        /// The backup file
        file: PathBuf,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// The backups this vault exported (where and when)
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

fn verify_failure(e: VerifyError) -> Failure {
    let code = match &e {
        VerifyError::NotABackup => "not-a-backup",
        VerifyError::NewerVersion { .. } => "newer-format",
        VerifyError::Truncated { .. } => "backup-truncated",
        VerifyError::ChunkDamaged(_) | VerifyError::Damaged { .. } => "backup-damaged",
        VerifyError::SignatureBad => "backup-signature-bad",
        VerifyError::HeaderTampered | VerifyError::KdfOutOfBounds(_) => "backup-header-damaged",
        _ => "io-error",
    };
    fail(code, e.to_string())
}

fn open_file(file: &Path) -> Result<std::fs::File, Failure> {
    std::fs::File::open(file).map_err(|e| {
        fail(
            "file-unreadable",
            format!("could not read {}: {e}", file.display()),
        )
    })
}

fn human_secs(secs: i64) -> String {
    twin_vault::human_time(secs.saturating_mul(1000))
}

fn print_report(r: &RestoreReport, json: bool) {
    if json {
        print_json(r);
        return;
    }
    match r.mode {
        twin_vault::RestoreMode::Created => println!(
            "Restored your twin into {} from the backup made {} (fingerprint {}).",
            r.dir.display(),
            human_secs(r.made_at),
            r.fingerprint
        ),
        twin_vault::RestoreMode::Merged => println!(
            "Merged the backup made {} (fingerprint {}) into your twin: {} change(s) came from it.",
            human_secs(r.made_at),
            r.fingerprint,
            r.changes
        ),
    }
    for p in &r.restored {
        println!("  restored  {p}");
    }
    for p in &r.left_out_erased {
        println!("  left out  {p} (you erased it since the backup was made)");
    }
    if !r.conflicts.is_empty() {
        println!(
            "{} field(s) were changed on both computers; both values are kept until you choose one with `twin set` (see `twin conflicts`):",
            r.conflicts.len()
        );
        for c in &r.conflicts {
            println!("  conflict  {c}");
        }
    }
    if !r.lost.is_empty() {
        println!("The backup is damaged. These parts could NOT be restored:");
        for l in &r.lost {
            println!("  LOST      {l}");
        }
    }
}

pub(crate) fn run(action: BackupAction, dir: &Path, secrets: &mut Secrets) -> Result<(), Failure> {
    match action {
        BackupAction::Export { file, json } => {
            let pass = secrets.passphrase("Passphrase: ")?;
            let mut v = Vault::unlock(dir, &pass)?;
            v.set_who("you, with the twin command line");
            let show = std::io::stderr().is_terminal() && !json;
            let mut last = u64::MAX;
            let r = v.export_backup(&file, &pass, |p| {
                if show && p.total >= 4 * 1024 * 1024 {
                    let pct = p.done * 100 / p.total.max(1);
                    if pct / 5 != last {
                        last = pct / 5;
                        eprint!("\rSaving {}: {pct}%   ", p.kind);
                    }
                }
            });
            if show && last != u64::MAX {
                eprintln!();
            }
            let r = r?;
            v.lock()?;
            if json {
                print_json(&json!({
                    "path": r.path, "size": r.size, "sections": r.sections, "chunks": r.chunks,
                    "fingerprint": r.fingerprint, "fingerprint_short": r.fingerprint_short,
                    "created_at": rfc3339(r.created_ms),
                }));
            } else {
                println!(
                    "Saved a backup of your twin to {} ({} bytes).",
                    r.path.display(),
                    r.size
                );
                println!("Fingerprint: {}", r.fingerprint_short);
                println!(
                    "Your passphrase or your recovery code opens it. Keep it somewhere safe: it holds your whole twin, and values you erase later stay in it."
                );
            }
        }
        BackupAction::Restore {
            file,
            into,
            recovery_code,
            other_identity,
            json,
        } => {
            let target = into.unwrap_or_else(|| dir.to_owned());
            if twin_vault::holds_vault(&target) {
                let pass = secrets.passphrase("Passphrase of your twin: ")?;
                let mut v = Vault::unlock(&target, &pass)?;
                v.set_who("you, with the twin command line");
                let code;
                let unlock = if recovery_code {
                    code = secrets.recovery_code()?;
                    RestoreUnlock::RecoveryCode {
                        code: &code,
                        new_passphrase: &pass,
                    }
                } else {
                    RestoreUnlock::Passphrase(&pass)
                };
                let r = v.merge_backup(&file, unlock, other_identity)?;
                v.lock()?;
                print_report(&r, json);
            } else {
                let (v, r) = if recovery_code {
                    let code = secrets.recovery_code()?;
                    let new = secrets.new_passphrase(
                        "Choose a passphrase for the restored twin: ",
                        "TWIN_NEW_PASSPHRASE",
                    )?;
                    twin_vault::restore_backup(
                        &file,
                        &target,
                        RestoreUnlock::RecoveryCode {
                            code: &code,
                            new_passphrase: &new,
                        },
                    )?
                } else {
                    let pass = secrets.passphrase("Passphrase of the backup: ")?;
                    twin_vault::restore_backup(&file, &target, RestoreUnlock::Passphrase(&pass))?
                };
                v.lock()?;
                print_report(&r, json);
                if let Some(code) = &r.new_recovery_code {
                    crate::output::print_recovery_code(&code.0, &target);
                }
            }
        }
        BackupAction::Verify { file, json } => {
            let r = twin_vault::verify(std::io::BufReader::new(open_file(&file)?))
                .map_err(verify_failure)?;
            if json {
                let sections: Vec<_> = r
                    .sections
                    .iter()
                    .map(|s| json!({"kind": s.kind.to_string(), "bytes": s.plain_len, "chunks": s.chunks, "offset": s.offset}))
                    .collect();
                print_json(&json!({
                    "ok": true,
                    "format_version": r.header.format_version,
                    "fingerprint": r.header.fingerprint.to_string(),
                    "created_at": rfc3339(r.header.created_at.saturating_mul(1000)),
                    "size": r.header.size,
                    "chunks": r.chunk_count,
                    "sections": sections,
                }));
            } else {
                println!(
                    "The backup is whole: format version {}, signed list of contents checks out, all {} chunk(s) in {} part(s) match.",
                    r.header.format_version,
                    r.chunk_count,
                    r.sections.len()
                );
                println!("Fingerprint: {}", r.header.fingerprint.short());
                println!("Made:        {}", human_secs(r.header.created_at));
            }
        }
        BackupAction::Inspect { file, json } => {
            let h = twin_vault::inspect(open_file(&file)?).map_err(Failure::from_inspect)?;
            if json {
                print_json(&json!({
                    "format_version": h.format_version,
                    "fingerprint": h.fingerprint.to_string(),
                    "fingerprint_short": h.fingerprint.short(),
                    "created_at": rfc3339(h.created_at.saturating_mul(1000)),
                    "size": h.size,
                    "kdf": {"memory_kib": h.kdf.memory_kib, "iterations": h.kdf.iterations, "parallelism": h.kdf.parallelism},
                    "chunk_size": h.chunk_size,
                    "sections": h.section_count,
                }));
            } else {
                println!("Citizen Twin backup, format version {}", h.format_version);
                println!(
                    "Fingerprint:    {}  ({})",
                    h.fingerprint.short(),
                    h.fingerprint
                );
                println!("Made:           {}", human_secs(h.created_at));
                println!("Size:           {} bytes", h.size);
                println!(
                    "Unlock setting: Argon2id, {} KiB memory, {} pass(es), {} lane(s)",
                    h.kdf.memory_kib, h.kdf.iterations, h.kdf.parallelism
                );
                println!("Chunk size:     {} bytes", h.chunk_size);
                match h.section_count {
                    Some(n) => println!("Parts:          {n}"),
                    None => println!("Parts:          unknown (the list of contents is missing)"),
                }
                println!("Run `twin backup verify` to check every chunk.");
            }
        }
        BackupAction::List { json } => {
            let mut v = crate::open(dir, secrets)?;
            let list = v.backups()?;
            v.lock()?;
            if json {
                print_json(&list);
            } else if list.is_empty() {
                println!("This twin has not exported any backups.");
            } else {
                println!("Backups this twin exported (they may since have been moved or deleted):");
                for b in &list {
                    println!(
                        "  {}  {} ({} bytes){}",
                        twin_vault::human_time(b.created_ms),
                        b.path.display(),
                        b.size,
                        if b.path.exists() {
                            ""
                        } else {
                            " — no longer there"
                        }
                    );
                }
            }
        }
    }
    Ok(())
}

impl Failure {
    fn from_inspect(e: twin_vault::InspectError) -> Failure {
        Failure::from(twin_vault::VaultError::from(e))
    }
}
