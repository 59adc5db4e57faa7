//! The material file format: one party's [`MaterialBundle`] as bytes.
//!
//! ```text
//! magic "CHIMERA-MATERIAL" (16) ‖ version u32 ‖ header length u32
//! ‖ header (postcard: party, plan hash, session id, seed, inventory, explicit lengths)
//! ‖ explicit words (little-endian u64, pool after pool)
//! ‖ blake3 checksum (32) of everything before it
//! ```
//!
//! The reader checks the checksum before trusting a single field, then the
//! magic, version, header (no trailing bytes, one canonical encoding), that
//! every layer shape in the inventory is possible and its sizes fit, and that
//! every length agrees with the inventory and the file size; a truncated or
//! altered file is [`DealerError::Corrupt`]. Files are written atomically and
//! owner-only.
//!
//! [`material_file_len`] gives a file's size before anything is dealt, from
//! the [`Demand`] alone, through the same header encoding and layout as the
//! writer: the binding (party, plan hash, session id, seed) has a fixed
//! encoded size (an enum tag of one byte and byte arrays of 32, 16 and 32
//! bytes, which postcard writes raw), and the inventory and the explicit
//! lengths are varints of the demand's own values.

use super::party::{dealt_words, MaterialBundle};
use super::{DealerError, Demand, Pool, SessionId};
use crate::plan::{Party, PlanHash};
use crate::prg::Seed;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Version of the material file format.
pub const MATERIAL_FORMAT_VERSION: u32 = 1;

const MAGIC: &[u8; 16] = b"CHIMERA-MATERIAL";
const CHECKSUM_CONTEXT: &str = "chimera 2026 material file checksum v1";
const PREFIX_LEN: usize = 16 + 4 + 4;
const CHECKSUM_LEN: usize = 32;

#[derive(Serialize, Deserialize)]
struct Header {
    party: Party,
    plan: PlanHash,
    session: SessionId,
    seed: [u8; 32],
    inventory: Vec<(Pool, u64)>,
    explicit_lens: Vec<u64>,
}

impl Header {
    /// The header's postcard encoding, as written to the file.
    fn encode(&self) -> Result<Vec<u8>, DealerError> {
        postcard::to_allocvec(self)
            .map_err(|e| DealerError::Invalid(format!("cannot encode the material header: {e}")))
    }
}

/// Bytes of a material file whose header encodes to `head_len` bytes and
/// which carries `words` explicit words (the layout of the module
/// documentation); `None` if that does not fit a `u64`.
fn file_len(head_len: usize, words: u64) -> Option<u64> {
    words
        .checked_mul(8)?
        .checked_add((PREFIX_LEN + CHECKSUM_LEN) as u64)?
        .checked_add(head_len as u64)
}

/// The explicit words `party` receives for `n` items of `pool`: none for the
/// server (its share is all seed), the corrections for the client
/// ([`dealt_words`], which refuses what the dealer would not deal).
fn party_words(party: Party, pool: Pool, n: u64) -> Result<u64, String> {
    let client = dealt_words(pool, n)?;
    Ok(match party {
        Party::Server => 0,
        Party::Client => client,
    })
}

/// The exact size in bytes of `party`'s material file for one dealing of
/// `demand`: what [`MaterialBundle::to_bytes`] (and so
/// [`MaterialBundle::write_file`], `chimera dealer`) produces for the bundle
/// [`TrustedDealer::deal`](super::TrustedDealer::deal) makes of it, whatever
/// the plan hash, session id and seed (they have fixed encoded sizes). A
/// demand the dealer would refuse is refused here, with the same error.
pub fn material_file_len(party: Party, demand: &Demand) -> Result<u64, DealerError> {
    let mut inventory = Vec::new();
    let mut explicit_lens = Vec::new();
    let mut words: u64 = 0;
    for (pool, n) in demand.totals() {
        let len = party_words(party, pool, n).map_err(DealerError::Invalid)?;
        words = words
            .checked_add(len)
            .ok_or_else(|| DealerError::Invalid("the demand overflows".into()))?;
        inventory.push((pool, n));
        explicit_lens.push(len);
    }
    // The binding's values do not change its encoded size: any will do.
    let header = Header {
        party,
        plan: PlanHash([0; 32]),
        session: SessionId([0; 16]),
        seed: [0; 32],
        inventory,
        explicit_lens,
    };
    let head = header.encode()?;
    file_len(head.len(), words)
        .ok_or_else(|| DealerError::Invalid("the material file would overflow".into()))
}

fn checksum(bytes: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(CHECKSUM_CONTEXT);
    h.update(bytes);
    *h.finalize().as_bytes()
}

fn corrupt(msg: impl Into<String>) -> DealerError {
    DealerError::Corrupt(msg.into())
}

