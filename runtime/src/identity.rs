//! Party identities for authenticated channels: a party's private key and
//! self-signed certificate ([`Identity`]), the peer certificates it accepts
//! ([`PinnedPeers`]) and the SHA-256 [`Fingerprint`] people compare.
//!
//! Chimera authenticates peers by **pinning**, not by a certificate
//! authority: each party is configured with the exact certificates of the
//! peers it will talk to, and a handshake succeeds only if the presented
//! certificate is byte-for-byte one of them (and currently valid). There is no
//! hostname check and no CA to set up or compromise; `chimera keygen` makes a
//! key and certificate in one step and prints the fingerprint, which the other
//! operator can compare with what they received (MP-SPDZ #1651, SPU #130:
//! certificate set-up is what users trip over).
//!
//! Keys are P-256 ECDSA (rcgen with the ring back-end); files are PEM.
//! Private keys are written owner-only (0600) and atomically, and a key file
//! readable by others is refused on load, as ssh does.

mod der;

use crate::fsutil::write_atomic_with;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub use der::Validity;

/// Errors loading or making identities, with the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: std::io::Error,
    },
    /// A file is not the PEM it should be.
    #[error("{path}: not a valid PEM {what}: {detail}")]
    BadPem {
        /// The file (or a description of the in-memory source).
        path: PathBuf,
        /// What was expected ("certificate", "private key").
        what: &'static str,
        /// What the parser said.
        detail: String,
    },
    /// A certificate is malformed or outside its validity period.
    #[error("{path}: {detail}")]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// The private key is readable by other users.
    #[error(
        "{path}: the private key is readable by other users (mode {mode:o}); run `chmod 600 {path}`"
    )]
    KeyNotPrivate {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key does not belong to the certificate, or rustls rejects it.
    #[error("{path}: {detail}")]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// Certificate generation failed.
    #[error("could not generate a certificate: {0}")]
    Generate(String),
}

/// SHA-256 of a certificate's DER encoding: what operators compare.
///
/// Displayed as colon-separated upper-case hex, the format of
/// `openssl x509 -noout -fingerprint -sha256 -in cert.crt`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Fingerprint of a DER certificate.
    pub fn of(der: &[u8]) -> Fingerprint {
        let digest = ring::digest::digest(&ring::digest::SHA256, der);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Fingerprint(out)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A party's private key and its certificate.
pub struct Identity {
    name: String,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    fingerprint: Fingerprint,
}

impl fmt::Debug for Identity {
    // Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("name", &self.name)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Clone for Identity {
    fn clone(&self) -> Identity {
        Identity {
            name: self.name.clone(),
            cert: self.cert.clone(),
            key: self.key.clone_key(),
            fingerprint: self.fingerprint,
        }
    }
}

/// A freshly generated identity in PEM form, ready to be written.
pub struct GeneratedIdentity {
    /// The certificate (public; give it to the peers).
    pub cert_pem: String,
    /// The private key (secret; keep it owner-only).
    pub key_pem: String,
    /// The certificate's fingerprint.
    pub fingerprint: Fingerprint,
}

impl fmt::Debug for GeneratedIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedIdentity")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Where [`GeneratedIdentity::write`] put the files.
#[derive(Clone, Debug)]
pub struct IdentityFiles {
    /// `<dir>/<name>.crt`.
    pub cert: PathBuf,
    /// `<dir>/<name>.key` (mode 0600).
    pub key: PathBuf,
}

impl GeneratedIdentity {
    /// Make a P-256 key and a self-signed certificate naming `name`, valid
    /// from one day ago (clock skew) for `valid_days` days.
    pub fn generate(name: &str, valid_days: u32) -> Result<GeneratedIdentity, IdentityError> {
        let now = unix_now();
        GeneratedIdentity::generate_with_validity(
            name,
            now - 86_400,
            now + i64::from(valid_days) * 86_400,
        )
    }

    /// Like [`generate`](Self::generate) with an explicit validity period in
    /// Unix seconds (rounded down to whole days).
    pub fn generate_with_validity(
        name: &str,
        not_before: i64,
        not_after: i64,
    ) -> Result<GeneratedIdentity, IdentityError> {
        let generate = |e: rcgen::Error| IdentityError::Generate(e.to_string());
        let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).map_err(generate)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("chimera party {name}"));
        let (y, m, d) = der::civil_from_days(not_before.div_euclid(86_400));
        params.not_before = rcgen::date_time_ymd(y, m, d);
        let (y, m, d) = der::civil_from_days(not_after.div_euclid(86_400));
        params.not_after = rcgen::date_time_ymd(y, m, d);
        let key = rcgen::KeyPair::generate().map_err(generate)?;
        let cert = params.self_signed(&key).map_err(generate)?;
        Ok(GeneratedIdentity {
            fingerprint: Fingerprint::of(cert.der()),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Write `<dir>/<name>.key` (owner-only, atomically) and
    /// `<dir>/<name>.crt` (atomically). Refuses to overwrite an existing key,
    /// so a typo cannot destroy a party's identity.
    pub fn write(&self, dir: &Path, name: &str) -> Result<IdentityFiles, IdentityError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |error| IdentityError::Io { path, error }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let files = IdentityFiles {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
        };
        if files.key.exists() {
            return Err(IdentityError::Io {
                path: files.key.clone(),
                error: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "a key already exists here; remove it first if you mean to replace it",
                ),
            });
        }
        write_atomic_with(&files.key, self.key_pem.as_bytes(), true).map_err(io(&files.key))?;
        write_atomic_with(&files.cert, self.cert_pem.as_bytes(), false).map_err(io(&files.cert))?;
        Ok(files)
    }
}

