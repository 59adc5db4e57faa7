//! Word-level building blocks over 64-bit two's-complement words: carry
//! chains (ripple-carry or Sklansky parallel prefix), add, subtract, signed
//! compare, relu, max/min, trees, arithmetic shift.

use super::{Bit, Builder, Style, Word, WORD_BITS};

impl Builder {
    /// Carries `c_0 = cin, c_1, …, c_64` of `x + y + cin`.
    ///
    /// [`Style::Size`]: ripple carry, `c_{i+1} = c_i ⊕ ((x_i ⊕ c_i) ∧ (y_i ⊕ c_i))`
    /// (one AND per bit). [`Style::Depth`]: Sklansky's parallel-prefix
    /// carry tree over generate/propagate pairs, `G = G_hi ⊕ (P_hi ∧ G_lo)`,
    /// `P = P_hi ∧ P_lo` (generate and propagate are exclusive, so XOR is
    /// OR), depth 1 + log2 64 = 7.
    pub fn carries(&mut self, x: &Word, y: &Word, cin: Bit, style: Style) -> [Bit; WORD_BITS + 1] {
        let mut c = [Bit::Const(false); WORD_BITS + 1];
        c[0] = cin;
        match style {
            Style::Size => {
                for i in 0..WORD_BITS {
                    let a = self.xor(x[i], c[i]);
                    let b = self.xor(y[i], c[i]);
                    let t = self.and(a, b);
                    c[i + 1] = self.xor(c[i], t);
                }
            }
            Style::Depth => {
                let mut g = [Bit::Const(false); WORD_BITS];
                let mut p = [Bit::Const(false); WORD_BITS];
                for i in 0..WORD_BITS {
                    g[i] = self.and(x[i], y[i]);
                    p[i] = self.xor(x[i], y[i]);
                }
                let t = self.and(p[0], cin);
                g[0] = self.xor(g[0], t);
                for l in 0..6 {
                    let step = 1usize << l;
                    let (g_prev, p_prev) = (g, p);
                    for i in 0..WORD_BITS {
                        if i & step != 0 {
                            let j = ((i >> l) << l) - 1;
                            let t = self.and(p_prev[i], g_prev[j]);
                            g[i] = self.xor(g_prev[i], t);
                            p[i] = self.and(p_prev[i], p_prev[j]);
                        }
                    }
                }
                c[1..].copy_from_slice(&g);
            }
        }
        c
    }

    /// `x + y mod 2^64`.
    pub fn add(&mut self, x: &Word, y: &Word, style: Style) -> Word {
        self.add_with_carry(x, y, Bit::Const(false), style)
    }

    fn add_with_carry(&mut self, x: &Word, y: &Word, cin: Bit, style: Style) -> Word {
        let c = self.carries(x, y, cin, style);
        let mut s = *x;
        for i in 0..WORD_BITS {
            let t = self.xor(x[i], y[i]);
            s[i] = self.xor(t, c[i]);
        }
        s
    }

    /// Bitwise complement.
    pub fn not_word(&mut self, x: &Word) -> Word {
        let mut out = *x;
        for b in out.iter_mut() {
            *b = self.not(*b);
        }
        out
    }

    /// `x − y mod 2^64 = x + ¬y + 1`.
    pub fn sub(&mut self, x: &Word, y: &Word, style: Style) -> Word {
        let ny = self.not_word(y);
        self.add_with_carry(x, &ny, Bit::Const(true), style)
    }

    /// Signed `x < y`: flipping both sign bits maps two's complement to
    /// offset binary, where `x < y` exactly when `x + ¬y + 1` has no carry out.
    pub fn less_than(&mut self, x: &Word, y: &Word, style: Style) -> Bit {
        let mut xs = *x;
        xs[63] = self.not(x[63]);
        let mut ny = self.not_word(y);
        ny[63] = y[63];
        let c = self.carries(&xs, &ny, Bit::Const(true), style);
        self.not(c[WORD_BITS])
    }

    /// `max(x, 0)`: every bit ANDed with the complement of the sign (63 ANDs, depth 1).
    pub fn relu(&mut self, x: &Word) -> Word {
        let keep = self.not(x[63]);
        let mut out = *x;
        for i in 0..WORD_BITS - 1 {
            out[i] = self.and(x[i], keep);
        }
        out[63] = Bit::Const(false);
        out
    }

    /// Signed maximum (`x` on ties).
    pub fn max(&mut self, x: &Word, y: &Word, style: Style) -> Word {
        let s = self.less_than(x, y, style);
        self.mux_word(s, x, y)
    }

    /// Signed minimum (`x` on ties).
    pub fn min(&mut self, x: &Word, y: &Word, style: Style) -> Word {
        let s = self.less_than(y, x, style);
        self.mux_word(s, x, y)
    }

    /// Maximum of a non-empty list by a balanced tree (depth ⌈log2 k⌉ maxima).
    pub fn max_tree(&mut self, xs: &[Word], style: Style) -> Word {
        let mut level: Vec<Word> = xs.to_vec();
        while level.len() > 1 {
            let mut next = Vec::with_capacity(level.len().div_ceil(2));
            for pair in level.chunks(2) {
                next.push(match pair {
                    [a, b] => self.max(a, b, style),
                    _ => pair[0],
                });
            }
            level = next;
        }
        level[0]
    }

    /// Index (as a word) of the first largest element, by a balanced tree of
    /// compare-and-mux nodes carrying `(value, index)`; the left operand
    /// always holds the lower indices and wins ties.
    pub fn argmax(&mut self, xs: &[Word], style: Style) -> Word {
        let mut level: Vec<(Word, Word)> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| (*x, Builder::constant(i as u64)))
            .collect();
        while level.len() > 1 {
            let mut next = Vec::with_capacity(level.len().div_ceil(2));
            for pair in level.chunks(2) {
                next.push(match pair {
                    [(va, ia), (vb, ib)] => {
                        let s = self.less_than(va, vb, style);
                        (self.mux_word(s, va, vb), self.mux_word(s, ia, ib))
                    }
                    _ => pair[0],
                });
            }
            level = next;
        }
        level[0].1
    }

    /// Arithmetic shift right by `f` (free: rewiring with sign extension).
    pub fn shift_right_arith(x: &Word, f: u32) -> Word {
        std::array::from_fn(|i| x[(i + f as usize).min(WORD_BITS - 1)])
    }
}
