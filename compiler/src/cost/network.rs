//! Network profiles: the round-trip time and bandwidth the estimate of
//! online time is computed for.
//!
//! Two named profiles match the issue (and Chameleon's and ABY's LAN/WAN
//! settings): `lan` is 0.2 ms round trip at 1 Gbit/s, `wan` 50 ms at
//! 100 Mbit/s. A custom profile is written `rtt=10ms,bw=200mbit`; units are
//! parsed strictly and every mistake gets an error that says what was
//! expected.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A network: round-trip time and bandwidth (each direction).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// `lan`, `wan` or `custom`.
    pub name: String,
    /// Round-trip time in microseconds.
    pub rtt_us: u64,
    /// Bandwidth in bits per second.
    pub bandwidth_bps: u64,
}

/// Why a `--network` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// Neither a profile name nor `key=value` pairs.
    #[error("unknown network `{0}`: use `lan`, `wan`, or `rtt=10ms,bw=200mbit`")]
    Unknown(String),
    /// A `key=value` pair with an unknown key.
    #[error("unknown network setting `{0}`: the settings are `rtt` (e.g. `rtt=10ms`) and `bw` (e.g. `bw=200mbit`)")]
    UnknownKey(String),
    /// A setting given twice.
    #[error("network setting `{0}` is given twice")]
    Duplicate(String),
    /// A required setting is missing.
    #[error(
        "network setting `{0}` is missing: a custom network needs both, e.g. `rtt=10ms,bw=200mbit`"
    )]
    Missing(&'static str),
    /// A value that does not parse.
    #[error("bad {what} `{value}`: {help}")]
    BadValue {
        /// `rtt` or `bw`.
        what: &'static str,
        /// The text given.
        value: String,
        /// What would be right.
        help: &'static str,
    },
}

const RTT_HELP: &str = "expected a positive number with a unit: us, ms or s (e.g. `10ms`)";
const BW_HELP: &str =
    "expected a positive number with a unit: kbit, mbit or gbit (per second, e.g. `200mbit`)";

impl Network {
    /// 0.2 ms round trip, 1 Gbit/s.
    pub fn lan() -> Network {
        Network {
            name: "lan".into(),
            rtt_us: 200,
            bandwidth_bps: 1_000_000_000,
        }
    }

    /// 50 ms round trip, 100 Mbit/s.
    pub fn wan() -> Network {
        Network {
            name: "wan".into(),
            rtt_us: 50_000,
            bandwidth_bps: 100_000_000,
        }
    }

    /// Round-trip time in seconds.
    pub fn rtt_seconds(&self) -> f64 {
        self.rtt_us as f64 / 1e6
    }

    /// Seconds to push `bytes` through the link.
    pub fn transfer_seconds(&self, bytes: u64) -> f64 {
        bytes as f64 * 8.0 / self.bandwidth_bps as f64
    }

    /// Parse `lan`, `wan`, or `rtt=<time>,bw=<rate>` (in either order).
    ///
    /// ```
    /// use chimera_compiler::cost::Network;
    /// let n = Network::parse("rtt=10ms,bw=200mbit").unwrap();
    /// assert_eq!((n.rtt_us, n.bandwidth_bps), (10_000, 200_000_000));
    /// assert!(Network::parse("rtt=10,bw=1gbit").unwrap_err().to_string().contains("unit"));
    /// ```
    pub fn parse(text: &str) -> Result<Network, NetworkError> {
        let t = text.trim();
        match t.to_ascii_lowercase().as_str() {
            "lan" => return Ok(Network::lan()),
            "wan" => return Ok(Network::wan()),
            _ => {}
        }
        if !t.contains('=') {
            return Err(NetworkError::Unknown(t.to_string()));
        }
        let (mut rtt, mut bw) = (None, None);
        for part in t.split(',') {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| NetworkError::UnknownKey(part.trim().to_string()))?;
            let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
            match key.as_str() {
                "rtt" => {
                    if rtt.replace(parse_time_us(value)?).is_some() {
                        return Err(NetworkError::Duplicate(key));
                    }
                }
                "bw" | "bandwidth" => {
                    if bw.replace(parse_rate_bps(value)?).is_some() {
                        return Err(NetworkError::Duplicate(key));
                    }
                }
                _ => return Err(NetworkError::UnknownKey(key)),
            }
        }
        Ok(Network {
            name: "custom".into(),
            rtt_us: rtt.ok_or(NetworkError::Missing("rtt"))?,
            bandwidth_bps: bw.ok_or(NetworkError::Missing("bw"))?,
        })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (rtt {} ms, {} Mbit/s)",
            self.name,
            self.rtt_us as f64 / 1000.0,
            self.bandwidth_bps as f64 / 1e6
        )
    }
}

