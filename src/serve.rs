//! `chimera serve`: the server's side of private inference.
//!
//! Loads the plan and binds the weights (refusing weights that do not fit),
//! then answers one query per connection until its material is used up. A
//! query that fails — bad request, foreign or used material, a peer that
//! vanishes — is logged and ends that connection only. Concurrent sessions
//! are capped ([`crate::admission`]), so memory stays bounded under load.

use crate::admission::{Admission, Ticket};
use crate::common::load_plan;
use crate::distribute::FetchArgs;
use crate::link::{LinkArgs, Security};
use crate::materials;
use crate::session_request::{self, Request};
use anyhow::Context;
use chimera_runtime::dealer::PartyMaterial;
use chimera_runtime::exec;
use chimera_runtime::plan::{Party, Plan};
use chimera_runtime::transport::{plan_max_frame, Channel, ChannelConfig, Metered, MIN_FRAME};
use chimera_runtime::weights::{self, BoundWeights};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::time::Duration;

/// Flags of `chimera serve`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The network: a compiled plan (.ron) or a .nn file (compiled here).
    pub plan: PathBuf,
    /// The server's weights (safetensors).
    #[arg(long, value_name = "W.safetensors")]
    pub weights: PathBuf,
    /// The dealer's output directory (or its `server/` subdirectory).
    #[arg(long, value_name = "DIR")]
    pub material: PathBuf,
    /// Address to listen on (port 0 lets the system choose; the address is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7470")]
    pub listen: String,
    /// Stop after this many queries (default: when the material is used up).
    #[arg(long)]
    pub max_queries: Option<usize>,
    /// Seconds to wait for the peer at any read before giving up on a query.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Queries run at the same time; more connections wait (see --max-queue).
    #[arg(long, default_value_t = 16)]
    pub max_sessions: usize,
    /// Connections that may wait for a running slot (up to --timeout); beyond
    /// them a client is refused at once with "the server is busy".
    #[arg(long, default_value_t = 64)]
    pub max_queue: usize,
    /// Channel security: our identity and the client certificates accepted.
    #[command(flatten)]
    pub link: LinkArgs,
    /// Fetching the material from a dealer over TLS first.
    #[command(flatten)]
    pub fetch: FetchArgs,
}

