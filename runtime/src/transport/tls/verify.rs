//! Certificate verifiers that accept exactly the pinned peer certificates.
//!
//! Both sides of a Chimera connection authenticate the other by an exact
//! byte-for-byte match of its end-entity certificate against the
//! [`PinnedPeers`] set, plus the pinned certificate's validity period. No CA,
//! no chain, no hostname. The TLS 1.3 `CertificateVerify` signature is still
//! checked with the ring provider's algorithms, so a peer must hold the
//! private key of the pinned certificate, not merely a copy of it.

use crate::identity::{unix_now, Fingerprint, PinnedPeers};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use std::sync::{Arc, Mutex};

/// Why we refused a peer's certificate (kept for the error message).
#[derive(Clone, Debug, thiserror::Error)]
#[error(
    "refused the {role}'s certificate {presented}: it is not one of the pinned peer certificates we accept: {accepted}. If this is the right peer, add its certificate file to the accepted peers"
)]
pub struct NotPinned {
    /// "server" or "client".
    pub role: &'static str,
    /// The fingerprint the peer presented.
    pub presented: Fingerprint,
    /// The accepted fingerprints with their files.
    pub accepted: String,
}

/// Shared slot where a verifier leaves the detailed reason for a refusal.
pub(crate) type Refusal = Arc<Mutex<Option<String>>>;

/// The verifier used on both sides.
#[derive(Debug)]
pub(crate) struct PinnedVerifier {
    peers: PinnedPeers,
    /// The peer's role, for messages.
    role: &'static str,
    algorithms: WebPkiSupportedAlgorithms,
    refusal: Refusal,
}

impl PinnedVerifier {
    pub(crate) fn new(peers: PinnedPeers, role: &'static str, refusal: Refusal) -> PinnedVerifier {
        PinnedVerifier {
            peers,
            role,
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
            refusal,
        }
    }

    fn check(&self, end_entity: &CertificateDer<'_>, now: UnixTime) -> Result<(), Error> {
        let refuse = |reason: String, err: CertificateError| {
            if let Ok(mut slot) = self.refusal.lock() {
                *slot = Some(reason);
            }
            Err(Error::InvalidCertificate(err))
        };
        match self.peers.find(end_entity) {
            None => {
                let why = NotPinned {
                    role: self.role,
                    presented: Fingerprint::of(end_entity),
                    accepted: self.peers.describe(),
                };
                refuse(
                    why.to_string(),
                    CertificateError::ApplicationVerificationFailure,
                )
            }
            Some(pinned) => {
                let now = i64::try_from(now.as_secs()).unwrap_or_else(|_| unix_now());
                match pinned.validity.check(now) {
                    Ok(()) => Ok(()),
                    Err(why) => refuse(
                        format!(
                            "refused the {}'s pinned certificate {} ({}): {why}",
                            self.role, pinned.fingerprint, pinned.source
                        ),
                        CertificateError::Expired,
                    ),
                }
            }
        }
    }

    fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.check(end_entity, now)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        // The configs allow TLS 1.3 only, so this is never reached.
        Err(Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl ClientCertVerifier for PinnedVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.check(end_entity, now)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Err(Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
