//! The UDP hot path: one socket per worker thread (`SO_REUSEPORT`, the kernel spreads
//! clients over the sockets), batches of up to [`BATCH`] datagrams received with
//! `recvmmsg(2)` and answered with one `sendmmsg(2)`, every buffer allocated once per worker.
//! Batching halves the system calls per query under load; with a single packet waiting,
//! `MSG_WAITFORONE` returns at once, so latency does not wait for a batch to fill.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::answer::Engine;
use crate::metrics::Counters;
use crate::zone::Store;

/// Datagrams per system call.
pub const BATCH: usize = 32;
/// Largest query accepted over UDP (bigger datagrams are cut, then answered FORMERR).
const RBUF: usize = 4096;
/// How often an idle worker looks at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// Bind one worker's UDP socket (`SO_REUSEPORT`, so every worker binds the same address).
pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_port(true)?;
    s.set_reuse_address(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    // Bigger kernel buffers absorb bursts; failure (limits) is harmless.
    let _ = s.set_recv_buffer_size(4 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
    s.bind(&addr.into())?;
    s.set_read_timeout(Some(POLL))?;
    Ok(s.into())
}

struct Batch {
    rbufs: Vec<[u8; RBUF]>,
    outs: Vec<Vec<u8>>,
    addrs: Vec<libc::sockaddr_storage>,
    riov: Vec<libc::iovec>,
    rmsg: Vec<libc::mmsghdr>,
    siov: Vec<libc::iovec>,
    smsg: Vec<libc::mmsghdr>,
}

fn zeroed_hdr() -> libc::mmsghdr {
    // SAFETY: mmsghdr is a plain C struct of integers and raw pointers; all-zero is valid.
    unsafe { std::mem::zeroed() }
}

impl Batch {
    fn new() -> Self {
        Self {
            rbufs: vec![[0u8; RBUF]; BATCH],
            outs: (0..BATCH).map(|_| Vec::with_capacity(RBUF)).collect(),
            // SAFETY: sockaddr_storage is plain data; all-zero is valid.
            addrs: vec![unsafe { std::mem::zeroed() }; BATCH],
            riov: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                BATCH
            ],
            rmsg: (0..BATCH).map(|_| zeroed_hdr()).collect(),
            siov: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                BATCH
            ],
            smsg: (0..BATCH).map(|_| zeroed_hdr()).collect(),
        }
    }

    /// Point the receive headers at the buffers (the kernel overwrites `msg_namelen`).
    fn arm_recv(&mut self) {
        for i in 0..BATCH {
            self.riov[i] = libc::iovec {
                iov_base: self.rbufs[i].as_mut_ptr().cast(),
                iov_len: RBUF,
            };
            let h = &mut self.rmsg[i];
            h.msg_len = 0;
            h.msg_hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen =
                std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = &mut self.riov[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = std::ptr::null_mut();
            h.msg_hdr.msg_controllen = 0;
            h.msg_hdr.msg_flags = 0;
        }
    }
}

/// Serve until `stop` is set. Runs on its own thread.
pub fn run_worker(
    sock: UdpSocket,
    store: Arc<Store>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
) {
    let fd = sock.as_raw_fd();
    let mut b = Batch::new();
    let mut engine = Engine::new();
    let mut last_err: Option<i32> = None;
    while !stop.load(Ordering::Relaxed) {
        b.arm_recv();
        // SAFETY: every header points at buffers owned by `b`, which outlives the call, with
        // lengths that match; the kernel writes at most BATCH headers.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                b.rmsg.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n <= 0 {
            let e = io::Error::last_os_error();
            let code = e.raw_os_error().unwrap_or(0);
            if !matches!(code, libc::EAGAIN | libc::EINTR) && last_err != Some(code) {
                tracing::warn!(error = %e, "recvmmsg failed");
                last_err = Some(code);
            }
            continue;
        }
        let n = n as usize;
        let snap = store.load();
        let mut k = 0;
        for i in 0..n {
            let len = (b.rmsg[i].msg_len as usize).min(RBUF);
            let q = &b.rbufs[i][..len];
            // NOTIFY and expired zones go to the secondary side (one branch otherwise).
            let rc = crate::secondary::hooks::udp(q, &b.addrs[i], &snap, &mut b.outs[i])
                .unwrap_or_else(|| engine.answer(q, &snap, false, &mut b.outs[i]));
            counters.count(false, rc);
            if rc.is_some() {
                b.siov[k] = libc::iovec {
                    iov_base: b.outs[i].as_mut_ptr().cast(),
                    iov_len: b.outs[i].len(),
                };
                let h = &mut b.smsg[k];
                h.msg_len = 0;
                h.msg_hdr.msg_name = (&mut b.addrs[i] as *mut libc::sockaddr_storage).cast();
                h.msg_hdr.msg_namelen = b.rmsg[i].msg_hdr.msg_namelen;
                h.msg_hdr.msg_iov = &mut b.siov[k];
                h.msg_hdr.msg_iovlen = 1;
                h.msg_hdr.msg_control = std::ptr::null_mut();
                h.msg_hdr.msg_controllen = 0;
                h.msg_hdr.msg_flags = 0;
                k += 1;
            }
        }
        drop(snap);
        let mut sent = 0;
        // Bounded: each round sends at least one datagram or skips one.
        for _ in 0..2 * BATCH {
            if sent >= k {
                break;
            }
            // SAFETY: headers [sent, k) point at `b.outs`/`b.addrs`, alive and unchanged.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    b.smsg[sent..].as_mut_ptr(),
                    (k - sent) as libc::c_uint,
                    0,
                )
            };
            if r <= 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EINTR) {
                    // A datagram the kernel refuses (e.g. unreachable peer) is skipped.
                    sent += 1;
                }
                continue;
            }
            sent += r as usize;
        }
    }
}
