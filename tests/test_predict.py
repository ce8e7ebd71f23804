"""engine.predict: mistakes of a run, MNIST-style preprocessing, classifying drawings and files; the CLI."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from idx import synthetic_digits
from PIL import Image
from trained import train_tiny_run

from engine import export, predict
from engine.checkpoints import load_model as real_load_model
from engine.data import load_split
from engine.runs import load_run
from tui.cli import main


@pytest.fixture(scope="module")
def tiny_run(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp("runs"), tiny_data)


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    rows, columns = np.indices(image.shape)
    total = image.sum()
    return float((rows * image).sum() / total), float((columns * image).sum() / total)


def ink_box(image: np.ndarray) -> tuple[int, int]:
    rows, columns = np.nonzero(image)
    return int(rows.max() - rows.min() + 1), int(columns.max() - columns.min() + 1)


def test_a_shifted_digit_is_scaled_to_20_pixels_and_centred_by_mass() -> None:
    corner = np.zeros((28, 28))
    corner[1:11, 2:7] = 1.0  # a 10 x 5 block in the top-left corner
    shifted = np.roll(corner, (15, 18), axis=(0, 1))  # the same block near the bottom-right
    for drawing in (corner, shifted):
        result = predict.preprocess_drawing(drawing)
        assert result.dtype == np.uint8 and result.shape == (28, 28)
        assert ink_box(result) == (20, 10)  # the long side fills 20 pixels, the aspect ratio is kept
        row, column = centre_of_mass(result.astype(float))
        assert abs(row - 13.5) <= 0.5 and abs(column - 13.5) <= 0.5
    np.testing.assert_array_equal(predict.preprocess_drawing(corner), predict.preprocess_drawing(shifted))


def test_preprocessing_an_empty_drawing_gives_black_and_a_bad_shape_is_refused() -> None:
    assert not predict.preprocess_drawing(np.zeros((28, 28))).any()
    with pytest.raises(predict.InspectError, match="2-D"):
        predict.preprocess_drawing(np.zeros(28))


def test_mistakes_are_the_off_diagonal_of_the_confusion_matrix_worst_first(tiny_run: Path, tiny_data: Path) -> None:
    result = predict.inspect_run(tiny_run, tiny_data)
    assert result.split == "test"
    confusion = np.array(result.evaluated.confusion)
    assert len(result.mistakes) == confusion.sum() - np.trace(confusion) > 0
    confidences = [m.confidence for m in result.mistakes]
    assert confidences == sorted(confidences, reverse=True)
    images, labels = load_split("mnist", tiny_data, train=False, download=False)
    for mistake in result.mistakes[:5]:
        assert mistake.true != mistake.predicted and mistake.true == int(labels[mistake.index])
        assert mistake.pixels == images[mistake.index].numpy().tobytes()
    # Same weights and data as the trainer's own test evaluation, so the same score.
    summary = json.loads((tiny_run / "summary.json").read_text())
    assert result.evaluated.accuracy == pytest.approx(summary["test_accuracy"])


def test_validation_mistakes_use_the_training_runs_own_split(tiny_run: Path, tiny_data: Path) -> None:
    result = predict.inspect_run(tiny_run, tiny_data, split="val")
    run = load_run(tiny_run)
    best = next(e for e in run.evaluations if e.split == "val" and e.epoch == result.evaluated.epoch)
    assert result.evaluated.confusion == best.confusion


def test_a_drawn_canvas_is_classified_by_the_runs_model(tiny_run: Path) -> None:
    predictor = predict.Predictor(tiny_run)
    # The tiny data's classes are bright blocks at fixed places, so classify its own images unpreprocessed.
    images, labels = synthetic_digits(40, seed=7)
    right = sum(
        int(np.argmax(predict.classify(predictor.model, predictor.normalize, image)) == label)
        for image, label in zip(images, labels, strict=True)
    )
    assert right >= 30  # one label in ten is noise
    canvas = np.zeros((28, 28))
    canvas[4:24, 13:15] = 1.0
    probabilities = predictor.predict(canvas)
    assert len(probabilities) == 10 and sum(probabilities) == pytest.approx(1.0, abs=1e-5)
    expected = predict.classify(predictor.model, predictor.normalize, predict.preprocess_drawing(canvas))
    assert probabilities == pytest.approx(expected)


def test_mistakes_png_is_written_into_the_run_and_decodes(tiny_run: Path, tiny_data: Path) -> None:
    path = export.export_mistakes(tiny_run, tiny_data)
    assert path == tiny_run / export.MISTAKES_PNG
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 300 and image.height > 100


def test_dark_on_light_images_are_inverted(tmp_path: Path) -> None:
    ink = np.zeros((40, 30), dtype=np.uint8)
    ink[5:35, 12:18] = 255
    Image.fromarray(255 - ink).save(tmp_path / "paper.png")
    Image.fromarray(ink).save(tmp_path / "screen.png")
    np.testing.assert_array_equal(predict.read_image(tmp_path / "paper.png"), ink)
    np.testing.assert_array_equal(predict.read_image(tmp_path / "screen.png"), ink)


def save_digits(folder: Path, count: int) -> list[Path]:
    """Dark ink on light paper, four times MNIST's size, as a scan would be."""
    folder.mkdir(parents=True, exist_ok=True)
    images, _ = synthetic_digits(count, seed=3)
    paths = [folder / f"digit{index}.png" for index in range(count)]
    for image, path in zip(images, paths, strict=True):
        Image.fromarray(255 - image).resize((112, 112)).save(path)
    return paths


