//! Dealer material sizes.

/// Dealer bytes for `words` AND-triple words.
pub fn and_triple_dealer_bytes(words: u64) -> u64 {
    8 * words
}
