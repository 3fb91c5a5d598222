#!/bin/sh
# Guest entry point (the initramfs runs it, then powers off): each NN-*.sh test file in turn,
# each bounded by a timeout; BEGIN/END markers let the host notice a file that died midway.
OUT=/tmp/grd-vm-out
. "$OUT/env.sh"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Services run with PrivateTmp=yes: binaries of a checkout under /tmp would be invisible to them,
# so such binaries are copied into the guest's own (writable, throw-away) root first.
for v in GRDNETD GRDNET VMPROBE GRDNETD_RELEASE GRDNET_RELEASE; do
    eval "p=\${$v:-}"
    case "$p" in
        /tmp/*) mkdir -p /usr/local/lib/grd-vm && cp "$p" "/usr/local/lib/grd-vm/$v" \
                && echo "$v='/usr/local/lib/grd-vm/$v'" >>"$OUT/env.sh" ;;
    esac
done
. "$OUT/env.sh"
echo "guest: kernel $(uname -r), uptime $(cut -d' ' -f1 /proc/uptime) s, init $(cat /proc/1/comm)"
for t in "$GRD_VM_DIR"/guest/[0-9][0-9]-*.sh; do
    n="$(basename "$t" .sh)"
    case " ${GRD_VM_ONLY:-$n} " in *" $n "*) ;; *) continue ;; esac
    echo "BEGIN $n" >>"$OUT/results.txt"
    start=$(cut -d' ' -f1 /proc/uptime)
    # A file may ask for more time with a "# vm-timeout: SECONDS" line.
    limit="$(sed -n 's/^# vm-timeout: *\([0-9]*\).*/\1/p' "$t" | head -1)"
    timeout -k 5 "${limit:-${GRD_VM_TEST_TIMEOUT:-240}}" /bin/sh "$t" >"$OUT/$n.log" 2>&1
    rc=$?
    cat "$OUT/$n.log"
    echo "END $n rc=$rc t=$(awk -v a="$start" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN{printf "%.1f", b-a}')s" >>"$OUT/results.txt"
done
echo "GUEST-DONE" >>"$OUT/results.txt"
sync
