#pragma once
/* One small C API over libgpiod v1 (1.6: Debian 12, Raspberry Pi OS bookworm) and v2 (2.x:
   trixie), chosen at compile time from the installed <gpiod.h>: only v1 defines
   GPIOD_LINE_BULK_MAX_LINES. Swift sees only the grd_gpio_* functions below, so the rest of
   the product is written once. All functions return -1 / NULL with errno set on failure. */
#include <gpiod.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>

/* Timer slack of the calling thread (prctl is variadic: Swift cannot call it). The reject
   scheduler cuts it from the default 50 us so its absolute-deadline sleeps end on time. */
static inline int grd_set_timer_slack_ns(unsigned long ns) {
    return prctl(PR_SET_TIMERSLACK, ns, 0UL, 0UL, 0UL);
}

/* Name of the calling thread (at most 15 bytes; shown by `ps -T` and /proc/PID/task/TID/comm). */
static inline int grd_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0UL, 0UL, 0UL);
}

/* A non-blocking, close-on-exec pipe (fcntl is variadic too): the input lines' wake-up. */
#include <fcntl.h>
#include <unistd.h>
static inline int grd_wake_pipe(int fds[2]) {
    if (pipe(fds) < 0) return -1;
    for (int i = 0; i < 2; i++) {
        if (fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK) < 0 ||
            fcntl(fds[i], F_SETFD, FD_CLOEXEC) < 0) {
            int e = errno; close(fds[0]); close(fds[1]); errno = e; return -1;
        }
    }
    return 0;
}

enum { GRD_GPIO_BIAS_AS_IS = 0, GRD_GPIO_BIAS_DISABLED = 1, GRD_GPIO_BIAS_PULL_UP = 2,
       GRD_GPIO_BIAS_PULL_DOWN = 3 };
enum { GRD_GPIO_DRIVE_PUSH_PULL = 0, GRD_GPIO_DRIVE_OPEN_DRAIN = 1, GRD_GPIO_DRIVE_OPEN_SOURCE = 2 };
enum { GRD_GPIO_EDGE_NONE = 0, GRD_GPIO_EDGE_RISING = 1, GRD_GPIO_EDGE_FALLING = 2,
       GRD_GPIO_EDGE_BOTH = 3 };

typedef struct grd_gpio_line grd_gpio_line;

/* What `grdnet gpio` shows about a chip and a line (gpioinfo's columns). Strings are cut to fit. */
typedef struct {
    char name[64];
    char label[64];
    unsigned int num_lines;
} grd_gpio_chip_desc;

typedef struct {
    char name[64];      /* "" when unnamed */
    char consumer[64];  /* "" when unused or unnamed consumer */
    int used;
    int output;         /* 1 output, 0 input */
    int active_low;
    int bias;           /* GRD_GPIO_BIAS_* (AS_IS = unknown) */
    int drive;          /* GRD_GPIO_DRIVE_* */
} grd_gpio_line_desc;

static inline void grd_gpio_copy_string(char *dst, size_t size, const char *src) {
    if (!src) src = "";
    strncpy(dst, src, size - 1);
    dst[size - 1] = 0;
}

/* A chip opened for information only (listing, line lookup); closed with grd_gpio_chip_close. */
static inline struct gpiod_chip *grd_gpio_chip_open(const char *path) { return gpiod_chip_open(path); }
static inline void grd_gpio_chip_close(struct gpiod_chip *chip) { if (chip) gpiod_chip_close(chip); }

#ifdef GPIOD_LINE_BULK_MAX_LINES /* ------------------------------ libgpiod v1 */
struct grd_gpio_line { struct gpiod_chip *chip; struct gpiod_line *line; };

static inline int grd_gpio_api_version(void) { return 1; }
static inline const char *grd_gpio_library_version(void) { return gpiod_version_string(); }

static inline int grd_gpio_v1_flags(int active_low, int bias, int drive) {
    int f = active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
    if (bias == GRD_GPIO_BIAS_DISABLED) f |= GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE;
    if (bias == GRD_GPIO_BIAS_PULL_UP) f |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP;
    if (bias == GRD_GPIO_BIAS_PULL_DOWN) f |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN;
    if (drive == GRD_GPIO_DRIVE_OPEN_DRAIN) f |= GPIOD_LINE_REQUEST_FLAG_OPEN_DRAIN;
    if (drive == GRD_GPIO_DRIVE_OPEN_SOURCE) f |= GPIOD_LINE_REQUEST_FLAG_OPEN_SOURCE;
    return f;
}

