use super::*;
use crate::plan::{Encoding, LinearParams};

fn value(shape: &[usize], protocol: Protocol) -> ValueInfo {
    ValueInfo {
        name: "v".into(),
        shape: shape.to_vec(),
        protocol,
        encoding: Encoding::Fixed { frac_bits: 16 },
    }
}

fn dense(out: usize) -> Op {
    Op::Dense {
        out_features: out,
        params: LinearParams {
            layer: "fc".into(),
            weight: "fc.weight".into(),
            bias: None,
            batchnorm: None,
        },
    }
}

#[test]
fn unsupported_pairs_are_typed_errors() {
    let x = value(&[10], Protocol::Gmw);
    let y = value(&[4], Protocol::Gmw);
    for p in [Protocol::Gmw, Protocol::Yao] {
        assert_eq!(
            step_cost(&dense(4), p, &[&x], &y, 1),
            Err(CostError::Unsupported {
                op: "dense",
                protocol: p
            })
        );
        assert!(step_cost(&Op::Mul, p, &[&x, &x], &x, 1).is_err());
    }
    let a = value(&[10], Protocol::Arith);
    for op in [
        Op::Relu,
        Op::Argmax,
        Op::Clamp { lo: -1, hi: 1 },
        Op::MaxPool {
            kernel: [2, 2],
            stride: [2, 2],
        },
    ] {
        let err = step_cost(&op, Protocol::Arith, &[&a], &a, 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{} cannot run in arith", op.name())
        );
    }
    for p in Protocol::ALL {
        let v = value(&[10], p);
        for op in [
            Op::Reshape,
            Op::AddConst { c: 3 },
            Op::Truncate { bits: 16 },
        ] {
            assert!(
                step_cost(&op, p, &[&v], &v, 1).is_ok(),
                "{} in {p}",
                op.name()
            );
        }
        assert!(step_cost(&Op::Add, p, &[&v, &v], &v, 1).is_ok());
    }
    assert_eq!(
        step_cost(&Op::Convert, Protocol::Gmw, &[&x], &x, 1),
        Err(CostError::NoConversion(Protocol::Gmw))
    );
    assert_eq!(
        step_cost(&Op::Add, Protocol::Arith, &[&a], &a, 1),
        Err(CostError::Operands {
            op: "add",
            expected: 2,
            got: 1
        })
    );
}

#[test]
fn arithmetic_costs_follow_the_protocols() {
    let x = value(&[784], Protocol::Arith);
    let y = value(&[100], Protocol::Arith);
    let c = step_cost(&dense(100), Protocol::Arith, &[&x], &y, 3).unwrap();
    assert_eq!(c.bytes_client_to_server, 8 * 784 * 3 + 5);
    assert_eq!(c.bytes_server_to_client, 0);
    assert_eq!(c.ahead_of_query_bytes, 8 * 784 * 100 + 5);
    assert_eq!(c.dealer_bytes, 8 * 100 * 3);
    let t = step_cost(&Op::Truncate { bits: 16 }, Protocol::Arith, &[&y], &y, 2).unwrap();
    assert_eq!((t.rounds, t.bytes_server_to_client), (1, 8 * 200 + 5));
    let m = step_cost(&Op::Square, Protocol::Arith, &[&y], &y, 1).unwrap();
    assert_eq!(m.bytes_client_to_server, 8 * 100 + 5);
    let yv = value(&[100], Protocol::Yao);
    let r = step_cost(&Op::Relu, Protocol::Yao, &[&yv], &yv, 1).unwrap();
    assert_eq!(r.rounds, 0);
    assert_eq!(r.ahead_of_query_bytes, 32 * 63 * 100 + 5);
}

#[test]
fn timeline_merges_adjacent_flights_like_the_channel() {
    let mut t = traffic::Timeline::new();
    // A linear layer's masked activations, then the A→Y flips of its
    // output: two client messages without a receive between, one flight.
    let x = value(&[16], Protocol::Arith);
    let h = value(&[4], Protocol::Arith);
    let fc = step_cost(&dense(4), Protocol::Arith, &[&x], &h, 1).unwrap();
    t.add(&fc, Pattern::ClientToServer);
    let a2y = convert::cost(Conversion::A2Y, 4, 0);
    t.add(&a2y, Pattern::OtRoundTrip);
    let m = t.mark();
    assert_eq!(m.client.rounds, 1);
    assert_eq!(m.client.messages_sent, 2);
    assert_eq!(m.server.rounds, 1);
    assert_eq!(m.server.messages_sent, 1);
    assert_eq!(
        m.client.bytes_sent,
        fc.bytes_client_to_server + a2y.bytes_client_to_server
    );
    assert_eq!(m.client.bytes_received, a2y.bytes_server_to_client);
}

#[test]
fn timeline_counts_online_messages_only() {
    // A Y circuit and a Y reveal to the client send everything ahead of
    // the query: nothing is left for the online timeline.
    let mut t = traffic::Timeline::new();
    let yv = value(&[8], Protocol::Yao);
    let relu = step_cost(&Op::Relu, Protocol::Yao, &[&yv], &yv, 1).unwrap();
    assert!(relu.ahead_of_query_bytes > 0);
    t.add(&relu, Pattern::ServerToClient);
    t.add(
        &reveal_cost(Protocol::Yao, Party::Client, 8),
        Pattern::of_reveal(Protocol::Yao, Party::Client),
    );
    let m = t.mark();
    assert_eq!(m, Traffic::default());
}

/// A plan file is outside input: a pooling window whose area overflows
/// `usize` is a shape error, not an arithmetic-overflow panic.
#[test]
fn an_overflowing_pool_window_is_a_shape_error() {
    let x = value(&[1, 4, 4], Protocol::Gmw);
    let y = value(&[1, 1, 1], Protocol::Gmw);
    let op = Op::MaxPool {
        kernel: [1 << 33, 1 << 33],
        stride: [1, 1],
    };
    for p in [Protocol::Gmw, Protocol::Yao] {
        let err = step_cost(&op, p, &[&x], &y, 1).unwrap_err();
        assert_eq!(
            err,
            CostError::Shape("maxpool with a 8589934592×8589934592 window (too large)".into())
        );
    }
}
