//! TLS to the source: the `ssl-*` options of `cdc.mysql-url`, with the names and meanings of
//! the mysql client's `--ssl-mode`, `--ssl-ca`, `--ssl-cert`, `--ssl-key` and
//! `--server-public-key-path` (docs/configuration.md#tls-to-the-source); the checks of the files
//! they name, run by CONFIG SET and again before every connection; the `mysql` crate's options
//! for each mode; and what a failure caused by TLS tells the user.
//!
//! The modes:
//! - `disabled`: no TLS.
//! - `preferred` (the default): TLS when the server offers it, its certificate not checked;
//!   unencrypted when the server has no TLS (or the TLS handshake fails).
//! - `required`: TLS or no connection; the certificate is not checked (as the mysql client,
//!   which ignores `--ssl-ca` in this mode).
//! - `verify-ca`: TLS, and the server's certificate must chain to a CA certificate of `ssl-ca`:
//!   to those only (the `mysql` crate also trusted its bundled public roots, with which any
//!   certificate a public CA issued for any name passed; vendor/mysql/PATCHED.md). The host
//!   name is not checked.
//! - `verify-identity`: as `verify-ca`, and the certificate must name the URL's host (a DNS
//!   name or IP address of its subjectAltName).
//!
//! `ssl-ca` without `ssl-mode` means `verify-ca`, as for the mysql client 8.0. `verify-ca` and
//! `verify-identity` without `ssl-ca` are refused, as the mysql client refuses them ("CA
//! certificate is required if ssl-mode is VERIFY_CA or VERIFY_IDENTITY"): a server whose
//! certificate a public CA issued is checked against the system's bundle, named as `ssl-ca`.

use base64::Engine;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::path::{Path, PathBuf};

/// `ssl-mode`: MySQL's names and meanings (see the module's doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    Disabled,
    #[default]
    Preferred,
    Required,
    VerifyCa,
    VerifyIdentity,
}

impl SslMode {
    const ALL: [(SslMode, &'static str); 5] = [
        (SslMode::Disabled, "disabled"),
        (SslMode::Preferred, "preferred"),
        (SslMode::Required, "required"),
        (SslMode::VerifyCa, "verify-ca"),
        (SslMode::VerifyIdentity, "verify-identity"),
    ];

    pub fn as_str(self) -> &'static str {
        SslMode::ALL
            .iter()
            .find(|(m, _)| *m == self)
            .map_or("", |(_, n)| n)
    }

