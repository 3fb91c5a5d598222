// C harness for the Swift int8 kernels under qemu-aarch64 (Tests/arm/run).
//   harness check        bit-exact comparison with a scalar C reference: fixed shapes, random
//                        shapes, worst case (-128 activations against +-127 weights)
//   harness bench c16|dot  one conv-sized GEMM (for the instruction-mix plugin); prints the MACs
//   harness bench c16t|c16p  the same GEMM with the engine's c16 kernels (half table, all channels
//                        per call; c16p: the paired one, 16-byte loads)
//   harness dot          calls the dot-product kernel once (SIGILL expected on a Cortex-A72)
//   harness sdot         the SDOT indirect-GEMM kernels (4x16/4x8 c4, indirection and window
//                        forms; Cortex-A76 build only) bit-exact against the scalar reference
//   harness bench sdot   one conv-sized indirect GEMM with them (for the instruction-mix plugin)
// Compile with -ffp-contract=off: the reference must not fuse a*b+c (Swift does not either).
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int64_t sint;
typedef void (*gemm_t)(sint rows, sint kc, const int8_t* a, sint a_stride, const void* w, int32_t zp, float slope,
                       int8_t* c, sint c_stride, sint channels);
typedef void (*pack_t)(sint n, sint k, sint kcp, const int8_t* w, const int32_t* b, const float* s, void* out);
sint grd_c16_block_bytes(sint kc);
sint grd_kc4_block_bytes(sint kc);
void grd_pack_c16(sint, sint, sint, const int8_t*, const int32_t*, const float*, void*);
void grd_pack_kc4(sint, sint, sint, const int8_t*, const int32_t*, const float*, void*);
void grd_qs8_gemm_2x8c16_halves_a72(sint, sint, const int8_t*, sint, const void*, int32_t, float, int8_t*, sint, sint);
void grd_qs8_gemm_2x4_dotloop_a76(sint, sint, const int8_t*, sint, const void*, int32_t, float, int8_t*, sint, sint);
// Only in the Cortex-A76 build of GRDKernelsDotprod (weak: null in the A72 harness).
__attribute__((weak)) sint grd_c4x8_neondot_block_bytes(sint taps, sint cin);
__attribute__((weak)) void grd_pack_c4x8_neondot(sint, sint, sint, const int8_t*, const int32_t*, const float*, void*);
__attribute__((weak)) void grd_qs8_igemm_4xn_c4_neondot(sint rows, sint taps, sint cin, const int8_t* const* ind, const void* w,
                                                        sint bb, int32_t zp, float slope, int8_t* c, sint c_stride, sint channels);
__attribute__((weak)) void grd_qs8_conv_window_4xn_c4_neondot(sint taps, sint cin, const int8_t* origin, const sint* offsets,
                                                              sint pixel_stride, const void* w, sint bb, int32_t zp, float slope,
                                                              int8_t* c, sint c_stride, sint channels);
void grd_qs8_gemm_2x8c16_a72(sint rows, sint chunks, const int8_t* a, sint a_stride, const sint* half_offsets, const void* w,
                             sint bb, int32_t zp, float slope, int8_t* c, sint c_stride, sint channels);
void grd_qs8_gemm_2x8c16_paired_a72(sint rows, sint chunks, const int8_t* a, sint a_stride, const sint* half_offsets, const void* w,
                                    sint bb, int32_t zp, float slope, int8_t* c, sint c_stride, sint channels);
void grd_im2col(sint, sint, sint, sint, sint, sint, sint, sint, const int8_t*, int8_t, sint, sint, int8_t*);

struct family { const char* name; gemm_t gemm; pack_t pack; sint (*block)(sint); int nr; };
static const struct family families[] = {
  {"a72-c16-halves", grd_qs8_gemm_2x8c16_halves_a72, grd_pack_c16, grd_c16_block_bytes, 8},
  {"a76-dotloop", grd_qs8_gemm_2x4_dotloop_a76, grd_pack_kc4, grd_kc4_block_bytes, 4},
};

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (uint32_t)(rng >> 11); }

