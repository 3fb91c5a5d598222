# The Debian package (deploy/build-deb, built by the host from this tree) installed for real:
# `dpkg -i` on the guest's root (a tmpfs overlay over the host's, the host's dpkg database
# included), with systemd as PID 1, so the maintainer scripts run as on a Pi: sysusers creates the
# grdnet user, tmpfiles the state folder, udev gives the GPIO chips to the gpio group, the unit is
# enabled and started by postinst with /etc/grdnet/grdnet.yaml (the packaged default
# kept next to a provisioned one: see below).
# Then `grdnet status` answers over the installed socket unit, and `dpkg --purge` stops it.
# vm-timeout: 700
. "$(dirname "$0")/lib.sh"
if [ "$(cat /proc/1/comm)" != systemd ]; then failed "deb: PID 1 is systemd" "PID 1 is $(cat /proc/1/comm)"; exit 0; fi
if [ -z "${GRD_DEB:-}" ] || [ ! -f "$GRD_DEB" ]; then failed "deb: the package was built on the host" "no .deb ('${GRD_DEB:-}')"; exit 0; fi
need_vivid
trap 'journalctl -u grdnetd --no-pager -o short-monotonic >"$OUT/90-deb.journal" 2>&1' EXIT
# Nothing of 80-agent may remain (it cleans up, unless it was killed midway).
systemctl stop grdnetd grdnetd.socket 2>/dev/null
rm -rf /etc/systemd/system/grdnetd.service.d /etc/systemd/system/grdnetd.service /etc/systemd/system/grdnetd.socket
systemctl daemon-reload; systemctl reset-failed grdnetd 2>/dev/null
userdel grdnet 2>/dev/null; groupdel grdnet 2>/dev/null; groupdel gpio 2>/dev/null
log "package: $GRD_DEB ($(du -h "$GRD_DEB" | cut -f1)); gpio chip: $CHIPDEV"
# The installed config names /dev/gpiochip0 and lines 17, 22, 27.
[ "$CHIPDEV" = /dev/gpiochip0 ] || log "the gpio-sim chip is $CHIPDEV, not /dev/gpiochip0: the default config will not find its lines"
if getent passwd grdnet >/dev/null; then failed "deb: no grdnet user before the install" "$(getent passwd grdnet)"; fi
rm -rf /etc/grdnet /var/lib/grdnet
# Provisioned before the install, as configuration management does: a config for this VM (the
# packaged default runs the shipped model, whose int8 inference under software emulation takes
# longer than its 2 s camera timeout). dpkg keeps it (--force-confold) and puts the packaged
# default next to it as grdnet.yaml.dpkg-dist. realtime_priority 50 = the unit's LimitRTPRIO.
mkdir -p /etc/grdnet
cat >/etc/grdnet/grdnet.yaml <<YAML
model: demo
threshold: 1000000
threads: 1
cameras:
  - name: line1
    device: /dev/video0
    fps: 2
    format: yuyv
    width: 320
    height: 180
    deadline_ms: 6000
    reject:
      chip: /dev/gpiochip0
      line: 17
      delay_ms: 6000
      width_ms: 100
      realtime_priority: 50
fail_safe:
  camera_timeout_s: 3
outputs:
  ready: {chip: /dev/gpiochip0, line: 27}
socket:
  path: /run/grdnet/grdnet.sock
  group: grdnet
  mode: "0660"
state_dir: /var/lib/grdnet
YAML
t0=$(up)
timeout 500 dpkg --force-confold -i "$GRD_DEB" >/tmp/dpkg-i.log 2>&1 </dev/null
rc=$?
cat /tmp/dpkg-i.log
log "dpkg -i took $(awk -v a="$t0" -v b="$(up)" 'BEGIN{printf "%.1f", b-a}') s"
expect "deb: dpkg -i exit status" "$rc" 0
l="$(dpkg -l grdnet-edge 2>&1 | tail -1)"
echo "dpkg -l grdnet-edge:"; dpkg -l grdnet-edge 2>&1 | tail -3
case "$l" in ii*grdnet-edge*) pass "deb: dpkg -l grdnet-edge: $(echo "$l" | tr -s ' ' | cut -d' ' -f1-4)";;
    *) failed "deb: dpkg -l grdnet-edge says installed (ii)" "'$l'";; esac
