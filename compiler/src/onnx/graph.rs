//! Reading the decoded protobuf: constant tensors, attributes, node labels.
//!
//! A [`Const`] is a constant tensor the importer knows at import time: a
//! trained weight (float), or an integer tensor such as a `Reshape` target.
//! Integer elements may be the symbolic batch size ([`Int::Batch`]), so that
//! the `Shape → Gather → Unsqueeze → Concat → Reshape` chains PyTorch emits
//! for `x.view(x.size(0), -1)` fold to a constant shape even when the batch
//! axis is dynamic. Every size read from the file is checked before anything
//! is allocated from it.

use super::error::ImportError;
use super::proto::{attribute_type, data_type, AttributeProto, NodeProto, TensorProto};
use std::collections::BTreeMap;

/// Largest number of elements a constant may claim: the most weights one
/// layer may have ([`chimera_runtime::limits::MAX_WEIGHTS`], 2^28), far
/// beyond any model the secure runtime can run, small enough to allocate
/// safely.
pub const MAX_ELEMENTS: usize = chimera_runtime::limits::MAX_WEIGHTS;

/// An integer element of a constant: a number, or the batch size (unknown
/// until run time, and always the leading axis).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Int {
    /// A known value.
    Known(i64),
    /// The batch size.
    Batch,
}

/// `[batch, 16, -1]`: integer elements as a shape is written.
pub fn format_ints(v: &[Int]) -> String {
    let parts: Vec<String> = v
        .iter()
        .map(|i| match i {
            Int::Known(k) => k.to_string(),
            Int::Batch => "batch".to_string(),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// The elements of a constant.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// Float or double elements, as `f64`.
    Float(Vec<f64>),
    /// Integer elements (int32 or int64).
    Int(Vec<Int>),
}

/// A constant tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Const {
    /// Dimensions (empty for a scalar).
    pub dims: Vec<usize>,
    /// Row-major elements; as many as the product of `dims`.
    pub data: Data,
}

impl Const {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            Data::Float(v) => v.len(),
            Data::Int(v) => v.len(),
        }
    }

    /// Whether the tensor has no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The float elements, if this is a float tensor.
    pub fn floats(&self) -> Option<&[f64]> {
        match &self.data {
            Data::Float(v) => Some(v),
            Data::Int(_) => None,
        }
    }

    /// The integer elements, if this is an integer tensor.
    pub fn ints(&self) -> Option<&[Int]> {
        match &self.data {
            Data::Int(v) => Some(v),
            Data::Float(_) => None,
        }
    }

    /// The value of a tensor whose elements are all equal (a scalar, or a
    /// broadcast constant such as `[[0.5]]`), as a float.
    pub fn uniform_value(&self) -> Option<f64> {
        let values: Vec<f64> = match &self.data {
            Data::Float(v) => v.clone(),
            Data::Int(v) => v
                .iter()
                .map(|i| match i {
                    Int::Known(k) => Some(*k as f64),
                    Int::Batch => None,
                })
                .collect::<Option<Vec<f64>>>()?,
        };
        let first = *values.first()?;
        values.iter().all(|&v| v == first).then_some(first)
    }
}

/// Number of elements of `dims`, refusing overflow and more than [`MAX_ELEMENTS`].
pub fn element_count(dims: &[usize]) -> Option<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
}

/// The contents of the external data files a model refers to, by the
/// `location` its tensors give (PyTorch's default exporter writes the
/// weights to `MODEL.onnx.data` beside the model).
pub type ExternalData = BTreeMap<String, Vec<u8>>;

