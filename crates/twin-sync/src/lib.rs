#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod client;
mod run;

pub use client::{
    AgencyClient, CONNECT_TIMEOUT, ClientError, GrantReceived, InboxItem, ItemKind, Page,
    RefreshReceived, RevocationAnswer, RevocationStatus, TOTAL_TIMEOUT, Unreachable,
};
pub use run::{
    Outcome, Step, SyncEvent, SyncOptions, SyncReport, send_notices, send_share, stop_every_share,
    sync, sync_with,
};

/// Fetches the signed card of the agency at `url` (`GET /.well-known/twin-agency`),
/// unverified: [`twin_vault::Vault::add_agency`] checks it against the trust list.
/// `url` must be `https`, or plain `http` to this computer.
pub fn fetch_card(url: &str) -> Result<Vec<u8>, ClientError> {
    AgencyClient::new(url)?.fetch_card()
}
