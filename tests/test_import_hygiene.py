"""The UI never loads torch on its own, and the engine never loads Textual (checked in fresh interpreters)."""

from __future__ import annotations

import subprocess
import sys


def modules_after_import(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


def test_tui_imports_without_torch() -> None:
    modules = modules_after_import("import tui.app, tui.cli, tui.headless, tui.engine_api, tui.background")
    assert "textual" in modules  # the import really happened
    assert "torch" not in modules


def test_engine_imports_without_textual() -> None:
    modules = modules_after_import(
        "import engine.trainer, engine.export, engine.predict, engine.runs, engine.events, engine.progress"
    )
    assert "torch" in modules
    assert "textual" not in modules


def test_recipes_and_validation_need_no_torch() -> None:
    """argparse's choices, the Setup tab and validation read them before PyTorch loads."""
    assert "torch" not in modules_after_import("import engine.recipes, engine.config")