static inline grd_gpio_line *grd_gpio_request(const char *chip_path, unsigned int offset,
        const char *consumer, int output, int initial_value, int active_low, int bias,
        int drive, int edge) {
    grd_gpio_line *h = (grd_gpio_line *)calloc(1, sizeof *h);
    if (!h) return NULL;
    h->chip = gpiod_chip_open(chip_path);
    if (!h->chip) goto fail;
    h->line = gpiod_chip_get_line(h->chip, offset);
    if (!h->line) goto fail;
    struct gpiod_line_request_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.consumer = consumer;
    cfg.flags = grd_gpio_v1_flags(active_low, bias, drive);
    if (output) cfg.request_type = GPIOD_LINE_REQUEST_DIRECTION_OUTPUT;
    else if (edge == GRD_GPIO_EDGE_RISING) cfg.request_type = GPIOD_LINE_REQUEST_EVENT_RISING_EDGE;
    else if (edge == GRD_GPIO_EDGE_FALLING) cfg.request_type = GPIOD_LINE_REQUEST_EVENT_FALLING_EDGE;
    else if (edge == GRD_GPIO_EDGE_BOTH) cfg.request_type = GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES;
    else cfg.request_type = GPIOD_LINE_REQUEST_DIRECTION_INPUT;
    if (gpiod_line_request(h->line, &cfg, initial_value) < 0) goto fail;
    return h;
fail: {
        int e = errno;
        if (h->chip) gpiod_chip_close(h->chip);
        free(h);
        errno = e;
        return NULL;
    }
}
static inline int grd_gpio_set(grd_gpio_line *h, int value) {
    return gpiod_line_set_value(h->line, value);
}
static inline int grd_gpio_get(grd_gpio_line *h) { return gpiod_line_get_value(h->line); }
/* A pollable fd for edge events (input lines requested with an edge), or -1. */
static inline int grd_gpio_event_fd(grd_gpio_line *h) { return gpiod_line_event_get_fd(h->line); }
/* Reads one pending edge: 1 rising, 2 falling; the kernel's timestamp in ns. */
static inline int grd_gpio_read_event(grd_gpio_line *h, unsigned long long *timestamp_ns) {
    struct gpiod_line_event ev;
    if (gpiod_line_event_read(h->line, &ev) < 0) return -1;
    *timestamp_ns = (unsigned long long)ev.ts.tv_sec * 1000000000ull + (unsigned long long)ev.ts.tv_nsec;
    return ev.event_type == GPIOD_LINE_EVENT_RISING_EDGE ? GRD_GPIO_EDGE_RISING : GRD_GPIO_EDGE_FALLING;
}
static inline void grd_gpio_release(grd_gpio_line *h) {
    if (!h) return;
    gpiod_line_release(h->line);
    gpiod_chip_close(h->chip);
    free(h);
}
static inline int grd_gpio_chip_describe(struct gpiod_chip *chip, grd_gpio_chip_desc *out) {
    grd_gpio_copy_string(out->name, sizeof out->name, gpiod_chip_name(chip));
    grd_gpio_copy_string(out->label, sizeof out->label, gpiod_chip_label(chip));
    out->num_lines = gpiod_chip_num_lines(chip);
    return 0;
}
static inline int grd_gpio_line_describe(struct gpiod_chip *chip, unsigned int offset, grd_gpio_line_desc *out) {
    struct gpiod_line *line = gpiod_chip_get_line(chip, offset);
    if (!line) return -1;
    gpiod_line_update(line);
    grd_gpio_copy_string(out->name, sizeof out->name, gpiod_line_name(line));
    grd_gpio_copy_string(out->consumer, sizeof out->consumer, gpiod_line_consumer(line));
    out->used = gpiod_line_is_used(line);
    out->output = gpiod_line_direction(line) == GPIOD_LINE_DIRECTION_OUTPUT;
    out->active_low = gpiod_line_active_state(line) == GPIOD_LINE_ACTIVE_STATE_LOW;
    int b = gpiod_line_bias(line);
    out->bias = b == GPIOD_LINE_BIAS_DISABLE ? GRD_GPIO_BIAS_DISABLED
        : b == GPIOD_LINE_BIAS_PULL_UP ? GRD_GPIO_BIAS_PULL_UP
        : b == GPIOD_LINE_BIAS_PULL_DOWN ? GRD_GPIO_BIAS_PULL_DOWN : GRD_GPIO_BIAS_AS_IS;
    out->drive = gpiod_line_is_open_drain(line) ? GRD_GPIO_DRIVE_OPEN_DRAIN
        : gpiod_line_is_open_source(line) ? GRD_GPIO_DRIVE_OPEN_SOURCE : GRD_GPIO_DRIVE_PUSH_PULL;
    return 0;
}
/* The offset of the line called `name` on this chip, or -1 (errno ENOENT). */
static inline int grd_gpio_find_line(struct gpiod_chip *chip, const char *name) {
    struct gpiod_line *line = gpiod_chip_find_line(chip, name);
    if (!line) { if (!errno) errno = ENOENT; return -1; }
    return (int)gpiod_line_offset(line);
}
#else /* ------------------------------------------------------------- libgpiod v2 */
struct grd_gpio_line {
    struct gpiod_chip *chip;
    struct gpiod_line_request *req;
    struct gpiod_edge_event_buffer *events;
    unsigned int offset;
};

