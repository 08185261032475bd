//! A loopback TCP relay a test can cut (every connection closed, new ones
//! closed at once), stall (every connection closed, new ones accepted and
//! never answered: a network partition, not a refusal), freeze (nothing
//! more reaches the server, and no connection is closed: a server that
//! stops answering in the middle of a transaction) and restore: a
//! dependency (PostgreSQL, the KMS emulator) going away and coming back at
//! the same address, without losing its state.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The relay; its thread lives as long as the test process.
pub struct Relay {
    pub port: u16,
    cut: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    /// Client bytes are held (not sent on) while set.
    frozen: Arc<AtomicBool>,
    /// The bytes whose next appearance from a client sets `frozen`.
    freeze_after: Arc<Mutex<Option<Vec<u8>>>>,
    /// Server bytes are held while set.
    replies_frozen: Arc<AtomicBool>,
    /// The bytes whose next appearance from a client sets `replies_frozen`.
    freeze_replies_at: Arc<Mutex<Option<Vec<u8>>>>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    /// Relays `127.0.0.1:<port>` to `upstream` (`host:port`).
    pub fn start(upstream: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let stalled = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let frozen = Arc::new(AtomicBool::new(false));
        let freeze_after: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
        let (c, st, o) = (cut.clone(), stalled.clone(), open.clone());
        let (fr, fa) = (frozen.clone(), freeze_after.clone());
        let replies_frozen = Arc::new(AtomicBool::new(false));
        let freeze_replies_at: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
        let (rf, ra) = (replies_frozen.clone(), freeze_replies_at.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if c.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                if st.load(Ordering::SeqCst)
                    || fr.load(Ordering::SeqCst)
                    || rf.load(Ordering::SeqCst)
                {
                    // Held open, never read or answered.
                    o.lock().unwrap().push(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                {
                    let mut open = o.lock().unwrap();
                    open.push(client.try_clone().unwrap());
                    open.push(server.try_clone().unwrap());
                }
                for (mut from, mut to, from_client) in [
                    (
                        client.try_clone().unwrap(),
                        server.try_clone().unwrap(),
                        true,
                    ),
                    (server, client, false),
                ] {
                    let (frozen, freeze_after) = (fr.clone(), fa.clone());
                    let (replies_frozen, freeze_replies_at) = (rf.clone(), ra.clone());
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 {
                                break;
                            }
                            let hold = if from_client {
                                // Before this chunk goes on, so that not
                                // even the first byte of its answer passes.
                                let mut at = freeze_replies_at.lock().unwrap();
                                if at
                                    .as_ref()
                                    .is_some_and(|p| buf[..n].windows(p.len()).any(|w| w == p))
                                {
                                    *at = None;
                                    replies_frozen.store(true, Ordering::SeqCst);
                                }
                                &frozen
                            } else {
                                &replies_frozen
                            };
                            while hold.load(Ordering::SeqCst) {
                                std::thread::sleep(std::time::Duration::from_millis(10));
                            }
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                            if from_client {
                                let mut after = freeze_after.lock().unwrap();
                                let hit = after
                                    .as_ref()
                                    .is_some_and(|p| buf[..n].windows(p.len()).any(|w| w == p));
                                if hit {
                                    *after = None;
                                    frozen.store(true, Ordering::SeqCst);
                                }
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Relay {
            port,
            cut,
            stalled,
            frozen,
            freeze_after,
            replies_frozen,
            freeze_replies_at,
            open,
        }
    }

    /// Relays the next client chunk that contains `pattern` (e.g. a
    /// PostgreSQL `COMMIT`), but from then on no answer reaches a client
    /// (the server still gets and does what was sent: a commit made whose
    /// answer is lost), and new connections are accepted and never
    /// answered, until [`Relay::restore`].
    pub fn freeze_replies_at(&self, pattern: &[u8]) {
        *self.freeze_replies_at.lock().unwrap() = Some(pattern.to_vec());
    }

    /// Relays the next client chunk that contains `pattern` (e.g. a
    /// PostgreSQL `BEGIN`), then freezes: no client byte reaches the
    /// server any more, every connection stays open, and new ones are
    /// accepted and never answered, until [`Relay::restore`].
    pub fn freeze_after(&self, pattern: &[u8]) {
        *self.freeze_after.lock().unwrap() = Some(pattern.to_vec());
    }

    /// Whether a [`Relay::freeze_after`] or [`Relay::freeze_replies_at`]
    /// has struck.
    pub fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::SeqCst) || self.replies_frozen.load(Ordering::SeqCst)
    }

    /// Closes every relayed connection; new ones are accepted and then
    /// left unanswered until [`Relay::restore`].
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Closes every relayed connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Relays again (closing the connections held by a stall).
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
        self.stalled.store(false, Ordering::SeqCst);
        *self.freeze_after.lock().unwrap() = None;
        self.frozen.store(false, Ordering::SeqCst);
        *self.freeze_replies_at.lock().unwrap() = None;
        self.replies_frozen.store(false, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}
