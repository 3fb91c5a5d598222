#!/usr/bin/env bash
# Trains (unless RUN/best.pt exists and --ship-only is given), exports and evaluates the shipped
# magnetic-tile model. Usage: Models/training/magnetic-tile.sh DATASET_ROOT RUN_DIR [--ship-only]
#   RECIPE (the card has each recipe's settings and figures):
#     s14 (default, shipped since session 22): s11 with a three-level generator (bottleneck
#        32x32x32 instead of 32x16x16: a sharper reconstruction for the U-Net; 1.933 GMAC)
#     s11 (shipped in sessions 14-21): s9 with the quantisation-aware fine-tune simulating
#        the converter's skip-join rescale (--qat-balance-gamma 0.25, the converter's default), so
#        the fine-tune learns the int8 joins the box runs; stage 1 is s9's, bit for bit
#     s10 (NOT shipped: session 14's run, 78.9 min, missed the hard-set rule, 177.92 < 180.32,
#        trading pixel for image AUROC as s8 did): s9 with s8's defect mix, and stage 1 validated
#        every 200 iterations instead of 100 (each validation costs ~0.75 min; this pays for the mix)
#     s9 (shipped in sessions 12-13): s7 with the U-Net's three deepest levels widened (8,
#        16, 48, 96, 128 instead of 8, 16, 32, 64, 64: 1.968 GMAC at 256x256 instead of 1.487) and
#        NHWC tensors, which keep the training time of s7 on a 2-core AVX2 CPU (85.6 min)
#     s8 (NOT shipped: session 8's int8 file scored 0.63 image AUROC above its fp32 on the hard
#        validation set; session 10's run, THREADS=2, 81 min, missed the hard-set rule by 0.44):
#        s7 with a defect mix modelled on the data set's classes
#     s7 (shipped in sessions 7-11): s6 with stage 1 in fp32 (faster than bf16 autocast on
#        this CPU) for 2600 iterations instead of 2200, about the same wall time
#     s6 (shipped in session 6): s5's settings for 2200 iterations (RUN/float), then a 150-iteration
#        quantisation-aware fine-tune into RUN (the .grdnet gets its learned activation ranges)
#     s5 (not shipped: its int8 file lost 7 image-AUROC points to fp32 on the hard validation set):
#        session 3's recipe + generator/U-Net AdamW beta1 0.9, checkpoints chosen by the engine's
#        standardised score on the hard validation set
#     s4 (not shipped: lost on the hard validation set); s3 (shipped in sessions 3-5)
#   Every recipe writes Models/magnetic-tile.*: run a recipe other than the default in a copy of Models/.
#   TRAIN_ONLY=1 stops after training (choose/check the checkpoint before any test figure)
#   VALIDATION_ONLY=1 exports, adds the score statistics and prints the Swift engine's validation
#     figures (int8 and fp32, both sets), but reads no test image: a candidate judged by a rule
#     written before its figures (with --ship-only: the checkpoint of an earlier TRAIN_ONLY run)
#   DATASET_ROOT: the MVTec-layout magnetic-tile folder (train/good, test/*, ground_truth/*)
#   RUN_DIR:      checkpoints and logs (outside git)
# Writes Models/magnetic-tile.{onnx,json,grdnet} and RUN_DIR/{float,int8}.json (metrics).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
models="$(dirname "$here")"
data="${1:?usage: magnetic-tile.sh DATASET_ROOT RUN_DIR [--ship-only]}"
run="${2:?usage: magnetic-tile.sh DATASET_ROOT RUN_DIR [--ship-only]}"
# Installs what it needs, as the README's commands do: the venv (unless PYTHON names another
# interpreter), gimp-data (the texture fills of training and of the validation sets; both stop
# without them), and, before the Swift steps, the build packages.
source "$models/../deploy/lib/common.sh"
if [ -z "${PYTHON:-}" ]; then venv_ensure; fi
py="${PYTHON:-$GRD_ROOT/.venv/bin/python}"
apt_ensure gimp-data
export OMP_WAIT_POLICY=PASSIVE
cd "$here"
recipe="${RECIPE:-s14}"
# Each recipe is one arm of the `case` below: what it changes from the defaults here. The defaults
# are s7's two stages (the shipped recipe of sessions 7-11): stage 1 in fp32 for 2600 iterations
# (fp32 ran 1.22 s/iteration against 1.48 for bf16 autocast on this CPU, so 2600 fp32 iterations
# take about the time of 2200 bf16 ones), validated every 100, then a quantisation-aware fine-tune
# (150 iterations, fp32, lr 1e-4, no warm-up) whose learned activation ranges go into the .grdnet:
# session 5's network lost 7.4 image-AUROC points in int8 with ranges calibrated on good images,
# +0.3 after QAT. The defect mix of s5-s7: 30% breaks, the rest Perlin.
# torch threads: 2 for s7-s14 (session 11: the s7 recipe trained in 79.2 min at 2 threads on a
# 2-core AMD EPYC; ~95 min at 1 thread there, session 9); the older recipes keep the 1 thread they
# were run with. A run reproduces bit for bit only on the same CPU kind and thread count: the
# shipped file (s14) was trained at THREADS=2 on that AMD EPYC (AVX2); session 7's file at
# THREADS=1 on an Intel CPU with AVX-512 (the card has the runs). Pinning torch, oneDNN, OpenBLAS
# and numpy to AVX2 on an AVX-512 CPU does not recover the AMD run (session 17), so no pins here.
kind=two-stage
threads_default=1
synth='{"break_prob": 0.3}'
net=()
stage1=(--iters 2600 --precision fp32)
val1=100
qat_extra=()
aug=()
# validation bookkeeping only (val1_extra: stage 1, val2_extra: the fine-tune); the weights are the same
# without it (tests/test_determinism.py)
val1_extra=()
val2_extra=()
# s8 and s10 (session 8's experiment, both stages): 30% breaks (a third of them small chips), 15%
# dark pits, 15% thin cracks, the rest Perlin (30% of those faint). s3 and s4 spell out their own.
mix8='{"break_prob": 0.3, "small_break_prob": 0.3, "pit_prob": 0.15, "crack_prob": 0.15, "faint_prob": 0.3}'
# s9: the generator reconstructs only a blurred part (its 32x16x16 bottleneck drops the surface
# texture), so the U-Net does the detecting; it gets the spare compute of the 2 GMAC budget
wide_unet_widths='"unet_widths": [8, 16, 48, 96, 128]'
wide_unet=(--widths "{$wide_unet_widths}" --channels-last)
case "$recipe" in
    # s11: the fine-tune rounds the skip joins as the converter rescales them (qat.py, session 14)
    s11) threads_default=2; net=("${wide_unet[@]}"); qat_extra=(--qat-balance-gamma 0.25) ;;
    # s12 (NOT shipped: session 20 judged session 19's experiment, 54.9 min; it missed the wide-set
    # rule, 176.58 < 176.85): s11 with the good images also flipped upside down and their gamma
    # and gain jittered by up to 20%, in both stages (other lighting, the same defects)
    s12) threads_default=2; net=("${wide_unet[@]}"); qat_extra=(--qat-balance-gamma 0.25)
         aug=(--vflip --photometric 0.2) ;;
    # s13 (NOT shipped: session 21, 77.1 min; hard 175.22 < 180.49 and old 197.56 < 197.76 on
    # validation): s11 with every frame letterboxed instead of squashed (aspect
    # ratio kept, centred, padded with the parts' mean grey; the padding is outside the ROI, the
    # defects are drawn on the part only), in both stages; the .grdnet tells the box to letterbox
    s13) threads_default=2; net=("${wide_unet[@]}"); qat_extra=(--qat-balance-gamma 0.25)
         aug=(--fit letterbox) ;;
    # s14 (shipped since session 22; 75.7 min, passed its rule on validation): s11 with a
    # three-level generator, so its bottleneck z is
    # 32x32x32 (1/8 of the frame, 0.5 values per pixel) instead of 32x16x16: a sharper
    # reconstruction X^ of the part's texture for the U-Net to compare with (1.933 GMAC)
    s14) threads_default=2; net=(--widths "{$wide_unet_widths, \"gen_widths\": [8, 16, 32, 64]}" --channels-last)
         qat_extra=(--qat-balance-gamma 0.25)
         # since session 24: stage 1 validated every 100 from iteration 1300 only (its best
         # checkpoints come late in the cosine schedule: 2500 of 2600 here), and the old validation
         # set (only printed) left out of both stages: 14 validations of ~0.3 min instead of 26 of
         # ~0.6 on 2 cores. The same weights, the same selected iteration, the same file.
         val1_extra=(--val-start 1300 --no-old-val); val2_extra=(--no-old-val) ;;
    # s10: s8's mix on s9's network; stage 1 validated every 200 iterations (~0.75 min each) to
    # pay for the mix
    s10) threads_default=2; net=("${wide_unet[@]}"); synth="$mix8"; val1=200 ;;
    s9) threads_default=2; net=("${wide_unet[@]}") ;;
    s8) threads_default=2; synth="$mix8" ;;
    s7) threads_default=2 ;;
    # s6, shipped in session 6: stage 1 = session 5's settings trained longer (2200 iterations,
    # bf16 autocast where the CPU has it; the beta1 0.9 run still improved at 1500)
    s6) stage1=(--iters 2200) ;;
    s5 | s4 | s3) kind="$recipe" ;;
    *) echo "magnetic-tile.sh: unknown RECIPE=$recipe (known: s14, the default; s13, s12, s11, s10, s9, s8, s7, s6, s5, s4, s3)" >&2
       exit 2 ;;
