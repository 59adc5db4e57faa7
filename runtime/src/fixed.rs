//! Fixed-point numbers in the ring Z_2^64.
//!
//! A real number `v` is encoded as the two's-complement ring element
//! `round(v * 2^f)`; arithmetic is wrapping `u64` arithmetic. A product of two
//! encodings carries `2f` fraction bits and is brought back by an arithmetic
//! shift right (rounding toward minus infinity). These are the semantics the
//! plaintext oracle and every protocol implement; `docs/fixed-point.md`
//! states them for users.

use crate::plan::FixedFormat;

/// Why a real number cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum EncodeError {
    /// NaN or an infinity.
    #[error("{0} is not a finite number")]
    NotFinite(f64),
    /// |v| * 2^f does not fit the headroom the format leaves.
    #[error("{value} is too large for the fixed-point format (|value| must stay below {limit})")]
    TooLarge {
        /// The value.
        value: f64,
        /// The largest magnitude accepted.
        limit: f64,
    },
}

impl FixedFormat {
    /// `2^f` as a float.
    pub fn scale(&self) -> f64 {
        (self.frac_bits as f64).exp2()
    }

    /// Largest magnitude accepted for an input or a weight: `2^(31 - f)`, so the
    /// product of two such encodings (2f fraction bits) stays below the 2^62
    /// headroom that probabilistic truncation needs.
    pub fn max_magnitude(&self) -> f64 {
        ((31 - self.frac_bits.min(31)) as f64).exp2()
    }

    /// Encode `v` with `frac_bits` fraction bits (round to nearest).
    pub fn encode_with(&self, v: f64, frac_bits: u32) -> Result<u64, EncodeError> {
        if !v.is_finite() {
            return Err(EncodeError::NotFinite(v));
        }
        let limit = self.max_magnitude();
        if v.abs() >= limit {
            return Err(EncodeError::TooLarge { value: v, limit });
        }
        let scaled = (v * (frac_bits as f64).exp2()).round();
        Ok(scaled as i64 as u64)
    }

    /// Encode `v` with the format's `f` fraction bits.
    pub fn encode(&self, v: f64) -> Result<u64, EncodeError> {
        self.encode_with(v, self.frac_bits)
    }

    /// Decode a ring element with `frac_bits` fraction bits.
    pub fn decode_with(&self, x: u64, frac_bits: u32) -> f64 {
        (x as i64) as f64 / (frac_bits as f64).exp2()
    }

    /// Decode a ring element with the format's `f` fraction bits.
    pub fn decode(&self, x: u64) -> f64 {
        self.decode_with(x, self.frac_bits)
    }
}

/// Arithmetic shift right of a ring element (the exact truncation of B and Y,
/// and of the oracle).
#[inline]
pub fn shift_right(x: u64, bits: u32) -> u64 {
    ((x as i64) >> bits) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let f = FixedFormat::default();
        for v in [0.0, 1.0, -1.0, 0.5, -0.25, 123.456, -32767.0] {
            let x = f.encode(v).unwrap();
            assert!((f.decode(x) - v).abs() <= 0.5 / f.scale(), "{v}");
        }
    }

    #[test]
    fn refuses_non_finite_and_huge() {
        let f = FixedFormat::default();
        assert!(matches!(f.encode(f64::NAN), Err(EncodeError::NotFinite(_))));
        assert!(matches!(
            f.encode(f64::INFINITY),
            Err(EncodeError::NotFinite(_))
        ));
        assert!(matches!(f.encode(1e12), Err(EncodeError::TooLarge { .. })));
    }

    #[test]
    fn shift_rounds_toward_minus_infinity() {
        assert_eq!(shift_right((-3i64) as u64, 1) as i64, -2);
        assert_eq!(shift_right(3, 1), 1);
        assert_eq!(shift_right(u64::MAX, 16), u64::MAX);
    }
}
