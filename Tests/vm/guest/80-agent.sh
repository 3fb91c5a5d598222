# The agent end to end on the real drivers under real systemd: systemd/grdnetd.service and
# grdnetd.socket as shipped (only the binary path changed), the grdnet user from
# systemd/grdnet.sysusers, the camera = vivid's /dev/video0 (YUYV), the reject line on the gpio-sim
# chip of 20-gpio-sim, the reject pulse thread asking for SCHED_FIFO (realtime_priority).
# Checks: start returns after READY=1, STATUS, the pulse thread really runs SCHED_FIFO under the
# shipped unit's limits, stats over the activated socket, reject pulses seen in sysfs and matching
# the counts, a live threshold change stops them, the camera stops delivering frames (vivid drops
# every buffer) -> the watchdog kills the daemon -> it restarts and inspects again once frames
# come back, the line is released on stop, DevicePolicy=closed without the gpiochip
# DeviceAllow fails with a clear error.
# vm-timeout: 600
. "$(dirname "$0")/lib.sh"
if [ "$(cat /proc/1/comm)" != systemd ]; then failed "agent: PID 1 is systemd" "PID 1 is $(cat /proc/1/comm)"; exit 0; fi
G="$GRDNET_RELEASE"
GRDNETD="$GRDNETD_RELEASE"
SOCK=/run/grdnet/grdnet.sock
RT_PRIO=40
need_vivid
# vivid stamps a frame with its end time by default, which lies up to a frame period in the
# future; grdnetd takes a timestamp ahead of its clock for an infinitely late decision (every part
# a fail-safe reject, "capture to decision" ~1.8e13 ms). Start-of-exposure stamps, as UVC
# cameras give, are in the past. (The product should clamp such an age to 0: not fixed yet.)
v4l2-ctl -d /dev/video0 -c timestamp_source=1 2>&1 | head -2
# The daemon's journal goes to the results share (read it when a check fails).
journal() { journalctl -u grdnetd --no-pager -o short-monotonic >"$OUT/80-agent.journal" 2>&1; }
trap journal EXIT
systemd-sysusers "$GRD_ROOT/systemd/grdnet.sysusers"
# As on Raspberry Pi OS: the gpio group owns the GPIO chips (Debian has no such rule).
chgrp gpio "/dev/$CHIP" && chmod 0660 "/dev/$CHIP"
mkdir -p /etc/grdnet
# Threshold 0: every part of vivid's test pattern scores above it and is rejected (then raised live).
# 2 parts/s, 300 ms pulses 6 s after capture (a generous deadline: software emulation on a loaded
# host lags by seconds): separate
# pulses, countable in sysfs.
cat >/etc/grdnet/grdnet.yaml <<YAML
model: demo
threshold: 0
threads: 1
precision: int8
log_level: info
cameras:
  - name: vivid
    device: /dev/video0
    fps: 2
    format: yuyv
    width: 320
    height: 180
    deadline_ms: 6000
    reject:
      chip: $CHIPDEV
      line: 3
      active_low: false
      delay_ms: 6000
      width_ms: 300
      realtime_priority: $RT_PRIO
fail_safe:
  on_late_decision: reject
  on_error: reject
  camera_timeout_s: 3
socket:
  path: $SOCK
  group: grdnet
  mode: "0660"
state_dir: /var/lib/grdnet
YAML
check "agent: grdnetd --check-config accepts the vivid configuration" timeout 60 "$GRDNETD" --check-config -c /etc/grdnet/grdnet.yaml
sed "s#/usr/bin/grdnetd#$GRDNETD#g" "$GRD_ROOT/systemd/grdnetd.service" >/etc/systemd/system/grdnetd.service
cp "$GRD_ROOT/systemd/grdnetd.socket" /etc/systemd/system/grdnetd.socket
systemctl daemon-reload
simpull 3 pull-down
if ! check "agent: systemctl start grdnetd (camera vivid /dev/video0) returns after READY=1" timeout 150 systemctl start grdnetd; then
    journalctl -u grdnetd --no-pager -o cat | tail -20
    systemctl stop grdnetd grdnetd.socket; exit 0
fi
expect "agent: grdnetd active" "$(systemctl show -P ActiveState grdnetd)" active
pid1="$(systemctl show -P MainPID grdnetd)"
log "grdnetd: MainPID $pid1, NRestarts $(systemctl show -P NRestarts grdnetd); journal so far:"
journalctl -u grdnetd --no-pager -o short-monotonic | tail -15
st="$(systemctl show -P StatusText grdnetd)"
case "$st" in *vivid*) pass "agent: STATUS= names the camera ($st)";; *) failed "agent: STATUS= names the camera" "'$st'";; esac

