# Capture through the product CLI (`grdnet cameras`, `grdnet record`, Sources/GRDCapture, libv4l2)
# on the real vivid driver: stream N frames, sequence gaps counted, controls set and read back,
# vivid's disconnect control (an unplug) recovered without restarting the process.
. "$(dirname "$0")/lib.sh"
G="$GRDNET"
need_vivid
counter() { sed -n "s/^counters.* $2=\([0-9]*\).*/\1/p" "$1" | tail -1; }
o="$("$G" cameras 2>&1)"
case "$o" in *video0*[Yy][Uu][Yy][Vv]*) pass "grdnet cameras: lists /dev/video0 with YUYV";;
    *) failed "grdnet cameras: lists /dev/video0 with YUYV" "$(echo "$o" | head -5 | tr '\n' ' ')";; esac
REC="--device /dev/video0 --format yuyv --width 640 --height 480 --quiet --wait-seconds 40"
rm -rf /tmp/rec1
timeout 120 "$G" record $REC --frames 20 --out /tmp/rec1 --control brightness=200 --control contrast=90 >/tmp/rec1.log 2>&1
rc=$?; [ $rc -eq 0 ] || cat /tmp/rec1.log
expect "grdnet record: 20 frames with brightness and contrast set: exit status" "$rc" 0
log "record without induced drops: $(grep '^counters' /tmp/rec1.log)"
expect "grdnet record: delivered counter" "$(counter /tmp/rec1.log delivered)" 20
expect "grdnet record: frame files written" "$(ls /tmp/rec1 | grep -vc 'index.tsv')" 20
check "grdnet record: control table says brightness read back ok" sh -c "grep -E '^ *brightness +200 .* yes' /tmp/rec1.log"
expect "brightness read back independently (v4l2-ctl)" "$(v4l2-ctl -d /dev/video0 -C brightness | awk '{print $2}')" 200
o="$("$G" cameras --device /dev/video0 --set brightness=77 2>&1)"
expect "grdnet cameras --set brightness=77, read back by v4l2-ctl" "$(v4l2-ctl -d /dev/video0 -C brightness | awk '{print $2}')" 77
# vivid drops a share of buffers on request: the camera's sequence numbers then jump.
rm -rf /tmp/rec2
timeout 120 "$G" record $REC --frames 20 --out /tmp/rec2 --control percentage_of_dropped_buffers=50 >/tmp/rec2.log 2>&1
log "record with 50% dropped buffers: $(grep '^counters' /tmp/rec2.log)"
gaps="$(counter /tmp/rec2.log sequence_gaps)"
case "$gaps" in ''|0) failed "grdnet record: sequence gaps counted with 50% dropped buffers" "sequence_gaps='$gaps': $(grep -E '^counters|Error|error' /tmp/rec2.log | head -3 | tr '\n' ' ')";;
    *) pass "grdnet record: sequence gaps counted with 50% dropped buffers ($gaps)";; esac
v4l2-ctl -d /dev/video0 -c percentage_of_dropped_buffers=0 2>/dev/null
# Unplug: vivid's disconnect control removes the device; reload the module (replug). The same
# record process must re-open the camera and finish its frames.
rm -rf /tmp/rec3
"$G" record $REC --frames 60 --out /tmp/rec3 --wait-seconds 60 >/tmp/rec3.log 2>&1 & RP=$!
i=0; until [ "$(ls /tmp/rec3 2>/dev/null | wc -l)" -ge 10 ] || [ $i -ge 300 ]; do sleep 0.1; i=$((i + 1)); done
v4l2-ctl -d /dev/video0 -c disconnect=1 >/dev/null 2>&1
i=0; until rmmod vivid 2>/dev/null || [ $i -ge 100 ]; do sleep 0.2; i=$((i + 1)); done
lsmod | grep -q '^vivid ' && log "vivid could not be unloaded (still in use)"
modprobe vivid $VIVID_ARGS
i=0; while kill -0 $RP 2>/dev/null && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 $RP 2>/dev/null && { log "record did not finish in 120 s; killing it"; kill -9 $RP; }
wait $RP; rc=$?
expect "grdnet record across unplug: exit status" "$rc" 0
d="$(counter /tmp/rec3.log disconnects)"; r="$(counter /tmp/rec3.log reconnects)"
case "$d/$r" in ''/*|0/*|*/0|*/) failed "grdnet record across unplug: disconnect and reconnect counted" "disconnects='$d' reconnects='$r': $(tail -4 /tmp/rec3.log | tr '\n' ' ')";;
    *) pass "grdnet record across unplug: disconnect and reconnect counted (disconnects=$d reconnects=$r)";; esac
expect "grdnet record across unplug: all frames delivered" "$(counter /tmp/rec3.log delivered)" 60
log "record across unplug: $(grep -E '^counters|camera lost|camera back' /tmp/rec3.log | head -4 | tr '\n' ' ')"
