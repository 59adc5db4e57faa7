//! Starting the `chimera dealer`, `serve` and `query` parties of a bundled
//! example as the process tests do, so every test drives them the same way.

use super::cli::{chimera, listening_addr, stderr};
use super::example;
use chimera_runtime::identity::GeneratedIdentity;
use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// `chimera dealer STEM.nn --queries N --quiet --out OUT`, which must succeed: material for single-row queries.
pub fn deal(stem: &str, queries: usize, out: &Path) {
    let o = chimera()
        .arg("dealer")
        .arg(example(&format!("{stem}.nn")))
        .args(["--queries", &queries.to_string(), "--quiet", "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A fresh TLS identity `KEYS/NAME.{crt,key}` for each of `names`.
pub fn mint_keys(keys: &Path, names: &[&str]) {
    for name in names {
        GeneratedIdentity::generate(name, 1)
            .unwrap()
            .write(keys, name)
            .unwrap();
    }
}

/// The mutual-TLS flags of party `me`: its identity and `peer`'s pinned certificate, from `keys`.
pub fn tls_flags(keys: &Path, me: &str, peer: &str) -> Vec<OsString> {
    vec![
        "--identity".into(),
        keys.join(format!("{me}.crt")).into(),
        "--accept".into(),
        keys.join(format!("{peer}.crt")).into(),
    ]
}

/// Start `chimera serve STEM.nn` with its trained weights on a free loopback port (`--timeout SECS`, then `link`), output piped: the process and the address it listens on.
pub fn serve<S: AsRef<OsStr>>(
    stem: &str,
    material: &Path,
    timeout: u64,
    link: impl IntoIterator<Item = S>,
) -> (Child, String) {
    let mut child = chimera()
        .arg("serve")
        .arg(example(&format!("{stem}.nn")))
        .arg("--weights")
        .arg(example(&format!("{stem}.safetensors")))
        .arg("--material")
        .arg(material)
        .args(["--listen", "127.0.0.1:0", "--timeout", &timeout.to_string()])
        .args(link)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = listening_addr(&mut child);
    (child, addr)
}

/// `chimera query PLAN --input INPUT --material M --connect ADDR --timeout SECS` and `link`, not yet run (the caller picks its deadline).
pub fn query<S: AsRef<OsStr>>(
    plan: &Path,
    input: &Path,
    material: &Path,
    addr: &str,
    timeout: u64,
    link: impl IntoIterator<Item = S>,
) -> Command {
    let mut c = chimera();
    c.arg("query")
        .arg(plan)
        .arg("--input")
        .arg(input)
        .arg("--material")
        .arg(material)
        .args(["--connect", addr, "--timeout", &timeout.to_string()])
        .args(link);
    c
}

/// Unused bundles (`*.mat` files) in one party's material directory.
pub fn unused(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".mat")
        })
        .count()
}
