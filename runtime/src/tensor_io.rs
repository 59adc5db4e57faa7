//! Reading and writing `.npy` tensors: the client's inputs and the outputs.
//!
//! Inputs come from outside (a file the user names), so the reader is strict
//! and every failure is a typed [`NpyError`]: the magic string, the header
//! version (1.0, 2.0 and 3.0 are read), the header dictionary, the dtype
//! (little-endian `<f4` or `<f8` only), C order, and the exact data length
//! (a short file and trailing bytes are both refused). Values are widened to
//! `f64` once, and [`Tensor::into_batch`] matches them against a plan's
//! declared input shape, with or without a leading batch dimension.

use std::path::Path;

/// The magic string at the start of every `.npy` file.
const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Element type of a `.npy` file this module reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpyDtype {
    /// Little-endian IEEE-754 single precision (`<f4`).
    F32,
    /// Little-endian IEEE-754 double precision (`<f8`).
    F64,
}

impl NpyDtype {
    /// The numpy `descr` string.
    pub fn descr(self) -> &'static str {
        match self {
            NpyDtype::F32 => "<f4",
            NpyDtype::F64 => "<f8",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            NpyDtype::F32 => 4,
            NpyDtype::F64 => 8,
        }
    }
}

/// A dense tensor read from (or to be written to) a `.npy` file, in C order.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Shape, outermost first (empty for a scalar).
    pub shape: Vec<usize>,
    /// Elements in row-major order, widened to `f64`.
    pub data: Vec<f64>,
}

/// Rows of one plan input: `rows` inputs of the plan's shape, one after another.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Number of inputs (rows).
    pub rows: usize,
    /// The shape of one row (the plan's input shape).
    pub row_shape: Vec<usize>,
    /// `rows × product(row_shape)` elements, row-major.
    pub data: Vec<f64>,
}

impl Batch {
    /// Elements per row.
    pub fn row_len(&self) -> usize {
        self.row_shape.iter().product()
    }

    /// The elements of row `r`.
    pub fn row(&self, r: usize) -> &[f64] {
        let n = self.row_len();
        &self.data[r * n..(r + 1) * n]
    }
}

/// Why a `.npy` file cannot be read or does not fit.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// File path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Wrapped with the file it came from.
    #[error("{path}: {source}")]
    InFile {
        /// File path.
        path: String,
        /// What is wrong with its content.
        #[source]
        source: Box<NpyError>,
    },
    /// Not a `.npy` file at all.
    #[error("not a .npy file (it does not start with \\x93NUMPY)")]
    BadMagic,
    /// A header version this reader does not know.
    #[error(".npy format version {0}.{1} is not supported (versions 1.0, 2.0 and 3.0 are)")]
    Version(u8, u8),
    /// The header dictionary is malformed.
    #[error("malformed .npy header: {0}")]
    BadHeader(String),
    /// An element type other than little-endian float32/float64.
    #[error("unsupported dtype `{0}`: inputs must be little-endian float32 (`<f4`) or float64 (`<f8`); convert with `x.astype(numpy.float32)`")]
    Dtype(String),
    /// Fortran (column-major) order.
    #[error(
        "the array is stored in Fortran order; save it in C order (`numpy.ascontiguousarray(x)`)"
    )]
    FortranOrder,
    /// Fewer data bytes than the shape needs.
    #[error("truncated data: shape {shape:?} needs {expected} bytes, the file has {found}")]
    Truncated {
        /// Declared shape.
        shape: Vec<usize>,
        /// Bytes needed.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// More data bytes than the shape needs.
    #[error("{extra} unexpected bytes after the data of shape {shape:?}")]
    TrailingBytes {
        /// Declared shape.
        shape: Vec<usize>,
        /// Bytes left over.
        extra: usize,
    },
    /// The tensor's shape is neither the plan's input shape nor a batch of it.
    #[error("input `{input}` has shape {found:?}, but the plan expects {expected:?} or a batch [N, {}]", dims(.expected))]
    Shape {
        /// Name of the plan input.
        input: String,
        /// The plan's shape of one row.
        expected: Vec<usize>,
        /// The tensor's shape.
        found: Vec<usize>,
    },
}

