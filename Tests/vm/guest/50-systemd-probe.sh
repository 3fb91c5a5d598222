# Real systemd (PID 1 in the guest) and the product's SystemdNotifier in a Type=notify service:
# start returns after READY=1, STATUS is shown, and DevicePolicy=closed + DeviceAllow decide which
# device nodes open. (The watchdog restart is checked with the real unit in 80-agent.)
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
systemctl daemon-reload
check "systemd: systemctl start (Type=notify) returns after READY=1" timeout 120 systemctl start grd-probe
expect "systemd: service active after start" "$(systemctl show -P ActiveState grd-probe)" active
expect "systemd: STATUS= from the service, both devices open" "$(systemctl show -P StatusText grd-probe)" "devices: /dev/video0 ok, $CHIPDEV ok"
systemctl stop grd-probe
check "systemd: start of the unit without DeviceAllow for video" timeout 120 systemctl start grd-probe-novideo
expect "systemd: DevicePolicy=closed blocks /dev/video0, DeviceAllow admits the gpiochip" \
    "$(systemctl show -P StatusText grd-probe-novideo)" "devices: /dev/video0 Operation not permitted, $CHIPDEV ok"
systemctl stop grd-probe-novideo
exit 0
