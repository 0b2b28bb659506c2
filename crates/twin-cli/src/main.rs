//! `twin`: the citizen's vault on the command line.
//!
//! Every command is a thin call into `twin-vault`; this file only reads arguments and
//! passphrases, asks for confirmation, and prints. See `docs/cli.md` for the contract.
#![forbid(unsafe_code)]

mod input;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use twin_types::Category;
use twin_vault::{Vault, VaultError};

use input::{Secrets, confirm};
use output::{print_json, rfc3339};

const ABOUT: &str = "Your digital twin: your personal details, tax, licences and (if you opt in) health \
and social data, kept encrypted on this computer. Agencies only see what you choose to share.";

const AFTER_HELP: &str = "\
Passphrases: typed at the prompt on a terminal. For scripts, --passphrase-stdin reads them \
from standard input (one per line: the passphrase; for `passwd` then the new one; for `recover` \
the recovery code then the new passphrase), or set TWIN_PASSPHRASE (and TWIN_NEW_PASSPHRASE, \
TWIN_RECOVERY_CODE). Environment variables can be read by other programs you run, so use them \
only for tests and automation.

Examples:
  twin init
  twin set personal.address.postcode \"LS1 4AP\" --why \"moved house\"
  twin show personal
  twin history personal.address.postcode
  twin opt-in health
  twin erase personal.phone
  twin audit verify";

#[derive(Debug, Parser)]
#[command(name = "twin", version, about = ABOUT, after_help = AFTER_HELP)]
struct Cli {
    /// The vault folder [default: your data folder, e.g. ~/.local/share/citizen-twin/vault]
    #[arg(long, global = true, env = "TWIN_VAULT", value_name = "DIR")]
    vault: Option<PathBuf>,

