from __future__ import annotations

import importlib
import json
from pathlib import Path

import jsonschema

from airflow_provider_asana.get_provider_info import get_provider_info


def test_provider_info_validates_against_airflows_schema():
    import airflow

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_every_declared_module_and_class_imports():
    info = get_provider_info()
    modules = [
        m
        for kind in ("hooks", "operators", "sensors", "triggers")
        for entry in info[kind]
        for m in entry["python-modules"]
    ]
    modules += [t["python-module"] for t in info["transfers"]]
    for module in modules:
        importlib.import_module(module)
    hook_path = info["connection-types"][0]["hook-class-name"]
    module, name = hook_path.rsplit(".", 1)
    assert getattr(importlib.import_module(module), name).conn_type == "asana"


def test_providers_manager_sees_hook_and_connection_form():
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManager()
    assert "airflow-provider-asana" in manager.providers
    hook = ProvidersManagerTaskRuntime().hooks["asana"]
    assert hook is not None
    assert hook.hook_class_name == "airflow_provider_asana.hooks.asana.AsanaHook"
    assert hook.connection_type == "asana"
    assert {"extra__asana__workspace", "extra__asana__read_timeout"} <= set(manager.connection_form_widgets)
    behaviour = manager.field_behaviours["asana"]
    assert "host" not in behaviour["hidden_fields"]
    assert behaviour["relabeling"]["password"] == "Token"


def test_connection_form_declared_without_deprecated_hook_methods():
    from airflow_provider_asana.hooks.asana import AsanaHook

    assert "get_connection_form_widgets" not in AsanaHook.__dict__
    assert "get_ui_field_behaviour" not in AsanaHook.__dict__