def test_predict_cli_lists_ten_probabilities(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (image,) = save_digits(tmp_path, 1)
    code = main(["predict", "--runs-dir", str(tiny_run.parent), tiny_run.name, str(image)])
    out = capsys.readouterr().out
    assert code == 0
    (row,) = [line.split() for line in out.splitlines() if "digit0.png" in line]
    probabilities = [int(cell.rstrip("%")) / 100 for cell in row[3:]]
    assert len(probabilities) == 10 and sum(probabilities) == pytest.approx(1.0, abs=0.06)  # each rounded to 1%


def test_predict_cli_classifies_files_and_folders_loading_the_model_once(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scans = save_digits(tmp_path / "scans", 3)
    (tmp_path / "scans" / "notes.txt").write_text("not an image, and not named as one: left out")
    (tmp_path / "scans" / "torn.png").write_bytes(b"not a picture")
    single = save_digits(tmp_path / "more", 1)[0]
    loads = []
    monkeypatch.setattr(predict, "load_model", lambda *a, **k: loads.append(a) or real_load_model(*a, **k))
    args = ["predict", "--runs-dir", str(tiny_run.parent), tiny_run.name, str(single), str(tmp_path / "scans")]

    assert main([*args, str(tmp_path / "gone.png"), "--json"]) == 1  # the batch went on past the bad files
    records = json.loads(capsys.readouterr().out)
    assert len(loads) == 1
    torn, gone = tmp_path / "scans" / "torn.png", tmp_path / "gone.png"
    assert [Path(record["image"]) for record in records] == [single, *scans, torn, gone]  # one row per image
    good = records[:4]
    assert all(sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-4) for record in good)
    assert all(record["probabilities"][record["prediction"]] == record["probability"] for record in good)
    assert "not an image Pillow can read" in records[4]["error"] and records[4]["prediction"] is None
    assert "no image file at" in records[5]["error"]

    assert main([*args, "--csv"]) == 1
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert [Path(row["image"]) for row in rows] == [single, *scans, torn]
    assert list(rows[0])[3:13] == [str(digit) for digit in range(10)]
    assert rows[0]["error"] == "" and rows[-1]["prediction"] == "" and "torn.png" in rows[-1]["error"]
    assert "1 of 5 images could not be classified" in captured.err

    assert main(args[:-1]) == 0
    assert "digit0.png" in capsys.readouterr().out


def test_predict_cli_reports_a_folder_without_images(tiny_run: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["predict", "--runs-dir", str(tiny_run.parent), tiny_run.name, str(tmp_path / "empty")]) == 1
    assert "no image files in the folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"), [(None, "no image file"), (b"not a picture", "not an image Pillow can read")]
)
def test_predict_cli_explains_a_bad_image(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    image = tmp_path / "digit.png"
    if content is not None:
        image.write_bytes(content)
    assert main(["predict", "--runs-dir", str(tiny_run.parent), tiny_run.name, str(image)]) == 1
    assert message in capsys.readouterr().err


def test_export_cli_adds_mistakes_png(tiny_run: Path, tiny_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tiny_run / export.MISTAKES_PNG).unlink(missing_ok=True)
    assert main(["export", "--runs-dir", str(tiny_run.parent), tiny_run.name, "--data-dir", str(tiny_data)]) == 0
    assert (tiny_run / export.MISTAKES_PNG).is_file()
    assert "mistakes.png" in capsys.readouterr().out


def test_a_drawn_one_is_a_one_for_a_model_trained_on_real_mnist(real_data: Path, tmp_path: Path) -> None:
    run = train_tiny_run(tmp_path, real_data, limit=12_000, epochs=1, batch_size=128)
    canvas = np.zeros((28, 28))
    canvas[3:25, 13:15] = 1.0  # a vertical stroke, as drawn on the canvas
    probabilities = predict.Predictor(run).predict(canvas)
    assert int(np.argmax(probabilities)) == 1