/// Run the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let saved = match load_plan(&args.plan)? {
        Ok(saved) => saved,
        Err(code) => return Ok(code),
    };
    let plan = Arc::new(saved.plan);
    let bound =
        Arc::new(weights::load(&plan, &args.weights).with_context(|| {
            format!("the weights {} do not fit the plan", args.weights.display())
        })?);
    let security = Arc::new(args.link.security("client")?);
    let timeout = Duration::from_secs(args.timeout.max(1));
    args.fetch.fetch_if_asked(
        &security,
        Party::Server,
        plan.hash()?,
        &args.material,
        timeout,
    )?;
    let dir = materials::party_dir(&args.material, Party::Server);
    let (fresh, used) = materials::census(&dir);
    if fresh == 0 {
        anyhow::bail!(
            "no unused server material in {} ({used} used); run `chimera dealer` first",
            dir.display()
        );
    }
    // Material dealt for another plan would be refused query after query
    // (each refusal using a bundle up): refuse it here, before listening.
    let next = materials::peek_next(&dir, Party::Server)?;
    materials::check_plan(&plan, &next).with_context(|| {
        format!(
            "the material in {} does not fit the plan {}",
            dir.display(),
            args.plan.display()
        )
    })?;
    let listener = TcpListener::bind(&args.listen).with_context(|| {
        format!(
            "cannot listen on {} (is another server using that port? choose another with --listen)",
            args.listen
        )
    })?;
    let addr = listener.local_addr()?;
    println!("listening on {addr}");
    eprintln!(
        "chimera serve: model `{}`, plan {}, {} linear layer(s) bound, {fresh} unused quer{} in {}",
        plan.model,
        plan.hash()?.short(),
        bound.layers.len(),
        if fresh == 1 { "y" } else { "ies" },
        dir.display()
    );
    eprintln!(
        "security: semi-honest parties, non-colluding dealer; {}",
        security.describe("client")
    );
    let config = ChannelConfig {
        read_timeout: timeout,
        // Until the request names its batch, nothing larger is expected.
        max_frame: MIN_FRAME,
    };
    listener.set_nonblocking(true)?;
    let admission = Admission::new(args.max_sessions, args.max_queue);
    let refuse = refuser(Arc::clone(&security), Arc::clone(&admission), config);
    let active = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let mut accepted = 0usize;
    loop {
        let limit_reached = args.max_queries.is_some_and(|m| accepted >= m);
        let exhausted = materials::census(&dir).0 == 0;
        if (limit_reached || exhausted) && active.load(Ordering::SeqCst) == 0 {
            break;
        }
        if limit_reached || exhausted {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        match listener.accept() {
            Ok((stream, peer)) => {
                let Some(ticket) = admission.try_enter() else {
                    eprintln!(
                        "refused a connection from {peer}: {}",
                        admission.busy_message()
                    );
                    if refuse.try_send(stream).is_err() {
                        eprintln!("(too many refusals pending: closed without a message)");
                    }
                    continue;
                };
                accepted += 1;
                active.fetch_add(1, Ordering::SeqCst);
                let (security, plan, bound, dir, active, served) = (
                    Arc::clone(&security),
                    Arc::clone(&plan),
                    Arc::clone(&bound),
                    dir.clone(),
                    Arc::clone(&active),
                    Arc::clone(&served),
                );
                let spawned = std::thread::Builder::new()
                    .name("chimera-session".into())
                    .spawn(move || {
                        match serve_one(stream, ticket, &security, &plan, &bound, &dir, config) {
                            Ok(line) => {
                                served.fetch_add(1, Ordering::SeqCst);
                                eprintln!("query from {peer}: {line}");
                            }
                            Err(e) => eprintln!("query from {peer} failed: {e:#}"),
                        }
                        active.fetch_sub(1, Ordering::SeqCst);
                    });
                if let Err(e) = spawned {
                    eprintln!("cannot start a session thread: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => eprintln!("accept failed: {e}"),
        }
    }
    let (_, used) = materials::census(&dir);
    eprintln!(
        "served {} quer{}; {used} bundle(s) used, none left{}",
        served.load(Ordering::SeqCst),
        if served.load(Ordering::SeqCst) == 1 {
            "y"
        } else {
            "ies"
        },
        if args.max_queries.is_some_and(|m| accepted >= m) {
            " or --max-queries reached"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// The thread that tells connections beyond the admission limits "the
/// server is busy" (after the TLS handshake, so the client can trust the
/// message); its queue is short, and a connection that does not fit is closed.
fn refuser(
    security: Arc<Security>,
    admission: Arc<Admission>,
    config: ChannelConfig,
) -> SyncSender<TcpStream> {
    let (tx, rx) = sync_channel::<TcpStream>(8);
    let config = ChannelConfig {
        read_timeout: config.read_timeout.min(Duration::from_secs(5)),
        ..config
    };
    std::thread::spawn(move || {
        for stream in rx {
            if let Ok(mut ch) = security.accept(stream, config) {
                ch.abort(&admission.busy_message());
            }
        }
    });
    tx
}

/// One connection: read the request, claim its material, run the query.
fn serve_one(
    stream: TcpStream,
    mut ticket: Ticket,
    security: &Security,
    plan: &Plan,
    bound: &BoundWeights,
    dir: &Path,
    config: ChannelConfig,
) -> anyhow::Result<String> {
    let mut ch = security.accept(stream, config)?;
    if !ticket.wait_for_slot(config.read_timeout) {
        let busy = ticket.busy_message();
        ch.abort(&busy);
        anyhow::bail!(busy);
    }
    let request = ch.recv().context("reading the query request")?;
    let request = match Request::decode(&request) {
        Ok(r) => r,
        Err(reason) => {
            ch.abort(&reason);
            anyhow::bail!(reason);
        }
    };
    // The announced batch sizes everything below (the demand it is checked
    // against, the frame limit, the executor's buffers): one beyond the
    // limits is refused before a bundle is claimed for it.
    if let Err(e) = chimera_runtime::limits::batch(plan, request.batch as usize) {
        let reason = format!("the server refuses the query: {e}");
        ch.abort(&reason);
        anyhow::bail!(reason);
    }
    let material =
        materials::claim_session(dir, &request.session, &plan.hash()?).and_then(|bundle| {
            materials::check_bundle(plan, &bundle, request.batch as usize).with_context(|| {
                format!("the bundle {} is now used", &bundle.session.to_hex()[..12])
            })?;
            Ok(PartyMaterial::open(bundle, plan.hash()?, request.session)?)
        });
    let mut material = match material {
        Ok(m) => m,
        Err(e) => {
            ch.abort(&format!("the server refuses the query: {e:#}"));
            return Err(e);
        }
    };
    // The material fits this batch, so the plan bounds every frame from now on.
    ch.set_max_frame(plan_max_frame(plan, request.batch as usize)?);
    ch.send(session_request::ACCEPT)?;
    ch.flush()?;
    let link = ch.describe();
    let mut metered = Metered::new(&mut ch);
    let result = exec::run_server(
        plan,
        bound,
        &mut material,
        &mut metered,
        request.batch as usize,
    )?;
    ch.confirm_transcript()?;
    let q = result.stats.query;
    Ok(format!(
        "{}, session {}, batch {}: answered in {:.2} ms online; sent {} B, received {} B in {} flight(s)",
        link,
        &request.session.to_hex()[..12],
        request.batch,
        result.stats.online_seconds * 1e3,
        q.bytes_sent,
        q.bytes_received,
        q.rounds
    ))
}
