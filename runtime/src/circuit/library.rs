//! The named circuits every protocol runs, one constructor each.
//!
//! Each takes the [`Style`] of adder it should use (log depth for GMW,
//! fewest ANDs for Yao; [`Style::for_protocol`] picks it) and returns a
//! finished [`Circuit`] whose input and output words are documented here.
//! The conversions ([`crate::convert`]) and the executor use these very
//! constructors, and the cost model reads their AND counts and depths.

use super::{Builder, Circuit, Style};
use crate::plan::Protocol;

impl Style {
    /// The adder family that suits a protocol: log depth for GMW (rounds
    /// per AND level), fewest ANDs for Yao (ciphertexts per AND).
    pub fn for_protocol(protocol: Protocol) -> Style {
        match protocol {
            Protocol::Gmw => Style::Depth,
            Protocol::Yao | Protocol::Arith => Style::Size,
        }
    }
}

fn suffix(style: Style) -> &'static str {
    match style {
        Style::Size => "ripple",
        Style::Depth => "prefix",
    }
}

/// `[x, y] → [x + y]`.
pub fn add(style: Style) -> Circuit {
    let mut b = Builder::new(2);
    let (x, y) = (b.input(0), b.input(1));
    let s = b.add(&x, &y, style);
    b.finish(&format!("add_{}", suffix(style)), &[s])
}

/// `[x, y] → [x − y]`.
pub fn sub(style: Style) -> Circuit {
    let mut b = Builder::new(2);
    let (x, y) = (b.input(0), b.input(1));
    let s = b.sub(&x, &y, style);
    b.finish(&format!("sub_{}", suffix(style)), &[s])
}

/// `[x0, x1] → [(x0 + x1) >> f]` (arithmetic shift): reconstructs an
/// additively shared word inside the circuit, with truncation by `f` bits
/// folded in as an exact wire shift (A2B and A2Y).
pub fn add_shift(style: Style, f: u32) -> Circuit {
    let mut b = Builder::new(2);
    let (x, y) = (b.input(0), b.input(1));
    let s = b.add(&x, &y, style);
    let t = Builder::shift_right_arith(&s, f.min(63));
    b.finish(&format!("add_shift{f}_{}", suffix(style)), &[t])
}

/// `[x, y] → [x − y]` where `y` is the garbler's mask (Y2A): the same
/// circuit as [`sub`], named for reports.
pub fn sub_mask(style: Style) -> Circuit {
    let mut c = sub(style);
    c.name = format!("sub_mask_{}", suffix(style));
    c
}

/// `[x, y] → [1 if x < y (signed) else 0]`.
pub fn less_than(style: Style) -> Circuit {
    let mut b = Builder::new(2);
    let (x, y) = (b.input(0), b.input(1));
    let lt = b.less_than(&x, &y, style);
    let mut out = Builder::constant(0);
    out[0] = lt;
    b.finish(&format!("lt_{}", suffix(style)), &[out])
}

/// `[x] → [max(x, 0)]` (63 ANDs, depth 1, whatever the style).
pub fn relu() -> Circuit {
    let mut b = Builder::new(1);
    let x = b.input(0);
    let r = b.relu(&x);
    b.finish("relu", &[r])
}

/// `[s, a, b] → [b if bit 0 of s else a]`.
pub fn mux() -> Circuit {
    let mut b = Builder::new(3);
    let (s, x, y) = (b.input(0), b.input(1), b.input(2));
    let m = b.mux_word(s[0], &x, &y);
    b.finish("mux", &[m])
}

/// `[x, y] → [max(x, y)]` (signed).
pub fn max(style: Style) -> Circuit {
    let mut b = Builder::new(2);
    let (x, y) = (b.input(0), b.input(1));
    let m = b.max(&x, &y, style);
    b.finish(&format!("max_{}", suffix(style)), &[m])
}

/// `[x_0, …, x_{k−1}] → [max_i x_i]` by a balanced tree (a maxpool window).
/// `k` must be at least 1.
pub fn maxpool(style: Style, k: usize) -> Circuit {
    let k = k.max(1);
    let mut b = Builder::new(k);
    let xs: Vec<_> = (0..k).map(|i| b.input(i)).collect();
    let m = b.max_tree(&xs, style);
    b.finish(&format!("maxpool{k}_{}", suffix(style)), &[m])
}

/// `[x_0, …, x_{n−1}] → [index of the first largest]` by a tree of
/// compare-and-mux nodes. `n` must be at least 1.
pub fn argmax(style: Style, n: usize) -> Circuit {
    let n = n.max(1);
    let mut b = Builder::new(n);
    let xs: Vec<_> = (0..n).map(|i| b.input(i)).collect();
    let idx = b.argmax(&xs, style);
    b.finish(&format!("argmax{n}_{}", suffix(style)), &[idx])
}

/// `[x] → [min(max(x, lo), hi)]` for public two's-complement bounds (the
/// piecewise-linear sigmoid/tanh after their affine map).
pub fn clamp(style: Style, lo: i64, hi: i64) -> Circuit {
    let mut b = Builder::new(1);
    let x = b.input(0);
    let lo_w = Builder::constant(lo as u64);
    let hi_w = Builder::constant(hi as u64);
    let m = b.max(&x, &lo_w, style);
    let c = b.min(&m, &hi_w, style);
    b.finish(&format!("clamp_{}", suffix(style)), &[c])
}

/// `[x] → [x >> f]` arithmetic (exact truncation in B and Y: no gates).
pub fn shift(f: u32) -> Circuit {
    let b = Builder::new(1);
    let x = b.input(0);
    let t = Builder::shift_right_arith(&x, f.min(63));
    b.finish(&format!("shift{f}"), &[t])
}
