//! Round trips and every refusal of the `.npy` reader.

use super::*;

/// A `.npy` file with an arbitrary header text and body (version `major`.0).
fn npy_with(major: u8, header: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[major, 0]);
    let h = format!("{header}\n");
    if major == 1 {
        out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(h.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(body);
    out
}

fn f32_body(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn round_trip_f32_and_f64() {
    let t = Tensor {
        shape: vec![2, 1, 3],
        data: vec![0.0, 1.0, -2.5, 3.25, 1e-3, -7.0],
    };
    for dtype in [NpyDtype::F32, NpyDtype::F64] {
        let bytes = write_npy(&t, dtype);
        assert_eq!(
            (bytes.len() - t.len() * dtype.size()) % 64,
            0,
            "data is 64-byte aligned"
        );
        let back = read_npy(&bytes).unwrap();
        assert_eq!(back.shape, t.shape);
        for (a, b) in back.data.iter().zip(&t.data) {
            assert_eq!(
                *a,
                if dtype == NpyDtype::F32 {
                    *b as f32 as f64
                } else {
                    *b
                }
            );
        }
    }
}

#[test]
fn scalar_and_vector_shapes() {
    for shape in [vec![], vec![5]] {
        let t = Tensor {
            data: vec![1.5; shape.iter().product()],
            shape,
        };
        assert_eq!(read_npy(&write_npy(&t, NpyDtype::F64)).unwrap(), t);
    }
}

#[test]
fn reads_versions_2_and_3_and_double_quotes() {
    let body = f32_body(&[1.0, 2.0]);
    for major in [2, 3] {
        let bytes = npy_with(
            major,
            "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2,)}",
            &body,
        );
        let t = read_npy(&bytes).unwrap();
        assert_eq!(t.shape, vec![2]);
        assert_eq!(t.data, vec![1.0, 2.0]);
    }
}

#[test]
fn reads_the_committed_sample_input() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/inputs/mnist_0.npy");
    let t = load_npy(&path).unwrap();
    assert_eq!(t.shape, vec![1, 28, 28]);
    assert!(t.data.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(
        t.data.iter().any(|&v| v > 0.5),
        "an image of a digit has bright pixels"
    );
}

#[test]
fn refuses_bad_magic_and_version() {
    assert!(matches!(
        read_npy(b"PK\x03\x04 zip file"),
        Err(NpyError::BadMagic)
    ));
    assert!(matches!(read_npy(b""), Err(NpyError::BadMagic)));
    let mut bytes = npy_with(
        1,
        "{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }",
        &[],
    );
    bytes[6] = 4;
    let err = read_npy(&bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        ".npy format version 4.0 is not supported (versions 1.0, 2.0 and 3.0 are)"
    );
}

#[test]
fn refuses_other_dtypes_with_advice() {
    for descr in ["<i8", ">f4", "|u1", "<f2"] {
        let bytes = npy_with(
            1,
            &format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (1,), }}"),
            &[0; 8],
        );
        let err = read_npy(&bytes).unwrap_err();
        assert!(matches!(&err, NpyError::Dtype(d) if d == descr), "{err}");
        assert!(err.to_string().contains("astype(numpy.float32)"), "{err}");
    }
}

#[test]
fn refuses_fortran_order_of_a_matrix() {
    let bytes = npy_with(
        1,
        "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
        &f32_body(&[0.0; 6]),
    );
    let err = read_npy(&bytes).unwrap_err();
    assert!(matches!(err, NpyError::FortranOrder));
    assert!(err.to_string().contains("ascontiguousarray"));
    // A vector is the same in either order.
    let bytes = npy_with(
        1,
        "{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }",
        &f32_body(&[1.0, 2.0, 3.0]),
    );
    assert_eq!(read_npy(&bytes).unwrap().data, vec![1.0, 2.0, 3.0]);
}

#[test]
fn refuses_truncated_and_trailing_data() {
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
    let err = read_npy(&npy_with(1, header, &f32_body(&[1.0, 2.0, 3.0]))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "truncated data: shape [2, 2] needs 16 bytes, the file has 12"
    );
    let err = read_npy(&npy_with(1, header, &f32_body(&[1.0; 5]))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "4 unexpected bytes after the data of shape [2, 2]"
    );
}

