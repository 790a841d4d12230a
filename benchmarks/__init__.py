"""
The provider's benchmarks (issue #4).

``python -m benchmarks`` (``make bench``) prints a table and writes ``benchmarks/results.json``. See
``benchmarks/README.md``.

Importing this package imports nothing heavy: its children (fresh interpreters per measurement) start clean.
"""
