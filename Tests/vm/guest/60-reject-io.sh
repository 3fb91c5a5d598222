# Reject I/O through the product CLI (`grdnet gpio`, Sources/GRDRejectIO) on the gpio-sim chip of
# 20-gpio-sim: listing, hold by line name, active-low, pulses read back from sysfs, an input pull
# seen as a confirmation (and a missing one raising the alarm line), release on SIGKILL.
. "$(dirname "$0")/lib.sh"
G="$GRDNET"
wait_value() { i=0; while [ "$(simval "$1")" != "$2" ] && [ $i -lt "${3:-100}" ]; do sleep 0.1; i=$((i + 1)); done; [ "$(simval "$1")" = "$2" ]; }
o="$("$G" gpio list 2>&1)"
case "$o" in *"$CHIP"*"reject-valve"*) pass "grdnet gpio list: shows $CHIP and the line name reject-valve";;
    *) failed "grdnet gpio list: shows $CHIP and the line name reject-valve" "$(echo "$o" | head -5 | tr '\n' ' ')";; esac
simpull 3 pull-down
"$G" gpio hold --chip "$CHIP" --line reject-valve --active >/tmp/hold.log 2>&1 & HP=$!
wait_value 3 1 200
expect "grdnet gpio hold --line reject-valve --active -> sysfs" "$(simval 3)" 1
kill -9 $HP; wait $HP 2>/dev/null
wait_value 3 0 50
expect "grdnet gpio hold: SIGKILL releases the line -> pull-down" "$(simval 3)" 0
"$G" gpio hold --chip "$CHIP" --line 3 --active-low --active >/tmp/hold.log 2>&1 & HP=$!
i=0; until grep -q holding /tmp/hold.log || [ $i -ge 200 ]; do sleep 0.1; i=$((i + 1)); done
simpull 3 pull-up; sleep 0.3
expect "grdnet gpio hold --active-low --active -> sysfs (inverted, against pull-up)" "$(simval 3)" 0
kill -9 $HP; wait $HP 2>/dev/null
wait_value 3 1 50
expect "grdnet gpio hold --active-low: SIGKILL releases the line -> pull-up" "$(simval 3)" 1
simpull 3 pull-down
# Two 1.5 s pulses, 4 s apart: sample sysfs; expect low, high, low, high, low (edges in order).
"$G" gpio pulse --chip "$CHIP" --line 3 --width-ms 1500 --period-ms 4000 --count 2 --hold-ms 500 >/tmp/pulse.log 2>&1 & PP=$!
seq=""; last=""
while kill -0 $PP 2>/dev/null; do
    v="$(simval 3)"; [ "$v" != "$last" ] && seq="$seq$v" && last="$v"; sleep 0.1
done
wait $PP; prc=$?
expect "grdnet gpio pulse x2: sysfs levels seen in order" "$seq" "01010"
expect "grdnet gpio pulse: exit status" "$prc" 0
check "grdnet gpio pulse: reports 2 pulses fired" grep -q 'done: 2 pulses fired' /tmp/pulse.log
# Confirmation: the sensor (line 5) follows pulse 1 only; pulse 2 gets none -> alarm line 6.
# The shell plays the sensor by polling, so the timings leave seconds of slack: under TCG on a
# loaded 2-core host the guest stalled long enough to miss a 1.5 s pulse with a 3 s window
# (session 7). Now: 3 s pulses, 6 s windows, 9 s apart.
simpull 5 pull-down
"$G" gpio reject-check --chip "$CHIP" --reject-line 3 --confirm-line reject-confirm --alarm-line 6 \
    --pulses 2 --width-ms 3000 --period-ms 9000 --window-ms 6000 --hold-ms 3000 \
    --expect-confirmed 1 >/tmp/rc.log 2>&1 & RP=$!
wait_value 3 1 300 && simpull 5 pull-up
wait_value 3 0 300 && simpull 5 pull-down
# After pulse 2's window closes unconfirmed, the alarm output goes active while lines are held.
alarm=0; while kill -0 $RP 2>/dev/null; do [ "$(simval 6)" = 1 ] && alarm=1; sleep 0.2; done
wait $RP; rrc=$?
[ "$rrc" = 0 ] || sed 's/^/    rc.log: /' /tmp/rc.log
expect "grdnet gpio reject-check: 1 of 2 confirmed (exit status)" "$rrc" 0
check "grdnet gpio reject-check: input pull counted as a confirmation, missing one counted" \
    grep -q 'confirmations: 2 expected, 1 confirmed, 1 missed' /tmp/rc.log
expect "grdnet gpio reject-check: missing confirmation drives the alarm line" "$alarm" 1
o="$("$G" gpio hold --chip /dev/gpiochip-missing --line 3 --seconds 1 2>&1)"
case "$o" in *gpiochip-missing*) pass "grdnet gpio: a missing chip is named in the error";;
    *) failed "grdnet gpio: a missing chip is named in the error" "$o";; esac
exit 0
