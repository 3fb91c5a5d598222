// QEMU user-mode TCG plugin (plugin API version 1, as in Debian's QEMU 7.2) for
// Tests/arm64/instructions: counts executed guest instructions per translation block (TB) and
// takes snapshots of all counts at marker system calls, so that one region of a run (one
// inference) can be isolated and attributed to functions offline.
//
// Markers (both are harmless to the guest):
//   close(fd) with fd = -(1000 + k), k = 0..63: the Python peer driver calls os.close(-1000 - k);
//   clock_gettime(CLOCK_PROCESS_CPUTIME_ID, ...) when the option clock=1 is given: `grdnet bench`
//   reads the process CPU clock right before and right after each timed engine.run, so the
//   windows between snapshots 2i and 2i+1 are exactly timed frames (no change to the product).
// Without a vDSO (QEMU 7.2's aarch64 linux-user has none) every clock_gettime is a system call.
//
// Output (out=PATH): "S" line of snapshot labels, "T" line of total executed instructions at each
// snapshot and at exit, "M id mnemonic" lines, and one "B vaddr ninsn count@snap... count@exit
// symbol : mnemonic-ids" line per TB whose count changed after the first snapshot. `symbol` is
// QEMU's name for the TB's first instruction (the main executable's symbol table only; "-" when
// unknown; libraries are resolved offline from the guest's /proc/self/maps).
//
// Debian ships neither plugin .so files nor qemu-plugin.h: the few prototypes are declared here
// (they match include/qemu/qemu-plugin.h of QEMU 7.2, QEMU_PLUGIN_VERSION 1).
// Build: gcc -O2 -shared -fPIC -o libinsnwindow.so insnwindow.c
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct { const char *target_name; struct { int min, cur; } version; bool system_emulation;
                 union { struct { int smp_vcpus, max_vcpus; } system; }; } qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*tb_trans_cb)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*udata_cb)(qemu_plugin_id_t, void *);
typedef void (*syscall_cb)(qemu_plugin_id_t, unsigned int, int64_t, uint64_t, uint64_t, uint64_t, uint64_t,
                           uint64_t, uint64_t, uint64_t, uint64_t);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, tb_trans_cb);
void qemu_plugin_register_vcpu_syscall_cb(qemu_plugin_id_t, syscall_cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
char *qemu_plugin_insn_disas(const struct qemu_plugin_insn *);
const char *qemu_plugin_insn_symbol(const struct qemu_plugin_insn *);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *, enum qemu_plugin_op, void *, uint64_t);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, udata_cb, void *);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define SYS_CLOSE 57
#define SYS_CLOCK_GETTIME 113
#define CLOCK_PROCESS_CPUTIME 2
#define MAXSNAP 256
#define CHUNK 65536
#define MAXCHUNK 4096

struct tb { uint64_t vaddr, count; uint32_t ninsn; const char *sym; uint16_t *mn; };
static struct tb *chunks[MAXCHUNK];
static size_t ntb;
static uint64_t *snap[MAXSNAP];
static size_t snapn[MAXSNAP];
static char snaplabel[MAXSNAP][16];
static int nsnap, clockmarks;
static char *mnem[65536];
static int nmnem;
static const char *outpath = "insnwindow.out";

static struct tb *TB(size_t i) { return &chunks[i / CHUNK][i % CHUNK]; }

