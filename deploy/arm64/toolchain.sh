# The arm64 cross toolchain: Debian trixie's Swift 6.0.3 (the `swiftlang` that Raspberry Pi OS
# trixie ships) in an amd64 trixie chroot, an arm64 trixie sysroot made by extracting .debs (no
# emulation), and a Swift SDK bundle that lets that compiler build for aarch64-unknown-linux-gnu.
# Source it after deploy/lib/common.sh; used by Tests/arm64/run and deploy/arm64/build-deb.
#
# Why a chroot and not the host's Swift: a 6.3 compiler cannot import the arm64 modules of
# Debian's 6.0.3 runtime, and building with 6.0.3 is also the guard against newer syntax.
# Why trixie: Raspberry Pi OS trixie is the target (glibc 2.41, libgpiod 2.x, swiftlang 6.0.3).
#
# Everything lives in one cache folder outside git, kept between runs on the same machine
# (GRD_ARM64_CACHE, default /var/cache/grdnet-arm64): each step leaves a stamp naming what it
# made, so a second run only builds. Mounts are made inside a private mount namespace
# (unshare -m), so an interrupted run leaves nothing mounted.

ARM64_CACHE="${GRD_ARM64_CACHE:-/var/cache/grdnet-arm64}"
ARM64_ROOTFS="$ARM64_CACHE/rootfs-amd64"
ARM64_SDK_NAME="debian-trixie-arm64"
ARM64_SDK_DIR="$ARM64_CACHE/sdk"
ARM64_BUNDLE="$ARM64_SDK_DIR/$ARM64_SDK_NAME.artifactbundle"
ARM64_SYSROOT="$ARM64_BUNDLE/$ARM64_SDK_NAME/sysroot"
# Paths as seen inside the chroot.
ARM64_SRC_IN=/build/src
ARM64_SCRATCH_IN=/build/scratch
ARM64_SCRATCH="$ARM64_ROOTFS$ARM64_SCRATCH_IN"
ARM64_SWIFT_PACKAGES="${GRD_SWIFT_PACKAGES:-/opt/swift-packages}"

# What the chroot (compiler host) and the sysroot (target) hold. Changing a list rebuilds that part.
ARM64_CHROOT_PACKAGES="swiftlang libc6-dev libstdc++-14-dev git ca-certificates pkg-config libv4l-dev libjpeg-dev libgpiod-dev libpng-dev binutils-aarch64-linux-gnu"
ARM64_SYSROOT_PACKAGES="libc6-dev libstdc++-14-dev libgcc-14-dev linux-libc-dev libswiftlang libcurl4t64 libxml2 zlib1g-dev libv4l-dev libjpeg-dev libgpiod-dev libpng-dev"
ARM64_RECIPE_VERSION=1

# apt-get on the host, waiting for the dpkg lock (other jobs may hold it) instead of failing.
arm64_host_apt_ensure() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    apt-get -o DPkg::Lock::Timeout=900 update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
}

# The Debian archive this machine's apt already uses (GRD_DEBIAN_MIRROR overrides): trixie is
# fetched from the same place, so no host name is written down here.
arm64_debian_mirror() {
    if [ -n "${GRD_DEBIAN_MIRROR:-}" ]; then echo "$GRD_DEBIAN_MIRROR"; return; fi
    local uri
    uri="$(apt-get indextargets --format '$(ORIGIN) $(RELEASE) $(REPO_URI)' 2>/dev/null \
        | awk '$1 == "Debian" && $2 !~ /-(security|updates|backports)$/ { print $3; exit }')"
    [ -n "$uri" ] || die "cannot tell which Debian archive to use: apt has no Debian source configured; set GRD_DEBIAN_MIRROR to a Debian mirror URL"
    echo "${uri%/}"
}

# arm64_stamp_ok FILE CONTENT: the stamp exists and says CONTENT.
arm64_stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

