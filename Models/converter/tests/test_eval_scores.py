"""`grdnet eval --scores`: every image's score on file, and the bootstrap interval of image AUROC."""
import csv
import json
import os
import subprocess
from pathlib import Path

from conftest import ROOT, run_cli

SHIPPED = str(ROOT / "Models" / "magnetic-tile.grdnet")
SAMPLES = ROOT / "Models" / "samples" / "magnetic-tile"


def _dataset(tmp_path):
    """The sample images in the MVTec layout (no masks: pixel metrics are not what is tested)."""
    root = tmp_path / "data"
    for image in sorted(SAMPLES.glob("*.jpg")):
        cls = image.name.split("_")[0]
        (root / "test" / cls).mkdir(parents=True, exist_ok=True)
        (root / "test" / cls / image.name).write_bytes(image.read_bytes())
    return root


def _baseline(path, data, good_score, defect_score):
    """A scores file as another model would have written it, on the data set somewhere else."""
    lines = ["class\tpath\tscore"]
    for image in sorted((data / "test").glob("*/*.jpg")):
        cls = image.parent.name
        lines.append(f"{cls}\t/elsewhere/test/{cls}/{image.name}\t{good_score if cls == 'good' else defect_score}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _auroc(negatives, positives):
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def test_scores_file_matches_the_reported_auroc_and_lies_in_its_interval(tmp_path, grdnet_bin):
    data = _dataset(tmp_path)
    scores = tmp_path / "scores.tsv"
    common = [grdnet_bin, "eval", "--model", SHIPPED, "--dataset", str(data), "--threads", "1"]
    perfect = _baseline(tmp_path / "perfect.tsv", data, 0.0, 1.0)  # AUROC 1 on every class
    inverted = _baseline(tmp_path / "inverted.tsv", data, 1.0, 0.0)  # AUROC 0 on every class
    # The table run goes beside the JSON one: two cores, half the wait of the debug build.
    table = subprocess.Popen(common + ["--baseline", str(inverted)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    r = run_cli(*common, "--scores", str(scores), "--json", "--baseline", str(perfect))
    table_out, table_err = table.communicate()
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    rows = list(csv.DictReader(scores.open(), delimiter="\t"))
    assert len(rows) == out["images"] == len(list(SAMPLES.glob("*.jpg")))
    assert {row["class"] for row in rows} == {"good", "blowhole", "break", "crack"}
    for row in rows:
        assert (data / "test" / row["class"]).as_posix() in row["path"]
    good = [float(row["score"]) for row in rows if row["class"] == "good"]
    bad = [float(row["score"]) for row in rows if row["class"] != "good"]
    # Scores are printed rounded to float precision; the AUROC from the file must be the same.
    assert abs(_auroc(good, bad) - out["image_auroc"]) < 1e-9
    lo, hi = out["image_auroc_ci95"]
    assert 0 <= lo <= out["image_auroc"] <= hi <= 1
    if 0 < out["image_auroc"] < 1:
        assert lo < hi, "an imperfect ranking of 5 goods and 9 defects cannot be pinned to one value"
    else:   # a perfect (or inverted) ranking stays so in every resample (session 22's file ranks these 14 perfectly)
        assert lo == hi == out["image_auroc"]
    for cls, (lo, hi) in out["image_auroc_ci95_per_class"].items():
        cls_scores = [float(row["score"]) for row in rows if row["class"] == cls]
        assert abs(_auroc(good, cls_scores) - out["image_auroc_per_class"][cls]) < 1e-9
        assert lo <= out["image_auroc_per_class"][cls] <= hi
    assert out["scores_file"] == str(scores)

    # The table shows the same interval, one decimal.
    assert table.returncode == 0, table_err
    line = next(l for l in table_out.splitlines() if l.startswith("all defects"))
    lo, hi = out["image_auroc_ci95"]
    assert f"{lo * 100:.1f} - {hi * 100:.1f}" in line, line
    # Against a perfect baseline the difference is this model's shortfall, never above zero.
    base = out["baseline"]
    assert base["file"] == str(perfect) and base["image_auroc"] == 1.0
    assert abs(base["difference"] - (out["image_auroc"] - 1)) < 1e-12
    lo, hi = base["difference_ci95"]
    assert lo <= base["difference"] <= hi <= 0
    assert set(base["per_class"]) == {"blowhole", "break", "crack"}
    for cls, row in base["per_class"].items():
        assert abs(row["difference"] - (out["image_auroc_per_class"][cls] - 1)) < 1e-12
    # Against an inverted one, the table says this model is better, with the difference signed.
    header = next(l for l in table_out.splitlines() if l.startswith("against the baseline"))
    assert str(inverted) in header and "same 14 images" in header, header
    assert "scores file holds image scores only" in table_out
    rows = [l for l in table_out.splitlines() if l.startswith("all defects")]
    assert len(rows) == 2 and "this model better" in rows[1], rows
    assert f"+{out['image_auroc'] * 100:.2f}" in rows[1], rows[1]

    # No masks: the pixel metrics cannot be computed; null in JSON, said in words in the table.
    assert out["pixel_auroc"] is None and out["missing_masks"] == len(bad)
    assert "pixel AUROC" in table_out and "no defect pixels" in table_out and "nan" not in table_out


def test_an_unwritable_scores_path_is_named_before_scoring(tmp_path, grdnet_bin):
    data = _dataset(tmp_path)
    # A truncated image: had the images been scored first, its error would come instead.
    crack = sorted(SAMPLES.glob("crack_*.jpg"))[0]
    (data / "test" / "crack" / "broken.jpg").write_bytes(crack.read_bytes()[:3000])
    nowhere = tmp_path / "no-such-folder" / "scores.tsv"
    r = run_cli(grdnet_bin, "eval", "--model", SHIPPED, "--dataset", str(data), "--scores", str(nowhere))
    assert r.returncode == 64, (r.returncode, r.stderr)
    assert f"{tmp_path / 'no-such-folder'} does not exist" in r.stderr, r.stderr
    assert "truncated JPEG" not in r.stderr, "scored the images before checking --scores"
    r = run_cli(grdnet_bin, "eval", "--model", SHIPPED, "--dataset", str(data), "--scores", str(tmp_path))
    assert r.returncode == 64 and "is a folder" in r.stderr, r.stderr


def test_a_wrong_baseline_file_is_named_before_scoring(tmp_path, grdnet_bin):
    data = _dataset(tmp_path)
    crack = sorted(SAMPLES.glob("crack_*.jpg"))[0]
    good = _baseline(tmp_path / "good.tsv", data, 0.0, 1.0).read_text().splitlines()
    # A truncated image: had the images been scored first, its error would come instead.
    (data / "test" / "crack" / "broken.jpg").write_bytes(crack.read_bytes()[:3000])

    def run(name, text=None):
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        r = run_cli(grdnet_bin, "eval", "--model", SHIPPED, "--dataset", str(data), "--baseline", str(path))
        assert r.returncode == 64, (name, r.returncode, r.stderr)
        assert "truncated JPEG" not in r.stderr and "Usage:" not in r.stderr, r.stderr
        return r.stderr

    assert "cannot be read" in run("none.tsv")
    (tmp_path / "folder").mkdir()
    assert "is a folder, not a model or scores file" in run("folder")
    # A damaged model file as the baseline: the model reader's own error, naming the file.
    (tmp_path / "cut.grdnet").write_bytes(Path(SHIPPED).read_bytes()[:5000])
    assert f"model file {tmp_path / 'cut.grdnet'}: header says" in run("cut.grdnet")
    assert "first line is not 'class<TAB>path<TAB>score'" in run("header.tsv", "path,score\n")
    assert "line 3: 2 tab-separated fields, expected 3" in run("fields.tsv", "\n".join(good[:2] + ["a\tb"]))
    assert "line 2: score 'high' is not a number" in run("nan.tsv", "\n".join([good[0], good[1].rsplit("\t", 1)[0] + "\thigh"]))
    assert "is listed twice" in run("twice.tsv", "\n".join(good + [good[1]]))
    # The broken image has no baseline score: named, with how many are missing.
    err = run("short.tsv", "\n".join(good))
    assert "has no score for 1 of the 15 images here (first: crack/broken.jpg)" in err, err


def test_the_training_command_ends_with_the_paired_comparison(tmp_path, grdnet_bin):
    """magnetic-tile.sh's last block, run as the script runs it: the committed file at HEAD of a
    checkout against the file the run wrote (here the same file: a difference of exactly zero)."""
    script = (ROOT / "Models" / "training" / "magnetic-tile.sh").read_text()
    block = script[script.index("# The new file against the one committed at HEAD"):]
    repo = tmp_path / "repo"
    (repo / "Models").mkdir(parents=True)
    (repo / "Models" / "magnetic-tile.grdnet").write_bytes(Path(SHIPPED).read_bytes())
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "Models"], check=True)
    subprocess.run(git + ["commit", "-qm", "model"], check=True)
    data = tmp_path / "data"
    for image in sorted(SAMPLES.glob("good_*.jpg"))[:2] + sorted(SAMPLES.glob("crack_*.jpg"))[:2]:
        cls = image.name.split("_")[0]
        (data / "test" / cls).mkdir(parents=True, exist_ok=True)
        (data / "test" / cls / image.name).write_bytes(image.read_bytes())
    run = tmp_path / "run"
    run.mkdir()
    env = dict(os.environ, GRD_ROOT=str(repo), run=str(run), models=str(repo / "Models"), data=str(data),
               grdnet=grdnet_bin, THREADS="1")
    r = subprocess.run(["bash", "-c", "set -euo pipefail\n" + block], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("against the baseline the file committed at HEAD, AUROC on the same 4 images"), r.stdout
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("all defects") and "+0.00 to +0.00" in last and "not told apart" in last, r.stdout
    assert (run / "swift-vs-committed.txt").exists()

    # Outside a git checkout it says why there is no comparison, and does not fail the run.
    env["GRD_ROOT"] = str(tmp_path / "not-a-repo")
    r = subprocess.run(["bash", "-c", "set -euo pipefail\n" + block], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and "no paired comparison" in r.stdout, (r.stdout, r.stderr)


def test_pixel_auroc_has_an_interval_when_there_are_masks(tmp_path, grdnet_bin):
    from PIL import Image

    data = tmp_path / "data"
    for image in sorted(SAMPLES.glob("good_*.jpg")) + sorted(SAMPLES.glob("crack_*.jpg")):
        cls = image.name.split("_")[0]
        (data / "test" / cls).mkdir(parents=True, exist_ok=True)
        (data / "test" / cls / image.name).write_bytes(image.read_bytes())
        if cls != "good":
            # A mask over the middle third: defect pixels in every defective image.
            w, h = Image.open(image).size
            mask = Image.new("L", (w, h), 0)
            mask.paste(255, (w // 3, h // 3, 2 * w // 3, 2 * h // 3))
            (data / "ground_truth" / cls).mkdir(parents=True, exist_ok=True)
            mask.save(data / "ground_truth" / cls / f"{image.stem}_mask.png")
    # The baseline is a model file (under a name without .grdnet: the magic bytes tell), here the
    # same model: every paired difference, image and pixel, is exactly zero.
    twin = tmp_path / "same-model.bin"
    twin.write_bytes(Path(SHIPPED).read_bytes())
    r = run_cli(grdnet_bin, "eval", "--model", SHIPPED, "--dataset", str(data), "--threads", "1", "--json",
                "--baseline", str(twin))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["missing_masks"] == 0 and out["pixel_auroc"] is not None
    lo, hi = out["pixel_auroc_ci95"]
    assert 0 <= lo <= out["pixel_auroc"] <= hi <= 1 and lo < hi, (lo, out["pixel_auroc"], hi)
    # Per class: the class's images with all good images (the only class here: the same pixels).
    crack = out["pixel_per_class"]["crack"]
    assert abs(crack["pixel_auroc"] - out["pixel_auroc"]) < 1e-12 and crack["pixel_ap"] == out["pixel_ap"]
    assert crack["pixel_auroc_ci95"][0] <= crack["pixel_auroc"] <= crack["pixel_auroc_ci95"][1]
    base = out["baseline"]
    assert base["kind"] == "model" and base["pixel_auroc"] == out["pixel_auroc"]
    assert base["pixel_difference"] == 0 and base["pixel_difference_ci95"] == [0, 0]
    assert base["difference"] == 0 and base["difference_ci95"] == [0, 0]
