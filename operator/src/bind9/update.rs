//! RFC 2136 dynamic UPDATE client for BIND9 primaries.
//!
//! - One RRset replace = ONE UPDATE message: "delete RRset" followed by "add" of every rdata
//!   (RFC 2136 §3.4.2 processes the update section in order, atomically), so a resolver never
//!   sees the name missing. Over TCP, TSIG-signed (hmac-sha256 by default).
//! - Idempotent: [`Updater::replace`] reads the RRset first (same TCP connection) and sends
//!   nothing when the primary already holds exactly the desired TTL and rdatas.
//! - Prerequisites against clobbering: every non-CNAME add carries "no CNAME at this name"
//!   (RFC 2136 §2.4.3), because BIND otherwise silently ignores such an add and answers
//!   NOERROR; the failure comes back as YXRRSET and is reported as a conflict. With
//!   [`Updater::replace_if`] (or [`Updater::compare_and_swap`] for `apply`) the state read
//!   before the write becomes a value-dependent prerequisite (§2.4.2), so a concurrent writer
//!   is detected instead of overwritten.
//! - Batching: [`Updater::apply`] packs many changes into as few messages as fit in 64 KiB
//!   (an RRset's delete+add is never split across messages). If the server rejects a batch for
//!   its content, the changes are retried one per message: the good ones are applied and the
//!   bad ones are reported in [`Outcome::failed`].
//! - The apex NS RRset is replaced add-then-delete: servers ignore deleting it (§3.4.2.4).
//!
//! Errors come back as [`Error::DnsRcode`] (NOTAUTH with the TSIG error, REFUSED, YXRRSET...),
//! [`Error::Timeout`] (bounded by the timeout) or [`Error::Io`].

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, UpdateMessage};
use hickory_proto::rr::{DNSClass, RData, Record, RecordType as HRecordType};
use hickory_proto::serialize::binary::BinEncodable;

use super::names::{fqdn_in, rname, target};
use super::rdata::{compare_key, hickory_type, keys_of, name, to_rdata};
use super::wire::{DnsConnection, DEFAULT_TIMEOUT};
use super::zonefile::infrastructure_sets;
use super::zonefile::MAX_TTL;
use super::{serial, RecordSet, RecordType, Soa, TsigKey, ZoneData};
use crate::error::{Error, Result};
use bindy_crds::model::is_in_zone;
use hickory_proto::rr::rdata::SOA;

/// Upper bound for one UPDATE message: 64 KiB minus room for the TSIG record (≈ 100 bytes for
/// hmac-sha512 with a long key name) and the header.
pub const MAX_MESSAGE: usize = 65_535 - 512;

/// One desired change to a zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Make the RRset exactly `set` (TTL: the set's, else `default_ttl`).
    Replace { set: RecordSet, default_ttl: u32 },
    /// Remove the RRset `name`/`record_type`.
    Delete {
        name: String,
        record_type: RecordType,
    },
}

/// What a call did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Changes written to the primary.
    pub applied: usize,
    /// Changes skipped because the primary already held the desired state.
    pub unchanged: usize,
    /// UPDATE messages sent.
    pub messages: usize,
    /// Changes the server rejected (prerequisite failed, rdata refused); the others in the
    /// same call were still applied.
    pub failed: Vec<Failure>,
}

/// One change the server rejected.
#[derive(Debug)]
pub struct Failure {
    pub owner: String,
    pub record_type: RecordType,
    pub error: Error,
}

impl Outcome {
    /// The first rejection as an error (for single-change calls).
    fn into_result(mut self) -> Result<Outcome> {
        if self.failed.is_empty() {
            Ok(self)
        } else {
            Err(self.failed.swap_remove(0).error)
        }
    }
}

/// The current content of one RRset on the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RrsetState {
    pub ttl: u32,
    pub rdata: Vec<RData>,
}

/// RFC 2136 client for one primary.
#[derive(Clone, Debug)]
pub struct Updater {
    server: SocketAddr,
    key: Option<TsigKey>,
    timeout: Duration,
    compare_and_swap: bool,
}

/// A change prepared for the wire.
struct Prepared {
    owner: String,
    record_type: RecordType,
    prereqs: Vec<Record>,
    updates: Vec<Record>,
    size: usize,
}

impl Prepared {
    fn failure(&self, error: Error) -> Failure {
        Failure {
            owner: self.owner.clone(),
            record_type: self.record_type,
            error,
        }
    }
}