/// Parse every certificate of a PEM text; `path` names it in errors.
fn parse_certs(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, IdentityError> {
    let bad = |detail: String| IdentityError::BadPem {
        path: path.to_path_buf(),
        what: "certificate",
        detail,
    };
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no `-----BEGIN CERTIFICATE-----` section found".into()));
    }
    Ok(certs)
}

/// Check that a certificate parses and is valid at `now`; returns its validity.
fn check_cert(path: &Path, der: &[u8], now: i64) -> Result<Validity, IdentityError> {
    let validity =
        Validity::of_certificate(der).map_err(|detail| IdentityError::BadCertificate {
            path: path.to_path_buf(),
            detail: format!("not a valid X.509 certificate: {detail}"),
        })?;
    validity
        .check(now)
        .map_err(|detail| IdentityError::BadCertificate {
            path: path.to_path_buf(),
            detail,
        })?;
    Ok(validity)
}

fn read(path: &Path) -> Result<Vec<u8>, IdentityError> {
    std::fs::read(path).map_err(|error| IdentityError::Io {
        path: path.to_path_buf(),
        error,
    })
}

impl Identity {
    /// Load a party's certificate and private key files (PEM), checking that
    /// the key file is owner-only, the certificate currently valid and the
    /// key usable by rustls.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Identity, IdentityError> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(key_path).map_err(|error| IdentityError::Io {
                path: key_path.to_path_buf(),
                error,
            })?;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(IdentityError::KeyNotPrivate {
                    path: key_path.to_path_buf(),
                    mode,
                });
            }
        }
        Identity::from_pem(cert_path, &read(cert_path)?, key_path, &read(key_path)?)
    }

    /// Build an identity from PEM texts; the paths only name them in errors.
    pub fn from_pem(
        cert_path: &Path,
        cert_pem: &[u8],
        key_path: &Path,
        key_pem: &[u8],
    ) -> Result<Identity, IdentityError> {
        let mut certs = parse_certs(cert_path, cert_pem)?;
        if certs.len() != 1 {
            return Err(IdentityError::BadCertificate {
                path: cert_path.to_path_buf(),
                detail: format!(
                    "expected exactly one certificate (a party's own), found {}",
                    certs.len()
                ),
            });
        }
        let cert = certs.remove(0);
        check_cert(cert_path, &cert, unix_now())?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| IdentityError::BadPem {
            path: key_path.to_path_buf(),
            what: "private key",
            detail: e.to_string(),
        })?;
        // The key must be one rustls can sign with, and belong to the certificate.
        let provider = rustls::crypto::ring::default_provider();
        let signing = provider
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|e| IdentityError::BadKey {
                path: key_path.to_path_buf(),
                detail: format!("unusable private key: {e}"),
            })?;
        let certified = rustls::sign::CertifiedKey::new(vec![cert.clone()], signing);
        certified.keys_match().map_err(|e| IdentityError::BadKey {
            path: key_path.to_path_buf(),
            detail: format!(
                "this key does not belong to the certificate {}: {e}",
                cert_path.display()
            ),
        })?;
        let name = cert_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Identity {
            name,
            fingerprint: Fingerprint::of(&cert),
            cert,
            key,
        })
    }

    /// The name this identity was loaded under (the certificate file's stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its certificate's fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// Its certificate (DER).
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    pub(crate) fn private_key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }
}

