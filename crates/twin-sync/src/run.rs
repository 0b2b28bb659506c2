//! `twin sync`: the four steps of `docs/agency-api.md` ("What a client does"), for every
//! agency the citizen has added:
//!
//! 1. send revocation notices not yet acknowledged (keeping the deletion receipt);
//! 2. send shares marked to send and not yet acknowledged;
//! 3. for each active, acknowledged share whose values changed, send a refresh with the
//!    next sequence number;
//! 4. pull the inbox from where this computer left off and import each item.
//!
//! Each outcome is one [`SyncEvent`] with a plain line. A failure at one step for one
//! agency is recorded and leaves the vault as it was for that step: the next sync
//! retries it. An agency that cannot be reached is not asked anything more this time.
//! Only a failure of the vault itself (its disk, its database) stops the whole sync.

use serde::Serialize;
use twin_protocol::TrustList;
use twin_types::{AgencyId, GrantId};
use twin_vault::{AgencySummary, NoticeStatus, Vault, VaultError};

use crate::client::{AgencyClient, ClientError, ItemKind, RevocationStatus};

/// Most inbox pages pulled from one agency in one sync.
const MAX_PAGES: usize = 1000;

/// Which step an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Reaching the agency at all (its address, its trust).
    Agency,
    /// Step 1: a revocation notice.
    Notice,
    /// Step 2: a share.
    Share,
    /// Step 3: a refresh of shared values.
    Refresh,
    /// Step 4: the inbox.
    Inbox,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Done; the vault keeps the result.
    Done,
    /// Nothing to do.
    UpToDate,
    /// Not done now; the next sync tries again.
    Failed,
    /// Refused by the agency for good, or not accepted by the vault; not retried.
    Refused,
    /// Not attempted (e.g. the agency is no longer trusted, or has no address).
    Skipped,
}

/// One thing a sync did, or could not do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncEvent {
    /// The agency.
    pub agency: AgencyId,
    /// The step.
    pub step: Step,
    /// How it ended.
    pub outcome: Outcome,
    /// The share concerned, if any.
    pub grant: Option<GrantId>,
    /// A stable code for a failure or refusal (the agency's, or this client's).
    pub code: Option<String>,
    /// What happened, in plain words. Never a field value.
    pub line: String,
}

/// Everything a sync did, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// One entry per event.
    pub events: Vec<SyncEvent>,
}

impl SyncReport {
    /// Whether nothing failed that the next sync would retry.
    pub fn is_complete(&self) -> bool {
        !self.events.iter().any(|e| e.outcome == Outcome::Failed)
    }

    /// The events of one step.
    pub fn of(&self, step: Step) -> impl Iterator<Item = &SyncEvent> {
        self.events.iter().filter(move |e| e.step == step)
    }
}

/// Which steps to run, for which agency or share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOptions {
    /// Only this agency.
    pub agency: Option<AgencyId>,
    /// Only this share (notices and shares; refreshes and the inbox are skipped).
    pub grant: Option<GrantId>,
    /// Step 1.
    pub notices: bool,
    /// Step 2.
    pub shares: bool,
    /// Step 3.
    pub refreshes: bool,
    /// Step 4.
    pub inbox: bool,
}

impl SyncOptions {
    /// Every step, for every agency.
    pub fn all() -> SyncOptions {
        SyncOptions {
            agency: None,
            grant: None,
            notices: true,
            shares: true,
            refreshes: true,
            inbox: true,
        }
    }

    /// Only revocation notices; of one share, if given.
    pub fn notices_only(grant: Option<GrantId>) -> SyncOptions {
        SyncOptions {
            grant,
            shares: false,
            refreshes: false,
            inbox: false,
            ..SyncOptions::all()
        }
    }

    /// Only sending one share.
    pub fn share_only(grant: GrantId) -> SyncOptions {
        SyncOptions {
            grant: Some(grant),
            notices: false,
            refreshes: false,
            inbox: false,
            ..SyncOptions::all()
        }
    }
}