    /// A mode name in any case, `_` for `-` (`VERIFY_CA`, as `--ssl-mode` spells it).
    fn parse(text: &str) -> Result<SslMode, String> {
        let name = text.to_ascii_lowercase().replace('_', "-");
        SslMode::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(m, _)| *m)
            .ok_or_else(|| {
                let names: Vec<&str> = SslMode::ALL.iter().map(|(_, n)| *n).collect();
                format!("unknown ssl-mode '{text}': expected {}", names.join(", "))
            })
    }

    /// Whether the server's certificate is checked against `ssl-ca`.
    fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyIdentity)
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The TLS settings of `cdc.mysql-url`, checked ([`TlsParams::finish`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsSettings {
    /// The effective mode: `ssl-mode`, else `verify-ca` with `ssl-ca`, else `preferred`.
    pub mode: SslMode,
    /// `ssl-ca`: the CA certificates (PEM, or one DER certificate) the server's must chain to.
    pub ca: Option<PathBuf>,
    /// `ssl-cert` and `ssl-key`: the client certificate (chain) and its private key, for
    /// accounts created `REQUIRE X509` (or `SUBJECT`/`ISSUER`); both or neither.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// `server-public-key`: the server's RSA public key (PEM), with which MySQL 8's
    /// `caching_sha2_password` sends the password over an unencrypted connection; without it
    /// the module asks the server for the key.
    pub server_public_key: Option<PathBuf>,
}

/// The TLS parameters of a URL as they come, before [`TlsParams::finish`] checks them.
#[derive(Debug, Default)]
pub struct TlsParams {
    mode: Option<SslMode>,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    server_public_key: Option<PathBuf>,
}

impl TlsParams {
    /// Take one URL parameter; `name` is lower-case with `-` for `_`. Ok(false): not one of
    /// the TLS parameters.
    pub fn take(&mut self, name: &str, value: &str) -> Result<bool, String> {
        let slot = match name {
            "ssl-mode" | "sslmode" => {
                if self.mode.is_some() {
                    return Err("ssl-mode is given twice".into());
                }
                self.mode = Some(SslMode::parse(value)?);
                return Ok(true);
            }
            "ssl-ca" => &mut self.ca,
            "ssl-cert" => &mut self.cert,
            "ssl-key" => &mut self.key,
            "server-public-key" | "server-public-key-path" => &mut self.server_public_key,
            _ => return Ok(false),
        };
        if slot.is_some() {
            return Err(format!("{name} is given twice"));
        }
        if value.is_empty() {
            return Err(format!("{name} is empty: give the path of a file"));
        }
        *slot = Some(PathBuf::from(value));
        Ok(true)
    }

    /// The settings, checked: the combinations the mysql client refuses, and every file named
    /// (readable, holding what it should). `password` is only measured against the RSA key of
    /// `server-public-key`; no error quotes it.
    pub fn finish(self, password: &str) -> Result<TlsSettings, String> {
        let mode = match (self.mode, &self.ca) {
            (Some(m), _) => m,
            (None, Some(_)) => SslMode::VerifyCa,
            (None, None) => SslMode::Preferred,
        };
        if mode.verifies() && self.ca.is_none() {
            return Err(format!(
                "ssl-mode={mode} needs ssl-ca=<file of the CA certificates> (as the mysql client: the server's certificate is checked against those CAs only); for a certificate from a public CA, give the system's bundle, e.g. ssl-ca=/etc/ssl/certs/ca-certificates.crt"
            ));
        }
        match (&self.cert, &self.key) {
            (Some(_), None) => {
                return Err("ssl-cert needs ssl-key (the client certificate's private key)".into())
            }
            (None, Some(_)) => {
                return Err("ssl-key needs ssl-cert (the client certificate it belongs to)".into())
            }
            _ => {}
        }
        let settings = TlsSettings {
            mode,
            ca: self.ca,
            cert: self.cert,
            key: self.key,
            server_public_key: self.server_public_key,
        };
        settings.check_files(password)?;
        Ok(settings)
    }
}

impl TlsSettings {
    /// Check every file the settings name: it can be read and holds what it should (CA
    /// certificates, a certificate with its private key, an RSA public key). Run by CONFIG SET
    /// and before each connection (a file may have gone since). The error names the option
    /// and the path, never the password.
    pub fn check_files(&self, password: &str) -> Result<(), String> {
        if let Some(ca) = &self.ca {
            check_ca(ca)?;
        }
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            check_client_identity(cert, key)?;
        }
        if let Some(path) = &self.server_public_key {
            let data = read_file("server-public-key", path)?;
            let modulus_bytes = rsa_public_key_modulus_len(&data).map_err(|why| {
                format!(
                    "server-public-key={}: {why}: give the server's RSA public key in PEM (the file named by its caching_sha2_password_public_key_path, or SHOW STATUS LIKE 'Caching_sha2_password_rsa_public_key')",
                    path.display()
                )
            })?;
            // RSA-OAEP (SHA-1), as MySQL: the password and its NUL must fit the key.
            let room = modulus_bytes.saturating_sub(2 * 20 + 2);
            if password.len() + 1 > room {
                return Err(format!(
                    "server-public-key={}: the password is too long for this {}-bit RSA key (at most {} bytes): use TLS (ssl-mode) instead",
                    path.display(),
                    modulus_bytes * 8,
                    room.saturating_sub(1)
                ));
            }
        }
        Ok(())
    }

    /// The `mysql` crate's TLS options for the mode; None: no TLS (`disabled`).
    pub fn ssl_opts(&self) -> Option<mysql::SslOpts> {
        let identity = match (&self.cert, &self.key) {
            (Some(c), Some(k)) => Some(mysql::ClientIdentity::new(c.clone(), k.clone())),
            _ => None,
        };
        let opts = mysql::SslOpts::default().with_client_identity(identity);
        match self.mode {
            SslMode::Disabled => None,
            SslMode::Preferred | SslMode::Required => {
                Some(opts.with_danger_accept_invalid_certs(true))
            }
            SslMode::VerifyCa => Some(
                opts.with_root_cert_path(self.ca.clone())
                    .with_danger_skip_domain_validation(true),
            ),
            SslMode::VerifyIdentity => Some(opts.with_root_cert_path(self.ca.clone())),
        }
    }

    /// What an access denied (error 1045) may also mean under these settings: MariaDB answers
    /// so to an unencrypted connection under `require_secure_transport=ON`, and both servers
    /// to an account created `REQUIRE SSL` or `X509` without what it requires.
    pub fn access_denied_hint(&self) -> String {
        if self.mode == SslMode::Disabled {
            "; with ssl-mode=disabled, a server with require_secure_transport=ON or an account created REQUIRE SSL or X509 refuses the connection: use ssl-mode=preferred or a stronger one".into()
        } else if self.cert.is_none() {
            "; an account created REQUIRE X509 (or SUBJECT, ISSUER) needs a client certificate: ssl-cert and ssl-key in cdc.mysql-url".into()
        } else {
            String::new()
        }
    }

    /// What the user is told when a connection attempt failed because of TLS; None when the
    /// failure has nothing to do with it. `host` is the URL's host.
    pub fn failure(&self, host: &str, e: &mysql::Error) -> Option<String> {
        let mode = self.mode;
        if matches!(
            e,
            mysql::Error::DriverError(mysql::DriverError::TlsNotSupported)
        ) {
            return Some(format!(
                "the source does not offer TLS, and cdc.mysql-url has ssl-mode={mode}: turn TLS on at the server (ssl_cert and ssl_key in its my.cnf; MySQL 8 has it on by default), or set ssl-mode=preferred to accept an unencrypted connection"
            ));
        }
        if let mysql::Error::MySqlError(me) = e {
            if SECURE_TRANSPORT_REQUIRED.contains(&me.code) {
                return Some(format!(
                    "the source accepts only encrypted connections (require_secure_transport=ON: {}) and cdc.mysql-url has ssl-mode={mode}: use ssl-mode=preferred, or verify-ca / verify-identity with ssl-ca",
                    me.message
                ));
            }
            return None;
        }
        let ca = || {
            self.ca
                .as_ref()
                .map_or(String::new(), |p| p.display().to_string())
        };
        if let mysql::Error::TlsError(t) = e {
            return Some(format!(
                "cannot set TLS up for the source ({t}): check the files of ssl-ca, ssl-cert and ssl-key in cdc.mysql-url"
            ));
        }
        let tls = rustls_error(e)?;
        use rustls::CertificateError as C;
        Some(match tls {
            rustls::Error::InvalidCertificate(
                C::UnknownIssuer | C::BadSignature | C::BadEncoding,
            ) => format!(
                "the source's TLS certificate does not chain to a CA certificate of ssl-ca={} ({tls}): set ssl-ca to the file of the CA that signed the server's certificate (the server's ssl_ca), or use ssl-mode=required to encrypt without checking the certificate",
                ca()
            ),
            rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => format!(
                "the source's TLS certificate is not valid for the host '{host}' of cdc.mysql-url ({tls}): connect by a name or address the certificate lists (its subjectAltName), or use ssl-mode=verify-ca to check the CA only"
            ),
            rustls::Error::InvalidCertificate(
                C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
            ) => format!(
                "the source's TLS certificate is expired or not yet valid ({tls}): renew the server's certificate (its ssl_cert), or check this machine's clock"
            ),
            rustls::Error::InvalidCertificate(_) => format!(
                "the source's TLS certificate was refused ({tls}) under ssl-mode={mode}: check it against ssl-ca={}, or use ssl-mode=required to encrypt without checking it",
                ca()
            ),
            rustls::Error::AlertReceived(_) => format!(
                "the source ended the TLS handshake ({tls}): it may refuse the client certificate (ssl-cert and ssl-key of cdc.mysql-url, or none given where the account needs one) or offer no TLS version this module has (TLS 1.2 and 1.3)"
            ),
            _ => format!(
                "TLS with the source failed under ssl-mode={mode} ({tls}): check the server's TLS settings and the ssl-* options of cdc.mysql-url"
            ),
        })
    }
}

/// MySQL's `ER_SECURE_TRANSPORT_REQUIRED`: the server refuses an unencrypted connection
/// (`require_secure_transport=ON`). MariaDB answers 1045, access denied, instead
/// ([`TlsSettings::access_denied_hint`]).
const SECURE_TRANSPORT_REQUIRED: [u16; 1] = [3159];

/// The TLS library's own error inside a client error, where there is one: a failed handshake
/// comes as an I/O error that wraps it.
fn rustls_error(e: &mysql::Error) -> Option<&rustls::Error> {
    let io = match e {
        mysql::Error::IoError(io) => io,
        mysql::Error::CodecError(mysql_common::proto::codec::error::PacketCodecError::Io(io)) => io,
        mysql::Error::TlsError(mysql::error::tls::TlsError::Tls(t)) => return Some(t),
        _ => return None,
    };
    io.get_ref()?.downcast_ref::<rustls::Error>()
}

/// Whether a failed attempt of `preferred` may be retried without TLS: the server offers none,
/// or the TLS handshake itself failed (the mysql client's "falls back to an unencrypted
/// connection if an encrypted connection cannot be established").
pub fn may_fall_back(e: &mysql::Error) -> bool {
    matches!(
        e,
        mysql::Error::DriverError(mysql::DriverError::TlsNotSupported)
    ) || rustls_error(e).is_some()
}

fn read_file(option: &str, path: &Path) -> Result<Vec<u8>, String> {
    let data = std::fs::read(path)
        .map_err(|e| format!("{option}={}: cannot read the file ({e})", path.display()))?;
    if data.is_empty() {
        return Err(format!("{option}={}: the file is empty", path.display()));
    }
    Ok(data)
}

/// The certificates of a file as the `mysql` crate reads it: the PEM certificates, else the
/// whole file as one DER certificate.
fn certificates(option: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let data = read_file(option, path)?;
    let certs = rustls_pemfile::certs(&mut data.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{option}={}: not a readable PEM file ({e})", path.display()))?;
    if !certs.is_empty() {
        return Ok(certs);
    }
    if data.starts_with(b"-----") || data.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(format!(
            "{option}={}: the file holds no certificate (no -----BEGIN CERTIFICATE----- block)",
            path.display()
        ));
    }
    Ok(vec![CertificateDer::from(data)])
}

/// `ssl-ca`: CA certificates the TLS library takes as trust anchors.
fn check_ca(path: &Path) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates("ssl-ca", path)? {
        roots.add(cert).map_err(|e| {
            format!(
                "ssl-ca={}: not a usable CA certificate ({e})",
                path.display()
            )
        })?;
    }
    Ok(())
}