    /// Read passphrases (and recovery codes) from standard input, one per line
    #[arg(long, global = true)]
    passphrase_stdin: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create your twin: a new, empty, encrypted vault on this computer
    Init {
        /// Agree to create the twin without being asked (for scripts)
        #[arg(long)]
        yes: bool,
    },
    /// Show facts about the vault (add --json for scripts); needs no passphrase
    Status {
        /// Also unlock and count fields, consents and changes
        #[arg(long)]
        unlock: bool,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Set one field, e.g. `twin set personal.address.town Leeds`
    Set {
        /// The field, e.g. personal.address.postcode (see `twin show`)
        path: String,
        /// The new value. Numbers as digits; lists (immunisations, medications) as JSON.
        /// Use - to read it from standard input (after the passphrase line, if any), so
        /// it never shows in the list of running programs
        value: String,
        /// Why you made the change, kept in the field's history
        #[arg(long)]
        why: Option<String>,
    },
    /// Print one field's value
    Get {
        /// The field, e.g. personal.full_name
        path: String,
        /// Print JSON: {"path", "value", "conflicts"}
        #[arg(long)]
        json: bool,
    },
    /// Show every field that holds a value, or those under PATH (e.g. `personal.address`)
    Show {
        /// A category, group or field
        path: Option<String>,
        /// Print the fields as one nested JSON object
        #[arg(long)]
        json: bool,
    },
    /// Show who changed a field, when and why, oldest first
    History {
        /// The field
        path: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Add fields from a JSON file like {"personal": {"full_name": "Alex Smith"}}; all or nothing
    Import {
        /// The JSON file
        file: PathBuf,
    },
    /// Allow your twin to hold health or social data
    OptIn {
        /// health or social
        category: Category,
    },
    /// Stop your twin holding health or social data, and erase what it holds
    OptOut {
        /// health or social
        category: Category,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
    },
    /// Erase a field, a group or a whole category, including from the twin's history
    Erase {
        /// What to erase, e.g. personal.phone or health
        path: String,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
    },
    /// Change your passphrase
    Passwd,
    /// Forgotten your passphrase? Use your recovery code to choose a new one
    Recover,
    /// Print the activity log, or check it with `twin audit verify`
    Audit {
        #[command(subcommand)]
        action: Option<AuditAction>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Delete your twin from this computer for good (the right to be forgotten)
    DeleteVault {
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AuditAction {
    /// Check every link of the log's hash chain and that nothing was cut off its end
    Verify {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

/// An error for the citizen: a stable code and a plain message.
struct Failure {
    code: &'static str,
    message: String,
}

impl From<VaultError> for Failure {
    fn from(e: VaultError) -> Self {
        Failure {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

fn fail(code: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
    }
}

fn main() -> ExitCode {
    // Panics never print their payload: it could hold a value from the twin.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "twin: internal error{at}. Nothing more was saved. Please report this. [code: internal]"
        );
    }));
    if let Err(e) = twin_vault::harden_process() {
        eprintln!("twin: warning: could not stop this process writing core dumps ({e})");
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let mut m = f.message;
            if let Some(first) = m.get(..1) {
                let upper = first.to_uppercase();
                m.replace_range(..1, &upper);
            }
            let m = m.replace('\n', " ");
            eprintln!(
                "twin: {}{} [code: {}]",
                m,
                if m.ends_with(['.', '?', '!']) {
                    ""
                } else {
                    "."
                },
                f.code
            );
            ExitCode::FAILURE
        }
    }
}

fn default_dir() -> Result<PathBuf, Failure> {
    dirs::data_dir()
        .map(|d| d.join("citizen-twin").join("vault"))
        .ok_or_else(|| {
            fail(
                "no-data-folder",
                "could not find your data folder; pass --vault DIR",
            )
        })
}

fn open(dir: &std::path::Path, secrets: &mut Secrets) -> Result<Vault, Failure> {
    let pass = secrets.passphrase("Passphrase: ")?;
    let mut v = Vault::unlock(dir, &pass)?;
    v.set_who("you, with the twin command line");
    Ok(v)
}

fn run(cli: Cli) -> Result<(), Failure> {
    let dir = match cli.vault {
        Some(d) => d,
        None => default_dir()?,
    };
    let mut secrets = Secrets::new(cli.passphrase_stdin);
    match cli.command {
        Command::Init { yes } => {
            println!("{}", output::INIT_EXPLANATION);
            if !yes
                && !confirm(
                    "Create your twin now? Type yes to continue: ",
                    "yes",
                    "init",
                )?
            {
                return Err(fail("cancelled", "nothing was created"));
            }
            let pass = secrets.new_passphrase("Choose a passphrase: ", "TWIN_PASSPHRASE")?;
            let (v, code) = Vault::init(&dir, &pass)?;
            v.lock()?;
            output::print_recovery_code(&code.0, &dir);
        }
        Command::Status { unlock, json } => {
            if unlock {
                let mut v = open(&dir, &mut secrets)?;
                let s = v.status()?;
                v.lock()?;
                if json {
                    print_json(&s);
                } else {
                    output::print_locked_status(&s.locked);
                    println!("Fields holding a value:   {}", s.fields_set);
                    let cats: Vec<String> = s.opted_in.iter().map(|c| c.to_string()).collect();
                    println!("Categories in use:        {}", cats.join(", "));
                    println!("Changes in history:       {}", s.changes);
                    println!("Computers that wrote it:  {}", s.devices);
                    if !s.erased_paths.is_empty() {
                        println!("Erased (values gone):     {}", s.erased_paths.join(", "));
                    }
                }
            } else {
                let s = twin_vault::locked_status(&dir)?;
                if json {
                    print_json(&s)
                } else {
                    output::print_locked_status(&s)
                }
            }
        }
        Command::Set { path, value, why } => {
            let mut v = open(&dir, &mut secrets)?;
            let value = if value == "-" {
                secrets.value()?
            } else {
                zeroize::Zeroizing::new(value)
            };
            let changed = v.set(&path, &value, why.as_deref())?;
            v.lock()?;
            println!(
                "{}",
                if changed {
                    format!("Saved {path}.")
                } else {
                    format!("{path} already had that value; nothing changed.")
                }
            );
        }
        Command::Get { path, json } => {
            let v = open(&dir, &mut secrets)?;
            let all = v.get_all(&path)?;
            v.lock()?;
            let value = all.last().cloned();
            if json {
                print_json(
                    &json!({"path": path, "value": value, "conflicts": if all.len() > 1 { all.clone() } else { vec![] }}),
                );
            } else {
                match &value {
                    None => println!("{path} is empty."),
                    Some(v) => println!("{}", output::plain(v)),
                }
                if all.len() > 1 {
                    eprintln!(
                        "twin: note: two computers changed this field at once; the other value is kept until you choose one."
                    );
                }
            }
        }
        Command::Show { path, json } => {
            let v = open(&dir, &mut secrets)?;
            let fields = v.show(path.as_deref())?;
            let opted: Vec<Category> = Category::ALL
                .into_iter()
                .filter(|c| v.opted_in(*c))
                .collect();
            v.lock()?;
            if json {
                print_json(&twin_doc_nest(&fields));
            } else {
                output::print_fields(&fields, &opted, path.is_none());
            }
        }
        Command::History { path, json } => {
            let v = open(&dir, &mut secrets)?;
            let h = v.history(&path)?;
            v.lock()?;
            if json {
                let entries: Vec<Value> = h
                    .iter()
                    .map(|e| json!({"at": rfc3339(e.at_ms), "who": e.who, "why": e.why, "device": e.device, "value": e.value}))
                    .collect();
                print_json(&entries);
            } else if h.is_empty() {
                println!("{path} has never been set (or was erased).");
            } else {
                for e in &h {
                    let what = match &e.value {
                        Some(v) => format!("set to {}", output::plain(v)),
                        None => "cleared".to_owned(),
                    };
                    let why = if e.why.is_empty() {
                        String::new()
                    } else {
                        format!(" — why: {}", e.why)
                    };
                    println!("{}  {} {what}{why}", twin_vault::human_time(e.at_ms), e.who);
                }
            }
        }
        Command::Import { file } => {
            let text = read_import(&file)?;
            let fragment: Value = serde_json::from_str(&text).map_err(|e| {
                fail(
                    "invalid-import",
                    format!(
                        "nothing was imported: {} is not valid JSON (line {}, column {})",
                        file.display(),
                        e.line(),
                        e.column()
                    ),
                )
            })?;
            let mut v = open(&dir, &mut secrets)?;
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "a file".into());
            let r = v.import(&fragment, &name)?;
            v.lock()?;
            println!(
                "Imported from {}: {} changed, {} already up to date.",
                file.display(),
                r.changed.len(),
                r.unchanged.len()
            );
            for p in &r.changed {
                println!("  changed  {p}");
            }
            for p in &r.unchanged {
                println!("  same     {p}");
            }
        }
        Command::OptIn { category } => {
            if !category.needs_opt_in() {
                println!(
                    "{category} data is always part of your twin; there is nothing to opt in to."
                );
                return Ok(());
            }
            let mut v = open(&dir, &mut secrets)?;
            let changed = v.opt_in(category)?;
            v.lock()?;
            println!(
                "{}",
                if changed {
                    format!(
                        "You can now keep {category} data in your twin. It stays on this computer; nothing is shared until you choose to. `twin opt-out {category}` erases it again."
                    )
                } else {
                    format!("You had already opted in to {category} data.")
                }
            );
        }
        Command::OptOut { category, yes } => {
            if !category.needs_opt_in() {
                return Err(fail(
                    "not-opt-in",
                    format!(
                        "{category} is not an opt-in category; erase single fields with `twin erase`"
                    ),
                ));
            }
            if !yes {
                println!(
                    "Opting out erases every {category} field from your twin and from its history. Backups you exported earlier still hold it."
                );
                if !confirm(
                    &format!("Type {} to continue: ", "erase"),
                    "erase",
                    "opt-out",
                )? {
                    return Err(fail("cancelled", "nothing was changed"));
                }
            }
            let mut v = open(&dir, &mut secrets)?;
            let r = v.opt_out(category)?;
            v.lock()?;
            match r {
                Some(r) => println!(
                    "You opted out of {category} data. {} field(s) were erased, with their history.",
                    r.fields_cleared.len()
                ),
                None => println!("You opted out of {category} data. Your twin held none."),
            }
        }
        Command::Erase { path, yes } => {
            twin_schema_known(&path)?;
            if !yes {
                println!(
                    "Erasing removes {path} from your twin and from its whole history, for good; there is no undo. Backups you exported earlier still hold it."
                );
                if !confirm("Type erase to continue: ", "erase", "erase")? {
                    return Err(fail("cancelled", "nothing was erased"));
                }
            }
            let mut v = open(&dir, &mut secrets)?;
            let r = v.erase(&path)?;
            v.lock()?;
            println!(
                "Erased {} ({} field(s) held a value). The old database file was destroyed with its key; your twin now lives in {}.",
                r.path,
                r.fields_cleared.len(),
                r.new_database.display()
            );
        }
        Command::Passwd => {
            let mut v = open(&dir, &mut secrets)?;
            let new = secrets.new_passphrase("New passphrase: ", "TWIN_NEW_PASSPHRASE")?;
            v.change_passphrase(&new)?;
            v.lock()?;
            println!("Your passphrase was changed. Your recovery code still works.");
        }
        Command::Recover => {
            let code = secrets.recovery_code()?;
            let new = secrets.new_passphrase("New passphrase: ", "TWIN_NEW_PASSPHRASE")?;
            let (v, new_code) = Vault::recover(&dir, &code, &new)?;
            v.lock()?;
            println!(
                "Your new passphrase is set. Your old recovery code no longer works; here is the new one."
            );
            output::print_recovery_code(&new_code.0, &dir);
        }
        Command::Audit { action, json } => {
            let mut v = open(&dir, &mut secrets)?;
            match action {
                None => {
                    let log = v.audit()?;
                    v.lock()?;
                    if json {
                        let entries: Vec<Value> = log
                            .iter()
                            .map(|e| json!({"seq": e.seq, "at": rfc3339(e.at_ms), "kind": e.kind, "line": e.line}))
                            .collect();
                        print_json(&entries);
                    } else {
                        for e in &log {
                            println!(
                                "{:>4}  {}  {}",
                                e.seq,
                                twin_vault::human_time(e.at_ms),
                                e.line
                            );
                        }
                    }
                }
                Some(AuditAction::Verify { json: j }) => {
                    let r = v.verify_audit()?;
                    v.lock()?;
                    if json || j {
                        print_json(&r);
                    }
                    if let Some(n) = r.first_broken {
                        return Err(fail(
                            "audit-broken",
                            format!(
                                "the activity log is broken at entry {n}: it or an entry before it was changed after it was written"
                            ),
                        ));
                    }
                    if !r.cut_short.is_empty() {
                        let at: Vec<String> = r.cut_short.iter().map(u64::to_string).collect();
                        return Err(fail(
                            "audit-cut-short",
                            format!(
                                "the activity log's {} entries link up, but it was once found cut short (see entry {})",
                                r.entries,
                                at.join(", ")
                            ),
                        ));
                    }
                    if !(json || j) {
                        println!(
                            "The activity log is intact: {} entries, each linked to the one before, and nothing cut off its end.",
                            r.entries
                        );
                    }
                }
            }
        }
        Command::DeleteVault { yes } => {
            let s = twin_vault::locked_status(&dir)?;
            if !yes {
                println!(
                    "This deletes your twin from {} for good: its keys first, so nothing can be decrypted, then its files. Agencies keep what you already shared with them. Backups you exported are not touched.",
                    s.dir.display()
                );
                if !confirm("Type delete to continue: ", "delete", "delete-vault")? {
                    return Err(fail("cancelled", "nothing was deleted"));
                }
            }
            let r = twin_vault::delete_vault(&dir)?;
            println!("Your twin was deleted. Removed, keys first:");
            for p in &r.removed {
                println!("  {}", p.display());
            }
            if r.removed_folder {
                println!("  {} (the folder)", dir.display());
            }
        }
    }
    Ok(())
}

/// Checks a path before asking the citizen to confirm anything about it.
fn twin_schema_known(path: &str) -> Result<(), Failure> {
    twin_vault::check_path(path).map_err(Failure::from)
}

fn twin_doc_nest(fields: &[(twin_types::FieldPath, Value)]) -> Value {
    twin_vault::nest(fields)
}

/// Largest import file read: a twin fragment is small.
const MAX_IMPORT_BYTES: u64 = 4 * 1024 * 1024;

fn read_import(file: &std::path::Path) -> Result<String, Failure> {
    let meta = std::fs::metadata(file).map_err(|e| {
        fail(
            "import-unreadable",
            format!(
                "nothing was imported: could not read {}: {e}",
                file.display()
            ),
        )
    })?;
    if meta.len() > MAX_IMPORT_BYTES {
        return Err(fail(
            "import-too-large",
            format!(
                "nothing was imported: {} is larger than 4 MB, far more than a twin holds",
                file.display()
            ),
        ));
    }
    std::fs::read_to_string(file).map_err(|e| {
        fail(
            "import-unreadable",
            format!(
                "nothing was imported: could not read {}: {e}",
                file.display()
            ),
        )
    })
}