# The reject pulse thread ("grd-reject") under the shipped unit: SCHED_FIFO at the configured
# priority (LimitRTPRIO=, no capability), every other thread of the daemon normal (SCHED_OTHER).
rt_tid=""; others=""
for t in /proc/$pid1/task/*; do
    tid="${t##*/}"
    pol="$(awk '{print $(NF-11) "/" $(NF-12)}' "$t/stat" 2>/dev/null)"   # policy/rt_priority
    if [ "$(cat "$t/comm" 2>/dev/null)" = grd-reject ]; then rt_tid="$tid"; rt_pol="$pol"; else others="$others $pol"; fi
done
log "threads of $pid1: grd-reject=$rt_tid ($rt_pol), others:$others"
expect "agent: the reject pulse thread runs SCHED_FIFO priority $RT_PRIO under the shipped unit (/proc policy/rt_priority)" "${rt_pol:-none}" "1/$RT_PRIO"
c="$(chrt -p "$rt_tid" 2>&1 | tr '\n' ' ')"
case "$c" in *SCHED_FIFO*"priority: $RT_PRIO"*) pass "agent: chrt -p on the pulse thread: $c";; *) failed "agent: chrt -p on the pulse thread says SCHED_FIFO $RT_PRIO" "'$c'";; esac
case " $others " in *" 1/"*|*" 2/"*) failed "agent: only the pulse thread is real-time" "$others";; *) pass "agent: only the pulse thread is real-time";; esac
o="$(timeout 30 "$G" status --json --socket "$SOCK" 2>&1)"
case "$o" in *"\"reject_scheduling\""*"SCHED_FIFO priority $RT_PRIO"*) case "$o" in *refused*) failed "agent: grdnet status reports the pulse thread's scheduling" "refused: $(echo "$o" | grep -o '"reject_scheduling"[^,]*')";;
                                                                      *) pass "agent: grdnet status reports SCHED_FIFO priority $RT_PRIO for the pulse thread";; esac;;
    *) failed "agent: grdnet status reports the pulse thread's scheduling" "$(echo "$o" | head -c 400)";; esac

# Reject pulses on the gpio-sim line (sysfs), counted as rising edges over 8 s.
# sample_line SECONDS: rising edges and samples high on line 3 (sysfs, read by the shell itself:
# a fork per sample is slow under emulation), sampled every 50 ms.
sample_line() {
    edges=0; high=0; prev=0; i=0; end=$(awk -v a="$(up)" -v d="$1" 'BEGIN{printf "%d", (a + d) * 10}')
    while [ "$(awk -v a="$(up)" 'BEGIN{printf "%d", a * 10}')" -lt "$end" ]; do
        for k in 1 2 3 4 5 6 7 8 9 10; do
            read -r v <"$SIMDIR/sim_gpio3/value"
            [ "$v" = 1 ] && { high=$((high + 1)); [ "$prev" = 0 ] && edges=$((edges + 1)); }
            prev="$v"; sleep 0.05
        done
    done
}
sample_line 8
case "$edges" in 0) failed "agent: reject pulses seen on the gpio-sim line (sysfs)" "no rising edge in 8 s";;
    *) pass "agent: reject pulses seen on the gpio-sim line (sysfs): $edges rising edges in 8 s";; esac
stat_of() {  # stat_of JSON KEY: the first integer value of "KEY"
    echo "$1" | tr ',{' '\n\n' | sed -n "s/.*\"$2\" *: *\([0-9]*\).*/\1/p" | head -1
}
stats() { timeout 30 "$G" stats --json --socket "$SOCK" 2>&1; }
o="$(stats)"
fi_="$(stat_of "$o" frames_inspected)"; rj="$(stat_of "$o" rejects)"; fired="$(stat_of "$o" fired)"; ps_="$(stat_of "$o" passes)"
log "stats: frames_inspected=$fi_ rejects=$rj passes=$ps_ fired=$fired"
case "$fi_/$rj/$fired" in ''/*|0/*|*/0/*|*/0|*/|*//*) failed "agent: grdnet stats over the activated socket: vivid frames inspected, rejected, pulses fired" "$(echo "$o" | head -c 400)";;
    *) pass "agent: grdnet stats over the activated socket: vivid frames inspected, rejected, pulses fired (frames_inspected=$fi_ rejects=$rj fired=$fired)";; esac
# Every part was rejected (threshold 0); fired lags rejects by the pulses still pending (<= 6 s).
if [ -n "$fi_" ] && [ -n "$rj" ] && [ -n "$fired" ] && [ "$rj" -eq "$fi_" ] && [ "$fired" -le "$rj" ] && [ "$fired" -ge $((rj - 16)) ] && [ "$edges" -ge 2 ]; then
    pass "agent: counts agree: every part rejected at threshold 0, pulses fired = rejects - pending ($fired of $rj)"