fn dims(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Tensor {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the tensor has no element.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// View this tensor as rows of a plan input of shape `row_shape`: the
    /// tensor's shape must be exactly `row_shape` (one row) or
    /// `[N] ++ row_shape` (N rows). `input` names the plan input in errors.
    pub fn into_batch(self, input: &str, row_shape: &[usize]) -> Result<Batch, NpyError> {
        let rows = if self.shape == row_shape {
            1
        } else if self.shape.len() == row_shape.len() + 1 && self.shape[1..] == *row_shape {
            self.shape[0]
        } else {
            return Err(NpyError::Shape {
                input: input.to_string(),
                expected: row_shape.to_vec(),
                found: self.shape,
            });
        };
        Ok(Batch {
            rows,
            row_shape: row_shape.to_vec(),
            data: self.data,
        })
    }
}

/// Parse the bytes of a `.npy` file.
pub fn read_npy(bytes: &[u8]) -> Result<Tensor, NpyError> {
    if bytes.len() < 8 || &bytes[..6] != MAGIC {
        return Err(NpyError::BadMagic);
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (header_len, start): (usize, usize) = match major {
        1 => {
            let len = bytes
                .get(8..10)
                .ok_or_else(|| NpyError::BadHeader("file ends inside the header length".into()))?;
            (u16::from_le_bytes([len[0], len[1]]) as usize, 10)
        }
        2 | 3 => {
            let len = bytes
                .get(8..12)
                .ok_or_else(|| NpyError::BadHeader("file ends inside the header length".into()))?;
            (
                u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize,
                12,
            )
        }
        _ => return Err(NpyError::Version(major, minor)),
    };
    if minor != 0 {
        return Err(NpyError::Version(major, minor));
    }
    let header_bytes = bytes
        .get(start..start.saturating_add(header_len))
        .ok_or_else(|| {
            NpyError::BadHeader(format!(
                "the header claims {header_len} bytes, the file has {}",
                bytes.len().saturating_sub(start)
            ))
        })?;
    let header = std::str::from_utf8(header_bytes)
        .map_err(|_| NpyError::BadHeader("the header is not UTF-8 text".into()))?;
    let Header {
        descr,
        fortran_order,
        shape,
    } = parse_header(header)?;
    let dtype = match descr.as_str() {
        "<f4" => NpyDtype::F32,
        "<f8" => NpyDtype::F64,
        _ => return Err(NpyError::Dtype(descr)),
    };
    if fortran_order && shape.iter().filter(|&&d| d > 1).count() > 1 {
        return Err(NpyError::FortranOrder);
    }
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| NpyError::BadHeader(format!("shape {shape:?} is too large")))?;
    let expected = count
        .checked_mul(dtype.size())
        .ok_or_else(|| NpyError::BadHeader(format!("shape {shape:?} is too large")))?;
    let body = &bytes[start + header_len..];
    if body.len() < expected {
        return Err(NpyError::Truncated {
            shape,
            expected,
            found: body.len(),
        });
    }
    if body.len() > expected {
        return Err(NpyError::TrailingBytes {
            extra: body.len() - expected,
            shape,
        });
    }
    let data = match dtype {
        NpyDtype::F32 => body
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect(),
        NpyDtype::F64 => body
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
    };
    Ok(Tensor { shape, data })
}

/// Read a `.npy` file; errors name the file.
pub fn load_npy(path: &Path) -> Result<Tensor, NpyError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| NpyError::Io {
        path: shown.clone(),
        source,
    })?;
    read_npy(&bytes).map_err(|e| NpyError::InFile {
        path: shown,
        source: Box::new(e),
    })
}

