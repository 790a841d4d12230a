"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_asana import __version__
from airflow_provider_asana.connection import form_fields, form_placeholders

_MODULE = "airflow_provider_asana"
_INTEGRATION = "Asana"
#: The lake tables' format (``transfers.organization_export_to_delta_tables``); no Airflow provider names it.
_DELTA_LAKE = "Delta Lake"


def _modules(integration_kind: str, *modules: str) -> list[dict[str, Any]]:
    return [
        {
            "integration-name": _INTEGRATION,
            "python-modules": [f"{_MODULE}.{integration_kind}.{m}" for m in modules],
        }
    ]


def get_provider_info() -> dict[str, Any]:
    """Describe the provider, its hook, connection type and task classes to Airflow."""
    return {
        "package-name": "airflow-provider-asana",
        "name": "Asana organization exports",
        "description": "Land an Asana organization export in object storage: submit, wait deferrably, "
        "stream atomically.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://developers.asana.com/reference/organization-exports",
                "tags": ["software"],
            },
            {
                "integration-name": _DELTA_LAKE,
                "external-doc-url": "https://delta.io/",
                "tags": ["software"],
            },
        ],
        "hooks": _modules("hooks", "asana"),
        "operators": _modules("operators", "organization_export"),
        "sensors": _modules("sensors", "organization_export"),
        "triggers": _modules("triggers", "organization_export"),
        "transfers": [
            {
                "source-integration-name": _INTEGRATION,
                "target-integration-name": "Common IO",
                "python-module": f"{_MODULE}.transfers.organization_export_to_object_storage",
            },
            {
                "source-integration-name": _INTEGRATION,
                "target-integration-name": _DELTA_LAKE,
                "python-module": f"{_MODULE}.transfers.organization_export_to_delta_tables",
            },
        ],
        "connection-types": [
            {
                "hook-class-name": f"{_MODULE}.hooks.asana.AsanaHook",
                "hook-name": "Asana",
                "connection-type": "asana",
                "ui-field-behaviour": {
                    "hidden-fields": ["port", "login", "schema"],
                    "relabeling": {"host": "API base URL", "password": "Token"},
                    "placeholders": {
                        "host": "https://app.asana.com/api/1.0 (leave empty for Asana itself)",
                        "password": "Personal access, service-account or OAuth access token",
                        **form_placeholders(),
                    },
                },
                "conn-fields": form_fields(),
            }
        ],
    }
