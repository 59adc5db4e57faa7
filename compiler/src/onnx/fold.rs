//! Constant folding: the operators that compute on constants only.
//!
//! PyTorch's exporter computes reshape targets inside the graph
//! (`Shape → Gather → Unsqueeze → Concat → Reshape` for
//! `x.view(x.size(0), -1)`), and some exports transpose or cast weights with
//! a node. With static per-row shapes all of this is known at import time,
//! so it is evaluated here and never reaches the `.nn` program. The batch
//! size stays symbolic ([`Int::Batch`]).

use super::error::ImportError;
use super::graph::{element_count, Const, Data, Int, Node};

/// The operators [`fold`] evaluates.
pub const FOLDABLE: [&str; 8] = [
    "Identity",
    "Gather",
    "Unsqueeze",
    "Squeeze",
    "Concat",
    "Cast",
    "Transpose",
    "Reshape",
];

/// `Shape` of a tensor whose full shape (batch axis first) is `shape`.
pub fn shape_of(node: &Node<'_>, shape: &[Int]) -> Result<Const, ImportError> {
    node.check_attributes(&["start", "end"])?;
    let rank = shape.len() as i64;
    let clamp = |v: i64| -> usize {
        let v = if v < 0 { v + rank } else { v };
        v.clamp(0, rank) as usize
    };
    let start = clamp(node.int("start", 0)?);
    let end = clamp(node.int("end", rank)?);
    let picked: Vec<Int> = shape[start..end.max(start)].to_vec();
    Ok(Const {
        dims: vec![picked.len()],
        data: Data::Int(picked),
    })
}

/// Evaluate a [`FOLDABLE`] operator on constant inputs (`inputs[i]` is the
/// node's `i`-th input, `None` for an omitted optional one).
pub fn fold(node: &Node<'_>, inputs: &[Option<&Const>]) -> Result<Const, ImportError> {
    let first =
        inputs.first().copied().flatten().ok_or_else(|| {
            node.unsupported("the first input is missing", "nodes with their inputs")
        })?;
    match node.op() {
        "Identity" => {
            node.check_attributes(&[])?;
            Ok(first.clone())
        }
        "Gather" => gather(node, first, inputs.get(1).copied().flatten()),
        "Unsqueeze" | "Squeeze" => {
            node.check_attributes(&["axes"])?;
            let axes = match (node.ints("axes")?, inputs.get(1).copied().flatten()) {
                (Some(a), _) => Some(a.to_vec()),
                (None, Some(c)) => Some(known_ints(node, c)?),
                (None, None) => None,
            };
            let dims = if node.op() == "Unsqueeze" {
                unsqueeze(node, &first.dims, &axes.unwrap_or_default())?
            } else {
                squeeze(node, &first.dims, axes.as_deref())?
            };
            Ok(Const {
                dims,
                data: first.data.clone(),
            })
        }
        "Concat" => concat(node, inputs),
        "Cast" => cast(node, first),
        "Transpose" => transpose(node, first),
        "Reshape" => {
            node.check_attributes(&["allowzero"])?;
            let target = inputs.get(1).copied().flatten().ok_or_else(|| {
                node.unsupported("the shape input is missing", "Reshape with a shape")
            })?;
            let target = known_ints(node, target)?;
            let dims = resolve_shape(node, &first.dims, &target)?;
            Ok(Const {
                dims,
                data: first.data.clone(),
            })
        }
        other => Err(ImportError::UnsupportedOperator {
            node: node.label(),
            op: other.to_string(),
        }),
    }
}

/// The integer elements of a constant, all known (no batch size).
pub fn known_ints(node: &Node<'_>, c: &Const) -> Result<Vec<i64>, ImportError> {
    let ints = c.ints().ok_or_else(|| {
        node.unsupported(
            "expected an integer constant",
            "int64 constants for shapes and axes",
        )
    })?;
    ints.iter()
        .map(|i| match i {
            Int::Known(v) => Ok(*v),
            Int::Batch => Err(node.unsupported(
                "the value depends on the batch size",
                "shapes whose only dynamic axis is the leading batch axis",
            )),
        })
        .collect()
}