/// `ssl-cert` and `ssl-key`: a certificate chain and the private key of its first certificate,
/// as the TLS library loads them for the handshake.
fn check_client_identity(cert: &Path, key: &Path) -> Result<(), String> {
    let chain = certificates("ssl-cert", cert)?;
    let data = read_file("ssl-key", key)?;
    let pem = rustls_pemfile::private_key(&mut data.as_slice())
        .map_err(|e| format!("ssl-key={}: not a readable PEM file ({e})", key.display()))?;
    let private = match pem {
        Some(k) => k,
        None => PrivateKeyDer::try_from(data.as_slice())
            .map(|k| k.clone_key())
            .map_err(|_| {
                format!(
                    "ssl-key={}: the file holds no private key (PEM PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY, or DER)",
                    key.display()
                )
            })?,
    };
    rustls::sign::CertifiedKey::from_der(chain, private, &rustls::crypto::ring::default_provider())
        .map(drop)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => format!(
                "ssl-key={} is not the private key of the certificate in ssl-cert={}",
                key.display(),
                cert.display()
            ),
            e => format!(
                "ssl-cert={} / ssl-key={}: not a usable client certificate and key ({e})",
                cert.display(),
                key.display()
            ),
        })
}

/// The length in bytes of the modulus of an RSA public key in PEM (`BEGIN PUBLIC KEY`, or
/// `BEGIN RSA PUBLIC KEY`), checked the way the `mysql` crate reads it, which panics on
/// anything else (mysql_common's `crypto::der`): canonical DER with the lengths it expects.
fn rsa_public_key_modulus_len(pem: &[u8]) -> Result<usize, String> {
    let text = std::str::from_utf8(pem).map_err(|_| "not a PEM text file".to_string())?;
    let block = |label: &str| {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        let start = text.find(&begin)? + begin.len();
        let stop = start + text[start..].find(&end)?;
        Some(&text[start..stop])
    };
    let (body, pkcs1) = match (block("RSA PUBLIC KEY"), block("PUBLIC KEY")) {
        (Some(b), _) => (b, true),
        (None, Some(b)) => (b, false),
        (None, None) => {
            return Err("no -----BEGIN PUBLIC KEY----- (or RSA PUBLIC KEY) block".into())
        }
    };
    if body.contains('-') {
        return Err("a malformed PEM block".into());
    }
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "the PEM block is not base64".to_string())?;
    let bad = || "not an RSA public key".to_string();
    let rsa = if pkcs1 {
        der.as_slice()
    } else {
        // SubjectPublicKeyInfo: SEQUENCE { SEQUENCE algorithm, BIT STRING key }.
        let (spki, _) = der_item(&der, 0x30).ok_or_else(bad)?;
        let (_, rest) = der_item(spki, 0x30).ok_or_else(bad)?;
        let (bits, _) = der_item(rest, 0x03).ok_or_else(bad)?;
        match bits.split_first() {
            Some((0, key)) => key,
            _ => return Err(bad()),
        }
    };
    // RSAPublicKey: SEQUENCE { INTEGER modulus, INTEGER exponent }.
    let (fields, _) = der_item(rsa, 0x30).ok_or_else(bad)?;
    let (modulus, rest) = der_item(fields, 0x02).ok_or_else(bad)?;
    let (exponent, _) = der_item(rest, 0x02).ok_or_else(bad)?;
    let significant = modulus.iter().skip_while(|b| **b == 0).count();
    if significant * 8 < 1024 || exponent.iter().all(|b| *b == 0) {
        return Err("an RSA key shorter than 1024 bits, or without an exponent".into());
    }
    Ok(significant)
}

