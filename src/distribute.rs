//! Dealer material over the network: `chimera dealer --serve` hands each
//! party its own bundles over mutual TLS, and `serve`/`query --dealer`
//! fetch them into their material directory (written as `chimera dealer
//! --out` writes them: atomically, owner-only, checksummed).
//!
//! # Guarantee
//!
//! Material reaches a party only over TLS 1.3 with both ends authenticated
//! by pinned certificates, and **a party receives only its own bundles**:
//! the dealer decides the role from the certificate the peer authenticated
//! with (`--accept-server` / `--accept-client`), never from what the peer
//! claims, so the client's key can never fetch the server's seeds (which,
//! with the client's own bundles, would reveal the weight masks). Each role's
//! bundles are handed out once: while they are being sent no other
//! connection can fetch them, and after the party confirms it stored them
//! the dealer forgets them and refuses a second fetch. A fetch that fails
//! midway is not confirmed and can be retried.
//!
//! # Wire
//!
//! Over the TLS channel, in [`Bytes`](chimera_runtime::transport::FrameKind::Bytes) frames:
//!
//! 1. party → dealer: `CHF1 ‖ role (1 byte: 0 server, 1 client) ‖ plan hash (32)`;
//! 2. dealer → party: `CHD1 ‖ count (u32 LE)`, or an abort frame saying why not;
//! 3. dealer → party: `count` frames, each one bundle's file bytes;
//! 4. party → dealer: `STORED`, once every bundle is checked and on disk.

use crate::link::{identity_files, Security};
use crate::materials;
use anyhow::{bail, Context};
use chimera_runtime::dealer::MaterialBundle;
use chimera_runtime::identity::{Fingerprint, Identity, PinnedPeers};
use chimera_runtime::plan::{Party, PlanHash};
use chimera_runtime::transport::{
    Channel, ChannelConfig, TlsChannel, DEFAULT_MAX_FRAME, MIN_FRAME,
};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

const FETCH: &[u8; 4] = b"CHF1";
const OFFER: &[u8; 4] = b"CHD1";
const STORED: &[u8] = b"STORED";

/// `serve`/`query` flags to fetch material from a dealer first.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FetchArgs {
    /// Fetch this party's material from `chimera dealer --serve` at ADDR
    /// (over mutual TLS, with --identity) into the material directory first.
    #[arg(long, value_name = "ADDR", requires = "dealer_cert")]
    pub dealer: Option<String>,
    /// The dealer's certificate (pinned for the fetch).
    #[arg(long, value_name = "DEALER.crt", requires = "dealer")]
    pub dealer_cert: Option<PathBuf>,
}

impl FetchArgs {
    /// Fetch if asked to; prints what was stored.
    pub fn fetch_if_asked(
        &self,
        security: &Security,
        party: Party,
        plan: PlanHash,
        material: &Path,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        if let (Some(addr), Some(cert)) = (&self.dealer, &self.dealer_cert) {
            let n = fetch(addr, security, cert, party, plan, material, timeout)?;
            eprintln!(
                "fetched {n} bundle(s) of {party} material from the dealer at {addr} into {}",
                material.join(party.to_string()).display()
            );
        }
        Ok(())
    }
}

/// Bundles as (file name, file bytes).
type Named = Vec<(String, Vec<u8>)>;

/// The bundles of both parties, held by the dealer until fetched.
pub struct Outbox {
    plan: PlanHash,
    /// File name and bytes of each bundle, per party (server, client);
    /// `None` while being handed out and once stored.
    bundles: [Option<Named>; 2],
    /// Whether each party has confirmed storing its bundles.
    delivered: [bool; 2],
}

impl Outbox {
    /// An outbox for `plan`.
    pub fn new(plan: PlanHash) -> Outbox {
        Outbox {
            plan,
            bundles: [Some(Vec::new()), Some(Vec::new())],
            delivered: [false; 2],
        }
    }

    /// Add one query's bundles.
    pub fn push(&mut self, index: usize, bundles: [&MaterialBundle; 2]) -> anyhow::Result<()> {
        for (slot, bundle) in self.bundles.iter_mut().zip(bundles) {
            if let Some(list) = slot {
                list.push((
                    materials::file_name(index, &bundle.session),
                    bundle.to_bytes()?,
                ));
            }
        }
        Ok(())
    }

    /// Bytes held for (server, client).
    pub fn bytes(&self) -> [u64; 2] {
        let held = |b: &Option<Named>| {
            b.as_ref()
                .map_or(0, |l| l.iter().map(|(_, v)| v.len() as u64).sum())
        };
        [held(&self.bundles[0]), held(&self.bundles[1])]
    }
}

/// The dealer's TLS set-up: its identity and the certificates of each role.
pub struct DealerLink {
    identity: Identity,
    server: PinnedPeers,
    client: PinnedPeers,
    everyone: PinnedPeers,
}

