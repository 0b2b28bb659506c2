//! `twin`: the citizen's vault on the command line.
//!
//! Every command is a thin call into `twin-vault`; this file only reads arguments and
//! passphrases, asks for confirmation, and prints. See `docs/cli.md` for the contract.
#![forbid(unsafe_code)]

mod backup;
mod input;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use twin_types::Category;
use twin_vault::{Vault, VaultError};

use input::{Secrets, can_confirm, confirm};
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
  twin audit verify

Sharing with agencies:
  twin agency add https://benefits.example.gov.uk
  twin share --agency sandbox-benefits --fields personal.date_of_birth \\
    --purpose pension-credit-check --expires 7d --send
  twin sync
  twin requests
  twin grants
  twin revoke GRANT_ID";

#[derive(Debug, Parser)]
#[command(name = "twin", version, about = ABOUT, after_help = AFTER_HELP)]
struct Cli {
    /// The vault folder [default: your data folder, e.g. ~/.local/share/citizen-twin/vault]
    #[arg(long, global = true, env = "TWIN_VAULT", value_name = "DIR")]
    vault: Option<PathBuf>,

    /// Read passphrases (and recovery codes) from standard input, one per line
    #[arg(long, global = true)]
    passphrase_stdin: bool,

    /// A trust list file to use instead of the one that ships
    #[arg(long, global = true, env = "TWIN_TRUST_LIST", value_name = "FILE")]
    trust_list: Option<PathBuf>,

    /// Also trust the SANDBOX anchor, for trying things out with a local sandbox agency
    /// (developers only) [env: TWIN_SANDBOX=1]
    #[arg(long, global = true)]
    sandbox: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum RulesAction {
    /// Add a rule pack signed by an agency you added (`twin agency add` first)
    #[command(after_help = "Example:\n  twin rules add benefits.twinrules")]
    Add {
        /// The signed rule pack file
        file: PathBuf,
    },
    /// The rule packs you added
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
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
        #[arg(allow_hyphen_values = true)]
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
    #[command(after_help = BACKUPS_HELP)]
    OptOut {
        /// health or social
        category: Category,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
        /// After the erasure, delete the backups this twin exported that still exist
        #[arg(long)]
        delete_backups: bool,
    },
    /// Erase a field, a group or a whole category, including from the twin's history
    #[command(after_help = BACKUPS_HELP)]
    Erase {
        /// What to erase, e.g. personal.phone or health
        path: String,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
        /// After the erasure, delete the backups this twin exported that still exist
        #[arg(long)]
        delete_backups: bool,
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
    /// The agencies you can share with: add one from its card, or list them
    Agency {
        #[command(subcommand)]
        action: AgencyAction,
    },
    /// Share chosen fields with an agency, for a purpose, for a limited time
    #[command(
        after_help = "Example:\n  twin share --agency sandbox-benefits --fields personal.date_of_birth,personal.address.postcode \\\n    --purpose \"Pension Credit check\" --expires 7d --out grant.twingrant\n\nWith --send the share goes to the agency over the internet (its address is on its card); without it, nothing leaves this computer until you hand the file or text over yourself."
    )]
    Share {
        /// The agency's id (see `twin agency list`)
        #[arg(long)]
        agency: String,
        /// The fields to share, separated by commas
        #[arg(long, value_delimiter = ',', required = true)]
        fields: Vec<String>,
        /// Why: one of the purposes on the agency's card (its code or its words)
        #[arg(long)]
        purpose: String,
        /// How long the agency may read them: 30m, 12h, 7d or 2w (at most 90 days)
        #[arg(long, value_parser = parse_duration)]
        expires: i64,
        /// Record types the agency may send back (e.g. benefit-award/v1), separated by commas
        #[arg(long, value_delimiter = ',')]
        records: Vec<String>,
        /// How long the agency may send records back [default: 90d]
        #[arg(long, value_parser = parse_duration, default_value = "90d")]
        records_for: i64,
        /// The agency may use this share only once
        #[arg(long)]
        single_use: bool,
        /// Save the share to this file, to hand over
        #[arg(long, required_unless_present_any = ["text", "send"])]
        out: Option<PathBuf>,
        /// Print the share as text for paper or a QR code (sealed: it shows nothing in clear)
        #[arg(long)]
        text: bool,
        /// Send the share to the agency over the internet now; if it cannot be reached,
        /// `twin sync` sends it later
        #[arg(long)]
        send: bool,
        /// Print JSON: {"grant_id", "agency", "fields", "expires_at"} (and "sent" with --send)
        #[arg(long)]
        json: bool,
    },
    /// The shares you have made, and where each stands
    Grants {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Stop a share at once on this computer, then tell the agency to delete what it holds
    #[command(
        after_help = "The share stops on this computer at once, whatever happens next. Then a signed notice is sent to the agency over the internet; if it cannot be reached, `twin sync` sends it later. `twin grants` shows whether the agency confirmed it deleted what it held. Decisions the agency already made stand."
    )]
    Revoke {
        /// The share's id (see `twin grants`)
        grant: String,
        /// Also save the signed notice to this file, to hand to the agency
        #[arg(long)]
        notice_out: Option<PathBuf>,
        /// Do not send the notice now; `twin sync` sends it
        #[arg(long)]
        no_send: bool,
    },
    /// Exchange with your agencies over the internet: send what waits, fetch what they sent
    #[command(
        after_help = "For every agency you added: tells it about shares you stopped, sends shares you chose to send, sends new values of shared fields that changed, and fetches what it sent you (requests, records, receipts of who opened your data and of deletions). Prints one line per thing done. What could not be done now is done by the next `twin sync`; then it exits with code sync-incomplete."
    )]
    Sync {
        /// Print JSON: {"events": [{"agency", "step", "outcome", "grant", "code", "line"}]}
        #[arg(long)]
        json: bool,
    },
    /// Requests from agencies: what each asks and why; import one from a file
    Requests {
        #[command(subcommand)]
        action: Option<RequestsAction>,
        /// Print JSON (when listing)
        #[arg(long)]
        json: bool,
    },
    /// Approve a request: share the fields it asks for, or only those you keep
    Approve(ApproveArgs),
    /// Decline a request: nothing is shared
    Decline {
        /// The request's id (see `twin requests`)
        id: String,
    },
    /// Rule packs from agencies you added: what you may be eligible for, forms, reminders
    Rules {
        #[command(subcommand)]
        action: RulesAction,
    },
    /// What you may be eligible for, worked out on this computer from your twin and the
    /// rule packs you added; nothing is sent anywhere
    #[command(
        after_help = "Examples:\n  twin suggest\n  twin suggest --what-if government.tax.annual_income=9000\n  twin suggest --json\n\nEach suggestion is explained criterion by criterion, and says what to add when it cannot be decided. --what-if tries a different value without changing your twin. The activity log records only that rules were evaluated, never the answers."
    )]
    Suggest {
        /// Try a value without changing your twin: PATH=VALUE (repeatable)
        #[arg(long = "what-if", value_name = "PATH=VALUE")]
        what_if: Vec<String>,
        /// Print JSON: every outcome, with its criteria
        #[arg(long)]
        json: bool,
    },
    /// Reminders from your rule packs that are due soon (or overdue)
    #[command(after_help = "Example:\n  twin reminders")]
    Reminders {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Share with a rule's agency exactly the fields the rule reads, for its purpose
    #[command(
        after_help = "Examples:\n  twin apply pension-credit --send\n  twin apply pension-credit --days 14 --out grant.twingrant\n\nWhat will be shared is printed first. Without --send or --out the share is printed as sealed text for paper or a QR code."
    )]
    Apply {
        /// The rule's id, as `twin suggest --json` shows it (e.g. pension-credit)
        rule: String,
        #[command(flatten)]
        how: HandOver,
    },
    /// Accept a pre-filled form (a tax return) line by line, and share the accepted lines
    /// with the agency that published the rule
    #[command(
        after_help = "Examples:\n  twin prefill self-assessment\n  twin prefill self-assessment --skip 1.4 --set 1.2=18500 --send\n\nWithout --accept, --send or --out the proposed lines are only printed. Every proposed line is accepted unless you --skip it; --set changes a line's value (numbers stay numbers). The accepted lines are kept in your twin (government.tax.return_lines) and shared, for the rule's purpose, with nothing else."
    )]
    Prefill {
        /// The pre-fill rule's id, as `twin suggest` shows it (e.g. self-assessment)
        rule: String,
        /// Leave this line out (repeatable)
        #[arg(long, value_name = "LINE")]
        skip: Vec<String>,
        /// Use this value for a line instead of the one proposed (repeatable)
        #[arg(long, value_name = "LINE=VALUE")]
        set: Vec<String>,
        /// Keep the accepted lines in your twin and make the share (also implied by
        /// --send and --out)
        #[arg(long)]
        accept: bool,
        #[command(flatten)]
        how: HandOver,
    },
    /// Decisions agencies sent you, checked against the published rules they cite, on the
    /// values you shared; any disagreement is explained, with the evidence for an appeal
    #[command(after_help = "Example:\n  twin decisions")]
    Decisions {
        /// Print JSON, with the evidence
        #[arg(long)]
        json: bool,
    },
    /// Records agencies sent you, each checked against its signature; hide or import one
    Records {
        #[command(subcommand)]
        action: Option<RecordsAction>,
        /// Print JSON (when listing)
        #[arg(long)]
        json: bool,
    },
    /// Backups: export your twin to a file, restore it, or check a backup (support staff)
    #[command(
        after_help = "Examples:\n  twin backup export my-twin.twinbackup\n  twin backup restore my-twin.twinbackup --into ~/twin\n  twin backup verify my-twin.twinbackup     (no passphrase needed)\n  twin backup inspect my-twin.twinbackup    (no passphrase needed)\n  twin backup list"
    )]
    Backup {
        #[command(subcommand)]
        action: backup::BackupAction,
    },
    /// Fields changed on two computers at once, with the values to choose between
    Conflicts {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// The computers that have written to your twin
    Devices {
        /// Give this computer a name the others will show (e.g. "Kitchen laptop")
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Delete your twin from this computer for good (the right to be forgotten)
    #[command(
        after_help = "If shares are still active, they are stopped first and each agency is told to delete what it holds (this needs your passphrase): once your twin is gone, its keys are gone too, and a share could never be stopped. If an agency cannot be reached, nothing is deleted, unless you add --yes-with-active-grants.\n\nBackups you exported are separate files and still hold your whole twin. Given your passphrase, the backups this twin made that still exist are listed before you confirm; --delete-backups deletes them once your twin is deleted (a plain delete: on today's disks overwriting a file first does not reliably destroy its old blocks, and a backup is encrypted anyway)."
    )]
    DeleteVault {
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
        /// After the deletion, delete the backups this twin exported that still exist
        /// (listing them needs your passphrase)
        #[arg(long)]
        delete_backups: bool,
        /// Delete even if some agencies have not been told to stop using your shares
        /// (implies --yes)
        #[arg(long)]
        yes_with_active_grants: bool,
    },
}

