"""
Fixtures of the production-shaped system test (``make system-test``; ``docs/production.md``).

Every test here is marked ``deployment``, which ``pyproject.toml`` deselects by default: ``make test``
never runs them; ``pytest -m deployment tests/deployment`` does. One deployment serves the whole session
(:func:`stack`, :func:`deployment`); teardown stops every process it started, by pid, and removes the
temporary directory unless ``KEEP=1``. A failed test's report ends with the tail of every process' log.
"""

from __future__ import annotations

import logging
import os
import signal
import tempfile
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

pytest.register_assert_rewrite("tests.deployment.context", "tests.deployment.api")

from tests.deployment.api import TERMINAL_RUN_STATES  # noqa: E402
from tests.deployment.context import (  # noqa: E402 - after the assertion rewrite is registered
    AWS_CONN_ID,
    BUCKET,
    LAKE_DAG,
    MIN_TASK_LOGS,
    ON_DEMAND_DAG,
    REPORT_DAG,
    Context,
    bring_up,
    start_scheduled_lake_run,
    switch_to_celery,
)
from tests.deployment.stack import Proc, Stack, become_subreaper  # noqa: E402

#: Debian's Chromium (``make system-test`` installs it): Playwright drives it; it never downloads a browser.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars",
]  # fmt: skip
VIEWPORT: ViewportSize = {"width": 1280, "height": 1240}

STACK = pytest.StashKey[Stack]()
MEMORY = pytest.StashKey[str]()
REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
SETUP_TAILS_SHOWN = pytest.StashKey[bool]()

logger = logging.getLogger(__name__)


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# -- the deployment ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The temporary directory and every process started in it; all stopped, by pid, at the end."""
    previous = signal.signal(signal.SIGTERM, _interrupted)  # a SIGTERM (a CI timeout) still tears down
    become_subreaper()
    stack = Stack(keep=os.environ.get("KEEP") == "1")
    request.config.stash[STACK] = stack
    try:
        yield stack
    finally:
        request.config.stash[MEMORY] = stack.memory_report()
        stack.close()
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def deployment(stack: Stack) -> Context:
    """PostgreSQL, moto S3, the Asana emulator, Redis and Airflow (LocalExecutor), configured and healthy."""
    started = time.monotonic()
    ctx = bring_up(stack)
    logger.info("deployment up in %.0f s", time.monotonic() - started)
    return ctx


@pytest.fixture(autouse=True)
def settled_deployment(deployment: Context) -> None:
    """
    Each scenario starts on a settled deployment, whatever a failed scenario before it left: every Airflow
    component running (one left dead by a kill is restarted) and no earlier run still going (its requests
    to the emulator would count in this scenario's checks). After passing scenarios there is nothing to do.
    """
    for name, proc in list(deployment.stack.components.items()):
        if not proc.running:
            logger.warning("%s (pid %d) is not running: restarting it for this scenario", name, proc.pid)
            deployment.stack.components[name] = proc.restarted()
    for dag_id, run_id in deployment.runs:
        if deployment.api.run(dag_id, run_id)["state"] not in TERMINAL_RUN_STATES:
            logger.warning(
                "run %s of %s, from an earlier scenario, is still going: waiting for it", run_id, dag_id
            )
            deployment.wait_run(dag_id, run_id)


@pytest.fixture(scope="session")
def celery_executor(deployment: Context) -> list[Proc]:
    """The scheduler on the CeleryExecutor and two Celery workers (returned), for the rest of the session."""
    return switch_to_celery(deployment)


@pytest.fixture
def report_dag_unpaused(deployment: Context) -> None:
    """The Asset-scheduled report Dag, unpaused: each lake run's asset event starts a report run."""
    deployment.api.set_paused(REPORT_DAG, False)


@pytest.fixture
def lake_daily_run_done(deployment: Context) -> None:
    """
    The lake Dag's @daily run has come and gone (scenario 1a's; started here if 1a did not run), so that
    unpausing the Dag again starts only the run a scenario triggers.
    """
    runs = deployment.api.runs(LAKE_DAG)
    if any(r["run_type"] == "scheduled" and r["state"] in TERMINAL_RUN_STATES for r in runs):
        return
    try:
        run = start_scheduled_lake_run(deployment)
        deployment.wait_run(LAKE_DAG, run["dag_run_id"])
    finally:
        deployment.api.set_paused(LAKE_DAG, True)


