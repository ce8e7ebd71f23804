"""The allocator tuning engine/__init__.py applies (its effect on speed is measured by `python -m bench`)."""

from __future__ import annotations

import platform
import sys

import pytest

import engine

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="the tuning is for glibc's allocator")
def test_glibc_accepts_every_allocator_setting() -> None:
    assert engine.keep_freed_memory()


@pytest.mark.skipif(GLIBC, reason="checks the platforms without glibc")
def test_elsewhere_the_allocator_is_left_alone() -> None:
    assert not engine.keep_freed_memory()