#[test]
fn refuses_malformed_headers() {
    let cases = [
        ("{'descr': '<f4', 'shape': (2,), }", "missing `fortran_order`"),
        ("{'descr': '<f4', 'fortran_order': False, }", "missing `shape`"),
        ("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", "expected True or False"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", "expected a dimension"),
        ("{'descr': '<f4, 'fortran_order': False, 'shape': (2,), }", "expected `}` at byte 17"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}", "unknown key `extra`"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } trailing", "text after"),
        (
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, 99999999999), }",
            "too large",
        ),
    ];
    for (header, expected) in cases {
        let err = read_npy(&npy_with(1, header, &[])).unwrap_err();
        assert!(matches!(err, NpyError::BadHeader(_)), "{header}: {err}");
        assert!(err.to_string().contains(expected), "{header}: {err}");
    }
    // Header length pointing past the end of the file.
    let mut bytes = npy_with(1, "{}", &[]);
    bytes[8] = 200;
    let err = read_npy(&bytes).unwrap_err();
    assert!(
        err.to_string().contains("the header claims 200 bytes"),
        "{err}"
    );
}

#[test]
fn load_names_the_file() {
    let err = load_npy(Path::new("/nonexistent/x.npy")).unwrap_err();
    assert!(err.to_string().starts_with("/nonexistent/x.npy: "), "{err}");
    let dir = std::env::temp_dir().join(format!("chimera-npy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.npy");
    std::fs::write(&path, b"not numpy").unwrap();
    let err = load_npy(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: not a .npy file (it does not start with \\x93NUMPY)",
            path.display()
        )
    );
    let good = dir.join("good.npy");
    let t = Tensor {
        shape: vec![3],
        data: vec![1.0, 2.0, 3.0],
    };
    save_npy(&good, &t, NpyDtype::F32).unwrap();
    assert_eq!(load_npy(&good).unwrap(), t);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn batch_accepts_one_row_or_a_leading_dimension() {
    let one = Tensor {
        shape: vec![1, 2, 2],
        data: vec![1.0, 2.0, 3.0, 4.0],
    };
    let b = one.clone().into_batch("x", &[1, 2, 2]).unwrap();
    assert_eq!((b.rows, b.row_len()), (1, 4));
    let many = Tensor {
        shape: vec![3, 1, 2, 2],
        data: (0..12).map(f64::from).collect(),
    };
    let b = many.into_batch("x", &[1, 2, 2]).unwrap();
    assert_eq!(b.rows, 3);
    assert_eq!(b.row(2), &[8.0, 9.0, 10.0, 11.0]);
    let err = one.into_batch("x", &[4]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input `x` has shape [1, 2, 2], but the plan expects [4] or a batch [N, 4]"
    );
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn valid_file() -> Vec<u8> {
        write_npy(
            &Tensor {
                shape: vec![2, 3],
                data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            },
            NpyDtype::F32,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = read_npy(&bytes);
        }

        #[test]
        fn on_mutated_valid_files(flips in proptest::collection::vec((0usize..100, any::<u8>()), 1..6), cut in 0usize..100) {
            let mut bytes = valid_file();
            for (i, b) in flips {
                let n = bytes.len();
                bytes[i % n] = b;
            }
            let keep = bytes.len() - cut.min(bytes.len());
            bytes.truncate(keep);
            if let Ok(t) = read_npy(&bytes) {
                prop_assert_eq!(t.len(), t.shape.iter().product::<usize>());
            }
        }
    }
}

/// Found by the `npy_read` fuzz target's round trip: a shape whose header is
/// longer than 65535 bytes was written with a truncated 16-bit length, so
/// the file did not read back. Such headers now use version 2.0.
#[test]
fn write_npy_uses_version_2_for_a_header_longer_than_u16() {
    let tensor = Tensor {
        shape: vec![1; 30_000],
        data: vec![2.5],
    };
    let bytes = write_npy(&tensor, NpyDtype::F64);
    assert_eq!(&bytes[6..8], &[2, 0]);
    let header_len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    assert!(header_len > usize::from(u16::MAX));
    assert_eq!((12 + header_len) % 64, 0);
    assert_eq!(read_npy(&bytes).unwrap(), tensor);
    let small = write_npy(
        &Tensor {
            shape: vec![2],
            data: vec![1.0, 2.0],
        },
        NpyDtype::F32,
    );
    assert_eq!(&small[6..8], &[1, 0]);
}
