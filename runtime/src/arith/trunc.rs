//! Dealer-assisted probabilistic truncation in Z_2^64 with one opening
//! (Escudero, Ghosh, Keller, Rachuri, Scholl, "Improved primitives for MPC
//! over mixed arithmetic-binary circuits", CRYPTO 2020, §5.1).
//!
//! Input: shares of `x` with `−2^62 ≤ x < 2^62` (the headroom; a product of
//! two fixed-point values in range satisfies it). Output: shares of
//! `y ∈ {⌊x / 2^m⌋ − 1, ⌊x / 2^m⌋}` — never further off, whatever `x` in
//! range and whatever the randomness. (SecureML's local share truncation
//! instead fails with a huge error with probability ≈ |x| / 2^63 per element;
//! it is not offered.)
//!
//! Protocol, with dealer shares of a uniform `r`, of its top bit `r_63` and of
//! `r'' = (r mod 2^63) >> m`:
//!
//! 1. `x' = x + 2^62` (party 0 adds), so `0 ≤ x' < 2^63`;
//! 2. open `c = x' + r` (one exchange); let `c' = c mod 2^63`, `c_63` its top bit;
//! 3. `b = c_63 ⊕ r_63 = c_63 + r_63 − 2·c_63·r_63` is the carry of
//!    `x' + (r mod 2^63)` into bit 63, so `x' = c' − (r mod 2^63) + 2^63·b`;
//! 4. `y = (c' >> m) − r'' + 2^(63−m)·b − 2^(62−m) − 1`.
//!
//! Because `⌊u/2^m⌋ − ⌊v/2^m⌋ ∈ {⌊(u−v)/2^m⌋, ⌊(u−v)/2^m⌋ + 1}`, step 4
//! without the final `− 1` is `⌊x/2^m⌋` or one more; the `− 1` puts the
//! result at or one unit below the exact arithmetic shift, as the plan's
//! fixed-point semantics state. Security: `c = x' + r` with `r` uniform in
//! Z_2^64 is uniform, so the opening reveals nothing about `x`.

use super::{same_len, ArithError};
use crate::dealer::{Material, TruncPairs};
use crate::plan::Party;
use crate::transport::Channel;

/// The headroom offset `2^62`.
const OFFSET: u64 = 1 << 62;

/// Truncate a shared tensor by `bits` (1 ≤ bits ≤ 62) with `pairs` dealt
/// for that shift: one exchange of `x.len()` words each way.
pub fn truncate_with_pairs(
    ch: &mut dyn Channel,
    party: Party,
    x: &[u64],
    bits: u32,
    pairs: &TruncPairs,
) -> Result<Vec<u64>, ArithError> {
    if !(1..=62).contains(&bits) {
        return Err(ArithError::Invalid(format!(
            "truncation by {bits} bits: must be between 1 and 62"
        )));
    }
    if pairs.bits != bits {
        return Err(ArithError::Invalid(format!(
            "truncation pairs dealt for a shift of {} used for {bits}",
            pairs.bits
        )));
    }
    let n = x.len();
    same_len("truncation pairs", n, pairs.r.len())?;
    same_len("truncation pairs", n, pairs.r_msb.len())?;
    same_len("truncation pairs", n, pairs.r_low_shifted.len())?;
    let first = party == Party::Server;
    let masked: Vec<u64> = x
        .iter()
        .zip(&pairs.r)
        .map(|(x, r)| {
            let x = if first { x.wrapping_add(OFFSET) } else { *x };
            x.wrapping_add(*r)
        })
        .collect();
    let theirs = ch.exchange_u64s(&masked, n)?;
    let high = 1u64 << (63 - bits);
    let constant = (1u64 << (62 - bits)).wrapping_add(1);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let c = masked[i].wrapping_add(theirs[i]);
        let c63 = c >> 63;
        let c_low = c & (u64::MAX >> 1);
        // Share of b = c63 + (1 − 2·c63)·r63.
        let sign = 1u64.wrapping_sub(c63.wrapping_mul(2));
        let mut b = sign.wrapping_mul(pairs.r_msb[i]);
        let mut v = pairs.r_low_shifted[i].wrapping_neg();
        if first {
            b = b.wrapping_add(c63);
            v = v.wrapping_add(c_low >> bits).wrapping_sub(constant);
        }
        y.push(v.wrapping_add(high.wrapping_mul(b)));
    }
    Ok(y)
}

/// [`truncate_with_pairs`] drawing the pairs from `material`.
pub fn truncate(
    ch: &mut dyn Channel,
    material: &mut dyn Material,
    x: &[u64],
    bits: u32,
) -> Result<Vec<u64>, ArithError> {
    let pairs = material.trunc_pairs(x.len(), bits)?;
    truncate_with_pairs(ch, material.party(), x, bits, &pairs)
}
