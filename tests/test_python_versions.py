"""
What differs between the Pythons the provider supports, pinned on each of them.

These run in every version's tests (``make test PYTHON=python3.X TESTS=fast``): each one passes on one
Python and would fail on another without the code it guards.
"""

from __future__ import annotations

import ast
import json
import os
import re
import ssl
import sys
import warnings
from importlib.metadata import metadata
from pathlib import Path

import pytest

from airflow_provider_asana.states import OrganizationExportState

REPO = Path(__file__).resolve().parents[1]
#: Folders that hold no source of the project: venvs (.venv, .venv-3.X) and other hidden ones are skipped too.
NOT_SOURCE = {"build", "dist", "__pycache__"}


def source_files() -> list[Path]:
    """Every ``.py`` file of the repository: package, example Dags, tests, tools."""
    found = []
    for folder, subfolders, files in os.walk(REPO):
        subfolders[:] = [
            name for name in subfolders
            if not name.startswith(".") and name not in NOT_SOURCE and not name.endswith(".egg-info")
        ]  # fmt: skip
        found += [Path(folder, name) for name in files if name.endswith(".py")]
    return sorted(found)


def pythons_with_constraints() -> list[tuple[int, int]]:
    """The tested Pythons: those with a constraints file."""
    found = (re.fullmatch(r"constraints-3\.(\d+)\.txt", path.name) for path in REPO.glob("constraints-*.txt"))
    return sorted((3, int(match.group(1))) for match in found if match)


@pytest.mark.parametrize("state", list(OrganizationExportState))
def test_export_state_formats_as_its_value(state):
    """A ``(str, Enum)`` formats as its value in f-strings on 3.10 only: messages must read alike on all."""
    # Each formatting path on purpose, str.format and %-formatting included.
    assert str(state) == f"{state}" == format(state) == "{}".format(state) == "%s" % state == state.value  # noqa: UP031, UP032
    assert json.dumps({"state": state}) == json.dumps({"state": state.value})


def test_export_state_matches_asanas_plain_strings():
    """States arrive from JSON as plain strings: they compare, hash and look up as the members do."""
    for state in OrganizationExportState:
        assert state == state.value
        assert hash(state) == hash(state.value)
        assert OrganizationExportState(state.value) is state
    assert {"pending", "started"} <= OrganizationExportState.active_states()
    assert not {"finished", "error"} & OrganizationExportState.active_states()


def test_every_source_file_parses_on_this_python_and_the_oldest():
    """
    No syntax newer than the oldest tested Python: 3.12's f-strings (quotes reused inside), 3.12's generics
    and ``type`` statements, 3.11's ``except*`` fail on 3.10, in files the fast tests may never import.
    Nor any compile-time warning: an invalid escape such as ``"\\d"`` warns only when asked before 3.12, and
    at every import (``SyntaxWarning``) from 3.12 on.

    Parsed with this Python, and with ``feature_version`` set to the oldest (best effort: not every newer
    feature is caught that way, which is why this runs on each Python).
    """
    sources = source_files()
    assert len(sources) > 50, sources
    oldest = pythons_with_constraints()[0]
    errors = []
    for path in sources:
        text = path.read_text(encoding="utf-8")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a warning while compiling becomes a SyntaxError
                compile(text, str(path), "exec", dont_inherit=True)
            ast.parse(text, str(path), feature_version=oldest)
        except SyntaxError as e:
            errors.append(f"{path.relative_to(REPO)}:{e.lineno}: {e.msg}")
    assert not errors, f"not valid on Python {sys.version_info[0]}.{sys.version_info[1]}: {errors}"


def test_package_metadata_claims_exactly_the_pythons_with_constraints():
    """``requires-python`` and the classifiers name the Pythons that have a constraints file, no other."""
    from packaging.specifiers import SpecifierSet

    meta = metadata("airflow-provider-asana")
    requires = SpecifierSet(meta["Requires-Python"])
    admitted = [(3, minor) for minor in range(0, 30) if requires.contains(f"3.{minor}.0")]
    classified = sorted(
        tuple(int(part) for part in c.rsplit(" ", 1)[1].split("."))
        for c in meta.get_all("Classifier") or []
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    assert admitted == classified == pythons_with_constraints()
    assert sys.version_info[:2] in classified


def test_triggers_verify_tls_like_workers():
    """
    The triggerer's TLS context (httpx, in ``AsanaHook``) checks certificates as the worker's does
    (requests/urllib3): from Python 3.13 both add ``VERIFY_X509_STRICT`` and ``VERIFY_X509_PARTIAL_CHAIN``
    (a non-conforming CA, as some TLS-inspecting proxies use, is refused), before 3.13 neither does.
    """
    from urllib3.util.ssl_ import create_urllib3_context

    from airflow_provider_asana.hooks._http import _ssl_context

    strictness = ssl.VERIFY_X509_STRICT | ssl.VERIFY_X509_PARTIAL_CHAIN
    trigger, worker, python = _ssl_context(), create_urllib3_context(), ssl.create_default_context()
    assert (trigger.verify_flags & strictness) == (worker.verify_flags & strictness)
    assert (trigger.verify_flags & strictness) == (python.verify_flags & strictness)
    assert trigger.verify_mode == worker.verify_mode == ssl.CERT_REQUIRED
    assert trigger.check_hostname
    assert worker.check_hostname
    assert trigger.minimum_version == worker.minimum_version == ssl.TLSVersion.TLSv1_2