esac
threads="${THREADS:-$threads_default}"
# session 5's settings (RECIPE=s5, and both stages of the two-stage recipes): the loss, optimiser,
# selection and bookkeeping; each recipe adds its schedule and output folder
beta09=(--crop 256 --batch 4 --synth "$synth" --focal-alpha 0.25 --beta1 0.9 --select hard-z
        --stats-images 128 --keep-val-checkpoints --ckpt-every 50 --threads "$threads" --seed 0
        ${net[@]+"${net[@]}"} ${aug[@]+"${aug[@]}"})
if [ "${3:-}" != "--ship-only" ]; then
    case "$kind" in
    two-stage)
    "$py" -m grdnet_train train --data "$data" --out "$run/float" "${stage1[@]}" "${beta09[@]}" \
        --val-every "$val1" --max-minutes "${MAX_MINUTES:-0}" ${val1_extra[@]+"${val1_extra[@]}"}
    "$py" -m grdnet_train train --data "$data" --out "$run" --init "$run/float/best.pt" --qat --precision fp32 \
        --iters 150 --warmup 0 --lr 1e-4 "${beta09[@]}" --val-every 50 ${qat_extra[@]+"${qat_extra[@]}"} \
        ${val2_extra[@]+"${val2_extra[@]}"}
    ;;
    s5)
    # session-5 experiment (NOT the shipped model: int8 loss, see the card): session 3's recipe below plus generator/U-Net AdamW beta1 0.9 (session 4 saw the
    # beta1 0.5 runs collapse around iterations 800-950; a beta1 0.9 fine-tune did not), and
    # checkpoints chosen as the engine scores: hard validation set, image AUROC of the standardised
    # box-5 score (per-pixel statistics of 128 fixed train-split good images, floor 0.01) + pixel
    # AUROC; a copy of every validated checkpoint is kept (RUN/it{N}.pt).
    "$py" -m grdnet_train train --data "$data" --out "$run" --iters 1500 "${beta09[@]}" \
        --val-every 100 --max-minutes "${MAX_MINUTES:-0}"
    ;;
    s4)
    # session-4 experiment (NOT the shipped model; lost on the hard validation set, see the card):
    # a defect mix modelled on the data set's published defect classes (20% breaks, half of them
    # small chips; 20% small dark pits; 15% thin cracks; the rest Perlin, 30% of those faint),
    # pit/crack training labels dilated by 4 px, adversarial weight 0.1, 1200 iterations;
    # checkpoints chosen on the hard validation set (pits/cracks/faint/chips).
    "$py" -m grdnet_train train --data "$data" --out "$run" --iters "${ITERS:-1200}" --crop 256 --batch 4 \
        --synth '{"break_prob": 0.2, "small_break_prob": 0.5, "pit_prob": 0.2, "crack_prob": 0.15, "faint_prob": 0.3, "small_label_dilate": 4}' \
        --focal-alpha 0.25 --w-adv 0.1 --select hard --val-every 100 \
        --ckpt-every 50 --threads "$threads" --seed 0 --max-minutes "${MAX_MINUTES:-0}"
    ;;
    s3)
    # RECIPE=s3, the shipped run of sessions 3-5: whole 256x256 frames (batch 4) so a break at the tile's edge is
    # seen in context, 30% synthetic breaks, focal alpha 0.25, a 1500-iteration cosine schedule,
    # checkpoints chosen on the old validation set (--select old; session 4 added a hard set,
    # printed beside it, which does not change this run's training).
    # 1 thread (on a shared 2-core machine 1 thread was faster than 2; THREADS=2 on an idle one:
    # session 10 measured 1.37 s/iteration at 1 thread, 1.03 at 2).
    # --max-minutes is only a safety net for a slow machine: the card says whether it cut the run.
    "$py" -m grdnet_train train --data "$data" --out "$run" --iters 1500 --crop 256 --batch 4 \
        --synth '{"break_prob": 0.3}' --focal-alpha 0.25 --select old --val-every 100 \
        --ckpt-every 50 --threads "$threads" --seed 0 --max-minutes "${MAX_MINUTES:-0}"
    ;;
    esac
