#!/usr/bin/env python3
"""One window of an insnwindow trace (Tests/arm64/insnwindow.c): executed instructions of one
frame, their split by function and by kind, the GEMM share, the kernel family, and a static
estimate of the frame's cycles on the core (llvm-mca-19 on the hottest translation blocks).
Prints one JSON object.

usage: insn_report.py TRACE --window A B --macs N --mcpu CPU
                      [--exe BINARY] [--maps GUEST_MAPS --root ROOTFS] [--gemm REGEX]
  --window A B  snapshot labels (e.g. m3 m4; or "last" = the last c-pair: grdnet bench's last
                timed frame, between its two CLOCK_PROCESS_CPUTIME_ID reads)
  --exe         the guest's main executable (ours): TBs carry QEMU's symbol; its load base is
                found as min(TB address - symbol address)
  --maps/--root the guest's /proc/self/maps (peers: code in dlopen()ed libraries) and the root
                file system the library paths are relative to
GEMM share: instructions executed in functions whose name matches --gemm (micro-kernels), and,
for every engine alike, in translation blocks that contain an int8 widening multiply-accumulate
or dot product (smull/smlal/sdot/udot ..., fmla for ONNX Runtime's fp32 ConvTranspose): the
kernels' inner loops.
Cycle estimate: each of the hottest TBs (together >= 90% of the window, at most 60) is
disassembled from its ELF file and given to llvm-mca-19 -mcpu=CPU as a loop body; its
cycles/iteration x its executions, plus the remaining instructions at 1 instruction/cycle."""
import argparse
import bisect
import collections
import functools
import json
import os
import re
import subprocess

MAC_OPS = {"smull", "smull2", "smlal", "smlal2", "umull", "umull2", "umlal", "umlal2", "sdot", "udot",
           "usdot", "sudot", "smmla", "ummla", "usmmla", "mla", "fmla", "sadalp", "uadalp"}
MAC_CORE = MAC_OPS - {"sadalp", "uadalp", "fmla", "mla"}

ap = argparse.ArgumentParser()
ap.add_argument("trace")
ap.add_argument("--window", nargs="+", required=True)
ap.add_argument("--macs", type=float, required=True)
ap.add_argument("--mcpu", required=True)
ap.add_argument("--exe")
ap.add_argument("--maps")
ap.add_argument("--root", default="/")
ap.add_argument("--gemm", default=r"ukernel|Gemm|GEMM|gemm|MlasConv|qs8_")
ap.add_argument("--top", type=int, default=8)
ap.add_argument("--objdump", default="llvm-objdump-19")
ap.add_argument("--mca", default="llvm-mca-19")
a = ap.parse_args()

lines = open(a.trace).read().splitlines()
labels = lines[1].split()[1:]
totals = list(map(int, lines[2].split()[1:]))
if a.window[0] == "last":
    cs = [i for i, l in enumerate(labels) if l.startswith("c")]
    if len(cs) < 2:
        raise SystemExit(f"{a.trace}: fewer than two clock markers ({labels})")
    wa, wb = cs[-2], cs[-1]
else:
    wa, wb = labels.index(a.window[0]), labels.index(a.window[1])
mn, blocks = {}, []
for l in lines[3:]:
    if l.startswith("M "):
        _, i, name = l.split(" ", 2)
        mn[int(i)] = name
    elif l.startswith("B "):
        head, _, ids = l.partition(" : ")
        f = head.split()
        va, n, counts, sym = int(f[1], 16), int(f[2]), list(map(int, f[3:-1])), f[-1]
        d = counts[wb] - counts[wa]
        if d > 0:
            blocks.append({"va": va, "n": n, "d": d, "sym": sym, "mn": [mn[int(x)] for x in ids.split()]})