impl Updater {
    /// Signs with `key` (pass `None` only to test that BIND refuses unsigned updates).
    pub fn new(server: SocketAddr, key: Option<TsigKey>) -> Self {
        Updater {
            server,
            key,
            timeout: DEFAULT_TIMEOUT,
            compare_and_swap: false,
        }
    }

    /// Deadline for connecting and for each request/response exchange.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Make each replace conditional on the state read just before it (detects concurrent
    /// writers: the UPDATE fails with NXRRSET instead of overwriting their change).
    pub fn compare_and_swap(mut self, on: bool) -> Self {
        self.compare_and_swap = on;
        self
    }

    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The per-exchange deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Opens a TCP connection to the primary.
    pub async fn connect(&self) -> Result<DnsConnection> {
        DnsConnection::connect(self.server, self.key.as_ref(), self.timeout).await
    }

    /// Reads one RRset from the primary (None when it does not exist).
    pub async fn query(
        conn: &mut DnsConnection,
        zone: &str,
        owner: &str,
        record_type: RecordType,
    ) -> Result<Option<RrsetState>> {
        let owner = fqdn_in(owner, zone)?;
        let t = hickory_type(record_type);
        let mut msg = Message::new(0, MessageType::Query, OpCode::Query);
        msg.add_query(Query::query(name(&owner)?, t));
        let reply = conn.exchange(msg, "query", zone).await;
        let reply = match reply {
            Ok(r) => r,
            Err(Error::DnsRcode { rcode, .. }) if rcode == "NXDOMAIN" => return Ok(None),
            Err(e) => return Err(e),
        };
        let owner_name = name(&owner)?;
        let mut ttl = 0;
        let mut rdata = Vec::new();
        // A delegation's NS RRset comes back in the authority section (a referral).
        for r in reply.answers.into_iter().chain(reply.authorities) {
            if r.record_type() == t && r.name == owner_name {
                ttl = r.ttl;
                rdata.push(r.data);
            }
        }
        Ok((!rdata.is_empty()).then_some(RrsetState { ttl, rdata }))
    }

    /// Replaces one RRset atomically (or does nothing when it is already as desired).
    pub async fn replace(&self, zone: &str, set: &RecordSet, default_ttl: u32) -> Result<Outcome> {
        self.apply(
            zone,
            &[Change::Replace {
                set: set.clone(),
                default_ttl,
            }],
        )
        .await?
        .into_result()
    }

    /// Replaces one RRset only if it still is `expected` (as read earlier with
    /// [`Updater::query`]; `None` = must not exist). Another writer's change in between makes
    /// the UPDATE fail with NXRRSET/YXRRSET instead of being overwritten.
    pub async fn replace_if(
        &self,
        zone: &str,
        set: &RecordSet,
        default_ttl: u32,
        expected: Option<&RrsetState>,
    ) -> Result<Outcome> {
        let change = Change::Replace {
            set: set.clone(),
            default_ttl,
        };
        let mut conn = self.connect().await?;
        let observed = observe_apex_ns(&mut conn, zone, &change).await?;
        // Apex NS: the deletions must name what is there now (which `expected` asserts).
        let p = prepare(zone, &change, true, expected.or(observed.as_ref()))?;
        self.send(&mut conn, zone, std::slice::from_ref(&p)).await?;
        Ok(Outcome {
            applied: 1,
            messages: 1,
            ..Outcome::default()
        })
    }

    /// Deletes one RRset (nothing is sent when it does not exist).
    pub async fn delete(
        &self,
        zone: &str,
        owner: &str,
        record_type: RecordType,
    ) -> Result<Outcome> {
        self.apply(
            zone,
            &[Change::Delete {
                name: owner.into(),
                record_type,
            }],
        )
        .await?
        .into_result()
    }

    /// Applies `changes` idempotently: reads each RRset, drops the ones already as desired,
    /// sends the rest in as few UPDATE messages as fit the wire.
    pub async fn apply(&self, zone: &str, changes: &[Change]) -> Result<Outcome> {
        let mut conn = self.connect().await?;
        let mut outcome = Outcome::default();
        let mut todo = Vec::with_capacity(changes.len());
        for c in changes {
            let (owner, t) = change_key(zone, c)?;
            let current = Self::query(&mut conn, zone, &owner, t).await?;
            if is_satisfied(c, current.as_ref())? {
                outcome.unchanged += 1;
            } else {
                todo.push(prepare(zone, c, self.compare_and_swap, current.as_ref())?);
            }
        }
        self.send_batched(&mut conn, zone, todo, &mut outcome)
            .await?;
        Ok(outcome)
    }

