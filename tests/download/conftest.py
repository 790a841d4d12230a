from __future__ import annotations

import pytest

from airflow_provider_asana.hooks.asana import AsanaHook

from tests.download.support import connect, finished_export


@pytest.fixture
def start(asana_emulator_factory, monkeypatch):
    """``start(**emulator_options)``: an Asana emulator, a connection to it, a hook and a finished export."""

    def start(**kwargs):
        emu = asana_emulator_factory(**kwargs)
        connect(monkeypatch, emu)
        hook = AsanaHook()
        return emu, hook, finished_export(hook, emu)

    return start
