"""python -m grdnet_train {train,evaluate,export,count-macs} ..."""
from __future__ import annotations

import argparse
import json
import sys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m grdnet_train", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train", help="train GRD-Net-Edge on good images")
    t.add_argument("--data", required=True, help="folder of good images, or an MVTec-layout root")
    t.add_argument("--out", required=True, help="run folder (checkpoints, logs)")
    t.add_argument("--channels", type=int, default=1, choices=[1, 3])
    t.add_argument("--size", type=int, default=256)
    t.add_argument("--crop", type=int, default=128)
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--iters", type=int, default=3000)
    t.add_argument("--lr", type=float, default=5e-4)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--roi", default=None, help="ROI mask file (per product) or folder (per image)")
    t.add_argument("--val-fraction", type=float, default=0.1)
    t.add_argument("--val-every", type=int, default=500)
    t.add_argument("--val-start", type=int, default=0,
                   help="first iteration validated (then every --val-every; the last always is): the run is the "
                        "same, only fewer checkpoints are candidates")
    t.add_argument("--no-old-val", action="store_true",
                   help="do not score the old validation set during training (it is only printed unless --select old)")
    t.add_argument("--ckpt-every", type=int, default=250)
    t.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    t.add_argument("--channels-last", action="store_true",
                   help="NHWC tensors in fp32 too (bf16 always uses them): faster on AVX2 CPUs, rounds differently")
    t.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    t.add_argument("--stop-after", type=int, default=0,
                   help="stop at this iteration; the cosine LR schedule still spans --iters")
    t.add_argument("--max-minutes", type=float, default=0.0, help="stop early after this long")
    t.add_argument("--no-textures", action="store_true", help="no GIMP texture fills")
    t.add_argument("--fit", choices=("squash", "letterbox"), default="squash",
                   help="frame -> size x size: squash (aspect not kept) or letterbox (aspect kept, padding outside the ROI)")
    t.add_argument("--vflip", action="store_true", help="also flip good images upside down (default: left-right only)")
    t.add_argument("--photometric", type=float, default=0.0,
                   help="jitter the good images' gamma and gain by up to this fraction (0 = off)")
    t.add_argument("--widths", default=None, help="JSON ModelConfig overrides")
    t.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    t.add_argument("--init", default="", help="start from this checkpoint's weights (a new schedule)")
    t.add_argument("--warmup", type=int, default=100, help="linear LR warm-up iterations")
    t.add_argument("--qat", action="store_true",
                   help="quantisation-aware fine-tuning (use with --init): simulate the converter's int8 rounding")
    t.add_argument("--qat-observe", type=int, default=20, help="QAT: observing steps before the rounding starts")
    t.add_argument("--qat-balance-gamma", type=float, default=0.0,
                   help="QAT: simulate the converter's skip-join rescale with this gamma (0 = off; the export "
                        "then uses the same gamma)")
    t.add_argument("--focal-alpha", type=float, default=None, help="focal weight of positives")
    t.add_argument("--w-bce", type=float, default=0.0, help="weight of an extra plain BCE term")
    t.add_argument("--w-adv", type=float, default=1.0, help="weight of the adversarial (feature matching) loss")
    t.add_argument("--beta1", type=float, default=0.5, help="AdamW beta1 of generator + U-Net (discriminator: 0.5)")
    t.add_argument("--lr-d", type=float, default=1e-4, help="discriminator learning rate")
    t.add_argument("--select", default="hard", choices=["hard", "old", "hard-z"],
                   help="checkpoint selection by the hard (pits/cracks/faint/chips) or the old validation set; "
                        "hard-z: the hard set with the engine's standardised score (good-part statistics "
                        "from --stats-images train-split good images) + its pixel AUROC")
    t.add_argument("--stats-images", type=int, default=128,
                   help="hard-z: train-split good images (fixed, spread over the sorted names) for the statistics")
    t.add_argument("--keep-val-checkpoints", action="store_true", help="also keep OUT/it{N}.pt at every validation")
    t.add_argument("--synth", default=None, help="JSON SynthConfig overrides, e.g. {\"break_prob\": 0.3}")

    e = sub.add_parser("evaluate", help="metrics on an MVTec-layout test split (float PyTorch or ONNX)")
    e.add_argument("--checkpoint", help="a .pt from train")
    e.add_argument("--onnx", help="an exported .onnx (with its .json sidecar)")
    e.add_argument("--data", required=True, help="MVTec-layout root with test/ and ground_truth/")
    e.add_argument("--int8", metavar="CALIBRATION_NPY", default=None,
                   help="with --onnx: quantise with the engine's converter and evaluate its integer "
                        "reference (bit-exact with the Swift engine) instead of float")
    e.add_argument("--threshold", type=float, default=None,
                   help="also report rejects/escapes at this image-score threshold")
    e.add_argument("--json", action="store_true")
    e.add_argument("--overlays", type=int, default=0, help="write this many heatmap overlays")
    e.add_argument("--overlay-dir", default=None)

    x = sub.add_parser("export", help="ONNX fp32 inference graph + sidecar JSON + calibration set")
    x.add_argument("--checkpoint", required=True)
    x.add_argument("--out", required=True, help="output .onnx path (sidecar: same name .json)")
    x.add_argument("--size", type=int, default=None, help="export size (default: training size)")
    x.add_argument("--calibration", default=None, help="write N good train images as .npy here")
    x.add_argument("--calibration-count", type=int, default=64)
    x.add_argument("--threshold", type=float, default=None, help="recommended image threshold")
    x.add_argument("--grdnet", default=None, help="also write the int8 .grdnet (needs --calibration)")
    x.add_argument("--card", default=None, help="JSON facts stored in the .grdnet metadata")

    th = sub.add_parser("threshold", help="recommend an image threshold from the validation split")
    th.add_argument("--checkpoint", required=True)

    c = sub.add_parser("count-macs", help="MACs of the exported inference graph")
    c.add_argument("--checkpoint", default=None)
    c.add_argument("--size", type=int, default=256)
    c.add_argument("--channels", type=int, default=1)

    a = ap.parse_args(argv)
    if a.cmd == "train":
        from .model import ModelConfig
        from .train import TrainConfig, train
        mc = ModelConfig(channels=a.channels).to_dict()
        if a.widths:
            mc.update(json.loads(a.widths))
        cfg = TrainConfig(data=a.data, out=a.out, channels=a.channels, size=a.size, crop=a.crop,
                          batch=a.batch, iters=a.iters, lr=a.lr, seed=a.seed, roi=a.roi,
                          val_fraction=a.val_fraction, val_every=a.val_every, val_start=a.val_start, old_val=not a.no_old_val,
                          ckpt_every=a.ckpt_every, precision=a.precision, threads=a.threads, max_minutes=a.max_minutes, stop_after=a.stop_after,
                          textures=not a.no_textures, model=mc, init=a.init, warmup=a.warmup, qat=a.qat, qat_observe=a.qat_observe, qat_balance_gamma=a.qat_balance_gamma,
                          focal_alpha=a.focal_alpha, w_bce=a.w_bce, w_adv=a.w_adv, lr_d=a.lr_d, betas_g=(a.beta1, 0.999),
                          select=a.select, stats_images=a.stats_images,
                          keep_val_checkpoints=a.keep_val_checkpoints, channels_last=a.channels_last,
                          vflip=a.vflip, photometric=a.photometric, fit=a.fit)
        if a.synth:
            cfg.synth.update(json.loads(a.synth))
        train(cfg, resume=a.resume)
    elif a.cmd == "evaluate":
        from .evaluate import evaluate_main
        return evaluate_main(a)
    elif a.cmd == "export":
        from .export import export_main
        return export_main(a)
    elif a.cmd == "threshold":
        from .evaluate import threshold_main
        return threshold_main(a)
    elif a.cmd == "count-macs":
        from .export import count_macs_main
        return count_macs_main(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
