"""
A local Asana for tests and demos: organization exports end to end, with faults on demand.

Run it in-process (:class:`AsanaEmulator`), as pytest fixtures (``pytest_plugin``) or as the
``asana-emulator`` console script (``cli``). Only the standard library is used.
"""

from __future__ import annotations

from airflow_provider_asana.emulator.emulator import AsanaEmulator
from airflow_provider_asana.emulator.faults import Faults
from airflow_provider_asana.emulator.records import RequestRecord

__all__ = ["AsanaEmulator", "Faults", "RequestRecord"]
