from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture
def restore_secrets_masker() -> Iterator[None]:
    """
    Drop the masks a test registers with Airflow's secrets masker when it ends.

    The masker is process-wide and recompiles one regex of all its masks on each new one: the tokens these
    tests register would slow every later registration (a download registers its URL on each refresh) and
    every log line of the session.
    """
    from airflow.sdk.log import _secrets_masker

    masker = _secrets_masker()
    patterns, replacer = set(masker.patterns), masker.replacer
    yield
    masker.patterns, masker.replacer = patterns, replacer


@pytest.fixture(scope="session", autouse=True)
def frozen_import_graph() -> None:
    """
    Take the objects alive so far (Airflow's import graph, some 200,000) out of the cyclic GC.

    A full collection walks them all and pauses every thread for 0.3-0.7 s on a loaded machine: longer than
    the 0.4 s URL lifetime of the download tests, whose URL then expires between being handed out and used.
    """
    gc.freeze()