u="$(getent passwd grdnet)"
case "$u" in grdnet:*:/var/lib/grdnet:*) pass "deb: postinst created the system user ($u)";; *) failed "deb: postinst created the system user grdnet" "'$u'";; esac
case " $(id -nG grdnet 2>/dev/null) " in *" video "*" gpio "*|*" gpio "*" video "*) pass "deb: grdnet is in the video and gpio groups ($(id -nG grdnet))";;
    *) log "grdnet's groups: $(id -nG grdnet 2>&1) (the unit adds them with SupplementaryGroups=)";; esac
if cmp -s /etc/grdnet/grdnet.yaml.dpkg-dist "$GRD_ROOT/deploy/grdnet-pi.yaml"; then pass "deb: the packaged default config is in /etc/grdnet (grdnet.yaml.dpkg-dist = deploy/grdnet-pi.yaml; the provisioned grdnet.yaml kept)"
else failed "deb: the packaged default config is in /etc/grdnet" "$(ls -l /etc/grdnet 2>&1 | tr '\n' ' ')"; fi
expect "deb: /var/lib/grdnet made by tmpfiles (owner, mode)" "$(stat -c '%U %a' /var/lib/grdnet 2>&1)" "grdnet 750"
expect "deb: udev rule gives $CHIPDEV to the gpio group" "$(stat -c %G "$CHIPDEV")" gpio
expect "deb: grdnetd.service enabled by postinst" "$(systemctl is-enabled grdnetd 2>&1)" enabled
expect "deb: the unit systemd runs is the packaged one" "$(systemctl show -P FragmentPath grdnetd)" /lib/systemd/system/grdnetd.service
# postinst's `systemctl restart` returns after READY=1 (or TimeoutStartSec=60); give it that long.
i=0; until [ "$(systemctl show -P ActiveState grdnetd)" = active ] || [ $i -ge 120 ]; do sleep 0.5; i=$((i + 1)); done
expect "deb: the installed service came up (READY=1)" "$(systemctl show -P ActiveState grdnetd)/$(systemctl show -P SubState grdnetd)" active/running
[ "$(systemctl show -P ActiveState grdnetd)" = active ] || journalctl -u grdnetd --no-pager -o cat | tail -25
log "STATUS=$(systemctl show -P StatusText grdnetd)"
o="$(timeout 60 /usr/bin/grdnet status 2>&1)"
echo "$o"
case "$o" in *"SCHED_FIFO priority 50"*) case "$o" in *refused*) failed "deb: pulse thread SCHED_FIFO 50 under the packaged unit" "refused";; *) pass "deb: pulse thread SCHED_FIFO priority 50 under the packaged unit (LimitRTPRIO=50)";; esac;;
    *) failed "deb: pulse thread SCHED_FIFO 50 under the packaged unit" "$(echo "$o" | grep -i 'pulse thread')";; esac
case "$o" in *INSPECTING*line1*) case "$o" in *"NOT INSPECTING"*) failed "deb: grdnet status (installed CLI, default socket) answers: inspecting" "$(echo "$o" | head -3 | tr '\n' ' ')";;
                                         *) pass "deb: grdnet status (installed CLI, default socket) answers: INSPECTING, camera line1";; esac;;
    *) failed "deb: grdnet status (installed CLI, default socket) answers" "$(echo "$o" | head -5 | tr '\n' ' ')";; esac
timeout 120 dpkg --purge grdnet-edge >/tmp/dpkg-purge.log 2>&1
rc=$?
cat /tmp/dpkg-purge.log
expect "deb: dpkg --purge: exit status, service stopped" "$rc/$(systemctl show -P ActiveState grdnetd)" "0/inactive"
exit 0