else failed "agent: counts agree (rejects = inspected at threshold 0, fired within 16 of rejects)" "inspected=$fi_ rejects=$rj fired=$fired edges=$edges"; fi
# Raise the threshold live: the same pattern now passes. A part can still be rejected as late
# (fail-safe: decided after deadline_ms; software emulation on a loaded host is slow), so every
# reject after the change must be a deadline miss; with none, the line must stay low.
check "agent: grdnet threshold 1000000 (live)" timeout 30 "$G" threshold 1000000 --socket "$SOCK"
sleep 7
o="$(stats)"; rj1="$(stat_of "$o" rejects)"; ps1="$(stat_of "$o" passes)"; dm1="$(stat_of "$o" deadline_misses)"
sample_line 4
o="$(stats)"; rj2="$(stat_of "$o" rejects)"; ps2="$(stat_of "$o" passes)"; dm2="$(stat_of "$o" deadline_misses)"
log "after the threshold change: rejects $rj1 -> $rj2, passes $ps1 -> $ps2, deadline misses $dm1 -> $dm2, line high in $high samples"
timeout 30 "$G" stats --socket "$SOCK" 2>&1 | head -30
if [ -n "$rj2" ] && [ -n "$dm2" ] && [ "${ps2:-0}" -gt "${ps1:-0}" ] && [ $((rj2 - rj1)) -le $((dm2 - dm1)) ] \
    && { [ "$rj2" != "$rj1" ] || [ "$high" = 0 ]; }; then
    pass "agent: threshold raised live: parts pass ($ps1 -> $ps2); rejects $rj1 -> $rj2, all of them late (deadline misses $dm1 -> $dm2)$([ "$rj2" = "$rj1" ] && echo ', line stays low')"
else failed "agent: threshold raised live: parts pass, no reject by score" "rejects $rj1 -> $rj2, passes $ps1 -> $ps2, deadline misses $dm1 -> $dm2, line high in $high samples"; fi

# The camera stops delivering frames: vivid drops every buffer (the device stays open and
# streaming, poll() only times out). After camera_timeout_s the daemon stops feeding the watchdog
# (WatchdogSec=5s): systemd aborts it and restarts it; the new daemon waits for frames.
t_stop=$(up)
v4l2-ctl -d /dev/video0 -c percentage_of_dropped_buffers=100 2>&1 | head -2
i=0; while [ "$(systemctl show -P NRestarts grdnetd)" = 0 ] && [ $i -lt 40 ]; do sleep 1; i=$((i + 1)); done
j="$(journalctl -u grdnetd --no-pager -o cat)"
case "$j" in *[Ww]"atchdog timeout"*) pass "agent: camera stopped delivering frames: watchdog timeout in the journal ($(echo "$j" | grep -i 'watchdog timeout' | head -1))";;
    *) failed "agent: camera stopped delivering frames: watchdog timeout in the journal" "$(echo "$j" | tail -5 | tr '\n' ' ')";; esac
case "$(systemctl show -P NRestarts grdnetd)" in 0|'') failed "agent: restarted after the watchdog" "NRestarts=0 $(awk -v a="$t_stop" -v b="$(up)" 'BEGIN{printf "%.0f", b-a}') s after the camera stopped";;
    *) pass "agent: restarted after the watchdog (NRestarts=$(systemctl show -P NRestarts grdnetd))";; esac
sleep 2
# Frames again: the restarted daemon gets them, sends READY=1 and inspects.
v4l2-ctl -d /dev/video0 -c percentage_of_dropped_buffers=0 2>&1 | head -2
i=0; until [ "$(systemctl show -P ActiveState grdnetd)" = active ] || [ $i -ge 60 ]; do sleep 1; i=$((i + 1)); done
state="$(systemctl show -P ActiveState grdnetd)"; pid2="$(systemctl show -P MainPID grdnetd)"
journal
expect "agent: active again once the camera is back, new process" "$state/$([ "$pid2" != "$pid1" ] && echo new)" "active/new"
sleep 2
o="$(stats)"; fi2="$(stat_of "$o" frames_inspected)"
case "$fi2" in ''|0) failed "agent: the restarted daemon inspects vivid frames again" "$(echo "$o" | head -c 300)";;
    *) pass "agent: the restarted daemon inspects vivid frames again (frames_inspected=$fi2)";; esac
o="$(timeout 30 "$G" threshold --socket "$SOCK" 2>&1)"
case "$o" in *1000000*|*1e+06*|*1e6*) pass "agent: the live threshold persisted across the restart";;
    *) failed "agent: the live threshold persisted across the restart" "$(echo "$o" | head -c 300)";; esac
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
# Leave nothing for the package test (90-deb): its unit and config must be the installed ones.
rm -rf /etc/systemd/system/grdnetd.service.d /etc/systemd/system/grdnetd.service /etc/systemd/system/grdnetd.socket \
    /etc/grdnet /var/lib/grdnet
systemctl daemon-reload; systemctl reset-failed grdnetd 2>/dev/null
userdel grdnet 2>/dev/null; groupdel grdnet 2>/dev/null; groupdel gpio 2>/dev/null
exit 0
