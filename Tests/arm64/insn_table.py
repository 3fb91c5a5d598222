#!/usr/bin/env python3
"""The table of Tests/arm64/instructions from the per-run reports (insn_report.py JSON).
usage: insn_table.py WORKDIR MACS MODEL"""
import json
import os
import sys

work, macs, model = sys.argv[1], float(sys.argv[2]), sys.argv[3]
CORES = {"a72": ("Cortex-A72", "Pi 4", 1.8e9), "a76": ("Cortex-A76", "Pi 5", 2.4e9)}
ENGINES = [("ours", "grdnet int8"), ("litert", "LiteRT XNNPACK int8"), ("ort", "ONNX Runtime int8 QDQ")]


def load(eng, cpu):
    r = json.load(open(os.path.join(work, f"{eng}-{cpu}.report.json")))
    if eng == "ours":
        b = json.load(open(os.path.join(work, f"ours-{cpu}.json")))
        r["picked"] = b["grdnet_int8"]["1"]["kernels"]
    else:
        r["picked"] = r["family"].split()[0]
        log = open(os.path.join(work, f"{eng}-{cpu}.log")).read()
        r["top_kernel"] = next((f for f, _ in r["top"] if "ukernel" in f or "Mlas" in f), "")
        r["log"] = log.strip().splitlines()[0] if log.strip() else ""
    return r


R = {(e, c): load(e, c) for e, _ in ENGINES for c in CORES}
print(f"Executed AArch64 instructions per frame: {model}, {macs / 1e9:.3f} GMAC/frame, 1 thread,")
print("qemu-aarch64 7.2 TCG + insnwindow plugin (one steady-state frame, quantise/dequantise included).")
print("GEMM share: in TBs with int8 multiply-accumulate/dot instructions (the kernels' inner loops) / in GEMM micro-kernel functions (ours: qs8GEMM*, LiteRT: xnn_*gemm*; ORT is stripped: -).")
hdr = f"{'engine':<24}{'core':<12}{'insns/frame':>14}{'insn/MAC':>10}{'GEMM TB/fn':>13}  {'kernel family (picked)':<26}{'ours/XNNPACK':>13}"
print(hdr)
print("-" * len(hdr))
for c, (core, _, _) in CORES.items():
    x = R[("litert", c)]["insns"]
    for e, label in ENGINES:
        r = R[(e, c)]
        fam = f"{r['family'].split()[0]} ({r['picked']})" if e == "ours" else r["family"].split()[0]
        ratio = f"{r['insns'] / x:.2f}" if e != "litert" else "1.00"
        sym = f"{100 * r['gemm_share_sym']:.0f}%" if r["gemm_share_sym"] else "-"
        print(f"{label:<24}{core:<12}{r['insns']:>14,}{r['insn_per_mac']:>10.3f}{100 * r['gemm_share_tb']:>8.0f}%/{sym:<4}  {fam:<26}{ratio:>13}")
print("(ours/XNNPACK = insns/frame of the engine / LiteRT XNNPACK's on the same core; goal for ours <= 1)")
print()
print("Hottest functions per run (instructions in the frame):")
for c in CORES:
    for e, label in ENGINES:
        r = R[(e, c)]
        tops = "; ".join(f"{f[:60]} {100 * v / r['insns_from_blocks']:.0f}%" for f, v in r["top"][:3])
        print(f"  {label} {c}: {tops}")
print()
print("ESTIMATED frame time (an estimate from static models, not a measurement on a Pi): cycles =")
print("sum over the hottest translation blocks of executions x llvm-mca-19 cycles/iteration (as a loop")
print("body; Cortex-A72 model for the Pi 4, Neoverse-N1 for the Pi 5's A76) + all other instructions at")
print("1 instruction/cycle; time = cycles / clock. Memory stalls, cache misses and thread overhead are")
print("not modelled; 4 threads = 1 thread / 4 (ideal scaling, an upper bound on speed).")
print(f"{'engine':<24}{'board':<20}{'mca cover':>10}{'est. cycles':>14}{'1 thread ms':>13}{'4 threads ms':>14}")
for c, (core, board, hz) in CORES.items():
    for e, label in ENGINES:
        r = R[(e, c)]
        ms = r["est_cycles"] / hz * 1e3
        print(f"{label:<24}{board + ' ' + core[7:] + ' ' + str(hz / 1e9) + ' GHz':<20}{100 * r['mca_covered']:>9.0f}%"
              f"{r['est_cycles']:>14,.0f}{ms:>13.1f}{ms / 4:>14.1f}")
c16 = os.path.join(work, "ours-c16-on-a76.report.json")
if os.path.exists(c16):
    r = json.load(open(c16))
    ms = r["est_cycles"] / 2.4e9 * 1e3
    print(f"{'grdnet int8, c16 family':<24}{'Pi 5 A76 2.4 GHz':<20}{100 * r['mca_covered']:>9.0f}%{r['est_cycles']:>14,.0f}{ms:>13.1f}{ms / 4:>14.1f}"
          "  (the A72 run's instructions, Neoverse-N1 model)")
print()
print("llvm-mca of ours' hottest blocks:")
for c in CORES:
    for h in R[("ours", c)]["mca_hot"][:3]:
        print(f"  {c} {h['mca_cpu'] if 'mca_cpu' in h else R[('ours', c)]['mca_cpu']}: {h['func'][:60]}: {h['insns']} insns, "
              f"{h['cycles_per_exec']:.2f} cycles, IPC {h['ipc']}, {h['mac_per_cycle']} MAC/cycle, {100 * h['insns'] * h['execs'] / R[('ours', c)]['insns_from_blocks']:.0f}% of the frame")
json.dump({f"{e}-{c}": {k: R[(e, c)][k] for k in ("insns", "insn_per_mac", "gemm_share_tb", "gemm_share_sym", "family",
                                                    "picked", "est_cycles", "mca_covered")} for e, _ in ENGINES for c in CORES},
          open(os.path.join(work, "table.json"), "w"), indent=1)
