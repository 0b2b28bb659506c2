//! The app's answers against `schemas/app/desktop-api.schema.json`, from which the UI's
//! TypeScript types are generated: every value a command returns or takes must fit its
//! `$defs` entry, or the UI is typed against something the app never sends.
//!
//! The answers are real: a vault in a temporary folder, held by a [`Session`] as the app
//! holds it, and a sandbox agency (`twin-agency`, the real service) served over HTTP on
//! loopback in this process. The flow shares, has the agency open a share as a named
//! member of staff, issue a record, link a case and send requests, syncs, approves and
//! declines, revokes (to a signed deletion receipt), shares on paper and as a file, makes
//! a conflict through a backup merged back in, erases, opts out, and finally deletes the
//! twin. Commands that need Tauri's `State` (`app_info`, `activity`) are rebuilt from the
//! same public functions and structs the commands use.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use citizen_twin::commands::{Activity, AppInfo, DeleteInput};
use citizen_twin::error::UiError;
use citizen_twin::session::Session;
use citizen_twin::view::{self, Delivery, ShareInput};
use serde::Serialize;
use serde_json::{Value, json};
use tempfile::TempDir;
use twin_agency::home::{self, InitOptions};
use twin_agency::service::RequestSpec;
use twin_agency::{Agency, Clock, SystemClock};
use twin_agency_store::SqliteStore;
use twin_types::Category;
use twin_vault::{GrantState, Passphrase, RestoreUnlock, SeqRange, Vault};

const SCHEMA: &str = include_str!("../../schemas/app/desktop-api.schema.json");
const PASSPHRASE: &str = "correct horse battery staple";
const DAY: i64 = 86_400;
const STAFF: &str = "Sam Clerk";
const CASE: &str = "HB-2026-0042";

/// Every `$defs` entry [`real_answers_fit_the_schema`] checks. That test fails if it
/// checks a name not listed here or leaves a listed one unchecked;
/// [`every_definition_is_checked`] fails if the schema gains an entry not listed here.
const CHECKED: &[&str] = &[
    "AccessChain",
    "AccessReceipt",
    "Activity",
    "AgencySummary",
    "Agreement",
    "AppInfo",
    "AuditEntry",
    "AuditReport",
    "Category",
    "CategoryView",
    "Conflict",
    "CriterionOutcome",
    "DecisionCheck",
    "DeleteInput",
    "DeleteReport",
    "DeletionSummary",
    "Delivery",
    "DeliveryState",
    "EraseReport",
    "Evidence",
    "FieldKind",
    "FieldView",
    "ForYou",
    "GrantState",
    "GrantSummary",
    "HistoryEntry",
    "LineOutcome",
    "NoticeState",
    "Outcome",
    "PackSummary",
    "PrefillLineInput",
    "Purpose",
    "RecordSummary",
    "RecoveryCodeView",
    "ReminderOutcome",
    "RequestSummary",
    "Revoked",
    "RuleKind",
    "RuleShare",
    "RuleStatus",
    "SeqRange",
    "Settings",
    "ShareInput",
    "ShareOutcome",
    "Strength",
    "SyncEvent",
    "SyncReport",
    "TwinView",
    "UiError",
    "Verdict",
    "WhatIf",
];

// ---------------------------------------------------------------------------------------
// The schema
// ---------------------------------------------------------------------------------------

fn schema() -> Value {
    serde_json::from_str(SCHEMA).expect("the schema is JSON")
}

/// A validator per `$defs` entry, and the names checked so far.
struct Api {
    validators: BTreeMap<String, jsonschema::Validator>,
    checked: BTreeSet<String>,
}

impl Api {
    fn load() -> Api {
        let schema = schema();
        let defs = schema["$defs"].as_object().expect("a $defs map").clone();
        let validators = defs
            .keys()
            .map(|name| {
                let wrapped = json!({
                    "$schema": schema["$schema"],
                    "$defs": defs,
                    "$ref": format!("#/$defs/{name}"),
                });
                let v = jsonschema::validator_for(&wrapped)
                    .unwrap_or_else(|e| panic!("$defs/{name} compiles: {e}"));
                (name.clone(), v)
            })
            .collect();
        Api {
            validators,
            checked: BTreeSet::new(),
        }
    }

    fn validator(&self, def: &str) -> &jsonschema::Validator {
        self.validators
            .get(def)
            .unwrap_or_else(|| panic!("the schema has no $defs/{def}"))
    }

    /// Serializes `value` as the app hands it to the UI and checks it against `def`.
    #[track_caller]
    fn check<T: Serialize>(&mut self, def: &str, value: &T) -> Value {
        let json = serde_json::to_value(value).expect("answers serialize");
        self.check_json(def, &json);
        json
    }

