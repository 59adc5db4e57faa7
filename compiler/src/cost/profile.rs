//! Calibration profiles: how long this machine takes per unit of local
//! work, so that counts (AND gates, multiplications, MACs, PRG bytes) turn
//! into seconds.
//!
//! `chimera calibrate` measures the runtime's real primitives and writes a
//! profile; the repository ships `profiles/default.ron`, which the tests and
//! reports use unless told otherwise, so that every estimate is
//! deterministic.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The default profile, shipped in the repository.
pub const DEFAULT_PROFILE_RON: &str = include_str!("../../../profiles/default.ron");

/// Nanoseconds per unit of local work, per party (both parties work in
/// parallel, so a step's compute time is the busier party's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Where the figures come from (machine, date, build).
    pub machine: String,
    /// Garbling one AND gate (half-gates: 4 fixed-key AES calls), per instance.
    pub yao_garble_and_ns: f64,
    /// Evaluating one garbled AND gate (2 AES calls), per instance.
    pub yao_eval_and_ns: f64,
    /// One GMW AND gate on one element, bit-sliced level by level (local work only).
    pub gmw_and_ns: f64,
    /// One Beaver multiplication of ring elements (local work of one party).
    pub beaver_mult_ns: f64,
    /// One multiply-accumulate of a dense/conv kernel on ring elements.
    pub mac_ns: f64,
    /// One byte of AES-CTR PRG output (expanding seed-compressed dealer material).
    pub prg_byte_ns: f64,
}

/// Why a profile could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("cannot read the calibration profile {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not a profile.
    #[error("{path}: not a calibration profile: {reason}")]
    Parse {
        /// The path.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl Profile {
    /// The shipped default profile.
    pub fn default_profile() -> Profile {
        // The shipped file is checked by a test; a broken one is a build bug.
        Profile::from_ron(DEFAULT_PROFILE_RON, "profiles/default.ron")
            .unwrap_or_else(|e| unreachable!("the shipped profile is valid: {e}"))
    }

    /// Parse RON text; every figure must be finite and not negative.
    pub fn from_ron(text: &str, origin: &str) -> Result<Profile, ProfileError> {
        let p: Profile = ron::from_str(text).map_err(|e| ProfileError::Parse {
            path: origin.to_string(),
            reason: e.to_string(),
        })?;
        for (name, v) in p.figures() {
            if !v.is_finite() || v < 0.0 {
                return Err(ProfileError::Parse {
                    path: origin.to_string(),
                    reason: format!("`{name}` is {v}; it must be a finite, non-negative time"),
                });
            }
        }
        Ok(p)
    }

    /// Read a profile file.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Io {
            path: shown.clone(),
            source,
        })?;
        Profile::from_ron(&text, &shown)
    }

    /// Pretty RON.
    pub fn to_ron(&self) -> String {
        let config = ron::ser::PrettyConfig::new().struct_names(true);
        // Plain numbers and a string always serialize.
        ron::ser::to_string_pretty(self, config).unwrap_or_default()
    }

    /// Every figure with its name, for checks and printing.
    pub fn figures(&self) -> [(&'static str, f64); 6] {
        [
            ("yao_garble_and_ns", self.yao_garble_and_ns),
            ("yao_eval_and_ns", self.yao_eval_and_ns),
            ("gmw_and_ns", self.gmw_and_ns),
            ("beaver_mult_ns", self.beaver_mult_ns),
            ("mac_ns", self.mac_ns),
            ("prg_byte_ns", self.prg_byte_ns),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_profile_parses_and_round_trips() {
        let p = Profile::default_profile();
        assert!(p.figures().iter().all(|(_, v)| *v > 0.0));
        assert_eq!(Profile::from_ron(&p.to_ron(), "x").unwrap(), p);
    }

    #[test]
    fn negative_figures_are_refused() {
        let text = Profile::default_profile()
            .to_ron()
            .replace("mac_ns: ", "mac_ns: -");
        let err = Profile::from_ron(&text, "p.ron").unwrap_err().to_string();
        assert!(err.contains("`mac_ns` is -"), "{err}");
    }
}
