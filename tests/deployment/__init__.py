"""
The production-shaped system test (``make system-test``, ``python -m tests.deployment``).

On loopback, in a temporary directory, it starts PostgreSQL (the metadata database), moto's S3 server
(the lake), the project's Asana emulator, Redis, and Airflow 3 as separate processes (api-server,
scheduler, dag-processor, triggerer; LocalExecutor, then CeleryExecutor with two Celery workers), then
drives the example Dags through Airflow's public REST API the way the UI does and checks what landed.

Modules: :mod:`.stack` (processes), :mod:`.api` (REST clients: Airflow, emulator, S3),
:mod:`.scenarios` (the checks), :mod:`.ui` (headless Chromium screenshots through the DevTools protocol),
``__main__`` (the run and its summary). No file here is named ``test_*.py``: ``make test`` never collects it.
"""
