//! Loopback addresses and free ports for test servers.
//!
//! Each `named` gets its own 127.x.y.z so that instances never fight over a port and so that
//! primaries and secondaries can tell each other apart by source address (NOTIFY is only
//! accepted from a zone's primaries). Addresses are derived from the process id plus a
//! per-process counter, which keeps parallel test *processes* apart without any shared state:
//! 15 bits of pid (Linux's default `pid_max` is 32768) and 9 bits of counter fill 127.64.0.0 to
//! 127.191.255.255, never 127.0.0.1 nor the 127.255.255.255 broadcast address. Ports are
//! checked by binding, so a rare collision still yields a usable port.
//!
//! `named` only listens on addresses configured on an interface, and Linux configures just
//! 127.0.0.1/8 on `lo` (the rest of 127/8 is routable but not "present"). So before a `named`
//! starts on another 127.x.y.z, [`LoopbackAlias::acquire`] adds it as a /32 on `lo` with
//! `ip addr add` (needs root, which the dev machines and CI have) and removes it again when the
//! last user in this process is done.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::tools::{probe_guard, run_tool};
use crate::error::{Error, Result};

static NEXT_IP: AtomicU32 = AtomicU32::new(0);

/// Ports handed out by [`free_port`] in this process, so two calls never return the same one
/// before the first caller has bound it.
static HANDED_OUT: Mutex<Option<HashSet<(Ipv4Addr, u16)>>> = Mutex::new(None);

/// Lowest port tried: above the well-known and common service ports.
const PORT_LO: u16 = 10_000;
/// Highest port tried: below Linux's default ephemeral range (32768..60999), so outgoing
/// connections of other tests cannot grab our port between the check and `named` binding it.
const PORT_HI: u16 = 32_767;

/// A loopback address not returned before in this process, and distinct from those of other
/// processes running at the same time.
pub fn alloc_loopback_ip() -> Ipv4Addr {
    let n = NEXT_IP.fetch_add(1, Ordering::Relaxed);
    loopback_ip_for(std::process::id(), n)
}

fn loopback_ip_for(pid: u32, n: u32) -> Ipv4Addr {
    let v = ((pid & 0x7FFF) << 9) | (n & 0x1FF);
    let a = 64 + ((v >> 16) & 0x7F) as u8;
    Ipv4Addr::new(127, a, (v >> 8) as u8, v as u8)
}

/// A port on `ip` that is free for both UDP and TCP right now and not handed out before by
/// this process.
///
/// # Panics
/// When no free port is found after 2000 random tries (only on a machine out of ports, where
/// no test could run anyway).
pub fn free_port(ip: Ipv4Addr) -> u16 {
    try_free_port(ip).unwrap_or_else(|| {
        panic!("no free UDP+TCP port on {ip} in {PORT_LO}..={PORT_HI} after 2000 tries")
    })
}

/// Like [`free_port`] but returns `None` instead of panicking.
pub fn try_free_port(ip: Ipv4Addr) -> Option<u16> {
    for _ in 0..2000 {
        let port = rand::random_range(PORT_LO..=PORT_HI);
        if port_is_free(ip, port) && claim(ip, port) {
            return Some(port);
        }
    }
    None
}

/// True when both a UDP socket and a TCP listener can be bound on `ip:port` now.
pub fn port_is_free(ip: Ipv4Addr, port: u16) -> bool {
    let addr = SocketAddrV4::new(ip, port);
    let _no_fork_meanwhile = probe_guard();
    let tcp = TcpListener::bind(addr);
    let udp = UdpSocket::bind(addr);
    tcp.is_ok() && udp.is_ok()
}

fn claim(ip: Ipv4Addr, port: u16) -> bool {
    // A poisoned lock only means another test panicked while holding it; the set is still valid.
    let mut guard = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    guard.get_or_insert_with(HashSet::new).insert((ip, port))
}

/// Per address: how many live [`LoopbackAlias`]es use it, and whether we added it.
static ALIASES: Mutex<Option<HashMap<Ipv4Addr, (usize, bool)>>> = Mutex::new(None);

/// Keeps a loopback address configured on `lo` while alive.
#[derive(Debug)]
pub struct LoopbackAlias {
    ip: Ipv4Addr,
}