static int8_t ref_requant(int32_t acc, float scale, int32_t zp, float slope) {
  float f = (float)acc * scale;
  if (f < 0) f = f * slope;
  if (f > 4194303.0f) f = 4194303.0f;
  if (f < -4194303.0f) f = -4194303.0f;
  long q = (long)nearbyintf(f) + zp;  // default rounding mode: half to even
  if (q < -128) q = -128;
  if (q > 127) q = 127;
  return (int8_t)q;
}

static int run_case(const struct family* f, int rows, int kc, int n, int worst, float slope, int* cases) {
  int8_t* a = malloc(2 * (size_t)kc);
  int8_t* w = malloc((size_t)n * kc);
  int32_t* b = malloc(4 * (size_t)n);
  float* s = malloc(4 * (size_t)n);
  for (int i = 0; i < 2 * kc; i++) a[i] = worst ? -128 : (int8_t)(rnd() % 256 - 128);
  for (int i = 0; i < n * kc; i++) w[i] = worst ? ((i / kc) % 2 ? -127 : 127) : (int8_t)(rnd() % 255 - 127);
  for (int i = 0; i < n; i++) { b[i] = (int32_t)(rnd() % 20001) - 10000; s[i] = worst ? 1.0f / 16384 : 0.0001f + (rnd() % 1000) * 1e-6f; }
  int32_t zp = (int32_t)(rnd() % 41) - 20;
  size_t bb = (size_t)f->block(kc);
  size_t blocks = (size_t)(n + f->nr - 1) / f->nr;
  void* packed = malloc(bb * blocks);
  f->pack(n, kc, kc, w, b, s, packed);
  int8_t* c = malloc(2 * (size_t)n);
  memset(c, 0x55, 2 * (size_t)n);
  for (int nb = 0; nb < n; nb += f->nr)
    f->gemm(rows, kc, a, kc, (char*)packed + (nb / f->nr) * bb, zp, slope, c + nb, n, n - nb < f->nr ? n - nb : f->nr);
  int bad = 0;
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < n; j++) {
      int32_t acc = b[j];
      for (int k = 0; k < kc; k++) acc += (int32_t)a[r * kc + k] * w[j * kc + k];
      if (c[r * n + j] != ref_requant(acc, s[j], zp, slope)) bad++;
    }
  if (bad) printf("FAIL %s rows=%d kc=%d n=%d worst=%d slope=%g: %d mismatches\n", f->name, rows, kc, n, worst, slope, bad);
  (*cases)++;
  free(a); free(w); free(b); free(s); free(packed); free(c);
  return bad != 0;
}

// 4 pixels x taps x cin, n channels: pixel r of tap t at t * 4 * stride + r * stride (window
// form); the indirection form gets the same pointers, with every third tap of pixel 1 moved to a
// zero-point buffer when `padded`. Both against the scalar reference; returns the mismatches.
static int run_sdot_case(int rows, int taps, int cin, int n, int worst, float slope, int padded, int* cases) {
  int k = taps * cin, stride = cin + (int)(rnd() % 3) * 4;
  size_t bytes = (size_t)taps * 4 * stride + 4;
  int8_t* in = malloc(bytes);
  int8_t* w = malloc((size_t)n * k);
  int32_t* b = malloc(4 * (size_t)n);
  float* s = malloc(4 * (size_t)n);
  int8_t zero[80];
  for (size_t i = 0; i < bytes; i++) in[i] = worst ? -128 : (int8_t)(rnd() % 256 - 128);
  for (int i = 0; i < n * k; i++) w[i] = worst ? ((i / k) % 2 ? -127 : 127) : (int8_t)(rnd() % 255 - 127);
  for (int i = 0; i < n; i++) { b[i] = (int32_t)(rnd() % 20001) - 10000; s[i] = worst ? 1.0f / (16 * k) : 0.00005f + (rnd() % 1000) * 5e-7f; }
  memset(zero, worst ? -128 : (int)(rnd() % 256) - 128, sizeof zero);
  int32_t zp = (int32_t)(rnd() % 41) - 20;
  sint bb = grd_c4x8_neondot_block_bytes(taps, cin);
  void* packed = malloc((size_t)bb * ((n + 7) / 8));
  grd_pack_c4x8_neondot(n, taps, cin, w, b, s, packed);
  const int8_t** ind = malloc(sizeof(*ind) * 4 * taps);
  sint* offsets = malloc(sizeof(sint) * taps);
  for (int t = 0; t < taps; t++) {
    offsets[t] = (sint)t * 4 * stride;
    for (int r = 0; r < 4; r++)
      ind[4 * t + r] = padded && r == 1 && t % 3 == 2 ? zero : in + offsets[t] + (r < rows ? r : rows - 1) * stride;
  }
  int8_t c[4 * 40], cw[4 * 40];
  memset(c, 0x55, sizeof c);
  memset(cw, 0x55, sizeof cw);
  grd_qs8_igemm_4xn_c4_neondot(rows, taps, cin, ind, packed, bb, zp, slope, c, n, n);
  if (rows == 4 && !padded) grd_qs8_conv_window_4xn_c4_neondot(taps, cin, in, offsets, stride, packed, bb, zp, slope, cw, n, n);
  int bad = 0;
  for (int r = 0; r < 4; r++)
    for (int j = 0; j < n; j++) {
      int32_t acc = b[j];
      for (int t = 0; t < taps; t++)
        for (int i = 0; i < cin; i++) acc += (int32_t)ind[4 * t + r][i] * w[j * k + t * cin + i];
      int8_t want = r < rows ? ref_requant(acc, s[j], zp, slope) : 0x55;
      if (c[r * n + j] != want) bad++;
      if (rows == 4 && !padded && cw[r * n + j] != want) bad++;
    }
  if (bad) printf("FAIL sdot igemm rows=%d taps=%d cin=%d n=%d worst=%d slope=%g padded=%d: %d mismatches\n", rows, taps, cin, n, worst, slope, padded, bad);
  (*cases)++;
  free(in); free(w); free(b); free(s); free(packed); free(ind); free(offsets);
  return bad != 0;
}