/// One DER item of type `tag` at the start of `der`: (its contents, what follows it).
fn der_item(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = der.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| acc << 8 | *b as usize);
        (len, &rest[n..])
    };
    if len == 0 || rest.len() < len {
        return None;
    }
    Some(rest.split_at(len))
}

/// Files for the unit tests: a scratch directory and the `openssl` command.
#[cfg(test)]
pub(crate) mod test_files {
    use std::path::{Path, PathBuf};

    /// A directory under the system's temp dir, removed on drop.
    pub struct Scratch(pub PathBuf);

    impl Scratch {
        pub fn new(name: &str) -> Scratch {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let dir = std::env::temp_dir().join(format!(
                "redis-cdc-unit-{name}-{}-{nanos}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        pub fn path(&self, file: &str) -> PathBuf {
            self.0.join(file)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Run `openssl` in `dir`; panics with its error output when it fails.
    pub fn openssl(dir: &Path, args: &[&str]) {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("cannot run openssl (apt-get install -y openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A CA (`ca.pem`), and a certificate signed by it with its key (`leaf.pem`, `leaf.key`),
    /// an unrelated key (`other.key`), all EC P-256.
    pub fn pki(dir: &Scratch) {
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        let run = |args: &[&str]| openssl(&dir.0, args);
        let mut ca = vec!["req", "-x509", "-nodes", "-days", "2"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=unit CA",
        ]);
        ca.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
        run(&ca);
        let mut leaf = vec!["req", "-nodes"];
        leaf.extend(ec);
        leaf.extend([
            "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=leaf",
        ]);
        run(&leaf);
        // Extensions make it a v3 certificate: rustls takes no other.
        std::fs::write(dir.path("leaf.ext"), "basicConstraints=CA:FALSE\n").unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "leaf.pem",
            "-extfile",
            "leaf.ext",
        ]);
        run(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-out",
            "other.key",
        ]);
        run(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "rsa.key",
        ]);
        run(&["pkey", "-in", "rsa.key", "-pubout", "-out", "rsa.pub"]);
        run(&[
            "rsa",
            "-in",
            "rsa.key",
            "-RSAPublicKey_out",
            "-out",
            "rsa1.pub",
        ]);
    }
}

#[cfg(test)]
mod tests {
    use super::test_files::{pki, Scratch};
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> TlsParams {
        let mut p = TlsParams::default();
        for (k, v) in pairs {
            assert_eq!(p.take(k, v), Ok(true), "{k}");
        }
        p
    }