impl MaterialBundle {
    /// Serialize (see the module documentation for the layout).
    pub fn to_bytes(&self) -> Result<Vec<u8>, DealerError> {
        let header = Header {
            party: self.party,
            plan: self.plan,
            session: self.session,
            seed: *self.seed.as_bytes(),
            inventory: self.inventory.clone(),
            explicit_lens: self.explicit.iter().map(|e| e.len() as u64).collect(),
        };
        let head = header.encode()?;
        let len = file_len(head.len(), self.explicit_words() as u64)
            .and_then(|l| usize::try_from(l).ok())
            .ok_or_else(|| DealerError::Invalid("the material file would overflow".into()))?;
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&MATERIAL_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(head.len() as u32).to_le_bytes());
        out.extend_from_slice(&head);
        for e in &self.explicit {
            out.extend_from_slice(bytemuck::cast_slice(e));
        }
        let sum = checksum(&out);
        out.extend_from_slice(&sum);
        debug_assert_eq!(out.len(), len, "the material file layout");
        Ok(out)
    }

    /// Parse and check bytes written by [`to_bytes`](Self::to_bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<MaterialBundle, DealerError> {
        if bytes.len() < PREFIX_LEN + CHECKSUM_LEN {
            return Err(corrupt(format!(
                "{} bytes is too short for a material file",
                bytes.len()
            )));
        }
        if &bytes[..16] != MAGIC {
            return Err(corrupt("not a Chimera material file (bad magic)"));
        }
        let (body, sum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        if checksum(body) != sum {
            return Err(corrupt(
                "checksum mismatch: the file is truncated or altered",
            ));
        }
        let version = u32::from_le_bytes([body[16], body[17], body[18], body[19]]);
        if version != MATERIAL_FORMAT_VERSION {
            return Err(corrupt(format!(
                "material format version {version}, this build reads version {MATERIAL_FORMAT_VERSION}"
            )));
        }
        let head_len = u32::from_le_bytes([body[20], body[21], body[22], body[23]]) as usize;
        let rest = &body[PREFIX_LEN..];
        if head_len > rest.len() {
            return Err(corrupt("header length beyond the end of the file"));
        }
        let (head, bulk) = rest.split_at(head_len);
        let (header, trailing): (Header, &[u8]) =
            postcard::take_from_bytes(head).map_err(|e| corrupt(format!("bad header: {e}")))?;
        if !trailing.is_empty() {
            return Err(corrupt("trailing bytes after the header"));
        }
        // postcard accepts overlong varints (`0x81 0x00` for 1); one bundle
        // has exactly one encoding, so the header must re-encode to itself.
        if postcard::to_allocvec(&header).ok().as_deref() != Some(head) {
            return Err(corrupt("non-canonical header encoding"));
        }
        if header.explicit_lens.len() != header.inventory.len() {
            return Err(corrupt("explicit lengths do not match the inventory"));
        }
        let mut total: u64 = 0;
        for ((pool, n), len) in header.inventory.iter().zip(&header.explicit_lens) {
            // A layer's sizes give the word counts: the dealer's own checks
            // (a shape that exists, counts that fit) come first.
            let expected = party_words(header.party, *pool, *n).map_err(corrupt)?;
            if *len != expected {
                return Err(corrupt(format!(
                    "{}: {len} explicit words recorded, {expected} expected",
                    pool.name()
                )));
            }
            total = total
                .checked_add(*len)
                .ok_or_else(|| corrupt("inventory overflows"))?;
        }
        if total.checked_mul(8) != Some(bulk.len() as u64) {
            return Err(corrupt(format!(
                "{} bytes of explicit material, {} words recorded",
                bulk.len(),
                total
            )));
        }
        let mut explicit = Vec::with_capacity(header.inventory.len());
        let mut at = 0usize;
        for len in &header.explicit_lens {
            let len = *len as usize;
            let mut words = vec![0u64; len];
            bytemuck::cast_slice_mut::<u64, u8>(&mut words)
                .copy_from_slice(&bulk[at..at + 8 * len]);
            at += 8 * len;
            explicit.push(words);
        }
        Ok(MaterialBundle {
            party: header.party,
            plan: header.plan,
            session: header.session,
            seed: Seed::from_bytes(header.seed),
            inventory: header.inventory,
            explicit,
        })
    }

    /// Write atomically to `path`, readable by the owner only.
    pub fn write_file(&self, path: &Path) -> Result<(), DealerError> {
        let bytes = self.to_bytes()?;
        crate::fsutil::write_atomic_with(path, &bytes, true).map_err(|source| DealerError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// Read and check a material file.
    pub fn read_file(path: &Path) -> Result<MaterialBundle, DealerError> {
        let bytes = std::fs::read(path).map_err(|source| DealerError::Io {
            path: path.display().to_string(),
            source,
        })?;
        MaterialBundle::from_bytes(&bytes).map_err(|e| corrupt(format!("{}: {e}", path.display())))
    }
}
