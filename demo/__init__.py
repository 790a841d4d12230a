"""
``make demo``: the example Dags end to end against the emulator (``python -m demo``, see ``__main__``).

A repository tool beside ``example_dags/`` and ``benchmarks/``, not part of the installed provider.
"""