@functools.lru_cache(None)
def elf_syms(path):
    """(LOAD segments [(offset, vaddr, filesz)], sorted FUNC symbol addresses, [(name, size)])."""
    segs, syms = [], {}
    out = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True).stdout
    for l in out.splitlines():
        f = l.split()
        if f and f[0] == "LOAD":
            segs.append((int(f[1], 16), int(f[2], 16), int(f[4], 16)))
    out = subprocess.run(["readelf", "-Ws", "--dyn-syms", path], capture_output=True, text=True).stdout
    for l in out.splitlines():
        f = l.split()
        if len(f) >= 8 and f[3] == "FUNC" and int(f[1], 16):
            v, sz = int(f[1], 16), int(f[2], 0)
            if v not in syms or (sz and not syms[v][1]):
                syms[v] = (f[7].split("@")[0], sz)
    keys = sorted(syms)
    return segs, keys, [syms[k] for k in keys]


# Where each TB lives: (file, address in the ELF file) and a function name.
base = None
if a.exe:
    _, keys, vals = elf_syms(a.exe)
    addr = {name: k for k, (name, _) in zip(keys, vals)}
    cands = [b["va"] - addr[b["sym"]] for b in blocks if b["sym"] in addr]
    base = min(c for c in cands if c >= 0) if cands else None
maps = []
if a.maps:
    for l in open(a.maps):
        f = l.split()
        if len(f) >= 6 and "x" in f[1]:
            s, e = (int(x, 16) for x in f[0].split("-"))
            p = f[5] if os.path.exists(f[5]) else os.path.join(a.root, f[5].lstrip("/"))
            maps.append((s, e, int(f[2], 16), p))
    maps.sort()


def locate(b):
    va = b["va"]
    if base is not None and b["sym"] != "-":
        return a.exe, va - base
    i = bisect.bisect_right(maps, (va, 1 << 64)) - 1
    if i < 0 or not (maps[i][0] <= va < maps[i][1]) or not os.path.exists(maps[i][3]):
        return None, None
    s, _, off, path = maps[i]
    fo = va - s + off
    for so, sv, sz in elf_syms(path)[0]:
        if so <= fo < so + sz:
            return path, fo - so + sv
    return path, None


def func_name(b, path, ev):
    if b["sym"] != "-":
        return b["sym"]
    if path is None or ev is None:
        return "[unknown]"
    _, keys, vals = elf_syms(path)
    j = bisect.bisect_right(keys, ev) - 1
    if j < 0:
        return "%s+0x%x" % (os.path.basename(path), ev)
    name, sz = vals[j]
    if sz and ev >= keys[j] + sz:
        return "%s:after %s" % (os.path.basename(path), name)
    return name


@functools.lru_cache(None)
def demangle(name):
    if not name.startswith("$s"):
        return name
    try:
        r = subprocess.run(["swift-demangle", "--simplified", "--compact", name], capture_output=True, text=True, timeout=20)
        return r.stdout.strip() or name
    except (OSError, subprocess.TimeoutExpired):
        return name


def disassemble(path, ev, n):
    """The TB's instructions as llvm-objdump-19 prints them (mnemonic + operands, no addresses)."""
    r = subprocess.run([a.objdump, "-d", "--mattr=+dotprod,+i8mm", "--no-show-raw-insn", "--no-leading-addr",
                        "--start-address=%#x" % ev, "--stop-address=%#x" % (ev + 4 * n), path], capture_output=True, text=True)
    out = []
    for l in r.stdout.splitlines():
        t = l.strip()
        if not t or t.endswith(":") or t.startswith("Disassembly") or "file format" in t or t.startswith("..."):
            continue
        out.append(re.sub(r"\s*//.*$", "", re.sub(r"\s*<[^>]*>", "", t)))
    return out


def mnemonic(ins):
    op = ins.split()[0]
    dot = re.search(r"\.(\d+[bhsd])\b", ins) if "." not in op else None
    return op + (" ." + dot.group(1) if dot else "")


window = totals[wb] - totals[wa]
tot = sum(b["n"] * b["d"] for b in blocks)
# QEMU 7.2's disassembler prints newer instructions (sdot, udot, ...) as ".byte": decode the TBs
# that matter (> 0.01% of the window each) from their ELF files.
for b in blocks:
    if ".byte" in b["mn"] and b["n"] * b["d"] > 1e-4 * tot:
        path, ev = locate(b)
        if path and ev is not None:
            ins = disassemble(path, ev, b["n"])
            if len(ins) == b["n"]:
                b["mn"] = [mnemonic(i) for i in ins]
