//! The shaper delays and throttles real sockets. Timing assertions are
//! lower bounds only (a loaded machine may always be slower, never faster),
//! so these tests cannot flake on a busy machine.

use super::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// An upstream that accepts one connection and runs `f` on it.
fn upstream<T: Send + 'static>(
    f: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (String, std::thread::JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        f(stream)
    });
    (addr, handle)
}

fn link(rtt_ms: u64, bw: u64) -> LinkProfile {
    LinkProfile {
        rtt: Duration::from_millis(rtt_ms),
        bandwidth_bps: bw,
    }
}

#[test]
fn serialization_time_is_bits_over_bandwidth() {
    let l = link(50, 100_000_000);
    assert_eq!(l.one_way(), Duration::from_millis(25));
    assert_eq!(l.serialization(12_500_000), Duration::from_secs(1));
    assert_eq!(l.serialization(0), Duration::ZERO);
    assert_eq!(l.to_string(), "50 ms RTT, 100 Mbit/s");
}

#[test]
fn a_message_arrives_no_earlier_than_half_the_round_trip() {
    let (addr, server) = upstream(|mut s| {
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        let arrived = Instant::now();
        s.write_all(b"world").unwrap();
        (buf, arrived)
    });
    let shaper = Shaper::start(&addr, link(60, 1_000_000_000)).unwrap();
    let mut c = TcpStream::connect(shaper.local_addr()).unwrap();
    let sent = Instant::now();
    c.write_all(b"hello").unwrap();
    let mut reply = [0u8; 5];
    c.read_exact(&mut reply).unwrap();
    let round_trip = sent.elapsed();
    let (got, arrived) = server.join().unwrap();
    assert_eq!(&got, b"hello");
    assert_eq!(&reply, b"world");
    assert!(
        arrived.duration_since(sent) >= Duration::from_millis(30),
        "one way took {:?}",
        arrived.duration_since(sent)
    );
    assert!(
        round_trip >= Duration::from_millis(60),
        "round trip {round_trip:?}"
    );
    let t = shaper.traffic();
    assert_eq!((t.connections, t.to_upstream, t.from_upstream), (1, 5, 5));
}

#[test]
fn throughput_is_limited_by_the_bandwidth_and_bytes_arrive_intact() {
    // 8 Mbit/s = 1 MB/s: 300 kB take at least 0.3 s.
    const LEN: usize = 300_000;
    let data: Vec<u8> = (0..LEN).map(|i| (i * 7 % 251) as u8).collect();
    let expected = data.clone();
    let (addr, server) = upstream(move |mut s| {
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        (got, Instant::now())
    });
    let l = link(2, 8_000_000);
    let shaper = Shaper::start(&addr, l).unwrap();
    let mut c = TcpStream::connect(shaper.local_addr()).unwrap();
    let start = Instant::now();
    c.write_all(&data).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let (got, done) = server.join().unwrap();
    assert_eq!(got, expected);
    let elapsed = done.duration_since(start);
    let floor = l.one_way() + l.serialization(LEN);
    assert!(
        elapsed >= floor,
        "{LEN} B took {elapsed:?}, the link allows no less than {floor:?}"
    );
    assert_eq!(shaper.traffic().to_upstream, LEN as u64);
}

#[test]
fn both_directions_close_cleanly() {
    let (addr, server) = upstream(|mut s| {
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        s.write_all(&got).unwrap();
        // Dropping closes the upstream side.
    });
    let shaper = Shaper::start(&addr, link(4, 1_000_000_000)).unwrap();
    let mut c = TcpStream::connect(shaper.local_addr()).unwrap();
    c.write_all(b"ping").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"ping");
    server.join().unwrap();
}

#[test]
fn an_unreachable_upstream_closes_the_connection() {
    // Reserve a port, then free it: nothing listens there.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let shaper = Shaper::start(&addr, link(2, 1_000_000_000)).unwrap();
    let mut c = TcpStream::connect(shaper.local_addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 1];
    let n = c.read(&mut buf);
    assert!(matches!(n, Ok(0)) || n.is_err(), "got {n:?}");
}

#[test]
fn bad_settings_are_refused() {
    let err = Shaper::start("127.0.0.1:1", link(2, 0)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the emulated link needs a bandwidth of at least 1 bit/s"
    );
    let err = Shaper::start("not an address", link(2, 1000)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the link shaper's upstream `not an address` is not an address"
    );
}