/// The bytes of a tensor stored outside the model: `location`, `offset`
/// and `length` as the ONNX external-data convention defines them.
fn external_bytes<'e>(t: &TensorProto, external: &'e ExternalData) -> Result<&'e [u8], String> {
    let mut location = None;
    let mut offset = 0usize;
    let mut length = None;
    for entry in &t.external_data {
        match entry.key.as_str() {
            "location" => location = Some(entry.value.as_str()),
            "offset" => {
                offset = entry
                    .value
                    .parse()
                    .map_err(|_| format!("bad external offset {:?}", entry.value))?
            }
            "length" => {
                length = Some(
                    entry
                        .value
                        .parse::<usize>()
                        .map_err(|_| format!("bad external length {:?}", entry.value))?,
                )
            }
            _ => {}
        }
    }
    let location = location.ok_or("its data is external but has no location")?;
    let file = external.get(location).ok_or_else(|| {
        format!("its data is in the external file `{location}`, which was not provided (keep it beside the .onnx file)")
    })?;
    let end = match length {
        Some(n) => offset.checked_add(n),
        None => Some(file.len()),
    };
    end.filter(|&e| offset <= e && e <= file.len())
        .map(|e| &file[offset..e])
        .ok_or_else(|| {
            format!(
                "its data lies outside the external file `{location}` ({} bytes)",
                file.len()
            )
        })
}

/// Read a `TensorProto` (an initializer, or a `Constant` node's value).
pub fn read_tensor(
    t: &TensorProto,
    name: &str,
    external: &ExternalData,
) -> Result<Const, ImportError> {
    let err = |problem: String| ImportError::Tensor {
        tensor: name.to_string(),
        problem,
    };
    let raw: &[u8] = if t.data_location == 1 || !t.external_data.is_empty() {
        external_bytes(t, external).map_err(err)?
    } else {
        &t.raw_data
    };
    let dims = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| err(format!("negative dimension in {:?}", t.dims)))?;
    let n =
        element_count(&dims).ok_or_else(|| err(format!("shape {dims:?} has too many elements")))?;
    let wrong_len = |got: usize| {
        err(format!(
            "shape {dims:?} needs {n} elements, the file holds {got}"
        ))
    };
    let data = match t.data_type {
        data_type::FLOAT => Data::Float(if !raw.is_empty() {
            if raw.len() != n * 4 {
                return Err(wrong_len(raw.len() / 4));
            }
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                .collect()
        } else {
            if t.float_data.len() != n {
                return Err(wrong_len(t.float_data.len()));
            }
            t.float_data.iter().map(|&v| v as f64).collect()
        }),
        data_type::DOUBLE => Data::Float(if !raw.is_empty() {
            if raw.len() != n * 8 {
                return Err(wrong_len(raw.len() / 8));
            }
            raw.chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect()
        } else {
            if t.double_data.len() != n {
                return Err(wrong_len(t.double_data.len()));
            }
            t.double_data.clone()
        }),
        data_type::INT64 => Data::Int(if !raw.is_empty() {
            if raw.len() != n * 8 {
                return Err(wrong_len(raw.len() / 8));
            }
            raw.chunks_exact(8)
                .map(|c| {
                    Int::Known(i64::from_le_bytes([
                        c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
                    ]))
                })
                .collect()
        } else {
            if t.int64_data.len() != n {
                return Err(wrong_len(t.int64_data.len()));
            }
            t.int64_data.iter().map(|&v| Int::Known(v)).collect()
        }),
        data_type::INT32 => Data::Int(if !raw.is_empty() {
            if raw.len() != n * 4 {
                return Err(wrong_len(raw.len() / 4));
            }
            raw.chunks_exact(4)
                .map(|c| Int::Known(i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64))
                .collect()
        } else {
            if t.int32_data.len() != n {
                return Err(wrong_len(t.int32_data.len()));
            }
            t.int32_data.iter().map(|&v| Int::Known(v as i64)).collect()
        }),
        other => {
            return Err(err(format!(
                "element type {other} is not supported (float, double, int32 and int64 are)"
            )))
        }
    };
    if let Data::Float(v) = &data {
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(err(format!("element {i} is not a finite number")));
        }
    }
    Ok(Const { dims, data })
}

/// A node with its position, for reading attributes and naming it in errors.
#[derive(Clone, Copy, Debug)]
pub struct Node<'a> {
    /// The node.
    pub proto: &'a NodeProto,
    /// Its position in the graph.
    pub index: usize,
}

