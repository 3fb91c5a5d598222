#pragma once
/* libjpeg-turbo. jpeglib.h needs stdio.h (FILE) first. Errors are turned into return codes by a
   setjmp-based error manager defined in C here, because a longjmp across Swift frames is
   undefined behaviour: every libjpeg call that can fail goes through these wrappers. */
#include <stddef.h>
#include <stdio.h>
#include <setjmp.h>
#include <string.h>
#include <stdlib.h>
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

/* The per-image memory of a decompressor, reused from frame to frame.

   libjpeg allocates everything it needs for one image (component info, the Huffman decoder's
   state, the coefficient, upsampling and colour-conversion buffers) from its JPOOL_IMAGE pool
   during jpeg_read_header/jpeg_start_decompress, and frees that pool again in
   jpeg_finish_decompress/jpeg_abort_decompress: with the library's own memory manager every
   decoded frame costs a few dozen malloc/free pairs. cinfo->mem is a struct of method pointers
   that the library itself always calls through (alloc_small, alloc_large, alloc_sarray,
   alloc_barray, free_pool), so after jpeg_create_decompress we keep a copy of the library's
   methods and install ours:

   - JPOOL_IMAGE requests are served by bumping an offset in one arena, aligned to 64 bytes (the
     library aligns to 32 for its AVX2 code); sample rows are padded to 64 samples, as the library
     pads them, so its SIMD code may read past the row end exactly as it does with its own pool.
   - free_pool(JPOOL_IMAGE) calls the library's free_pool (for whatever it allocated itself) and
     then rewinds the arena to 0. Nothing is freed per frame.
   - A request that does not fit goes to the library's own method (it is correct, it just
     mallocs) and its size is remembered; at the next free_pool(JPOOL_IMAGE) the arena is
     replaced by one large enough for the whole image plus a quarter. So the first frame or two of
     a new geometry allocate, and every later frame of the same geometry allocates nothing.
   - JPOOL_PERMANENT requests (quantisation/Huffman tables, the source manager: once per decoder)
     go to the library unchanged.
   - Virtual arrays (request_virt_sarray/barray, realize_virt_arrays) stay the library's: they are
     used for progressive and multi-scan JPEGs, whose whole coefficient image must be buffered;
     the library allocates their storage with its own internal functions (not through these
     method pointers), so progressive frames decode correctly but allocate per frame. They are
     counted (virtual_arrays) so that a camera sending progressive JPEGs shows up in the
     allocation figures instead of silently breaking the zero. Cameras send baseline MJPEG.
   - Errors: error_exit longjmps out of the library; the wrappers below jpeg_abort_decompress,
     which calls free_pool(JPOOL_IMAGE): the arena is rewound exactly as after a good frame, and
     the decoder stays usable. jpeg_destroy_decompress (self_destruct) frees the library's pools
     with its internal functions; the arena is freed by grd_jpeg_decoder_destroy. */
#define GRD_JPEG_ARENA_ALIGN ((size_t)64)
#define GRD_JPEG_ARENA_MAX ((size_t)32 << 20)

typedef struct grd_jpeg_arena {
    unsigned char *raw;          /* malloc'ed block (NULL before the first image) */
    unsigned char *base;         /* raw aligned to GRD_JPEG_ARENA_ALIGN */
    size_t size;                 /* usable bytes from base */
    size_t used;
    size_t overflow;             /* bytes requested this image that did not fit */
    size_t high_water;           /* most bytes one image needed */
    unsigned long fallbacks;     /* requests served by the library's pool (cumulative) */
    unsigned long virtual_arrays;/* virtual arrays requested (progressive/multi-scan images) */
    unsigned long grows;         /* times the arena was replaced by a larger one */
    struct jpeg_memory_mgr lib;  /* the library's own methods */
} grd_jpeg_arena;

/* A decompressor plus its error state, created once and reused for every frame. cinfo must stay
   the first member: the memory methods get the cinfo pointer and find the arena from it. */
