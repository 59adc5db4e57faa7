//! Driving the `chimera` binary from a test: the command, a scratch
//! directory, a failed process's stderr, and the address a server prints.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output};

/// The `chimera` binary of this build.
pub fn chimera() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chimera"))
}

/// A process's standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh, empty directory for test `tag` of this test process.
pub fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chimera-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// The address from the `listening on ADDR` line a server (`chimera serve`,
/// `chimera dealer --serve`) prints first on its piped stdout.
pub fn listening_addr(child: &mut Child) -> String {
    let mut line = String::new();
    let stdout = child.stdout.take().expect("the server's stdout is piped");
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the server's first line");
    line.trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("server did not start: {line:?}"))
        .to_string()
}
