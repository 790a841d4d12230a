"""The store emulators' launcher: an emulator that cannot start is an error naming the fix, never a skip."""

from __future__ import annotations

import sys

import pytest

from tests import stores


def test_missing_azurite_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setattr(stores, "AZURITE_BIN", tmp_path / "azurite-blob")

    with pytest.raises(stores.EmulatorUnavailable, match=r"Azurite is not installed .*make azurite"):
        with stores.azurite():
            pass


def test_emulator_that_exits_at_start_up_reports_its_output():
    command = [sys.executable, "-c", "import sys; print('no such bucket store'); sys.exit(3)"]

    with pytest.raises(stores.EmulatorUnavailable) as raised:
        with stores._process("the test emulator", command, stores.free_port(), "Run make install."):
            pass

    message = str(raised.value)
    assert "the test emulator exited with 3 at start-up. Run make install." in message
    assert "no such bucket store" in message
