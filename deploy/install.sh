#!/usr/bin/env bash
# Installs grdnet-edge from this source tree on a Linux system without the .deb (another distro,
# a Raspberry Pi OS build from source): builds with Swift, installs the same files the package
# carries, creates the grdnet user, enables the systemd unit. Idempotent: run it again after a
# `git pull` to upgrade. An existing /etc/grdnet/grdnet.yaml is never overwritten (the new
# default goes beside it as grdnet.yaml.new when it differs).
#
# Usage: sudo deploy/install.sh [--prefix DIR] [--destdir DIR] [--no-build] [--no-start]
#        sudo deploy/install.sh --uninstall [--purge] [--prefix DIR] [--destdir DIR]
#   --prefix DIR   programs and shared files under DIR (default /usr/local); the units, udev rule,
#                  sysusers/tmpfiles entries go to /etc (the local administrator's folders).
#   --destdir DIR  stage everything under DIR (for images and packaging): no user is created and
#                  systemd is not touched; DESTDIR in the environment does the same.
#   --no-build     install the binaries already in .build (swift build -c release).
#   --no-start     enable the unit but do not start it.
#   --uninstall    removes what an install put there (from its manifest); keeps the configuration,
#                  the state in /var/lib/grdnet and the grdnet user unless --purge.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$GRD_ROOT"

prefix=/usr/local destdir="${DESTDIR:-}" build=1 start=1 uninstall=0 purge=0
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="${2:?--prefix needs a folder}"; shift 2 ;;
        --destdir) destdir="${2:?--destdir needs a folder}"; shift 2 ;;
        --no-build) build=0; shift ;;
        --no-start) start=0; shift ;;
        --uninstall) uninstall=1; shift ;;
        --purge) purge=1; shift ;;
        -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$1' (see deploy/install.sh --help)" ;;
    esac