@pytest.fixture
def sweep_material(deployment: Context) -> None:
    """
    What the security sweep needs to prove something: a trigger row captured while a task was deferred
    and at least :data:`MIN_TASK_LOGS` task logs. After the other scenarios there is; run alone (``-k``),
    this makes on-demand runs until there is.
    """
    for _ in range(4):
        if deployment.deferrals and len(deployment.task_log_files()) >= MIN_TASK_LOGS:
            return
        logger.info("the security sweep needs a deferred run and %d task logs: making an on-demand run",
                    MIN_TASK_LOGS)  # fmt: skip
        run_id, _ = deployment.trigger_on_demand(f"s3://{AWS_CONN_ID}@{BUCKET}/sweep-material")
        deployment.wait_deferred(ON_DEMAND_DAG, run_id)
        run = deployment.wait_run(ON_DEMAND_DAG, run_id)
        assert run["state"] == "success", f"the sweep's own run {run_id} ended {run['state']}"


@pytest.fixture
def detail(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record the scenario's one-line outcome: logged now, listed in pytest's summary at the end."""

    def record(text: str) -> None:
        logger.info("%s: %s", request.node.name, text)
        request.node.user_properties.append(("detail", text))

    return record


# -- the browser ---------------------------------------------------------------------------------------


@pytest.fixture
def page(deployment: Context, request: pytest.FixtureRequest) -> Iterator[Any]:
    """
    A page of Debian's Chromium driven by Playwright (fresh profile in the temporary directory), logged in
    to the api-server the way the login page does: its JWT in the ``_token`` cookie. If the test fails,
    a screenshot of the page is saved beside the logs.
    """
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)  # its default, 5 s, is short for a busy 2-core machine

    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install -y chromium (make system-test does)"
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=deployment.stack.root)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS, viewport=VIEWPORT,
            device_scale_factor=1,
        )  # fmt: skip
        try:
            browser.set_default_timeout(60_000)
            browser.add_cookies(
                [{"name": "_token", "value": deployment.api.token, "url": deployment.airflow.base_url}]
            )
            page = browser.pages[0] if browser.pages else browser.new_page()
            yield page
            call = request.node.stash.get(REPORTS, {}).get("call")
            if call is not None and call.failed:
                shot = deployment.stack.logs / f"{request.node.name}-failure.png"
                page.screenshot(path=shot)
                logger.warning("the page at failure: %s (KEEP=1 keeps it)", shot)
        finally:
            browser.close()


# -- reporting -----------------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failure's report ends with every process' log tail (a failed setup: the first one only)."""
    report: pytest.TestReport = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    stack = item.config.stash.get(STACK, None)
    if not report.failed or stack is None or report.when == "teardown":
        return report
    if report.when == "setup":  # a session fixture's failure repeats for every test: its tails once
        if item.config.stash.get(SETUP_TAILS_SHOWN, False):
            return report
        item.config.stash[SETUP_TAILS_SHOWN] = True
    keep = "kept" if stack.keep else "removed at the end; KEEP=1 keeps it"
    tails = f"temporary directory {stack.root} ({keep})\n{stack.log_tails()}"
    report.sections.append(("deployment log tails", tails))
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Each scenario's outcome line, the deployment's memory; or, when deselected, how to run it."""
    config = terminalreporter.config
    mine = sorted((r for r in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", [])
                   if r.when == "call" and "deployment" in r.keywords), key=lambda r: r.start)  # fmt: skip
    deselected = [
        i for i in terminalreporter.stats.get("deselected", []) if i.get_closest_marker("deployment")
    ]
    if deselected and not mine and config.getoption("markexpr") == "not deployment":
        terminalreporter.write_line(f"tests/deployment: {len(deselected)} deployment tests deselected; "
                                    f"they run with -m deployment (make system-test)")  # fmt: skip
        return
    if not mine and STACK not in config.stash:
        return
    terminalreporter.section("deployment scenarios")
    for report in mine:
        text = dict(report.user_properties).get("detail", "(no detail: failed)")
        outcome = report.outcome.upper()
        terminalreporter.write_line(f"[{outcome}] {report.head_line} ({report.duration:.0f} s): {text}")
    if MEMORY in config.stash:
        terminalreporter.write_line(config.stash[MEMORY])
