#!/usr/bin/env python3
"""Lists calls from kernel code into the Swift runtime or stdlib in an Embedded aarch64 object.

A kernel must not allocate, retain/release or lazily initialise anything: such calls show up as
CALL26 relocations from a GRDKernels function (or one of its specialisations) to a runtime
(swift_*) or stdlib ($es...) symbol. Weak runtime stubs that Embedded Swift emits in every object
are not kernels and are skipped. Usage: runtime_calls.py OBJECT; prints one line per call."""
import subprocess, sys

obj = sys.argv[1]
symbols = []
# llvm-objdump -t: "ADDR FLAGS SECTION SIZE NAME"; keep functions in .text only.
for line in subprocess.run(["llvm-objdump", "-t", obj], capture_output=True, text=True, check=True).stdout.splitlines():
    parts = line.split()
    if len(parts) >= 5 and parts[-3] == ".text" and " F " in line:
        symbols.append((int(parts[0], 16), parts[-1]))
symbols.sort()

def owner(offset):
    name = None
    for addr, sym in symbols:
        if addr <= offset: name = sym
        else: break
    return name

section = None
for line in subprocess.run(["llvm-objdump", "-r", obj], capture_output=True, text=True, check=True).stdout.splitlines():
    if line.startswith("RELOCATION RECORDS FOR"):
        section = line.split("[")[1].split("]")[0]
        continue
    parts = line.split()
    if section != ".text" or len(parts) != 3 or parts[1] != "R_AARCH64_CALL26":
        continue
    caller = owner(int(parts[0], 16)) or "?"
    target = parts[2]
    from_kernel = caller.startswith("$e10GRDKernels") or caller.startswith("?")
    into_runtime = target.startswith("swift_") or target.startswith("$es") or target.startswith("$ss")
    if from_kernel and into_runtime:
        print(f"{caller} -> {target}")
