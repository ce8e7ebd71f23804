from __future__ import annotations

import os
from pathlib import Path

import pytest
from idx import write_dataset

# Real MNIST: ../shared/datasets beside the project, or where $MNIST_TUI_TEST_DATA says (bench/gpu_check.sh).
REAL_DATA = Path(
    os.environ.get("MNIST_TUI_TEST_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with a tiny learnable MNIST: 600 training and 200 test images."""
    return write_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    return tmp_path / "runs"


@pytest.fixture
def real_data() -> Path:
    if not (REAL_DATA / "MNIST" / "raw").is_dir():
        pytest.skip(f"real MNIST not found at {REAL_DATA} (only on machines with ../shared/datasets)")
    return REAL_DATA
