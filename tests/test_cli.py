import shlex
import subprocess
import sys

import pytest

from tui.cli import build_parser, main

TINY = ["--model", "linear", "--epochs", "1", "--batch-size", "64", "--device", "cpu", "--no-download"]


def cli(*args):
    """Run the installed command in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "tui", *args], capture_output=True, text=True, timeout=180)


def test_train_runs_export_end_to_end(tiny_data, runs_dir):
    trained = cli("train", *TINY, "--data-dir", str(tiny_data), "--runs-dir", str(runs_dir), "--export")
    assert trained.returncode == 0, trained.stderr
    for heading in ("val accuracy", "val F1", "test accuracy", "test F1"):
        assert heading in trained.stdout
    run = next(runs_dir.iterdir())
    assert "confusion_matrix.png" in trained.stdout and (run / "curves.png").is_file()

    listed = cli("runs", "--runs-dir", str(runs_dir))
    assert listed.returncode == 0 and run.name in listed.stdout and "completed" in listed.stdout

    (run / "metrics.csv").unlink()
    exported = cli("export", run.name, "--runs-dir", str(runs_dir))
    assert exported.returncode == 0 and (run / "metrics.csv").is_file()


def test_missing_data_exits_1_with_a_message_and_no_traceback(tmp_path):
    result = cli("train", *TINY, "--data-dir", str(tmp_path / "empty"), "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 1
    assert "MNIST/raw" in result.stderr and "train-images-idx3-ubyte" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_export_of_an_unknown_run_exits_1(tmp_path):
    result = cli("export", "nope", "--runs-dir", str(tmp_path))
    assert result.returncode == 1 and "no run named 'nope'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [[], ["train"], ["runs"], ["stop"], ["export"], ["predict"]])
def test_every_help_ends_with_example_commands_that_parse(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    help_text = capsys.readouterr().out.rstrip()
    _, examples = help_text.rsplit("\nexamples:\n", 1)
    lines = examples.splitlines()
    assert 2 <= len(lines) <= 3
    for line in lines:
        words = shlex.split(line.split(" > ")[0], comments=True)
        assert words[: 1 + len(command)] == ["mnist-tui", *command]
        build_parser().parse_args(words[1:])  # exits 2 if an example went stale


def test_the_dashboard_refuses_an_invalid_preset_before_it_opens(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--epochs", "0"])
    assert exited.value.code == 2
    assert "--epochs: must be a whole number from 1 to 10000" in capsys.readouterr().err