    #[test]
    fn the_mode_defaults_as_the_mysql_client() {
        let dir = Scratch::new("tls-modes");
        pki(&dir);
        let ca = dir.path("ca.pem").display().to_string();
        assert_eq!(params(&[]).finish("").unwrap().mode, SslMode::Preferred);
        // ssl-ca alone: verify-ca; with an ssl-mode, that mode.
        assert_eq!(
            params(&[("ssl-ca", &ca)]).finish("").unwrap().mode,
            SslMode::VerifyCa
        );
        let s = params(&[("ssl-ca", &ca), ("ssl-mode", "required")])
            .finish("")
            .unwrap();
        assert_eq!(s.mode, SslMode::Required);
        // required does not check the certificate, even with ssl-ca (as the mysql client).
        let opts = s.ssl_opts().unwrap();
        assert!(opts.accept_invalid_certs() && opts.root_cert_path().is_none());
        let opts = params(&[("ssl-ca", &ca), ("ssl-mode", "verify-ca")])
            .finish("")
            .unwrap()
            .ssl_opts()
            .unwrap();
        assert!(!opts.accept_invalid_certs() && opts.skip_domain_validation());
        assert_eq!(opts.root_cert_path(), Some(Path::new(&ca)));
        let opts = params(&[("ssl-ca", &ca), ("ssl-mode", "verify-identity")])
            .finish("")
            .unwrap()
            .ssl_opts()
            .unwrap();
        assert!(!opts.accept_invalid_certs() && !opts.skip_domain_validation());
        assert!(params(&[("ssl-mode", "disabled")])
            .finish("")
            .unwrap()
            .ssl_opts()
            .is_none());
    }

