//! # chimera-compiler
//!
//! The `.nn` language front end, IR graph, passes, cost model, protocol
//! assignment and plan emission.
