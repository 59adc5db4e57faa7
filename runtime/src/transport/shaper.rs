//! WAN emulation on one machine: a shaping relay between two TCP endpoints.
//!
//! A [`Shaper`] listens on a loopback port and forwards every connection it
//! accepts to an upstream address (the server), holding each chunk of bytes
//! back the way a link of round-trip time `rtt` and bandwidth `bw` would:
//! a chunk of `n` bytes that arrives at time `a` is delivered at
//!
//! ```text
//! deliver(chunk) = max(a + rtt/2, deliver(previous chunk)) + 8·n / bw
//! ```
//!
//! i.e. one-way propagation delay of half the round trip, then serialization
//! at `bw` behind whatever the link is still carrying in that direction
//! (a FIFO queue, store-and-forward per chunk). Each direction has its own
//! queue, so the link is full duplex, as the cost model's `wan` profile
//! (50 ms, 100 Mbit/s) assumes.
//!
//! Why a relay rather than a wrapper around [`super::Channel`]: it shapes the
//! real bytes on the wire, whatever runs over the socket (plain frames, TLS
//! records, the session request), and the parties' code is exactly the code
//! that runs between two machines. Each direction has a reader thread that
//! timestamps chunks as they arrive and computes their delivery time, and a
//! writer thread that sleeps until that time and writes; timestamping never
//! waits for a delivery, so a second message sent while the first is still
//! "in flight" is not delayed twice.
//!
//! This is an emulation: it adds delay and limits throughput, it does not
//! lose, reorder or corrupt packets, and the CPU the relay uses is the
//! machine's. Outputs that use it say so.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Largest chunk read (and delivered) at once.
const CHUNK: usize = 1 << 16;

/// How often the accept loop checks whether the shaper was stopped.
const ACCEPT_POLL: Duration = Duration::from_millis(2);

/// The emulated link: round-trip time and bandwidth (each direction).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkProfile {
    /// Round-trip time; each message is delayed by half of it.
    pub rtt: Duration,
    /// Bandwidth of each direction, bits per second (at least 1).
    pub bandwidth_bps: u64,
}

impl LinkProfile {
    /// The one-way propagation delay, `rtt / 2`.
    pub fn one_way(&self) -> Duration {
        self.rtt / 2
    }

    /// Time to push `bytes` through the link at its bandwidth, `8·bytes / bw`.
    pub fn serialization(&self, bytes: usize) -> Duration {
        let nanos = (bytes as u128 * 8 * 1_000_000_000) / u128::from(self.bandwidth_bps.max(1));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

impl std::fmt::Display for LinkProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ms RTT, {} Mbit/s",
            self.rtt.as_secs_f64() * 1e3,
            self.bandwidth_bps as f64 / 1e6
        )
    }
}

/// Why a shaper could not start.
#[derive(Debug, thiserror::Error)]
pub enum ShaperError {
    /// The listening socket could not be opened.
    #[error("the link shaper cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: String,
        /// The OS error.
        source: io::Error,
    },
    /// The upstream address does not resolve.
    #[error("the link shaper's upstream `{0}` is not an address")]
    Upstream(String),
    /// A bandwidth of zero.
    #[error("the emulated link needs a bandwidth of at least 1 bit/s")]
    ZeroBandwidth,
    /// Another I/O failure while setting up.
    #[error("link shaper I/O error: {0}")]
    Io(#[from] io::Error),
}

/// Bytes the shaper carried, by direction, over all its connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShapedTraffic {
    /// Connections accepted.
    pub connections: u64,
    /// Bytes from the connecting side (the client) to upstream.
    pub to_upstream: u64,
    /// Bytes from upstream (the server) back to the connecting side.
    pub from_upstream: u64,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    to_upstream: AtomicU64,
    from_upstream: AtomicU64,
}

/// A running shaping relay; stops accepting when dropped (connections
/// already accepted run to their end).
pub struct Shaper {
    addr: SocketAddr,
    link: LinkProfile,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Shaper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shaper")
            .field("addr", &self.addr)
            .field("link", &self.link)
            .finish()
    }
}

impl Shaper {
    /// Listen on a free loopback port and relay every connection to
    /// `upstream` through the emulated `link`.
    pub fn start(upstream: &str, link: LinkProfile) -> Result<Shaper, ShaperError> {
        Shaper::bind("127.0.0.1:0", upstream, link)
    }