impl DealerLink {
    /// Load the dealer's identity and the two roles' certificates; a
    /// certificate pinned for both roles is refused.
    pub fn load(
        identity: &Path,
        server_paths: &[PathBuf],
        client_paths: &[PathBuf],
    ) -> anyhow::Result<DealerLink> {
        if server_paths.is_empty() || client_paths.is_empty() {
            bail!("--serve needs the server's and the client's certificates: --accept-server server.crt --accept-client client.crt");
        }
        let (cert, key) = identity_files(identity)?;
        let identity = Identity::load(&cert, &key)
            .with_context(|| format!("cannot load the dealer's TLS identity {}", cert.display()))?;
        let server = PinnedPeers::load(server_paths).context("cannot load a server certificate")?;
        let client = PinnedPeers::load(client_paths).context("cannot load a client certificate")?;
        if let Some(c) = server
            .certs()
            .iter()
            .find(|c| client.find(&c.der).is_some())
        {
            bail!(
                "the certificate {} ({}) is pinned as both the server's and the client's; each role needs its own key",
                c.fingerprint,
                c.source
            );
        }
        let both: Vec<&PathBuf> = server_paths.iter().chain(client_paths).collect();
        let everyone = PinnedPeers::load(&both)?;
        Ok(DealerLink {
            identity,
            server,
            client,
            everyone,
        })
    }

    fn role_of(&self, peer: &Fingerprint) -> Option<Party> {
        let has = |p: &PinnedPeers| p.certs().iter().any(|c| &c.fingerprint == peer);
        if has(&self.server) {
            Some(Party::Server)
        } else if has(&self.client) {
            Some(Party::Client)
        } else {
            None
        }
    }
}

/// Connections handled at once; more are closed (a flood of unauthenticated
/// connections costs bounded memory).
const MAX_CONNECTIONS: usize = 8;

fn lock(outbox: &Mutex<Outbox>) -> MutexGuard<'_, Outbox> {
    outbox.lock().unwrap_or_else(|p| p.into_inner())
}

/// Serve `outbox` on `listener` until both parties have stored their
/// bundles. Each connection has its own thread (so a slow or silent peer
/// cannot hold up the other party), at most [`MAX_CONNECTIONS`] at once;
/// failed or refused connections are logged and do not stop it.
pub fn serve_outbox(
    listener: &TcpListener,
    link: DealerLink,
    outbox: Outbox,
    timeout: Duration,
) -> anyhow::Result<()> {
    let config = ChannelConfig {
        max_frame: MIN_FRAME,
        read_timeout: timeout,
    };
    let link = Arc::new(link);
    let outbox = Arc::new(Mutex::new(outbox));
    let live = Arc::new(AtomicUsize::new(0));
    listener.set_nonblocking(true)?;
    while lock(&outbox).delivered != [true; 2] {
        let (stream, addr) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if live.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            eprintln!(
                "closed a connection from {addr}: {MAX_CONNECTIONS} fetches already in progress"
            );
            continue;
        }
        live.fetch_add(1, Ordering::SeqCst);
        let (link, outbox, live) = (Arc::clone(&link), Arc::clone(&outbox), Arc::clone(&live));
        std::thread::spawn(move || {
            match hand_out(stream, &link, &outbox, config) {
                Ok(party) => eprintln!("the {party} at {addr} stored its material"),
                Err(e) => eprintln!("a fetch from {addr} failed: {e:#}"),
            }
            live.fetch_sub(1, Ordering::SeqCst);
        });
    }
    Ok(())
}

fn hand_out(
    stream: std::net::TcpStream,
    link: &DealerLink,
    outbox: &Mutex<Outbox>,
    config: ChannelConfig,
) -> anyhow::Result<Party> {
    stream.set_nonblocking(false)?;
    let mut ch = TlsChannel::server_from_stream(stream, &link.identity, &link.everyone, config)?;
    let peer = ch.peer_fingerprint();
    let role = link
        .role_of(&peer)
        .context("internal: an accepted certificate has no role")?;
    let request = ch.recv().context("reading the fetch request")?;
    let refuse = |ch: &mut TlsChannel, reason: String| -> anyhow::Result<Party> {
        ch.abort(&reason);
        bail!(reason)
    };
    if request.len() != 4 + 1 + 32 || &request[..4] != FETCH {
        return refuse(
            &mut ch,
            "the first frame is not a chimera material fetch".into(),
        );
    }
    let claimed = match request[4] {
        0 => Party::Server,
        1 => Party::Client,
        b => return refuse(&mut ch, format!("unknown role {b} in the fetch request")),
    };
    if claimed != role {
        return refuse(
            &mut ch,
            format!(
                "the dealer refuses: certificate {peer} is pinned as the {role}'s, and it asked for the {claimed}'s material"
            ),
        );
    }
    let mut plan = [0u8; 32];
    plan.copy_from_slice(&request[5..]);
    let ours = lock(outbox).plan;
    if PlanHash(plan) != ours {
        return refuse(
            &mut ch,
            format!(
                "the dealer dealt for plan {}, the {role} runs plan {}; both must compile the same .nn file",
                ours.short(),
                PlanHash(plan).short()
            ),
        );
    }
    // Take the role's bundles out while they are sent, so a second
    // connection with the same key cannot fetch them at the same time.
    let taken = {
        let mut o = lock(outbox);
        let delivered = o.delivered[role.index()];
        o.bundles[role.index()].take().ok_or(delivered)
    };
    let list = match taken {
        Ok(list) => list,
        Err(true) => {
            return refuse(
                &mut ch,
                format!("the {role}'s material was already handed out; each bundle goes out once"),
            )
        }
        Err(false) => {
            return refuse(
                &mut ch,
                format!("the {role}'s material is being handed out on another connection"),
            )
        }
    };
    match send_bundles(&mut ch, &list) {
        Ok(()) => {
            lock(outbox).delivered[role.index()] = true;
            Ok(role)
        }
        Err(e) => {
            // Not confirmed: keep it for a retry.
            lock(outbox).bundles[role.index()] = Some(list);
            Err(e.context(format!("handing out the {role}'s material")))
        }
    }
}

