"""Trigger that waits, on the triggerer's event loop, for a resource or graph export's job to end."""

from __future__ import annotations

from airflow_provider_asana.export_watch import EXPORT_JOB
from airflow_provider_asana.triggers.base import AsanaExportWaitTrigger


class AsanaExportJobTrigger(AsanaExportWaitTrigger):
    """
    Poll a resource or graph export's job (``GET /jobs/{gid}``) until it ``succeeded`` or ``failed``.

    The organization export trigger's loop and rules
    (:class:`~airflow_provider_asana.triggers.base.AsanaExportWaitTrigger`), on a job's ``status``: it yields
    one event ``{"status", "job_gid", "message", "status_code"}`` where ``status`` is ``success`` (the job
    ``succeeded``), ``failed`` (the job ``failed``), ``error`` (Asana could not be asked, or answered a status
    this provider does not know) or ``timeout`` (still ``not_started`` or ``in_progress`` at ``end_time``).
    It asks for the job's status and subtype only, never its download URL.

    :param job_gid: The job to wait for: what the create call returned.
    :param asana_conn_id: The Airflow connection id (the token is looked up, never serialized).
    :param poll_interval: Seconds between polls.
    :param end_time: Deadline as wall-clock epoch seconds; None for none of its own (a sensor started from the
        triggerer is ended by the task's trigger timeout instead).
    """

    watch = EXPORT_JOB

    def __init__(
        self, job_gid: str, asana_conn_id: str, poll_interval: float, end_time: float | None = None
    ) -> None:
        super().__init__(asana_conn_id, poll_interval, end_time)
        self.job_gid = job_gid

    @property
    def gid(self) -> str:
        return self.job_gid
