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


def test_a_missing_file_is_not_called_a_command_line_error(tmp_path, grdnet_bin):
    # A model or folder that does not open is reported alone: the root usage line after it told
    # operators their command was wrong. Exit code stays 64, as before.
    (tmp_path / "test" / "good").mkdir(parents=True)
    r = run_cli(grdnet_bin, "eval", "--model", str(tmp_path / "none.grdnet"), "--dataset", str(tmp_path))
    assert r.returncode == 64, (r.returncode, r.stderr)
    assert f"{tmp_path / 'none.grdnet'}" in r.stderr and "Usage:" not in r.stderr, r.stderr
    r = run_cli(grdnet_bin, "images", str(tmp_path / "nowhere"))
    assert r.returncode == 64 and "nowhere" in r.stderr and "Usage:" not in r.stderr, r.stderr


def test_a_command_line_error_still_shows_the_subcommands_usage(grdnet_bin):
    r = run_cli(grdnet_bin, "eval", "--dataset", "x")
    assert r.returncode == 64 and "Usage: grdnet eval --model" in r.stderr, r.stderr
    r = run_cli(grdnet_bin, "calibrate")
    assert r.returncode == 64 and "Usage: grdnet calibrate" in r.stderr, r.stderr
    r = run_cli(grdnet_bin, "eval", "--help")
    assert r.returncode == 0 and r.stdout.startswith("OVERVIEW:") and "Error" not in r.stdout + r.stderr


def test_a_folder_for_a_file_and_a_file_for_a_folder_are_named(tmp_path, grdnet_bin):
    (tmp_path / "test" / "good").mkdir(parents=True)
    good = sorted(SAMPLES.glob("good_*.jpg"))[0]
    (tmp_path / "test" / "good" / good.name).write_bytes(good.read_bytes())
    r = run_cli(grdnet_bin, "eval", "--model", str(tmp_path), "--dataset", str(tmp_path))
    assert r.returncode == 64 and f"model file {tmp_path}: is a folder, not a model file" in r.stderr, r.stderr
    (tmp_path / "file").write_text("x")
    r = run_cli(grdnet_bin, "eval", "--model", SHIPPED, "--dataset", str(tmp_path), "--overlays", "1",
                "--overlay-dir", str(tmp_path / "file"))
    assert r.returncode == 64 and "is a file, not a folder" in r.stderr and "NSCocoaErrorDomain" not in r.stderr, r.stderr
