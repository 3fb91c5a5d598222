# The real vivid V4L2 driver: a webcam-like /dev/video0 that streams.
. "$(dirname "$0")/lib.sh"
check "vivid: modprobe" modprobe vivid $VIVID_ARGS
check "vivid: /dev/video0 is a character device" test -c /dev/video0
v4l2-ctl -d /dev/video0 --set-fmt-video=width=640,height=480,pixelformat=YUYV
fmt="$(v4l2-ctl -d /dev/video0 --get-fmt-video)"
expect "vivid: size read back" "$(echo "$fmt" | sed -n 's/.*Width\/Height *: *//p')" "640/480"
expect "vivid: pixel format read back" "$(echo "$fmt" | sed -n "s/.*Pixel Format *: *'\([A-Z0-9]*\)'.*/\1/p")" "YUYV"
rm -f /tmp/frames.yuyv
check "vivid: v4l2-ctl mmap stream of 10 frames" timeout 30 v4l2-ctl -d /dev/video0 --stream-mmap --stream-count=10 --stream-to=/tmp/frames.yuyv
expect "vivid: 10 frames of 640x480 YUYV bytes" "$(stat -c %s /tmp/frames.yuyv 2>/dev/null)" $((10 * 640 * 480 * 2))
check "vivid: has the disconnect control (simulated unplug)" sh -c "v4l2-ctl -d /dev/video0 -l | grep -q '^ *disconnect '"