static inline int grd_gpio_api_version(void) { return 2; }
static inline const char *grd_gpio_library_version(void) { return gpiod_api_version(); }

static inline grd_gpio_line *grd_gpio_request(const char *chip_path, unsigned int offset,
        const char *consumer, int output, int initial_value, int active_low, int bias,
        int drive, int edge) {
    grd_gpio_line *h = (grd_gpio_line *)calloc(1, sizeof *h);
    struct gpiod_line_settings *s = NULL;
    struct gpiod_line_config *lc = NULL;
    struct gpiod_request_config *rc = NULL;
    int e = 0;
    if (!h) return NULL;
    h->offset = offset;
    h->chip = gpiod_chip_open(chip_path);
    if (!h->chip) goto out;
    s = gpiod_line_settings_new();
    lc = gpiod_line_config_new();
    rc = gpiod_request_config_new();
    if (!s || !lc || !rc) goto out;
    gpiod_line_settings_set_direction(s, output ? GPIOD_LINE_DIRECTION_OUTPUT : GPIOD_LINE_DIRECTION_INPUT);
    gpiod_line_settings_set_active_low(s, active_low != 0);
    if (bias == GRD_GPIO_BIAS_DISABLED) gpiod_line_settings_set_bias(s, GPIOD_LINE_BIAS_DISABLED);
    if (bias == GRD_GPIO_BIAS_PULL_UP) gpiod_line_settings_set_bias(s, GPIOD_LINE_BIAS_PULL_UP);
    if (bias == GRD_GPIO_BIAS_PULL_DOWN) gpiod_line_settings_set_bias(s, GPIOD_LINE_BIAS_PULL_DOWN);
    if (output) {
        if (drive == GRD_GPIO_DRIVE_OPEN_DRAIN) gpiod_line_settings_set_drive(s, GPIOD_LINE_DRIVE_OPEN_DRAIN);
        if (drive == GRD_GPIO_DRIVE_OPEN_SOURCE) gpiod_line_settings_set_drive(s, GPIOD_LINE_DRIVE_OPEN_SOURCE);
        gpiod_line_settings_set_output_value(s, initial_value ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE);
    } else if (edge != GRD_GPIO_EDGE_NONE) {
        gpiod_line_settings_set_edge_detection(s, edge == GRD_GPIO_EDGE_RISING ? GPIOD_LINE_EDGE_RISING
            : edge == GRD_GPIO_EDGE_FALLING ? GPIOD_LINE_EDGE_FALLING : GPIOD_LINE_EDGE_BOTH);
        gpiod_line_settings_set_event_clock(s, GPIOD_LINE_CLOCK_MONOTONIC);
        h->events = gpiod_edge_event_buffer_new(16);
        if (!h->events) goto out;
    }
    if (gpiod_line_config_add_line_settings(lc, &offset, 1, s) < 0) goto out;
    gpiod_request_config_set_consumer(rc, consumer);
    h->req = gpiod_chip_request_lines(h->chip, rc, lc);
out:
    e = errno;
    gpiod_line_settings_free(s);
    gpiod_line_config_free(lc);
    gpiod_request_config_free(rc);
    if (!h->req) {
        if (h->events) gpiod_edge_event_buffer_free(h->events);
        if (h->chip) gpiod_chip_close(h->chip);
        free(h);
        errno = e ? e : EINVAL;
        return NULL;
    }
    return h;
}
static inline int grd_gpio_set(grd_gpio_line *h, int value) {
    return gpiod_line_request_set_value(h->req, h->offset,
        value ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE);
}
static inline int grd_gpio_get(grd_gpio_line *h) {
    return (int)gpiod_line_request_get_value(h->req, h->offset);
}
static inline int grd_gpio_event_fd(grd_gpio_line *h) {
    return h->events ? gpiod_line_request_get_fd(h->req) : -1;
}
static inline int grd_gpio_read_event(grd_gpio_line *h, unsigned long long *timestamp_ns) {
    if (!h->events) { errno = EINVAL; return -1; }
    if (gpiod_line_request_read_edge_events(h->req, h->events, 1) < 1) return -1;
    struct gpiod_edge_event *ev = gpiod_edge_event_buffer_get_event(h->events, 0);
    *timestamp_ns = (unsigned long long)gpiod_edge_event_get_timestamp_ns(ev);
    return gpiod_edge_event_get_event_type(ev) == GPIOD_EDGE_EVENT_RISING_EDGE
        ? GRD_GPIO_EDGE_RISING : GRD_GPIO_EDGE_FALLING;
}
static inline void grd_gpio_release(grd_gpio_line *h) {
    if (!h) return;
    gpiod_line_request_release(h->req);
    if (h->events) gpiod_edge_event_buffer_free(h->events);
    gpiod_chip_close(h->chip);
    free(h);
}
static inline int grd_gpio_chip_describe(struct gpiod_chip *chip, grd_gpio_chip_desc *out) {
    struct gpiod_chip_info *info = gpiod_chip_get_info(chip);
    if (!info) return -1;
    grd_gpio_copy_string(out->name, sizeof out->name, gpiod_chip_info_get_name(info));
    grd_gpio_copy_string(out->label, sizeof out->label, gpiod_chip_info_get_label(info));
    out->num_lines = (unsigned int)gpiod_chip_info_get_num_lines(info);
    gpiod_chip_info_free(info);
    return 0;
}
static inline int grd_gpio_line_describe(struct gpiod_chip *chip, unsigned int offset, grd_gpio_line_desc *out) {
    struct gpiod_line_info *info = gpiod_chip_get_line_info(chip, offset);
    if (!info) return -1;
    grd_gpio_copy_string(out->name, sizeof out->name, gpiod_line_info_get_name(info));
    grd_gpio_copy_string(out->consumer, sizeof out->consumer, gpiod_line_info_get_consumer(info));
    out->used = gpiod_line_info_is_used(info);
    out->output = gpiod_line_info_get_direction(info) == GPIOD_LINE_DIRECTION_OUTPUT;
    out->active_low = gpiod_line_info_is_active_low(info);
    enum gpiod_line_bias b = gpiod_line_info_get_bias(info);
    out->bias = b == GPIOD_LINE_BIAS_DISABLED ? GRD_GPIO_BIAS_DISABLED
        : b == GPIOD_LINE_BIAS_PULL_UP ? GRD_GPIO_BIAS_PULL_UP
        : b == GPIOD_LINE_BIAS_PULL_DOWN ? GRD_GPIO_BIAS_PULL_DOWN : GRD_GPIO_BIAS_AS_IS;
    enum gpiod_line_drive d = gpiod_line_info_get_drive(info);
    out->drive = d == GPIOD_LINE_DRIVE_OPEN_DRAIN ? GRD_GPIO_DRIVE_OPEN_DRAIN
        : d == GPIOD_LINE_DRIVE_OPEN_SOURCE ? GRD_GPIO_DRIVE_OPEN_SOURCE : GRD_GPIO_DRIVE_PUSH_PULL;
    gpiod_line_info_free(info);
    return 0;
}
static inline int grd_gpio_find_line(struct gpiod_chip *chip, const char *name) {
    return gpiod_chip_get_line_offset_from_name(chip, name);
}
#endif