/// Split `12.5ms` into `(12.5, "ms")`.
fn number_unit(value: &str) -> Option<(f64, String)> {
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (num, unit) = value.split_at(split);
    let n: f64 = num.parse().ok()?;
    (n.is_finite() && n > 0.0).then(|| (n, unit.trim().to_ascii_lowercase()))
}

fn parse_time_us(value: &str) -> Result<u64, NetworkError> {
    let bad = || NetworkError::BadValue {
        what: "rtt",
        value: value.to_string(),
        help: RTT_HELP,
    };
    let (n, unit) = number_unit(value).ok_or_else(bad)?;
    let scale = match unit.as_str() {
        "us" | "µs" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        _ => return Err(bad()),
    };
    let us = (n * scale).round();
    (1.0..1e12)
        .contains(&us)
        .then_some(us as u64)
        .ok_or_else(bad)
}

fn parse_rate_bps(value: &str) -> Result<u64, NetworkError> {
    let bad = || NetworkError::BadValue {
        what: "bw",
        value: value.to_string(),
        help: BW_HELP,
    };
    let (n, unit) = number_unit(value).ok_or_else(bad)?;
    let scale = match unit.trim_end_matches("/s").trim_end_matches("ps") {
        "kbit" | "kb" => 1e3,
        "mbit" | "mb" => 1e6,
        "gbit" | "gb" => 1e9,
        _ => return Err(bad()),
    };
    let bps = (n * scale).round();
    (1.0..1e15)
        .contains(&bps)
        .then_some(bps as u64)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_profiles() {
        assert_eq!(Network::parse("lan").unwrap(), Network::lan());
        assert_eq!(Network::parse(" WAN ").unwrap(), Network::wan());
        assert_eq!(Network::wan().rtt_seconds(), 0.05);
        assert_eq!(Network::wan().transfer_seconds(12_500_000), 1.0);
    }

    #[test]
    fn custom_profiles_with_units() {
        let n = Network::parse("bw=1.5gbit, rtt=250us").unwrap();
        assert_eq!((n.rtt_us, n.bandwidth_bps), (250, 1_500_000_000));
        let n = Network::parse("rtt=0.1s,bw=800kbit").unwrap();
        assert_eq!((n.rtt_us, n.bandwidth_bps), (100_000, 800_000));
        assert_eq!(n.name, "custom");
    }

    #[test]
    fn custom_profile_errors_say_what_is_wrong() {
        let err = |s: &str| Network::parse(s).unwrap_err().to_string();
        assert_eq!(
            err("lab"),
            "unknown network `lab`: use `lan`, `wan`, or `rtt=10ms,bw=200mbit`"
        );
        assert!(err("rtt=10,bw=1gbit")
            .starts_with("bad rtt `10`: expected a positive number with a unit"));
        assert!(err("rtt=10ms,bw=200mbyte").starts_with("bad bw `200mbyte`"));
        assert!(err("rtt=-1ms,bw=1gbit").starts_with("bad rtt `-1ms`"));
        assert!(err("rtt=0ms,bw=1gbit").starts_with("bad rtt `0ms`"));
        assert_eq!(
            err("rtt=10ms"),
            "network setting `bw` is missing: a custom network needs both, e.g. `rtt=10ms,bw=200mbit`"
        );
        assert_eq!(
            err("rtt=1ms,rtt=2ms,bw=1gbit"),
            "network setting `rtt` is given twice"
        );
        assert!(err("latency=1ms,bw=1gbit").starts_with("unknown network setting `latency`"));
    }
}
