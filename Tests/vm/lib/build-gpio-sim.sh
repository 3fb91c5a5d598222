#!/usr/bin/env bash
# Builds gpio-sim.ko for KVER out of tree: Debian's kernels leave GPIO_SIM and IRQ_SIM off, so we
# take gpio-sim.c, gpiolib.h and irq_sim.c from Debian's linux-source package (installed in
# /usr/src) and build them against linux-headers-KVER. One local change in irq_sim.c:
# irq_to_desc() is not exported to modules, so handle_simple_irq(irq_to_desc(n)) becomes
# generic_handle_irq(n) (the handler irq_sim installs is handle_simple_irq anyway).
# Usage: build-gpio-sim.sh KVER DIR   (DIR/gpio-sim.ko is the result; reused when vermagic matches)
set -euo pipefail
KVER="$1"; mkdir -p "$2"; DIR="$(cd "$2" && pwd)"
if [ -f "$DIR/gpio-sim.ko" ] && modinfo -F vermagic "$DIR/gpio-sim.ko" | grep -q "^$KVER "; then
    exit 0
fi
SRCVER="$(cut -d. -f1,2 <<<"$KVER")"
TARBALL="/usr/src/linux-source-$SRCVER.tar.xz"
[ -f "$TARBALL" ] || { echo "gpio-sim: $TARBALL missing (package linux-source-$SRCVER)" >&2; exit 1; }
rm -rf "$DIR"; mkdir -p "$DIR/src"
tar -xJf "$TARBALL" -C "$DIR/src" --strip-components=1 \
    "linux-source-$SRCVER/drivers/gpio/gpio-sim.c" \
    "linux-source-$SRCVER/drivers/gpio/gpiolib.h" \
    "linux-source-$SRCVER/kernel/irq/irq_sim.c"
cp "$DIR/src/drivers/gpio/gpio-sim.c" "$DIR/gpio-sim-main.c"
cp "$DIR/src/drivers/gpio/gpiolib.h" "$DIR/src/kernel/irq/irq_sim.c" "$DIR/"
sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' "$DIR/irq_sim.c"
grep -q 'generic_handle_irq(irqnum);' "$DIR/irq_sim.c" || { echo "gpio-sim: irq_sim.c patch did not apply" >&2; exit 1; }
printf 'obj-m := gpio-sim.o\ngpio-sim-y := gpio-sim-main.o irq_sim.o\n' >"$DIR/Kbuild"
make -s -C "/lib/modules/$KVER/build" M="$DIR" modules
modinfo -F vermagic "$DIR/gpio-sim.ko" | grep -q "^$KVER " || { echo "gpio-sim: built module has the wrong vermagic" >&2; exit 1; }