impl<'a> Node<'a> {
    /// The operator.
    pub fn op(&self) -> &'a str {
        &self.proto.op_type
    }

    /// How errors name the node: its name, or `#index (→ first output)`.
    pub fn label(&self) -> String {
        if !self.proto.name.is_empty() {
            return self.proto.name.clone();
        }
        match self.proto.output.first() {
            Some(out) => format!("#{} (output `{out}`)", self.index),
            None => format!("#{}", self.index),
        }
    }

    /// An `Unsupported` error about this node.
    pub fn unsupported(
        &self,
        problem: impl Into<String>,
        supported: impl Into<String>,
    ) -> ImportError {
        ImportError::Unsupported {
            node: self.label(),
            op: self.op().to_string(),
            problem: problem.into(),
            supported: supported.into(),
        }
    }

    /// The `i`-th input's value name, if present and non-empty.
    pub fn input(&self, i: usize) -> Option<&'a str> {
        self.proto
            .input
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The number of non-empty inputs.
    pub fn input_count(&self) -> usize {
        self.proto.input.iter().filter(|s| !s.is_empty()).count()
    }

    /// The first output's value name.
    pub fn output(&self) -> Result<&'a str, ImportError> {
        self.proto
            .output
            .first()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| self.unsupported("the node has no output", "nodes with one output"))
    }

    /// Refuse any attribute not in `known` (an attribute the importer does
    /// not read could change the meaning of the node).
    pub fn check_attributes(&self, known: &[&str]) -> Result<(), ImportError> {
        for a in &self.proto.attribute {
            if !known.contains(&a.name.as_str()) {
                let supported = if known.is_empty() {
                    "no attributes".to_string()
                } else {
                    format!("the attributes {}", known.join(", "))
                };
                return Err(self.unsupported(
                    format!("attribute `{}` is not supported", a.name),
                    supported,
                ));
            }
        }
        Ok(())
    }

    fn attribute(&self, name: &str) -> Option<&'a AttributeProto> {
        self.proto.attribute.iter().find(|a| a.name == name)
    }

    fn wrong_type(&self, name: &str, expected: &str) -> ImportError {
        self.unsupported(
            format!("attribute `{name}` is not {expected}"),
            format!("`{name}` as {expected}"),
        )
    }

    /// An INT attribute, or `default`.
    pub fn int(&self, name: &str, default: i64) -> Result<i64, ImportError> {
        match self.attribute(name) {
            None => Ok(default),
            Some(a) if a.r#type == attribute_type::INT || a.r#type == 0 => Ok(a.i),
            Some(_) => Err(self.wrong_type(name, "an integer")),
        }
    }

    /// A FLOAT attribute, or `default`.
    pub fn float(&self, name: &str, default: f64) -> Result<f64, ImportError> {
        match self.attribute(name) {
            None => Ok(default),
            Some(a) if a.r#type == attribute_type::FLOAT || a.r#type == 0 => Ok(a.f as f64),
            Some(_) => Err(self.wrong_type(name, "a float")),
        }
    }

    /// An INTS attribute, if present.
    pub fn ints(&self, name: &str) -> Result<Option<&'a [i64]>, ImportError> {
        match self.attribute(name) {
            None => Ok(None),
            Some(a) if a.r#type == attribute_type::INTS || a.r#type == 0 => Ok(Some(&a.ints)),
            Some(_) => Err(self.wrong_type(name, "a list of integers")),
        }
    }

    /// A STRING attribute, or `default`.
    pub fn string(&self, name: &str, default: &str) -> Result<String, ImportError> {
        match self.attribute(name) {
            None => Ok(default.to_string()),
            Some(a) if a.r#type == attribute_type::STRING || a.r#type == 0 => {
                Ok(String::from_utf8_lossy(&a.s).into_owned())
            }
            Some(_) => Err(self.wrong_type(name, "a string")),
        }
    }

    /// The value of a `Constant` node.
    pub fn constant_value(&self, external: &ExternalData) -> Result<Const, ImportError> {
        let a =
            match self.proto.attribute.as_slice() {
                [a] => a,
                _ => return Err(self.unsupported(
                    "a Constant needs exactly one attribute",
                    "Constant with one of value, value_float, value_floats, value_int, value_ints",
                )),
            };
        let label = self.label();
        match (a.name.as_str(), a.r#type) {
            ("value", attribute_type::TENSOR | 0) => match &a.t {
                Some(t) => read_tensor(t, &label, external),
                None => Err(self.wrong_type("value", "a tensor")),
            },
            ("value_float", attribute_type::FLOAT | 0) => Ok(Const {
                dims: vec![],
                data: Data::Float(vec![finite(self, a.f as f64)?]),
            }),
            ("value_floats", attribute_type::FLOATS | 0) => Ok(Const {
                dims: vec![a.floats.len()],
                data: Data::Float(
                    a.floats
                        .iter()
                        .map(|&v| finite(self, v as f64))
                        .collect::<Result<_, _>>()?,
                ),
            }),
            ("value_int", attribute_type::INT | 0) => Ok(Const {
                dims: vec![],
                data: Data::Int(vec![Int::Known(a.i)]),
            }),
            ("value_ints", attribute_type::INTS | 0) => Ok(Const {
                dims: vec![a.ints.len()],
                data: Data::Int(a.ints.iter().map(|&v| Int::Known(v)).collect()),
            }),
            (name, _) => Err(self.unsupported(
                format!("Constant attribute `{name}` is not supported"),
                "Constant with one of value, value_float, value_floats, value_int, value_ints",
            )),
        }
    }
}