static int check_sdot(void) {
  static const int shapes[][2] = {{1, 1}, {9, 1}, {9, 2}, {9, 3}, {1, 4}, {4, 5}, {9, 8}, {1, 12}, {9, 13}, {16, 16}, {4, 24}, {9, 64}};
  static const int ns[] = {1, 5, 8, 9, 16, 17, 24, 33, 40};
  static const float slopes[] = {1.0f, 0.0f, 0.2f, 1.5f, -0.5f};
  int fails = 0, cases = 0, i = 0;
  for (unsigned si = 0; si < sizeof shapes / sizeof *shapes; si++)
    for (unsigned ni = 0; ni < sizeof ns / sizeof *ns; ni++)
      for (int rows = 1; rows <= 4; rows++, i++)
        for (int padded = 0; padded <= 1; padded++)
          fails += run_sdot_case(rows, shapes[si][0], shapes[si][1], ns[ni], 0, slopes[i % 5], padded, &cases);
  for (unsigned si = 0; si < sizeof shapes / sizeof *shapes; si++) {
    fails += run_sdot_case(4, shapes[si][0], shapes[si][1], 16, 1, 1.0f, 0, &cases);
    fails += run_sdot_case(3, shapes[si][0], shapes[si][1], 19, 1, 0.2f, 1, &cases);
  }
  printf("%s a76-sdot-igemm: fixed and worst-case shapes bit-exact\n%d cases, %d failed\n", fails ? "FAIL" : "ok  ", cases, fails);
  return fails != 0;
}

