//! Linear layers whose weights are the server's private input, with per-query
//! traffic that does not grow with the weights.
//!
//! For a bilinear layer `L` (dense or conv2d, [`LinearShape`]) the server
//! holds `W` and the parties share the activation `x = x0 + x1`. Then
//! `L(W, x) = L(W, x0) + L(W, x1)`; the server computes the first term alone.
//! For the second, the dealer gives the server a uniform weight-shaped mask
//! `U` (once per layer and session), the client a fresh uniform `v` per
//! activation row, and shares `z0 + z1 = L(U, v)`:
//!
//! * **once per session** the server sends `E = W − U` ([`LinearServer::setup`]);
//! * **per query** the client sends `f = x1 − v` (activation-sized, one
//!   message, [`LinearClient::eval`]) and the parties output
//!   `y0 = L(W, x0 + f) + z0` and `y1 = L(E, v) + z1`.
//!
//! Correctness: `y0 + y1 = L(W, x0) + L(W, x1 − v) + L(W − U, v) + L(U, v)
//! = L(W, x0) + L(W, x1)`. Security: the client sees only `E`, a one-time pad
//! of `W` under uniform `U` (sent once, so `U` pads exactly one message); the
//! server sees only `f`, a one-time pad of `x1` under a fresh `v` per row.
//! `docs/protocols.md` gives the full argument. The client's `L(E, v) + z1`
//! does not depend on the query and can be prepared before it arrives
//! ([`LinearClient::prepare`]).

use super::linear::LinearShape;
use super::{same_len, sub, ArithError};
use crate::dealer::Material;
use crate::plan::Party;
use crate::transport::Channel;

fn rows_of(shape: &LinearShape, len: usize) -> Result<usize, ArithError> {
    let n = shape.input_len();
    if n == 0 || len % n != 0 {
        return Err(ArithError::Invalid(format!(
            "an activation batch of {len} elements is not a whole number of {n}-element rows"
        )));
    }
    Ok(len / n)
}

/// The server's side of one private-weight linear layer for a session.
pub struct LinearServer {
    layer: u32,
    shape: LinearShape,
    weight: Vec<u64>,
}

impl std::fmt::Debug for LinearServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "LinearServer(layer {}, {:?}, <weights>)",
            self.layer, self.shape
        )
    }
}

impl LinearServer {
    /// Draw the layer's mask `U` and send `E = W − U` (one message of
    /// `weight_len` words, once per session; count it apart from queries).
    pub fn setup(
        ch: &mut dyn Channel,
        material: &mut dyn Material,
        layer: u32,
        shape: LinearShape,
        weight: Vec<u64>,
    ) -> Result<LinearServer, ArithError> {
        shape.validate()?;
        same_len("the layer's weight", weight.len(), shape.weight_len())?;
        if material.party() != Party::Server {
            return Err(ArithError::Invalid("LinearServer run by the client".into()));
        }
        let u = material.weight_mask(layer, &shape)?;
        ch.send_u64s(&sub(&weight, &u))?;
        ch.flush()?;
        Ok(LinearServer {
            layer,
            shape,
            weight,
        })
    }

    /// The layer's shape.
    pub fn shape(&self) -> &LinearShape {
        &self.shape
    }

    /// Draw the server's share `z0` of `rows` matrix triples, before the
    /// query exists.
    pub fn prepare(
        &self,
        material: &mut dyn Material,
        rows: usize,
    ) -> Result<ServerRows, ArithError> {
        let t = material.matrix_triples(self.layer, &self.shape, rows)?;
        same_len(
            "the matrix triples' z0",
            t.z.len(),
            rows * self.shape.output_len(),
        )?;
        Ok(ServerRows { rows, z: t.z })
    }

