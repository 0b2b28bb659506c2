//! `twin-agency`: the agency service and its staff commands.
//!
//! Thin: every command is one call into the library. Errors print
//! `twin-agency: <message>. [code: X]` and exit 1.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use twin_agency::home::{self, InitOptions};
use twin_agency::http::{self, Limits};
use twin_agency::service::{RequestSpec, words_for_time};
use twin_agency::{Agency, SystemClock};
use twin_agency_store::SqliteStore;
use twin_protocol::{Receipt, ReceiptEvent};
use twin_types::GrantId;
use zeroize::Zeroizing;

const ABOUT: &str = "The agency side of Citizen Twin: receive citizens' share grants, see only what was \
granted while it is valid (every opening is receipted to the citizen), send signed records back, \
and delete on expiry or revocation with a signed receipt.";

const AFTER_HELP: &str = "\
State lives in one folder (--dir or TWIN_AGENCY_DIR): the card, the agency's secret keys, staff \
keys and the store. Back up agency.db; never back up keys.db (it holds the per-grant keys whose \
destruction makes a deletion receipt true).

A first run, with a sandbox agency on this computer:
  twin-agency --dir /tmp/agency init --name \"Sandbox Benefits\" --sandbox
  twin-agency --dir /tmp/agency staff add \"Alice Smith\"
  twin-agency --dir /tmp/agency serve --listen 127.0.0.1:8700
  # citizen: twin --sandbox agency add http://127.0.0.1:8700, then twin share … --send
  twin-agency --dir /tmp/agency grants list
  twin-agency --dir /tmp/agency grants show GRANT --as \"Alice Smith\"
  twin-agency --dir /tmp/agency issue --grant GRANT --type benefit-award/v1 --body award.json";