    /// Sends `changes` without reading first (the throughput path for bulk loads; still
    /// atomic per RRset, still batched).
    pub async fn apply_blind(&self, zone: &str, changes: &[Change]) -> Result<Outcome> {
        let mut conn = self.connect().await?;
        let mut outcome = Outcome::default();
        let mut todo = Vec::with_capacity(changes.len());
        for c in changes {
            let observed = observe_apex_ns(&mut conn, zone, c).await?;
            todo.push(prepare(zone, c, false, observed.as_ref())?);
        }
        self.send_batched(&mut conn, zone, todo, &mut outcome)
            .await?;
        Ok(outcome)
    }

    /// Sends one message per change (for comparison with batching).
    pub async fn apply_one_by_one(&self, zone: &str, changes: &[Change]) -> Result<Outcome> {
        let mut conn = self.connect().await?;
        let mut outcome = Outcome::default();
        for c in changes {
            let observed = observe_apex_ns(&mut conn, zone, c).await?;
            let p = prepare(zone, c, false, observed.as_ref())?;
            self.send(&mut conn, zone, std::slice::from_ref(&p)).await?;
            outcome.applied += 1;
            outcome.messages += 1;
        }
        Ok(outcome)
    }

    /// Makes the zone's SOA carry `soa`'s names and timers (TTL `ttl`); the serial becomes
    /// [`serial::next`] of the current one and `soa.serial`. Returns the serial served
    /// afterwards; sends nothing when names and timers already match and `soa.serial` is not
    /// newer.
    pub async fn set_soa(&self, zone: &str, soa: &Soa, ttl: u32) -> Result<u32> {
        let mut conn = self.connect().await?;
        let Some(mut rec) = serial::soa(&mut conn, zone).await? else {
            return Err(Error::InvalidInput(format!(
                "{} does not serve zone {zone}",
                self.server
            )));
        };
        let RData::SOA(cur) = &rec.data else {
            return Err(Error::Proto("SOA answer without SOA data".into()));
        };
        let mname = name(&target(&soa.primary_ns)?)?;
        let rname = name(&rname(&soa.admin_email)?)?;
        let timers = |x: u32| {
            i32::try_from(x).map_err(|_| Error::InvalidInput(format!("SOA timer {x} too large")))
        };
        let (refresh, retry, expire) = (
            timers(soa.refresh)?,
            timers(soa.retry)?,
            timers(soa.expire)?,
        );
        let same = cur.mname == mname
            && cur.rname == rname
            && (cur.refresh, cur.retry, cur.expire, cur.minimum)
                == (refresh, retry, expire, soa.negative_ttl)
            && rec.ttl == ttl;
        if same && !serial::is_newer(soa.serial, cur.serial) {
            return Ok(cur.serial);
        }
        let new_serial = serial::next(Some(cur.serial), soa.serial);
        rec.ttl = ttl;
        rec.data = RData::SOA(SOA::new(
            mname,
            rname,
            new_serial,
            refresh,
            retry,
            expire,
            soa.negative_ttl,
        ));
        let mut msg = Message::new(0, MessageType::Query, OpCode::Update);
        msg.metadata.recursion_desired = false;
        let mut zq = Query::new();
        zq.set_name(rec.name.clone())
            .set_query_class(DNSClass::IN)
            .set_query_type(HRecordType::SOA);
        msg.add_zone(zq);
        msg.add_update(rec);
        conn.exchange(msg, "UPDATE", zone).await?;
        Ok(new_serial)
    }

    /// Brings a zone to `zone`'s SOA, apex NS, glue and records (idempotently). Records the
    /// primary holds but `zone` does not list are left alone: deleting them needs the
    /// reconciler's knowledge of what it owns ([`Change::Delete`]).
    pub async fn sync_zone(&self, zone: &ZoneData) -> Result<Outcome> {
        self.set_soa(&zone.origin, &zone.soa, zone.ttl).await?;
        let changes: Vec<Change> = infrastructure_sets(zone)?
            .into_iter()
            .chain(zone.records.iter().cloned())
            .map(|set| Change::Replace {
                set,
                default_ttl: zone.ttl,
            })
            .collect();
        self.apply(&zone.origin, &changes).await
    }

