"""
The download engine: a remote file behind short-lived URLs, streamed into object storage.

It knows nothing of Asana's API. Whoever knows the file (the hook) describes it as a
:class:`~airflow_provider_asana.download.source.DownloadSource`: a function that returns a fresh download
URL, a label for messages, timeouts and the retry policy.
:func:`~airflow_provider_asana.download.engine.download_file` streams it to a
:class:`~airflow_provider_asana.download.destination.Destination`.

- ``engine``: the entry point; ``source``: what it is told about the file;
- ``stream``: the HTTP requests, resumed with ``Range``; its retry rule (the policy is
  :mod:`airflow_provider_asana.retry`);
- ``pipeline``: the worker threads (writer, SHA-256, gzip check); ``gzip_check``: the checks;
- ``destination``: parsing and checks of where the file lands; ``writers``: one atomic writer per kind of
  store (add a store's writer there); ``temporaries``: the temporaries beside a destination;
- ``secrets``: the URL kept out of logs and errors, and off clear-text connections; ``progress``: log lines.
"""

from __future__ import annotations

from airflow_provider_asana.download.destination import Destination, report_lineage
from airflow_provider_asana.download.engine import Downloaded, download_file
from airflow_provider_asana.download.source import DownloadSource

__all__ = ["Destination", "DownloadSource", "Downloaded", "download_file", "report_lineage"]
