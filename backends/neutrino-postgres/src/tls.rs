//! TLS for the executor's connections, from the connection URL's `sslmode`
//! and `sslrootcert` (taken out of it here: tokio-postgres, which parses the
//! rest, knows neither `verify-ca`, `verify-full` nor `sslrootcert`):
//!
//! - `disable`, and `prefer` (the default): no TLS (`prefer` does not try it);
//! - `require`: TLS, the server's certificate not checked, unless
//!   `sslrootcert` is given, then as `verify-ca` (as libpq does);
//! - `verify-ca`: TLS, the certificate signed by a CA of `sslrootcert`;
//! - `verify-full`: that, and issued for the host connected to.
//!
//! Anything else, a CA file that cannot be read, `sslrootcert` without a mode
//! that uses it, and client certificates are [`Error::Config`], never
//! ignored.

use std::fmt;
use std::sync::Arc;

use neutrino_core::{Error, Result};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::error::BACKEND;

/// How a connection uses TLS.
#[derive(Clone)]
pub(crate) enum Tls {
    /// Not at all.
    Off,
    /// Required, with this configuration.
    On {
        /// The `sslmode`, for `Debug`.
        mode: &'static str,
        config: Arc<ClientConfig>,
    },
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tls::Off => f.write_str("off"),
            Tls::On { mode, .. } => f.write_str(mode),
        }
    }
}

fn invalid(key: &'static str, reason: &str) -> Error {
    Error::Config {
        backend: BACKEND,
        key,
        reason: reason.into(),
    }
}

/// Settings that would need a client certificate: not supported.
const CLIENT_CERTIFICATE_KEYS: &[&str] = &["sslcert", "sslkey", "sslpassword", "sslcrl"];

/// `url` without its TLS settings, and the TLS they ask for.
pub(crate) fn split(url: &str) -> Result<(String, Tls)> {
    let (rest, settings) = take_settings(url);
    let (mut mode, mut root) = (None, None);
    for (key, value) in settings {
        match key.as_str() {
            "sslmode" => mode = Some(value),
            "sslrootcert" => root = Some(value),
            _ => {
                return Err(invalid(
                    "sslmode",
                    "client certificates (sslcert, sslkey, sslpassword, sslcrl) are not supported",
                ));
            }
        }
    }
    let tls = match (mode.as_deref(), root) {
        (None | Some("disable" | "prefer"), None) => Tls::Off,
        (None | Some("disable" | "prefer"), Some(_)) => {
            return Err(invalid(
                "sslrootcert",
                "a CA certificate is only used with sslmode=require, verify-ca or verify-full",
            ));
        }
        (Some("require"), None) => Tls::On {
            mode: "require",
            config: config(Verify::Nothing)?,
        },
        (Some("require" | "verify-ca"), Some(root)) => Tls::On {
            mode: "verify-ca",
            config: config(Verify::Ca(roots(&root)?))?,
        },
        (Some("verify-full"), Some(root)) => Tls::On {
            mode: "verify-full",
            config: config(Verify::Full(roots(&root)?))?,
        },
        (Some("verify-ca" | "verify-full"), None) => {
            return Err(invalid(
                "sslrootcert",
                "sslmode=verify-ca and verify-full need sslrootcert: the CA certificates file",
            ));
        }
        (Some(_), _) => {
            return Err(invalid(
                "sslmode",
                "not one of disable, prefer, require, verify-ca, verify-full",
            ));
        }
    };
    Ok((rest, tls))
}