    async fn send_batched(
        &self,
        conn: &mut DnsConnection,
        zone: &str,
        todo: Vec<Prepared>,
        outcome: &mut Outcome,
    ) -> Result<()> {
        let header = zone.len() + 64;
        let mut batch: Vec<Prepared> = Vec::new();
        let mut size = header;
        let mut batches = Vec::new();
        for p in todo {
            if p.size + header > MAX_MESSAGE {
                return Err(Error::InvalidInput(format!(
                    "one RRset change in {zone} needs {} bytes, more than a DNS message holds",
                    p.size
                )));
            }
            if size + p.size > MAX_MESSAGE && !batch.is_empty() {
                batches.push(std::mem::take(&mut batch));
                size = header;
            }
            size += p.size;
            batch.push(p);
        }
        if !batch.is_empty() {
            batches.push(batch);
        }
        for batch in batches {
            outcome.messages += 1;
            match self.send(conn, zone, &batch).await {
                Ok(()) => outcome.applied += batch.len(),
                Err(e) if is_rejection(&e) && batch.len() == 1 => {
                    outcome.failed.push(batch[0].failure(e));
                }
                Err(e) if is_rejection(&e) => {
                    // The message is atomic, so nothing was applied: isolate the culprit(s)
                    // with one message per change and apply the rest.
                    for p in &batch {
                        outcome.messages += 1;
                        match self.send(conn, zone, std::slice::from_ref(p)).await {
                            Ok(()) => outcome.applied += 1,
                            Err(e) if is_rejection(&e) => outcome.failed.push(p.failure(e)),
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn send(&self, conn: &mut DnsConnection, zone: &str, batch: &[Prepared]) -> Result<()> {
        let origin = name(&fqdn_in("@", zone)?)?;
        let mut msg = Message::new(0, MessageType::Query, OpCode::Update);
        msg.metadata.recursion_desired = false;
        let mut zq = Query::new();
        zq.set_name(origin)
            .set_query_class(DNSClass::IN)
            .set_query_type(HRecordType::SOA);
        msg.add_zone(zq);
        for p in batch {
            for r in &p.prereqs {
                msg.add_pre_requisite(r.clone());
            }
            for r in &p.updates {
                msg.add_update(r.clone());
            }
        }
        match conn.exchange(msg, "UPDATE", zone).await {
            Ok(_) => Ok(()),
            Err(Error::DnsRcode {
                server,
                operation,
                zone,
                rcode,
                detail,
            }) => {
                let hint = match rcode.as_str() {
                    "YXRRSET" => {
                        " (data exists that must not: a CNAME at a name given other data, \
                         or an RRset created since it was read)"
                    }
                    "NXRRSET" => " (the RRset changed since it was read)",
                    "REFUSED" => {
                        " (not allowed by the server's policy, or rdata rejected: see its log)"
                    }
                    "NOTAUTH" => " (key not accepted, or server not primary for the zone)",
                    "NOTZONE" => " (a name is outside the zone)",
                    _ => "",
                };
                Err(Error::DnsRcode {
                    server,
                    operation,
                    zone,
                    rcode,
                    detail: format!("{detail}{hint}"),
                })
            }
            Err(e) => Err(e),
        }
    }
}

/// The current apex NS RRset when `c` replaces it (needed to delete the old rdatas).
async fn observe_apex_ns(
    conn: &mut DnsConnection,
    zone: &str,
    c: &Change,
) -> Result<Option<RrsetState>> {
    let (owner, t) = change_key(zone, c)?;
    if t == RecordType::Ns && owner == fqdn_in("@", zone)? {
        Updater::query(conn, zone, &owner, t).await
    } else {
        Ok(None)
    }
}

/// Answers that reject the content of a change (not the key, the zone or the transport):
/// worth isolating change by change.
fn is_rejection(e: &Error) -> bool {
    matches!(
        e.rcode(),
        Some("YXRRSET" | "NXRRSET" | "YXDOMAIN" | "NXDOMAIN" | "REFUSED" | "FORMERR")
    )
}

fn change_key(zone: &str, c: &Change) -> Result<(String, RecordType)> {
    let (n, t) = match c {
        Change::Replace { set, .. } => (&set.name, set.record_type),
        Change::Delete { name, record_type } => (name, *record_type),
    };
    let owner = fqdn_in(n, zone)?;
    if !is_in_zone(&owner, zone) {
        return Err(Error::InvalidInput(format!(
            "{owner} is outside zone {zone}"
        )));
    }
    Ok((owner, t))
}

fn desired_ttl(set: &RecordSet, default_ttl: u32) -> Result<u32> {
    let ttl = set.ttl.unwrap_or(default_ttl);
    if ttl > MAX_TTL {
        return Err(Error::InvalidInput(format!(
            "TTL {ttl} is above 2147483647"
        )));
    }
    Ok(ttl)
}

/// True when the server state already matches the change.
fn is_satisfied(c: &Change, current: Option<&RrsetState>) -> Result<bool> {
    match (c, current) {
        (Change::Delete { .. }, None) => Ok(true),
        (Change::Delete { .. }, Some(_)) => Ok(false),
        (Change::Replace { .. }, None) => Ok(false),
        (Change::Replace { set, default_ttl }, Some(cur)) => {
            if cur.ttl != desired_ttl(set, *default_ttl)? {
                return Ok(false);
            }
            let mut theirs = cur
                .rdata
                .iter()
                .map(compare_key)
                .collect::<Result<Vec<_>>>()?;
            theirs.sort();
            theirs.dedup();
            Ok(theirs == keys_of(&set.data)?)
        }
    }
}

/// Builds the records of one change; with `cas`, the `observed` state becomes a prerequisite.
fn prepare(zone: &str, c: &Change, cas: bool, observed: Option<&RrsetState>) -> Result<Prepared> {
    let (owner, t) = change_key(zone, c)?;
    let owner_name = name(&owner)?;
    let ht = hickory_type(t);
    let mut prereqs = Vec::new();
    let mut updates = Vec::new();

    // RFC 2136 §3.4.2.4: a server ignores deleting the apex NS RRset (and the last apex NS),
    // so the apex NS is replaced by adding the new rdatas, then deleting the old ones.
    let apex_ns = t == RecordType::Ns && owner == fqdn_in("@", zone)?;
    if apex_ns && matches!(c, Change::Delete { .. }) {
        return Err(Error::InvalidInput(format!(
            "the apex NS RRset of {zone} cannot be deleted, only replaced"
        )));
    }
    if !apex_ns {
        // Delete the whole RRset: CLASS ANY, TTL 0, empty rdata (RFC 2136 §2.5.2).
        let mut del = Record::update0(owner_name.clone(), 0, ht);
        del.dns_class = DNSClass::ANY;
        updates.push(del);
    }

    if let Change::Replace { set, default_ttl } = c {
        if set.data.is_empty() {
            return Err(Error::InvalidInput(format!(
                "{owner} {t}: a record set needs at least one value (use Delete to remove it)"
            )));
        }
        if t == RecordType::Cname && set.data.len() > 1 {
            return Err(Error::InvalidInput(format!(
                "{owner}: a CNAME has exactly one target"
            )));
        }
        let ttl = desired_ttl(set, *default_ttl)?;
        for d in &set.data {
            if d.record_type() != t {
                return Err(Error::InvalidInput(format!(
                    "{owner}: {} data in a {t} record set",
                    d.record_type()
                )));
            }
            updates.push(Record::from_rdata(owner_name.clone(), ttl, to_rdata(d)?));
        }
        if apex_ns {
            let keep = keys_of(&set.data)?;
            for rd in observed.map(|o| o.rdata.as_slice()).unwrap_or_default() {
                if !keep.contains(&compare_key(rd)?) {
                    // Delete one RR: CLASS NONE, TTL 0, its rdata (§2.5.4).
                    let mut del = Record::from_rdata(owner_name.clone(), 0, rd.clone());
                    del.dns_class = DNSClass::NONE;
                    updates.push(del);
                }
            }
        }
        if t != RecordType::Cname {
            // "RRset does not exist" for CNAME: CLASS NONE, TTL 0, empty rdata (§2.4.3).
            let mut no_cname = Record::update0(owner_name.clone(), 0, HRecordType::CNAME);
            no_cname.dns_class = DNSClass::NONE;
            prereqs.push(no_cname);
        }
    }
    if cas {
        match observed {
            // Value-dependent "RRset exists" (§2.4.2): CLASS IN, TTL 0, the rdatas we saw.
            Some(state) => {
                for rd in &state.rdata {
                    prereqs.push(Record::from_rdata(owner_name.clone(), 0, rd.clone()));
                }
            }
            // "RRset does not exist" (§2.4.3).
            None => {
                let mut absent = Record::update0(owner_name.clone(), 0, ht);
                absent.dns_class = DNSClass::NONE;
                prereqs.push(absent);
            }
        }
    }
    let mut size = 0;
    for r in prereqs.iter().chain(&updates) {
        size += r
            .to_bytes()
            .map_err(|e| {
                Error::InvalidInput(format!(
                    "{owner} {t}: a record is more than a DNS message holds ({e})"
                ))
            })?
            .len();
    }
    Ok(Prepared {
        owner,
        record_type: t,
        prereqs,
        updates,
        size,
    })
}
