"""The connection's extras: one table, read by the settings, the connection form and the docs alike."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_provider_asana.connection import EXTRAS, ConnectionSettings, form_fields, markdown_table
from airflow_provider_asana.get_provider_info import get_provider_info

REPO = Path(__file__).parent.parent
NUMERIC = [extra for extra in EXTRAS if extra.kind != "string"]


def _connection(**extra: object) -> SimpleNamespace:
    return SimpleNamespace(conn_id="asana_test", host=None, port=None, password="0/1/token", extra=extra)


def _configuration_table() -> str:
    """Return the table under ``## Configuration reference`` in the README or the docs page holding it."""
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        if "\n## Configuration reference\n" not in text:
            continue
        section = text.split("\n## Configuration reference\n", 1)[1].split("\n## ", 1)[0]
        lines = section.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("|"))
        table = []
        for line in lines[start:]:
            if not line.startswith("|"):
                break
            table.append(line)
        return "\n".join(table) + "\n"
    raise AssertionError("no page has a '## Configuration reference' section")


def test_the_documented_configuration_table_is_the_connection_table() -> None:
    assert _configuration_table() == markdown_table()


def test_settings_default_to_the_table() -> None:
    settings = ConnectionSettings.from_connection(_connection(), {})
    fields = {f.name: f.default for f in dataclasses.fields(ConnectionSettings)}

    for extra in NUMERIC:
        assert getattr(settings, extra.name) == extra.default, extra.name
        assert fields[extra.name] == extra.default, extra.name


def test_the_connection_form_is_the_table() -> None:
    conn_fields = get_provider_info()["connection-types"][0]["conn-fields"]

    assert conn_fields == form_fields()
    assert list(conn_fields) == [extra.name for extra in EXTRAS]
    for extra in NUMERIC:
        assert conn_fields[extra.name]["schema"]["default"] == extra.default
        assert conn_fields[extra.name]["label"] == extra.label


def test_max_download_stalls_is_its_own_extra() -> None:
    settings = ConnectionSettings.from_connection(
        _connection(), {"max_download_stalls": "3", "max_attempts": 9}
    )

    assert (settings.max_download_stalls, settings.max_attempts) == (3, 9)


@pytest.mark.parametrize("value", ["0", "-1", "many", 0.5])
def test_max_download_stalls_below_one_is_refused_naming_the_extra(value: object) -> None:
    with pytest.raises(
        ValueError, match=r"extra 'max_download_stalls' must be a number >= 1; .*default \(6\)"
    ):
        ConnectionSettings.from_connection(_connection(), {"max_download_stalls": value})
