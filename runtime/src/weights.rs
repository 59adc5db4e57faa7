//! The server's weights: safetensors loading, shape checks against the plan, batchnorm folding, fixed-point encoding.
