"""`grdnet eval` on a wrongly given or damaged data set: an error that names the folder or file."""
from pathlib import Path

from conftest import ROOT, run_cli

SHIPPED = str(ROOT / "Models" / "magnetic-tile.grdnet")
SAMPLES = ROOT / "Models" / "samples" / "magnetic-tile"


def _eval(binary, dataset):
    return run_cli(binary, "eval", "--model", SHIPPED, "--dataset", str(dataset), "--threads", "1")


def test_the_test_folder_given_instead_of_the_root(tmp_path, grdnet_bin):
    (tmp_path / "test" / "good").mkdir(parents=True)
    r = _eval(grdnet_bin, tmp_path / "test")
    assert r.returncode != 0
    assert "looks like the test folder itself" in r.stderr, r.stderr
    assert "NSCocoaErrorDomain" not in r.stderr


def test_a_missing_or_file_dataset_is_named(tmp_path, grdnet_bin):
    r = _eval(grdnet_bin, tmp_path / "nowhere")
    assert r.returncode != 0 and f"{tmp_path / 'nowhere'} does not exist" in r.stderr, r.stderr
    (tmp_path / "file").write_text("x")
    r = _eval(grdnet_bin, tmp_path / "file")
    assert r.returncode != 0 and "is a file, not a folder" in r.stderr, r.stderr
    r = _eval(grdnet_bin, tmp_path)
    assert r.returncode != 0 and "MVTec AD layout" in r.stderr and "NSCocoaErrorDomain" not in r.stderr, r.stderr


def test_a_truncated_jpeg_is_named(tmp_path, grdnet_bin):
    good = sorted(SAMPLES.glob("good_*.jpg"))[0]
    crack = sorted(SAMPLES.glob("crack_*.jpg"))[0]
    (tmp_path / "test" / "good").mkdir(parents=True)
    (tmp_path / "test" / "crack").mkdir(parents=True)
    (tmp_path / "test" / "good" / good.name).write_bytes(good.read_bytes())
    broken = tmp_path / "test" / "crack" / "broken.jpg"
    broken.write_bytes(crack.read_bytes()[:3000])
    r = _eval(grdnet_bin, tmp_path)
    assert r.returncode != 0
    assert f"{broken}: truncated JPEG" in r.stderr, r.stderr
