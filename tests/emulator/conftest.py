from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.emulator.helpers import Api

if TYPE_CHECKING:
    from airflow_provider_asana.emulator import AsanaEmulator


@pytest.fixture
def api(asana_emulator: AsanaEmulator) -> Iterator[Api]:
    client = Api(asana_emulator)
    yield client
    client.session.close()
