//! The plaintext oracle: executes a plan in the clear with the exact fixed-point semantics of the secure runtime, or in float.
