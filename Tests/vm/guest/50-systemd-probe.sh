# Real systemd (PID 1 in the guest) and the product's SystemdNotifier in a Type=notify service:
# start returns after READY=1, STATUS is shown, a silent watchdog gets the service killed and
# restarted, and DevicePolicy=closed + DeviceAllow decide which device nodes open.
# Needs the gpio-sim chip of 20-gpio-sim.
. "$(dirname "$0")/lib.sh"
if [ "$(cat /proc/1/comm)" != systemd ]; then failed "systemd: PID 1 is systemd" "PID 1 is $(cat /proc/1/comm)"; exit 0; fi
need_vivid
unit() {  # unit NAME PINGS DEVICEALLOW-LINES
    cat >/etc/systemd/system/$1.service <<UNIT
[Service]
Type=notify
NotifyAccess=main
ExecStart=$VMPROBE notify-daemon $2 /dev/video0 $CHIPDEV
WatchdogSec=3s
Restart=on-failure
RestartSec=1
TimeoutStartSec=90
DevicePolicy=closed
$3
UNIT
}
unit grd-probe 1000 "DeviceAllow=char-video4linux rw
DeviceAllow=char-gpiochip rw"
unit grd-probe-novideo 1000 "DeviceAllow=char-gpiochip rw"
unit grd-probe-hang 2 "DeviceAllow=char-video4linux rw"
systemctl daemon-reload
check "systemd: systemctl start (Type=notify) returns after READY=1" timeout 120 systemctl start grd-probe
expect "systemd: service active after start" "$(systemctl show -P ActiveState grd-probe)" active
expect "systemd: STATUS= from the service, both devices open" "$(systemctl show -P StatusText grd-probe)" "devices: /dev/video0 ok, $CHIPDEV ok"
systemctl stop grd-probe
check "systemd: start of the unit without DeviceAllow for video" timeout 120 systemctl start grd-probe-novideo
expect "systemd: DevicePolicy=closed blocks /dev/video0, DeviceAllow admits the gpiochip" \
    "$(systemctl show -P StatusText grd-probe-novideo)" "devices: /dev/video0 Operation not permitted, $CHIPDEV ok"
systemctl stop grd-probe-novideo
# Two pings at 1.5 s, then silence: the watchdog (3 s) must abort it and Restart= bring it back.
check "systemd: start of the unit that stops pinging" timeout 120 systemctl start grd-probe-hang
i=0; while [ "$(systemctl show -P NRestarts grd-probe-hang)" = 0 ] && [ $i -lt 60 ]; do sleep 0.5; i=$((i + 1)); done
check "systemd: watchdog timeout seen in the journal" sh -c "journalctl -u grd-probe-hang --no-pager -o cat | grep -qi 'watchdog timeout'"
case "$(systemctl show -P NRestarts grd-probe-hang)" in 0|'') failed "systemd: restarted after the watchdog" "NRestarts=$(systemctl show -P NRestarts grd-probe-hang)";;
    *) pass "systemd: restarted after the watchdog (NRestarts=$(systemctl show -P NRestarts grd-probe-hang))";; esac
systemctl stop grd-probe-hang
