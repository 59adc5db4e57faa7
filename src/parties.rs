//! Starting the three parties of a private inference as separate OS
//! processes of this same program — `chimera dealer`, `serve` and `query`,
//! the code paths that run on three machines — and collecting what they
//! print. `chimera run` and `chimera bench` both drive the parties through
//! this one module, so they start them, wait for them and report their
//! failures alike.
//!
//! Every wait has a deadline: a party that has not finished in time is
//! killed and reported with what it wrote to stderr, never waited for
//! forever.
//!
//! The server and the client talk mutual TLS 1.3 by default, as on two
//! machines ([`Launcher::tls`] mints an ephemeral key and certificate for
//! each and pins each on the other side); [`Launcher::plaintext`] runs them
//! with `--insecure-plaintext` instead.

use anyhow::{bail, Context};
use chimera_runtime::identity::GeneratedIdentity;
use serde_json::Value;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A scratch directory under the system's temporary directory, removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    /// Create `chimera-<tag>-<pid>-<nanos>`.
    pub fn new(tag: &str) -> anyhow::Result<Scratch> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("chimera-{tag}-{}-{stamp}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the scratch directory {}", dir.display()))?;
        Ok(Scratch(dir))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts parties: the program to run, the channel flags of each role, and
/// the deadline of every wait.
#[derive(Clone, Debug)]
pub struct Launcher {
    exe: PathBuf,
    deadline: Duration,
    server_flags: Vec<OsString>,
    client_flags: Vec<OsString>,
    channel: &'static str,
}

/// What one dealer run took.
#[derive(Clone, Copy, Debug)]
pub struct Dealt {
    /// Wall time of the dealer process, seconds (start-up included).
    pub seconds: f64,
}

impl Launcher {
    /// Parties are this executable, talking mutual TLS with ephemeral
    /// identities minted into `keys` (a scratch directory); each wait lasts
    /// at most `deadline`.
    pub fn tls(deadline: Duration, keys: &Path) -> anyhow::Result<Launcher> {
        let mut files = Vec::new();
        for name in ["server", "client"] {
            let identity = GeneratedIdentity::generate(name, 1)
                .with_context(|| format!("cannot make an ephemeral {name} identity"))?;
            files.push(identity.write(keys, name)?);
        }
        let flags = |me: usize, peer: usize| -> Vec<OsString> {
            vec![
                "--identity".into(),
                files[me].cert.clone().into(),
                "--accept".into(),
                files[peer].cert.clone().into(),
            ]
        };
        Ok(Launcher {
            server_flags: flags(0, 1),
            client_flags: flags(1, 0),
            channel: "tls",
            ..Launcher::plaintext(deadline)?
        })
    }

    /// Parties talking plaintext TCP (`--insecure-plaintext` on both sides:
    /// loopback benchmarks only).
    pub fn plaintext(deadline: Duration) -> anyhow::Result<Launcher> {
        let flag = vec![OsString::from("--insecure-plaintext")];
        Ok(Launcher {
            exe: std::env::current_exe().context("cannot find the chimera executable")?,
            deadline: deadline.max(Duration::from_secs(1)),
            server_flags: flag.clone(),
            client_flags: flag,
            channel: "plaintext",
        })
    }

