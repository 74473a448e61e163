//! A scripted MySQL 8 server for the unit tests of the client handshake (no MySQL 8 runs on
//! the machines that test this project). It speaks just enough of the protocol to check what
//! the `mysql` crate sends in each path of `caching_sha2_password`, read the way MySQL 8.0's
//! server reads it (sql/auth/sha2_password.cc, and the protocol documentation's "Caching_sha2
//! authentication exchanges"):
//!
//! - the greeting names `caching_sha2_password` (MySQL 8's default), or `mysql_native_password`
//!   followed by an auth switch to it (an account whose plugin is not the server's default);
//! - the fast path: `0x01 0x03` (the scramble matched the server's cache), then OK;
//! - full authentication, `0x01 0x04`: over TLS the client sends the password and a NUL in
//!   clear; without TLS it asks for the server's RSA key (`0x02`, answered with `0x01` + PEM),
//!   or uses the one it was given, and sends `RSA-OAEP(password NUL XOR scramble)`, which the
//!   server decrypts with its private key (here: `openssl pkeyutl`);
//! - every query after that is answered OK.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::thread::JoinHandle;

const CLIENT_LONG_PASSWORD: u32 = 0x1;
const CLIENT_PROTOCOL_41: u32 = 0x200;
const CLIENT_SSL: u32 = 0x800;
const CLIENT_TRANSACTIONS: u32 = 0x2000;
const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
const CLIENT_MULTI_RESULTS: u32 = 0x2_0000;
const CLIENT_PLUGIN_AUTH: u32 = 0x8_0000;

/// The scramble of the greeting (20 bytes, as MySQL's: no NUL inside).
pub const SCRAMBLE: [u8; 20] = *b"abcdefghij0123456789";
/// The scramble of an auth switch request.
pub const SWITCH_SCRAMBLE: [u8; 20] = *b"ZYXWVUTSRQponmlkjihg";

/// What the server does.
pub struct Script {
    /// TLS offered (CLIENT_SSL) with this configuration; None: no TLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Greet with `mysql_native_password` and switch to `caching_sha2_password`.
    pub switch: bool,
    /// `0x01 0x03`: fast authentication succeeded.
    pub fast: bool,
    /// The server's RSA key pair: (private key file, public key PEM as sent to the client).
    pub rsa: Option<(PathBuf, Vec<u8>)>,
}

/// What the client did.
#[derive(Debug, Default)]
pub struct Seen {
    /// Connections the client closed before its handshake response.
    pub aborted: usize,
    pub ssl_request: bool,
    /// The password packet sent over TLS.
    pub clear_password: Option<Vec<u8>>,
    pub public_key_requested: bool,
    /// The RSA-encrypted packet, decrypted and XORed back with the scramble.
    pub decrypted_password: Option<Vec<u8>>,
    pub queries: Vec<String>,
}

/// Serve on a free port of 127.0.0.1 until one connection has authenticated and closed (a
/// connection the client drops before its handshake response is counted in `aborted`, as
/// `ssl-mode=preferred` does when the server offers no TLS); the thread returns what it saw
/// (or a protocol complaint).
pub fn serve(script: Script) -> (u16, JoinHandle<Result<Seen, String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("local addr").port();
    let handle = std::thread::spawn(move || {
        let mut aborted = 0;
        loop {
            let (tcp, _) = listener.accept().map_err(|e| e.to_string())?;
            match run(&script, tcp) {
                Err(Closed) if aborted < 3 => aborted += 1,
                Err(Closed) => return Err("the client kept closing its connections".into()),
                Ok(seen) => return seen.map(|s| Seen { aborted, ..s }),
            }
        }
    });
    (port, handle)
}

/// The client closed the connection before its handshake response.
struct Closed;

enum Io {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Io {
    fn read_packet(&mut self) -> Result<(u8, Vec<u8>), String> {
        let mut header = [0u8; 4];
        self.read_exact(&mut header).map_err(|e| e.to_string())?;
        let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
        let mut payload = vec![0u8; len];
        self.read_exact(&mut payload).map_err(|e| e.to_string())?;
        Ok((header[3], payload))
    }

    fn write_packet(&mut self, seq: u8, payload: &[u8]) -> Result<(), String> {
        let len = (payload.len() as u32).to_le_bytes();
        let mut packet = vec![len[0], len[1], len[2], seq];
        packet.extend_from_slice(payload);
        self.write_all(&packet).map_err(|e| e.to_string())?;
        self.flush().map_err(|e| e.to_string())
    }
}

impl Read for Io {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Io::Plain(s) => s.read(buf),
            Io::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Io {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Io::Plain(s) => s.write(buf),
            Io::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Io::Plain(s) => s.flush(),
            Io::Tls(s) => s.flush(),
        }
    }
}