    /// Listen on `listen` and relay every connection to `upstream`.
    pub fn bind(listen: &str, upstream: &str, link: LinkProfile) -> Result<Shaper, ShaperError> {
        if link.bandwidth_bps == 0 {
            return Err(ShaperError::ZeroBandwidth);
        }
        let upstream_addr = upstream
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| ShaperError::Upstream(upstream.to_string()))?;
        let listener = TcpListener::bind(listen).map_err(|source| ShaperError::Listen {
            addr: listen.to_string(),
            source,
        })?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let accept = {
            let (stop, counters) = (Arc::clone(&stop), Arc::clone(&counters));
            std::thread::Builder::new()
                .name("chimera-shaper-accept".into())
                .spawn(move || accept_loop(&listener, upstream_addr, link, &stop, &counters))?
        };
        Ok(Shaper {
            addr,
            link,
            stop,
            counters,
            accept: Some(accept),
        })
    }

    /// The address clients connect to instead of the upstream's.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The emulated link.
    pub fn link(&self) -> LinkProfile {
        self.link
    }

    /// Bytes carried so far.
    pub fn traffic(&self) -> ShapedTraffic {
        ShapedTraffic {
            connections: self.counters.connections.load(Ordering::SeqCst),
            to_upstream: self.counters.to_upstream.load(Ordering::SeqCst),
            from_upstream: self.counters.from_upstream.load(Ordering::SeqCst),
        }
    }
}

impl Drop for Shaper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    upstream: SocketAddr,
    link: LinkProfile,
    stop: &AtomicBool,
    counters: &Arc<Counters>,
) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                counters.connections.fetch_add(1, Ordering::SeqCst);
                let counters = Arc::clone(counters);
                // A connection that cannot be relayed is closed, so the
                // connecting side sees the end of the stream at once.
                let _ = std::thread::Builder::new()
                    .name("chimera-shaper-conn".into())
                    .spawn(move || relay(client, upstream, link, &counters));
            }
            // Nothing to accept yet (or a transient accept failure): poll again.
            Err(_) => std::thread::sleep(ACCEPT_POLL),
        }
    }
}

/// Relay one connection in both directions.
fn relay(client: TcpStream, upstream: SocketAddr, link: LinkProfile, counters: &Arc<Counters>) {
    let setup = || -> io::Result<[TcpStream; 4]> {
        client.set_nonblocking(false)?;
        client.set_nodelay(true)?;
        let server = TcpStream::connect(upstream)?;
        server.set_nodelay(true)?;
        Ok([
            client.try_clone()?,
            server.try_clone()?,
            server,
            client.try_clone()?,
        ])
    };
    let Ok([c_read, s_write, s_read, c_write]) = setup() else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let up = {
        let counters = Arc::clone(counters);
        direction(c_read, s_write, link, move |n| {
            counters.to_upstream.fetch_add(n, Ordering::SeqCst);
        })
    };
    let down = {
        let counters = Arc::clone(counters);
        direction(s_read, c_write, link, move |n| {
            counters.from_upstream.fetch_add(n, Ordering::SeqCst);
        })
    };
    for handles in [up, down].into_iter().flatten() {
        for h in handles {
            let _ = h.join();
        }
    }
}

/// A chunk in flight, or the end of one direction's stream.
enum Event {
    Chunk { data: Vec<u8>, due: Instant },
    End,
}

/// Start the reader and writer threads of one direction.
fn direction(
    mut src: TcpStream,
    mut dst: TcpStream,
    link: LinkProfile,
    count: impl Fn(u64) + Send + 'static,
) -> Option<[JoinHandle<()>; 2]> {
    let (tx, rx) = channel::<Event>();
    let src_for_writer = src.try_clone().ok()?;
    let reader = std::thread::Builder::new()
        .name("chimera-shaper-read".into())
        .spawn(move || read_side(&mut src, &tx, link))
        .ok()?;
    let writer = std::thread::Builder::new()
        .name("chimera-shaper-write".into())
        .spawn(move || write_side(&rx, &mut dst, &src_for_writer, count))
        .ok()?;
    Some([reader, writer])
}

/// Timestamp every chunk as it arrives and schedule its delivery.
fn read_side(src: &mut TcpStream, tx: &Sender<Event>, link: LinkProfile) {
    let mut link_free = Instant::now();
    let mut buf = vec![0u8; CHUNK];
    loop {
        match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let arrival = Instant::now();
                let start = (arrival + link.one_way()).max(link_free);
                let due = start + link.serialization(n);
                link_free = due;
                if tx
                    .send(Event::Chunk {
                        data: buf[..n].to_vec(),
                        due,
                    })
                    .is_err()
                {
                    return;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let _ = tx.send(Event::End);
}

/// Deliver each chunk at its due time; pass the end of the stream (or a
/// failure) on to the other side.
fn write_side(rx: &Receiver<Event>, dst: &mut TcpStream, src: &TcpStream, count: impl Fn(u64)) {
    for event in rx.iter() {
        match event {
            Event::Chunk { data, due } => {
                sleep_until(due);
                if dst.write_all(&data).is_err() {
                    // The receiver is gone: end both streams so the sender
                    // sees the failure instead of writing into the void.
                    let _ = dst.shutdown(Shutdown::Both);
                    let _ = src.shutdown(Shutdown::Both);
                    return;
                }
                count(data.len() as u64);
            }
            Event::End => break,
        }
    }
    let _ = dst.shutdown(Shutdown::Write);
}

fn sleep_until(due: Instant) {
    loop {
        let now = Instant::now();
        if now >= due {
            return;
        }
        std::thread::sleep(due - now);
    }
}

#[cfg(test)]
mod tests;