/// Runs every step with every agency the citizen has added. `trust` decides which
/// agencies may receive values (shares, refreshes) and whose inbox is read: an agency
/// whose card is no longer trusted still receives revocation notices, nothing else.
pub fn sync(vault: &mut Vault, trust: &TrustList) -> Result<SyncReport, VaultError> {
    sync_with(vault, trust, &SyncOptions::all())
}

/// Sends the revocation notices not yet acknowledged (of one share, if given).
pub fn send_notices(
    vault: &mut Vault,
    trust: &TrustList,
    grant: Option<GrantId>,
) -> Result<SyncReport, VaultError> {
    sync_with(vault, trust, &SyncOptions::notices_only(grant))
}

/// Sends one share marked to send.
pub fn send_share(
    vault: &mut Vault,
    trust: &TrustList,
    grant: GrantId,
) -> Result<SyncReport, VaultError> {
    sync_with(vault, trust, &SyncOptions::share_only(grant))
}

/// Before the twin is deleted: stops every active share on this computer, then tells
/// each agency (notices go to every agency, trusted now or not: no values travel).
/// Returns what sending did and the shares whose agency still has not been told; once
/// the vault is gone their pairwise keys are gone too, and they can never be told.
pub fn stop_every_share(
    vault: &mut Vault,
) -> Result<(SyncReport, Vec<twin_vault::GrantSummary>), VaultError> {
    for g in vault.outstanding_shares() {
        if g.state == twin_vault::GrantState::Active {
            vault.revoke(&g.id.to_string())?;
        }
    }
    let report = send_notices(vault, &TrustList::default(), None)?;
    Ok((report, vault.outstanding_shares()))
}

/// Runs the chosen steps.
pub fn sync_with(
    vault: &mut Vault,
    trust: &TrustList,
    options: &SyncOptions,
) -> Result<SyncReport, VaultError> {
    let mut report = SyncReport::default();
    for agency in vault.agencies() {
        if options.agency.as_ref().is_some_and(|a| *a != agency.id) {
            continue;
        }
        let mut run = AgencyRun {
            vault: &mut *vault,
            agency: &agency,
            options,
            report: &mut report,
            before: 0,
        };
        run.go(trust)?;
    }
    Ok(report)
}

/// Errors of the vault itself, which stop the sync (the others are one item's).
fn is_local(e: &VaultError) -> bool {
    matches!(
        e,
        VaultError::Store(_) | VaultError::Io { .. } | VaultError::Doc(_) | VaultError::Busy
    )
}

/// Agency codes that are about the item sent (it will never be accepted as it is),
/// rather than about this request (its signature, its time, the service's state).
fn about_the_item(code: &str, prefix: &str) -> bool {
    code.starts_with(prefix)
        || matches!(
            code,
            "malformed-body" | "signer-mismatch" | "body-too-large"
        )
}

/// What the CLI shows for a client error, retried next time.
fn retry_line(e: &ClientError, what: &str, agency: &str) -> String {
    match e {
        ClientError::Unreachable { .. } => {
            format!("Could not reach {agency} to {what} ({e}). The next sync tries again.")
        }
        _ => format!("Could not {what} at {agency}: {e}. The next sync tries again."),
    }
}

/// One agency's part of a sync.
struct AgencyRun<'a> {
    vault: &'a mut Vault,
    agency: &'a AgencySummary,
    options: &'a SyncOptions,
    report: &'a mut SyncReport,
    /// Events before this agency's, to tell whether it did anything.
    before: usize,
}

/// Whether to go on with this agency after a client error.
enum Next {
    Continue,
    StopAgency,
}

