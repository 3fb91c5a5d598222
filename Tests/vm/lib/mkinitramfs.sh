#!/usr/bin/env bash
# Builds the VM's initramfs: busybox plus the kernel modules needed to mount the host root over
# virtio-9p (and overlayfs for the systemd boot). Its /init mounts the host root read-only, the
# writable results share on /tmp/grd-vm-out, then either (grd.init=systemd, the default of
# Tests/vm/run) boots the host's systemd on a tmpfs overlay with the guest script as the one unit
# to start (grd-vm-test.service, powers off when done), or (grd.init=script) runs the script
# directly under busybox's switch_root and powers off.
# Usage: mkinitramfs.sh KVER OUTPUT.cpio.gz
set -euo pipefail
KVER="$1" OUT="$2"
W="$(mktemp -d)"
trap 'rm -rf "$W"' EXIT
mkdir -p "$W"/{bin,proc,sys,dev,newroot,mods,lower,rw}
cp /bin/busybox "$W/bin/busybox"
for a in sh mount umount insmod mkdir switch_root echo cat sleep poweroff rm; do ln -s busybox "$W/bin/$a"; done
# Modules in dependency order, each once; decompressed (busybox insmod reads plain .ko).
for m in virtio_pci 9pnet_virtio 9p overlay; do modprobe -S "$KVER" --show-depends "$m"; done \
    | awk '$1=="insmod" && !seen[$2]++ {print $2}' >"$W/order.full"
: >"$W/mods/order"
while read -r m; do
    b="$(basename "$m")"; b="${b%.xz}"; b="${b%.zst}"
    case "$m" in
        *.ko.xz) xz -dc "$m" >"$W/mods/$b" ;;
        *.ko.zst) zstd -dqc "$m" >"$W/mods/$b" ;;
        *) cp "$m" "$W/mods/$b" ;;
    esac
    echo "$b" >>"$W/mods/order"
done <"$W/order.full"
rm "$W/order.full"
cat >"$W/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /mods/order); do insmod /mods/$m || echo "grd-vm: insmod $m failed"; done
S=; MODE=script; ROOT=
for a in $(cat /proc/cmdline); do
    case $a in grd.script=*) S=${a#grd.script=};; grd.init=*) MODE=${a#grd.init=};; grd.root=*) ROOT=${a#grd.root=};; esac
done
NINEP="trans=virtio,version=9p2000.L,msize=262144"
if [ "$MODE" = systemd ]; then
    # systemd needs a writable root: tmpfs overlay over the read-only host root.
    mount -t 9p -o $NINEP,ro,cache=loose hostroot /lower || { echo "grd-vm: 9p root mount failed"; poweroff -f; }
    mount -t tmpfs tmpfs /rw; mkdir -p /rw/up /rw/work
    mount -t overlay -o lowerdir=/lower,upperdir=/rw/up,workdir=/rw/work,xino=off,index=off,metacopy=off overlay /newroot \
        || { echo "grd-vm: overlay mount failed"; poweroff -f; }
    # A container marker on the host root makes systemd ignore the kernel command line.
    rm -f /newroot/.dockerenv /newroot/run/.containerenv
    # The guest script as the unit systemd boots into (systemd.unit=grd-vm-test.service).
    mkdir -p /newroot/etc/systemd/system
    cat >/newroot/etc/systemd/system/grd-vm-test.service <<UNIT
[Unit]
Description=grdnet-edge real-driver tests
# Start at once, beside the rest of early boot: the driver tests need only PID 1 and the
# journal; units the tests start themselves still wait for sysinit.target and basic.target.
DefaultDependencies=no
Wants=systemd-journald.socket
After=systemd-journald.socket
SuccessAction=poweroff-immediate
FailureAction=poweroff-immediate
[Service]
Type=oneshot
ExecStart=/bin/sh $S
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity
UNIT
else
    mount -t 9p -o $NINEP,ro,cache=loose hostroot /newroot || { echo "grd-vm: 9p root mount failed"; poweroff -f; }
    mount -t tmpfs tmpfs /newroot/run
    mount -t tmpfs tmpfs /newroot/var/tmp
fi
# A checkout under /tmp (CI clones anywhere) would be hidden by the fresh /tmp below: hold a
# bind mount of just the checkout aside and move it back on top afterwards.
case "$ROOT" in
    /tmp/*) mkdir -p /keep && mount -o bind "/newroot$ROOT" /keep || echo "grd-vm: cannot hold the checkout $ROOT" ;;
esac
# Never expose the host's /tmp to the guest: a fresh tmpfs, with the results share inside.
mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp
case "$ROOT" in
    /tmp/*) mkdir -p "/newroot$ROOT" && mount --move /keep "/newroot$ROOT" \
                || echo "grd-vm: cannot expose the checkout $ROOT to the guest" ;;
esac
mkdir -p /newroot/tmp/grd-vm-out
mount -t 9p -o $NINEP grdout /newroot/tmp/grd-vm-out || echo "grd-vm: results share mount failed"
if [ "$MODE" = systemd ]; then
    umount /proc /sys /dev 2>/dev/null
    exec switch_root /newroot /lib/systemd/systemd
fi
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
umount /proc /sys /dev 2>/dev/null
exec switch_root /newroot /bin/sh -c "/bin/sh $S; echo GRD-GUEST-RC=\$?; echo o > /proc/sysrq-trigger; sleep 10"
INIT
chmod +x "$W/init"
(cd "$W" && find . | cpio -o -H newc --quiet | gzip -1) >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