typedef struct grd_jpeg_decoder {
    struct jpeg_decompress_struct cinfo;
    grd_jpeg_error err;
    grd_jpeg_arena arena;
} grd_jpeg_decoder;

static inline size_t grd_jpeg_round_up(size_t n) {
    return (n + GRD_JPEG_ARENA_ALIGN - 1) & ~(GRD_JPEG_ARENA_ALIGN - 1);
}

/* n bytes from the arena, or NULL (and n remembered as overflow) when it is full. */
static inline void *grd_jpeg_arena_take(grd_jpeg_arena *a, size_t n) {
    size_t need = grd_jpeg_round_up(n);
    if (need < n) return NULL; /* wrapped around: let the library refuse it */
    if (a->base != NULL && need <= a->size - a->used) {
        void *p = a->base + a->used;
        a->used += need;
        return p;
    }
    a->overflow += need;
    return NULL;
}

static void *grd_jpeg_alloc_small(j_common_ptr cinfo, int pool_id, size_t n) {
    grd_jpeg_arena *a = &((grd_jpeg_decoder *)cinfo)->arena;
    if (pool_id == JPOOL_IMAGE) {
        void *p = grd_jpeg_arena_take(a, n);
        if (p != NULL) return p;
        a->fallbacks++;
    }
    return (*a->lib.alloc_small)(cinfo, pool_id, n);
}

static void *grd_jpeg_alloc_large(j_common_ptr cinfo, int pool_id, size_t n) {
    grd_jpeg_arena *a = &((grd_jpeg_decoder *)cinfo)->arena;
    if (pool_id == JPOOL_IMAGE) {
        void *p = grd_jpeg_arena_take(a, n);
        if (p != NULL) return p;
        a->fallbacks++;
    }
    return (*a->lib.alloc_large)(cinfo, pool_id, n);
}

/* numrows rows of row_bytes (a multiple of the alignment) plus the row pointers, or NULL. */
static inline void **grd_jpeg_arena_rows(grd_jpeg_arena *a, size_t row_bytes, size_t numrows) {
    if (numrows == 0 || row_bytes == 0 || row_bytes > ((size_t)-1 / 2) / numrows) return NULL;
    size_t pointers = grd_jpeg_round_up(numrows * sizeof(void *));
    size_t total = pointers + row_bytes * numrows;
    if (a->base == NULL || total > a->size - a->used) { a->overflow += total; return NULL; }
    void **rows = (void **)(a->base + a->used);
    unsigned char *data = a->base + a->used + pointers;
    a->used += total;
    for (size_t i = 0; i < numrows; i++) rows[i] = data + i * row_bytes;
    return rows;
}

static JSAMPARRAY grd_jpeg_alloc_sarray(j_common_ptr cinfo, int pool_id, JDIMENSION samplesperrow,
                                        JDIMENSION numrows) {
    grd_jpeg_arena *a = &((grd_jpeg_decoder *)cinfo)->arena;
    if (pool_id == JPOOL_IMAGE) {
        size_t row_bytes = grd_jpeg_round_up((size_t)samplesperrow * sizeof(JSAMPLE));
        void **rows = grd_jpeg_arena_rows(a, row_bytes, numrows);
        if (rows != NULL) return (JSAMPARRAY)rows;
        a->fallbacks++;
    }
    return (*a->lib.alloc_sarray)(cinfo, pool_id, samplesperrow, numrows);
}

static JBLOCKARRAY grd_jpeg_alloc_barray(j_common_ptr cinfo, int pool_id, JDIMENSION blocksperrow,
                                         JDIMENSION numrows) {
    grd_jpeg_arena *a = &((grd_jpeg_decoder *)cinfo)->arena;
    if (pool_id == JPOOL_IMAGE) {
        size_t row_bytes = grd_jpeg_round_up((size_t)blocksperrow * sizeof(JBLOCK));
        void **rows = grd_jpeg_arena_rows(a, row_bytes, numrows);
        if (rows != NULL) return (JBLOCKARRAY)rows;
        a->fallbacks++;
    }
    return (*a->lib.alloc_barray)(cinfo, pool_id, blocksperrow, numrows);
}