/// The offer, the bundles, and the party's confirmation.
fn send_bundles(ch: &mut TlsChannel, list: &Named) -> anyhow::Result<()> {
    // Bundles can be large; what we accept from the party stays small.
    ch.set_max_frame(DEFAULT_MAX_FRAME);
    let mut offer = OFFER.to_vec();
    offer.extend_from_slice(&(list.len() as u32).to_le_bytes());
    ch.send(&offer)?;
    for (name, bytes) in list {
        let mut frame = Vec::with_capacity(2 + name.len() + bytes.len());
        frame.extend_from_slice(&(name.len() as u16).to_le_bytes());
        frame.extend_from_slice(name.as_bytes());
        frame.extend_from_slice(bytes);
        ch.send(&frame)?;
    }
    ch.flush()?;
    ch.set_max_frame(MIN_FRAME);
    let ack = ch
        .recv()
        .context("waiting for the party to store its material")?;
    if ack != STORED {
        bail!("the party did not confirm storing its material");
    }
    Ok(())
}

/// A party's side: fetch its bundles from the dealer at `addr` into
/// `material/<party>/`. Returns how many were stored.
pub fn fetch(
    addr: &str,
    security: &Security,
    dealer_cert: &Path,
    party: Party,
    plan: PlanHash,
    material: &Path,
    timeout: Duration,
) -> anyhow::Result<usize> {
    let Security::Tls { identity, .. } = security else {
        bail!("the dealer hands out material over TLS only: give --identity (not --insecure-plaintext) with --dealer");
    };
    let dealer = Security::Tls {
        identity: identity.clone(),
        peers: PinnedPeers::load(&[dealer_cert]).context("cannot load the dealer's certificate")?,
    };
    let config = ChannelConfig {
        max_frame: DEFAULT_MAX_FRAME,
        read_timeout: timeout,
    };
    let mut ch = dealer
        .connect(addr, config, timeout)
        .with_context(|| format!("cannot set up a connection with the dealer at {addr}"))?;
    let mut request = FETCH.to_vec();
    request.push(party.index() as u8);
    request.extend_from_slice(&plan.0);
    ch.send(&request)?;
    ch.flush()?;
    let offer = ch.recv().context("waiting for the dealer's offer")?;
    if offer.len() != 8 || &offer[..4] != OFFER {
        bail!("the dealer's answer is not a chimera material offer");
    }
    let count = u32::from_le_bytes([offer[4], offer[5], offer[6], offer[7]]) as usize;
    let dir = material.join(party.to_string());
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for _ in 0..count {
        let frame = ch.recv().context("receiving material from the dealer")?;
        let (name, bytes) = split_named(&frame)?;
        let bundle = MaterialBundle::from_bytes(bytes).context("material from the dealer")?;
        if bundle.party != party || bundle.plan != plan {
            bail!(
                "the dealer sent material for the {} and plan {}, not for this {party} and plan {}",
                bundle.party,
                bundle.plan.short(),
                plan.short()
            );
        }
        if !materials::is_file_name_of(&name, &bundle.session) {
            bail!("the dealer named a bundle {name:?}, which does not match its session");
        }
        bundle
            .write_file(&dir.join(&name))
            .with_context(|| format!("cannot store {}", dir.join(&name).display()))?;
    }
    ch.send(STORED)?;
    ch.flush()?;
    Ok(count)
}

/// `name-length (u16 LE) ‖ name ‖ bytes`.
fn split_named(frame: &[u8]) -> anyhow::Result<(String, &[u8])> {
    if frame.len() < 2 {
        bail!("a material frame from the dealer is truncated");
    }
    let n = u16::from_le_bytes([frame[0], frame[1]]) as usize;
    let name = frame
        .get(2..2 + n)
        .and_then(|b| std::str::from_utf8(b).ok())
        .context("a material frame from the dealer has a bad name")?;
    Ok((name.to_string(), &frame[2 + n..]))
}