    #[track_caller]
    fn check_json(&mut self, def: &str, json: &Value) {
        let errors: Vec<String> = self
            .validator(def)
            .iter_errors(json)
            .map(|e| format!("at '{}': {e}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "a real {def} does not fit $defs/{def}:\n  {}\nthe answer: {}",
            errors.join("\n  "),
            serde_json::to_string_pretty(json).unwrap_or_default()
        );
        self.checked.insert(def.to_owned());
    }

    /// Each element of a list.
    #[track_caller]
    fn check_each<T: Serialize>(&mut self, def: &str, items: &[T]) {
        for item in items {
            self.check(def, item);
        }
    }

    /// A sample the UI might send, which the schema must refuse.
    #[track_caller]
    fn refuses(&self, def: &str, json: &Value) {
        assert!(
            !self.validator(def).is_valid(json),
            "$defs/{def} accepts {json}, which it should refuse"
        );
    }

    /// A sample the UI sends: it fits the schema and deserializes into the app's type.
    #[track_caller]
    fn input<T: serde::de::DeserializeOwned>(&mut self, def: &str, json: Value) -> T {
        self.check_json(def, &json);
        serde_json::from_value(json.clone())
            .unwrap_or_else(|e| panic!("{json} fits $defs/{def} but the app refuses it: {e}"))
    }
}

// ---------------------------------------------------------------------------------------
// A sandbox agency on loopback
// ---------------------------------------------------------------------------------------

/// The real agency service over a fresh folder, on its own tokio runtime in a thread.
struct AgencyServer {
    dir: TempDir,
    url: String,
    agency: Arc<Agency>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl AgencyServer {
    fn start() -> AgencyServer {
        let dir = TempDir::new().expect("a folder");
        // Bound first, so that the card names the port it is served on.
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).expect("non-blocking");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let identity = home::init(
            dir.path(),
            &InitOptions {
                name: "Sandbox Benefits".into(),
                id: None,
                endpoint: url.clone(),
                sandbox: true,
                anchor: None,
                purposes: None,
                record_types: vec!["benefit-award/v1".into(), "identity-link/v1".into()],
                valid_days: 365,
            },
            SystemClock.now(),
        )
        .expect("a sandbox agency");
        let store = SqliteStore::open(dir.path()).expect("the store opens");
        let agency = Arc::new(Agency::new(
            identity,
            Arc::new(store),
            Arc::new(SystemClock),
        ));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let served = Arc::clone(&agency);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime");
            rt.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                twin_agency::http::serve(
                    listener,
                    served,
                    twin_agency::http::Limits::default(),
                    async {
                        let _ = stop_rx.await;
                    },
                )
                .await
                .expect("the service runs");
            });
        });
        let server = AgencyServer {
            dir,
            url,
            agency,
            stop: Some(stop_tx),
            thread: Some(thread),
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .no_proxy()
            .build()
            .expect("an HTTP client");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !client
            .get(format!("{}/readyz", self.url))
            .send()
            .is_ok_and(|r| r.status() == 200)
        {
            assert!(
                Instant::now() < deadline,
                "the agency did not become ready (did start-up fail?)"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A member of staff, registered in the folder and in the store.
    fn staff(&self, name: &str) -> twin_protocol::KeyPair {
        let key = home::add_staff(self.dir.path(), name).expect("a staff key");
        self.agency
            .add_staff(name, &key.sign_public())
            .expect("staff registered");
        key
    }
}

impl Drop for AgencyServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn pass(text: &str) -> Passphrase {
    Passphrase::new(text.to_owned())
}

fn award() -> Value {
    json!({
        "benefit": "Housing Benefit",
        "decision": "awarded",
        "amount": 81.5,
        "currency": "GBP",
        "period": "week",
        "effective_from": "2026-12-01",
        "reason": "Your income is below the threshold for your household.",
        // The published rule it applied: the twin re-checks the decision against it.
        "rule": {"pack": "benefits", "id": "pension-credit", "version": 1}
    })
}

/// The share wizard's choices, as the UI sends them.
fn share_input(agency: &str, fields: &[&str], purpose: &str, records: &[&str]) -> Value {
    json!({
        "agency": agency,
        "fields": fields,
        "purpose": purpose,
        "days": 7,
        "records": records,
        "records_days": if records.is_empty() { 0 } else { 3 },
        "single_use": false,
    })
}

fn state_of(g: &Value) -> &str {
    g["state"]["state"].as_str().unwrap_or_default()
}

fn delivery_of(g: &Value) -> &str {
    g["delivery"]["state"].as_str().unwrap_or_default()
}

/// A share made with `Delivery::Send` reached the agency: the outcome says so, and so
/// does the grant listed afterwards. Returns the grant.
fn assert_sent(s: &Session, out: &Value) -> Value {
    let id: twin_types::GrantId =
        serde_json::from_value(out["grant"]["id"].clone()).expect("a grant id");
    assert_eq!(delivery_of(&out["grant"]), "accepted", "{out}");
    let grant = s
        .with(|v| Ok(v.grants()))
        .expect("grants")
        .into_iter()
        .find(|g| g.id == id)
        .expect("the share is listed");
    let grant = serde_json::to_value(grant).expect("serializes");
    assert_eq!(delivery_of(&grant), "accepted", "{grant}");
    grant
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

#[test]
fn real_answers_fit_the_schema() {
    let mut api = Api::load();
    let agency = AgencyServer::start();
    let tmp = TempDir::new().expect("a folder");
    let dir = tmp.path().join("vault");

    // --- Welcome: passphrase strength, a new twin, its recovery code.
    for p in ["", "password1", "Tr0ub4dor&3", PASSPHRASE] {
        api.check("Strength", &view::strength(p));
    }
    let weak = api.check("Strength", &view::strength("password1"));
    assert!(
        weak["warning"].is_string(),
        "a warning for a common password: {weak}"
    );
    let trust = twin_vault::trust_list(None, true).expect("the sandbox trust list");
    let s = Session::new(dir.clone(), true, trust, None);
    let (vault, code) = Vault::init(&dir, &pass(PASSPHRASE)).expect("a new twin");
    s.put(vault);
    let shown = api.check("RecoveryCodeView", &view::show_recovery_code(&s, code.0));
    assert!(shown["groups"].as_array().is_some_and(|g| g.len() > 1));
    s.forget_recovery_code();

    // --- My twin: fields, history, an opt-in category with a list.
    s.with(|v| {
        v.set("personal.full_name", "Alex Example", None)?;
        v.set("personal.date_of_birth", "1958-03-14", None)?;
        v.set("personal.address.postcode", "LS1 1AA", None)?;
        v.set("personal.address.postcode", "LS1 4AP", Some("moved"))?;
        v.set("personal.address.town", "Leeds", None)?;
        v.set("personal.phone", "0113 496 0000", None)?;
        v.set("personal.household.size", "2", None)?;
        v.set("government.tax.annual_income", "14250.5", None)?;
        v.opt_in(Category::Health)?;
        v.set("health.gp_practice", "Park Lane Surgery", None)?;
        v.set_value(
            "health.immunisations",
            json!([{"name": "Influenza", "date": "2025-10-02"}]),
            None,
        )
    })
    .expect("fields set");
    let history = s
        .with(|v| v.history("personal.address.postcode"))
        .expect("a history");
    assert_eq!(history.len(), 2);
    api.check_each("HistoryEntry", &history);
    let twin = api.check("TwinView", &s.with(view::twin).expect("the twin"));
    for c in twin["categories"].as_array().expect("categories") {
        api.check_json("CategoryView", c);
        api.check_json("Category", &c["id"]);
        for f in c["fields"].as_array().expect("fields") {
            api.check_json("FieldView", f);
            api.check_json("FieldKind", &f["kind"]);
        }
    }
    let kinds: BTreeSet<&str> = twin["categories"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["fields"].as_array().into_iter().flatten())
        .filter_map(|f| f["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["integer", "list", "number", "text"]),
        "every field kind is seen"
    );

    // --- A conflict: the twin restored on a second computer, the same field changed on
    // both, that computer's backup merged back in.
    let other = tmp.path().join("other");
    let backup_here = tmp.path().join("here.twinbackup");
    let backup_there = tmp.path().join("there.twinbackup");
    s.with(|v| v.export_backup(&backup_here, &pass(PASSPHRASE), |_| {}))
        .expect("a backup");
    let (mut there, _) = twin_vault::restore_backup(
        &backup_here,
        &other,
        RestoreUnlock::Passphrase(&pass(PASSPHRASE)),
    )
    .expect("restored on the other computer");
    there
        .set("personal.address.town", "York", None)
        .expect("set there");
    there
        .export_backup(&backup_there, &pass(PASSPHRASE), |_| {})
        .expect("a backup there");
    there.lock().expect("locked");
    s.with(|v| {
        v.set("personal.address.town", "Bradford", None)?;
        v.merge_backup(
            &backup_there,
            RestoreUnlock::Passphrase(&pass(PASSPHRASE)),
            false,
        )
    })
    .expect("merged");
    let conflicts = s.with(|v| Ok(view::conflicts(v))).expect("conflicts");
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    api.check_each("Conflict", &conflicts);
    let twin = api.check("TwinView", &s.with(view::twin).expect("the twin"));
    assert_eq!(twin["conflicts"], 1);
    s.with(|v| v.set_value("personal.address.town", json!("Leeds"), Some("chosen")))
        .expect("a value chosen");

    // --- Erasing a field, opting out of a category that held data.
    let erased = api.check(
        "EraseReport",
        &s.with(|v| v.erase("personal.phone")).expect("erased"),
    );
    assert_eq!(erased["fields_cleared"], json!(["personal.phone"]));
    let opted_out = s
        .with(|v| v.opt_out(Category::Health))
        .expect("opted out")
        .expect("health held data, so it was erased");
    api.check("EraseReport", &opted_out);

    // --- Agencies: a refused address, then the sandbox agency.
    let refused = twin_sync::fetch_card("http://example.invalid:8700")
        .map(drop)
        .map_err(UiError::from)
        .expect_err("plain http to another computer is refused");
    api.check("UiError", &refused);
    let card = twin_sync::fetch_card(&agency.url).expect("the agency's card");
    let added = api.check(
        "AgencySummary",
        &s.with(|v| v.add_agency(&card, &s.trust)).expect("added"),
    );
    assert_eq!(added["endpoint"], agency.url.as_str());
    let agency_id = added["id"].as_str().expect("an id").to_owned();
    let agencies = s.with(|v| Ok(v.agencies())).expect("agencies");
    api.check_each("AgencySummary", &agencies);
    for a in &agencies {
        api.check_each("Purpose", &a.purposes);
    }

    // --- Sharing two fields over the internet, as the share wizard sends it.
    let input: ShareInput = api.input(
        "ShareInput",
        share_input(
            &agency_id,
            &["personal.full_name", "personal.address.postcode"],
            "housing-support",
            &["benefit-award/v1", "identity-link/v1"],
        ),
    );
    let send: Delivery = api.input("Delivery", json!({"by": "send"}));
    let sent = api.check(
        "ShareOutcome",
        &s.with_ui(|v| view::share(v, &s.trust, &input.into_request()?, &send))
            .expect("shared"),
    );
    let sent_grant = assert_sent(&s, &sent);
    let sent_id: twin_types::GrantId =
        serde_json::from_value(sent_grant["id"].clone()).expect("a grant id");

    // --- The agency: staff open the share (an access receipt), a benefit award and an
    // identity link are issued, and two requests follow for the linked case.
    let staff = agency.staff(STAFF);
    agency
        .agency
        .show(&sent_id, STAFF, &staff)
        .expect("staff open the share");
    agency
        .agency
        .issue(&sent_id, "benefit-award/v1", &award())
        .expect("a benefit award");
    agency
        .agency
        .link(&sent_id, CASE, "passport seen at the counter")
        .expect("an identity link");
    for fields in [
        // full_name is not among the purpose's fields: over-asking.
        vec![
            "personal.date_of_birth",
            "personal.address.postcode",
            "personal.full_name",
        ],
        vec!["personal.date_of_birth"],
    ] {
        let (_, _, posted) = agency
            .agency
            .request(&RequestSpec {
                fields: fields.into_iter().map(str::to_owned).collect(),
                purpose: "pension-credit-check".into(),
                case_ref: Some(CASE.into()),
                duration_secs: 7 * DAY,
                records: vec!["benefit-award/v1".into()],
                records_secs: 3 * DAY,
                valid_secs: 3 * DAY,
            })
            .expect("a request");
        assert!(posted, "the case is linked: the request reaches the inbox");
    }

    // --- Sync pulls the receipt, the records and the requests.
    let report = api.check(
        "SyncReport",
        &s.with(|v| twin_sync::sync(v, &s.trust)).expect("synced"),
    );
    let events = report["events"].as_array().expect("events");
    assert!(
        events.iter().any(|e| e["step"] == "inbox"),
        "the inbox was read: {report}"
    );
    for e in events {
        api.check_json("SyncEvent", e);
    }

    // --- Records: listed, hidden, shown again.
    let records = s.with(|v| v.records()).expect("records");
    assert_eq!(
        records.len(),
        2,
        "an award and an identity link: {records:?}"
    );
    api.check_each("RecordSummary", &records);
    let award_id = records
        .iter()
        .find(|r| r.record_type == "benefit-award/v1")
        .expect("the award")
        .id
        .clone();
    let hidden = api.check(
        "RecordSummary",
        &s.with(|v| v.hide_record(&award_id)).expect("hidden"),
    );
    assert_eq!(hidden["hidden"], true);
    api.check(
        "RecordSummary",
        &s.with(|v| v.unhide_record(&award_id)).expect("shown"),
    );

    // --- For you: the agency's signed rule pack, worked out on the twin; the award,
    // which cites a rule, re-checked on the values shared for it.
    let identity = home::load(agency.dir.path()).expect("the agency's identity");
    let kid = identity
        .card
        .current_key(SystemClock.now())
        .expect("a current key")
        .kid
        .clone();
    let key = identity
        .keys
        .iter()
        .find(|(k, _)| *k == kid)
        .map(|(_, k)| Arc::clone(k))
        .expect("its key");
    let pack = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/rules/benefits.json"),
    )
    .expect("the sample pack");
    let signed = twin_protocol::sign_rule_pack(&pack, &kid, &key);
    let today = view::today();
    api.check(
        "PackSummary",
        &s.with(|v| v.add_rule_pack(&signed, today)).expect("added"),
    );
    s.with(|v| {
        v.set("personal.date_of_birth", "1951-07-19", None)?;
        v.set("government.tax.annual_income", "9000", None)
    })
    .expect("values set");
    let whatif: Vec<view::WhatIf> = vec![api.input(
        "WhatIf",
        json!({"path": "government.tax.annual_income", "value": "40000"}),
    )];
    for what_if in [&[][..], &whatif[..]] {
        let page = api.check(
            "ForYou",
            &s.with_ui(|v| view::for_you(v, what_if)).expect("for you"),
        );
        assert_eq!(page["what_if"], !what_if.is_empty());
        api.check_each(
            "PackSummary",
            &s.with(|v| Ok(v.rule_packs(today))).expect("packs"),
        );
        for o in page["outcomes"].as_array().expect("outcomes") {
            api.check_json("Outcome", o);
            api.check_json("RuleKind", &o["kind"]);
            api.check_json("RuleStatus", &o["status"]);
            for c in o["criteria"].as_array().expect("criteria") {
                api.check_json("CriterionOutcome", c);
            }
            if !o["reminder"].is_null() {
                api.check_json("ReminderOutcome", &o["reminder"]);
            }
        }
        let pc = page["outcomes"]
            .as_array()
            .expect("outcomes")
            .iter()
            .find(|o| o["rule"] == "pension-credit")
            .expect("Pension Credit")
            .clone();
        let want = if what_if.is_empty() {
            "applies"
        } else {
            "does_not_apply"
        };
        assert_eq!(pc["status"], want, "{pc}");
        let decisions = page["decisions"].as_array().expect("decisions");
        assert_eq!(decisions.len(), 1, "the award cites a rule: {page}");
        for d in decisions {
            api.check_json("DecisionCheck", d);
            api.check_json("Agreement", &d["agreement"]);
            api.check_json("Verdict", &d["agreement"]["verdict"]);
            api.check_json("Evidence", &d["agreement"]["evidence"]);
            // The share it was sent under held the name and postcode, not the date of
            // birth or income the rule reads: the shared values cannot decide.
            assert_eq!(d["agreement"]["verdict"], "undecided", "{d}");
        }
    }
    // Pre-fill lines and reminders, from the other sample packs' rules as the page
    // receives them (their publishers are other agencies than this test's).
    let sample = |name: &str| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../packaging/rules")
            .join(name);
        twin_vault::twin_rules::RulePack::load(&std::fs::read(path).expect("a pack"), today)
            .expect("the pack loads")
    };
    let mut facts = twin_vault::twin_rules::Facts::new();
    facts
        .set("government.tax.reference", json!("AB123456C"))
        .and_then(|f| f.set("government.tax.annual_income", json!(18250.5)))
        .and_then(|f| {
            let soon = today + time::Duration::days(30);
            f.set(
                "government.licences.driving.expires",
                json!(soon.to_string()),
            )
        })
        .expect("facts");
    let mut lines = 0;
    let mut reminders = 0;
    for pack in [sample("tax.json"), sample("health.json")] {
        for o in pack.evaluate(&facts, today) {
            let o = api.check("Outcome", &o);
            for l in o["prefill"].as_array().expect("lines") {
                api.check_json("LineOutcome", l);
                lines += 1;
            }
            if !o["reminder"].is_null() {
                api.check_json("ReminderOutcome", &o["reminder"]);
                reminders += 1;
            }
        }
    }
    assert!(
        lines > 0 && reminders > 0,
        "{lines} lines, {reminders} reminders"
    );

    let bad = s
        .with_ui(|v| {
            let w = vec![view::WhatIf {
                path: "government.tax.annual_income".into(),
                value: "lots".into(),
            }];
            view::for_you(v, &w)
        })
        .expect_err("not a number");
    assert_eq!(api.check("UiError", &bad)["code"], "invalid-what-if");
    let plan = api.check(
        "RuleShare",
        &s.with(|v| v.rule_share("pension-credit", today))
            .expect("a plan"),
    );
    assert_eq!(
        plan["fields"],
        json!(["government.tax.annual_income", "personal.date_of_birth"])
    );
    let line: view::PrefillLineInput =
        api.input("PrefillLineInput", json!({"line": "1.2", "value": 18250.5}));
    let not_prefill = s
        .with(|v| v.accept_prefill("pension-credit", &[(line.line, line.value)], today))
        .expect_err("not a pre-fill rule");
    assert_eq!(
        api.check("UiError", &not_prefill)["code"],
        "rule-pack-refused"
    );

    // --- Requests: one approved (with fewer fields than asked), one declined.
    let requests = s.with(|v| Ok(v.requests())).expect("requests");
    assert_eq!(requests.len(), 2, "{requests:?}");
    api.check_each("RequestSummary", &requests);
    let asked = requests
        .iter()
        .find(|r| !r.over_asking.is_empty())
        .expect("the request that over-asks");
    assert_eq!(asked.case_ref.as_deref(), Some(CASE));
    let approved = api.check(
        "ShareOutcome",
        &s.with_ui(|v| {
            let shared = v.approve_request(
                &asked.id,
                &[
                    "personal.date_of_birth".to_owned(),
                    "personal.address.postcode".to_owned(),
                ],
                &s.trust,
            )?;
            view::send(v, &s.trust, shared)
        })
        .expect("approved"),
    );
    assert_sent(&s, &approved);
    let other_request = requests
        .iter()
        .find(|r| r.id != asked.id)
        .expect("the other request");
    let declined = api.check(
        "RequestSummary",
        &s.with(|v| v.decline_request(&other_request.id))
            .expect("declined"),
    );
    assert_eq!(declined["state"], "declined");
    api.check_each(
        "RequestSummary",
        &s.with(|v| Ok(v.requests())).expect("requests"),
    );

    // --- Shares and their access receipts.
    let receipts = s
        .with(|v| v.access_receipts(&sent_id))
        .expect("access receipts");
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    assert_eq!(receipts[0].staff, STAFF);
    api.check_each("AccessReceipt", &receipts);
    let grants = s.with(|v| Ok(v.grants())).expect("grants");
    check_grants(&mut api, &grants);
    let with_receipt = grants.iter().find(|g| g.id == sent_id).expect("listed");
    assert_eq!(with_receipt.access.receipts, 1);
    // A gap in a chain of receipts: no agency here leaves one out, so the range is made.
    api.check("SeqRange", &SeqRange { from: 2, to: 4 });

    // --- Stopping the first share: the agency is told, purges, and its signed deletion
    // receipt comes back with the next sync.
    let revoked = api.check(
        "Revoked",
        &s.with_ui(|v| view::revoke(v, &sent_id.to_string()))
            .expect("revoked"),
    );
    assert!(revoked["sent"].is_object() && revoked["not_sent"].is_null());
    assert_eq!(revoked["grant"]["notice"]["agency_status"], "purged");
    api.check(
        "SyncReport",
        &s.with(|v| twin_sync::sync(v, &s.trust)).expect("synced"),
    );
    let grants = s.with(|v| Ok(v.grants())).expect("grants");
    check_grants(&mut api, &grants);
    let deleted = serde_json::to_value(grants.iter().find(|g| g.id == sent_id).expect("listed"))
        .expect("serializes");
    assert_eq!(state_of(&deleted), "deleted", "{deleted}");
    assert!(deleted["state"]["stopped_at"].is_i64(), "{deleted}");

    // --- On paper (text and QR code) and as a file.
    let paper: Delivery = api.input("Delivery", json!({"by": "paper"}));
    let input: ShareInput = api.input(
        "ShareInput",
        share_input(
            &agency_id,
            &["personal.date_of_birth", "personal.address.postcode"],
            "pension-credit-check",
            &[],
        ),
    );
    let on_paper = api.check(
        "ShareOutcome",
        &s.with_ui(|v| view::share(v, &s.trust, &input.into_request()?, &paper))
            .expect("on paper"),
    );
    assert!(on_paper["text"].is_string() && on_paper["qr_svg"].is_string());
    assert_eq!(delivery_of(&on_paper["grant"]), "by-hand");
    let file = tmp.path().join("share.twingrant");
    let as_file: Delivery = api.input("Delivery", json!({"by": "file", "path": file}));
    let input: ShareInput = api.input(
        "ShareInput",
        share_input(
            &agency_id,
            &["personal.full_name", "personal.household.size"],
            "housing-support",
            &["benefit-award/v1"],
        ),
    );
    let in_file = api.check(
        "ShareOutcome",
        &s.with_ui(|v| view::share(v, &s.trust, &input.into_request()?, &as_file))
            .expect("as a file"),
    );
    assert_eq!(in_file["file"], file.display().to_string());
    assert!(file.exists());
    check_grants(&mut api, &s.with(|v| Ok(v.grants())).expect("grants"));

    // --- Activity, settings, what the app says about itself.
    let activity = s
        .with(|v| {
            let report = v.verify_audit()?;
            Ok(Activity {
                entries: v.audit()?,
                intact: report.is_intact(),
                report,
            })
        })
        .expect("the activity log");
    let activity = api.check("Activity", &activity);
    assert_eq!(activity["intact"], true);
    for e in activity["entries"].as_array().expect("entries") {
        api.check_json("AuditEntry", e);
    }
    api.check_json("AuditReport", &activity["report"]);
    api.check("Settings", &s.set_auto_lock(15).expect("a setting"));
    api.check("UiError", &s.set_auto_lock(0).expect_err("out of range"));
    api.check("AppInfo", &app_info(&s, Some(agency.url.clone())));

    // --- Locked, a wrong passphrase, the wait after it, unlocked again.
    assert!(s.lock().expect("locked"));
    let locked = api.check("UiError", &s.with(|_| Ok(())).expect_err("locked"));
    assert_eq!(locked["code"], "locked");
    api.check("AppInfo", &app_info(&s, None));
    let wrong = match Vault::unlock(&dir, &pass("not the passphrase")) {
        Err(e @ twin_vault::VaultError::WrongPassphrase) => s.failed_unlock(e.into()),
        other => panic!("a wrong passphrase is refused: {other:?}"),
    };
    let wrong = api.check("UiError", &wrong);
    assert!(wrong["retry_in_secs"].is_u64(), "{wrong}");
    api.check("UiError", &s.may_try_unlock().expect_err("wait"));
    s.put(Vault::unlock(&dir, &pass(PASSPHRASE)).expect("unlocked"));

    // --- Deleting the twin: what it destroys, a wrong confirmation, then for real.
    let summary = api.check(
        "DeletionSummary",
        &s.with(view::deletion_summary).expect("a summary"),
    );
    assert!(
        summary["active_shares"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "shares the agency was never told to stop: {summary}"
    );
    assert_eq!(summary["backups"], 1);
    let mismatch = view::delete_twin(&s, "delete it", &pass(PASSPHRASE), false)
        .expect_err("the phrase must match");
    api.check("UiError", &mismatch);
    let input: DeleteInput = api.input(
        "DeleteInput",
        json!({
            "confirm": "  Delete my twin ",
            "passphrase": PASSPHRASE,
            "even_with_active_shares": false,
        }),
    );
    let gone = api.check(
        "DeleteReport",
        &view::delete_twin(
            &s,
            input.confirm.trim(),
            &pass(&input.passphrase),
            input.even_with_active_shares,
        )
        .expect("deleted"),
    );
    assert!(gone["removed"].as_array().is_some_and(|r| !r.is_empty()));
    assert!(!twin_vault::holds_vault(&dir));

    // --- What the UI sends, refused where the schema says so.
    refused_inputs(&api, &agency_id);
    every_variant(&mut api, &agency_id, sent_id);

    let listed: BTreeSet<String> = CHECKED.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(
        api.checked, listed,
        "CHECKED must name exactly the definitions this test checks"
    );
}

/// What `commands::app_info` answers, from the same values.
fn app_info(s: &Session, sandbox_agency: Option<String>) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION"),
        sandbox: s.sandbox,
        vault_dir: s.dir.display().to_string(),
        has_vault: twin_vault::holds_vault(&s.dir),
        unlocked: s.is_unlocked(),
        settings: s.settings(),
        sandbox_agency,
    }
}

/// Each share, and its parts, against their definitions.
fn check_grants(api: &mut Api, grants: &[twin_vault::GrantSummary]) {
    for g in grants {
        let json = api.check("GrantSummary", g);
        api.check_json("GrantState", &json["state"]);
        api.check_json("DeliveryState", &json["delivery"]);
        api.check_json("AccessChain", &json["access"]);
        if !json["notice"].is_null() {
            api.check_json("NoticeState", &json["notice"]);
        }
        if let GrantState::Deleted { stopped_at, .. } = &g.state {
            assert!(stopped_at.is_some());
        }
    }
}

/// The variants of the app's enums this flow does not reach (a share that expired, one
/// waiting to be sent or refused, every sync step and outcome, every category): each is
/// the Rust value serialized as the app serializes it.
fn every_variant(api: &mut Api, agency: &str, grant: twin_types::GrantId) {
    use twin_sync::{Outcome, Step, SyncEvent};
    use twin_vault::Delivery as Handed;
    for state in [
        GrantState::Active,
        GrantState::Expired,
        GrantState::Stopped { at: 1_790_000_000 },
        GrantState::Deleted {
            at: 1_790_000_100,
            reason: "expired".into(),
            stopped_at: None,
        },
    ] {
        api.check("GrantState", &state);
    }
    for delivery in [
        Handed::ByHand,
        Handed::ToSend,
        Handed::Accepted { at: 1_790_000_000 },
        Handed::Refused {
            code: "grant-invalid-value".into(),
            message: "refused".into(),
        },
    ] {
        api.check("DeliveryState", &delivery);
    }
    let agency = twin_types::AgencyId::parse(agency).expect("an agency id");
    for step in [
        Step::Agency,
        Step::Notice,
        Step::Share,
        Step::Refresh,
        Step::Inbox,
    ] {
        for outcome in [
            Outcome::Done,
            Outcome::UpToDate,
            Outcome::Failed,
            Outcome::Refused,
            Outcome::Skipped,
        ] {
            api.check(
                "SyncEvent",
                &SyncEvent {
                    agency: agency.clone(),
                    step,
                    outcome,
                    grant: Some(grant),
                    code: None,
                    line: "a line".into(),
                },
            );
        }
    }
    for c in Category::ALL {
        api.check("Category", &c);
    }
}

/// Samples shaped wrong: the schema refuses each, and so does the app where its types
/// can tell.
fn refused_inputs(api: &Api, agency: &str) {
    let good = share_input(agency, &["personal.full_name"], "housing-support", &[]);
    let mut negative = good.clone();
    negative["days"] = json!(-1);
    let mut missing = good.clone();
    missing
        .as_object_mut()
        .expect("an object")
        .remove("single_use");
    let mut extra = good.clone();
    extra["delivery"] = json!("send");
    for bad in [&negative, &missing] {
        api.refuses("ShareInput", bad);
        assert!(serde_json::from_value::<ShareInput>(bad.clone()).is_err());
    }
    api.refuses("ShareInput", &extra);

    for bad in [
        json!({"by": "file"}),
        json!({"by": "email"}),
        json!({"by": "paper", "path": "/tmp/x"}),
        json!({"path": "/tmp/x"}),
        json!("send"),
    ] {
        api.refuses("Delivery", &bad);
    }
    for bad in [json!({"by": "file"}), json!({"by": "email"}), json!("send")] {
        assert!(
            serde_json::from_value::<Delivery>(bad.clone()).is_err(),
            "the app refuses {bad}"
        );
    }

    let no_passphrase = json!({"confirm": "delete my twin", "even_with_active_shares": true});
    api.refuses("DeleteInput", &no_passphrase);
    assert!(serde_json::from_value::<DeleteInput>(no_passphrase).is_err());
    api.refuses(
        "DeleteInput",
        &json!({"confirm": "delete my twin", "passphrase": PASSPHRASE, "even_with_active_shares": "yes"}),
    );
}

#[test]
fn every_definition_is_checked() {
    let schema = schema();
    let defs: BTreeSet<&str> = schema["$defs"]
        .as_object()
        .expect("a $defs map")
        .keys()
        .map(String::as_str)
        .collect();
    let listed: BTreeSet<&str> = CHECKED.iter().copied().collect();
    assert_eq!(listed.len(), CHECKED.len(), "CHECKED names each entry once");
    let unchecked: Vec<&&str> = defs.difference(&listed).collect();
    assert!(
        unchecked.is_empty(),
        "$defs entries no real answer is checked against (check them in real_answers_fit_the_schema, then list them in CHECKED): {unchecked:?}"
    );
    let stale: Vec<&&str> = listed.difference(&defs).collect();
    assert!(
        stale.is_empty(),
        "CHECKED names entries the schema no longer has: {stale:?}"
    );
}

/// `Delivery::Send` must send the share at once, as `twin share --send` does, and so must
/// approving a request.
#[test]
fn a_share_sent_from_the_app_reaches_the_agency() {
    let agency = AgencyServer::start();
    let tmp = TempDir::new().expect("a folder");
    let dir = tmp.path().join("vault");
    let s = Session::new(
        dir.clone(),
        true,
        twin_vault::trust_list(None, true).expect("the sandbox trust list"),
        None,
    );
    s.put(Vault::init(&dir, &pass(PASSPHRASE)).expect("a new twin").0);
    let card = twin_sync::fetch_card(&agency.url).expect("the agency's card");
    let agency_id = s
        .with(|v| {
            v.set("personal.full_name", "Alex Example", None)?;
            v.set("personal.date_of_birth", "1958-03-14", None)?;
            v.add_agency(&card, &s.trust)
        })
        .expect("added")
        .id;

    let input: ShareInput = serde_json::from_value(share_input(
        agency_id.as_str(),
        &["personal.full_name"],
        "housing-support",
        &[],
    ))
    .expect("a share input");
    let send: Delivery = serde_json::from_value(json!({"by": "send"})).expect("a delivery");
    let out = s
        .with_ui(|v| view::share(v, &s.trust, &input.into_request()?, &send))
        .expect("shared");
    let sent = out.sent.expect("a report of the sending");
    assert!(
        sent.events
            .iter()
            .any(|e| e.step == twin_sync::Step::Share && e.outcome == twin_sync::Outcome::Done),
        "the share was sent: {sent:?}"
    );
    assert!(
        matches!(out.grant.delivery, twin_vault::Delivery::Accepted { .. }),
        "the agency acknowledged it: {:?}",
        out.grant.delivery
    );
    assert!(
        agency
            .agency
            .store()
            .grants()
            .expect("grants")
            .iter()
            .any(|g| g.claims.grant_id == out.grant.id),
        "the agency holds it"
    );

    let (_, request, _) = agency
        .agency
        .request(&RequestSpec {
            fields: vec!["personal.date_of_birth".into()],
            purpose: "pension-credit-check".into(),
            case_ref: None,
            duration_secs: 7 * DAY,
            records: vec![],
            records_secs: 0,
            valid_secs: DAY,
        })
        .expect("a request");
    let out = s
        .with_ui(|v| {
            let asked = v.import_request(&request)?;
            let shared = v.approve_request(&asked.id, &[], &s.trust)?;
            view::send(v, &s.trust, shared)
        })
        .expect("approved");
    assert!(
        matches!(out.grant.delivery, twin_vault::Delivery::Accepted { .. }),
        "an approved request's share reaches the agency: {:?}",
        out.grant.delivery
    );
}