// "smlal2 v0.8h, v1.16b, v2.16b" -> "smlal2 .8h"; "ldr x0, [x1]" -> "ldr".
static int mnemonic_id(const char *dis) {
  char op[40] = {0}, key[64];
  sscanf(dis, "%39s", op);
  snprintf(key, sizeof key, "%s", op);
  const char *dot = strchr(op, '.') ? NULL : strchr(dis, '.');
  if (dot) snprintf(key, sizeof key, "%s %.*s", op, (int)(strcspn(dot, " ,]}") > 6 ? 6 : strcspn(dot, " ,]}")), dot);
  for (int i = 0; i < nmnem; i++) if (!strcmp(mnem[i], key)) return i;
  if (nmnem == 65535) return 65535;
  mnem[nmnem] = strdup(key);
  return nmnem++;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  if (ntb / CHUNK >= MAXCHUNK) return;
  if (!chunks[ntb / CHUNK]) chunks[ntb / CHUNK] = calloc(CHUNK, sizeof(struct tb));
  struct tb *r = TB(ntb++);
  size_t n = qemu_plugin_tb_n_insns(tb);
  r->vaddr = qemu_plugin_tb_vaddr(tb);
  r->ninsn = (uint32_t)n;
  r->mn = malloc((n ? n : 1) * sizeof(uint16_t));
  for (size_t i = 0; i < n; i++) {
    struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
    if (i == 0) { const char *s = qemu_plugin_insn_symbol(insn); r->sym = s ? strdup(s) : NULL; }
    char *d = qemu_plugin_insn_disas(insn);
    r->mn[i] = (uint16_t)mnemonic_id(d);
    free(d);
  }
  qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &r->count, 1);
}

static void take_snapshot(const char *label) {
  if (nsnap >= MAXSNAP) return;
  uint64_t *s = malloc((ntb ? ntb : 1) * sizeof(uint64_t));
  for (size_t i = 0; i < ntb; i++) s[i] = TB(i)->count;
  snap[nsnap] = s; snapn[nsnap] = ntb;
  snprintf(snaplabel[nsnap], sizeof snaplabel[0], "%s", label);
  nsnap++;
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1, uint64_t a2, uint64_t a3,
                       uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8) {
  char label[16];
  if (num == SYS_CLOSE) {
    int fd = (int)(int32_t)a1;
    if (fd > -1000 || fd <= -1000 - 64) return;
    snprintf(label, sizeof label, "m%d", -1000 - fd);
    take_snapshot(label);
  } else if (num == SYS_CLOCK_GETTIME && clockmarks && a1 == CLOCK_PROCESS_CPUTIME) {
    snprintf(label, sizeof label, "c%d", nsnap);
    take_snapshot(label);
  }
}

static uint64_t count_at(int k, size_t i) { return i < snapn[k] ? snap[k][i] : 0; }

static void on_exit_cb(qemu_plugin_id_t id, void *p) {
  FILE *f = fopen(outpath, "w");
  if (!f) { fprintf(stderr, "insnwindow: cannot write %s\n", outpath); return; }
  fprintf(f, "# insnwindow v1 tbs %zu snapshots %d mnemonics %d\nS", ntb, nsnap, nmnem);
  for (int k = 0; k < nsnap; k++) fprintf(f, " %s", snaplabel[k]);
  fprintf(f, " exit\nT");
  for (int k = 0; k <= nsnap; k++) {
    uint64_t t = 0;
    for (size_t i = 0; i < ntb; i++) t += (k < nsnap ? count_at(k, i) : TB(i)->count) * TB(i)->ninsn;
    fprintf(f, " %" PRIu64, t);
  }
  fprintf(f, "\n");
  for (int i = 0; i < nmnem; i++) fprintf(f, "M %d %s\n", i, mnem[i]);
  for (size_t i = 0; i < ntb; i++) {
    struct tb *r = TB(i);
    if (nsnap == 0 ? r->count == 0 : r->count == count_at(0, i)) continue;
    fprintf(f, "B %" PRIx64 " %u", r->vaddr, r->ninsn);
    for (int k = 0; k < nsnap; k++) fprintf(f, " %" PRIu64, count_at(k, i));
    fprintf(f, " %" PRIu64 " %s :", r->count, r->sym ? r->sym : "-");
    for (uint32_t j = 0; j < r->ninsn; j++) fprintf(f, " %u", r->mn[j]);
    fprintf(f, "\n");
  }
  fclose(f);
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    if (!strncmp(argv[i], "out=", 4)) outpath = strdup(argv[i] + 4);
    else if (!strcmp(argv[i], "clock=1")) clockmarks = 1;
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
  qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
  qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
  return 0;
}
