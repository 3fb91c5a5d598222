#!/usr/bin/env python3
"""Static throughput of a kernel's inner loop with llvm-mca.

usage: mca_inner_loop.py ASM_FILE SYMBOL_SUBSTRING MCPU [MCA_BINARY]
Finds the first function whose label contains SYMBOL_SUBSTRING in an LLVM AArch64 .s file, takes
its innermost loop ("Inner Loop Header" .. backward branch), counts the int8 MACs one iteration
does from its multiply instructions (sdot .4s = 16; smull/smlal(2) into .8h = 8), runs llvm-mca
and prints "SYMBOL MCPU insns=N cycles/iter=C macs/iter=M mac_per_cycle=X"."""
import re
import subprocess
import sys


def inner_loops(lines, start):
    loops, i = [], start + 1
    while i < len(lines) and not lines[i].startswith(".Lfunc_end"):
        if "Inner Loop Header" in lines[i]:
            body, j = [], i + 1
            while j < len(lines):
                t = lines[j].strip()
                if t and not t.startswith("//") and not t.startswith("."):
                    body.append(t)
                    if re.match(r"^b\.\w+\s+\.LBB", t) or re.match(r"^(cbnz|cbz|tbnz|tbz)\s", t):
                        break
                j += 1
            loops.append(body)
            i = j
        i += 1
    return loops


def macs(body):
    n = 0
    for ins in body:
        op = ins.split()[0]
        if op == "sdot" and ".4s" in ins:
            n += 16
        elif op == "sdot" and ".2s" in ins:
            n += 8
        elif op in ("smull", "smull2", "smlal", "smlal2") and ".8h" in ins:
            n += 8
    return n


def main():
    path, sym, cpu = sys.argv[1], sys.argv[2], sys.argv[3]
    mca = sys.argv[4] if len(sys.argv) > 4 else "llvm-mca-19"
    lines = open(path).read().split("\n")
    starts = [i for i, l in enumerate(lines) if re.match(r"^[^\s.#/].*:", l) and sym in l.split(":")[0]]
    best = None
    for s in starts:
        for body in inner_loops(lines, s):
            m = macs(body)
            if m and (best is None or m > best[1]):
                best = (body, m)
    if best is None:
        print(f"{sym} {cpu} no inner loop with int8 multiplies found")
        return 1
    body, m = best
    out = subprocess.run([mca, "-mtriple=aarch64", f"-mcpu={cpu}", "-iterations=200"], input="\n".join(body) + "\n",
                         capture_output=True, text=True).stdout
    cycles = int(re.search(r"Total Cycles:\s+(\d+)", out).group(1)) / 200
    print(f"{sym} {cpu} insns={len(body)} cycles/iter={cycles:.2f} macs/iter={m} mac_per_cycle={m / cycles:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
