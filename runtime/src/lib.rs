//! # chimera-runtime
//!
//! The target machine of Chimera: it defines the [plan format](plan) and
//! the [size limits](limits) every plan is held to,
//! [fixed-point](fixed) arithmetic in Z_2^64, the three sharings ([A](arith),
//! [B](gmw), [Y](yao)), the [boolean circuit library](circuit) they share,
//! the [conversions](convert), the [dealer], the [transport], the plaintext
//! [oracle] and the server's [weights]. The compiler depends on this crate,
//! never the reverse, so the cost model always reads the numbers the runtime
//! executes.

#![deny(missing_docs)]

pub mod arith;
pub mod circuit;
pub mod convert;
pub mod cost;
pub mod dealer;
pub mod exec;
pub mod fixed;
pub mod fsutil;
pub mod gmw;
pub mod identity;
pub mod limits;
pub mod oracle;
pub mod plan;
pub mod prg;
pub mod tensor_io;
pub mod transport;
pub mod weights;
pub mod yao;
