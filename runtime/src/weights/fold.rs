//! Batchnorm folding: a batchnorm after a linear layer is an affine map per
//! output channel, so it folds into that layer's weights and bias.
//!
//! With `s_c = γ_c / √(var_c + ε)`: `w'_c = w_c · s_c` (every weight of
//! output channel `c`) and `b'_c = (b_c − mean_c) · s_c + β_c`, computed in
//! `f64` before the fixed-point encoding, so the folded layer is exact up to
//! one rounding.

use super::WeightsError;
use crate::plan::BatchNormRef;

/// Fold `bn` (tensors `[gamma, beta, mean, var]`, one value per output
/// channel) into the weights `w` (row-major, output channel outermost) and the
/// bias `b`. Returns the folded weights and bias.
pub(super) fn fold_batchnorm(
    layer: &str,
    bn: &BatchNormRef,
    w: &[f64],
    b: &[f64],
    tensors: &[Vec<f64>; 4],
) -> Result<(Vec<f64>, Vec<f64>), WeightsError> {
    let [gamma, beta, mean, var] = tensors;
    let channels = b.len();
    let per_channel = w.len().checked_div(channels).unwrap_or(0);
    let eps = bn.eps();
    let mut w_out = Vec::with_capacity(w.len());
    let mut b_out = Vec::with_capacity(channels);
    for c in 0..channels {
        let denom = var[c] + eps;
        if denom.is_nan() || denom <= 0.0 {
            return Err(WeightsError::BadVariance {
                layer: layer.to_string(),
                batchnorm: bn.layer.clone(),
                channel: c,
            });
        }
        let s = gamma[c] / denom.sqrt();
        w_out.extend(
            w[c * per_channel..(c + 1) * per_channel]
                .iter()
                .map(|v| v * s),
        );
        b_out.push((b[c] - mean[c]) * s + beta[c]);
    }
    Ok((w_out, b_out))
}