    #[test]
    fn combinations_the_mysql_client_refuses_are_refused() {
        for mode in ["verify-ca", "verify-identity"] {
            let e = params(&[("ssl-mode", mode)]).finish("").unwrap_err();
            assert!(
                e.contains("needs ssl-ca") && e.contains("ca-certificates.crt"),
                "{e}"
            );
        }
        let e = params(&[("ssl-cert", "/x")]).finish("").unwrap_err();
        assert!(e.contains("ssl-cert needs ssl-key"), "{e}");
        let e = params(&[("ssl-key", "/x")]).finish("").unwrap_err();
        assert!(e.contains("ssl-key needs ssl-cert"), "{e}");
        let mut p = params(&[("ssl-mode", "required")]);
        assert!(p.take("sslmode", "disabled").unwrap_err().contains("twice"));
        let mut p = params(&[("ssl-ca", "/x")]);
        assert!(p.take("ssl-ca", "/y").unwrap_err().contains("twice"));
        assert!(TlsParams::default()
            .take("ssl-ca", "")
            .unwrap_err()
            .contains("empty"));
        assert_eq!(TlsParams::default().take("ssl-crl", "/x"), Ok(false));
    }

    #[test]
    fn files_are_checked_as_the_tls_library_will_load_them() {
        let dir = Scratch::new("tls-files");
        pki(&dir);
        let p = |f: &str| dir.path(f).display().to_string();
        std::fs::write(dir.path("empty"), b"").unwrap();
        std::fs::write(dir.path("garbage"), b"\x30\x03garbage").unwrap();
        let check = |pairs: &[(&str, &str)]| params(pairs).finish("secret");
        let ok = check(&[
            ("ssl-ca", &p("ca.pem")),
            ("ssl-cert", &p("leaf.pem")),
            ("ssl-key", &p("leaf.key")),
        ]);
        assert!(ok.is_ok(), "{ok:?}");
        assert!(check(&[("server-public-key", &p("rsa.pub"))]).is_ok());
        assert!(check(&[("server-public-key", &p("rsa1.pub"))]).is_ok());
        let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
            (vec![("ssl-ca", p("missing.pem"))], "cannot read the file"),
            (vec![("ssl-ca", p(""))], "cannot read the file"),
            (vec![("ssl-ca", p("empty"))], "the file is empty"),
            (vec![("ssl-ca", p("leaf.key"))], "holds no certificate"),
            (
                vec![("ssl-ca", p("garbage"))],
                "not a usable CA certificate",
            ),
            (
                vec![("ssl-cert", p("leaf.pem")), ("ssl-key", p("other.key"))],
                "is not the private key of the certificate",
            ),
            (
                vec![("ssl-cert", p("leaf.pem")), ("ssl-key", p("leaf.pem"))],
                "holds no private key",
            ),
            (
                vec![("server-public-key", p("leaf.pem"))],
                "no -----BEGIN PUBLIC KEY-----",
            ),
            (
                vec![("server-public-key", p("leaf.key"))],
                "no -----BEGIN PUBLIC KEY-----",
            ),
        ];
        for (pairs, expected) in cases {
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let e = check(&pairs).unwrap_err();
            assert!(
                e.contains(expected) && !e.contains("secret"),
                "{pairs:?}: {e}"
            );
            // The option and the path are named.
            assert!(
                e.contains(&format!("{}=", pairs[pairs.len() - 1].0)) || e.contains("ssl-key="),
                "{e}"
            );
        }
        // A password the RSA key cannot carry (2048 bits: 214 bytes with its NUL).
        let long = "p".repeat(214);
        let e = params(&[("server-public-key", &p("rsa.pub"))])
            .finish(&long)
            .unwrap_err();
        assert!(e.contains("too long") && !e.contains(&long), "{e}");
        assert!(params(&[("server-public-key", &p("rsa.pub"))])
            .finish(&long[1..])
            .is_ok());
    }

