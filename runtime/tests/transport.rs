//! The channel implementations against each other: same bytes, same rounds,
//! no deadlock on simultaneous large sends, clear errors on a vanished or
//! misbehaving peer.

use chimera_runtime::transport::{
    memory_pair, memory_pair_with, Channel, ChannelConfig, ChannelStats, FrameKind, TcpChannel,
    TransportError, HEADER_LEN,
};
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

fn tcp_pair_with(config: ChannelConfig) -> (TcpChannel, TcpChannel) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = thread::spawn(move || TcpChannel::connect(addr, config).unwrap());
    let server = TcpChannel::accept(&listener, config).unwrap();
    (server, client.join().unwrap())
}

fn tcp_pair() -> (TcpChannel, TcpChannel) {
    tcp_pair_with(ChannelConfig::default())
}

/// A fixed conversation: an exchange, a one-way message with an answer, then
/// two exchanges back to back. Returns both parties' counters.
fn conversation<C: Channel + 'static>(mut a: C, mut b: C) -> (ChannelStats, ChannelStats) {
    let tb = thread::spawn(move || {
        assert_eq!(b.exchange_u64s(&[4, 5, 6], 3).unwrap(), vec![1, 2, 3]);
        assert_eq!(b.recv().unwrap(), b"question");
        b.send_u128s(&[u128::MAX, 7]).unwrap();
        b.send(b"two messages in one flight").unwrap();
        for i in 0..2u64 {
            assert_eq!(b.exchange_u64s(&[i], 1).unwrap(), vec![10 + i]);
        }
        b.stats()
    });
    assert_eq!(a.exchange_u64s(&[1, 2, 3], 3).unwrap(), vec![4, 5, 6]);
    a.send(b"question").unwrap();
    assert_eq!(a.recv_u128s(2).unwrap(), vec![u128::MAX, 7]);
    assert_eq!(a.recv().unwrap(), b"two messages in one flight");
    for i in 0..2u64 {
        assert_eq!(a.exchange_u64s(&[10 + i], 1).unwrap(), vec![i]);
    }
    (a.stats(), tb.join().unwrap())
}

#[test]
fn memory_and_tcp_count_identically() {
    let (m0, m1) = memory_pair();
    let mem = conversation(m0, m1);
    let (t0, t1) = tcp_pair();
    let tcp = conversation(t0, t1);
    assert_eq!(mem, tcp);
    let (a, b) = mem;
    // a: exchange (1), question (2), exchanges (3, 4).
    assert_eq!(a.rounds, 4);
    // b: exchange (1); the answer's two frames and the first exchange's send
    // follow each other without a receive between them: one flight (2);
    // second exchange (3).
    assert_eq!(b.rounds, 3);
    assert_eq!(a.messages_sent, 4);
    assert_eq!(b.messages_sent, 5);
    let a_bytes = (HEADER_LEN + 24) + (HEADER_LEN + 8) + 2 * (HEADER_LEN + 8);
    assert_eq!(a.bytes_sent, a_bytes as u64);
    assert_eq!(b.bytes_received, a.bytes_sent);
    assert_eq!(a.bytes_received, b.bytes_sent);
}

#[test]
fn simultaneous_large_sends_do_not_deadlock() {
    let n = 4 << 20; // 32 MiB each way, far beyond socket buffers
    let (mut a, mut b) = tcp_pair();
    let mine: Vec<u64> = (0..n as u64).collect();
    let theirs: Vec<u64> = (0..n as u64).map(|x| !x).collect();
    let (m2, t2) = (mine.clone(), theirs.clone());
    let tb = thread::spawn(move || b.exchange_u64s(&t2, n).unwrap() == m2);
    assert_eq!(a.exchange_u64s(&mine, n).unwrap(), theirs);
    assert!(tb.join().unwrap());
}

#[test]
fn peer_that_disconnects_gives_peer_closed() {
    let (mut a, b) = tcp_pair();
    drop(b);
    let start = Instant::now();
    assert!(matches!(a.recv_u64s(1), Err(TransportError::PeerClosed)));
    assert!(start.elapsed() < Duration::from_secs(5));
    let (mut m0, m1) = memory_pair();
    drop(m1);
    assert!(matches!(m0.recv(), Err(TransportError::PeerClosed)));
    assert!(matches!(m0.send(b"x"), Err(TransportError::PeerClosed)));
}