// The engine's c16 kernel (qs8GEMM2x8C16A72: SMULL + SMLAL + SADALP): all n channels in one call,
// each row's 8-byte halves scattered through a shuffled half table (slots 11 bytes apart, rows
// 22 * chunks + 5 apart), output rows n + 3 apart with guard bytes that must survive. `paired`:
// the table keeps each chunk's halves adjacent (chunks shuffled, 19 bytes apart) and the paired
// kernel (qs8GEMM2x8C16PairedA72: 16-byte loads, SMLAL2) reads it as well as the general one.
static int run_table_case(int rows, int chunks, int n, int worst, float slope, int paired, int* cases) {
  int kc = 16 * chunks, stride = 22 * chunks + 5, c_stride = n + 3;
  int8_t* a = malloc(2 * (size_t)kc + 1);
  int8_t* scattered = malloc(2 * (size_t)stride + 16);
  sint* offsets = malloc(sizeof(sint) * (2 * (size_t)chunks + 1));
  int* perm = malloc(sizeof(int) * (2 * (size_t)chunks + 1));
  int8_t* w = malloc((size_t)n * kc + 1);
  int32_t* b = malloc(4 * (size_t)n);
  float* s = malloc(4 * (size_t)n);
  for (int i = 0; i < 2 * kc; i++) a[i] = worst ? -128 : (int8_t)(rnd() % 256 - 128);
  for (int i = 0; i < n * kc; i++) w[i] = worst ? ((i / kc) % 2 ? -127 : 127) : (int8_t)(rnd() % 255 - 127);
  for (int i = 0; i < n; i++) { b[i] = (int32_t)(rnd() % 20001) - 10000; s[i] = worst ? 1.0f / 16384 : 0.0001f + (rnd() % 1000) * 1e-6f; }
  int32_t zp = (int32_t)(rnd() % 41) - 20;
  for (int h = 0; h < 2 * chunks; h++) perm[h] = h;
  for (int h = 2 * chunks - 1; h > 0; h--) { int j = (int)(rnd() % (unsigned)(h + 1)), t = perm[h]; perm[h] = perm[j]; perm[j] = t; }
  for (int h = 0; h < 2 * chunks; h++) offsets[h] = 11 * perm[h];
  if (paired) {
    for (int q = 0; q < chunks; q++) perm[q] = q;
    for (int q = chunks - 1; q > 0; q--) { int j = (int)(rnd() % (unsigned)(q + 1)), t = perm[q]; perm[q] = perm[j]; perm[j] = t; }
    for (int h = 0; h < 2 * chunks; h++) offsets[h] = 19 * perm[h / 2] + 8 * (h % 2);
  }
  memset(scattered, 99, 2 * (size_t)stride + 16);
  for (int r = 0; r < rows; r++)
    for (int h = 0; h < 2 * chunks; h++) memcpy(scattered + r * stride + offsets[h], a + r * kc + 8 * h, 8);
  sint bb = grd_c16_block_bytes(kc);
  void* packed = malloc((size_t)bb * ((n + 7) / 8));
  grd_pack_c16(n, kc, kc, w, b, s, packed);
  int8_t* c = malloc(2 * (size_t)c_stride);
  int bad = 0;
  for (int kernel = 0; kernel <= paired; kernel++) {
  memset(c, 0x55, 2 * (size_t)c_stride);
  (kernel ? grd_qs8_gemm_2x8c16_paired_a72 : grd_qs8_gemm_2x8c16_a72)(rows, chunks, scattered, stride, offsets, packed, bb, zp, slope, c, c_stride, n);
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < c_stride; j++) {
      int8_t want = 0x55;
      if (j < n) {
        int32_t acc = b[j];
        for (int k = 0; k < kc; k++) acc += (int32_t)a[r * kc + k] * w[j * kc + k];
        want = ref_requant(acc, s[j], zp, slope);
      }
      if (c[r * c_stride + j] != want) bad++;
    }
  }
  if (bad) printf("FAIL a72-c16-table rows=%d chunks=%d n=%d worst=%d slope=%g paired=%d: %d mismatches\n", rows, chunks, n, worst, slope, paired, bad);
  (*cases)++;
  free(a); free(scattered); free(offsets); free(perm); free(w); free(b); free(s); free(packed); free(c);
  return bad != 0;
}

static int check_table(int* cases) {
  static const int chunks[] = {0, 1, 2, 3, 5, 9, 36, 72}, ns[] = {1, 3, 5, 8, 13, 16, 24, 64};
  static const float slopes[] = {1.0f, 0.0f, 0.2f, 1.5f, -0.5f};
  int fails = 0, i = 0;
  for (unsigned ci = 0; ci < sizeof chunks / sizeof *chunks; ci++)
    for (unsigned ni = 0; ni < sizeof ns / sizeof *ns; ni++)
      for (int rows = 1; rows <= 2; rows++, i++)
        for (int paired = 0; paired <= 1; paired++)
          fails += run_table_case(rows, chunks[ci], ns[ni], 0, slopes[i % 5], paired, cases);
  for (int t = 0; t < 60; t++)
    fails += run_table_case(1 + rnd() % 2, (int)(rnd() % 41), 1 + rnd() % 40, 0, slopes[rnd() % 5], t % 2, cases);
  for (unsigned ci = 1; ci < sizeof chunks / sizeof *chunks; ci++)
    for (int paired = 0; paired <= 1; paired++) {
      fails += run_table_case(2, chunks[ci], 16, 1, 1.0f, paired, cases);
      fails += run_table_case(1, chunks[ci], 5, 1, 0.2f, paired, cases);
    }
  printf("%s a72-c16-table (qs8GEMM2x8C16A72, qs8GEMM2x8C16PairedA72): fixed, random and worst-case shapes bit-exact\n", fails ? "FAIL" : "ok  ");
  return fails;
}

