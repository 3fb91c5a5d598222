# The product's GPIODOutputLine (Sources/GRDRejectIO, libgpiod) on a real gpio-sim line:
# values read back from sysfs, active-low inverts, the kernel releases the line on SIGKILL.
. "$(dirname "$0")/lib.sh"
P="$VMPROBE"
# hold ACTIVELOW VALUE: starts the probe holding line 3, waits until it has set the value.
hold() {
    rm -f /tmp/held
    "$P" output "$CHIPDEV" 3 "$1" "$2" /tmp/held 60 >/tmp/probe.log 2>&1 & HP=$!
    wait_file /tmp/held 30 || failed "product gpio: probe did not take the line" "$(cat /tmp/probe.log)"
}
release() { kill -9 $HP 2>/dev/null; wait $HP 2>/dev/null; }
simpull 3 pull-down
hold 0 1
expect "product gpio: active-high, set(true) -> sysfs" "$(simval 3)" 1
check "product gpio: gpioinfo shows the consumer and output" sh -c "gpioinfo $CHIP | grep 'line   3:' | grep -q 'grd-vmprobe.*output'"
release
expect "product gpio: SIGKILL releases the line -> pull-down" "$(simval 3)" 0
simpull 3 pull-up
hold 0 0
expect "product gpio: active-high, set(false) against pull-up -> sysfs" "$(simval 3)" 0
release
expect "product gpio: SIGKILL releases the line -> pull-up" "$(simval 3)" 1
simpull 3 pull-down
hold 1 1
expect "product gpio: active-low, set(true) -> sysfs (inverted)" "$(simval 3)" 0
release
hold 1 0
expect "product gpio: active-low, set(false) -> sysfs (inverted)" "$(simval 3)" 1
release
expect "product gpio: released active-low line -> pull-down" "$(simval 3)" 0
# A normal exit (deinit) releases too.
rm -f /tmp/held; "$P" output "$CHIPDEV" 3 0 1 /tmp/held 1 >/tmp/probe.log 2>&1
expect "product gpio: normal exit releases the line" "$(simval 3)" 0
o="$("$P" output /dev/gpiochip-missing 3 0 1 /tmp/held 0 2>&1)"
case "$o" in *"/dev/gpiochip-missing line 3"*"No such file"*) pass "product gpio: missing chip error names chip and line";;
    *) failed "product gpio: missing chip error names chip and line" "$o";; esac
