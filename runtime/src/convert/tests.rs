//! Cost functions pinned on the 980-element ReLU layer and per element.

use super::*;
use crate::circuit::{library, OpCost};

fn row(name: &str, c: &OpCost) -> String {
    format!(
        "{name:<28} rounds {:>2}  s2c {:>9}  c2s {:>9}  ahead {:>9}  dealer {:>9}  ands {:>7}\n",
        c.rounds,
        c.bytes_server_to_client,
        c.bytes_client_to_server,
        c.ahead_of_query_bytes,
        c.dealer_bytes,
        c.and_gates
    )
}

#[test]
fn relu_layer_and_conversion_costs() {
    let n = 980;
    let relu = library::relu();
    let mut out = String::new();
    for kind in [
        Conversion::A2B,
        Conversion::B2A,
        Conversion::A2Y,
        Conversion::Y2A,
        Conversion::B2Y,
        Conversion::Y2B,
    ] {
        out += &row(&format!("{kind:?} n=980 f=16"), &cost(kind, n, 16));
    }
    let b = cost(Conversion::A2B, n, 16)
        + crate::gmw::cost(&relu.stats(), n)
        + cost(Conversion::B2A, n, 0);
    let y = cost(Conversion::A2Y, n, 16)
        + crate::yao::cost(&relu.stats(), n)
        + cost(Conversion::Y2A, n, 0);
    out += &row("relu layer 980 in B", &b);
    out += &row("relu layer 980 in Y", &y);
    insta::assert_snapshot!(out);
    assert_eq!(b.rounds, 9);
    assert_eq!(y.rounds, 2);
    assert_eq!(
        Conversion::between(crate::plan::Protocol::Yao, crate::plan::Protocol::Gmw),
        Some(Conversion::Y2B)
    );
    assert_eq!(circuit_cost(crate::plan::Protocol::Arith, &relu, n), None);
}
