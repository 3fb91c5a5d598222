#pragma once
/* libv4l2 + the V4L2 UAPI for Swift. ioctl request codes are function-like macros and
   v4l2_ioctl is variadic: neither imports into Swift, so they are re-exported here with fixed
   signatures. */
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <linux/videodev2.h>
#include <libv4l2.h>

static const unsigned long GRD_VIDIOC_QUERYCAP = VIDIOC_QUERYCAP;
static const unsigned long GRD_VIDIOC_ENUM_FMT = VIDIOC_ENUM_FMT;
static const unsigned long GRD_VIDIOC_ENUM_FRAMESIZES = VIDIOC_ENUM_FRAMESIZES;
static const unsigned long GRD_VIDIOC_ENUM_FRAMEINTERVALS = VIDIOC_ENUM_FRAMEINTERVALS;
static const unsigned long GRD_VIDIOC_G_FMT = VIDIOC_G_FMT;
static const unsigned long GRD_VIDIOC_S_FMT = VIDIOC_S_FMT;
static const unsigned long GRD_VIDIOC_TRY_FMT = VIDIOC_TRY_FMT;
static const unsigned long GRD_VIDIOC_G_PARM = VIDIOC_G_PARM;
static const unsigned long GRD_VIDIOC_S_PARM = VIDIOC_S_PARM;
static const unsigned long GRD_VIDIOC_REQBUFS = VIDIOC_REQBUFS;
static const unsigned long GRD_VIDIOC_QUERYBUF = VIDIOC_QUERYBUF;
static const unsigned long GRD_VIDIOC_QBUF = VIDIOC_QBUF;
static const unsigned long GRD_VIDIOC_DQBUF = VIDIOC_DQBUF;
static const unsigned long GRD_VIDIOC_STREAMON = VIDIOC_STREAMON;
static const unsigned long GRD_VIDIOC_STREAMOFF = VIDIOC_STREAMOFF;
static const unsigned long GRD_VIDIOC_G_CTRL = VIDIOC_G_CTRL;
static const unsigned long GRD_VIDIOC_S_CTRL = VIDIOC_S_CTRL;
static const unsigned long GRD_VIDIOC_QUERYCTRL = VIDIOC_QUERYCTRL;
static const unsigned long GRD_VIDIOC_QUERYMENU = VIDIOC_QUERYMENU;
static const unsigned long GRD_VIDIOC_G_INPUT = VIDIOC_G_INPUT;
static const unsigned long GRD_VIDIOC_ENUMINPUT = VIDIOC_ENUMINPUT;

/* Control ids are nested macro arithmetic, which the Swift importer does not evaluate. */
static const uint32_t GRD_CID_BRIGHTNESS = V4L2_CID_BRIGHTNESS;
static const uint32_t GRD_CID_AUTO_WHITE_BALANCE = V4L2_CID_AUTO_WHITE_BALANCE;
static const uint32_t GRD_CID_WHITE_BALANCE_TEMPERATURE = V4L2_CID_WHITE_BALANCE_TEMPERATURE;
static const uint32_t GRD_CID_EXPOSURE = V4L2_CID_EXPOSURE;
static const uint32_t GRD_CID_AUTOGAIN = V4L2_CID_AUTOGAIN;
static const uint32_t GRD_CID_GAIN = V4L2_CID_GAIN;
static const uint32_t GRD_CID_POWER_LINE_FREQUENCY = V4L2_CID_POWER_LINE_FREQUENCY;
static const uint32_t GRD_CID_EXPOSURE_AUTO = V4L2_CID_EXPOSURE_AUTO;
static const uint32_t GRD_CID_EXPOSURE_ABSOLUTE = V4L2_CID_EXPOSURE_ABSOLUTE;
static const uint32_t GRD_CID_EXPOSURE_AUTO_PRIORITY = V4L2_CID_EXPOSURE_AUTO_PRIORITY;
static const uint32_t GRD_CID_FOCUS_ABSOLUTE = V4L2_CID_FOCUS_ABSOLUTE;
static const uint32_t GRD_CID_FOCUS_AUTO = V4L2_CID_FOCUS_AUTO;
static const uint32_t GRD_CTRL_FLAG_NEXT_CTRL = V4L2_CTRL_FLAG_NEXT_CTRL;

static inline int grd_v4l2_ioctl(int fd, unsigned long request, void *arg) {
    return v4l2_ioctl(fd, request, arg);
}
/* Opens with open(2) then hands the fd to libv4l2 (v4l2_open is variadic). Conversion is
   disabled: MJPEG is decoded by us with DCT scaling, not by libv4l's CPU converter. */
static inline int grd_v4l2_fd_open(int fd) {
    return v4l2_fd_open(fd, V4L2_DISABLE_CONVERSION);
}
static inline uint32_t grd_fourcc(char a, char b, char c, char d) {
    return v4l2_fourcc(a, b, c, d);
}
