//! A misbehaving TCP proxy for fault-injection tests: it sits between a
//! client and a server, cuts each direction's byte stream into units
//! (Chimera frames for a plaintext link, TLS records for a TLS link — both
//! have a 5-byte header announcing the length) and, at the chosen unit,
//! drops the connection, delays, truncates, flips a byte, replays the unit
//! or injects bytes of its own. Everything else is forwarded unchanged.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the byte stream is cut into units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Chimera frames: `kind ‖ len (u32 LE) ‖ payload`.
    Chimera,
    /// TLS records: `type ‖ version (2) ‖ len (u16 BE) ‖ fragment`.
    Tls,
}

/// A direction of traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Client → server.
    ToServer,
    /// Server → client.
    ToClient,
}

/// What goes wrong, at unit `unit` (counted from 0) of direction `dir`.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Close both connections instead of forwarding the unit.
    Drop { dir: Dir, unit: usize },
    /// Hold the unit back for this long, then forward it.
    Delay { dir: Dir, unit: usize, by: Duration },
    /// Forward only the first `keep` bytes of the unit, then close.
    Truncate { dir: Dir, unit: usize, keep: usize },
    /// Flip the lowest bit of the unit's byte at `offset` (from the unit start,
    /// clamped to its length).
    Flip {
        dir: Dir,
        unit: usize,
        offset: usize,
    },
    /// Forward the unit twice.
    Replay { dir: Dir, unit: usize },
    /// Send these bytes before the unit (e.g. a frame header announcing more
    /// than the plan allows), then the unit.
    Inject {
        dir: Dir,
        unit: usize,
        bytes: Vec<u8>,
    },
}

impl Fault {
    fn dir(&self) -> Dir {
        match self {
            Fault::Drop { dir, .. }
            | Fault::Delay { dir, .. }
            | Fault::Truncate { dir, .. }
            | Fault::Flip { dir, .. }
            | Fault::Replay { dir, .. }
            | Fault::Inject { dir, .. } => *dir,
        }
    }

    fn unit(&self) -> usize {
        match self {
            Fault::Drop { unit, .. }
            | Fault::Delay { unit, .. }
            | Fault::Truncate { unit, .. }
            | Fault::Flip { unit, .. }
            | Fault::Replay { unit, .. }
            | Fault::Inject { unit, .. } => *unit,
        }
    }
}

/// A running proxy for one connection.
pub struct Proxy {
    /// Where the client should connect.
    pub addr: String,
    /// Units seen so far per direction (to server, to client).
    pub units: Arc<Mutex<[usize; 2]>>,
}

impl Proxy {
    /// Listen on a free loopback port; the first connection is relayed to
    /// `upstream` with `fault` applied.
    pub fn start(upstream: &str, framing: Framing, fault: Option<Fault>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let upstream = upstream.to_string();
        let units = Arc::new(Mutex::new([0usize; 2]));
        let counts = Arc::clone(&units);
        std::thread::spawn(move || {
            let Ok((client, _)) = listener.accept() else {
                return;
            };
            let Ok(server) = TcpStream::connect(&upstream) else {
                return;
            };
            for (from, to, dir) in [
                (client.try_clone(), server.try_clone(), Dir::ToServer),
                (server.try_clone(), client.try_clone(), Dir::ToClient),
            ] {
                let (Ok(from), Ok(to)) = (from, to) else {
                    return;
                };
                let fault = fault.clone().filter(|f| f.dir() == dir);
                let counts = Arc::clone(&counts);
                std::thread::spawn(move || pump(from, to, dir, framing, fault, counts));
            }
        });
        Proxy { addr, units }
    }
}

/// Read one unit (header and body); `None` at the end of the stream.
fn read_unit(from: &mut TcpStream, framing: Framing) -> Option<Vec<u8>> {
    let mut unit = vec![0u8; 5];
    from.read_exact(&mut unit).ok()?;
    let len = match framing {
        Framing::Chimera => u32::from_le_bytes([unit[1], unit[2], unit[3], unit[4]]) as usize,
        Framing::Tls => u16::from_be_bytes([unit[3], unit[4]]) as usize,
    };
    // A header the proxy cannot follow is forwarded as is, with what follows.
    let len = len.min(1 << 26);
    let mut body = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match from.read(&mut body[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    body.truncate(got);
    unit.extend_from_slice(&body);
    Some(unit)
}

fn close(a: &TcpStream, b: &TcpStream) {
    let _ = a.shutdown(Shutdown::Both);
    let _ = b.shutdown(Shutdown::Both);
}

fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    dir: Dir,
    framing: Framing,
    fault: Option<Fault>,
    counts: Arc<Mutex<[usize; 2]>>,
) {
    let mut index = 0usize;
    while let Some(mut unit) = read_unit(&mut from, framing) {
        if let Ok(mut c) = counts.lock() {
            c[dir as usize] += 1;
        }
        let hit = fault.as_ref().filter(|f| f.unit() == index);
        index += 1;
        let ok = match hit {
            None => to.write_all(&unit).is_ok(),
            Some(Fault::Drop { .. }) => {
                close(&from, &to);
                return;
            }
            Some(Fault::Delay { by, .. }) => {
                std::thread::sleep(*by);
                to.write_all(&unit).is_ok()
            }
            Some(Fault::Truncate { keep, .. }) => {
                let keep = (*keep).min(unit.len().saturating_sub(1));
                let _ = to.write_all(&unit[..keep]);
                let _ = to.flush();
                close(&from, &to);
                return;
            }
            Some(Fault::Flip { offset, .. }) => {
                let at = (*offset).min(unit.len() - 1);
                unit[at] ^= 1;
                to.write_all(&unit).is_ok()
            }
            Some(Fault::Replay { .. }) => {
                to.write_all(&unit).is_ok() && to.write_all(&unit).is_ok()
            }
            Some(Fault::Inject { bytes, .. }) => {
                to.write_all(bytes).is_ok() && to.write_all(&unit).is_ok()
            }
        };
        if !ok {
            break;
        }
    }
    // Pass the end of the stream on.
    let _ = to.shutdown(Shutdown::Write);
}
