//! Driving the `chimera` binary from a test: the command, a scratch
//! directory that removes itself, a failed process's stderr, the address a
//! server prints, and waiting for a process with a deadline.

use std::io::{BufRead, BufReader, Read};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `chimera` binary of this build.
pub fn chimera() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chimera"))
}

/// A process's standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A scratch directory of one test, removed with everything in it when
/// dropped — also when the test fails halfway — so test runs leave nothing
/// behind in the temporary directory. Derefs to its [`Path`].
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh, empty directory for test `tag` of this test process, removed
/// when the returned guard is dropped (keep it alive as long as the test
/// uses the directory, and drop it after the processes using it).
pub fn scratch(tag: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("chimera-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    Scratch(dir)
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

/// Run `cmd` to its end like [`Command::output`], but within `limit`: a
/// process still running then is killed and the test fails, so a hang is a
/// failure with the process's output rather than a test that never ends.
pub fn output_within(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the process starts");
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the process") {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    match status {
        Some(status) => Output {
            status,
            stdout,
            stderr,
        },
        None => panic!(
            "{cmd:?} did not finish within {limit:?} (a hang):\n{}",
            String::from_utf8_lossy(&stderr)
        ),
    }
}
