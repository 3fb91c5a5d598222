# The real gpio-sim driver (built out of tree by the host) through configfs, and libgpiod's tools.
. "$(dirname "$0")/lib.sh"
modprobe configfs 2>/dev/null
mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config
check "gpio-sim: insmod $GPIO_SIM_KO" insmod "$GPIO_SIM_KO"
C=/sys/kernel/config/gpio-sim/grdvm
mkdir "$C" "$C/gpio-bank0" && echo 32 >"$C/gpio-bank0/num_lines" &&
    mkdir "$C/gpio-bank0/line3" && echo reject-valve >"$C/gpio-bank0/line3/name" &&
    mkdir "$C/gpio-bank0/line5" && echo reject-confirm >"$C/gpio-bank0/line5/name" &&
    echo 1 >"$C/live"
CHIP="$(cat "$C/gpio-bank0/chip_name" 2>/dev/null)"; DEV="$(cat "$C/dev_name" 2>/dev/null)"
SIMDIR="/sys/devices/platform/$DEV/$CHIP"
check "gpio-sim: chip live via configfs ($DEV $CHIP)" test -c "/dev/$CHIP" -a -d "$SIMDIR/sim_gpio3"
printf 'CHIP=%s\nCHIPDEV=/dev/%s\nSIMDIR=%s\n' "$CHIP" "$CHIP" "$SIMDIR" >"$OUT/gpiosim.env"
check "gpio-sim: gpioinfo shows the named line" sh -c "gpioinfo $CHIP | grep -q 'line   3:.*\"reject-valve\"'"
expect "gpio-sim: idle line reads its pull (down)" "$(simval 3)" 0
# gpioset holds the line until signalled; wait_value polls sysfs for the expected level.
wait_value() { i=0; while [ "$(simval "$1")" != "$2" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done; }
gpioset --mode=signal "$CHIP" 3=1 & GP=$!
wait_value 3 1
expect "gpio-sim: gpioset 3=1 -> sysfs value" "$(simval 3)" 1
kill $GP; wait $GP
expect "gpio-sim: released after gpioset exits -> pull" "$(simval 3)" 0
simpull 3 pull-up
gpioset -l --mode=signal "$CHIP" 3=1 & GP=$!
wait_value 3 0
expect "gpio-sim: gpioset active-low 3=1 -> physical (against pull-up)" "$(simval 3)" 0
kill $GP; wait $GP
expect "gpio-sim: released -> pull-up" "$(simval 3)" 1
simpull 3 pull-down
simpull 5 pull-up
expect "gpio-sim: sysfs pull-up seen by gpioget" "$(gpioget "$CHIP" 5)" 1
simpull 5 pull-down
expect "gpio-sim: sysfs pull-down seen by gpioget" "$(gpioget "$CHIP" 5)" 0
exit 0
