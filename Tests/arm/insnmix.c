// Minimal QEMU TCG plugin (copied into the project from the team's ARM spike) (API version 1, as in Debian 12's QEMU 7.2): counts executed guest
// instructions per function symbol, and per mnemonic for functions whose symbol contains `sym=`.
// Build: gcc -O2 -shared -fPIC -o libinsnmix.so insnmix.c
// Use:   qemu-aarch64 -cpu cortex-a72 -plugin ./libinsnmix.so,sym=sq2_gemm ./binary
// Debian ships no plugin .so files nor qemu-plugin.h, so the few prototypes needed are declared
// here by hand (they match include/qemu/qemu-plugin.h with QEMU_PLUGIN_VERSION 1).
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
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, tb_trans_cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
char *qemu_plugin_insn_disas(const struct qemu_plugin_insn *);
const char *qemu_plugin_insn_symbol(const struct qemu_plugin_insn *);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *, enum qemu_plugin_op, void *, uint64_t);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, udata_cb, void *);
void qemu_plugin_outs(const char *);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define MAXE 4096
// Keys hold the first 511 bytes of a symbol and are matched on them: Swift's mangled names run
// past 160 bytes, and matching a truncated key against the whole name (strcmp) gave every
// instruction of such a function its own slot, so the per-symbol totals were wrong.
struct entry { char key[512]; uint64_t count; };
static struct entry syms[MAXE], mnems[MAXE];
static int nsyms, nmnems;
static const char *filter = NULL;

static uint64_t *slot(struct entry *tab, int *n, const char *key) {
  for (int i = 0; i < *n; i++) if (!strncmp(tab[i].key, key, sizeof tab[i].key - 1)) return &tab[i].count;
  if (*n >= MAXE) return &tab[MAXE - 1].count;
  snprintf(tab[*n].key, sizeof tab[*n].key, "%s", key);
  return &tab[(*n)++].count;
}

static void on_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  size_t n = qemu_plugin_tb_n_insns(tb);
  for (size_t i = 0; i < n; i++) {
    struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
    const char *sym = qemu_plugin_insn_symbol(insn);
    if (!sym) sym = "?";
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, slot(syms, &nsyms, sym), 1);
    if (filter && strstr(sym, filter)) {
      char *d = qemu_plugin_insn_disas(insn);
      char key[160];
      char mn[32] = {0};
      sscanf(d, "%31s", mn);
      // keep the arrangement of vector ops, e.g. "smlal v1.4s" -> "smlal .4s"
      const char *dot = strchr(d, '.');
      snprintf(key, sizeof key, "%s %s", mn, dot && strchr(mn, '.') == NULL ? dot : "");
      char *sp = strpbrk(key + strlen(mn) + 1, " ,");
      if (sp) *sp = 0;
      qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, slot(mnems, &nmnems, key), 1);
      free(d);
    }
  }
}

static int cmp(const void *a, const void *b) {
  const struct entry *x = a, *y = b;
  return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

static void on_exit_cb(qemu_plugin_id_t id, void *p) {
  char buf[256];
  qsort(syms, nsyms, sizeof syms[0], cmp);
  qemu_plugin_outs("== executed instructions per symbol (top 25)\n");
  for (int i = 0; i < nsyms && i < 25; i++) {
    snprintf(buf, sizeof buf, "%14" PRIu64 "  %s\n", syms[i].count, syms[i].key);
    qemu_plugin_outs(buf);
  }
  if (filter) {
    qsort(mnems, nmnems, sizeof mnems[0], cmp);
    snprintf(buf, sizeof buf, "== mnemonics in symbols containing '%s' (top 30)\n", filter);
    qemu_plugin_outs(buf);
    for (int i = 0; i < nmnems && i < 30; i++) {
      snprintf(buf, sizeof buf, "%14" PRIu64 "  %s\n", mnems[i].count, mnems[i].key);
      qemu_plugin_outs(buf);
    }
  }
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
  for (int i = 0; i < argc; i++)
    if (!strncmp(argv[i], "sym=", 4)) filter = argv[i] + 4;
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_trans);
  qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
  return 0;
}
