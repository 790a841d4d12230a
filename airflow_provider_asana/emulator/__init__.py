"""
A local Asana for tests and demos: organization, resource and graph exports end to end, with faults on demand.

Run it in-process (:class:`AsanaEmulator`), as pytest fixtures (``pytest_plugin``, registered as a
``pytest11`` entry point) or as the ``asana-emulator`` console script (``cli``). Only the standard library
is used, and nothing of the provider: ``tests/emulator/test_imports.py`` keeps it so, and keeps its
modules free of import loops. Where things are:

- ``emulator``: :class:`AsanaEmulator`, the two HTTP servers' lifecycle, on top of ``app``;
- ``app``: the state both hosts serve (token, exports, faults, request log, URL signer);
- ``api``, ``download``, ``control``: the request handlers of the Asana API, the S3 stand-in and
  ``/_emulator/...``, on the HTTP plumbing of ``server``;
- ``faults``: every fault switch, each declared once: the ``cli`` flags and ``PUT /_emulator/faults``
  come from those declarations;
- ``jobs``, ``jobrequests``, ``jobfiles``: resource and graph exports (``/exports/...``, ``/jobs/...``), their
  requests and files; ``walk`` and ``shapes``: the organization of an export as API objects;
- ``state`` (the export state machine), ``directory`` (the account), ``presign`` (download URLs),
  ``fields`` (``opt_fields``), ``errors`` and ``formats`` (wire formats), ``ranges``, ``records``;
- ``cache``, ``exportfile``, ``member``, ``datagen``, ``genworker``: the generated export file.
"""

from __future__ import annotations

from airflow_provider_asana.emulator.emulator import AsanaEmulator
from airflow_provider_asana.emulator.faults import Faults
from airflow_provider_asana.emulator.records import RequestRecord

__all__ = ["AsanaEmulator", "Faults", "RequestRecord"]