fn greeting(tls: bool, plugin: &str) -> Vec<u8> {
    let mut caps = CLIENT_LONG_PASSWORD
        | CLIENT_PROTOCOL_41
        | CLIENT_TRANSACTIONS
        | CLIENT_SECURE_CONNECTION
        | CLIENT_MULTI_RESULTS
        | CLIENT_PLUGIN_AUTH;
    if tls {
        caps |= CLIENT_SSL;
    }
    let mut p = vec![10u8];
    p.extend_from_slice(b"8.0.36\0");
    p.extend_from_slice(&7u32.to_le_bytes());
    p.extend_from_slice(&SCRAMBLE[..8]);
    p.push(0);
    p.extend_from_slice(&(caps as u16).to_le_bytes());
    p.push(255); // utf8mb4_0900_ai_ci
    p.extend_from_slice(&2u16.to_le_bytes()); // SERVER_STATUS_AUTOCOMMIT
    p.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    p.push(21);
    p.extend_from_slice(&[0u8; 10]);
    p.extend_from_slice(&SCRAMBLE[8..]);
    p.push(0);
    p.extend_from_slice(plugin.as_bytes());
    p.push(0);
    p
}

const OK: [u8; 7] = [0, 0, 0, 2, 0, 0, 0];

/// One connection: Err(Closed) when the client closed it at once, else what it saw.
fn run(script: &Script, tcp: TcpStream) -> Result<Result<Seen, String>, Closed> {
    let mut io = Io::Plain(tcp);
    let plugin = if script.switch {
        "mysql_native_password"
    } else {
        "caching_sha2_password"
    };
    if io
        .write_packet(0, &greeting(script.tls.is_some(), plugin))
        .is_err()
    {
        return Err(Closed);
    }
    match io.read_packet() {
        // COM_QUIT: the crate sends it when it drops a connection it will not use.
        Ok((_, quit)) if quit == [0x01] => Err(Closed),
        Ok(first) => Ok(authenticate(script, io, first)),
        Err(_) => Err(Closed),
    }
}

fn authenticate(script: &Script, mut io: Io, first: (u8, Vec<u8>)) -> Result<Seen, String> {
    let mut seen = Seen::default();
    let (mut seq, mut packet) = first;
    let caps = |p: &[u8]| {
        p.get(..4)
            .map_or(0, |c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
    };
    if packet.len() == 32 && caps(&packet) & CLIENT_SSL != 0 {
        let config = script
            .tls
            .clone()
            .ok_or("SSL request without TLS offered")?;
        seen.ssl_request = true;
        let Io::Plain(tcp) = io else {
            return Err("SSL request twice".into());
        };
        let conn = rustls::ServerConnection::new(config).map_err(|e| e.to_string())?;
        io = Io::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)));
        (seq, packet) = io.read_packet()?;
    }
    if caps(&packet) & CLIENT_PROTOCOL_41 == 0 {
        return Err(format!("not a HandshakeResponse41: {packet:?}"));
    }
    let mut scramble = SCRAMBLE;
    if script.switch {
        let mut switch = vec![0xfe];
        switch.extend_from_slice(b"caching_sha2_password\0");
        switch.extend_from_slice(&SWITCH_SCRAMBLE);
        switch.push(0);
        io.write_packet(seq + 1, &switch)?;
        (seq, _) = io.read_packet()?;
        scramble = SWITCH_SCRAMBLE;
    }
    if script.fast {
        io.write_packet(seq + 1, &[0x01, 0x03])?;
        io.write_packet(seq + 2, &OK)?;
    } else {
        io.write_packet(seq + 1, &[0x01, 0x04])?;
        (seq, packet) = io.read_packet()?;
        if matches!(io, Io::Tls(_)) {
            seen.clear_password = Some(packet);
        } else {
            let (private, public) = script
                .rsa
                .as_ref()
                .ok_or("full auth without TLS nor RSA key")?;
            if packet == [0x02] {
                seen.public_key_requested = true;
                let mut reply = vec![0x01];
                reply.extend_from_slice(public);
                io.write_packet(seq + 1, &reply)?;
                (seq, packet) = io.read_packet()?;
            }
            if packet.len() < 128 {
                return Err(format!("no RSA-encrypted password but {packet:?}"));
            }
            let mut clear = rsa_decrypt(private, &packet)?;
            for (i, b) in clear.iter_mut().enumerate() {
                *b ^= scramble[i % scramble.len()];
            }
            seen.decrypted_password = Some(clear);
        }
        io.write_packet(seq + 1, &OK)?;
    }
    loop {
        let (_, command) = match io.read_packet() {
            Ok(p) => p,
            Err(_) => return Ok(seen),
        };
        match command.first() {
            Some(0x03) => {
                seen.queries
                    .push(String::from_utf8_lossy(&command[1..]).into_owned());
                io.write_packet(1, &OK)?;
            }
            _ => return Ok(seen),
        }
    }
}

/// RSA-OAEP (SHA-1, as MySQL's RSA_PKCS1_OAEP_PADDING) decryption with the `openssl` command.
fn rsa_decrypt(private: &Path, data: &[u8]) -> Result<Vec<u8>, String> {
    let input = private.with_extension("in");
    std::fs::write(&input, data).map_err(|e| e.to_string())?;
    let out = Command::new("openssl")
        .args([
            "pkeyutl",
            "-decrypt",
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-inkey",
        ])
        .arg(private)
        .arg("-in")
        .arg(&input)
        .output()
        .map_err(|e| format!("openssl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the client's RSA packet does not decrypt with the server's key: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out.stdout)
}