fi
if [ "${TRAIN_ONLY:-0}" = "1" ]; then echo "TRAIN_ONLY=1: stopping after training ($run/best.pt)"; exit 0; fi
ck="$run/best.pt"
th="$("$py" -m grdnet_train threshold --checkpoint "$ck" | tee "$run/threshold.json" |
      "$py" -c 'import json,sys; print(json.load(sys.stdin)["recommended_threshold"])')"
"$py" -m grdnet_train export --checkpoint "$ck" --out "$models/magnetic-tile.onnx" \
    --calibration "$run/calibration.npy" --calibration-count 16 --threshold "$th" \
    --grdnet "$models/magnetic-tile.grdnet"
val_only="${VALIDATION_ONLY:-0}"
if [ "$val_only" != "1" ]; then
# float (ONNX Runtime) and int8 (converter + integer reference) evaluations run side by side
"$py" -m grdnet_train evaluate --onnx "$models/magnetic-tile.onnx" --data "$data" --json \
    --threshold "$th" --int8 "$run/calibration.npy" > "$run/int8.json" &
int8_pid=$!
"$py" -m grdnet_train evaluate --onnx "$models/magnetic-tile.onnx" --data "$data" --json \
    --threshold "$th" --overlays 24 --overlay-dir "$run/overlays" > "$run/float.json"