done
case "$prefix" in /*) ;; *) die "--prefix must be an absolute path (got '$prefix')" ;; esac
destdir="${destdir%/}"
if [ -z "$destdir" ] && [ "$(id -u)" -ne 0 ]; then die "installing into the system needs root: sudo $0 $*"; fi
live=0; [ -z "$destdir" ] && live=1
systemd_running=0; [ "$live" -eq 1 ] && [ -d /run/systemd/system ] && systemd_running=1

D="$destdir"
manifest="$prefix/share/grdnet/install-manifest"
unit_dir=/etc/systemd/system

# --- uninstall --------------------------------------------------------------------------------
if [ "$uninstall" -eq 1 ]; then
    [ -f "$D$manifest" ] || die "no installation found: $D$manifest is missing (installed with another --prefix/--destdir?)"
    if [ "$live" -eq 1 ] && command -v systemctl >/dev/null 2>&1; then
        [ "$systemd_running" -eq 1 ] && systemctl stop grdnetd.service grdnetd.socket 2>/dev/null || true
        systemctl disable grdnetd.service grdnetd.socket >/dev/null 2>&1 || true
    fi
    while IFS= read -r f; do
        [ -n "$f" ] || continue
        rm -f "$D$f"
    done <"$D$manifest"
    rm -f "$D$manifest"
    # Folders we made, if now empty.
    for d in "$prefix/share/grdnet/models" "$prefix/share/grdnet/samples" "$prefix/share/doc/grdnet-edge/examples" \
             "$prefix/share/doc/grdnet-edge" "$prefix/share/grdnet"; do
        rmdir "$D$d" 2>/dev/null || true
    done
    [ "$systemd_running" -eq 1 ] && systemctl daemon-reload || true
    if [ "$purge" -eq 1 ]; then
        rm -rf "$D/etc/grdnet" "$D/var/lib/grdnet"
        if [ "$live" -eq 1 ] && getent passwd grdnet >/dev/null; then userdel grdnet 2>/dev/null || true; fi
        if [ "$live" -eq 1 ] && getent group grdnet >/dev/null; then groupdel grdnet 2>/dev/null || true; fi
        say "uninstalled and purged (configuration, state and the grdnet user removed)"
    else
        say "uninstalled; kept /etc/grdnet, /var/lib/grdnet and the grdnet user (--purge removes them)"
    fi
    exit 0
fi

# --- build ------------------------------------------------------------------------------------
if [ "$build" -eq 1 ]; then
    build_deps_ensure
    mkdir -p .build
    say "release build: swift build -c release --static-swift-stdlib (log: .build/install-build.log)"
    swift build -c release --static-swift-stdlib >.build/install-build.log 2>&1 \
        || { grep -E 'error:' .build/install-build.log | sort -u | head -n 20; die "the release build failed (log: .build/install-build.log)"; }
    tail -n 1 .build/install-build.log
fi
bin_dir="$GRD_ROOT/.build/release"
for b in grdnetd grdnet; do [ -x "$bin_dir/$b" ] || die "no $bin_dir/$b: build first (drop --no-build)"; done

# --- files ------------------------------------------------------------------------------------
installed=()
put() {  # put MODE SRC DEST: installs when the content or mode differs, records DEST
    local mode="$1" src="$2" dest="$3"
    install -d "$(dirname "$D$dest")"
    if ! cmp -s "$src" "$D$dest" || [ "$(stat -c %a "$D$dest" 2>/dev/null)" != "${mode#0}" ]; then
        install -m "$mode" "$src" "$D$dest"
    fi
    installed+=("$dest")
}
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

for b in grdnetd grdnet; do   # stripped as in the package (the same bytes each run: idempotent)
    cp "$bin_dir/$b" "$tmp/$b"
    strip --strip-unneeded "$tmp/$b" 2>/dev/null || true
    put 0755 "$tmp/$b" "$prefix/bin/$b"
done
for m in Models/*.grdnet Models/*.md; do [ -f "$m" ] && put 0644 "$m" "$prefix/share/grdnet/models/$(basename "$m")"; done
for s in Models/samples/magnetic-tile/*; do put 0644 "$s" "$prefix/share/grdnet/samples/$(basename "$s")"; done
put 0644 README.md "$prefix/share/doc/grdnet-edge/README.md"
[ -f deploy/RASPBERRY-PI.md ] && put 0644 deploy/RASPBERRY-PI.md "$prefix/share/doc/grdnet-edge/RASPBERRY-PI.md"
sed "s#/usr/share/doc/grdnet-edge/#$prefix/share/doc/grdnet-edge/#g" deploy/debian/grdnetd-metrics.conf >"$tmp/grdnetd-metrics.conf"
put 0644 "$tmp/grdnetd-metrics.conf" "$prefix/share/doc/grdnet-edge/examples/grdnetd-metrics.conf"

# The units name /usr/bin and /usr/share: point them at the prefix.
for u in grdnetd.service grdnetd.socket; do
    sed -e "s#/usr/bin/grdnetd#$prefix/bin/grdnetd#g" -e "s#/usr/share/doc/grdnet-edge/#$prefix/share/doc/grdnet-edge/#g" \
        "systemd/$u" >"$tmp/$u"
    put 0644 "$tmp/$u" "$unit_dir/$u"
done
put 0644 systemd/grdnet.sysusers /etc/sysusers.d/grdnet.conf
put 0644 deploy/debian/grdnet.tmpfiles /etc/tmpfiles.d/grdnet.conf
put 0644 deploy/debian/60-grdnet-gpio.rules /etc/udev/rules.d/60-grdnet-gpio.rules

# The configuration: installed once, never overwritten (not in the manifest: --purge removes it).
sed "s#/usr/share/grdnet/models/#$prefix/share/grdnet/models/#g" deploy/grdnet-pi.yaml >"$tmp/grdnet.yaml"
install -d "$D/etc/grdnet"
if [ ! -f "$D/etc/grdnet/grdnet.yaml" ]; then
    install -m 0644 "$tmp/grdnet.yaml" "$D/etc/grdnet/grdnet.yaml"
    say "installed the default configuration /etc/grdnet/grdnet.yaml (one USB camera, reject line on GPIO 17: edit it)"
elif ! cmp -s "$tmp/grdnet.yaml" "$D/etc/grdnet/grdnet.yaml"; then
    install -m 0644 "$tmp/grdnet.yaml" "$D/etc/grdnet/grdnet.yaml.new"
    say "kept your /etc/grdnet/grdnet.yaml; the new default is beside it as grdnet.yaml.new"
fi

# The manifest: every file above and itself, for --uninstall.
installed+=("$manifest")
install -d "$(dirname "$D$manifest")"
printf '%s\n' "${installed[@]}" >"$D$manifest"

if [ "$live" -eq 0 ]; then
    say "staged under $D ($(printf '%s\n' "${installed[@]}" | wc -l) files); no user created, systemd not touched"
    exit 0
fi

# --- user, folders, devices, systemd ------------------------------------------------------------
if command -v systemd-sysusers >/dev/null 2>&1; then systemd-sysusers /etc/sysusers.d/grdnet.conf || true; fi
getent group video >/dev/null || groupadd --system video
getent group gpio >/dev/null || groupadd --system gpio
getent group grdnet >/dev/null || groupadd --system grdnet
getent passwd grdnet >/dev/null || useradd --system --gid grdnet --home-dir /var/lib/grdnet --no-create-home \
    --shell /usr/sbin/nologin --comment "grdnet-edge inspection daemon" grdnet
usermod -a -G video,gpio grdnet
install -d -o grdnet -g grdnet -m 0750 /var/lib/grdnet /var/lib/grdnet/audit
if [ -d /run/udev ] && command -v udevadm >/dev/null 2>&1; then
    udevadm control --reload-rules 2>/dev/null || true
    udevadm trigger --subsystem-match=gpio 2>/dev/null || true
fi
"$prefix/bin/grdnetd" --check-config --config /etc/grdnet/grdnet.yaml >/dev/null 2>&1 && valid=1 || valid=0
if command -v systemctl >/dev/null 2>&1; then
    [ "$systemd_running" -eq 1 ] && systemctl daemon-reload
    systemctl enable grdnetd.service grdnetd.socket >/dev/null 2>&1 || say "warning: systemctl enable grdnetd failed"
    if [ "$systemd_running" -eq 0 ]; then
        say "systemd is not running here: grdnetd is enabled and starts at the next boot"
    elif [ "$start" -eq 0 ]; then
        say "grdnetd enabled, not started (--no-start)"
    elif [ "$valid" -eq 1 ]; then
        systemctl start grdnetd.socket
        systemctl --no-block restart grdnetd.service
        say "grdnetd started: 'grdnet status' shows whether it inspects"
    fi
else
    say "no systemd: start it by hand, e.g. $prefix/bin/grdnetd --config /etc/grdnet/grdnet.yaml"
fi
[ "$valid" -eq 1 ] || { say "/etc/grdnet/grdnet.yaml does not validate yet:"; "$prefix/bin/grdnetd" --check-config --config /etc/grdnet/grdnet.yaml || true; }
say "installed grdnet-edge under $prefix ($(printf '%s\n' "${installed[@]}" | wc -l) files, manifest $manifest)"