    #[test]
    fn tls_failures_name_the_cause_and_the_setting() {
        let settings = TlsSettings {
            mode: SslMode::VerifyIdentity,
            ca: Some(PathBuf::from("/etc/cdc/ca.pem")),
            ..TlsSettings::default()
        };
        let wrapped = |e: rustls::Error| {
            mysql::Error::IoError(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        };
        use rustls::CertificateError as C;
        let cases: Vec<(mysql::Error, &[&str])> = vec![
            (
                mysql::Error::DriverError(mysql::DriverError::TlsNotSupported),
                &[
                    "does not offer TLS",
                    "ssl-mode=verify-identity",
                    "ssl-mode=preferred",
                ],
            ),
            (
                wrapped(rustls::Error::InvalidCertificate(C::UnknownIssuer)),
                &["does not chain", "ssl-ca=/etc/cdc/ca.pem", "UnknownIssuer"],
            ),
            (
                wrapped(rustls::Error::InvalidCertificate(C::NotValidForName)),
                &["not valid for the host 'db.example'", "ssl-mode=verify-ca"],
            ),
            (
                wrapped(rustls::Error::InvalidCertificate(C::Expired)),
                &["expired", "ssl_cert"],
            ),
            (
                wrapped(rustls::Error::AlertReceived(
                    rustls::AlertDescription::CertificateRequired,
                )),
                &["ended the TLS handshake", "ssl-cert"],
            ),
            (
                mysql::Error::MySqlError(mysql::MySqlError {
                    state: "08004".into(),
                    code: 3159,
                    message: "Connections using insecure transport are prohibited".into(),
                }),
                &["require_secure_transport=ON", "ssl-mode=preferred"],
            ),
        ];
        for (e, words) in cases {
            let text = settings
                .failure("db.example", &e)
                .unwrap_or_else(|| panic!("{e:?}: not TLS"));
            for w in words {
                assert!(text.contains(w), "{e:?}: {text}");
            }
        }
        let plain = mysql::Error::IoError(std::io::Error::other("Connection refused"));
        assert_eq!(settings.failure("h", &plain), None);
        assert!(!may_fall_back(&plain));
        assert!(may_fall_back(&wrapped(rustls::Error::InvalidCertificate(
            C::UnknownIssuer
        ))));
    }

    #[test]
    fn modes_have_mysql_names_in_any_case() {
        for (mode, name) in SslMode::ALL {
            assert_eq!(SslMode::parse(name), Ok(mode));
            assert_eq!(
                SslMode::parse(&name.to_uppercase().replace('-', "_")),
                Ok(mode)
            );
            assert_eq!(mode.to_string(), name);
        }
        let e = SslMode::parse("bogus").unwrap_err();
        assert!(
            e.contains("'bogus'") && e.contains("verify-identity"),
            "{e}"
        );
    }

    #[test]
    fn der_items_are_bounded() {
        assert_eq!(
            der_item(&[0x30, 1, 7, 9], 0x30),
            Some((&[7u8][..], &[9u8][..]))
        );
        assert_eq!(
            der_item(&[0x30, 0x81, 1, 7], 0x30),
            Some((&[7u8][..], &[][..]))
        );
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 2, 1],
            &[0x31, 1, 1],
            &[0x30, 0x80, 1],
            &[0x30, 0x85, 1, 1, 1, 1, 1, 1],
            &[0x30, 0x82, 0xff, 0xff, 1],
            &[0x30, 0],
        ] {
            assert_eq!(der_item(bad, 0x30), None, "{bad:?}");
        }
    }

    #[test]
    fn a_public_key_that_would_panic_the_crate_is_refused() {
        for bad in [
            "",
            "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n",
            "-----BEGIN PUBLIC KEY-----\nnot base64!\n-----END PUBLIC KEY-----\n",
            "-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n",
            "-----BEGIN RSA PUBLIC KEY-----\nMAYCAQECAQE=\n-----END RSA PUBLIC KEY-----\n",
            "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
        ] {
            assert!(rsa_public_key_modulus_len(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
