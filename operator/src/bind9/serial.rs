//! SOA serials managed by the operator, compared with RFC 1982 serial-number arithmetic.
//!
//! The serial never goes backwards across operator restarts because it is derived from the
//! serial the primary serves right now, not from operator memory: the next serial is the
//! larger (in RFC 1982 order) of `current + 1` and a floor the caller picks (the user's
//! `soaRecord.serial`, or a date-based `YYYYMMDDnn`). A floor that is "behind" the current
//! serial, or more than 2^31 - 1 ahead of it (which secondaries would read as going
//! backwards), is ignored. BIND itself increments the serial on every UPDATE.
//!
//! Policy, proven against BIND 9.18 in `tests/tests/bind9_update.rs`:
//! - The zone file is a bootstrap: written once with [`next`] of everything seen (primary and
//!   secondaries) and a date floor. It must not be rewritten with another serial while the
//!   primary keeps a journal for it: BIND then refuses the zone ("journal rollforward failed:
//!   journal out of sync with zone"). Later changes go by UPDATE only.
//! - When a primary comes back behind its secondaries (its journal was lost, it reloaded the
//!   bootstrap file), secondaries ignore it until its serial passes theirs:
//!   [`ensure_at_least`] raises the primary's serial by UPDATE (RFC 2136 §3.4.2.2: an SOA with
//!   a greater serial replaces the current one) so they transfer again.

use std::cmp::Ordering;
use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, UpdateMessage};
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};

use super::names::fqdn_in;
use super::rdata::name;
use super::wire::DnsConnection;
use super::TsigKey;
use crate::error::{Error, Result};

/// RFC 1982 §3.2 comparison; `None` when the two are exactly 2^31 apart (undefined).
pub fn compare(a: u32, b: u32) -> Option<Ordering> {
    if a == b {
        return Some(Ordering::Equal);
    }
    let diff = b.wrapping_sub(a);
    match diff.cmp(&0x8000_0000) {
        Ordering::Less => Some(Ordering::Less),
        Ordering::Greater => Some(Ordering::Greater),
        Ordering::Equal => None,
    }
}

/// `a` is newer than `b` in RFC 1982 order.
pub fn is_newer(a: u32, b: u32) -> bool {
    compare(a, b) == Some(Ordering::Greater)
}

/// The serial to write next, given what the primary serves (`current`) and a `floor`.
pub fn next(current: Option<u32>, floor: u32) -> u32 {
    let Some(cur) = current else {
        return floor.max(1);
    };
    let bumped = cur.wrapping_add(1);
    if is_newer(floor, bumped) {
        floor
    } else {
        bumped
    }
}

/// A `YYYYMMDD00` serial for a Unix time, the convention people read at a glance.
pub fn date_serial(unix_secs: u64) -> u32 {
    let days = (unix_secs / 86_400) as i64;
    let (y, m, d) = civil_from_days(days);
    // Fits in u32 until year 4294.
    (y.clamp(0, 4294) as u32) * 1_000_000 + m * 10_000 + d * 100
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm; avoids a date crate for one conversion).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Reads the zone's SOA serial from `server` (TCP). `Ok(None)` when the server does not
/// serve the zone (REFUSED / NOTAUTH / SERVFAIL for a zone that failed to load).
pub async fn current(server: SocketAddr, zone: &str, timeout: Duration) -> Result<Option<u32>> {
    let mut conn = DnsConnection::connect(server, None, timeout).await?;
    Ok(soa(&mut conn, zone).await?.map(|r| match &r.data {
        RData::SOA(s) => s.serial,
        _ => 0,
    }))
}

/// Raises the primary's serial to `floor` when `floor` is newer (RFC 1982); returns the
/// serial the primary serves afterwards. Nothing is sent when it is already there.
pub async fn ensure_at_least(
    server: SocketAddr,
    key: &TsigKey,
    zone: &str,
    floor: u32,
    timeout: Duration,
) -> Result<u32> {
    let mut conn = DnsConnection::connect(server, Some(key), timeout).await?;
    let Some(mut rec) = soa(&mut conn, zone).await? else {
        return Err(Error::InvalidInput(format!(
            "{server} does not serve zone {zone}"
        )));
    };
    let RData::SOA(s) = &mut rec.data else {
        return Err(Error::Proto("SOA answer without SOA data".into()));
    };
    if !is_newer(floor, s.serial) {
        return Ok(s.serial);
    }
    s.serial = floor;
    let mut msg = Message::new(0, MessageType::Query, OpCode::Update);
    msg.metadata.recursion_desired = false;
    let mut zq = Query::new();
    zq.set_name(rec.name.clone())
        .set_query_class(DNSClass::IN)
        .set_query_type(RecordType::SOA);
    msg.add_zone(zq);
    msg.add_update(rec);
    conn.exchange(msg, "UPDATE", zone).await?;
    Ok(floor)
}

pub(crate) async fn soa(conn: &mut DnsConnection, zone: &str) -> Result<Option<Record>> {
    let origin = fqdn_in("@", zone)?;
    let mut msg = Message::new(0, MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(name(&origin)?, RecordType::SOA));
    let reply = match conn.exchange(msg, "SOA query", zone).await {
        Ok(r) => r,
        Err(Error::DnsRcode { rcode, .. })
            if matches!(
                rcode.as_str(),
                "REFUSED" | "NOTAUTH" | "SERVFAIL" | "NXDOMAIN"
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    Ok(reply
        .answers
        .into_iter()
        .find(|r| matches!(r.data, RData::SOA(_))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc1982_order_wraps() {
        assert!(is_newer(1, 0));
        assert!(is_newer(0, u32::MAX));
        assert!(!is_newer(0x8000_0000, 0));
        assert_eq!(compare(0, 0x8000_0000), None);
        assert!(is_newer(5, 0xFFFF_FFF0));
    }

    #[test]
    fn next_never_goes_backwards() {
        assert_eq!(next(None, 0), 1);
        assert_eq!(next(None, 2026112500), 2026112500);
        assert_eq!(next(Some(7), 3), 8);
        assert_eq!(next(Some(7), 2026112500), 2026112500);
        assert_eq!(next(Some(u32::MAX), 0), 0);
        // A floor more than 2^31 ahead would look older to secondaries: ignored.
        assert_eq!(next(Some(10), 10 + 0x8000_0001), 11);
    }

    #[test]
    fn date_serials() {
        // 2026-11-25 00:00:00 UTC
        assert_eq!(date_serial(1_795_564_800), 2026112500);
        assert_eq!(date_serial(0), 1970010100);
    }

    proptest! {
        #[test]
        fn next_is_always_newer(cur in any::<u32>(), floor in any::<u32>()) {
            prop_assert!(is_newer(next(Some(cur), floor), cur));
        }
    }
}