# Runs a command in the chroot with a clean environment (no host PATH, proxies or Swift
# variables) and /proc (the Swift tools find their libraries through $ORIGIN, i.e. /proc/self/exe).
arm64_chroot() {
    unshare --mount --propagation private bash -c '
        R="$1"; shift; mount -t proc proc "$R/proc" || exit 90
        exec chroot "$R" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
            HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive "$@"
    ' _ "$ARM64_ROOTFS" "$@"
}

# 1. amd64 trixie chroot with swiftlang 6.0.3: the compiler for both x86_64 and aarch64.
arm64_rootfs_ensure() {
    local want="v$ARM64_RECIPE_VERSION $ARM64_CHROOT_PACKAGES"
    arm64_stamp_ok "$ARM64_ROOTFS/.grd-ready" "$want" && return 0
    local mirror start=$SECONDS
    mirror="$(arm64_debian_mirror)"
    mkdir -p "$ARM64_CACHE/logs"
    if [ ! -x "$ARM64_ROOTFS/usr/bin/apt-get" ]; then
        say "arm64: debootstrap amd64 trixie chroot in $ARM64_ROOTFS (log: $ARM64_CACHE/logs/debootstrap.log)"
        rm -rf "$ARM64_ROOTFS"
        debootstrap --arch=amd64 --variant=minbase trixie "$ARM64_ROOTFS" "$mirror" \
            >"$ARM64_CACHE/logs/debootstrap.log" 2>&1 \
            || { tail -n 20 "$ARM64_CACHE/logs/debootstrap.log"; die "debootstrap of the amd64 trixie chroot failed"; }
    fi
    say "arm64: installing swiftlang and the -dev packages in the chroot (log: $ARM64_CACHE/logs/chroot-apt.log)"
    cp /etc/resolv.conf "$ARM64_ROOTFS/etc/resolv.conf"
    if ! unshare --mount --propagation private bash -c '
            mount -t proc proc "$1/proc" && mount --bind /dev "$1/dev" || exit 1
            chroot "$1" /usr/bin/env -i PATH=/usr/bin:/bin:/usr/sbin:/sbin HOME=/root LANG=C.UTF-8 \
                DEBIAN_FRONTEND=noninteractive sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $2 && apt-get clean"
        ' _ "$ARM64_ROOTFS" "$ARM64_CHROOT_PACKAGES" >"$ARM64_CACHE/logs/chroot-apt.log" 2>&1; then
        tail -n 20 "$ARM64_CACHE/logs/chroot-apt.log"
        die "installing swiftlang in the amd64 trixie chroot failed"
    fi
    # Swift packages come from the local git mirrors, bind-mounted read-only at the same path.
    mkdir -p "$ARM64_ROOTFS$ARM64_SWIFT_PACKAGES" "$ARM64_ROOTFS$ARM64_SRC_IN" "$ARM64_ROOTFS/opt/swift-sdk" \
        "$ARM64_ROOTFS/sysroot-arm64" "$ARM64_SCRATCH"
    cat >"$ARM64_ROOTFS/etc/gitconfig" <<EOF
[url "$ARM64_SWIFT_PACKAGES/"]
	insteadOf = https://github.com/
	insteadOf = git@github.com:
[safe]
	directory = *
EOF
    arm64_chroot swift --version 2>&1 | grep -q 'Swift version 6\.0\.3' \
        || die "the chroot's swift is not 6.0.3: $(arm64_chroot swift --version 2>&1 | head -1)"
    echo "$want" >"$ARM64_ROOTFS/.grd-ready"
    say "arm64: chroot ready in $((SECONDS - start)) s"
}

