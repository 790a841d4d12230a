"""
Clients: Airflow's public REST API (as the UI uses it), the emulator's control endpoints, the S3 lake.

Airflow 3's ``/api/v2`` wants a JWT: with the SimpleAuthManager and a configured user, ``POST /auth/token``
with the user's name and password gives one (the UI's login does the same and keeps it in a cookie).
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

import requests

from tests.deployment.stack import Proc, StackError, wait_for

TERMINAL_RUN_STATES = ("success", "failed")
logger = logging.getLogger(__name__)


class AirflowAPI:
    """Airflow's public REST API, ``/api/v2``, authenticated like the UI."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.session = requests.Session()
        self._token: str | None = None

    @property
    def token(self) -> str:
        if self._token is None:
            response = self.session.post(
                f"{self.base_url}/auth/token",
                json={"username": self.username, "password": self.password},
                timeout=30,
            )
            if response.status_code not in (200, 201):
                raise StackError(f"POST /auth/token answered {response.status_code}: {response.text[:500]}")
            self._token = response.json()["access_token"]
        return self._token

    def call(self, method: str, path: str, *, ok: Sequence[int] = (200, 201, 204), **kwargs: Any) -> Any:
        """One request; the decoded JSON answer. :raises StackError: on another status."""
        url = f"{self.base_url}{path}"
        extra_headers = kwargs.pop("headers", {})
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self.token}", **extra_headers}
            response = self.session.request(method, url, headers=headers, timeout=60, **kwargs)
            if response.status_code == 401 and attempt == 1:
                self._token = None  # expired: log in again
                continue
            break
        if response.status_code not in ok:
            raise StackError(f"{method} {path} answered {response.status_code}: {response.text[:800]}")
        if not response.content:
            return None
        if "json" in response.headers.get("Content-Type", ""):
            return response.json()
        return response.text

    # -- Dags and runs -------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self.call("GET", "/api/v2/monitor/health")

    def dag_ids(self) -> set[str]:
        return {d["dag_id"] for d in self.call("GET", "/api/v2/dags", params={"limit": 100})["dags"]}

    def import_errors(self) -> list[dict[str, Any]]:
        return self.call("GET", "/api/v2/importErrors")["import_errors"]

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.call("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": paused})

    def trigger(self, dag_id: str, *, conf: dict[str, Any] | None = None,
                logical_date: datetime.datetime | None = None) -> dict[str, Any]:  # fmt: skip
        """Trigger a run like the UI's Trigger form does: a logical date (default now) and the form's conf."""
        when = logical_date or datetime.datetime.now(datetime.timezone.utc)
        body = {"logical_date": when.isoformat(), "conf": conf or {}}
        run = self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        logger.info("triggered %s run %s (conf %s)", dag_id, run["dag_run_id"], conf or {})
        return run

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        body = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances")
        return {ti["task_id"]: ti for ti in body["task_instances"]}

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/tries"
        return self.call("GET", path)["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        path = (f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
                f"/xcomEntries/{key}")  # fmt: skip
        return self.call("GET", path, params={"deserialize": "true", "stringify": "false"})["value"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        path = (f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
                f"/logs/{try_number}")  # fmt: skip
        body = self.call("GET", path, params={"full_content": "true"}, headers={"Accept": "application/json"})
        return body if isinstance(body, str) else str(body)

    def wait_run(
        self, dag_id: str, run_id: str, *, timeout: float, procs: Sequence[Proc] = ()
    ) -> dict[str, Any]:
        """Poll the run (as the UI's grid does) until it ends; return it."""
        last: dict[str, str] = {}

        def ended() -> dict[str, Any] | None:
            run = self.run(dag_id, run_id)
            states = {t: ti["state"] for t, ti in self.task_instances(dag_id, run_id).items()}
            if states != last:
                logger.info("  %s %s: run %s, tasks %s", dag_id, run_id, run["state"], states)
                last.clear()
                last.update(states)
            return run if run["state"] in TERMINAL_RUN_STATES else None

        try:
            return wait_for(
                f"run {run_id} of {dag_id} to end", ended, timeout=timeout, interval=1, procs=procs
            )
        except StackError as e:
            raise StackError(f"{e}\n  last task states: {last}") from None

    def wait_task_state(self, dag_id: str, run_id: str, task_id: str, states: Sequence[str], *, timeout: float,
                        procs: Sequence[Proc] = ()) -> dict[str, Any]:  # fmt: skip
        def reached() -> dict[str, Any] | None:
            ti = self.task_instances(dag_id, run_id).get(task_id)
            if ti is None:
                return None
            run_state = self.run(dag_id, run_id)["state"]
            if ti["state"] not in states and run_state in TERMINAL_RUN_STATES:
                raise AssertionError(
                    f"run {run_id} ended {run_state} with {task_id} {ti['state']}, never {states}"
                )
            return ti if ti["state"] in states else None

        return wait_for(f"{dag_id}.{task_id} in {run_id} to be {'/'.join(states)}", reached, timeout=timeout,
                        interval=0.3, procs=procs)  # fmt: skip

    # -- connections, variables, UI metadata ----------------------------------------------------------

    def put_connection(self, body: dict[str, Any]) -> None:
        self.call("POST", "/api/v2/connections", json=body)

    def put_variable(self, key: str, value: str) -> None:
        self.call("POST", "/api/v2/variables", json={"key": key, "value": value})

    def hook_meta(self) -> list[dict[str, Any]]:
        """What the UI's connection form reads: every connection type, its fields and their labels."""
        return self.call("GET", "/ui/connections/hook_meta")

    def test_connection(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.call("POST", "/api/v2/connections/test", json=body)


class EmulatorControl:
    """The emulator's ``/_emulator/...`` endpoints (no token; not in the request log) and its public API."""

    def __init__(self, info: dict[str, Any], control: str) -> None:
        self.info = info
        self.control = control
        self.session = requests.Session()

    def _call(self, method: str, name: str, body: Any = None, *, timeout: float = 30) -> Any:
        response = self.session.request(method, f"{self.control}/{name}", json=body, timeout=timeout)
        if response.status_code != 200:
            raise StackError(
                f"emulator {method} /_emulator/{name} answered {response.status_code}: {response.text}"
            )
        return response.json()

    def requests(self) -> list[dict[str, Any]]:
        return self._call("GET", "requests")

    def exports(self) -> dict[str, dict[str, Any]]:
        return self._call("GET", "exports")

    def faults(self) -> dict[str, Any]:
        return self._call("GET", "faults")

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        logger.info("emulator faults on: %s", faults)
        return self._call("PUT", "faults", faults)

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def set_export_size(self, size: int) -> None:
        # The emulator generates the new size's export file before it answers: tens of seconds for a realistic
        # 48 MiB export on a loaded 2-core machine, so more than the other control calls' 30 s.
        self._call("PUT", "export_size", {"export_size": size}, timeout=900)

    def stream_export(self, gid: str) -> Iterator[bytes]:
        """The export's bytes as the emulator serves them: a fresh download URL from the API, then a bare GET."""
        api = requests.get(
            f"{self.info['api_url']}/organization_exports/{gid}",
            params={"opt_fields": "state,download_url"},
            headers={"Authorization": f"Bearer {self.info['token']}"},
            timeout=30,
        )
        api.raise_for_status()
        url = api.json()["data"]["download_url"]
        with requests.get(url, stream=True, timeout=60, headers={"Accept-Encoding": "identity"}) as response:
            response.raise_for_status()
            yield from response.raw.stream(1 << 20, decode_content=False)


class Lake:
    """The S3 lake on moto, looked at directly with boto3 (never through Airflow)."""

    def __init__(self, endpoint: str, bucket: str) -> None:
        import boto3

        self.bucket = bucket
        self.client = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1",
            aws_access_key_id="system-test", aws_secret_access_key="system-test",
        )  # fmt: skip

    def create_bucket(self) -> None:
        self.client.create_bucket(Bucket=self.bucket)

    def objects(self, prefix: str) -> dict[str, int]:
        """Key -> size of every object under ``prefix``."""
        found: dict[str, int] = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found[item["Key"]] = item["Size"]
        return found

    def head(self, key: str) -> int | None:
        """The object's size, or None if there is none."""
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
        except self.client.exceptions.ClientError as e:
            if e.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def stream(self, key: str) -> Iterator[bytes]:
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        yield from iter(lambda: body.read(1 << 20), b"")

    def sha256(self, key: str) -> str:
        digest = hashlib.sha256()
        for chunk in self.stream(key):
            digest.update(chunk)
        return digest.hexdigest()

    def multipart_uploads(self, prefix: str = "") -> list[dict[str, Any]]:
        """Unfinished multipart uploads under ``prefix``, each with its uploaded ``Parts``."""
        uploads = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix).get("Uploads", [])
        for upload in uploads:
            parts = self.client.list_parts(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            upload["Parts"] = parts.get("Parts", [])
        return uploads


def same_bytes(left: Iterator[bytes], right: Iterator[bytes]) -> tuple[bool, int, int]:
    """Compare two byte streams without holding either: (identical, bytes of left, bytes of right)."""
    a, b = bytearray(), bytearray()
    count_a = count_b = 0
    left, right = iter(left), iter(right)
    done_a = done_b = False
    while True:
        while len(a) < (1 << 20) and not done_a:
            chunk = next(left, None)
            if chunk is None:
                done_a = True
            else:
                a += chunk
                count_a += len(chunk)
        while len(b) < (1 << 20) and not done_b:
            chunk = next(right, None)
            if chunk is None:
                done_b = True
            else:
                b += chunk
                count_b += len(chunk)
        n = min(len(a), len(b))
        if a[:n] != b[:n]:
            return False, count_a, count_b
        del a[:n], b[:n]
        if done_a and done_b:
            return not a and not b, count_a, count_b
        if (done_a and not a and b) or (done_b and not b and a):
            # one side ended; drain the other for its size
            for chunk in left:
                count_a += len(chunk)
            for chunk in right:
                count_b += len(chunk)
            return False, count_a, count_b


class LakeWatcher(threading.Thread):
    """
    Poll the lake (``list_objects_v2`` under a prefix, and ``head_object`` of the key once known) while a run
    goes on, recording every object a reader could have seen, so a partial object cannot slip by unseen.
    """

    def __init__(self, lake: Lake, prefix: str, interval: float = 0.2) -> None:
        super().__init__(name="lake-watcher", daemon=True)
        self.lake = lake
        self.prefix = prefix
        self.interval = interval
        self.key: str | None = None
        self.polls = 0
        self.sightings: list[tuple[float, str, int]] = []  # (time, key, size)
        self.errors: list[str] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                now = time.time()
                for key, size in self.lake.objects(self.prefix).items():
                    self.sightings.append((now, key, size))
                if self.key is not None:
                    head = self.lake.head(self.key)
                    if head is not None:
                        self.sightings.append((now, self.key, head))
                self.polls += 1
            except Exception as e:  # recorded, reported by the scenario
                self.errors.append(f"{type(e).__name__}: {e}")
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(10)
