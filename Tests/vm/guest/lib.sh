# Sourced by every guest test (runs inside the VM, as root, host root read-only over 9p).
# Results go to $OUT/results.txt, one line per check: "ok   NAME" or "FAIL NAME: why".
OUT=/tmp/grd-vm-out
. "$OUT/env.sh"
R="$OUT/results.txt"
up() { cut -d' ' -f1 /proc/uptime; }
log() { echo "[$(up)] $*"; }
pass() { echo "ok   $1" >>"$R"; log "ok   $1"; }
failed() { echo "FAIL $1: $2" >>"$R"; log "FAIL $1: $2"; }
# check NAME COMMAND...: passes when COMMAND exits 0.
check() {
    local name="$1"; shift
    local o; o="$("$@" 2>&1)"
    local rc=$?
    if [ $rc -eq 0 ]; then pass "$name"; else failed "$name" "'$*' exited $rc: $(echo "$o" | tail -3 | tr '\n' ' ')"; fi
    return $rc
}
# expect NAME ACTUAL WANTED: passes when the two strings are equal.
expect() {
    if [ "$2" = "$3" ]; then pass "$1 ($2)"; else failed "$1" "got '$2', want '$3'"; fi
}
# wait_file PATH SECONDS: 0 once PATH exists.
wait_file() {
    local i=0 n=$(($2 * 10))
    while [ ! -e "$1" ] && [ $i -lt $n ]; do sleep 0.1; i=$((i + 1)); done
    [ -e "$1" ]
}
# The gpio-sim chip made by 20-gpio-sim.sh, when it exists.
[ -f "$OUT/gpiosim.env" ] && . "$OUT/gpiosim.env"
# sim VALUE|PULL OFFSET: the simulated line's physical state as the kernel sees it.
simval() { cat "$SIMDIR/sim_gpio$1/value"; }
simpull() { echo "$2" >"$SIMDIR/sim_gpio$1/pull"; }
# need_vivid: the vivid webcam, loaded unless a previous test file already did.
VIVID_ARGS="n_devs=1 node_types=0x1 num_inputs=1 input_types=0"
need_vivid() { [ -c /dev/video0 ] || modprobe vivid $VIVID_ARGS; }