static int check_im2col(void) {
  // 7x5x3 input, 3x3 stride 2 pad 1 -> 4x3 output; compare every patch with a direct gather
  int h = 7, w = 5, cin = 3, k = 3, st = 2, pad = 1, oh = 4, ow = 3, kp = (k * k * cin + 15) / 16 * 16;
  int8_t in[7 * 5 * 3], tile[12 * 32];
  for (int i = 0; i < h * w * cin; i++) in[i] = (int8_t)(rnd() % 256 - 128);
  grd_im2col(h, w, cin, k, st, pad, oh, ow, in, -7, 0, oh * ow, tile);
  int bad = 0;
  for (int p = 0; p < oh * ow; p++)
    for (int ky = 0; ky < k; ky++)
      for (int kx = 0; kx < k; kx++)
        for (int c = 0; c < cin; c++) {
          int iy = (p / ow) * st - pad + ky, ix = (p % ow) * st - pad + kx;
          int8_t want = (iy >= 0 && iy < h && ix >= 0 && ix < w) ? in[(iy * w + ix) * cin + c] : -7;
          if (tile[p * kp + (ky * k + kx) * cin + c] != want) bad++;
        }
  printf("%s im2col 3x3 s2 p1 on 7x5x3\n", bad ? "FAIL" : "ok  ");
  return bad != 0;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "check";
  if (!strcmp(mode, "dot")) {
    static int8_t a[64], c[4];
    static char w[16 + 4 * 32 + 16];
    grd_qs8_gemm_2x4_dotloop_a76(1, 32, a, 32, w, 0, 1.0f, c, 4, 4);
    printf("dot kernel ran\n");
    return 0;
  }
  if (!strcmp(mode, "sdot")) {
    if (!grd_qs8_igemm_4xn_c4_neondot) { printf("FAIL this build has no SDOT indirect-GEMM kernels\n"); return 1; }
    return check_sdot();
  }
  if (!strcmp(mode, "bench") && argc > 2 && !strcmp(argv[2], "sdot")) {
    // 256 output pixels of a 3x3 conv, 32 -> 32 channels, through the window form
    int m = 256, n = 32, cin = 32, taps = 9, stride = cin;
    int8_t* in = calloc((size_t)(m + 2 * taps) * cin + 4, 1);
    int8_t* w = calloc((size_t)n * taps * cin, 1);
    int32_t b[32] = {0};
    float s[32];
    sint offsets[9];
    for (int i = 0; i < 32; i++) s[i] = 0.001f;
    for (int i = 0; i < (m + 2 * taps) * cin; i++) in[i] = (int8_t)(rnd() % 256 - 128);
    for (int i = 0; i < n * taps * cin; i++) w[i] = (int8_t)(rnd() % 255 - 127);
    for (int t = 0; t < taps; t++) offsets[t] = (sint)(t % 3 + (t / 3) * 6) * cin;
    sint bb = grd_c4x8_neondot_block_bytes(taps, cin);
    void* packed = malloc((size_t)bb * (n / 8));
    grd_pack_c4x8_neondot(n, taps, cin, w, b, s, packed);
    int8_t* c = malloc((size_t)m * n);
    for (int r = 0; r < m; r += 4)
      grd_qs8_conv_window_4xn_c4_neondot(taps, cin, in + (size_t)r * cin, offsets, stride, packed, bb, 0, 1.0f, c + (size_t)r * n, n, n);
    printf("macs %lld\n", (long long)m * n * taps * cin);
    return 0;
  }
  if (!strcmp(mode, "bench") && argc > 2 && (!strcmp(argv[2], "c16t") || !strcmp(argv[2], "c16p"))) {
    // the bench GEMM below through the engine's kernel: dense rows (identity half table)
    int m = 256, n = 32, kc = 288, chunks = kc / 16;
    int8_t* a = calloc((size_t)m * kc, 1);
    int8_t* w = calloc((size_t)n * kc, 1);
    int32_t b[32] = {0};
    float s[32];
    sint offsets[2 * 18];
    for (int i = 0; i < 32; i++) s[i] = 0.001f;
    for (int i = 0; i < m * kc; i++) a[i] = (int8_t)(rnd() % 256 - 128);
    for (int i = 0; i < n * kc; i++) w[i] = (int8_t)(rnd() % 255 - 127);
    for (int h = 0; h < 2 * chunks; h++) offsets[h] = 8 * h;
    sint bb = grd_c16_block_bytes(kc);
    void* packed = malloc((size_t)bb * (n / 8));
    grd_pack_c16(n, kc, kc, w, b, s, packed);
    int8_t* c = malloc((size_t)m * n);
    for (int r = 0; r < m; r += 2)
      (argv[2][3] == 'p' ? grd_qs8_gemm_2x8c16_paired_a72 : grd_qs8_gemm_2x8c16_a72)(2, chunks, a + (size_t)r * kc, kc, offsets, packed, bb, 0, 1.0f, c + (size_t)r * n, n, n);
    printf("macs %lld\n", (long long)m * n * kc);
    return 0;
  }
  if (!strcmp(mode, "bench")) {
    const struct family* f = &families[argc > 2 && !strcmp(argv[2], "dot") ? 1 : 0];
    int m = 256, n = 32, kc = 288;  // 256 output pixels of a 3x3 conv, 32 -> 32 channels
    int8_t* a = calloc((size_t)m * kc, 1);
    int8_t* w = calloc((size_t)n * kc, 1);
    int32_t b[32] = {0};
    float s[32];
    for (int i = 0; i < 32; i++) s[i] = 0.001f;
    for (int i = 0; i < m * kc; i++) a[i] = (int8_t)(rnd() % 256 - 128);
    for (int i = 0; i < n * kc; i++) w[i] = (int8_t)(rnd() % 255 - 127);
    size_t bb = (size_t)f->block(kc);
    void* packed = malloc(bb * (size_t)(n / f->nr));
    f->pack(n, kc, kc, w, b, s, packed);
    int8_t* c = malloc((size_t)m * n);
    for (int r = 0; r < m; r += 2)
      for (int nb = 0; nb < n; nb += f->nr)
        f->gemm(2, kc, a + (size_t)r * kc, kc, (char*)packed + (nb / f->nr) * bb, 0, 1.0f, c + (size_t)r * n + nb, n, f->nr);
    printf("macs %lld\n", (long long)m * n * kc);
    return 0;
  }
  int nf = argc > 2 && !strcmp(argv[2], "a72only") ? 1 : 2;
  int fails = 0, cases = 0;
  static const int kcs[] = {16, 32, 144, 576, 1152}, ns[] = {1, 4, 5, 8, 13, 32};
  static const float slopes[] = {1.0f, 0.0f, 0.2f};
  for (int fi = 0; fi < nf; fi++) {
    const struct family* f = &families[fi];
    int before = fails;
    for (unsigned i = 0; i < sizeof kcs / sizeof *kcs; i++)
      for (unsigned j = 0; j < sizeof ns / sizeof *ns; j++)
        for (int rows = 1; rows <= 2; rows++)
          fails += run_case(f, rows, kcs[i], ns[j], 0, slopes[(i + j + rows) % 3], &cases);
    for (int t = 0; t < 60; t++)
      fails += run_case(f, 1 + rnd() % 2, 16 * (1 + rnd() % 40), 1 + rnd() % 40, 0, slopes[rnd() % 3], &cases);
    for (unsigned i = 0; i < sizeof kcs / sizeof *kcs; i++) {
      fails += run_case(f, 2, kcs[i], 8, 1, 1.0f, &cases);
      fails += run_case(f, 1, kcs[i], 5, 1, 0.2f, &cases);
    }
    printf("%s %s: fixed, random and worst-case shapes bit-exact\n", fails == before ? "ok  " : "FAIL", f->name);
  }
  fails += check_table(&cases);
  fails += check_im2col();
  printf("%d cases, %d failed\n", cases, fails);
  return fails != 0;
}
