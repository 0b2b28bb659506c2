//! The agency service: the other side of a citizen's share grants.
//!
//! - [`service::Agency`] does the work (redeem, refresh, revoke, show to staff with an
//!   access receipt, issue records, link identities, make requests, purge) over an
//!   [`twin_agency_store::AgencyStore`] and a [`clock::Clock`];
//! - [`http`] puts it on the network (docs/agency-api.md);
//! - [`home`] is the agency's folder (keys, card, staff);
//! - the `twin-agency` binary is the command line for operators and staff.
#![forbid(unsafe_code)]

pub mod clock;
pub mod home;
pub mod http;
pub mod service;

pub use clock::{Clock, ManualClock, SystemClock};
pub use service::{Agency, ServiceError};