# 2. arm64 sysroot: the arm64 -dev packages and libswiftlang with their dependency closure,
#    downloaded with a private apt state (an empty dpkg status, so nothing of the host is
#    assumed) and extracted; plus the target half of swiftlang:arm64 (lib/swift, swift_static,
#    clang resource headers). 3. The Swift SDK bundle around it.
arm64_sysroot_ensure() {
    local want="v$ARM64_RECIPE_VERSION $ARM64_SYSROOT_PACKAGES"
    local stamp="$ARM64_SDK_DIR/.grd-ready"
    if ! arm64_stamp_ok "$stamp" "$want"; then
        local mirror start=$SECONDS a="$ARM64_CACHE/apt-arm64"
        mirror="$(arm64_debian_mirror)"
        say "arm64: assembling the arm64 trixie sysroot (log: $ARM64_CACHE/logs/sysroot.log)"
        mkdir -p "$a/lists/partial" "$a/archives/partial" "$a/etc" "$ARM64_CACHE/logs"
        : >"$a/status"
        echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$a/etc/sources.list"
        local ao=(-o "Dir::State::Lists=$a/lists" -o "Dir::State::status=$a/status"
            -o "Dir::Cache::archives=$a/archives" -o "Dir::Cache=$a" -o "Dir::Etc::SourceList=$a/etc/sources.list"
            -o Dir::Etc::SourceParts=/nonexistent -o Dir::Etc::Preferences=/nonexistent
            -o Dir::Etc::PreferencesParts=/nonexistent -o APT::Architecture=arm64 -o APT::Architectures::=arm64)
        {
            apt-get "${ao[@]}" update -qq &&
            # shellcheck disable=SC2086
            apt-get "${ao[@]}" install -y -qq --download-only $ARM64_SYSROOT_PACKAGES &&
            (cd "$a/archives" && apt-get "${ao[@]}" download swiftlang:arm64)
        } >"$ARM64_CACHE/logs/sysroot.log" 2>&1 \
            || { tail -n 20 "$ARM64_CACHE/logs/sysroot.log"; die "downloading the arm64 trixie packages failed"; }
        rm -rf "$ARM64_BUNDLE"
        mkdir -p "$ARM64_SYSROOT"
        local d
        for d in "$a"/archives/*.deb; do
            case "$d" in */swiftlang_*) ;; *) dpkg-deb -x "$d" "$ARM64_SYSROOT" || die "cannot extract $d" ;; esac
        done
        dpkg-deb --fsys-tarfile "$a"/archives/swiftlang_*_arm64.deb | tar -x -C "$ARM64_SYSROOT" \
            ./usr/libexec/swift/lib/swift ./usr/libexec/swift/lib/swift_static ./usr/libexec/swift/lib/clang \
            ./usr/lib/swift || die "cannot extract the target libraries from swiftlang:arm64"
        # Merged /usr: the arm64 dynamic loader is /lib/ld-linux-aarch64.so.1.
        ln -sfn usr/lib "$ARM64_SYSROOT/lib"; ln -sfn usr/bin "$ARM64_SYSROOT/bin"; ln -sfn usr/sbin "$ARM64_SYSROOT/sbin"
        # arm64 compiler plugins and embedded stdlib: of no use to a cross compiler.
        rm -rf "$ARM64_SYSROOT/usr/libexec/swift/lib/swift/host" "$ARM64_SYSROOT/usr/libexec/swift/lib/swift/embedded"
        echo '{"Version":"6.0","CanonicalName":"debian.trixie.arm64","DisplayName":"Debian trixie arm64"}' \
            >"$ARM64_SYSROOT/SDKSettings.json"
        echo "$want" >"$stamp"
        say "arm64: sysroot ready in $((SECONDS - start)) s ($(du -sh "$ARM64_SYSROOT" | cut -f1))"
    fi
    arm64_sdk_bundle_write   # cheap: always the current recipe
}