#[test]
fn tcp_peer_that_vanishes_mid_run_is_detected_on_send_too() {
    let (mut a, b) = tcp_pair();
    drop(b);
    // The first sends may still be queued; within a few attempts the
    // writer hits the closed socket and the error surfaces.
    let mut saw = None;
    for _ in 0..50 {
        if let Err(e) = a.send_u64s(&[0; 1024]).and_then(|_| a.flush()) {
            saw = Some(e);
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    assert!(matches!(saw, Some(TransportError::PeerClosed)), "{saw:?}");
}

#[test]
fn silence_gives_timeout_not_a_hang() {
    let config = ChannelConfig {
        read_timeout: Duration::from_millis(100),
        ..ChannelConfig::default()
    };
    let (mut a, _b) = tcp_pair_with(config);
    assert!(matches!(a.recv(), Err(TransportError::Timeout(_))));
    let (mut m0, _m1) = memory_pair_with(config);
    assert!(matches!(m0.recv(), Err(TransportError::Timeout(_))));
}

fn misbehaved(r: Result<impl std::fmt::Debug, TransportError>) -> String {
    match r {
        Err(TransportError::PeerMisbehaved(m)) => m,
        other => panic!("expected PeerMisbehaved, got {other:?}"),
    }
}

#[test]
fn garbage_from_the_peer_is_rejected() {
    let config = ChannelConfig {
        max_frame: 1 << 10,
        read_timeout: Duration::from_secs(5),
    };
    // Unknown kind.
    let (mut a, mut b) = tcp_pair_with(config);
    b.send_raw(vec![0x99, 0, 0, 0, 0]).unwrap();
    assert_eq!(misbehaved(a.recv()), "unknown frame kind 0x99");
    // Oversized length.
    let (mut a, mut b) = tcp_pair_with(config);
    b.send_raw(vec![FrameKind::Bytes as u8, 0, 0, 0, 0x10])
        .unwrap();
    assert!(misbehaved(a.recv()).contains("exceeds the limit of 1024 bytes"));
    // Truncated payload: the peer closes halfway through a frame.
    let (mut a, mut b) = tcp_pair_with(config);
    b.send_raw(vec![FrameKind::U64s as u8, 16, 0, 0, 0, 1, 2, 3])
        .unwrap();
    drop(b);
    assert!(misbehaved(a.recv_u64s(2)).contains("truncated u64 words frame"));
    // Truncated header.
    let (mut a, mut b) = tcp_pair_with(config);
    b.send_raw(vec![FrameKind::U64s as u8, 16]).unwrap();
    drop(b);
    assert!(misbehaved(a.recv()).contains("after 2 header bytes"));
    // Wrong kind or count for what the protocol expects.
    let (mut a, mut b) = tcp_pair_with(config);
    b.send_u64s(&[1, 2, 3]).unwrap();
    b.send(b"hi").unwrap();
    assert_eq!(misbehaved(a.recv_u64s(2)), "expected 2 words, received 3");
    assert_eq!(
        misbehaved(a.recv_u64s(2)),
        "expected a u64 words frame, received a bytes frame"
    );
    // Trailing bytes inside one in-memory message.
    let (mut m0, mut m1) = memory_pair_with(config);
    m1.send_raw(vec![FrameKind::Bytes as u8, 1, 0, 0, 0, 42, 43])
        .unwrap();
    assert_eq!(
        misbehaved(m0.recv()),
        "1 trailing bytes after a bytes frame of 1 bytes"
    );
}

#[test]
fn abort_carries_the_reason() {
    let (mut m0, mut m1) = memory_pair();
    m1.abort("weights do not fit the plan");
    match m0.recv() {
        Err(TransportError::PeerAborted(m)) => assert_eq!(m, "weights do not fit the plan"),
        other => panic!("{other:?}"),
    }
    let (mut a, mut b) = tcp_pair();
    b.abort("bye");
    assert!(matches!(a.recv_u64s(1), Err(TransportError::PeerAborted(m)) if m == "bye"));
}

#[test]
fn refuses_to_send_oversized_frames() {
    let config = ChannelConfig {
        max_frame: 16,
        ..ChannelConfig::default()
    };
    let (mut m0, _m1) = memory_pair_with(config);
    assert!(matches!(
        m0.send(&[0; 17]),
        Err(TransportError::TooLarge { len: 17, max: 16 })
    ));
    assert_eq!(m0.stats(), ChannelStats::default());
}
