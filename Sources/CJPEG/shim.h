#pragma once
/* libjpeg-turbo. jpeglib.h needs stdio.h (FILE) first. Errors are turned into return codes by a
   setjmp-based error manager defined in C here, because a longjmp across Swift frames is
   undefined behaviour: every libjpeg call that can fail goes through these wrappers. */
#include <stddef.h>
#include <stdio.h>
#include <setjmp.h>
#include <string.h>
#include <jpeglib.h>

typedef struct grd_jpeg_error {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    int warnings;
} grd_jpeg_error;

static void grd_jpeg_error_exit(j_common_ptr cinfo) {
    grd_jpeg_error *err = (grd_jpeg_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, err->message);
    longjmp(err->jump, 1);
}

static void grd_jpeg_emit_message(j_common_ptr cinfo, int level) {
    grd_jpeg_error *err = (grd_jpeg_error *)cinfo->err;
    if (level < 0) { /* corrupt-data warning: remember it, keep the first message */
        if (err->warnings++ == 0) (*cinfo->err->format_message)(cinfo, err->message);
    }
}

/* A decompressor plus its error state, created once and reused for every frame. */
typedef struct grd_jpeg_decoder {
    struct jpeg_decompress_struct cinfo;
    grd_jpeg_error err;
} grd_jpeg_decoder;

static inline int grd_jpeg_decoder_init(grd_jpeg_decoder *d) {
    memset(d, 0, sizeof *d);
    d->cinfo.err = jpeg_std_error(&d->err.pub);
    d->err.pub.error_exit = grd_jpeg_error_exit;
    d->err.pub.emit_message = grd_jpeg_emit_message;
    if (setjmp(d->err.jump)) return -1;
    jpeg_create_decompress(&d->cinfo);
    return 0;
}

static inline void grd_jpeg_decoder_destroy(grd_jpeg_decoder *d) {
    jpeg_destroy_decompress(&d->cinfo);
}

/* Reads the header of an in-memory JPEG and sets up the output (grey or RGB) at 1/scale_denom
   size (1, 2, 4 or 8). Returns 0 and fills the output size, or -1 with d->err.message set. */
static inline int grd_jpeg_start(grd_jpeg_decoder *d, const unsigned char *data, size_t size,
                                 int want_grey, int scale_denom, long max_pixels,
                                 int *out_width, int *out_height, int *out_components) {
    d->err.warnings = 0;
    d->err.message[0] = 0;
    if (setjmp(d->err.jump)) { jpeg_abort_decompress(&d->cinfo); return -1; }
    /* libjpeg has no backing store: past this it fails cleanly instead of exhausting memory. */
    d->cinfo.mem->max_memory_to_use = 512L * 1024 * 1024;
    jpeg_mem_src(&d->cinfo, data, (unsigned long)size);
    jpeg_read_header(&d->cinfo, TRUE);
    /* A damaged header can claim 65535x65535; refuse before libjpeg allocates for it. */
    if ((long)d->cinfo.image_width * (long)d->cinfo.image_height > max_pixels) {
        snprintf(d->err.message, sizeof d->err.message, "implausible image size %ux%u",
                 (unsigned)d->cinfo.image_width, (unsigned)d->cinfo.image_height);
        jpeg_abort_decompress(&d->cinfo);
        return -1;
    }
    d->cinfo.out_color_space = want_grey ? JCS_GRAYSCALE : JCS_RGB;
    d->cinfo.scale_num = 1;
    d->cinfo.scale_denom = (unsigned int)scale_denom;
    d->cinfo.dct_method = JDCT_ISLOW;
    jpeg_start_decompress(&d->cinfo);
    *out_width = (int)d->cinfo.output_width;
    *out_height = (int)d->cinfo.output_height;
    *out_components = d->cinfo.output_components;
    return 0;
}

/* Abandons a decode started with grd_jpeg_start (the decompressor stays reusable). */
static inline void grd_jpeg_abort(grd_jpeg_decoder *d) {
    jpeg_abort_decompress(&d->cinfo);
}

/* Decodes all rows into dst (row stride in bytes). Returns 0, or -1 with d->err.message set.
   Corrupt-data warnings are reported through d->err.warnings. */
static inline int grd_jpeg_finish(grd_jpeg_decoder *d, unsigned char *dst, size_t stride) {
    if (setjmp(d->err.jump)) { jpeg_abort_decompress(&d->cinfo); return -1; }
    while (d->cinfo.output_scanline < d->cinfo.output_height) {
        JSAMPROW row = dst + (size_t)d->cinfo.output_scanline * stride;
        jpeg_read_scanlines(&d->cinfo, &row, 1);
    }
    jpeg_finish_decompress(&d->cinfo);
    return 0;
}

/* Encodes grey (components 1) or RGB (3) pixels to a malloc'ed JPEG; free with free(). */
static inline int grd_jpeg_encode(const unsigned char *pixels, int width, int height,
                                  int components, int quality,
                                  unsigned char **out, unsigned long *out_size,
                                  char *message /* JMSG_LENGTH_MAX */) {
    struct jpeg_compress_struct c;
    grd_jpeg_error err;
    memset(&c, 0, sizeof c);
    memset(&err, 0, sizeof err);
    c.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = grd_jpeg_error_exit;
    *out = NULL; *out_size = 0;
    if (setjmp(err.jump)) {
        strncpy(message, err.message, JMSG_LENGTH_MAX - 1);
        jpeg_destroy_compress(&c);
        return -1;
    }
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, out, out_size);
    c.image_width = (JDIMENSION)width;
    c.image_height = (JDIMENSION)height;
    c.input_components = components;
    c.in_color_space = components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)c.next_scanline * (size_t)width * (size_t)components);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return 0;
}
