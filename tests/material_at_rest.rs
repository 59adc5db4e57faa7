//! Material at rest, through the real `chimera dealer`, `serve` and `query`
//! processes: every bundle file is owner-only (0600) with no temporary left
//! behind; a truncated or altered bundle is refused before use with an
//! error naming the file (the client's before it even connects, the
//! server's with an abort the client reports), never a panic or a wrong
//! answer.

mod common;

use common::cli::{scratch, stderr};
use common::example;
use common::parties;
use common::reaped::Reaped;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// The bundle files of one party directory, sorted (query order).
fn bundles(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn query(material: &Path, addr: &str) -> Output {
    parties::query(
        &example("netD_chameleon.nn"),
        &example("inputs/mnist_0.npy"),
        material,
        addr,
        10,
        ["--insecure-plaintext"],
    )
    .output()
    .unwrap()
}

/// The client's error for a damaged bundle: names the file, says why, and
/// no panic.
fn assert_refused(o: &Output, file: &Path, what: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "{what}: the query must fail");
    assert!(!err.contains("panicked"), "{what}: {err}");
    let name = file.file_name().unwrap().to_string_lossy();
    assert!(
        err.contains(&*name),
        "{what}: the error names the file: {err}"
    );
    assert!(
        err.contains("checksum mismatch: the file is truncated or altered"),
        "{what}: {err}"
    );
}

#[test]
fn damaged_material_is_refused_with_the_file_named_and_files_are_owner_only() {
    let dir = scratch("at-rest");
    let material = dir.join("m");
    parties::deal("netD_chameleon", 2, &material);

    // Owner-only, exactly the two bundles per party, no temporaries.
    let server = bundles(&material.join("server"));
    let client = bundles(&material.join("client"));
    for (party, files) in [("server", &server), ("client", &client)] {
        assert_eq!(files.len(), 2, "{party}: {files:?}");
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                name.starts_with('q') && name.ends_with(".mat"),
                "{party}: unexpected file {name}"
            );
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", f.display());
            }
        }
    }

    // The client's next bundle truncated, then with one byte altered: the
    // query is refused before connecting (nothing listens at port 9) and
    // the bundle stays unclaimed.
    let intact = std::fs::read(&client[0]).unwrap();
    std::fs::write(&client[0], &intact[..intact.len() - 100]).unwrap();
    assert_refused(&query(&material, "127.0.0.1:9"), &client[0], "truncated");
    let mut altered = intact.clone();
    altered[intact.len() / 2] ^= 0x40;
    std::fs::write(&client[0], &altered).unwrap();
    assert_refused(&query(&material, "127.0.0.1:9"), &client[0], "altered");
    assert!(client[0].exists(), "a refused bundle is not claimed");
    std::fs::write(&client[0], &intact).unwrap();

    // The server's second bundle altered: the first query is answered; the
    // second is refused by the server with the file named in its log, and
    // the client reports the server's refusal.
    let mut bytes = std::fs::read(&server[1]).unwrap();
    let at = bytes.len() - 40;
    bytes[at] ^= 1;
    std::fs::write(&server[1], &bytes).unwrap();
    let (child, addr) = parties::serve("netD_chameleon", &material, 10, ["--insecure-plaintext"]);
    let serve = Reaped::new(child);
    let o = query(&material, &addr);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("label 7"));
    let o = query(&material, &addr);
    let err = stderr(&o);
    assert!(
        !o.status.success(),
        "the damaged server bundle must not be used"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("the server refuses the query")
            && err.contains("checksum mismatch: the file is truncated or altered"),
        "{err}"
    );

    // Both bundles are now used: the server stops by itself.
    let mut child = serve.into_inner();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server did not stop"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let log = stderr(&child.wait_with_output().unwrap());
    let name = server[1].file_name().unwrap().to_string_lossy();
    assert!(
        log.contains(&*name) && log.contains("checksum mismatch"),
        "the server names the damaged file: {log}"
    );
    assert!(log.contains("served 1 query"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    std::fs::remove_dir_all(&dir).unwrap();
}