/// `dims` with the target's `-1` (inferred) and `0` (copied) entries resolved.
pub fn resolve_shape(
    node: &Node<'_>,
    dims: &[usize],
    target: &[i64],
) -> Result<Vec<usize>, ImportError> {
    let supported = "Reshape to a shape with at most one -1";
    let total =
        element_count(dims).ok_or_else(|| node.unsupported("too many elements", supported))?;
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        match t {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 => {
                out.push(*dims.get(i).ok_or_else(|| {
                    node.unsupported("0 copies an axis the input lacks", supported)
                })?)
            }
            t if t > 0 => out.push(
                usize::try_from(t).map_err(|_| node.unsupported("axis too large", supported))?,
            ),
            _ => {
                return Err(node.unsupported(format!("invalid target shape {target:?}"), supported))
            }
        }
    }
    let known =
        element_count(&out).ok_or_else(|| node.unsupported("too many elements", supported))?;
    if let Some(i) = infer {
        if known == 0 || total % known != 0 {
            return Err(
                node.unsupported(format!("cannot reshape {dims:?} to {target:?}"), supported)
            );
        }
        out[i] = total / known;
    } else if known != total {
        return Err(node.unsupported(format!("cannot reshape {dims:?} to {target:?}"), supported));
    }
    Ok(out)
}

fn normalize_axis(node: &Node<'_>, axis: i64, rank: usize) -> Result<usize, ImportError> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(node.unsupported(
            format!("axis {axis} is out of range for rank {rank}"),
            "axes within the tensor's rank",
        ))
    }
}

fn gather(node: &Node<'_>, data: &Const, indices: Option<&Const>) -> Result<Const, ImportError> {
    node.check_attributes(&["axis"])?;
    let supported = "Gather along axis 0 of a 1-d constant (as in shape computations)";
    let indices = indices.ok_or_else(|| node.unsupported("the indices are missing", supported))?;
    if data.dims.len() != 1 || normalize_axis(node, node.int("axis", 0)?, 1)? != 0 {
        return Err(node.unsupported(
            format!("gathering from a tensor of shape {:?}", data.dims),
            supported,
        ));
    }
    let n = data.dims[0];
    let picked: Vec<usize> = known_ints(node, indices)?
        .into_iter()
        .map(|i| normalize_axis(node, i, n))
        .collect::<Result<_, _>>()?;
    let data_out = match &data.data {
        Data::Float(v) => Data::Float(picked.iter().map(|&i| v[i]).collect()),
        Data::Int(v) => Data::Int(picked.iter().map(|&i| v[i]).collect()),
    };
    Ok(Const {
        dims: indices.dims.clone(),
        data: data_out,
    })
}

fn unsqueeze(node: &Node<'_>, dims: &[usize], axes: &[i64]) -> Result<Vec<usize>, ImportError> {
    let rank = dims.len() + axes.len();
    let mut inserted: Vec<usize> = axes
        .iter()
        .map(|&a| normalize_axis(node, a, rank))
        .collect::<Result<_, _>>()?;
    inserted.sort_unstable();
    inserted.dedup();
    if inserted.len() != axes.len() {
        return Err(node.unsupported("repeated axes", "distinct axes"));
    }
    let mut out = Vec::with_capacity(rank);
    let mut rest = dims.iter();
    for i in 0..rank {
        if inserted.contains(&i) {
            out.push(1);
        } else if let Some(&d) = rest.next() {
            out.push(d);
        }
    }
    Ok(out)
}

fn squeeze(
    node: &Node<'_>,
    dims: &[usize],
    axes: Option<&[i64]>,
) -> Result<Vec<usize>, ImportError> {
    let removed: Vec<usize> = match axes {
        Some(axes) => axes
            .iter()
            .map(|&a| normalize_axis(node, a, dims.len()))
            .collect::<Result<_, _>>()?,
        None => (0..dims.len()).filter(|&i| dims[i] == 1).collect(),
    };
    if removed.iter().any(|&i| dims[i] != 1) {
        return Err(node.unsupported(
            "squeezing an axis whose size is not 1",
            "Squeeze of axes of size 1",
        ));
    }
    Ok((0..dims.len())
        .filter(|i| !removed.contains(i))
        .map(|i| dims[i])
        .collect())
}

fn concat(node: &Node<'_>, inputs: &[Option<&Const>]) -> Result<Const, ImportError> {
    node.check_attributes(&["axis"])?;
    let supported = "Concat of 1-d constants (as in shape computations)";
    let parts: Vec<&Const> = inputs.iter().copied().flatten().collect();
    if parts.iter().any(|c| c.dims.len() != 1) {
        return Err(node.unsupported("concatenating tensors that are not 1-d", supported));
    }
    normalize_axis(node, node.int("axis", 0)?, 1)?;
    let dims = vec![parts.iter().map(|c| c.dims[0]).sum()];
    let data = if parts.iter().all(|c| c.ints().is_some()) {
        Data::Int(
            parts
                .iter()
                .flat_map(|c| c.ints().unwrap_or_default().iter().copied())
                .collect(),
        )
    } else if parts.iter().all(|c| c.floats().is_some()) {
        Data::Float(
            parts
                .iter()
                .flat_map(|c| c.floats().unwrap_or_default().iter().copied())
                .collect(),
        )
    } else {
        return Err(node.unsupported("mixing integer and float tensors", supported));
    };
    Ok(Const { dims, data })
}