    /// One query with prepared rows: receive `f` and return the server's
    /// share `L(W, x0 + f) + z0` of `L(W, x)` (no bias).
    pub fn eval_prepared(
        &self,
        ch: &mut dyn Channel,
        prepared: ServerRows,
        x0: &[u64],
    ) -> Result<Vec<u64>, ArithError> {
        let rows = rows_of(&self.shape, x0.len())?;
        if rows != prepared.rows {
            return Err(ArithError::Invalid(format!(
                "{rows} activation rows for {} prepared rows",
                prepared.rows
            )));
        }
        let f = ch.recv_u64s(x0.len())?;
        let mut y = self.shape.apply(&self.weight, &super::add(x0, &f))?;
        for (o, z) in y.iter_mut().zip(&prepared.z) {
            *o = o.wrapping_add(*z);
        }
        Ok(y)
    }

    /// [`prepare`](Self::prepare) then [`eval_prepared`](Self::eval_prepared).
    pub fn eval(
        &self,
        ch: &mut dyn Channel,
        material: &mut dyn Material,
        x0: &[u64],
    ) -> Result<Vec<u64>, ArithError> {
        let rows = rows_of(&self.shape, x0.len())?;
        let prepared = self.prepare(material, rows)?;
        self.eval_prepared(ch, prepared, x0)
    }
}

/// Query-independent server material for some rows of one layer: its
/// share `z0` of `L(U, v)`.
pub struct ServerRows {
    rows: usize,
    z: Vec<u64>,
}

/// The client's side of one private-weight linear layer for a session.
pub struct LinearClient {
    layer: u32,
    shape: LinearShape,
    masked_weight: Vec<u64>,
}

impl std::fmt::Debug for LinearClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LinearClient(layer {}, {:?})", self.layer, self.shape)
    }
}

/// Query-independent client material for some rows of one layer: the masks
/// `v` and the share `L(E, v) + z1`.
pub struct PreparedRows {
    rows: usize,
    v: Vec<u64>,
    y: Vec<u64>,
}

impl LinearClient {
    /// Receive the masked weights `E` (once per session).
    pub fn setup(
        ch: &mut dyn Channel,
        layer: u32,
        shape: LinearShape,
    ) -> Result<LinearClient, ArithError> {
        shape.validate()?;
        let masked_weight = ch.recv_u64s(shape.weight_len())?;
        Ok(LinearClient {
            layer,
            shape,
            masked_weight,
        })
    }

    /// The layer's shape.
    pub fn shape(&self) -> &LinearShape {
        &self.shape
    }

    /// Draw `rows` matrix triples and compute `L(E, v) + z1`, before the
    /// query exists.
    pub fn prepare(
        &self,
        material: &mut dyn Material,
        rows: usize,
    ) -> Result<PreparedRows, ArithError> {
        let t = material.matrix_triples(self.layer, &self.shape, rows)?;
        let mut y = self.shape.apply(&self.masked_weight, &t.v)?;
        for (o, z) in y.iter_mut().zip(&t.z) {
            *o = o.wrapping_add(*z);
        }
        Ok(PreparedRows { rows, v: t.v, y })
    }

    /// One query with prepared rows: send `f = x1 − v` (one message,
    /// activation-sized) and return the client's share.
    pub fn eval_prepared(
        &self,
        ch: &mut dyn Channel,
        prepared: PreparedRows,
        x1: &[u64],
    ) -> Result<Vec<u64>, ArithError> {
        let rows = rows_of(&self.shape, x1.len())?;
        if rows != prepared.rows {
            return Err(ArithError::Invalid(format!(
                "{rows} activation rows for {} prepared rows",
                prepared.rows
            )));
        }
        ch.send_u64s(&sub(x1, &prepared.v))?;
        ch.flush()?;
        Ok(prepared.y)
    }

    /// [`prepare`](Self::prepare) then [`eval_prepared`](Self::eval_prepared).
    pub fn eval(
        &self,
        ch: &mut dyn Channel,
        material: &mut dyn Material,
        x1: &[u64],
    ) -> Result<Vec<u64>, ArithError> {
        let rows = rows_of(&self.shape, x1.len())?;
        let prepared = self.prepare(material, rows)?;
        self.eval_prepared(ch, prepared, x1)
    }
}
