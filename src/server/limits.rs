//! Caps on the TCP connections a listener holds, in all and per source address.
//!
//! These guard the gateway before any HTTP is parsed: a peer that opens
//! connections and sends nothing (or a byte at a time) holds a socket, a task and
//! up to the 16 KiB head buffer each, for up to `handshake_timeout`. On the public
//! listener the cap counts connections until they are upgraded (a WebSocket
//! session then holds a `max_connections` slot instead); on the management and
//! metrics listeners it counts every connection. A connection over a cap is
//! closed at once, before a byte is read, and counted in
//! `sockgate_listener_refused_total{listener, reason}`.
//!
//! Per-address counts live in a `DashMap` entry that exists only while the
//! address has a connection (removed when its count returns to zero), so the map
//! is bounded by the cap itself.

use std::net::IpAddr;
use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The listener holds its maximum.
    Listener,
    /// The source address holds its maximum.
    Address,
}

impl Full {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Full::Listener => "listener_full",
            Full::Address => "address_full",
        }
    }
}

/// The caps of one listener.
#[derive(Debug)]
pub struct ConnLimits {
    total: Arc<Semaphore>,
    per_address: usize,
    open: DashMap<IpAddr, usize>,
}

/// One admitted connection's slots; released on drop.
#[derive(Debug)]
pub struct ConnPermit {
    _total: OwnedSemaphorePermit,
    limits: Arc<ConnLimits>,
    ip: IpAddr,
}

impl ConnLimits {
    /// At most `total` connections, and `per_address` from one source address.
    pub fn new(total: usize, per_address: usize) -> Arc<ConnLimits> {
        Arc::new(ConnLimits {
            total: Arc::new(Semaphore::new(total)),
            per_address,
            open: DashMap::new(),
        })
    }

    /// Takes slots for a new connection from `ip`, if both caps allow.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnPermit, Full> {
        let total = Arc::clone(&self.total)
            .try_acquire_owned()
            .map_err(|_| Full::Listener)?;
        let mut open = self.open.entry(ip).or_insert(0);
        if *open >= self.per_address {
            return Err(Full::Address);
        }
        *open += 1;
        drop(open);
        Ok(ConnPermit {
            _total: total,
            limits: Arc::clone(self),
            ip,
        })
    }

    /// Connections from `ip` now (for tests and metrics).
    pub fn open_from(&self, ip: IpAddr) -> usize {
        self.open.get(&ip).map_or(0, |n| *n)
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        // Decrement, and remove the entry at zero, under the entry's lock.
        self.limits.open.remove_if_mut(&self.ip, |_, n| {
            *n -= 1;
            *n == 0
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_per_address_and_in_all_and_free_on_drop() {
        let limits = ConnLimits::new(3, 2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let a1 = limits.admit(a).unwrap();
        let _a2 = limits.admit(a).unwrap();
        assert_eq!(limits.admit(a).unwrap_err(), Full::Address);
        let _b1 = limits.admit(b).unwrap();
        assert_eq!(limits.admit(b).unwrap_err(), Full::Listener);
        drop(a1);
        assert_eq!(limits.open_from(a), 1);
        let _b2 = limits.admit(b).unwrap();
        assert_eq!(
            limits.open.len(),
            2,
            "one entry per address with connections"
        );
    }

    #[test]
    fn an_address_with_no_connections_has_no_entry() {
        let limits = ConnLimits::new(10, 10);
        let ip: IpAddr = "::1".parse().unwrap();
        drop(limits.admit(ip).unwrap());
        assert!(limits.open.is_empty());
    }
}
