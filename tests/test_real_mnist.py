from engine.config import RunConfig
from engine.trainer import Trainer


def test_a_short_real_run_reaches_a_sane_accuracy(real_data, tmp_path):
    config = RunConfig(model="mlp", epochs=1, batch_size=128, lr=0.002, limit=12_000, device="cpu")
    finished = Trainer(config, runs_dir=tmp_path, data_dir=real_data, download=False).run()
    assert finished.status == "completed", finished.message
    assert finished.summary["test_accuracy"] > 0.90
    assert finished.summary["test_f1"] > 0.90
