//! The accept loop, the inbound throttle, and waking the loop on stop.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Sender};
use log::{debug, trace, warn};

use super::peers::Inner;
use crate::{ConnFlags, Error};

/// How long the accept loop pauses after a temporary accept error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(200);

/// Connects to the server's own listener so that an accept loop blocked in `accept` returns
/// and sees the stop flag.
pub(super) fn wake_listener(addr: SocketAddr) {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let target = SocketAddr::new(ip, addr.port());
    if let Err(e) = TcpStream::connect_timeout(&target, Duration::from_secs(1)) {
        warn!("could not wake the accept loop at {target}: {e}");
    }
}

/// True for addresses exempt from the inbound throttle: loopback, private and link-local.
fn is_lan(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_lan(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

/// The inbound throttle: refuses a second attempt from a non-LAN `ip` within `window`, and
/// otherwise records this attempt. Forgets expired entries.
fn throttle_inbound(
    history: &mut HashMap<IpAddr, Instant>,
    ip: IpAddr,
    now: Instant,
    window: Duration,
) -> Result<(), Error> {
    if is_lan(ip) {
        return Ok(());
    }
    history.retain(|_, until| *until > now);
    if history.contains_key(&ip) {
        return Err(Error::other("too many attempts"));
    }
    history.insert(ip, now + window);
    Ok(())
}

/// True for accept errors after which the listener is still usable.
fn is_temporary_accept_error(e: &io::Error) -> bool {
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
    ) || matches!(e.raw_os_error(), Some(ENFILE) | Some(EMFILE))
}

/// A pending-handshake slot, given back when dropped.
struct Slot(Sender<()>);

impl Drop for Slot {
    fn drop(&mut self) {
        let _ = self.0.try_send(());
    }
}

impl Inner {
    pub(super) fn accept_loop(self: Arc<Inner>, listener: TcpListener) {
        let slots = self.config.pending_slots();
        let (slot_tx, slot_rx) = bounded(slots);
        for _ in 0..slots {
            let _ = slot_tx.send(());
        }
        let mut last_log: Option<Instant> = None;
        loop {
            select! {
                recv(slot_rx) -> _ => {}
                recv(self.quit_rx) -> _ => return,
            }
            let slot = Slot(slot_tx.clone());
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            let (stream, addr) = match listener.accept() {
                Ok(c) => c,
                Err(e) if is_temporary_accept_error(&e) => {
                    if last_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                        debug!("temporary accept error: {e}");
                        last_log = Some(Instant::now());
                    }
                    drop(slot);
                    if self.quit_rx.recv_timeout(ACCEPT_BACKOFF).is_ok() {
                        return;
                    }
                    if self.stopping.load(Ordering::SeqCst) {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    warn!("accept loop ends: {e}");
                    return;
                }
            };
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            let throttled = {
                let mut st = self.state.lock();
                throttle_inbound(
                    &mut st.inbound_history,
                    addr.ip(),
                    Instant::now(),
                    self.config.inbound_throttle,
                )
            };
            if let Err(e) = throttled {
                debug!("rejected inbound connection from {addr}: {e}");
                continue;
            }
            trace!("accepted connection from {addr}");
            let me = self.clone();
            let spawned = self.spawn_conn("server-conn", self.conn_stack_size(), move || match me
                .setup(stream, ConnFlags::INBOUND, None)
            {
                Ok((peer, done)) => {
                    drop(slot);
                    me.start_peer(peer, done, None);
                }
                Err(e) => debug!("inbound connection from {addr} failed: {e}"),
            });
            if let Err(e) = spawned {
                if self.stopping.load(Ordering::SeqCst) {
                    return;
                }
                // Out of threads, say: the connection was dropped; pause like on an accept
                // error and go on.
                warn!("cannot start a connection thread: {e}");
                if self.quit_rx.recv_timeout(ACCEPT_BACKOFF).is_ok() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn lan_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.5",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_lan(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "172.32.0.1", "2001:db8::1", "::ffff:1.2.3.4"] {
            assert!(!is_lan(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    pub(super) fn inbound_throttle() {
        let mut history = HashMap::new();
        let now = Instant::now();
        let window = Duration::from_secs(30);
        let public: IpAddr = "1.2.3.4".parse().unwrap();
        let lan: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(throttle_inbound(&mut history, public, now, window).is_ok());
        let err = throttle_inbound(&mut history, public, now + Duration::from_secs(1), window);
        assert_eq!(err.unwrap_err().to_string(), "too many attempts");
        // Another address is not affected; LAN addresses are never throttled.
        assert!(throttle_inbound(&mut history, "1.2.3.5".parse().unwrap(), now, window).is_ok());
        for _ in 0..3 {
            assert!(throttle_inbound(&mut history, lan, now, window).is_ok());
        }
        // After the window, the address may try again.
        assert!(throttle_inbound(&mut history, public, now + window, window).is_ok());
    }
}
