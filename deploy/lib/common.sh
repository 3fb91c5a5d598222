# Shared shell helpers for deploy/ and Tests/ scripts. Source it; do not run it.
# Everything here is idempotent: a second run installs nothing and changes nothing.

GRD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export GRD_ROOT

say() { printf '[grdnet] %s\n' "$*" >&2; }
die() { printf '[grdnet] error: %s\n' "$*" >&2; exit 1; }

# apt_ensure PKG...: installs the Debian packages that are missing (apt-get update once per run).
apt_ensure() {
    local missing=()
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    say "installing Debian packages: ${missing[*]}"
    if [ -z "${GRD_APT_UPDATED:-}" ]; then
        $sudo apt-get update -qq || die "apt-get update failed"
        export GRD_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        >/dev/null || die "apt-get install ${missing[*]} failed"
}

# The C libraries the product links against, and the tools to find them.
GRD_BUILD_PACKAGES=(pkg-config libv4l-dev libjpeg-dev libgpiod-dev libpng-dev)

# swift_ensure: a Swift toolchain on PATH. Raspberry Pi OS / Debian trixie package it as
# `swiftlang`; other systems need one from swift.org installed by hand.
swift_ensure() {
    if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
        export PATH="/opt/swift/usr/bin:$PATH"
    fi
    command -v swift >/dev/null 2>&1 && return 0
    if apt-cache show swiftlang >/dev/null 2>&1; then
        apt_ensure swiftlang libc6-dev libstdc++-14-dev git
    else
        die "no Swift toolchain found: on Raspberry Pi OS trixie run 'sudo apt install swiftlang'; elsewhere install Swift 6.0 or newer from swift.org"
    fi
}

# build_deps_ensure: everything `swift build` needs.
build_deps_ensure() {
    apt_ensure "${GRD_BUILD_PACKAGES[@]}"
    swift_ensure
}

# venv_ensure: the project's Python virtual environment with the training/test requirements.
# The CPU wheel of torch is pinned: a plain `torch` would pull the multi-GB CUDA build.
venv_ensure() {
    local venv="$GRD_ROOT/.venv"
    local req="$GRD_ROOT/Models/requirements.txt"
    [ -f "$req" ] || return 0
    apt_ensure python3-venv
    if [ ! -x "$venv/bin/python" ]; then
        say "creating Python virtual environment in $venv"
        python3 -m venv "$venv" || die "python3 -m venv failed"
    fi
    local stamp="$venv/.requirements.sha256"
    local want
    want="$(sha256sum "$req" | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        say "installing Python packages from Models/requirements.txt"
        "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" || die "pip install failed"
        echo "$want" >"$stamp"
    fi
}
