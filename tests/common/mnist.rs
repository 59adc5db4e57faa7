//! A reader for the gzip-compressed IDX files of MNIST (big-endian u32
//! magic and dimensions, then the bytes), as shipped in
//! `../shared/data/mnist/` (see `/work/shared/data/README.md`).

use flate2::read::GzDecoder;
use std::io::Read;
use std::path::PathBuf;

/// Where the MNIST files are: `$CHIMERA_MNIST_DIR`, else `../shared/data/mnist`
/// beside the repository.
pub fn dir() -> PathBuf {
    match std::env::var_os("CHIMERA_MNIST_DIR") {
        Some(d) => PathBuf::from(d),
        None => super::root().join("../shared/data/mnist"),
    }
}

/// Read an IDX file: its dimensions and bytes.
pub fn read_idx(name: &str) -> (Vec<usize>, Vec<u8>) {
    let path = dir().join(name);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (set CHIMERA_MNIST_DIR to the directory of the MNIST .gz files)",
            path.display()
        )
    });
    let mut bytes = Vec::new();
    GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let magic = be(0);
    assert_eq!(
        magic >> 8,
        0x08,
        "{}: not an unsigned-byte IDX file",
        path.display()
    );
    let ndim = (magic & 0xff) as usize;
    let dims: Vec<usize> = (0..ndim).map(|d| be(4 + 4 * d) as usize).collect();
    let body = bytes[4 + 4 * ndim..].to_vec();
    assert_eq!(
        body.len(),
        dims.iter().product::<usize>(),
        "{}: size",
        path.display()
    );
    (dims, body)
}

/// The first `n` test images (pixels scaled to [0, 1], each 784 values in
/// row-major order) and their labels.
pub fn test_set(n: usize) -> (Vec<f64>, Vec<usize>) {
    let (dims, pixels) = read_idx("t10k-images.idx3-ubyte.gz");
    assert_eq!(&dims[1..], &[28, 28]);
    let (_, labels) = read_idx("t10k-labels.idx1-ubyte.gz");
    let images = pixels[..n * 784]
        .iter()
        .map(|&p| p as f64 / 255.0)
        .collect();
    (images, labels[..n].iter().map(|&l| l as usize).collect())
}
