# The peer runtimes for Tests/arm64/instructions: LiteRT (XNNPACK) and ONNX Runtime in an
# arm64 trixie root file system, run under qemu-aarch64 (source after deploy/arm64/toolchain.sh).
#
# The root file system is a copy of the .deb install check's minbase one (so that check stays
# minimal) with Debian's python3 and a venv holding ai-edge-litert, onnxruntime and numpy. The
# aarch64 wheels are downloaded on the host by a host pip (`pip download --platform ...`, no
# emulated network) and installed in the emulated venv from that folder only. Cached in
# $ARM64_CACHE/rootfs-arm64-peers; stamps name what each step made, so a second run only measures.

ARM64_PEERS_ROOTFS="$ARM64_CACHE/rootfs-arm64-peers"
ARM64_PEERS_WHEELS="$ARM64_CACHE/peer-wheels"
ARM64_PEERS_PIP="ai-edge-litert==2.3.0 onnxruntime==1.32.0 numpy"
ARM64_PEERS_VERSION=2

# arm64_peers_rootfs_ensure HOST_PIP
arm64_peers_rootfs_ensure() {
    local host_pip="$1"
    local want="v$ARM64_PEERS_VERSION $ARM64_PEERS_PIP"
    arm64_stamp_ok "$ARM64_PEERS_ROOTFS/.grd-peers-ready" "$want" && return 0
    local start=$SECONDS log="$ARM64_CACHE/logs/peers-rootfs.log"
    mkdir -p "$ARM64_CACHE/logs"
    arm64_target_rootfs_ensure            # the minbase arm64 root file system (binfmt on until exit)
    if ! arm64_stamp_ok "$ARM64_PEERS_ROOTFS/.grd-python" "v$ARM64_PEERS_VERSION"; then
        say "arm64 peers: python3 in $ARM64_PEERS_ROOTFS, emulated apt (~10 min; log: $log)"
        rm -rf "$ARM64_PEERS_ROOTFS"
        cp -a "$ARM64_TARGET_ROOTFS" "$ARM64_PEERS_ROOTFS" || die "cannot copy $ARM64_TARGET_ROOTFS"
        rm -f "$ARM64_PEERS_ROOTFS/.grd-ready"
        cp /etc/resolv.conf "$ARM64_PEERS_ROOTFS/etc/resolv.conf"
        ARM64_TARGET_ROOTFS="$ARM64_PEERS_ROOTFS" arm64_in_target "apt-get update -qq && apt-get install -y -qq \
            --no-install-recommends python3 python3-venv && apt-get clean && python3 -m venv /opt/venv" >"$log" 2>&1 \
            || { tail -n 20 "$log"; die "installing python3 in $ARM64_PEERS_ROOTFS failed (log: $log)"; }
        echo "v$ARM64_PEERS_VERSION" >"$ARM64_PEERS_ROOTFS/.grd-python"
    fi
    local pyver
    pyver="$(basename "$(ls -d "$ARM64_PEERS_ROOTFS"/usr/lib/python3.[0-9]* | grep -E 'python3\.[0-9]+$' | head -n 1)")"
    pyver="${pyver#python}"
    say "arm64 peers: aarch64 wheels for Python $pyver: $ARM64_PEERS_PIP (host pip download)"
    rm -rf "$ARM64_PEERS_WHEELS"; mkdir -p "$ARM64_PEERS_WHEELS"
    # shellcheck disable=SC2086
    "$host_pip" download -q --only-binary=:all: --implementation cp --python-version "$pyver" \
        --platform manylinux_2_28_aarch64 --platform manylinux_2_27_aarch64 --platform manylinux_2_17_aarch64 \
        --platform manylinux2014_aarch64 -d "$ARM64_PEERS_WHEELS" $ARM64_PEERS_PIP >>"$log" 2>&1 \
        || { tail -n 20 "$log"; die "pip download of the aarch64 wheels failed (log: $log)"; }
    rm -rf "$ARM64_PEERS_ROOTFS/tmp/wheels"; cp -a "$ARM64_PEERS_WHEELS" "$ARM64_PEERS_ROOTFS/tmp/wheels"
    ARM64_TARGET_ROOTFS="$ARM64_PEERS_ROOTFS" arm64_in_target "/opt/venv/bin/pip install -q --no-compile --no-index \
        --find-links /tmp/wheels $ARM64_PEERS_PIP && rm -rf /tmp/wheels && /opt/venv/bin/pip list 2>/dev/null" >>"$log" 2>&1 \
        || { tail -n 20 "$log"; die "installing the peer runtimes in $ARM64_PEERS_ROOTFS failed (log: $log)"; }
    echo "$want" >"$ARM64_PEERS_ROOTFS/.grd-peers-ready"
    say "arm64 peers: ready in $((SECONDS - start)) s"
}
