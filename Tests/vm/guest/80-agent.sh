# The agent under real systemd: systemd/grdnetd.service and grdnetd.socket as shipped (only the
# binary path changed), the grdnet user from systemd/grdnet.sysusers, a reject line on the gpio-sim
# chip of 20-gpio-sim. Checks: start returns after READY=1, STATUS, stats over the activated
# socket, reject pulses seen in sysfs, a daemon whose camera stops is killed by the watchdog and
# restarted, DevicePolicy=closed without the gpiochip DeviceAllow fails with a clear error.
# (grdnetd has no V4L2 source yet: the camera is the replay of Models/samples, which ends.)
# vm-timeout: 420
. "$(dirname "$0")/lib.sh"
if [ "$(cat /proc/1/comm)" != systemd ]; then failed "agent: PID 1 is systemd" "PID 1 is $(cat /proc/1/comm)"; exit 0; fi
G="$GRDNET"
SOCK=/run/grdnet/grdnet.sock
systemd-sysusers "$GRD_ROOT/systemd/grdnet.sysusers"
# As on Raspberry Pi OS: the gpio group owns the GPIO chips (Debian has no such rule).
chgrp gpio "/dev/$CHIP" && chmod 0660 "/dev/$CHIP"
mkdir -p /etc/grdnet
# The shipped samples three times over (42 parts, 11 s at 4 parts/s), where the service can read
# them (its /tmp is private).
mkdir -p /srv/grdnet-samples
for c in a b c; do
    for f in "$GRD_ROOT"/Models/samples/magnetic-tile/*.jpg; do cp "$f" "/srv/grdnet-samples/${c}_$(basename "$f")"; done
done
cat >/etc/grdnet/grdnet.yaml <<YAML
model: demo
threshold: 0.5
threads: 1
precision: int8
log_level: info
cameras:
  - name: tile
    replay: /srv/grdnet-samples
    loop: false
    fps: 4
    format: mjpeg
    width: 640
    height: 480
    deadline_ms: 2000
    reject:
      chip: $CHIPDEV
      line: 3
      active_low: false
      delay_ms: 2500
      width_ms: 800
fail_safe:
  on_late_decision: reject
  on_error: reject
  camera_timeout_s: 2
socket:
  path: $SOCK
  group: grdnet
  mode: "0660"
state_dir: /var/lib/grdnet
YAML
check "agent: grdnetd --check-config accepts the test configuration" timeout 60 "$GRDNETD" --check-config -c /etc/grdnet/grdnet.yaml
sed "s#/usr/bin/grdnetd#$GRDNETD#g" "$GRD_ROOT/systemd/grdnetd.service" >/etc/systemd/system/grdnetd.service
cp "$GRD_ROOT/systemd/grdnetd.socket" /etc/systemd/system/grdnetd.socket
systemctl daemon-reload
simpull 3 pull-down
if ! check "agent: systemctl start grdnetd returns (after READY=1)" timeout 150 systemctl start grdnetd; then
    journalctl -u grdnetd --no-pager -o cat | tail -20
    systemctl stop grdnetd grdnetd.socket; exit 0
fi
expect "agent: grdnetd active" "$(systemctl show -P ActiveState grdnetd)" active
pid1="$(systemctl show -P MainPID grdnetd)"
st="$(systemctl show -P StatusText grdnetd)"
case "$st" in *tile*) pass "agent: STATUS= names the camera ($st)";; *) failed "agent: STATUS= names the camera" "'$st'";; esac
# Sample the reject line while the replay runs (pulses of 800 ms).
seen=0; i=0
while [ $i -lt 150 ] && [ $seen = 0 ]; do
    [ "$(simval 3)" = 1 ] && seen=1
    sleep 0.05; i=$((i + 1))
done
expect "agent: a reject pulse seen on the gpio-sim line (sysfs)" "$seen" 1
for try in 1 2 3; do
    o="$(timeout 30 "$G" stats --json --socket "$SOCK" 2>&1)" && break
    log "grdnet stats try $try: $o"
done
fi_="$(echo "$o" | tr ',{' '\n\n' | sed -n 's/.*"frames_inspected" *: *\([0-9]*\).*/\1/p' | head -1)"
rj="$(echo "$o" | tr ',{' '\n\n' | sed -n 's/.*"rejects" *: *\([0-9]*\).*/\1/p' | head -1)"
case "$fi_/$rj" in ''/*|0/*|*/0|*/) failed "agent: grdnet stats over the activated socket shows inspected and rejected parts" "$(echo "$o" | head -c 300)";;
    *) pass "agent: grdnet stats over the activated socket shows inspected and rejected parts (frames_inspected=$fi_ rejects=$rj)";; esac
# The replay ends: frames stop, the watchdog is no longer fed, systemd aborts and restarts it.
i=0; while [ "$(systemctl show -P NRestarts grdnetd)" = 0 ] && [ $i -lt 90 ]; do sleep 1; i=$((i + 1)); done
check "agent: watchdog timeout in the journal once the camera stopped" sh -c "journalctl -u grdnetd --no-pager -o cat | grep -qi 'watchdog timeout'"
case "$(systemctl show -P NRestarts grdnetd)" in 0|'') failed "agent: restarted after the watchdog" "NRestarts=0 after ${i} s";;
    *) pass "agent: restarted after the watchdog (NRestarts=$(systemctl show -P NRestarts grdnetd))";; esac
i=0; until [ "$(systemctl show -P ActiveState grdnetd)" = active ] || [ $i -ge 60 ]; do sleep 0.5; i=$((i + 1)); done
state="$(systemctl show -P ActiveState grdnetd)"; pid2="$(systemctl show -P MainPID grdnetd)"
expect "agent: active again after the restart, new process" "$state/$([ "$pid2" != "$pid1" ] && echo new)" "active/new"
o="$(timeout 30 "$G" status --socket "$SOCK" 2>&1)"
case "$o" in *tile*) pass "agent: grdnet status answers after the restart";; *) failed "agent: grdnet status answers after the restart" "$(echo "$o" | head -c 300)";; esac
systemctl stop grdnetd grdnetd.socket
i=0; until [ "$(simval 3)" = 0 ] || [ $i -ge 30 ]; do sleep 0.1; i=$((i + 1)); done
expect "agent: stopped daemon released the reject line" "$(simval 3)" 0
# Without DeviceAllow for the gpiochip class the daemon cannot open the reject line's chip.
mkdir -p /etc/systemd/system/grdnetd.service.d
printf '[Service]\nDeviceAllow=\nDeviceAllow=char-video4linux rw\nRestart=no\n' >/etc/systemd/system/grdnetd.service.d/nogpio.conf
systemctl daemon-reload
timeout 150 systemctl start grdnetd >/dev/null 2>&1
sleep 1
j="$(journalctl -u grdnetd --no-pager -o cat | tail -40)"
case "$j" in *"$CHIP"*[Oo]"peration not permitted"*) pass "agent: without DeviceAllow=char-gpiochip the error names the chip (EPERM)";;
    *) failed "agent: without DeviceAllow=char-gpiochip the error names the chip (EPERM)" "$(echo "$j" | grep -i gpio | tail -3 | tr '\n' ' ')";; esac
systemctl stop grdnetd grdnetd.socket 2>/dev/null
rm -rf /etc/systemd/system/grdnetd.service.d; systemctl daemon-reload
exit 0
