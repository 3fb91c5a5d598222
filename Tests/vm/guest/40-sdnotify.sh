# The product's SystemdNotifier (Sources/GRDAgent) sends sd_notify datagrams, path and abstract.
. "$(dirname "$0")/lib.sh"
P="$VMPROBE"
for sock in /run/grd-notify.sock @grd-notify-abstract; do
    "$P" notify-listen "$sock" 2 20 >/tmp/notify.log 2>&1 & LP=$!
    i=0; until grep -q listening /tmp/notify.log || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
    NOTIFY_SOCKET="$sock" "$P" notify 'READY=1\nSTATUS=inspecting 1 camera'
    NOTIFY_SOCKET="$sock" "$P" notify 'WATCHDOG=1'
    wait $LP
    expect "sd_notify over $sock" "$(grep '^message:' /tmp/notify.log | tr '\n' ' ')" "message: READY=1|STATUS=inspecting 1 camera message: WATCHDOG=1 "
done