arm64_sdk_bundle_write() {
    cat >"$ARM64_BUNDLE/info.json" <<EOF
{ "schemaVersion": "1.0", "artifacts": { "$ARM64_SDK_NAME": { "type": "swiftSDK", "version": "6.0.3",
  "variants": [ { "path": "$ARM64_SDK_NAME", "supportedTriples": ["x86_64-pc-linux-gnu", "x86_64-unknown-linux-gnu"] } ] } } }
EOF
    cat >"$ARM64_BUNDLE/$ARM64_SDK_NAME/swift-sdk.json" <<'EOF'
{ "schemaVersion": "4.0", "targetTriples": { "aarch64-unknown-linux-gnu": {
  "sdkRootPath": "sysroot",
  "swiftResourcesPath": "sysroot/usr/libexec/swift/lib/swift",
  "swiftStaticResourcesPath": "sysroot/usr/libexec/swift/lib/swift_static",
  "toolsetPaths": ["toolset.json"] } } }
EOF
    # Debian's /usr/bin/ld is x86-only: link with the lld that swiftlang ships. The rpath is where
    # Debian's libswiftlang puts the runtime on the Pi: /usr/libexec/swift/lib/swift/linux (the
    # /usr/lib/swift symlink comes only with the compiler package, swiftlang).
    cat >"$ARM64_BUNDLE/$ARM64_SDK_NAME/toolset.json" <<'EOF'
{ "schemaVersion": "1.0",
  "swiftCompiler": { "extraCLIOptions": ["-use-ld=lld", "-no-toolchain-stdlib-rpath", "-Xlinker", "-rpath", "-Xlinker", "/usr/libexec/swift/lib/swift/linux"] },
  "linker": { "path": "/usr/libexec/swift/bin/ld.lld" } }
EOF
}

# Everything a build needs, idempotent; waits for any other run using the same cache.
arm64_toolchain_ensure() {
    [ "$(id -u)" -eq 0 ] || die "the arm64 toolchain needs root (debootstrap, chroot, mounts)"
    [ -d "$ARM64_SWIFT_PACKAGES" ] || die "no Swift package mirrors at $ARM64_SWIFT_PACKAGES (set GRD_SWIFT_PACKAGES)"
    arm64_host_apt_ensure debootstrap qemu-user debian-archive-keyring
    mkdir -p "$ARM64_CACHE"
    arm64_rootfs_ensure
    arm64_sysroot_ensure
}

# arm64_lock: serialises runs that share the cache (another worktree, CI). Holds fd 9.
arm64_lock() {
    [ "${GRD_ARM64_LOCKED:-}" = "$ARM64_CACHE" ] && return 0   # a parent run holds it
    mkdir -p "$ARM64_CACHE"
    exec 9>"$ARM64_CACHE/.lock"
    flock -n 9 || { say "arm64: waiting for another run using $ARM64_CACHE"; flock 9; }
    export GRD_ARM64_LOCKED="$ARM64_CACHE"
}

# arm64_in_build_env CMD: runs CMD (a shell string) in the chroot, with the source tree at
# /build/src, the Swift package mirrors, the SDK bundle at /opt/swift-sdk and the sysroot at
# /sysroot-arm64, in a private mount namespace. pkg-config for the cross build is set by
# arm64_cross_env.
arm64_in_build_env() {
    unshare --mount --propagation private bash -c '
        set -e
        R="$1"; mount -t proc proc "$R/proc"; mount --bind /dev "$R/dev"
        mount --bind "$2" "$R/build/src"
        mount --bind "$3" "$R$3"; mount -o remount,bind,ro "$R$3"
        mount --bind "$4" "$R/opt/swift-sdk"
        mount --bind "$5" "$R/sysroot-arm64"
        exec chroot "$R" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root \
            LANG=C.UTF-8 TERM=dumb sh -c "$6"
    ' _ "$ARM64_ROOTFS" "$GRD_ROOT" "$ARM64_SWIFT_PACKAGES" "$ARM64_SDK_DIR" "$ARM64_SYSROOT" "$1"
}

# Shell prefix for a cross build: pkg-config looks in the arm64 sysroot only, and the manifest
# learns that the target is aarch64 (its `#if arch` sees the x86 host), so GRDKernelsDotprod is
# compiled for the Cortex-A76 (SDOT) as in a native build on a Pi.
ARM64_CROSS_ENV="GRDNET_TARGET_ARCH=aarch64 PKG_CONFIG_LIBDIR=/sysroot-arm64/usr/lib/aarch64-linux-gnu/pkgconfig:/sysroot-arm64/usr/share/pkgconfig PKG_CONFIG_SYSROOT_DIR=/sysroot-arm64"
ARM64_SDK_ARGS="--swift-sdks-path /opt/swift-sdk --swift-sdk $ARM64_SDK_NAME"

