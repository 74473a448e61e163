//! TLS to the source (docs/configuration.md#tls-to-the-source): every `ssl-mode` against
//! MariaDB with TLS optional, with `require_secure_transport=ON` and without TLS; `ssl-ca`
//! right and wrong, a certificate for the right and for another host name, a client certificate
//! for an account created `REQUIRE X509`, a CA file gone at connect time, and what CONFIG SET
//! refuses at once. Rows stream in every mode that works; CDC.STATUS `source` says whether the
//! connection is encrypted; the password is never shown.
//!
//! The certificates are made with the `openssl` command (Debian's `openssl` package) into a
//! temporary directory: a CA, another CA, a server certificate for `127.0.0.1`/`localhost`,
//! one for the name `db.elsewhere.test` only, and a client certificate, all signed by the CA.

use std::process::Command;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::support::*;

/// The password of the account created `REQUIRE X509`.
const X509_PASSWORD: &str = "x509-S3cret-pw";

/// The certificates, made once per test process and shared.
struct Pki {
    dir: TempDir,
}

impl Pki {
    fn get() -> Arc<Pki> {
        static SHARED: Mutex<Weak<Pki>> = Mutex::new(Weak::new());
        let mut g = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pki) = g.upgrade() {
            return pki;
        }
        let pki = Arc::new(Pki::make());
        *g = Arc::downgrade(&pki);
        pki
    }

    fn make() -> Pki {
        let dir = TempDir::new("tls-pki");
        let d = dir.path();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .expect("cannot run openssl (apt-get install -y openssl)");
            assert!(
                out.status.success(),
                "openssl {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        // EC keys: quick to make, and both rustls and MariaDB's OpenSSL take them.
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        for ca in ["ca", "other-ca"] {
            let (key, pem, subject) = (
                format!("{ca}.key"),
                format!("{ca}.pem"),
                format!("/CN=redis-cdc test {ca}"),
            );
            let mut args = vec!["req", "-x509", "-nodes", "-days", "3650"];
            args.extend(ec);
            args.extend([
                "-keyout",
                &key,
                "-out",
                &pem,
                "-subj",
                &subject,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]);
            openssl(&args);
        }
        let leaf = |name: &str, cn: &str, ext: &str| {
            std::fs::write(d.join(format!("{name}.ext")), ext).unwrap();
            let mut args = vec!["req", "-nodes"];
            args.extend(ec);
            let (key, csr, pem, extfile) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.pem"),
                format!("{name}.ext"),
            );
            let subject = format!("/CN={cn}");
            args.extend(["-keyout", &key, "-out", &csr, "-subj", &subject]);
            openssl(&args);
            openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "3650",
                "-out",
                &pem,
                "-extfile",
                &extfile,
            ]);
        };
        leaf(
            "server",
            "localhost",
            "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
        );
        leaf(
            "elsewhere",
            "db.elsewhere.test",
            "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:db.elsewhere.test\n",
        );
        leaf(
            "client",
            "x509user",
            "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
        );
        Pki { dir }
    }

    fn path(&self, file: &str) -> String {
        self.dir.path().join(file).display().to_string()
    }

    /// A MariaDB with TLS (this `server` certificate), the client certificates checked against
    /// the CA; `require`: `require_secure_transport=ON`.
    fn mariadb(&self, server: &str, require: bool) -> MariaDb {
        let (ca, cert, key) = (
            format!("--ssl-ca={}", self.path("ca.pem")),
            format!("--ssl-cert={}", self.path(&format!("{server}.pem"))),
            format!("--ssl-key={}", self.path(&format!("{server}.key"))),
        );
        let mut args = vec![ca.as_str(), cert.as_str(), key.as_str()];
        if require {
            args.push("--require-secure-transport=ON");
        }
        MariaDb::start_with(&args)
    }
}

/// `mysql://cdc:...@127.0.0.1:<port>?<query>`.
fn url(db: &MariaDb, query: &str) -> String {
    format!("{}?{query}", db.url())
}