fn finite(node: &Node<'_>, v: f64) -> Result<f64, ImportError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(node.unsupported("the constant is not a finite number", "finite constants"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(dims: Vec<i64>, data_type: i32, raw: Vec<u8>) -> TensorProto {
        TensorProto {
            dims,
            data_type,
            raw_data: raw,
            ..Default::default()
        }
    }

    #[test]
    fn reads_raw_and_typed_elements() {
        let raw: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let c = read_tensor(
            &tensor(vec![2], data_type::FLOAT, raw),
            "w",
            &ExternalData::new(),
        )
        .unwrap();
        assert_eq!(c.floats(), Some(&[1.5, -2.0][..]));
        let t = TensorProto {
            dims: vec![2],
            data_type: data_type::INT64,
            int64_data: vec![-1, 784],
            ..Default::default()
        };
        let c = read_tensor(&t, "s", &ExternalData::new()).unwrap();
        assert_eq!(c.ints(), Some(&[Int::Known(-1), Int::Known(784)][..]));
    }

    #[test]
    fn refuses_lying_sizes_and_external_data() {
        let e = read_tensor(
            &tensor(vec![3], data_type::FLOAT, vec![0; 8]),
            "w",
            &ExternalData::new(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "tensor `w`: shape [3] needs 3 elements, the file holds 2"
        );
        let e = read_tensor(
            &tensor(vec![1 << 40, 1 << 40], data_type::FLOAT, vec![]),
            "w",
            &ExternalData::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("too many elements"), "{e}");
        let mut t = tensor(vec![2], data_type::FLOAT, vec![]);
        t.data_location = 1;
        let entry = |k: &str, v: &str| crate::onnx::proto::StringStringEntryProto {
            key: k.into(),
            value: v.into(),
        };
        t.external_data = vec![
            entry("location", "m.onnx.data"),
            entry("offset", "4"),
            entry("length", "8"),
        ];
        let e = read_tensor(&t, "w", &ExternalData::new()).unwrap_err();
        assert!(
            e.to_string()
                .contains("`m.onnx.data`, which was not provided"),
            "{e}"
        );
        let mut files = ExternalData::new();
        let bytes = [0.0f32, 1.0, 2.0].iter().flat_map(|v| v.to_le_bytes());
        files.insert("m.onnx.data".into(), bytes.collect());
        assert_eq!(
            read_tensor(&t, "w", &files).unwrap().floats(),
            Some(&[1.0, 2.0][..])
        );
        t.external_data[2] = entry("length", "12");
        let e = read_tensor(&t, "w", &files).unwrap_err();
        assert!(e.to_string().contains("outside the external file"), "{e}");
        let nan: Vec<u8> = f32::NAN.to_le_bytes().to_vec();
        let e = read_tensor(
            &tensor(vec![1], data_type::FLOAT, nan),
            "w",
            &ExternalData::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not a finite number"), "{e}");
    }
}