    /// `tls` or `plaintext`.
    pub fn channel(&self) -> &'static str {
        self.channel
    }

    /// One phrase on the channel, for outputs.
    pub fn channel_note(&self) -> &'static str {
        match self.channel {
            "tls" => "mutual TLS 1.3 with ephemeral keys",
            _ => "plaintext TCP (--insecure-plaintext: not encrypted, not authenticated)",
        }
    }

    fn command(&self, sub: &str) -> Command {
        let mut c = Command::new(&self.exe);
        c.arg(sub)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Run `chimera dealer PLAN --queries N --batch B --out DIR --quiet` to its end.
    pub fn deal(
        &self,
        plan: &Path,
        queries: usize,
        batch: usize,
        out: &Path,
    ) -> anyhow::Result<Dealt> {
        let started = Instant::now();
        let child = self
            .command("dealer")
            .arg(plan)
            .args(["--queries", &queries.to_string()])
            .args(["--batch", &batch.to_string(), "--quiet", "--out"])
            .arg(out)
            .spawn()
            .context("cannot start the dealer process")?;
        finish("dealer", child, self.deadline)?;
        Ok(Dealt {
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Start `chimera serve` on a free loopback port for `max_queries`
    /// queries; returns once it listens.
    pub fn serve(
        &self,
        plan: &Path,
        weights: &Path,
        material: &Path,
        max_queries: usize,
    ) -> anyhow::Result<Server> {
        let mut child = self
            .command("serve")
            .arg(plan)
            .arg("--weights")
            .arg(weights)
            .arg("--material")
            .arg(material)
            .args(["--listen", "127.0.0.1:0"])
            .args(["--max-queries", &max_queries.to_string()])
            .args(&self.server_flags)
            .spawn()
            .context("cannot start the server process")?;
        let first_line = listening_address(&mut child);
        let pipes = Pipes::of(&mut child);
        match first_line {
            Ok(addr) => Ok(Server {
                child: Some((child, pipes)),
                addr,
                deadline: self.deadline,
            }),
            Err(e) => {
                let _ = child.kill();
                let out = wait("server", child, pipes, self.deadline).err();
                bail!(
                    "{e:#}{}",
                    out.map(|o| format!("\n{o:#}")).unwrap_or_default()
                );
            }
        }
    }

    /// Run `chimera query PLAN --input … --material DIR --connect ADDR
    /// --json` to its end; its JSON result.
    pub fn query(
        &self,
        plan: &Path,
        inputs: &[PathBuf],
        material: &Path,
        connect: &str,
    ) -> anyhow::Result<Value> {
        let child = self
            .command("query")
            .arg(plan)
            .args(
                inputs
                    .iter()
                    .flat_map(|p| [PathBuf::from("--input"), p.clone()]),
            )
            .arg("--material")
            .arg(material)
            .args(["--connect", connect, "--json"])
            .args(&self.client_flags)
            .spawn()
            .context("cannot start the client process")?;
        let out = finish("client", child, self.deadline)?;
        serde_json::from_str(&out)
            .context("the client printed something that is not its JSON result")
    }
}

/// A running `chimera serve`; killed if dropped before [`Server::finish`].
pub struct Server {
    child: Option<(Child, Pipes)>,
    addr: String,
    deadline: Duration,
}

impl Server {
    /// The address it listens on.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Wait for the server to stop (after its `--max-queries`); its stderr
    /// log is in the error if it failed.
    pub fn finish(mut self) -> anyhow::Result<String> {
        match self.child.take() {
            Some((child, pipes)) => wait("server", child, pipes, self.deadline),
            None => Ok(String::new()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some((mut child, _)) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Read the server's first line, `listening on ADDR`.
fn listening_address(server: &mut Child) -> anyhow::Result<String> {
    let stdout = server
        .stdout
        .take()
        .context("the server's output is not readable")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        // Keep draining so the server never blocks on a full pipe.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .context("the server did not start listening within 30 s")?;
    if line.trim().is_empty() {
        bail!("the server stopped before it listened");
    }
    line.trim()
        .strip_prefix("listening on ")
        .map(str::to_string)
        .with_context(|| format!("the server did not start (it said {:?})", line.trim()))
}

/// Readers of a child's stdout and stderr, started at once so that a
/// chatty party never blocks on a full pipe.
struct Pipes {
    out: JoinHandle<String>,
    err: JoinHandle<String>,
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_string(&mut s);
        }
        s
    })
}

impl Pipes {
    fn of(child: &mut Child) -> Pipes {
        Pipes {
            out: drain(child.stdout.take()),
            err: drain(child.stderr.take()),
        }
    }
}

/// Wait for a party with a deadline; its stdout on success, an error with
/// its stderr otherwise.
pub fn finish(role: &str, mut child: Child, deadline: Duration) -> anyhow::Result<String> {
    let pipes = Pipes::of(&mut child);
    wait(role, child, pipes, deadline)
}

fn wait(role: &str, mut child: Child, pipes: Pipes, deadline: Duration) -> anyhow::Result<String> {
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let out = pipes.out.join().unwrap_or_default();
    let err = pipes.err.join().unwrap_or_default();
    match status {
        Some(s) if s.success() => Ok(out),
        Some(s) => bail!("the {role} process failed ({s}):\n{}", indent(&err)),
        None => bail!(
            "the {role} process did not finish within {} s and was stopped:\n{}",
            deadline.as_secs(),
            indent(&err)
        ),
    }
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
