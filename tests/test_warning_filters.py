"""pyproject's filterwarnings: a warning attributed to our package or tests fails the suite; others do not."""

from __future__ import annotations

import warnings

import pytest
from starlette.exceptions import StarletteDeprecationWarning

STARLETTE_HTTPX = "Using `httpx` with `starlette.testclient` is deprecated; install `httpx2` instead."


def _warn_from(module: str, message: str = "old API", category: type[Warning] = DeprecationWarning) -> None:
    """Warn as if from ``module``: what ``warnings.warn(..., stacklevel=n)`` does when that frame is in it."""
    filename = f"{module.replace('.', '/')}.py"
    warnings.warn_explicit(message, category, filename=filename, lineno=1, module=module)


@pytest.mark.parametrize(
    "module", ["airflow_provider_asana", "airflow_provider_asana.hooks.asana", "tests.hooks.test_asana"]
)
def test_a_warning_attributed_to_our_code_is_an_error(module: str) -> None:
    with pytest.raises(DeprecationWarning, match="old API"):
        _warn_from(module)


def test_a_deprecation_called_from_a_test_is_an_error() -> None:
    def deprecated_api() -> None:
        warnings.warn("old API", DeprecationWarning, stacklevel=2)  # names its caller: this test module

    with pytest.raises(DeprecationWarning, match="old API"):
        deprecated_api()


@pytest.mark.parametrize("module", ["airflow.providers_manager", "airflow_provider_asana2", "testsuite"])
def test_a_warning_from_elsewhere_is_reported_not_raised(module: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        _warn_from(module)

    assert [str(w.message) for w in caught] == ["old API"]


def test_the_known_third_party_warning_is_ignored() -> None:
    with warnings.catch_warnings(record=True) as caught:
        _warn_from("fastapi.testclient", STARLETTE_HTTPX, StarletteDeprecationWarning)

    assert caught == []
