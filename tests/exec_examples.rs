//! The secure executor on every example network, compiled by the real
//! compiler: `simulate` (both parties on threads, in-memory channel, trusted
//! dealer) equals the plaintext fixed-point oracle — scores within
//! `oracle::deviation_bounds` (bit for bit when the bound is 0, i.e. every
//! truncation runs in B/Y), labels identical wherever the oracle's two best
//! scores are further apart than twice the bound — and the traffic both
//! channels measured equals `cost::plan_cost` exactly, frame for frame and
//! flight for flight. netA, netB and netD use their trained weights and
//! bundled MNIST images; the others seeded random weights and inputs
//! (the generator of `tests/oracle_examples.rs`). netD also runs over
//! loopback TCP.

mod common;

use chimera_runtime::cost::{demand, plan_cost};
use chimera_runtime::dealer::{SessionId, TrustedDealer};
use chimera_runtime::exec::{run_client, run_server, simulate};
use chimera_runtime::prg::Seed;
use chimera_runtime::transport::{ChannelConfig, TcpChannel};
use common::check::{assert_matches_oracle, setup};

fn check_example(stem: &str, seed: u64, rows: usize) {
    let (plan, bound, inputs) = setup(stem, seed, rows);
    let rows = inputs[0].rows;
    let sim = simulate(&plan, &bound, &inputs, Some(Seed::from_u64(seed))).unwrap();
    assert_matches_oracle(stem, &plan, &bound, &inputs, &sim.client.outputs);
    let p = &sim.predicted;
    assert_eq!(sim.server.stats.session, p.session.server, "{stem}");
    assert_eq!(sim.client.stats.session, p.session.client, "{stem}");
    assert_eq!(sim.server.stats.query, p.query.server, "{stem}");
    assert_eq!(sim.client.stats.query, p.query.client, "{stem}");
    let q = &sim.client.stats.query;
    println!(
        "{stem} batch {rows}: query {} B sent by the client, {} B by the server, \
         {} client / {} server flights; session {} B; online {:.1} ms",
        q.bytes_sent,
        q.bytes_received,
        q.rounds,
        sim.server.stats.query.rounds,
        sim.server.stats.session.bytes_sent + sim.client.stats.session.bytes_sent,
        sim.client.stats.online_seconds * 1e3
    );
}

#[test]
fn net_d_matches_the_oracle_and_the_cost() {
    check_example("netD_chameleon", 1, 16);
}

#[test]
fn net_a_matches_the_oracle_and_the_cost() {
    check_example("netA_secureml", 2, 8);
}

#[test]
fn net_b_matches_the_oracle_and_the_cost() {
    check_example("netB_minionn", 3, 2);
}

#[test]
fn net_c_matches_the_oracle_and_the_cost() {
    check_example("netC_lenet", 4, 1);
}

#[test]
fn cryptonets_matches_the_oracle_and_the_cost() {
    check_example("cryptonets", 5, 4);
}

#[test]
fn resnet_block_matches_the_oracle_and_the_cost() {
    check_example("resnet_block", 6, 2);
}

#[test]
fn sigmoid_poly_matches_the_oracle_and_the_cost() {
    check_example("sigmoid_poly", 7, 4);
}

#[test]
fn cifar_minionn_matches_the_oracle_and_the_cost() {
    check_example("cifar_minionn", 8, 1);
}

#[test]
fn net_d_over_loopback_tcp() {
    let (plan, bound, inputs) = setup("netD_chameleon", 9, 4);
    let rows = inputs[0].rows;
    let need = demand(&plan, rows, 1).unwrap();
    let (mut m0, mut m1) =
        TrustedDealer::pair(plan.hash().unwrap(), SessionId([3; 16]), None, &need).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = ChannelConfig::default();
    let (server, client) = std::thread::scope(|s| {
        let h = s.spawn(|| {
            let mut ch = TcpChannel::accept(&listener, config).unwrap();
            run_server(&plan, &bound, &mut m0, &mut ch, rows)
        });
        let mut ch = TcpChannel::connect(addr, config).unwrap();
        let c = run_client(&plan, &inputs, &mut m1, &mut ch);
        (h.join().unwrap(), c)
    });
    let (server, client) = (server.unwrap(), client.unwrap());
    assert!(server.outputs.is_empty());
    assert_matches_oracle("netD_chameleon", &plan, &bound, &inputs, &client.outputs);
    let p = plan_cost(&plan, rows).unwrap();
    assert_eq!(server.stats.session, p.session.server);
    assert_eq!(client.stats.session, p.session.client);
    assert_eq!(server.stats.query, p.query.server);
    assert_eq!(client.stats.query, p.query.client);
}