impl AgencyRun<'_> {
    fn name(&self) -> String {
        self.agency.display_name()
    }

    fn event(
        &mut self,
        step: Step,
        outcome: Outcome,
        grant: Option<GrantId>,
        code: Option<&str>,
        line: String,
    ) {
        self.report.events.push(SyncEvent {
            agency: self.agency.id.clone(),
            step,
            outcome,
            grant,
            code: code.map(str::to_owned),
            line,
        });
    }

    /// Records a failure to retry; an unreachable agency is not asked anything more.
    fn failed(&mut self, step: Step, grant: Option<GrantId>, e: &ClientError, what: &str) -> Next {
        let line = retry_line(e, what, &self.name());
        let code = match e {
            ClientError::Refused { code, .. } => code.clone(),
            other => other.code().to_owned(),
        };
        self.event(step, Outcome::Failed, grant, Some(&code), line);
        if e.is_retryable() {
            Next::StopAgency
        } else {
            Next::Continue
        }
    }

    fn wanted(&self, grant: &GrantId) -> bool {
        self.options.grant.is_none_or(|g| g == *grant)
    }

    fn go(&mut self, trust: &TrustList) -> Result<(), VaultError> {
        self.before = self.report.events.len();
        let client = match AgencyClient::for_card(&self.agency.endpoint, self.agency.sandbox) {
            Ok(c) => c,
            Err(e) => {
                let line = format!(
                    "{} was not contacted: {e}. Shares with it can only be handed over as files.",
                    self.name()
                );
                self.event(Step::Agency, Outcome::Skipped, None, Some(e.code()), line);
                return Ok(());
            }
        };
        let key = self.vault.agency_key(&self.agency.id)?;
        if self.options.notices && matches!(self.notices(&client, &key)?, Next::StopAgency) {
            return Ok(());
        }
        let wants_values = self.options.shares || self.options.refreshes || self.options.inbox;
        if wants_values && let Err(e) = self.vault.trusted_agency(&self.agency.id, trust) {
            let pending = self.options.inbox
                || self
                    .vault
                    .grants_to_send()
                    .iter()
                    .any(|o| o.agency == self.agency.id && self.wanted(&o.grant));
            if pending {
                let line = format!("Nothing was sent to or fetched from {}: {e}.", self.name());
                self.event(Step::Agency, Outcome::Skipped, None, Some(e.code()), line);
            }
            return Ok(());
        }
        if self.options.shares && matches!(self.shares(&client, &key)?, Next::StopAgency) {
            return Ok(());
        }
        if self.options.refreshes
            && self.options.grant.is_none()
            && matches!(self.refreshes(&client, &key)?, Next::StopAgency)
        {
            return Ok(());
        }
        if self.options.inbox && self.options.grant.is_none() {
            self.inbox(&client, &key)?;
        }
        if self.options == &SyncOptions::all() && self.report.events.len() == self.before {
            let line = format!("{}: up to date.", self.name());
            self.event(Step::Agency, Outcome::UpToDate, None, None, line);
        }
        Ok(())
    }

    /// Step 1.
    fn notices(
        &mut self,
        client: &AgencyClient,
        key: &twin_protocol::KeyPair,
    ) -> Result<Next, VaultError> {
        let pending: Vec<_> = self
            .vault
            .notices_to_send()
            .into_iter()
            .filter(|o| o.agency == self.agency.id && self.wanted(&o.grant))
            .collect();
        for out in pending {
            let what = format!("tell it you stopped sharing for '{}'", out.purpose);
            match client.send_revocation(key, &out.bytes) {
                Ok(answer) if answer.grant_id == out.grant => {
                    let status = match answer.status {
                        RevocationStatus::Purged => NoticeStatus::Purged,
                        RevocationStatus::Remembered => NoticeStatus::Remembered,
                    };
                    let outcome = self.vault.notice_answered(
                        &out.grant,
                        status,
                        answer.receipt.as_deref(),
                    )?;
                    let result = if outcome.problem.is_some() {
                        Outcome::Refused
                    } else {
                        Outcome::Done
                    };
                    let code = outcome.problem.as_ref().map(|_| "receipt-refused");
                    self.event(Step::Notice, result, Some(out.grant), code, outcome.line);
                }
                Ok(_) => {
                    let e = ClientError::Garbled {
                        origin: client.origin().to_owned(),
                        what: "it answered about another share".into(),
                    };
                    self.failed(Step::Notice, Some(out.grant), &e, &what);
                }
                Err(ClientError::Refused { code, message, .. })
                    if about_the_item(&code, "revocation-") =>
                {
                    let line = self.vault.notice_refused(&out.grant, &code, &message)?;
                    self.event(
                        Step::Notice,
                        Outcome::Refused,
                        Some(out.grant),
                        Some(&code),
                        line,
                    );
                }
                Err(e) => {
                    if let Next::StopAgency = self.failed(Step::Notice, Some(out.grant), &e, &what)
                    {
                        return Ok(Next::StopAgency);
                    }
                }
            }
        }
        Ok(Next::Continue)
    }

    /// Step 2.
    fn shares(
        &mut self,
        client: &AgencyClient,
        key: &twin_protocol::KeyPair,
    ) -> Result<Next, VaultError> {
        let pending: Vec<_> = self
            .vault
            .grants_to_send()
            .into_iter()
            .filter(|o| o.agency == self.agency.id && self.wanted(&o.grant))
            .collect();
        for out in pending {
            let what = format!("send your share for '{}'", out.purpose);
            match client.send_grant(key, &out.bytes) {
                Ok(answer) if answer.grant_id == out.grant => {
                    let line = self.vault.grant_accepted(&out.grant, now_secs())?;
                    self.event(Step::Share, Outcome::Done, Some(out.grant), None, line);
                }
                Ok(_) => {
                    let e = ClientError::Garbled {
                        origin: client.origin().to_owned(),
                        what: "it answered about another share".into(),
                    };
                    self.failed(Step::Share, Some(out.grant), &e, &what);
                }
                // A single-use share the agency already redeemed: sent before, by this
                // computer or another of the citizen's (only they hold its key), and the
                // answer was lost. The agency has it.
                Err(ClientError::Refused { code, .. }) if code == "grant-replayed" => {
                    let line = self.vault.grant_accepted(&out.grant, now_secs())?;
                    self.event(Step::Share, Outcome::Done, Some(out.grant), None, line);
                }
                Err(ClientError::Refused { code, message, .. })
                    if about_the_item(&code, "grant-") && code != "grant-not-yet-valid" =>
                {
                    let line = self.vault.grant_refused(&out.grant, &code, &message)?;
                    self.event(
                        Step::Share,
                        Outcome::Refused,
                        Some(out.grant),
                        Some(&code),
                        line,
                    );
                }
                Err(e) => {
                    if let Next::StopAgency = self.failed(Step::Share, Some(out.grant), &e, &what) {
                        return Ok(Next::StopAgency);
                    }
                }
            }
        }
        Ok(Next::Continue)
    }

    /// Step 3.
    fn refreshes(
        &mut self,
        client: &AgencyClient,
        key: &twin_protocol::KeyPair,
    ) -> Result<Next, VaultError> {
        let pending: Vec<_> = self
            .vault
            .pending_refreshes()?
            .into_iter()
            .filter(|r| r.agency == self.agency.id)
            .collect();
        for r in pending {
            let what = format!(
                "send the current values of your shared fields for '{}'",
                r.purpose
            );
            match client.send_refresh(key, &r.grant, &r.bytes) {
                Ok(answer) if answer.grant_id == r.grant && answer.seq == r.seq => {
                    let line = self.vault.refresh_pushed(&r)?;
                    self.event(Step::Refresh, Outcome::Done, Some(r.grant), None, line);
                }
                Ok(_) => {
                    let e = ClientError::Garbled {
                        origin: client.origin().to_owned(),
                        what: "it acknowledged another update than the one sent".into(),
                    };
                    self.failed(Step::Refresh, Some(r.grant), &e, &what);
                }
                Err(ClientError::Refused { code, message, .. })
                    if about_the_item(&code, "refresh-") || code == "not-found" =>
                {
                    let line = self.vault.refresh_refused(&r, &code, &message)?;
                    let outcome = if code == "refresh-rollback" {
                        Outcome::Failed
                    } else {
                        Outcome::Refused
                    };
                    self.event(Step::Refresh, outcome, Some(r.grant), Some(&code), line);
                }
                Err(e) => {
                    if let Next::StopAgency = self.failed(Step::Refresh, Some(r.grant), &e, &what) {
                        return Ok(Next::StopAgency);
                    }
                }
            }
        }
        Ok(Next::Continue)
    }

    /// Step 4.
    fn inbox(
        &mut self,
        client: &AgencyClient,
        key: &twin_protocol::KeyPair,
    ) -> Result<(), VaultError> {
        let id = self.agency.id.clone();
        let mut after = self.vault.inbox_cursor(&id)?;
        for _ in 0..MAX_PAGES {
            let page = match client.inbox(key, after) {
                Ok(p) => p,
                Err(e) => {
                    self.failed(Step::Inbox, None, &e, "fetch what it sent you");
                    return Ok(());
                }
            };
            for item in &page.items {
                self.import(item)?;
            }
            if page.next != after {
                self.vault.set_inbox_cursor(&id, page.next)?;
                after = page.next;
            }
            if !page.more {
                return Ok(());
            }
        }
        let line = format!(
            "{} has more waiting for you than one sync fetches; the next sync goes on.",
            self.name()
        );
        self.event(
            Step::Inbox,
            Outcome::Failed,
            None,
            Some("inbox-unfinished"),
            line,
        );
        Ok(())
    }

    /// Imports one inbox item; an item the vault does not accept is reported and
    /// skipped (it stays in the agency's inbox).
    fn import(&mut self, item: &crate::client::InboxItem) -> Result<(), VaultError> {
        let id = self.agency.id.clone();
        let name = self.name();
        let result = match &item.kind {
            ItemKind::Request => self.vault.import_request_from(&id, &item.body).map(|r| {
                r.new.then(|| {
                    let mut line = format!(
                        "{name} asked for your {} for '{}'.",
                        twin_vault::describe_fields(&r.item.fields),
                        r.item.purpose
                    );
                    if !r.item.over_asking.is_empty() {
                        line.push_str(&format!(
                            " It asks for more than its card lists for that purpose: {}.",
                            twin_vault::describe_fields(&r.item.over_asking)
                        ));
                    }
                    (None, line)
                })
            }),
            ItemKind::Record => self.vault.import_record_from(&id, &item.body).map(|r| {
                r.new.then(|| {
                    (
                        r.item.grant.parse().ok(),
                        format!(
                            "{name} sent you a signed record ({}), issued on {}.",
                            r.item.record_type,
                            twin_vault::human_date(r.item.issued_at)
                        ),
                    )
                })
            }),
            ItemKind::AccessReceipt | ItemKind::DeletionReceipt => self
                .vault
                .import_receipt(&id, &item.body)
                .map(|r| r.new.then_some((Some(r.grant), r.line))),
            ItemKind::Other(kind) => {
                let line = format!(
                    "{name} sent something this version of Citizen Twin does not know ({kind}); it was skipped."
                );
                self.event(Step::Inbox, Outcome::Skipped, item.grant_id, None, line);
                return Ok(());
            }
        };
        match result {
            Ok(Some((grant, line))) => self.event(
                Step::Inbox,
                Outcome::Done,
                grant.or(item.grant_id),
                None,
                line,
            ),
            Ok(None) => {}
            Err(e) if is_local(&e) => return Err(e),
            Err(e) => {
                let line = format!("An item from {name} was not accepted: {e}.");
                self.event(
                    Step::Inbox,
                    Outcome::Refused,
                    item.grant_id,
                    Some(e.code()),
                    line,
                );
            }
        }
        Ok(())
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