/// Takes the TLS settings out of a URL's query (percent-decoded) or a
/// `key=value` string: the rest as written, and the settings.
fn take_settings(url: &str) -> (String, Vec<(String, String)>) {
    let is_tls =
        |k: &str| k == "sslmode" || k == "sslrootcert" || CLIENT_CERTIFICATE_KEYS.contains(&k);
    let mut taken = Vec::new();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_owned(), taken);
        };
        let mut kept = Vec::new();
        for part in query.split('&') {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let key = percent_decoded(k);
            if is_tls(&key) {
                taken.push((key, percent_decoded(v)));
            } else {
                kept.push(part);
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return (rest, taken);
    }
    // `key = value` pairs, a value quoted with `'` (and `\` escapes) or not.
    let b = url.as_bytes();
    let mut rest = String::with_capacity(url.len());
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = &url[start..i];
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            // Not a pair: left to tokio-postgres, which refuses it.
            rest.push_str(&url[start..]);
            break;
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = Vec::new();
        if i < b.len() && b[i] == b'\'' {
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                value.push(b[i]);
                i += 1;
            }
            i = (i + 1).min(b.len());
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                value.push(b[i]);
                i += 1;
            }
        }
        if is_tls(key) {
            taken.push((key.to_owned(), String::from_utf8_lossy(&value).into_owned()));
        } else {
            rest.push_str(&url[start..i]);
            rest.push(' ');
        }
    }
    (rest.trim_end().to_owned(), taken)
}

/// `%XX` escapes decoded (anything else kept as written).
fn percent_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let hex = |c: Option<&u8>| c.and_then(|c| (*c as char).to_digit(16));
    while i < b.len() {
        match (b[i], hex(b.get(i + 1)), hex(b.get(i + 2))) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The CA certificates of the PEM file `path`.
fn roots(path: &str) -> Result<RootCertStore> {
    let unreadable = || invalid("sslrootcert", "cannot read CA certificates from that file");
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|_| unreadable())? {
        store
            .add(cert.map_err(|_| unreadable())?)
            .map_err(|_| invalid("sslrootcert", "a CA certificate of that file is not valid"))?;
    }
    if store.is_empty() {
        return Err(invalid("sslrootcert", "the file holds no CA certificate"));
    }
    Ok(store)
}

/// What of the server's certificate is checked.
enum Verify {
    Nothing,
    Ca(RootCertStore),
    Full(RootCertStore),
}

fn config(verify: Verify) -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|_| invalid("sslmode", "no TLS protocol version available"))?;
    let verifier = |roots: RootCertStore| {
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
            .build()
            .map_err(|_| invalid("sslrootcert", "cannot verify with those CA certificates"))
    };
    let config = match verify {
        Verify::Full(roots) => builder
            .with_webpki_verifier(verifier(roots)?)
            .with_no_client_auth(),
        Verify::Ca(roots) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyName(verifier(roots)?)))
            .with_no_client_auth(),
        Verify::Nothing => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// `sslmode=require` without a CA: the connection is encrypted, the server's
/// certificate not checked (the handshake's signatures still are).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `sslmode=verify-ca`: the certificate chain checked against the CA, not
/// the name it was issued for.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        // The name is checked after the chain: this error means the chain
        // verified.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_settings_are_taken_out_and_the_rest_kept_as_written() {
        let (rest, taken) = take_settings(
            "postgres://u:p%3Fw@h:5/db?application_name=a&sslmode=verify%2Dfull&sslrootcert=%2Fca.pem",
        );
        assert_eq!(rest, "postgres://u:p%3Fw@h:5/db?application_name=a");
        assert_eq!(
            taken,
            [
                ("sslmode".to_owned(), "verify-full".to_owned()),
                ("sslrootcert".to_owned(), "/ca.pem".to_owned())
            ]
        );
        let (rest, taken) = take_settings("postgres://u@h/db?sslmode=require");
        assert_eq!(rest, "postgres://u@h/db");
        assert_eq!(taken.len(), 1);
        let (rest, taken) = take_settings(
            r"host=h password='a b\' sslmode=require' sslmode = disable  sslrootcert='/x y/ca.pem' user=u",
        );
        assert_eq!(rest, r"host=h password='a b\' sslmode=require' user=u");
        assert_eq!(
            taken,
            [
                ("sslmode".to_owned(), "disable".to_owned()),
                ("sslrootcert".to_owned(), "/x y/ca.pem".to_owned())
            ]
        );
    }
}