impl LoopbackAlias {
    /// Ensures `ip` (in 127.0.0.0/8) is configured on `lo`, adding it if needed.
    pub fn acquire(ip: Ipv4Addr) -> Result<LoopbackAlias> {
        if !ip.is_loopback() {
            return Err(Error::Usage(format!("{ip} is not a loopback address")));
        }
        let mut guard = ALIASES.lock().unwrap_or_else(|e| e.into_inner());
        let map = guard.get_or_insert_with(HashMap::new);
        if let Some(entry) = map.get_mut(&ip) {
            entry.0 += 1;
            return Ok(LoopbackAlias { ip });
        }
        let added = if lo_has(ip)? {
            false
        } else {
            let cidr = format!("{ip}/32");
            match run_tool("ip", &["addr", "add", &cidr, "dev", "lo"], None, IP_TIMEOUT) {
                Ok(_) => true,
                // Another process added it meanwhile: present, but not ours to remove.
                Err(_) if lo_has(ip)? => false,
                Err(e) => {
                    return Err(Error::Usage(format!(
                        "named only listens on configured addresses and {ip} is not on `lo`; \
                         adding it failed (run as root, or use NamedBuilder::ip(127.0.0.1)): {e}"
                    )))
                }
            }
        };
        map.insert(ip, (1, added));
        Ok(LoopbackAlias { ip })
    }

    /// The address held.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }
}

impl Drop for LoopbackAlias {
    fn drop(&mut self) {
        let mut guard = ALIASES.lock().unwrap_or_else(|e| e.into_inner());
        let Some(map) = guard.as_mut() else { return };
        let remove = match map.get_mut(&self.ip) {
            Some(entry) if entry.0 > 1 => {
                entry.0 -= 1;
                false
            }
            Some(_) => map.remove(&self.ip).is_some_and(|(_, added)| added),
            None => false,
        };
        if remove {
            let cidr = format!("{}/32", self.ip);
            // Best effort: a leftover /32 on lo is harmless.
            let _ = run_tool("ip", &["addr", "del", &cidr, "dev", "lo"], None, IP_TIMEOUT);
        }
    }
}

const IP_TIMEOUT: Duration = Duration::from_secs(10);

fn lo_has(ip: Ipv4Addr) -> Result<bool> {
    if ip == Ipv4Addr::LOCALHOST {
        return Ok(true);
    }
    let out = run_tool(
        "ip",
        &["-4", "-o", "addr", "show", "dev", "lo"],
        None,
        IP_TIMEOUT,
    )?;
    let needle = format!("inet {ip}/");
    Ok(out.stdout.contains(&needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ips_are_distinct_within_and_across_processes() {
        let mut seen = HashSet::new();
        for pid in [1u32, 2, 4242, 32767] {
            for n in 0..512 {
                let ip = loopback_ip_for(pid, n);
                assert!(ip.is_loopback());
                assert_ne!(ip, Ipv4Addr::new(127, 0, 0, 1));
                assert_ne!(ip.octets()[1..], [255, 255, 255]);
                assert!(seen.insert(ip), "duplicate {ip}");
            }
        }
    }

    #[test]
    fn alias_is_added_shared_and_removed() {
        let ip = alloc_loopback_ip();
        let a = LoopbackAlias::acquire(ip).expect("add alias (needs root)");
        assert!(lo_has(ip).unwrap());
        let b = LoopbackAlias::acquire(ip).unwrap();
        drop(a);
        assert!(lo_has(ip).unwrap(), "still held by b");
        drop(b);
        assert!(!lo_has(ip).unwrap());
        assert!(LoopbackAlias::acquire(Ipv4Addr::new(10, 0, 0, 1)).is_err());
    }

    #[test]
    fn alloc_gives_new_addresses() {
        let a = alloc_loopback_ip();
        let b = alloc_loopback_ip();
        assert_ne!(a, b);
    }

    #[test]
    fn free_port_is_bindable_and_not_repeated() {
        let ip = alloc_loopback_ip();
        let p1 = free_port(ip);
        let p2 = free_port(ip);
        assert_ne!(p1, p2);
        assert!((PORT_LO..=PORT_HI).contains(&p1));
        let _udp = UdpSocket::bind((ip, p1)).expect("udp bind on the returned port");
        let _tcp = TcpListener::bind((ip, p1)).expect("tcp bind on the returned port");
    }
}
