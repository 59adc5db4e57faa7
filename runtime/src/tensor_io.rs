//! Reading and writing .npy tensors (inputs and outputs).
