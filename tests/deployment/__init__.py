"""
The production-shaped system test (``make system-test``: ``pytest -m deployment tests/deployment``).

On loopback, in a temporary directory, it starts PostgreSQL (the metadata database), moto's S3 server
(the lake), the project's Asana emulator, Redis, and Airflow 3 as separate processes (api-server,
scheduler, dag-processor, triggerer; LocalExecutor, then CeleryExecutor with two Celery workers), then
drives the example Dags through Airflow's public REST API and its UI (Debian's Chromium through Playwright)
and checks what landed.

Modules: :mod:`.stack` (processes), :mod:`.api` (REST clients: Airflow, emulator, S3), :mod:`.context`
(the configured deployment and the shared checks), ``conftest.py`` (fixtures), ``test_scenarios.py`` (one
test per scenario). The tests are marked ``deployment``; ``make test`` deselects them.
"""
