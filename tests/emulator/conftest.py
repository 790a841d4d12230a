from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_asana.emulator import AsanaEmulator

from tests.emulator.helpers import Api


@pytest.fixture
def api(asana_emulator: AsanaEmulator) -> Iterator[Api]:
    client = Api(asana_emulator)
    yield client
    client.session.close()
