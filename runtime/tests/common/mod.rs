//! Helpers shared by the runtime's two-party tests (and the conversion
//! benchmark): a connected pair of channels, both parties run on two
//! threads, and XOR sharing.

#![allow(dead_code)] // each test binary uses a different subset

use chimera_runtime::dealer::PartyMaterial;
use chimera_runtime::prg::{Prg, Seed};
use chimera_runtime::transport::{memory_pair, Channel, ChannelConfig, ChannelStats, TcpChannel};
use std::net::TcpListener;
use std::thread;

/// A boxed channel of either kind.
pub type Ch = Box<dyn Channel>;

/// A connected (server, client) pair of channels: loopback TCP if `tcp`, else in memory.
pub fn channels(tcp: bool) -> (Ch, Ch) {
    if tcp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = thread::spawn(move || {
            TcpChannel::connect(addr, ChannelConfig::default()).expect("connect")
        });
        let server = TcpChannel::accept(&listener, ChannelConfig::default()).expect("accept");
        (Box::new(server), Box::new(client.join().expect("join")))
    } else {
        let (a, b) = memory_pair();
        (Box::new(a), Box::new(b))
    }
}

/// Run `server` here and `client` on a second thread, each with its channel and material: both results and both channel counters.
pub fn run_pair<R0, R1, C>(
    (mut c0, mut c1): (C, C),
    (mut m0, mut m1): (PartyMaterial, PartyMaterial),
    server: impl FnOnce(&mut C, &mut PartyMaterial) -> R0 + Send + 'static,
    client: impl FnOnce(&mut C, &mut PartyMaterial) -> R1 + Send + 'static,
) -> (R0, R1, ChannelStats, ChannelStats)
where
    R0: Send + 'static,
    R1: Send + 'static,
    C: Channel + 'static,
{
    let t = thread::spawn(move || {
        let r = client(&mut c1, &mut m1);
        (r, c1.stats())
    });
    let r0 = server(&mut c0, &mut m0);
    let s0 = c0.stats();
    let (r1, s1) = t.join().expect("client thread");
    (r0, r1, s0, s1)
}

/// `x` split into two XOR shares, the first drawn from `seed`.
pub fn xor_shares(x: &[u64], seed: u64) -> (Vec<u64>, Vec<u64>) {
    let s0 = Prg::new(&Seed::from_u64(seed)).u64s(x.len());
    let s1 = x.iter().zip(&s0).map(|(x, a)| x ^ a).collect();
    (s0, s1)
}

/// `x` split into two additive shares (mod 2^64), the first drawn from `seed`.
pub fn additive(x: &[u64], seed: u64) -> (Vec<u64>, Vec<u64>) {
    let s0 = Prg::new(&Seed::from_u64(seed)).u64s(x.len());
    let s1 = x.iter().zip(&s0).map(|(x, a)| x.wrapping_sub(*a)).collect();
    (s0, s1)
}