/// Serialize a tensor as a `.npy` file in C order: version 1.0, or 2.0 when
/// the header does not fit version 1.0's 16-bit length.
pub fn write_npy(tensor: &Tensor, dtype: NpyDtype) -> Vec<u8> {
    let shape = match tensor.shape.len() {
        0 => "()".to_string(),
        1 => format!("({},)", tensor.shape[0]),
        _ => format!("({})", dims(&tensor.shape)),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        dtype.descr()
    );
    // Version 1.0 stores the header length in 16 bits; a longer header (a
    // shape with thousands of dimensions) needs version 2.0's 32 bits.
    let len_bytes = if MAGIC.len() + 2 + 2 + header.len() + 64 > usize::from(u16::MAX) {
        4
    } else {
        2
    };
    // Pad with spaces so that data starts on a 64-byte boundary, ending in '\n'.
    let unpadded = MAGIC.len() + 2 + len_bytes + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out =
        Vec::with_capacity(8 + len_bytes + header.len() + tensor.data.len() * dtype.size());
    out.extend_from_slice(MAGIC);
    if len_bytes == 2 {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    match dtype {
        NpyDtype::F32 => {
            for &v in &tensor.data {
                out.extend_from_slice(&(v as f32).to_le_bytes());
            }
        }
        NpyDtype::F64 => {
            for &v in &tensor.data {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    out
}

/// Write a tensor to a `.npy` file atomically.
pub fn save_npy(path: &Path, tensor: &Tensor, dtype: NpyDtype) -> Result<(), NpyError> {
    crate::fsutil::write_atomic(path, &write_npy(tensor, dtype)).map_err(|source| NpyError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// The three fields of a `.npy` header dictionary.
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// Parse the Python dictionary literal of a `.npy` header, e.g.
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (1, 28, 28), }`.
fn parse_header(text: &str) -> Result<Header, NpyError> {
    let mut p = HeaderParser {
        s: text.trim_end().as_bytes(),
        i: 0,
    };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    p.expect(b'{')?;
    loop {
        p.skip_ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.skip_ws();
        p.expect(b':')?;
        p.skip_ws();
        match key.as_str() {
            "descr" => descr = Some(p.string()?),
            "fortran_order" => fortran = Some(p.boolean()?),
            "shape" => shape = Some(p.tuple()?),
            other => return Err(NpyError::BadHeader(format!("unknown key `{other}`"))),
        }
        p.skip_ws();
        if !p.eat(b',') {
            p.skip_ws();
            p.expect(b'}')?;
            break;
        }
    }
    p.skip_ws();
    if p.i != p.s.len() {
        return Err(NpyError::BadHeader("text after the dictionary".into()));
    }
    Ok(Header {
        descr: descr.ok_or_else(|| NpyError::BadHeader("missing `descr`".into()))?,
        fortran_order: fortran
            .ok_or_else(|| NpyError::BadHeader("missing `fortran_order`".into()))?,
        shape: shape.ok_or_else(|| NpyError::BadHeader("missing `shape`".into()))?,
    })
}

/// A cursor over the header text.
struct HeaderParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl HeaderParser<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), NpyError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(NpyError::BadHeader(format!(
                "expected `{}` at byte {}",
                c as char, self.i
            )))
        }
    }

    fn string(&mut self) -> Result<String, NpyError> {
        let quote = match self.s.get(self.i) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => {
                return Err(NpyError::BadHeader(format!(
                    "expected a quoted string at byte {}",
                    self.i
                )))
            }
        };
        self.i += 1;
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] != quote {
            self.i += 1;
        }
        if self.i == self.s.len() {
            return Err(NpyError::BadHeader("unterminated string".into()));
        }
        let text = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.i += 1;
        Ok(text)
    }

    fn boolean(&mut self) -> Result<bool, NpyError> {
        for (word, value) in [(&b"True"[..], true), (&b"False"[..], false)] {
            if self.s[self.i..].starts_with(word) {
                self.i += word.len();
                return Ok(value);
            }
        }
        Err(NpyError::BadHeader(format!(
            "expected True or False at byte {}",
            self.i
        )))
    }

    fn tuple(&mut self) -> Result<Vec<usize>, NpyError> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            self.skip_ws();
            if self.eat(b')') {
                return Ok(dims);
            }
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                self.i += 1;
            }
            if start == self.i {
                return Err(NpyError::BadHeader(format!(
                    "expected a dimension at byte {start}"
                )));
            }
            let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
            let d = digits
                .parse::<usize>()
                .map_err(|_| NpyError::BadHeader(format!("dimension {digits} is too large")))?;
            // numpy may write `3L` in files from Python 2.
            self.eat(b'L');
            dims.push(d);
            self.skip_ws();
            if !self.eat(b',') {
                self.skip_ws();
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

#[cfg(test)]
mod tests;