static jvirt_sarray_ptr grd_jpeg_request_virt_sarray(j_common_ptr cinfo, int pool_id, boolean pre_zero,
                                                     JDIMENSION samplesperrow, JDIMENSION numrows,
                                                     JDIMENSION maxaccess) {
    grd_jpeg_arena *a = &((grd_jpeg_decoder *)cinfo)->arena;
    a->virtual_arrays++;
    return (*a->lib.request_virt_sarray)(cinfo, pool_id, pre_zero, samplesperrow, numrows, maxaccess);
}

static jvirt_barray_ptr grd_jpeg_request_virt_barray(j_common_ptr cinfo, int pool_id, boolean pre_zero,
                                                     JDIMENSION blocksperrow, JDIMENSION numrows,
                                                     JDIMENSION maxaccess) {
    grd_jpeg_arena *a = &((grd_jpeg_decoder *)cinfo)->arena;
    a->virtual_arrays++;
    return (*a->lib.request_virt_barray)(cinfo, pool_id, pre_zero, blocksperrow, numrows, maxaccess);
}

static void grd_jpeg_free_pool(j_common_ptr cinfo, int pool_id) {
    grd_jpeg_arena *a = &((grd_jpeg_decoder *)cinfo)->arena;
    (*a->lib.free_pool)(cinfo, pool_id);
    if (pool_id != JPOOL_IMAGE) return;
    size_t needed = a->used + a->overflow;
    if (needed > a->high_water) a->high_water = needed;
    /* A damaged header can claim a huge image: the arena does not grow past GRD_JPEG_ARENA_MAX
       (such images keep being served by the library's pool) so one bad frame cannot pin memory. */
    if (a->overflow > 0 && needed <= GRD_JPEG_ARENA_MAX) {
        size_t want = grd_jpeg_round_up(needed + needed / 4 + 4096);
        unsigned char *raw = (unsigned char *)malloc(want + GRD_JPEG_ARENA_ALIGN);
        if (raw != NULL) {
            free(a->raw);
            a->raw = raw;
            a->base = (unsigned char *)(((size_t)raw + GRD_JPEG_ARENA_ALIGN - 1) & ~(GRD_JPEG_ARENA_ALIGN - 1));
            a->size = want;
            a->grows++;
        } /* else keep the old arena: the library's pool keeps serving what does not fit */
    }
    a->used = 0;
    a->overflow = 0;
}

static inline int grd_jpeg_decoder_init(grd_jpeg_decoder *d) {
    memset(d, 0, sizeof *d);
    d->cinfo.err = jpeg_std_error(&d->err.pub);
    d->err.pub.error_exit = grd_jpeg_error_exit;
    d->err.pub.emit_message = grd_jpeg_emit_message;
    if (setjmp(d->err.jump)) return -1;
    jpeg_create_decompress(&d->cinfo);
    d->arena.lib = *d->cinfo.mem;
    d->cinfo.mem->alloc_small = grd_jpeg_alloc_small;
    d->cinfo.mem->alloc_large = grd_jpeg_alloc_large;
    d->cinfo.mem->alloc_sarray = grd_jpeg_alloc_sarray;
    d->cinfo.mem->alloc_barray = grd_jpeg_alloc_barray;
    d->cinfo.mem->request_virt_sarray = grd_jpeg_request_virt_sarray;
    d->cinfo.mem->request_virt_barray = grd_jpeg_request_virt_barray;
    d->cinfo.mem->free_pool = grd_jpeg_free_pool;
    return 0;
}

static inline void grd_jpeg_decoder_destroy(grd_jpeg_decoder *d) {
    jpeg_destroy_decompress(&d->cinfo);
    free(d->arena.raw);
    d->arena.raw = NULL;
    d->arena.base = NULL;
    d->arena.size = 0;
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
