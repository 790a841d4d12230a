"""
The emulator checked by a client nobody here wrote: schemathesis, driven by the shipped Asana spec extract.

Bounded and reproducible: a fixed seed, a fixed number of fuzzed examples per operation, no example
database or crash cache, and only the operations the emulator serves. Half of the generated gids and
organizations are replaced by ones the emulator knows, so that requests reach its real answers (201, 200
with a download URL), not only its 404s.

The checks are the ones about the emulator's answers: no 5xx, every status documented for the
operation, the documented content type and headers, every body valid against the response schema, and a
request without a valid token refused. Left out, because the spec does not describe Asana's own input
validation: ``positive_data_acceptance`` (Asana answers 400 to data the spec does not forbid, e.g.
``POST {}`` is "organization: Missing input"), ``negative_data_rejection`` (a malformed ``opt_pretty``
is ignored, not refused) and ``unsupported_method`` (it wants 405; Asana documents no 405 and answers an
unknown route, whatever the method, 404). The spec declares no links, so there is no stateful phase.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis

from airflow_provider_asana.emulator import AsanaEmulator
from airflow_provider_asana.emulator.directory import ENTERPRISE_ORG, USER_GID
from airflow_provider_asana.emulator.jobs import FIRST_JOB_GID
from airflow_provider_asana.emulator.state import FIRST_EXPORT_GID

from tests.asana_spec import EXTRACT_PATH

OPERATIONS = [
    "createOrganizationExport", "getOrganizationExport", "getUser", "getWorkspaces",
    "createResourceExport", "createGraphExport", "getJob",
]  # fmt: skip
#: A project of the 16 KiB organization: a graph export's parent (the fixture checks it is one).
PROJECT_GID = "1150000000000515"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "ignored_auth",
)
TOKEN = "schemathesis-token"
SEED = 20_260_611
MAX_EXAMPLES = 40
#: How often a generated value is replaced by one the emulator knows.
KNOWN = 0.5

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "headers": {"Authorization": f"Bearer {TOKEN}"},
        "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
        "cache": {"enabled": False},
        "phases": {"stateful": {"enabled": False}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        "dictionaries": {
            "exports": {"values": [str(FIRST_EXPORT_GID)]},
            "organizations": {"values": [ENTERPRISE_ORG.gid]},
            "jobs": {"values": [str(FIRST_JOB_GID)]},
            "parents": {"values": [PROJECT_GID]},
            "users": {"values": ["me", USER_GID]},
        },
        "parameters": {
            "path.organization_export_gid": {"dictionary": "exports", "probability": KNOWN},
            "body.data.organization": {"dictionary": "organizations", "probability": KNOWN},
            "body.data.workspace": {"dictionary": "organizations", "probability": KNOWN},
            "body.data.parent": {"dictionary": "parents", "probability": KNOWN},
            "path.job_gid": {"dictionary": "jobs", "probability": KNOWN},
            "path.user_gid": {"dictionary": "users", "probability": KNOWN},
        },
    }
)
schema = schemathesis.openapi.from_path(EXTRACT_PATH, config=CONFIG).include(operation_id=OPERATIONS)


@pytest.fixture(scope="module")
def emulator(asana_emulator_cache_dir: Path) -> Iterator[AsanaEmulator]:
    """One emulator for every generated request, its first export and job (those in the dictionary) created."""
    with AsanaEmulator(token=TOKEN, export_size=16 << 10, cache_dir=asana_emulator_cache_dir) as running:
        created = requests.post(
            running.api_url + "/organization_exports",
            json={"data": {"organization": running.organization_gid}},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert created.json()["data"]["gid"] == str(FIRST_EXPORT_GID)
        job = requests.post(
            running.api_url + "/exports/graph",
            json={"data": {"parent": PROJECT_GID}},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert job.json()["data"]["gid"] == str(FIRST_JOB_GID)
        yield running


@schema.parametrize()
def test_the_emulator_answers_as_the_spec_says(case: schemathesis.Case, emulator: AsanaEmulator) -> None:
    case.call_and_validate(base_url=emulator.api_url)