wait "$int8_pid"
"$py" - "$run" <<'PY'
import json, sys
from grdnet_train.evaluate import format_table
for k in ("float", "int8"):
    r = json.load(open(f"{sys.argv[1]}/{k}.json"))
    print(f"\n{k}:\n" + format_table(r))
    print("at threshold:", json.dumps(r.get("at_threshold")))
PY
# the int8 figures come from a rebuild of the shipped file: check it is byte-identical
want="$(sha256sum "$models/magnetic-tile.grdnet" | cut -d' ' -f1)"
got="$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["int8_file_sha256"])' "$run/int8.json")"
if [ "$want" = "$got" ]; then echo "int8 evaluation used a file identical to Models/magnetic-tile.grdnet ($want)"
else echo "WARNING: int8 evaluation rebuilt a different file ($got) than Models/magnetic-tile.grdnet ($want)"; fi
fi

# Good-part score statistics (FORMAT.md section 6, session 4): the Swift engine, with the box's own
# decoder and resampler, learns the per-pixel mean/std of its map over the train split's good
# images; the default threshold becomes the highest standardised score of the held-out validation
# good images. Chosen on validation only (score_rules.py: image AUROC 97.09 with the plain 21x21
# rule, 99.29 standardised with box 5, floor 0.01). Deterministic: the file is reproducible.
"$py" - "$ck" "$data" "$run" <<'PY'
import os, sys, torch
from grdnet_train import data
ck = torch.load(sys.argv[1], weights_only=False, map_location="cpu")
val = set(ck["val_files"])
files = data.list_images(data.good_folder(sys.argv[2]))
with open(f"{sys.argv[3]}/train-good.txt", "w") as f:
    f.writelines(p + "\n" for p in files if os.path.basename(p) not in val)
