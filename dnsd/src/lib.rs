//! dnsd: Bindy's authoritative DNS server.
//!
//! * [`zonefile`] / [`rdata`]: RFC 1035 master files → records in wire format.
//! * [`zone`]: immutable zone versions, published through `arc-swap` ([`zone::Store`]).
//! * [`answer`]: the pure answer function (query bytes + snapshot → response bytes).
//! * [`server`]: per-worker UDP loops and an RFC 7766 TCP server; [`config`]: TOML + flags;
//!   [`metrics`]: Prometheus counters.
//! * [`secondary`]: following primaries (AXFR/IXFR, NOTIFY, timers, TSIG, catalog zones);
//!   [`xfr_out`]: serving transfers and NOTIFY to downstream secondaries.

pub mod answer;
pub mod config;
pub mod error;
pub mod inspect;
pub mod metrics;
pub mod name;
pub mod rdata;
pub mod rtype;
pub mod secondary;
pub mod server;
pub mod wire;
pub mod xfr_out;
pub mod zone;
pub mod zonefile;

pub use error::{Error, Result};
