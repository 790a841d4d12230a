"""
Pytest fixtures for the emulator.

The installed package's ``pytest11`` entry point loads them (with plugin autoload off:
``-p airflow_provider_asana.emulator.pytest_plugin``, or that name in ``pytest_plugins``).

- ``asana_emulator``: a running :class:`AsanaEmulator` (finishes on the 2nd poll, 64 KiB export).
- ``asana_emulator_factory``: ``factory(**kwargs)`` starts an emulator with those arguments.

Both stop their emulators at teardown and share one export cache per test session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_asana.emulator.emulator import AsanaEmulator

DEFAULT_EXPORT_SIZE = 64 << 10


@pytest.fixture(scope="session")
def asana_emulator_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export cache for the session, so each file size is generated once."""
    return tmp_path_factory.getbasetemp() / "asana-emulator-cache"


@pytest.fixture
def asana_emulator_factory(asana_emulator_cache_dir: Path) -> Iterator[Callable[..., AsanaEmulator]]:
    """
    Start emulators with any :class:`AsanaEmulator` arguments; all are stopped at teardown.

    Defaults: ``polls_to_finish=2``, a 64 KiB export, the session's cache directory. Exports finish at
    whichever of ``polls_to_finish`` and ``seconds_to_finish`` comes first: to go by time alone, pass
    ``polls_to_finish=None`` too.
    """
    started: list[AsanaEmulator] = []

    def factory(**kwargs: Any) -> AsanaEmulator:
        kwargs.setdefault("export_size", DEFAULT_EXPORT_SIZE)
        kwargs.setdefault("polls_to_finish", 2)
        kwargs.setdefault("cache_dir", asana_emulator_cache_dir)
        emulator = AsanaEmulator(**kwargs)
        started.append(emulator)
        return emulator.start()

    yield factory
    for emulator in reversed(started):
        emulator.stop()


@pytest.fixture
def asana_emulator(asana_emulator_factory: Callable[..., AsanaEmulator]) -> AsanaEmulator:
    """Start an emulator whose exports finish on their 2nd poll and serve a 64 KiB file."""
    return asana_emulator_factory()
