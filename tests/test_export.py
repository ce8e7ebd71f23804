import csv

import pytest
from PIL import Image

from engine.config import RunConfig
from engine.export import ExportError, export_run
from engine.trainer import Trainer


@pytest.fixture(scope="module")
def finished_run(tiny_data, tmp_path_factory):
    config = RunConfig(model="linear", epochs=2, batch_size=64, lr=0.01, device="cpu")
    runs = tmp_path_factory.mktemp("runs")
    return Trainer(config, runs_dir=runs, data_dir=tiny_data, download=False).run()


def test_export_writes_pngs_and_a_csv_into_the_run_folder(finished_run):
    paths = export_run(finished_run.run_dir)
    assert [p.name for p in paths] == ["confusion_matrix.png", "curves.png", "metrics.csv"]
    for png in paths[:2]:
        with Image.open(png) as image:
            image.verify()
        with Image.open(png) as image:
            assert image.format == "PNG"
            assert image.width >= 600 and image.height >= 400

    rows = list(csv.DictReader(paths[2].open()))
    epochs = [r for r in rows if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == ["1", "2"]
    test_report = [r for r in rows if r["kind"] == "class" and r["split"] == "test"]
    assert [r["class"] for r in test_report] == [*map(str, range(10)), "macro avg", "weighted avg"]
    assert sum(int(r["support"]) for r in test_report[:10]) == 200


def test_export_of_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(ExportError, match="not a run folder"):
        export_run(tmp_path)