fn cast(node: &Node<'_>, c: &Const) -> Result<Const, ImportError> {
    node.check_attributes(&["to", "saturate"])?;
    let supported = "Cast of a constant to float, double, int32 or int64";
    let data = match (node.int("to", 0)?, &c.data) {
        (1 | 11, Data::Float(v)) => Data::Float(v.clone()),
        (1 | 11, Data::Int(v)) => Data::Float(
            v.iter()
                .map(|i| match i {
                    Int::Known(k) => Ok(*k as f64),
                    Int::Batch => {
                        Err(node.unsupported("casting the batch size to a float", supported))
                    }
                })
                .collect::<Result<_, _>>()?,
        ),
        (6 | 7, Data::Int(v)) => Data::Int(v.clone()),
        (6 | 7, Data::Float(v)) => {
            Data::Int(v.iter().map(|&f| Int::Known(f.trunc() as i64)).collect())
        }
        (to, _) => return Err(node.unsupported(format!("casting to element type {to}"), supported)),
    };
    Ok(Const {
        dims: c.dims.clone(),
        data,
    })
}

fn transpose(node: &Node<'_>, c: &Const) -> Result<Const, ImportError> {
    node.check_attributes(&["perm"])?;
    let supported = "Transpose of a 2-d constant (a weight matrix)";
    let perm = node
        .ints("perm")?
        .map(<[i64]>::to_vec)
        .unwrap_or_else(|| vec![1, 0]);
    let (&[rows, cols], [1, 0]) = (c.dims.as_slice(), perm.as_slice()) else {
        return Err(node.unsupported(
            format!("transposing shape {:?} by {perm:?}", c.dims),
            supported,
        ));
    };
    let data = match &c.data {
        Data::Float(v) => Data::Float(transpose_matrix(v, rows, cols)),
        Data::Int(v) => Data::Int(transpose_matrix(v, rows, cols)),
    };
    Ok(Const {
        dims: vec![cols, rows],
        data,
    })
}

/// The transpose of a row-major `rows × cols` matrix.
pub fn transpose_matrix<T: Copy>(v: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(v.len());
    for j in 0..cols {
        for i in 0..rows {
            out.push(v[i * cols + j]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::proto::NodeProto;

    fn node(op: &str) -> NodeProto {
        NodeProto {
            op_type: op.into(),
            name: format!("/{op}"),
            output: vec!["y".into()],
            ..Default::default()
        }
    }

    fn ints(v: &[Int]) -> Const {
        Const {
            dims: vec![v.len()],
            data: Data::Int(v.to_vec()),
        }
    }

    #[test]
    fn folds_the_view_chain_with_a_symbolic_batch() {
        let shape = node("Shape");
        let s = shape_of(
            &Node {
                proto: &shape,
                index: 0,
            },
            &[Int::Batch, Int::Known(16), Int::Known(4)],
        )
        .unwrap();
        let g = node("Gather");
        let zero = Const {
            dims: vec![],
            data: Data::Int(vec![Int::Known(0)]),
        };
        let b = fold(
            &Node {
                proto: &g,
                index: 1,
            },
            &[Some(&s), Some(&zero)],
        )
        .unwrap();
        assert_eq!(b.dims, Vec::<usize>::new());
        let u = node("Unsqueeze");
        let axes = ints(&[Int::Known(0)]);
        let b = fold(
            &Node {
                proto: &u,
                index: 2,
            },
            &[Some(&b), Some(&axes)],
        )
        .unwrap();
        let c = node("Concat");
        let minus = ints(&[Int::Known(-1)]);
        let target = fold(
            &Node {
                proto: &c,
                index: 3,
            },
            &[Some(&b), Some(&minus)],
        )
        .unwrap();
        assert_eq!(target, ints(&[Int::Batch, Int::Known(-1)]));
    }

    #[test]
    fn transposes_and_resolves_shapes() {
        assert_eq!(
            transpose_matrix(&[1, 2, 3, 4, 5, 6], 2, 3),
            vec![1, 4, 2, 5, 3, 6]
        );
        let r = node("Reshape");
        let n = Node {
            proto: &r,
            index: 0,
        };
        assert_eq!(
            resolve_shape(&n, &[2, 3, 4], &[0, -1]).unwrap(),
            vec![2, 12]
        );
        assert!(resolve_shape(&n, &[2, 3, 4], &[5, -1]).is_err());
        assert!(resolve_shape(&n, &[2, 3, 4], &[-1, -1]).is_err());
    }
}