with open(f"{sys.argv[3]}/val-good.txt", "w") as f:
    f.writelines(p + "\n" for p in files if os.path.basename(p) in val)
PY
build_deps_ensure
(cd "$GRD_ROOT" && swift build -c release --product grdnet 2>&1 | tail -n 1)
grdnet="$(cd "$GRD_ROOT" && swift build -c release --show-bin-path)/grdnet"
"$grdnet" model score-stats --model "$models/magnetic-tile.grdnet" --good "$run/train-good.txt" \
    --threshold-from "$run/val-good.txt" --output "$models/magnetic-tile.grdnet" --box 5 --floor 0.01 \
    | tee "$run/score-stats.txt"
# int8 against fp32 on VALIDATION, before any test figure (session 5: a network can pass the fp32
# rule and still lose several points in int8, which is what the box runs). The Swift engine scores
# the file on the fixed validation sets (val_sets.py writes them as MVTec folders); the ship rule
# asks int8 within 0.5 AUROC of fp32 and better int8 figures than the shipped file's. The wide set
# (session 10: the hard set's good images with 4 defects each, 380 images) is for the int8-fp32
# check: on the 76 + 76 hard set one defect image moves image AUROC by 1.3 points.
"$py" val_sets.py "$ck" "$run/valsets"
for s in hard wide old; do
    for p in int8 fp32; do
        "$grdnet" eval --model "$models/magnetic-tile.grdnet" --dataset "$run/valsets/$s" --precision "$p" \
            --threads "${THREADS:-2}" --json > "$run/val-$s-$p.json"
    done
    "$py" - "$run" "$s" <<'PY'
import json, sys
r = {p: json.load(open(f"{sys.argv[1]}/val-{sys.argv[2]}-{p}.json")) for p in ("int8", "fp32")}
print(f"validation ({sys.argv[2]} set), Swift engine: " + ", ".join(
    f"{k} int8 {100 * r['int8'][k]:.2f} fp32 {100 * r['fp32'][k]:.2f} (int8 - fp32 {100 * (r['int8'][k] - r['fp32'][k]):+.2f})"
    for k in ("image_auroc", "pixel_auroc")))
PY
done
if [ "$val_only" = "1" ]; then echo "VALIDATION_ONLY=1: no test image read ($models/magnetic-tile.grdnet)"; exit 0; fi
# the shipped file's test figures, as the box scores them (Swift engine, int8 and fp32)
for p in int8 fp32; do
    "$grdnet" eval --model "$models/magnetic-tile.grdnet" --dataset "$data" --precision "$p" --threads "${THREADS:-2}" \
        | tee "$run/swift-$p.txt"
done
# The new file against the one committed at HEAD, on the same test images (paired bootstrap of
# image and pixel AUROC, Swift int8): whether a rerun "reproduces the shipped figures" is a
# difference, and this test split resolves differences only from a few points (card, session 18).
if git -C "$GRD_ROOT" show HEAD:Models/magnetic-tile.grdnet > "$run/committed.grdnet" 2>/dev/null; then
    "$grdnet" eval --model "$models/magnetic-tile.grdnet" --dataset "$data" --threads "${THREADS:-2}" \
        --baseline "$run/committed.grdnet" > "$run/swift-vs-committed.txt"
    sed -n '/^against the baseline/,$p' "$run/swift-vs-committed.txt" | sed "s|$run/committed.grdnet|the file committed at HEAD|"
else
    echo "no Models/magnetic-tile.grdnet committed at HEAD here (not a git checkout): no paired comparison"
fi