/// One accepted peer certificate.
#[derive(Clone, Debug)]
pub struct PinnedCert {
    /// The certificate (DER), compared byte for byte.
    pub der: CertificateDer<'static>,
    /// Its fingerprint.
    pub fingerprint: Fingerprint,
    /// Where it came from (file name), for messages.
    pub source: String,
    /// Its validity period, checked at every handshake.
    pub validity: Validity,
}

/// The set of peer certificates a party accepts.
#[derive(Clone, Debug, Default)]
pub struct PinnedPeers {
    certs: Vec<PinnedCert>,
}

impl PinnedPeers {
    /// An empty set (accepts no one).
    pub fn new() -> PinnedPeers {
        PinnedPeers::default()
    }

    /// Load every certificate of each PEM file. A file without a certificate,
    /// a malformed one or an expired one is an error naming the file.
    pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<PinnedPeers, IdentityError> {
        let mut peers = PinnedPeers::new();
        for path in paths {
            let path = path.as_ref();
            peers.add_pem(path, &read(path)?)?;
        }
        Ok(peers)
    }

    /// Add every certificate of a PEM text; `path` names it in messages.
    pub fn add_pem(&mut self, path: &Path, pem: &[u8]) -> Result<(), IdentityError> {
        let now = unix_now();
        for der in parse_certs(path, pem)? {
            let validity = check_cert(path, &der, now)?;
            self.certs.push(PinnedCert {
                fingerprint: Fingerprint::of(&der),
                der,
                source: path.display().to_string(),
                validity,
            });
        }
        Ok(())
    }

    /// Accept an identity's own certificate (tests, in-process runs).
    pub fn add_identity(&mut self, identity: &Identity) {
        let validity = Validity::of_certificate(&identity.cert).unwrap_or(Validity {
            not_before: i64::MIN,
            not_after: i64::MAX,
        });
        self.certs.push(PinnedCert {
            der: identity.cert.clone(),
            fingerprint: identity.fingerprint,
            source: identity.name.clone(),
            validity,
        });
    }

    /// The accepted certificates.
    pub fn certs(&self) -> &[PinnedCert] {
        &self.certs
    }

    /// The pinned certificate equal to `der`, if any.
    pub fn find(&self, der: &[u8]) -> Option<&PinnedCert> {
        self.certs.iter().find(|c| c.der.as_ref() == der)
    }

    /// "AA:BB:… (server.crt), …" for messages.
    pub fn describe(&self) -> String {
        if self.certs.is_empty() {
            return "none (no peer certificate is pinned)".into();
        }
        self.certs
            .iter()
            .map(|c| format!("{} ({})", c.fingerprint, c.source))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
