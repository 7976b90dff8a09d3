"""What the test folders share: run the tap, start simulators, read Singer output.

- :mod:`tests.support.tap`: the tap as a real process (``python -m tap_chatgpt_compliance``):
  its config for a simulator, its command line and environment, ``run_tap`` to completion.
  (``tests/chaos/tapproc.py`` builds its kill-at-a-point runs on the same pieces.)
- :mod:`tests.support.singer`: Singer output parsing (one line, a whole stdout) and the
  ``log_files`` bookmarks of a STATE.
- :mod:`tests.support.simulators`: simulators started for a test module or a block and stopped.
- :mod:`tests.support.clockskew`: a tap process whose clock is off by N seconds.
- :mod:`tests.support.waiting`: wait for what a run is seen doing (never a fixed sleep) before
  signalling or killing it.

Imported as ``tests.support.*`` by tests, benchmarks and scripts (the repository root is on
``sys.path``: pytest's ``pythonpath`` setting, and the editable install of the project).
"""