# arm64_qemu CPU PROGRAM [ARGS...]: runs a cross-built aarch64 program on an emulated core,
# its libraries (glibc, Debian's libswiftlang, libjpeg ...) from the sysroot.
arm64_qemu() {
    local cpu="$1"; shift
    qemu-aarch64 -cpu "$cpu" -L "$ARM64_SYSROOT" "$@"
}

# --- an arm64 trixie root file system, run under qemu-user (only for the .deb install check) ---
# Unlike the sysroot this is a real system (dpkg, apt, maintainer scripts), so its programs run
# emulated: binfmt_misc hands aarch64 ELF files to qemu-aarch64-static, registered with the F
# flag (interpreter opened at registration, so it works inside the chroot) only while needed.
ARM64_TARGET_ROOTFS="$ARM64_CACHE/rootfs-arm64"
ARM64_BINFMT_REGISTERED=0

arm64_binfmt_on() {
    arm64_host_apt_ensure qemu-user-static
    mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc \
        || die "cannot mount binfmt_misc (needed to run the arm64 root file system)"
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && return 0
    printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F' \
        >/proc/sys/fs/binfmt_misc/register || die "cannot register qemu-aarch64 with binfmt_misc"
    ARM64_BINFMT_REGISTERED=1
}
# Undoes arm64_binfmt_on's registration (a registration found in place is left alone).
arm64_binfmt_off() {
    if [ "$ARM64_BINFMT_REGISTERED" -eq 1 ] && [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
        echo -1 >/proc/sys/fs/binfmt_misc/qemu-aarch64 || true
    fi
    ARM64_BINFMT_REGISTERED=0
}

# arm64_in_target CMD: runs the shell string CMD in the arm64 root file system (emulated).
arm64_in_target() {
    unshare --mount --propagation private bash -c '
        set -e; R="$1"; mount -t proc proc "$R/proc"; mount --rbind /dev "$R/dev"
        exec chroot "$R" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root \
            LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive sh -c "$2"
    ' _ "$ARM64_TARGET_ROOTFS" "$1"
}

arm64_target_rootfs_ensure() {
    arm64_binfmt_on
    trap arm64_binfmt_off EXIT
    local want="v$ARM64_RECIPE_VERSION minbase"
    arm64_stamp_ok "$ARM64_TARGET_ROOTFS/.grd-ready" "$want" && return 0
    local mirror start=$SECONDS
    mirror="$(arm64_debian_mirror)"
    mkdir -p "$ARM64_CACHE/logs"
    say "arm64: debootstrap arm64 trixie root file system, second stage emulated (~7 min; log: $ARM64_CACHE/logs/debootstrap-arm64.log)"
    rm -rf "$ARM64_TARGET_ROOTFS"
    {
        debootstrap --arch=arm64 --foreign --variant=minbase trixie "$ARM64_TARGET_ROOTFS" "$mirror" &&
        chroot "$ARM64_TARGET_ROOTFS" /debootstrap/debootstrap --second-stage
    } >"$ARM64_CACHE/logs/debootstrap-arm64.log" 2>&1 \
        || { tail -n 20 "$ARM64_CACHE/logs/debootstrap-arm64.log"; die "debootstrap of the arm64 trixie root file system failed"; }
    cp /etc/resolv.conf "$ARM64_TARGET_ROOTFS/etc/resolv.conf"
    arm64_in_target "apt-get update -qq" >>"$ARM64_CACHE/logs/debootstrap-arm64.log" 2>&1 \
        || die "apt-get update in the arm64 trixie root file system failed"
    echo "$want" >"$ARM64_TARGET_ROOTFS/.grd-ready"
    say "arm64: arm64 root file system ready in $((SECONDS - start)) s"
}