#[derive(Debug, clap::Args)]
struct ApproveArgs {
    /// The request's id (see `twin requests`)
    id: String,
    /// Only these of the fields asked for, separated by commas [default: all]
    #[arg(long, value_delimiter = ',')]
    fields: Vec<String>,
    /// Save the share to this file, to hand over
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the share as sealed text for paper or a QR code
    #[arg(long)]
    text: bool,
    /// Send the share to the agency over the internet (the default when neither --out
    /// nor --text is given)
    #[arg(long)]
    send: bool,
}

#[derive(Debug, Subcommand)]
enum AgencyAction {
    /// Add an agency from its card, after checking who signed it: a web address
    /// (https://…, whose /.well-known/twin-agency is fetched) or a card file
    Add {
        /// The agency's address (https://…) or the card file it published
        card: String,
    },
    /// List the agencies you have added
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum RequestsAction {
    /// Import a request an agency gave you as a file, checked against its card
    Import {
        /// The request file
        file: PathBuf,
    },
    /// List requests: what each asks for, why, under which law, and for how long
    /// (the same as `twin requests`)
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Approve a request (the same as `twin approve`)
    Approve(ApproveArgs),
    /// Decline a request (the same as `twin decline`)
    Decline {
        /// The request's id
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum RecordsAction {
    /// Import a record an agency gave you as a file: checked, then kept with its signature
    Import {
        /// The record file
        file: PathBuf,
    },
    /// List the records you have received (the same as `twin records`)
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Hide a record: it is kept, unaltered, but listed only as hidden
    Hide {
        /// The record's id (see `twin records`)
        id: String,
    },
    /// Show a hidden record again
    Unhide {
        /// The record's id
        id: String,
    },
}

/// "30m", "12h", "7d", "2w" → seconds.
fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (num, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: i64 = num
        .parse()
        .map_err(|_| "write a duration like 30m, 12h, 7d or 2w".to_owned())?;
    let unit = match unit {
        "m" => 60,
        "h" => 3_600,
        "d" | "" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err("write a duration like 30m, 12h, 7d or 2w".to_owned()),
    };
    n.checked_mul(unit)
        .filter(|s| *s > 0)
        .ok_or_else(|| "the duration must be more than zero".to_owned())
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

impl From<twin_sync::ClientError> for Failure {
    fn from(e: twin_sync::ClientError) -> Self {
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
    let cli_trust = cli.trust_list;
    let sandbox = cli.sandbox || std::env::var("TWIN_SANDBOX").is_ok_and(|v| v == "1");
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
            // The code is shown before anything else can fail: the key file already uses it.
            output::print_recovery_code(&code.0, &dir);
            v.lock()?;
        }
        Command::Backup { action } => backup::run(action, &dir, &mut secrets)?,
        Command::Conflicts { json } => {
            let v = open(&dir, &mut secrets)?;
            let c = v.conflicts();
            v.lock()?;
            if json {
                let list: Vec<Value> = c
                    .iter()
                    .map(|(p, vals)| json!({"path": p.to_string(), "values": vals}))
                    .collect();
                print_json(&list);
            } else if c.is_empty() {
                println!("No conflicts: every field holds one value.");
            } else {
                println!(
                    "These fields were changed on two computers at once. Choose a value with `twin set PATH VALUE`:"
                );
                for (p, vals) in &c {
                    let shown: Vec<String> = vals.iter().map(output::plain).collect();
                    println!("  {p}: {}", shown.join("  |  "));
                }
            }
        }
        Command::Devices { name, json } => {
            let mut v = open(&dir, &mut secrets)?;
            if let Some(n) = &name {
                v.name_this_device(n)?;
            }
            let (all, me) = v.devices();
            let names = v.device_names();
            v.lock()?;
            if json {
                print_json(&json!({"devices": all, "this_computer": me, "names": names}));
            } else {
                println!("Computers that have written to your twin:");
                for (i, d) in all.iter().enumerate() {
                    let given = names.get(d).cloned();
                    let name = match (given, *d == me) {
                        (Some(n), true) => format!("{n} (this computer)"),
                        (Some(n), false) => n,
                        (None, true) => "this computer".to_owned(),
                        (None, false) => format!("computer {}", i + 1),
                    };
                    println!("  {name:<28} {d}");
                }
                if !names.contains_key(&me) {
                    println!("Name this computer with `twin devices --name \"Kitchen laptop\"`.");
                }
                if !all.contains(&me) {
                    println!("  {:<16} {me} (has not written yet)", "this computer");
                }
            }
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
                    println!("Backup fingerprint:       {}", s.backup_fingerprint);
                    println!("Backups exported:         {}", s.backups);
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
        Command::OptOut {
            category,
            yes,
            delete_backups,
        } => {
            if !category.needs_opt_in() {
                return Err(fail(
                    "not-opt-in",
                    format!(
                        "{category} is not an opt-in category; erase single fields with `twin erase`"
                    ),
                ));
            }
            if !yes {
                can_confirm("opt-out")?;
            }
            let mut v = open(&dir, &mut secrets)?;
            let backups = existing_backups(&mut v)?;
            if !yes {
                println!(
                    "Opting out erases every {category} field from your twin and from its history. Backups you exported earlier still hold it."
                );
            }
            print_backups_still_hold(&backups, &format!("your {category} data"));
            if !yes
                && !confirm(
                    &format!("Type {} to continue: ", "erase"),
                    "erase",
                    "opt-out",
                )?
            {
                return Err(fail("cancelled", "nothing was changed"));
            }
            let r = v.opt_out(category)?;
            v.lock()?;
            match r {
                Some(r) => println!(
                    "You opted out of {category} data. {} field(s) were erased, with their history.",
                    r.fields_cleared.len()
                ),
                None => println!("You opted out of {category} data. Your twin held none."),
            }
            after_backups(&backups, delete_backups, "opt-out")?;
        }
        Command::Erase {
            path,
            yes,
            delete_backups,
        } => {
            twin_schema_known(&path)?;
            if !yes {
                can_confirm("erase")?;
            }
            let mut v = open(&dir, &mut secrets)?;
            let backups = existing_backups(&mut v)?;
            if !yes {
                println!(
                    "Erasing removes {path} from your twin and from its whole history, for good; there is no undo. Backups you exported earlier still hold it."
                );
            }
            print_backups_still_hold(&backups, &path);
            if !yes && !confirm("Type erase to continue: ", "erase", "erase")? {
                return Err(fail("cancelled", "nothing was erased"));
            }
            let r = v.erase(&path)?;
            v.lock()?;
            println!(
                "Erased {} ({} field(s) held a value). The old database file was destroyed with its key; your twin now lives in {}.",
                r.path,
                r.fields_cleared.len(),
                r.new_database.display()
            );
            after_backups(&backups, delete_backups, "erase")?;
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
            // Shown before anything else can fail: the old code no longer opens the vault.
            println!(
                "Your new passphrase is set. Your old recovery code no longer works; here is the new one."
            );
            output::print_recovery_code(&new_code.0, &dir);
            v.lock()?;
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
                        // Runs of plain unlocks are shown as one line; `--json` lists each.
                        let mut i = 0;
                        while i < log.len() {
                            let e = &log[i];
                            let run = log[i..].iter().take_while(|x| x.kind == "unlocked").count();
                            if run > 1 {
                                let last = &log[i + run - 1];
                                println!(
                                    "{:>4}  {}  You unlocked your twin {run} times, the last on {}.",
                                    e.seq,
                                    twin_vault::human_time(e.at_ms),
                                    twin_vault::human_time(last.at_ms)
                                );
                                i += run;
                                continue;
                            }
                            println!(
                                "{:>4}  {}  {}",
                                e.seq,
                                twin_vault::human_time(e.at_ms),
                                e.line
                            );
                            i += 1;
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
        Command::Agency { action } => {
            match action {
                AgencyAction::Add { card } => {
                    let trust = trust(&cli_trust, sandbox)?;
                    let bytes = if card.starts_with("http://") || card.starts_with("https://") {
                        twin_sync::fetch_card(&card)?
                    } else {
                        read_small(std::path::Path::new(&card), "card")?
                    };
                    let mut v = open(&dir, &mut secrets)?;
                    let a = v.add_agency(&bytes, &trust).map_err(|e| {
                    let mut f = Failure::from(e);
                    if !sandbox && f.code == "card-refused" {
                        f.message.push_str(". If this is a sandbox agency for trying things out, add --sandbox");
                    }
                    f
                })?;
                    v.lock()?;
                    println!("Added {} ({}).", a.display_name(), a.id);
                    if a.sandbox {
                        println!(
                            "This is a SANDBOX agency, for trying Citizen Twin out. Do not share real data with it."
                        );
                    }
                    for p in &a.purposes {
                        println!(
                            "  It may ask for {} for '{}' ({}; kept {} days).",
                            p.fields.join(", "),
                            p.words,
                            p.legal_basis,
                            p.retention_days
                        );
                    }
                }
                AgencyAction::List { json } => {
                    let v = open(&dir, &mut secrets)?;
                    let list = v.agencies();
                    v.lock()?;
                    if json {
                        print_json(&list);
                    } else if list.is_empty() {
                        println!(
                            "You have not added any agencies. Add one with `twin agency add ADDRESS_OR_CARD_FILE`."
                        );
                    } else {
                        for a in &list {
                            println!("{}  {}  {}", a.id, a.display_name(), a.endpoint);
                        }
                    }
                }
            }
        }
        Command::Share {
            agency,
            fields,
            purpose,
            expires,
            records,
            records_for,
            single_use,
            out,
            text,
            send,
            json,
        } => {
            let agency = twin_types::AgencyId::parse(&agency)
                .map_err(|e| fail("unknown-agency", e.to_string()))?;
            let trust = trust(&cli_trust, sandbox)?;
            let mut v = open(&dir, &mut secrets)?;
            let req = twin_vault::ShareRequest {
                agency,
                fields,
                purpose,
                duration_secs: expires,
                records,
                records_secs: records_for,
                single_use,
            };
            let shared = v.share(&req, &trust).map_err(|e| {
                let mut f = Failure::from(e);
                if !sandbox && f.code == "card-refused" {
                    f.message.push_str(
                        ". If this is a sandbox agency for trying things out, add --sandbox",
                    );
                }
                f
            })?;
            let sent = if send {
                Some(send_now(&mut v, &trust, shared.summary.id)?)
            } else {
                None
            };
            v.lock()?;
            hand_over(&shared, out.as_deref(), text, json, sent.as_ref())?;
            if let Some(r) = &sent {
                refused_share(r)?;
            }
        }
        Command::Grants { json } => {
            let v = open(&dir, &mut secrets)?;
            let list = v.grants();
            v.lock()?;
            if json {
                print_json(&list);
            } else if list.is_empty() {
                println!("You have not shared anything yet.");
            } else {
                for g in &list {
                    print_grant(g);
                }
            }
        }
        Command::Revoke {
            grant,
            notice_out,
            no_send,
        } => {
            let mut v = open(&dir, &mut secrets)?;
            let g = v.revoke(&grant)?;
            let notice = v.revocation_notice(&g.id);
            // Notices go to every agency, trusted now or not: no values travel.
            let sent = if no_send {
                None
            } else {
                Some(twin_sync::send_notices(
                    &mut v,
                    &twin_vault::TrustList::default(),
                    Some(g.id),
                )?)
            };
            v.lock()?;
            if let (Some(path), Some(bytes)) = (&notice_out, &notice) {
                write_private(path, bytes)?;
            }
            println!(
                "Stopped sharing with {} for '{}' on this computer. Decisions the agency already made stand.",
                g.agency_name, g.purpose
            );
            match &sent {
                None => println!(
                    "The agency has not been told yet; `twin sync` sends it a notice to delete what it holds."
                ),
                Some(r) if r.events.is_empty() => {}
                Some(r) => print_events(r, sandbox),
            }
            if let Some(path) = &notice_out {
                println!("The signed notice for the agency is in {}.", path.display());
            }
        }
        Command::Sync { json } => {
            let trust = trust(&cli_trust, sandbox)?;
            let mut v = open(&dir, &mut secrets)?;
            let r = twin_sync::sync(&mut v, &trust)?;
            v.lock()?;
            if json {
                print_json(&r);
            } else if r.events.is_empty() {
                println!(
                    "You have not added any agencies. Add one with `twin agency add ADDRESS_OR_CARD_FILE`."
                );
            } else {
                print_events(&r, sandbox);
            }
            if !r.is_complete() {
                return Err(fail(
                    "sync-incomplete",
                    "some things could not be done now; the next `twin sync` tries them again",
                ));
            }
        }
        Command::Approve(args) => approve(&dir, &mut secrets, &cli_trust, sandbox, args)?,
        Command::Decline { id } => decline(&dir, &mut secrets, &id)?,
        Command::Requests { action, json } => match action {
            Some(RequestsAction::Import { file }) => {
                let bytes = read_small(&file, "request")?;
                let mut v = open(&dir, &mut secrets)?;
                let r = v.import_request(&bytes)?;
                v.lock()?;
                print_request(&r);
            }
            None | Some(RequestsAction::List { .. }) => {
                let json = json || matches!(action, Some(RequestsAction::List { json: true }));
                let v = open(&dir, &mut secrets)?;
                let list = v.requests();
                v.lock()?;
                if json {
                    print_json(&list);
                } else if list.is_empty() {
                    println!("No agency has asked you for anything.");
                } else {
                    for r in &list {
                        print_request(r);
                        println!();
                    }
                }
            }
            Some(RequestsAction::Approve(args)) => {
                approve(&dir, &mut secrets, &cli_trust, sandbox, args)?
            }
            Some(RequestsAction::Decline { id }) => decline(&dir, &mut secrets, &id)?,
        },
        Command::Rules { action } => match action {
            RulesAction::Add { file } => {
                let bytes = read_small(&file, "rule pack")?;
                let mut v = open(&dir, &mut secrets)?;
                let p = v.add_rule_pack(&bytes, today())?;
                v.lock()?;
                println!(
                    "Added rule pack {} version {} from {}: {} ({} rules). See what it suggests with `twin suggest`.",
                    p.pack, p.version, p.publisher, p.title, p.rules
                );
            }
            RulesAction::List { json } => {
                let v = open(&dir, &mut secrets)?;
                let list = v.rule_packs(today());
                v.lock()?;
                if json {
                    print_json(&list);
                } else if list.is_empty() {
                    println!(
                        "You have not added any rule packs. Add one with `twin rules add FILE`."
                    );
                } else {
                    for p in &list {
                        println!(
                            "{} version {} from {}: {} ({} rules)",
                            p.pack, p.version, p.publisher, p.title, p.rules
                        );
                    }
                }
            }
        },
        Command::Suggest { what_if, json } => {
            let overrides = what_if
                .iter()
                .map(|t| twin_vault::twin_rules::Facts::parse_override(t))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| fail("invalid-what-if", e.to_string()))?;
            let mut v = open(&dir, &mut secrets)?;
            let outcomes = v.suggest(today(), &overrides)?;
            v.lock()?;
            if json {
                print_json(&outcomes);
            } else if outcomes.is_empty() {
                println!("No rules to check. Add a rule pack with `twin rules add FILE`.");
            } else {
                if !overrides.is_empty() {
                    println!("What if (your twin is not changed):");
                }
                for o in &outcomes {
                    print_outcome(o);
                }
            }
        }
        Command::Reminders { json } => {
            let mut v = open(&dir, &mut secrets)?;
            let outcomes = v.suggest(today(), &[])?;
            v.lock()?;
            let due: Vec<_> = outcomes
                .iter()
                .filter(|o| o.reminder.as_ref().is_some_and(|r| r.in_window))
                .collect();
            if json {
                print_json(&due);
            } else if due.is_empty() {
                println!("No reminders are due.");
            } else {
                for o in due {
                    if let Some(r) = &o.reminder {
                        println!("{} (due {}): {}", o.title, r.due, r.message);
                    }
                }
            }
        }
        Command::Apply { rule, how } => {
            let days = how.days()?;
            let trust = trust(&cli_trust, sandbox)?;
            let v = open(&dir, &mut secrets)?;
            let plan = v.rule_share(&rule, today())?;
            if !how.json {
                println!(
                    "Sharing with {} for '{}', for {days} day(s), exactly the fields rule {rule} reads: {}",
                    plan.agency_name,
                    plan.purpose,
                    plan.fields.join(", ")
                );
            }
            share_rule_plan(v, &trust, plan, days, &how)?;
        }
        Command::Prefill {
            rule,
            skip,
            set,
            accept,
            how,
        } => {
            let days = how.days()?;
            let edits = set
                .iter()
                .map(|t| {
                    t.split_once('=')
                        .map(|(l, v)| (l.trim().to_owned(), v.trim().to_owned()))
                        .ok_or_else(|| {
                            fail(
                                "invalid-line",
                                format!("--set {t}: write LINE=VALUE, like 1.2=18500"),
                            )
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut v = open(&dir, &mut secrets)?;
            let outcome = v.suggest(today(), &[])?.into_iter().find(|o| {
                o.rule.as_str() == rule && o.kind == twin_vault::twin_rules::RuleKind::Prefill
            });
            let Some(outcome) = outcome else {
                v.lock()?;
                return Err(fail(
                    "rule-pack-refused",
                    format!(
                        "no rule pack you added has a pre-fill rule \"{rule}\" in force today; `twin suggest` lists the rules"
                    ),
                ));
            };
            if outcome.prefill.is_empty() {
                v.lock()?;
                let why: Vec<&str> = outcome
                    .criteria
                    .iter()
                    .map(|c| c.explanation.as_str())
                    .collect();
                return Err(fail(
                    "nothing-to-prefill",
                    format!(
                        "{} cannot be pre-filled yet: {}",
                        outcome.title,
                        why.join("; ")
                    ),
                ));
            }
            let lines = prefill_lines(&outcome, &skip, &edits)?;
            if !(accept || how.send || how.out.is_some()) {
                v.lock()?;
                if how.json {
                    print_json(&outcome.prefill);
                } else {
                    print_outcome(&outcome);
                    println!(
                        "Accept these lines with `twin prefill {rule} --accept` (or --send); leave one out with --skip LINE, change one with --set LINE=VALUE."
                    );
                }
                return Ok(());
            }
            let trust = trust(&cli_trust, sandbox)?;
            let plan = v.accept_prefill(&rule, &lines, today())?;
            if !how.json {
                println!(
                    "Kept {} line(s) of {} in your twin; sharing them with {} for '{}', for {days} day(s).",
                    lines.len(),
                    plan.title,
                    plan.agency_name,
                    plan.purpose_words
                );
            }
            share_rule_plan(v, &trust, plan, days, &how)?;
        }
        Command::Decisions { json } => {
            let mut v = open(&dir, &mut secrets)?;
            let checks = v.check_decisions()?;
            v.lock()?;
            if json {
                print_json(&checks);
            } else if checks.is_empty() {
                println!("No decision cites a published rule yet.");
            } else {
                for c in &checks {
                    print_decision(c);
                }
            }
        }
        Command::Records { action, json } => match action {
            Some(RecordsAction::Import { file }) => {
                let bytes = read_small(&file, "record")?;
                let mut v = open(&dir, &mut secrets)?;
                let r = v.import_record(&bytes)?;
                v.lock()?;
                println!(
                    "Kept a signed {} record from {} (issued {}).",
                    r.record_type,
                    r.agency,
                    twin_vault::human_date(r.issued_at)
                );
            }
            None | Some(RecordsAction::List { .. }) => {
                let json = json || matches!(action, Some(RecordsAction::List { json: true }));
                let mut v = open(&dir, &mut secrets)?;
                let list = v.records()?;
                v.lock()?;
                if json {
                    print_json(&list);
                } else if list.is_empty() {
                    println!("You have no records from agencies yet.");
                } else {
                    for r in &list {
                        print_record(r);
                    }
                }
            }
            Some(RecordsAction::Hide { id }) => {
                let mut v = open(&dir, &mut secrets)?;
                let r = v.hide_record(&id)?;
                v.lock()?;
                println!(
                    "Hid the {} record from {}. It is kept unaltered; `twin records unhide {}` shows it again.",
                    r.record_type, r.agency, r.id
                );
            }
            Some(RecordsAction::Unhide { id }) => {
                let mut v = open(&dir, &mut secrets)?;
                let r = v.unhide_record(&id)?;
                v.lock()?;
                println!(
                    "The {} record from {} is shown again.",
                    r.record_type, r.agency
                );
            }
        },
        Command::DeleteVault {
            yes,
            delete_backups,
            yes_with_active_grants,
        } => {
            // Say "no vault" before asking; but a damaged key file must not stop the
            // citizen deleting the vault (`delete_vault` needs no readable keys).
            if let Err(e @ VaultError::NoVault(_)) = twin_vault::locked_status(&dir) {
                return Err(e.into());
            }
            let asks = !(yes || yes_with_active_grants);
            if asks {
                can_confirm("delete-vault")?;
            }
            // Listing the backups needs the passphrase; deleting the vault does not.
            let backups = backups_if_readable(&dir, &mut secrets)?;
            if asks {
                println!(
                    "This deletes your twin from {} for good: its keys first, so nothing can be decrypted, then its files. Shares still active are stopped first, and each agency is told to delete what it holds; decisions agencies already made stand. Backups you exported are not touched.",
                    dir.display()
                );
            }
            match &backups {
                Some(b) => print_backups_still_hold(b, "your whole twin"),
                None if delete_backups => println!(
                    "Without your passphrase the backups this twin exported cannot be listed, so none will be deleted; they still hold your whole twin."
                ),
                None => {}
            }
            if asks && !confirm("Type delete to continue: ", "delete", "delete-vault")? {
                return Err(fail("cancelled", "nothing was deleted"));
            }
            let if_active = if yes_with_active_grants {
                twin_vault::IfSharesActive::DeleteAnyway
            } else {
                stop_every_share(&dir, &mut secrets)?;
                twin_vault::IfSharesActive::Refuse
            };
            let r = twin_vault::delete_vault(&dir, if_active)?;
            println!("Your twin was deleted. Removed, keys first:");
            for p in &r.removed {
                println!("  {}", p.display());
            }
            if r.removed_folder {
                println!("  {} (the folder)", dir.display());
            }
            if let Some(b) = &backups {
                after_backups(b, delete_backups, "delete-vault")?;
            }
        }
    }
    Ok(())
}

/// Checks a path before asking the citizen to confirm anything about it.
/// What `--delete-backups` does, for the help of the commands that take it.
const BACKUPS_HELP: &str = "Backups you exported are separate files and still hold the value. The backups this twin made that still exist are listed (where, when) before you confirm; --delete-backups deletes them once the erasure succeeded (a plain delete: on today's disks overwriting a file first does not reliably destroy its old blocks, and a backup is encrypted anyway).";

/// The backups this vault exported that are still where they were written.
fn existing_backups(v: &mut Vault) -> Result<Vec<twin_vault::BackupRecord>, Failure> {
    let mut list: Vec<_> = v
        .backups()?
        .into_iter()
        .filter(|b| b.path.is_file())
        .collect();
    list.dedup_by(|a, b| a.path == b.path);
    Ok(list)
}

/// For `delete-vault`, which needs no passphrase: the backups still there, if the
/// passphrase is given and opens the vault; `None` otherwise (the deletion goes on).
fn backups_if_readable(
    dir: &std::path::Path,
    secrets: &mut Secrets,
) -> Result<Option<Vec<twin_vault::BackupRecord>>, Failure> {
    let Some(pass) = secrets.optional_passphrase(
        "Passphrase (to list the backups you exported; press Enter to skip): ",
    ) else {
        return Ok(None);
    };
    match Vault::unlock(dir, &pass) {
        Ok(mut v) => {
            v.set_who("you, with the twin command line");
            let list = existing_backups(&mut v)?;
            v.lock()?;
            Ok(Some(list))
        }
        Err(e @ VaultError::Busy) => Err(e.into()),
        Err(_) => Ok(None),
    }
}

/// Before an erasure or a deletion: the backups this vault exported, still there, hold
/// `what` and are not touched by it.
fn print_backups_still_hold(backups: &[twin_vault::BackupRecord], what: &str) {
    if backups.is_empty() {
        return;
    }
    println!(
        "These backups you exported still hold {what}; erasing or deleting here does not change them:"
    );
    for b in backups {
        println!(
            "  {}  {}",
            twin_vault::human_time(b.created_ms),
            b.path.display()
        );
    }
}

/// After the erasure or deletion succeeded: deletes the backups (`--delete-backups`), or
/// reminds how.
fn after_backups(
    backups: &[twin_vault::BackupRecord],
    delete: bool,
    command: &str,
) -> Result<(), Failure> {
    if backups.is_empty() {
        return Ok(());
    }
    if !delete {
        println!(
            "The backups listed above still hold it. Delete them yourself if you no longer need them, or next time add --delete-backups to `twin {command}`."
        );
        return Ok(());
    }
    let mut failed = Vec::new();
    for b in backups {
        match std::fs::remove_file(&b.path) {
            Ok(()) => println!("Deleted the backup {}", b.path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => failed.push(format!("{}: {e}", b.path.display())),
        }
    }
    println!(
        "The backup files were deleted, not overwritten first: on today's disks (SSDs, journaling and copy-on-write file systems) overwriting does not reliably reach the old blocks, and what may remain there is encrypted under your passphrase and recovery code."
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(fail(
            "backup-not-deleted",
            format!("could not delete {}; delete it yourself", failed.join("; ")),
        ))
    }
}

fn twin_schema_known(path: &str) -> Result<(), Failure> {
    twin_vault::check_path(path).map_err(Failure::from)
}

fn twin_doc_nest(fields: &[(twin_types::FieldPath, Value)]) -> Value {
    twin_vault::nest(fields)
}

fn trust(custom: &Option<PathBuf>, sandbox: bool) -> Result<twin_vault::TrustList, Failure> {
    let text = match custom {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| {
            fail(
                "trust-list-unreadable",
                format!("could not read the trust list {}: {e}", p.display()),
            )
        })?),
        None => None,
    };
    Ok(twin_vault::trust_list(text.as_deref(), sandbox)?)
}

/// Hands a new grant over: the file (owner-only, never overwritten), then what was
/// shared in plain words (or `--json`), then the sealed text form if asked for.
fn hand_over(
    shared: &twin_vault::Shared,
    out: Option<&std::path::Path>,
    text: bool,
    json: bool,
    sent: Option<&twin_sync::SyncReport>,
) -> Result<(), Failure> {
    let s = &shared.summary;
    if let Some(path) = out {
        write_private(path, &shared.bytes)?;
    }
    if json {
        let mut v = json!({"grant_id": s.id, "agency": s.agency, "fields": s.fields, "expires_at": rfc3339(s.expires_at * 1000)});
        if let Some(r) = sent {
            v["sent"] = json!(r.events);
        }
        print_json(&v);
    } else {
        println!("{}", s.id);
        println!(
            "You shared your {} with {} for '{}' until {}.",
            twin_vault::describe_fields(&s.fields),
            s.agency_name,
            s.purpose,
            twin_vault::human_date(s.expires_at)
        );
        if let Some(path) = out {
            println!(
                "Saved to {}. Hand this file to the agency; only it can open the values.",
                path.display()
            );
        }
        if let Some(r) = sent {
            print_events(r, true);
        }
    }
    if text {
        match &shared.text {
            Ok(t) => println!("{t}"),
            Err(e) => return Err(fail("too-large-for-text", e.to_string())),
        }
    }
    Ok(())
}

/// Marks a new share to send and sends it now. An agency that cannot be reached is not
/// a failure: the share stays marked, and `twin sync` sends it.
fn send_now(
    v: &mut Vault,
    trust: &twin_vault::TrustList,
    id: twin_types::GrantId,
) -> Result<twin_sync::SyncReport, Failure> {
    v.mark_to_send(&id)?;
    Ok(twin_sync::send_share(v, trust, id)?)
}

/// After the hand-over: an agency's refusal of the share is a failure of the command.
fn refused_share(r: &twin_sync::SyncReport) -> Result<(), Failure> {
    match r
        .of(twin_sync::Step::Share)
        .find(|e| e.outcome == twin_sync::Outcome::Refused)
    {
        Some(e) => Err(fail("agency-refused", e.line.clone())),
        None => Ok(()),
    }
}

/// What a sync did, one plain line per event.
fn print_events(r: &twin_sync::SyncReport, sandbox: bool) {
    for e in &r.events {
        if !sandbox && e.code.as_deref() == Some("card-refused") {
            println!(
                "{} If this is a sandbox agency for trying things out, add --sandbox.",
                e.line
            );
        } else {
            println!("{}", e.line);
        }
    }
}

/// A share as a citizen reads it: where it stands, and what the agency confirmed.
fn print_grant(g: &twin_vault::GrantSummary) {
    use twin_vault::{Delivery, GrantState, human_date};
    let told = |n: &Option<twin_vault::NoticeState>| match n {
        Some(twin_vault::NoticeState {
            sent_at: Some(at),
            agency_status,
            ..
        }) => {
            if agency_status.as_deref() == Some("remembered") {
                format!(
                    "; the agency was told on {} (it had not received the share)",
                    human_date(*at)
                )
            } else {
                format!("; the agency was told on {}", human_date(*at))
            }
        }
        Some(twin_vault::NoticeState {
            refused: Some(code),
            ..
        }) => format!("; the agency refused the notice ({code})"),
        _ => "; the agency has not been told yet (`twin sync` tells it)".to_owned(),
    };
    let state = match &g.state {
        GrantState::Active => {
            let delivery = match &g.delivery {
                Delivery::ByHand => String::new(),
                Delivery::ToSend => "; waiting to be sent (`twin sync` sends it)".into(),
                Delivery::Accepted { at } => {
                    format!("; the agency received it on {}", human_date(*at))
                }
                Delivery::Refused { message, .. } => {
                    format!("; the agency refused it: {message}")
                }
            };
            format!("shared until {}{delivery}", human_date(g.expires_at))
        }
        GrantState::Expired => format!("ended on {}", human_date(g.expires_at)),
        GrantState::Stopped { at } => format!(
            "stopped on this computer on {}{}",
            human_date(*at),
            told(&g.notice)
        ),
        GrantState::Deleted { at, stopped_at, .. } => match stopped_at {
            Some(s) => format!(
                "stopped on this computer on {}; agency confirmed deletion on {}",
                human_date(*s),
                human_date(*at)
            ),
            None => format!("agency confirmed deletion on {}", human_date(*at)),
        },
    };
    println!(
        "{}  {}  '{}'  {}  — {}",
        g.id,
        g.agency_name,
        g.purpose,
        g.fields.join(", "),
        state
    );
    if g.access.receipts > 0 {
        println!(
            "    Opened {} time(s) by the agency's staff (`twin audit` says who and when).",
            g.access.receipts
        );
    }
    let problems = g.access.problems();
    if !problems.is_empty() {
        println!(
            "    Warning: the agency has not accounted for every time your data was opened: {}.",
            problems.join("; ")
        );
    }
}

/// A record as a citizen reads it: verified or not, hidden or not.
fn print_record(r: &twin_vault::RecordSummary) {
    let checked = if r.verified {
        "verified ✓".to_owned()
    } else {
        format!(
            "NOT VERIFIED ({})",
            r.problem
                .as_deref()
                .unwrap_or("its signature does not check out")
        )
    };
    let body = if r.hidden {
        "hidden — `twin records unhide` shows it".to_owned()
    } else if r.verified {
        r.body.to_string()
    } else {
        "contents not shown".to_owned()
    };
    println!(
        "{}  {}  {}  {}  {checked}  {body}",
        r.id,
        twin_vault::human_date(r.issued_at),
        r.agency,
        r.record_type
    );
}

/// `twin approve` (and `twin requests approve`): a grant answering the request, sent to
/// the agency unless it is only to be saved or printed.
fn approve(
    dir: &std::path::Path,
    secrets: &mut Secrets,
    cli_trust: &Option<PathBuf>,
    sandbox: bool,
    args: ApproveArgs,
) -> Result<(), Failure> {
    let send = args.send || (args.out.is_none() && !args.text);
    let trust = trust(cli_trust, sandbox)?;
    let mut v = open(dir, secrets)?;
    let shared = v.approve_request(&args.id, &args.fields, &trust)?;
    let sent = if send {
        Some(send_now(&mut v, &trust, shared.summary.id)?)
    } else {
        None
    };
    v.lock()?;
    hand_over(
        &shared,
        args.out.as_deref(),
        args.text,
        false,
        sent.as_ref(),
    )?;
    match &sent {
        Some(r) => refused_share(r),
        None => Ok(()),
    }
}

/// `twin decline` (and `twin requests decline`).
fn decline(dir: &std::path::Path, secrets: &mut Secrets, id: &str) -> Result<(), Failure> {
    let mut v = open(dir, secrets)?;
    let r = v.decline_request(id)?;
    v.lock()?;
    println!(
        "You declined {}'s request for '{}'. Nothing was shared.",
        r.agency_name, r.purpose
    );
    Ok(())
}

/// Before deleting the vault: if some share may still be in use, unlock, stop every
/// active share and send every notice not yet acknowledged. Refuses (nothing deleted)
/// if an agency could not be told.
fn stop_every_share(dir: &std::path::Path, secrets: &mut Secrets) -> Result<(), Failure> {
    if !twin_vault::may_have_active_shares(dir) {
        return Ok(());
    }
    println!(
        "Some of your shares may still be in use. They are stopped first, and each agency is told to delete what it holds."
    );
    let mut v = open(dir, secrets).map_err(|mut f| {
        f.message.push_str(
            ". Your passphrase is needed to tell the agencies; to delete without telling them, add --yes-with-active-grants",
        );
        f
    })?;
    let (r, left) = twin_sync::stop_every_share(&mut v)?;
    print_events(&r, true);
    v.lock()?;
    if left.is_empty() {
        return Ok(());
    }
    let mut names: Vec<String> = left.iter().map(|g| g.agency_name.clone()).collect();
    names.sort();
    names.dedup();
    Err(fail(
        "active-shares",
        format!(
            "your twin was not deleted: {} could not be told to stop using your shares (they are stopped on this computer). Once your twin is deleted they can never be told. Try `twin delete-vault` again later, or add --yes-with-active-grants to delete anyway",
            names.join(", ")
        ),
    ))
}

/// A request as a citizen reads it, with over-asking flagged.
fn print_request(r: &twin_vault::RequestSummary) {
    println!(
        "{}  {} asks for your {}",
        r.id,
        r.agency_name,
        twin_vault::describe_fields(&r.fields)
    );
    println!(
        "  Why: {} ({}). Kept for {} days.",
        r.purpose, r.legal_basis, r.retention_days
    );
    println!(
        "  For {} days{}. Answer by {}. Status: {}.",
        r.duration_secs / 86_400,
        r.case_ref
            .as_deref()
            .map(|c| format!(", case {c}"))
            .unwrap_or_default(),
        twin_vault::human_date(r.expires_at),
        r.state
    );
    if !r.records.is_empty() {
        println!(
            "  If you approve, it may send you back signed records ({}) for {} days.",
            r.records.join(", "),
            r.records_secs / 86_400
        );
    }
    if !r.over_asking.is_empty() {
        println!(
            "  Warning: its card does not list your {} for this purpose. You can leave it out with --fields.",
            twin_vault::describe_fields(&r.over_asking)
        );
    }
}

/// Reads a small file handed over by an agency (a card, a record).
fn read_small(path: &std::path::Path, what: &str) -> Result<Vec<u8>, Failure> {
    let too_big = fail(
        "file-too-large",
        format!("{} is far larger than a {what} can be", path.display()),
    );
    let meta = std::fs::metadata(path).map_err(|e| {
        fail(
            "file-unreadable",
            format!("could not read {}: {e}", path.display()),
        )
    })?;
    if meta.len() > 1024 * 1024 {
        return Err(too_big);
    }
    std::fs::read(path).map_err(|e| {
        fail(
            "file-unreadable",
            format!("could not read {}: {e}", path.display()),
        )
    })
}

/// Writes a file only its owner can read; never overwrites one.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            fail(
                "file-not-written",
                format!(
                    "could not create {}: {e} (an existing file is never overwritten)",
                    path.display()
                ),
            )
        })?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| {
        fail(
            "file-not-written",
            format!("could not write {}: {e}", path.display()),
        )
    })
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

/// Today, in UTC.
fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

/// How a share made from a rule is handed over: sent now, saved to a file, or printed.
#[derive(Debug, clap::Args)]
struct HandOver {
    /// Send the share to the agency over the internet now
    #[arg(long)]
    send: bool,
    /// Save the share to this file, to hand over
    #[arg(long)]
    out: Option<PathBuf>,
    /// How many days the agency may read what is shared (at most 90)
    #[arg(long, default_value_t = 30)]
    days: i64,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

impl HandOver {
    /// `--days`, checked.
    fn days(&self) -> Result<i64, Failure> {
        if (1..=90).contains(&self.days) {
            Ok(self.days)
        } else {
            Err(fail("invalid-days", "--days is 1 to 90"))
        }
    }
}

/// Makes the share a rule (or an accepted pre-fill) planned, for `days` days, locks the
/// vault and hands the share over as asked.
fn share_rule_plan(
    mut v: twin_vault::Vault,
    trust: &twin_vault::TrustList,
    plan: twin_vault::RuleShare,
    days: i64,
    how: &HandOver,
) -> Result<(), Failure> {
    let req = twin_vault::ShareRequest {
        agency: plan.agency,
        fields: plan.fields,
        purpose: plan.purpose,
        duration_secs: days.saturating_mul(86_400),
        records: plan.records,
        records_secs: 90 * 86_400,
        single_use: false,
    };
    let shared = v.share(&req, trust)?;
    let sent = if how.send {
        Some(send_now(&mut v, trust, shared.summary.id)?)
    } else {
        None
    };
    v.lock()?;
    let text = !how.send && how.out.is_none();
    hand_over(&shared, how.out.as_deref(), text, how.json, sent.as_ref())?;
    if let Some(r) = &sent {
        refused_share(r)?;
    }
    Ok(())
}

/// The lines of a pre-fill the citizen accepts: every proposed line but those skipped,
/// with edits applied (a number stays a number).
fn prefill_lines(
    o: &twin_vault::twin_rules::Outcome,
    skip: &[String],
    edits: &[(String, String)],
) -> Result<Vec<(String, serde_json::Value)>, Failure> {
    use twin_vault::twin_rules::LineResult;
    for line in skip.iter().chain(edits.iter().map(|(l, _)| l)) {
        if !o.prefill.iter().any(|l| &l.line == line) {
            let known: Vec<&str> = o.prefill.iter().map(|l| l.line.as_str()).collect();
            return Err(fail(
                "invalid-line",
                format!(
                    "{} has no line {line}; its lines are {}",
                    o.title,
                    known.join(", ")
                ),
            ));
        }
    }
    let mut out = Vec::new();
    for l in &o.prefill {
        let LineResult::Proposed { value, .. } = &l.result else {
            continue;
        };
        if skip.contains(&l.line) {
            continue;
        }
        let value = match edits.iter().find(|(line, _)| line == &l.line) {
            None => value.clone(),
            Some((_, text)) if value.is_number() => {
                let n: f64 = text.replace([',', '£'], "").parse().map_err(|_| {
                    fail(
                        "invalid-line",
                        format!(
                            "line {} ({}) needs a number, like 18500.50",
                            l.line, l.label
                        ),
                    )
                })?;
                serde_json::json!(n)
            }
            Some((_, text)) => serde_json::Value::String(text.clone()),
        };
        out.push((l.line.clone(), value));
    }
    Ok(out)
}

/// One decision re-checked: what it found, in plain words.
fn print_decision(c: &twin_vault::DecisionCheck) {
    println!(
        "{} from {} ({}):",
        c.benefit,
        c.agency_name,
        twin_vault::human_date(c.issued_at)
    );
    match (&c.agreement, &c.problem) {
        (Some(a), _) => {
            println!("  {}", a.words);
            for cr in &a.evidence.criteria {
                println!("  - {}", cr.explanation);
            }
            println!(
                "  Rule: {} version {} ({})",
                a.evidence.title, a.evidence.version, a.evidence.source
            );
        }
        (None, Some(p)) => println!("  Could not check this decision: {p}."),
        (None, None) => {}
    }
    if c.values_changed {
        println!(
            "  Your details have changed since you shared them; this check used the details in your twin now."
        );
    }
}

/// One outcome: its summary, criterion by criterion, and what is missing.
fn print_outcome(o: &twin_vault::twin_rules::Outcome) {
    use twin_vault::twin_rules::{CriterionResult, Status};
    let head = match o.status {
        Status::Applies => o.summary.clone(),
        Status::DoesNotApply => format!("{}: it does not look like it applies to you", o.title),
        Status::Undecided => format!("{}: not decided yet; add what is missing", o.title),
        Status::CouldNotCheck => format!("{}: could not be checked", o.title),
    };
    println!("{head}  [{}]", o.rule);
    for c in &o.criteria {
        let mark = match &c.result {
            CriterionResult::Met | CriterionResult::NotMet => "",
            CriterionResult::Undecided { .. } => "missing: ",
            CriterionResult::CouldNotCheck { .. } => "could not check: ",
        };
        println!("  - {mark}{}", c.explanation);
    }
    for l in &o.prefill {
        use twin_vault::twin_rules::LineResult;
        match &l.result {
            LineResult::Proposed { shown, .. } => {
                println!("  line {} {}: {shown}", l.line, l.label)
            }
            LineResult::Undecided { hint, .. } => {
                println!("  line {} {}: missing: {hint}", l.line, l.label)
            }
            LineResult::CouldNotCheck { why } => {
                println!("  line {} {}: could not check: {why}", l.line, l.label)
            }
            LineResult::NotApplicable => {}
        }
    }
    if let Some(r) = o.reminder.as_ref().filter(|r| r.in_window) {
        println!("  Reminder (due {}): {}", r.due, r.message);
    }
    println!("  Source: {}", o.source);
}