#[derive(Debug, Parser)]
#[command(name = "twin-agency", version, about = ABOUT, after_help = AFTER_HELP)]
struct Cli {
    /// The agency's folder
    #[arg(long, global = true, env = "TWIN_AGENCY_DIR", value_name = "DIR")]
    dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make a new agency: keys, a card signed by a trust anchor, an empty store
    Init {
        /// The agency's name, as citizens will see it
        #[arg(long)]
        name: String,
        /// Its id (lower-case letters, digits, dashes) [default: made from the name]
        #[arg(long)]
        id: Option<String>,
        /// Where citizens reach it
        #[arg(long, default_value = "http://127.0.0.1:8700")]
        endpoint: String,
        /// Sign the card with the SANDBOX anchor: for local use and tests only
        #[arg(long)]
        sandbox: bool,
        /// Sign the card with this anchor's key file (JSON with `id` and `sign_seed`)
        #[arg(long, value_name = "FILE", conflicts_with = "sandbox")]
        anchor_key: Option<PathBuf>,
        /// What the agency asks for and why: a JSON list of purposes [default: the sandbox set]
        #[arg(long, value_name = "FILE")]
        purposes: Option<PathBuf>,
        /// Record types it issues
        #[arg(long = "record-type", default_values = ["benefit-award/v1", "identity-link/v1"])]
        record_types: Vec<String>,
        /// How long the card and its key are valid, in days
        #[arg(long, default_value_t = 365)]
        valid_days: i64,
    },
    /// Serve citizens over HTTP (see docs/agency-api.md); logs are JSON lines on stderr
    Serve {
        /// Address to listen on
        #[arg(long, default_value = "127.0.0.1:8700")]
        listen: String,
        /// Seconds a client has to send a request body
        #[arg(long, default_value_t = 10)]
        body_timeout: u64,
    },
    /// Members of staff: each has their own key; staff commands run as one
    #[command(subcommand)]
    Staff(StaffCommand),
    /// Grants received
    #[command(subcommand)]
    Grants(GrantsCommand),
    /// Redeem a grant handed over on paper (the `twin-grant:` text) or as a file
    Redeem {
        /// A grant file, or the `twin-grant:…` text itself
        grant: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Ask a citizen for fields; prints where the signed request was saved
    Request {
        /// Fields to ask for, comma-separated (e.g. personal.date_of_birth,personal.address.postcode)
        #[arg(long, value_delimiter = ',', required = true)]
        fields: Vec<String>,
        /// The purpose, by its code on the card
        #[arg(long)]
        purpose: String,
        /// Your case reference (if it is linked to a citizen, the request goes to their inbox)
        #[arg(long)]
        case: Option<String>,
        /// How many days you ask to read the fields
        #[arg(long, default_value_t = 7)]
        days: i64,
        /// Record types you ask to send back [default: every type on the card]
        #[arg(long, value_delimiter = ',')]
        records: Option<Vec<String>>,
        /// For how many days after the share you may send them back
        #[arg(long, default_value_t = 365)]
        records_days: i64,
        /// How many days the citizen has to answer
        #[arg(long, default_value_t = 30)]
        answer_within: i64,
        /// Where to save the request [default: request-<id>.twinrequest]
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Issue a signed record under a grant (a type and window the grant allows)
    Issue {
        /// The grant
        #[arg(long)]
        grant: String,
        /// The record type, e.g. benefit-award/v1
        #[arg(long = "type")]
        record_type: String,
        /// The record's body: a JSON file that fits the type's schema (`-` for stdin)
        #[arg(long, value_name = "FILE")]
        body: PathBuf,
    },
    /// Link your case reference to the citizen behind a grant (identity-link record)
    Link {
        /// The grant
        #[arg(long)]
        grant: String,
        /// Your case reference
        #[arg(long)]
        case: String,
        /// How you checked who the citizen is, in plain words
        #[arg(long, default_value = "checked by the agency")]
        checked: String,
    },
    /// Delete a grant's values now, with a signed deletion receipt to the citizen
    Purge {
        /// The grant; without it, purge every expired or revoked grant
        grant: Option<String>,
    },
    /// Rule packs this agency publishes (eligibility, pre-fill and reminder rules)
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Sign a rule pack (its JSON, exactly as given) with the agency's current card key
    #[command(after_help = "\
The pack's `publisher` must be this agency's id; the signed file is what citizens add with \
`twin rules add FILE`.

Example:
  twin-agency --dir /tmp/agency rules sign benefits.json --out benefits.twinrules")]
    Sign {
        /// The rule pack's JSON file (docs/rule-packs.md)
        pack: PathBuf,
        /// Where to save the signed pack
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum StaffCommand {
    /// Add a member of staff (makes their key)
    Add {
        /// Their name, as receipts will show it to citizens
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum GrantsCommand {
    /// Every grant: who shared what for which purpose, and whether it is still readable
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Open a grant's values as a named member of staff (the citizen gets a signed receipt)
    Show {
        /// The grant
        id: String,
        /// The member of staff opening it
        #[arg(long = "as", env = "TWIN_AGENCY_STAFF", value_name = "NAME")]
        staff: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// A grant's receipts (access and deletion)
    Receipts {
        /// The grant
        id: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

/// An error for the edge: a code and a plain message.
struct Failure {
    code: String,
    message: String,
}

impl<E: std::fmt::Display> From<(&str, E)> for Failure {
    fn from((code, e): (&str, E)) -> Self {
        Failure {
            code: code.to_owned(),
            message: e.to_string(),
        }
    }
}

impl From<twin_agency::ServiceError> for Failure {
    fn from(e: twin_agency::ServiceError) -> Self {
        Failure {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl From<home::HomeError> for Failure {
    fn from(e: home::HomeError) -> Self {
        let code = match &e {
            home::HomeError::Exists(_) => "exists",
            home::HomeError::Missing(_) => "no-agency",
            home::HomeError::Damaged(_) => "damaged",
            home::HomeError::Invalid(_) => "invalid",
            home::HomeError::NoStaff(_) => "unknown-staff",
            _ => "io",
        };
        (code, e).into()
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let msg = f.message.trim_end_matches('.');
            eprintln!("twin-agency: {msg}. [code: {}]", f.code);
            ExitCode::FAILURE
        }
    }
}

fn dir(cli: &Cli) -> Result<PathBuf, Failure> {
    cli.dir.clone().ok_or_else(|| Failure {
        code: "no-dir".into(),
        message: "say where the agency lives: --dir DIR or TWIN_AGENCY_DIR".into(),
    })
}

fn open(dir: &Path) -> Result<Agency, Failure> {
    let identity = home::load(dir)?;
    let store = SqliteStore::open(dir).map_err(|e| Failure::from(("store", e)))?;
    Ok(Agency::new(
        identity,
        Arc::new(store),
        Arc::new(SystemClock),
    ))
}

fn grant_id(text: &str) -> Result<GrantId, Failure> {
    text.trim().parse().map_err(|_| Failure {
        code: "not-a-grant-id".into(),
        message: format!(
            "\"{}\" is not a grant id (32 hex characters; see `twin-agency grants list`)",
            text.chars().take(40).collect::<String>()
        ),
    })
}

fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

fn run(cli: Cli) -> Result<(), Failure> {
    let dir = dir(&cli)?;
    match cli.command {
        Command::Init {
            name,
            id,
            endpoint,
            sandbox,
            anchor_key,
            purposes,
            record_types,
            valid_days,
        } => {
            let anchor = match anchor_key {
                None => None,
                Some(p) => {
                    let text =
                        Zeroizing::new(std::fs::read(&p).map_err(|e| Failure::from(("io", e)))?);
                    let v: Value = serde_json::from_slice(&text).map_err(|_| {
                        Failure::from(("invalid", "the anchor key file is not JSON"))
                    })?;
                    let mut seed = Zeroizing::new([0u8; 32]);
                    hex::decode_to_slice(
                        v["sign_seed"].as_str().unwrap_or_default(),
                        seed.as_mut(),
                    )
                    .map_err(|_| {
                        Failure::from(("invalid", "the anchor key file has no sign_seed"))
                    })?;
                    Some((v["id"].as_str().unwrap_or_default().to_owned(), seed))
                }
            };
            let purposes = match purposes {
                None => None,
                Some(p) => Some(
                    serde_json::from_slice(
                        &std::fs::read(&p).map_err(|e| Failure::from(("io", e)))?,
                    )
                    .map_err(|e| Failure::from(("invalid", format!("the purposes file: {e}"))))?,
                ),
            };
            let opts = InitOptions {
                name,
                id,
                endpoint,
                sandbox,
                anchor,
                purposes,
                record_types,
                valid_days,
            };
            let now = twin_agency::Clock::now(&SystemClock);
            let identity = home::init(&dir, &opts, now)?;
            SqliteStore::open(&dir).map_err(|e| Failure::from(("store", e)))?;
            let card = &identity.card;
            println!(
                "Made {}{} ({}) in {}.",
                card.name,
                if card.sandbox { " (SANDBOX)" } else { "" },
                card.agency,
                dir.display()
            );
            println!(
                "Its card is {} and is served at /.well-known/twin-agency.",
                dir.join("card.twincard").display()
            );
            println!("Next: `twin-agency staff add NAME`, then `twin-agency serve`.");
        }
        Command::Serve {
            listen,
            body_timeout,
        } => {
            tracing_subscriber::fmt()
                .json()
                .with_writer(std::io::stderr)
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_env("TWIN_AGENCY_LOG")
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
                )
                .init();
            let agency = Arc::new(open(&dir)?);
            let limits = Limits {
                body_timeout: std::time::Duration::from_secs(body_timeout.max(1)),
                ..Limits::default()
            };
            let rt = tokio::runtime::Runtime::new().map_err(|e| Failure::from(("io", e)))?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(&listen).await.map_err(|e| {
                    Failure::from(("cannot-listen", format!("cannot listen on {listen}: {e}")))
                })?;
                let addr = listener
                    .local_addr()
                    .map_err(|e| Failure::from(("io", e)))?;
                tracing::info!(%addr, agency = %agency.identity.card.agency, "listening");
                let endpoint = &agency.identity.card.endpoint;
                let port_on_card = endpoint
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.trim_end_matches('/').parse::<u16>().ok());
                if endpoint.starts_with("http://") && port_on_card.is_some_and(|p| p != addr.port()) {
                    tracing::warn!(%addr, endpoint = %endpoint, "the card tells citizens another address than this one: they will not reach this service unless a proxy forwards it");
                }
                let shutdown = async {
                    let mut term =
                        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                            .expect("a SIGTERM handler");
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {},
                        _ = term.recv() => {},
                    }
                };
                http::serve(listener, agency, limits, shutdown)
                    .await
                    .map_err(|e| Failure::from(("serve", e)))
            })?;
        }
        Command::Staff(StaffCommand::Add { name }) => {
            let agency = open(&dir)?;
            let key = home::add_staff(&dir, &name)?;
            agency.add_staff(&name, &key.sign_public())?;
            println!(
                "Added {} as a member of staff. Their key is in {}; staff commands run as them with --as \"{}\".",
                name.trim(),
                dir.join("staff").display(),
                name.trim()
            );
        }
        Command::Grants(GrantsCommand::List { json }) => {
            let agency = open(&dir)?;
            let rows = agency
                .store()
                .grants()
                .map_err(|e| Failure::from(("store", e)))?;
            let now = agency.now();
            let state = |r: &twin_agency_store::GrantRow| -> String {
                match &r.purged {
                    Some((t, why)) => format!("deleted on {} ({why})", words_for_time(*t)),
                    None if now > r.claims.expires_at => "expired, deletion pending".into(),
                    None => format!("readable until {}", words_for_time(r.claims.expires_at)),
                }
            };
            if json {
                print_json(&Value::Array(
                    rows.iter()
                        .map(|r| {
                            json!({
                                "grant_id": r.claims.grant_id.to_string(),
                                "fields": r.claims.fields,
                                "purpose": r.claims.purpose.code,
                                "case_ref": r.claims.case_ref,
                                "records": r.claims.records,
                                "records_until": r.claims.records_until,
                                "redeemed_at": r.redeemed_at,
                                "expires_at": r.claims.expires_at,
                                "purged_at": r.purged.as_ref().map(|p| p.0),
                                "purge_reason": r.purged.as_ref().map(|p| p.1.clone()),
                                "accesses": r.accesses,
                                "state": state(r),
                            })
                        })
                        .collect(),
                ));
            } else if rows.is_empty() {
                println!(
                    "No grants yet. Citizens send them with `twin share … --send`, or hand them over for `twin-agency redeem`."
                );
            } else {
                for r in &rows {
                    println!(
                        "{}  {}  {} field(s) for '{}'  {}  opened {} time(s)",
                        r.claims.grant_id,
                        words_for_time(r.redeemed_at),
                        r.claims.fields.len(),
                        r.claims.purpose.words,
                        state(r),
                        r.accesses
                    );
                }
            }
        }
        Command::Grants(GrantsCommand::Show { id, staff, json }) => {
            let agency = open(&dir)?;
            let id = grant_id(&id)?;
            let (name, key) = home::staff_key(&dir, &staff)?;
            let shown = agency.show(&id, &name, &key)?;
            if json {
                print_json(&json!({
                    "grant_id": id.to_string(),
                    "purpose": shown.row.claims.purpose.words,
                    "case_ref": shown.row.claims.case_ref,
                    "values": shown.values,
                    "expires_at": shown.row.claims.expires_at,
                    "access_receipt": shown.receipt_seq,
                }));
            } else {
                println!(
                    "Grant {id} for '{}' (readable until {}). Opened by {name}; the citizen gets access receipt #{}.",
                    shown.row.claims.purpose.words,
                    words_for_time(shown.row.claims.expires_at),
                    shown.receipt_seq
                );
                for (field, value) in &shown.values {
                    let title = twin_schema::Catalog::get()
                        .field(field.as_str())
                        .map(|f| f.title().to_owned())
                        .unwrap_or_else(|_| field.to_string());
                    println!("  {title} ({field}): {value}");
                }
            }
        }
        Command::Grants(GrantsCommand::Receipts { id, json }) => {
            let agency = open(&dir)?;
            let id = grant_id(&id)?;
            let receipts = agency
                .store()
                .receipts(&id)
                .map_err(|e| Failure::from(("store", e)))?;
            let read: Vec<Receipt> = receipts
                .iter()
                .filter_map(|(_, _, bytes)| Receipt::verify(bytes, &agency.identity.card).ok())
                .collect();
            if json {
                print_json(&serde_json::to_value(&read).unwrap_or_default());
            } else if read.is_empty() {
                println!("No receipts for grant {id} yet.");
            }
            if !json {
                for r in &read {
                    match &r.event {
                        ReceiptEvent::Access {
                            seq,
                            staff,
                            fields,
                            purpose,
                            ..
                        } => println!(
                            "#{seq} {}: {staff} opened {} field(s) for '{purpose}'",
                            words_for_time(r.at),
                            fields.len()
                        ),
                        ReceiptEvent::Deletion { reason } => {
                            println!("{}: values deleted ({reason})", words_for_time(r.at))
                        }
                    }
                }
            }
        }
        Command::Redeem { grant, json } => {
            let agency = open(&dir)?;
            let input = if grant.trim_start().starts_with(twin_protocol::TEXT_PREFIX) {
                grant.into_bytes()
            } else {
                std::fs::read(&grant).map_err(|e| Failure {
                    code: "io".into(),
                    message: format!("cannot read the grant file {grant}: {e}"),
                })?
            };
            let a = agency.redeem_handed_over(&input)?;
            let c = &a.claims;
            if json {
                print_json(&json!({
                    "grant_id": c.grant_id.to_string(),
                    "again": a.again,
                    "fields": c.fields,
                    "purpose": c.purpose.code,
                    "expires_at": c.expires_at,
                }));
            } else {
                println!(
                    "{} grant {} for '{}': {} field(s), readable until {}. Open it with `twin-agency grants show {} --as NAME`.",
                    if a.again { "Already had" } else { "Redeemed" },
                    c.grant_id,
                    c.purpose.words,
                    c.fields.len(),
                    words_for_time(c.expires_at),
                    c.grant_id
                );
            }
        }
        Command::Request {
            fields,
            purpose,
            case,
            days,
            records,
            records_days,
            answer_within,
            out,
        } => {
            let agency = open(&dir)?;
            let records = records.unwrap_or_else(|| agency.identity.card.record_types.clone());
            let (req, bytes, posted) = agency.request(&RequestSpec {
                fields,
                purpose,
                case_ref: case,
                duration_secs: days.saturating_mul(86_400),
                records,
                records_secs: records_days.saturating_mul(86_400),
                valid_secs: answer_within.saturating_mul(86_400),
            })?;
            let out = out.unwrap_or_else(|| {
                PathBuf::from(format!(
                    "request-{}.twinrequest",
                    &req.request_id.to_string()[..8]
                ))
            });
            std::fs::write(&out, &bytes).map_err(|e| Failure::from(("io", e)))?;
            println!("Request {} saved to {}.", req.request_id, out.display());
            if posted {
                println!(
                    "The case is linked to a citizen: it is also waiting in their inbox for their next `twin sync`."
                );
            } else {
                println!("Give the file to the citizen (`twin requests import FILE`).");
            }
        }
        Command::Issue {
            grant,
            record_type,
            body,
        } => {
            let agency = open(&dir)?;
            let id = grant_id(&grant)?;
            let text = if body.as_os_str() == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                    .map_err(|e| Failure::from(("io", e)))?;
                s
            } else {
                std::fs::read_to_string(&body).map_err(|e| {
                    Failure::from(("io", format!("cannot read {}: {e}", body.display())))
                })?
            };
            let value: Value = serde_json::from_str(&text).map_err(|e| {
                Failure::from(("record-body-invalid", format!("the body is not JSON: {e}")))
            })?;
            let r = agency.issue(&id, &record_type, &value)?;
            println!(
                "Issued record {} ({}) under grant {id}; the citizen receives it at their next sync.",
                r.record_id, r.record_type
            );
        }
        Command::Link {
            grant,
            case,
            checked,
        } => {
            let agency = open(&dir)?;
            let id = grant_id(&grant)?;
            let r = agency.link(&id, &case, &checked)?;
            println!(
                "Linked case {case} to the citizen of grant {id} (identity-link record {}). Requests for this case now go to their inbox.",
                r.record_id
            );
        }
        Command::Purge { grant } => {
            let agency = open(&dir)?;
            match grant {
                Some(g) => {
                    let id = grant_id(&g)?;
                    agency.purge(&id, "request")?;
                    println!(
                        "Deleted the values of grant {id}; the citizen gets a signed deletion receipt."
                    );
                }
                None => {
                    let done = agency.purge_due()?;
                    println!(
                        "Deleted the values of {} expired or revoked grant(s).",
                        done.len()
                    );
                }
            }
        }
        Command::Rules {
            command: RulesCommand::Sign { pack, out },
        } => {
            let identity = home::load(&dir)?;
            let payload = std::fs::read(&pack).map_err(|e| {
                Failure::from(("io", format!("cannot read {}: {e}", pack.display())))
            })?;
            let publisher = pack_publisher(&payload)?;
            if publisher != identity.card.agency.to_string() {
                return Err(Failure::from((
                    "wrong-publisher",
                    format!(
                        "this pack's publisher is \"{publisher}\", not this agency (\"{}\"); an agency signs only its own packs",
                        identity.card.agency
                    ),
                )));
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            let no_key = || {
                Failure::from((
                    "no-current-key",
                    "the agency's card has no key valid today; renew the card first",
                ))
            };
            let kid = identity
                .card
                .current_key(now)
                .ok_or_else(no_key)?
                .kid
                .clone();
            let key = identity
                .keys
                .iter()
                .find(|(k, _)| *k == kid)
                .map(|(_, k)| Arc::clone(k))
                .ok_or_else(no_key)?;
            let signed = twin_protocol::sign_rule_pack(&payload, &kid, &key);
            std::fs::write(&out, &signed).map_err(|e| {
                Failure::from(("io", format!("cannot write {}: {e}", out.display())))
            })?;
            println!(
                "Signed rule pack {} from {publisher} with key {kid}; saved to {}. Citizens add it with `twin rules add FILE`.",
                pack.display(),
                out.display()
            );
        }
    }
    Ok(())
}

/// The `publisher` of a rule pack's JSON.
fn pack_publisher(payload: &[u8]) -> Result<String, Failure> {
    let v: Value = serde_json::from_slice(payload)
        .map_err(|e| Failure::from(("rule-pack-invalid", format!("the pack is not JSON: {e}"))))?;
    v.get("publisher")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            Failure::from((
                "rule-pack-invalid",
                "the pack has no \"publisher\" (the id of the agency that publishes it)",
            ))
        })
}