byfunc, bylib, mix = collections.Counter(), collections.Counter(), collections.Counter()
gemm_sym = gemm_tb = 0
gre = re.compile(a.gemm)
for b in blocks:
    path, ev = locate(b)
    b["path"], b["ev"] = path, ev
    name = func_name(b, path, ev)
    c = b["n"] * b["d"]
    byfunc[name] += c
    bylib[os.path.basename(path) if path else "[unknown]"] += c
    ops = [m.split()[0] for m in b["mn"]]
    for m in b["mn"]:
        mix[m] += b["d"]
    if gre.search(name) or gre.search(demangle(name)):
        gemm_sym += c
    if any(o in MAC_OPS for o in ops):
        gemm_tb += c

sdot = sum(v for k, v in mix.items() if k.split()[0] in ("sdot", "udot"))
mlal = sum(v for k, v in mix.items() if k.split()[0] in ("smull", "smull2", "smlal", "smlal2"))
family = "sdot (dot product)" if sdot > mlal else ("smull/smlal (widening MAC)" if mlal else "none")


def mca_cycles(b):
    """llvm-mca-19 cycles per execution of the TB, disassembled from its ELF file."""
    if not b["path"] or b["ev"] is None:
        return None
    body = []
    for t in disassemble(b["path"], b["ev"], b["n"]):
        op = t.split()[0]
        if op in ("b", "bl", "cbz", "cbnz", "tbz", "tbnz") or op.startswith("b."):
            t = re.sub(r"(0x)?[0-9a-f]+$", ".Ltop", t)
        if op in ("bl", "blr", "ret", "br", "svc"):
            continue
        body.append(t)
    if len(body) < max(1, b["n"] - 2):
        return None
    r = subprocess.run([a.mca, "-mtriple=aarch64", "-mcpu=" + a.mcpu, "-iterations=100"],
                       input=".Ltop:\n" + "\n".join(body) + "\n", capture_output=True, text=True)
    m = re.search(r"Total Cycles:\s+(\d+)", r.stdout)
    return int(m.group(1)) / 100 if m else None


hot = sorted(blocks, key=lambda b: -b["n"] * b["d"])
covered = cycles = 0
mca_tbs = []
for b in hot[:60]:
    if covered >= 0.9 * tot:
        break
    cyc = mca_cycles(b)
    if cyc is None:
        continue
    covered += b["n"] * b["d"]
    cycles += cyc * b["d"]
    macs_tb = sum(16 if m.startswith("sdot .4s") or m.startswith("udot .4s") else
                  8 if m.split()[0] in MAC_CORE and ".8h" in m else
                  4 if m.split()[0] in MAC_CORE and ".4s" in m else 0 for m in b["mn"])
    mca_tbs.append({"func": demangle(func_name(b, b["path"], b["ev"]))[:80], "insns": b["n"], "execs": b["d"],
                    "cycles_per_exec": cyc, "ipc": round(b["n"] / cyc, 2),
                    "mac_per_cycle": round(macs_tb / cyc, 2) if macs_tb else 0})
cycles += (tot - covered) * 1.0

print(json.dumps({
    "trace": a.trace, "window": [labels[wa], labels[wb]], "insns": window, "insns_from_blocks": tot,
    "insn_per_mac": window / a.macs, "gemm_share_tb": gemm_tb / tot if tot else 0,
    "gemm_share_sym": gemm_sym / tot if tot else 0, "family": family, "sdot": sdot, "smull_smlal": mlal,
    "est_cycles": cycles, "mca_covered": covered / tot if tot else 0, "mca_cpu": a.mcpu,
    "mca_hot": mca_tbs[:6],
    "libs": [[k, v] for k, v in bylib.most_common(4)],
    "top": [[demangle(k)[:100], v] for k, v in byfunc.most_common(a.top)],
    "mix": [[k, v] for k, v in mix.most_common(10)],
}))