/// CONFIG SET the URL and wait until a session with this `ssl-mode` streams; returns its
/// CDC.STATUS `source`.
fn stream_with(redis: &RedisServer, url: &str, mode: &str) -> String {
    redis.cmd(&["CONFIG", "SET", "cdc.mysql-url", url]);
    let deadline = Instant::now() + STREAMING;
    loop {
        let s = status(redis);
        let source = s.get("source").cloned().unwrap_or_default();
        if s.get("state").map(String::as_str) == Some("streaming")
            && source.ends_with(&format!("ssl-mode={mode})"))
        {
            return source;
        }
        assert!(
            Instant::now() < deadline,
            "ssl-mode={mode}: never streaming; CDC.STATUS {s:?}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// CONFIG SET the URL and wait for state `error` with a `last_error` that has every one of
/// `words`; returns it.
fn fails_with(redis: &RedisServer, url: &str, words: &[&str]) -> String {
    redis.cmd(&["CONFIG", "SET", "cdc.mysql-url", url]);
    let deadline = Instant::now() + STREAMING;
    loop {
        let s = status(redis);
        let last = s.get("last_error").cloned().unwrap_or_default();
        if s.get("state").map(String::as_str) == Some("error")
            && words.iter().all(|w| last.contains(w))
        {
            return last;
        }
        assert!(
            Instant::now() < deadline,
            "{url}: no error with {words:?}; CDC.STATUS {s:?}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Insert row `id` and wait until the stream has it: rows stream in this mode.
fn row_streams(redis: &RedisServer, db: &MariaDb, schema: &str, id: usize, note: &str) {
    db.exec(&format!("INSERT INTO {schema}.t VALUES ({id}, '{note}')"));
    let entries = wait_entries(redis, &format!("cdc:{schema}.t"), id);
    let last = &entries[id - 1].1;
    assert_eq!(field(last, "op"), Some("c"), "{note}");
    assert!(
        json_field(last, "after")["note"] == note,
        "{note}: {:?}",
        entry_lines(&entries)
    );
}

/// Neither password is in CDC.STATUS, INFO or the Redis log.
fn assert_no_password(redis: &RedisServer) {
    for (what, text) in [
        ("CDC.STATUS", value_to_string(&redis.cmd(&["CDC.STATUS"]))),
        ("INFO", value_to_string(&redis.cmd(&["INFO", "everything"]))),
        ("redis log", redis.log()),
    ] {
        for secret in [CDC_PASSWORD, X509_PASSWORD] {
            assert!(
                !text.contains(secret),
                "{secret} appears in {what}:\n{text}"
            );
        }
    }
}

fn is_tls(source: &str) -> bool {
    source.contains("(") && source.contains(", TLSv1.")
}

/// TLS optional on the server: every mode streams (disabled unencrypted, the others over TLS),
/// `verify-ca` with another CA and a CA file gone at connect time are errors naming `ssl-ca`, and
/// an account created `REQUIRE X509` streams with `ssl-cert`/`ssl-key` and is refused without.
#[test]
fn every_ssl_mode_streams_from_a_server_with_optional_tls() {
    let pki = Pki::get();
    let db = pki.mariadb("server", false);
    db.exec(
        "CREATE DATABASE tls_modes; CREATE TABLE tls_modes.t (id INT PRIMARY KEY, note VARCHAR(60));
         CREATE USER 'x509user'@'%' IDENTIFIED BY 'x509-S3cret-pw' REQUIRE X509;
         GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT ON *.* TO 'x509user'@'%'",
    );
    let redis = RedisServer::start(&["tables", "tls_modes.*"]);
    let ca = pki.path("ca.pem");
    let cases: Vec<(String, &str, bool)> = vec![
        ("ssl-mode=disabled".into(), "disabled", false),
        // No ssl-mode: preferred, as the mysql client.
        (String::new(), "preferred", true),
        ("ssl-mode=required".into(), "required", true),
        (format!("ssl-mode=verify-ca&ssl-ca={ca}"), "verify-ca", true),
        // ssl-ca alone means verify-ca.
        (format!("ssl-ca={ca}"), "verify-ca", true),
        // The certificate names 127.0.0.1.
        (
            format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"),
            "verify-identity",
            true,
        ),
    ];
    let mut id = 0;
    for (query, mode, encrypted) in &cases {
        let source = stream_with(&redis, &url(&db, query), mode);
        assert_eq!(is_tls(&source), *encrypted, "{query}: source {source:?}");
        if !encrypted {
            assert!(source.contains("not encrypted"), "{source}");
        }
        id += 1;
        row_streams(&redis, &db, "tls_modes", id, &format!("case {id}: {mode}"));
    }
    assert_eq!(
        info_field(&redis, "cdc", "cdc_source").map(|s| s.contains("TLSv1.")),
        Some(true),
        "INFO cdc shows the TLS version too"
    );

    // A client certificate for the account created REQUIRE X509.
    let x509 = |query: &str| {
        format!(
            "mysql://x509user:{X509_PASSWORD}@127.0.0.1:{}?ssl-mode=verify-identity&ssl-ca={ca}{query}",
            db.port()
        )
    };
    let client = format!(
        "&ssl-cert={}&ssl-key={}",
        pki.path("client.pem"),
        pki.path("client.key")
    );
    stream_with(&redis, &x509(&client), "verify-identity");
    id += 1;
    row_streams(&redis, &db, "tls_modes", id, "client certificate");
    // Without it: refused by the server, and the error says what such an account needs.
    fails_with(
        &redis,
        &x509(""),
        &["access denied", "REQUIRE X509", "ssl-cert"],
    );

    // Another CA: the certificate problem and the setting to change.
    let other = pki.path("other-ca.pem");
    let e = fails_with(
        &redis,
        &url(&db, &format!("ssl-mode=verify-ca&ssl-ca={other}")),
        &[
            "does not chain",
            &format!("ssl-ca={other}"),
            "UnknownIssuer",
        ],
    );
    assert!(!e.contains(CDC_PASSWORD), "{e}");

    // The CA file gone at connect time (after CONFIG SET took it): named with its setting.
    let copy = pki.dir.path().join("ca-copy.pem");
    std::fs::copy(&ca, &copy).unwrap();
    let copy_url = url(
        &db,
        &format!("ssl-mode=verify-ca&ssl-ca={}", copy.display()),
    );
    stream_with(&redis, &copy_url, "verify-ca");
    std::fs::remove_file(&copy).unwrap();
    redis.cmd(&["CONFIG", "SET", "cdc.enabled", "no"]);
    wait_state(&redis, "paused", STREAMING);
    redis.cmd(&["CONFIG", "SET", "cdc.enabled", "yes"]);
    let e = wait_state(&redis, "error", STREAMING)["last_error"].clone();
    assert!(
        e.contains(&format!("ssl-ca={}: cannot read the file", copy.display())),
        "{e}"
    );

    assert_no_password(&redis);
}

/// `require_secure_transport=ON`: `disabled` is refused with the setting to change; `preferred`
/// and `verify-ca` stream (the certificate names another host: verify-ca does not look at
/// names), `verify-identity` refuses the host name.
#[test]
fn a_server_that_requires_tls_refuses_disabled_and_a_wrong_host_name() {
    let pki = Pki::get();
    let db = pki.mariadb("elsewhere", true);
    db.exec(
        "CREATE DATABASE tls_req; CREATE TABLE tls_req.t (id INT PRIMARY KEY, note VARCHAR(60))",
    );
    let redis = RedisServer::start(&["tables", "tls_req.*"]);
    fails_with(
        &redis,
        &url(&db, "ssl-mode=disabled"),
        &[
            "access denied",
            "require_secure_transport=ON",
            "ssl-mode=preferred",
        ],
    );
    let source = stream_with(&redis, &url(&db, "ssl-mode=preferred"), "preferred");
    assert!(is_tls(&source), "{source}");
    row_streams(&redis, &db, "tls_req", 1, "preferred");
    let ca = pki.path("ca.pem");
    let source = stream_with(
        &redis,
        &url(&db, &format!("ssl-mode=verify-ca&ssl-ca={ca}")),
        "verify-ca",
    );
    assert!(is_tls(&source), "{source}");
    row_streams(&redis, &db, "tls_req", 2, "verify-ca, another host name");
    fails_with(
        &redis,
        &url(&db, &format!("ssl-mode=verify-identity&ssl-ca={ca}")),
        &["not valid for the host '127.0.0.1'", "ssl-mode=verify-ca"],
    );
    assert_no_password(&redis);
}

/// A server without TLS: `required` is an error naming the fix, `preferred` streams
/// unencrypted and says so.
#[test]
fn a_server_without_tls_refuses_required_and_preferred_falls_back() {
    let db = shared_mariadb();
    db.exec(
        "CREATE DATABASE tls_none; CREATE TABLE tls_none.t (id INT PRIMARY KEY, note VARCHAR(60))",
    );
    let redis = RedisServer::start(&["tables", "tls_none.*"]);
    fails_with(
        &redis,
        &url(&db, "ssl-mode=required"),
        &[
            "does not offer TLS",
            "ssl-mode=required",
            "ssl-mode=preferred",
        ],
    );
    let source = stream_with(&redis, &db.url(), "preferred");
    assert!(
        source.contains("not encrypted, ssl-mode=preferred"),
        "{source}"
    );
    row_streams(&redis, &db, "tls_none", 1, "preferred without TLS");
    assert_no_password(&redis);
}

/// CONFIG SET refuses at once an unknown mode, a verify mode without `ssl-ca`, a file that is
/// missing, unreadable or not a certificate, a key without its certificate; the error names
/// the config and never the password; nothing changes.
#[test]
fn config_set_refuses_bad_tls_options_at_once() {
    let pki = Pki::get();
    let redis = RedisServer::start(&[]);
    let ca = pki.path("ca.pem");
    let dir = pki.dir.path().display().to_string();
    let base = "mysql://cdc:Pw-S3cret@127.0.0.1:1";
    let cases: Vec<(String, &str)> = vec![
        (format!("{base}?ssl-mode=bogus"), "unknown ssl-mode 'bogus'"),
        (format!("{base}?ssl-mode=verify-ca"), "needs ssl-ca"),
        (format!("{base}?ssl-mode=verify-identity"), "needs ssl-ca"),
        (
            format!("{base}?ssl-ca=/nonexistent/ca.pem"),
            "ssl-ca=/nonexistent/ca.pem: cannot read the file",
        ),
        (format!("{base}?ssl-ca={dir}"), "cannot read the file"),
        (
            format!("{base}?ssl-ca={}", pki.path("client.key")),
            "holds no certificate",
        ),
        (
            format!(
                "{base}?ssl-mode=required&ssl-cert={}",
                pki.path("client.pem")
            ),
            "ssl-cert needs ssl-key",
        ),
        (
            format!(
                "{base}?ssl-cert={}&ssl-key={}",
                pki.path("client.pem"),
                pki.path("server.key")
            ),
            "is not the private key of the certificate",
        ),
        (
            format!("{base}?server-public-key={ca}"),
            "server-public-key=",
        ),
        (
            format!("{base}?ssl-crl=x"),
            "unknown URL parameter 'ssl-crl'",
        ),
    ];
    let before = value_to_string(&redis.cmd(&["CONFIG", "GET", "cdc.mysql-url"]));
    for (url, expected) in &cases {
        let e = match redis.try_cmd(&["CONFIG", "SET", "cdc.mysql-url", url]) {
            Err(e) => e.to_string(),
            Ok(v) => panic!("{url}: taken ({v:?})"),
        };
        assert!(
            e.contains("cdc.mysql-url") && e.contains(expected),
            "{url}: {e}"
        );
        assert!(
            !e.contains("S3cret"),
            "{url}: the error quotes the password: {e}"
        );
    }
    assert_eq!(
        value_to_string(&redis.cmd(&["CONFIG", "GET", "cdc.mysql-url"])),
        before
    );
    assert_eq!(status_field(&redis, "state"), "unconfigured");
    // A good one is taken.
    redis.cmd(&[
        "CONFIG",
        "SET",
        "cdc.mysql-url",
        &format!("{base}?ssl-mode=verify-identity&ssl-ca={ca}"),
    ]);
    assert!(!redis.log().contains("S3cret"));
}
