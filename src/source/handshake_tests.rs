//! The connection handshake of [`super::connect`] against a scripted MySQL 8 server
//! (`fake_mysql`): MySQL 8's `caching_sha2_password` over TLS and without it (the server's RSA
//! key asked for, or given as `server-public-key`), after an auth switch, the fast path, and
//! `ssl-mode=preferred` against a server without TLS. What a real MySQL 8 has and has not been
//! run against: README, Limits.

use super::fake_mysql::{self, Script, Seen, SCRAMBLE, SWITCH_SCRAMBLE};
use crate::config::SourceUrl;
use crate::tls::test_files::{openssl, Scratch};
use std::sync::Arc;

const PASSWORD: &str = "Sha2-pässword";

/// The server's RSA key pair: (private key file, public key file).
fn rsa_key(dir: &Scratch) -> (std::path::PathBuf, std::path::PathBuf) {
    let (private, public) = (dir.path("rsa.key"), dir.path("rsa.pub"));
    openssl(
        &dir.0,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "rsa.key",
        ],
    );
    openssl(
        &dir.0,
        &["pkey", "-in", "rsa.key", "-pubout", "-out", "rsa.pub"],
    );
    (private, public)
}

/// A TLS configuration for the server: a self-signed certificate for 127.0.0.1.
fn tls_config(dir: &Scratch) -> Arc<rustls::ServerConfig> {
    openssl(
        &dir.0,
        &[
            "req",
            "-x509",
            "-nodes",
            "-days",
            "2",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-keyout",
            "tls.key",
            "-out",
            "tls.pem",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
    );
    let pem = std::fs::read(dir.path("tls.pem")).unwrap();
    let key = std::fs::read(dir.path("tls.key")).unwrap();
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls_pemfile::private_key(&mut key.as_slice())
        .unwrap()
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    Arc::new(config)
}

/// Connect with the URL's query to a server following `script`; what the server saw.
fn handshake(script: Script, query: &str) -> Result<Seen, String> {
    let (port, server) = fake_mysql::serve(script);
    let url = SourceUrl::parse(&format!(
        "mysql://cdc:{}@127.0.0.1:{port}?{query}",
        percent_encoding::utf8_percent_encode(PASSWORD, percent_encoding::NON_ALPHANUMERIC)
    ))
    .unwrap();
    super::connect(&url).map(drop).map_err(|e| e.message)?;
    let seen = server.join().unwrap()?;
    // The module's own session set-up ran on the connection.
    assert!(
        seen.queries.iter().any(|q| q == "SET NAMES utf8mb4"),
        "{seen:?}"
    );
    Ok(seen)
}

fn password_nul() -> Vec<u8> {
    let mut p = PASSWORD.as_bytes().to_vec();
    p.push(0);
    p
}

#[test]
fn full_authentication_over_tls_sends_the_password_inside_tls() {
    let dir = Scratch::new("sha2-tls");
    let script = Script {
        tls: Some(tls_config(&dir)),
        switch: false,
        fast: false,
        rsa: None,
    };
    let seen = handshake(script, "ssl-mode=required").unwrap();
    assert!(seen.ssl_request);
    assert_eq!(seen.clear_password, Some(password_nul()));
    assert!(!seen.public_key_requested);
}

#[test]
fn full_authentication_without_tls_encrypts_with_the_key_the_server_sends() {
    let dir = Scratch::new("sha2-rsa");
    let (private, public) = rsa_key(&dir);
    let script = Script {
        tls: None,
        switch: false,
        fast: false,
        rsa: Some((private, std::fs::read(public).unwrap())),
    };
    let seen = handshake(script, "ssl-mode=disabled").unwrap();
    assert!(!seen.ssl_request);
    assert!(seen.public_key_requested);
    assert_eq!(seen.decrypted_password, Some(password_nul()));
}

#[test]
fn server_public_key_is_used_without_asking_the_server() {
    let dir = Scratch::new("sha2-key-file");
    let (private, public) = rsa_key(&dir);
    let script = Script {
        tls: None,
        switch: false,
        fast: false,
        // The server would send a key that does not parse: it must not be asked.
        rsa: Some((private, b"not a key".to_vec())),
    };
    let seen = handshake(
        script,
        &format!("ssl-mode=disabled&server-public-key={}", public.display()),
    )
    .unwrap();
    assert!(!seen.public_key_requested);
    assert_eq!(seen.decrypted_password, Some(password_nul()));
}

#[test]
fn an_auth_switch_to_caching_sha2_uses_the_new_scramble() {
    let dir = Scratch::new("sha2-switch");
    let (private, public) = rsa_key(&dir);
    let script = Script {
        tls: None,
        switch: true,
        fast: false,
        rsa: Some((private, std::fs::read(public).unwrap())),
    };
    // The fake XORs with SWITCH_SCRAMBLE: the right password back means the client used it.
    assert_ne!(SCRAMBLE, SWITCH_SCRAMBLE);
    let seen = handshake(script, "ssl-mode=disabled").unwrap();
    assert_eq!(seen.decrypted_password, Some(password_nul()));
}

#[test]
fn fast_authentication_sends_no_password() {
    let seen = handshake(
        Script {
            tls: None,
            switch: false,
            fast: true,
            rsa: None,
        },
        "ssl-mode=disabled",
    )
    .unwrap();
    assert!(seen.clear_password.is_none() && seen.decrypted_password.is_none());
}

#[test]
fn preferred_connects_unencrypted_to_a_server_without_tls() {
    let dir = Scratch::new("sha2-preferred");
    let (private, public) = rsa_key(&dir);
    let script = Script {
        tls: None,
        switch: false,
        fast: false,
        rsa: Some((private, std::fs::read(public).unwrap())),
    };
    // No ssl-mode: preferred. The first attempt asks for TLS, sees none and closes; the second
    // is unencrypted.
    let seen = handshake(script, "").unwrap();
    assert_eq!(seen.aborted, 1);
    assert!(!seen.ssl_request);
    assert_eq!(seen.decrypted_password, Some(password_nul()));
}

#[test]
fn a_server_key_the_library_cannot_read_is_an_error_not_a_panic() {
    let dir = Scratch::new("sha2-bad-key");
    let (private, _) = rsa_key(&dir);
    let script = Script {
        tls: None,
        switch: false,
        fast: false,
        rsa: Some((
            private,
            b"-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n".to_vec(),
        )),
    };
    let e = handshake(script, "ssl-mode=disabled").unwrap_err();
    assert!(e.contains("server-public-key"), "{e}");
}
