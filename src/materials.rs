//! The dealer's output directory and single use of its files.
//!
//! `chimera dealer --out DIR` writes `DIR/server/` and `DIR/client/`, one
//! bundle file per query: `q0007-<session>.mat`. Every query is its own
//! session (a fresh session id, its own weight masks), so a failed query can
//! never desynchronise the next one. A party *claims* a file before using
//! it by renaming it to `….mat.used` — an atomic step, so two processes can
//! never use the same material and a crash after the claim loses that query's
//! material rather than risking its reuse.

use anyhow::{bail, Context};
use chimera_runtime::cost;
use chimera_runtime::dealer::{Demand, MaterialBundle, SessionId};
use chimera_runtime::plan::{Party, Plan, PlanHash};
use std::fs;
use std::path::{Path, PathBuf};

/// Suffix of a bundle that has not been used.
const FRESH: &str = ".mat";
/// Suffix of a claimed bundle.
const USED: &str = ".mat.used";

/// The directory of one party's bundles (`DIR/server` or `DIR/client`);
/// `DIR` itself is accepted when it already is a party directory.
pub fn party_dir(dir: &Path, party: Party) -> PathBuf {
    let sub = dir.join(party.to_string());
    if sub.is_dir() {
        sub
    } else {
        dir.to_path_buf()
    }
}

/// File name of query `index`'s bundle.
pub fn file_name(index: usize, session: &SessionId) -> String {
    format!("q{index:04}-{}{FRESH}", session.to_hex())
}

/// True if `name` is a bundle file name ([`file_name`]) for `session`: a
/// name received from the network is used as a path only if it is one.
pub fn is_file_name_of(name: &str, session: &SessionId) -> bool {
    let suffix = format!("-{}{FRESH}", session.to_hex());
    name.strip_prefix('q')
        .and_then(|rest| rest.strip_suffix(&suffix))
        .is_some_and(|index| !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()))
}

/// The unused bundles of a party directory, in query order.
pub fn unused(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read the material directory {} (run `chimera dealer` first)",
            dir.display()
        )
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_some_and(|n| n.starts_with('q') && n.ends_with(FRESH)) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Counts of unused and used bundles, for messages.
pub fn census(dir: &Path) -> (usize, usize) {
    let mut fresh = 0;
    let mut used = 0;
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(USED) {
                used += 1;
            } else if name.ends_with(FRESH) {
                fresh += 1;
            }
        }
    }
    (fresh, used)
}

/// Claim `path` (rename it to `….used`) and read it. `Ok(None)` if another
/// process claimed it first.
pub fn claim(path: &Path) -> anyhow::Result<Option<MaterialBundle>> {
    let mut used = path.as_os_str().to_owned();
    used.push(".used");
    let used = PathBuf::from(used);
    match fs::rename(path, &used) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot claim {}", path.display())),
    }
    let bundle = MaterialBundle::read_file(&used)
        .with_context(|| format!("material file {}", used.display()))?;
    Ok(Some(bundle))
}

/// `bundle`, read from `path`, if it is `party`'s material; the other
/// party's is refused, saying where the dealer puts each party's.
fn own_party(path: &Path, bundle: MaterialBundle, party: Party) -> anyhow::Result<MaterialBundle> {
    if bundle.party != party {
        bail!(
            "{} holds material for the {}, not the {party}; `chimera dealer --out DIR` writes DIR/{party} for the {party}",
            path.display(),
            bundle.party
        );
    }
    Ok(bundle)
}

/// Claim the next unused bundle of `party` in `dir`.
pub fn claim_next(dir: &Path, party: Party) -> anyhow::Result<MaterialBundle> {
    let dir = party_dir(dir, party);
    for path in unused(&dir)? {
        if let Some(bundle) = claim(&path)? {
            return own_party(&path, bundle, party);
        }
    }
    let (_, used) = census(&dir);
    bail!(
        "no unused {party} material left in {} ({used} bundle(s) already used); run `chimera dealer` again",
        dir.display()
    )
}

/// Read (without claiming) the bundle `claim_next` would claim now, refusing
/// the other party's material. A file that another process claims meanwhile
/// is skipped.
pub fn peek_next(dir: &Path, party: Party) -> anyhow::Result<MaterialBundle> {
    let dir = party_dir(dir, party);
    for path in unused(&dir)? {
        match fs::read(&path) {
            Ok(bytes) => {
                let bundle = MaterialBundle::from_bytes(&bytes)
                    .with_context(|| format!("material file {}", path.display()))?;
                return own_party(&path, bundle, party);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
    let (_, used) = census(&dir);
    bail!(
        "no unused {party} material left in {} ({used} bundle(s) already used); run `chimera dealer` again",
        dir.display()
    )
}

/// Claim the bundle of `session` in the server's directory; the refusal of
/// an unknown session names the plan this server runs (`plan`), so a client
/// of another plan can tell.
pub fn claim_session(
    dir: &Path,
    session: &SessionId,
    plan: &PlanHash,
) -> anyhow::Result<MaterialBundle> {
    let dir = party_dir(dir, Party::Server);
    let wanted = format!("-{}{FRESH}", session.to_hex());
    for path in unused(&dir)? {
        let matches = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(&wanted));
        if matches {
            if let Some(bundle) = claim(&path)? {
                return Ok(bundle);
            }
        }
    }
    bail!(
        "the server has no unused material for session {} (already used, or dealt by another `chimera dealer` run; this server runs plan {})",
        session.to_hex(),
        plan.short()
    )
}

/// Refuse a bundle dealt for another plan (the batch size aside).
pub fn check_plan(plan: &Plan, bundle: &MaterialBundle) -> anyhow::Result<()> {
    let hash = plan.hash()?;
    if bundle.plan != hash {
        bail!(
            "the {} material was dealt for plan {}, this plan is {}; deal material for this plan",
            bundle.party,
            bundle.plan.short(),
            hash.short()
        );
    }
    Ok(())
}

/// Refuse a bundle dealt for another plan or another batch size. The server
/// runs this on the bundle a client's request names, so the batch a client
/// announces is bound by what the dealer dealt (and with it the largest frame
/// the server accepts).
pub fn check_bundle(plan: &Plan, bundle: &MaterialBundle, rows: usize) -> anyhow::Result<()> {
    check_plan(plan, bundle)?;
    let party = bundle.party;
    let wanted: Demand = cost::demand(plan, rows, 1)?;
    let mut want: Vec<_> = wanted.totals().map(|(p, n)| (p.name(), n)).collect();
    let mut have: Vec<_> = bundle
        .inventory
        .iter()
        .map(|(p, n)| (p.name(), *n))
        .collect();
    want.sort();
    have.sort();
    if want != have {
        bail!(
            "the {party} material does not fit a query of {rows} row(s) (was it dealt with another --batch?)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_sort_in_query_order_and_match_by_session() {
        let s = SessionId([7; 16]);
        let a = file_name(2, &s);
        let b = file_name(10, &s);
        assert!(a < b);
        assert!(a.ends_with(&format!("-{}.mat", s.to_hex())));
        assert!(is_file_name_of(&a, &s));
        assert!(!is_file_name_of(&a, &SessionId([8; 16])));
        assert!(!is_file_name_of(&format!("../{a}"), &s));
        assert!(!is_file_name_of(&format!("q-{}.mat", s.to_hex()), &s));
    }
}
