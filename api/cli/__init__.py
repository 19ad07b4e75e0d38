"""The ``village5g`` command line (entry point ``api.cli:main``; also ``python -m api.cli``).

- :mod:`api.cli.context`: what every command shares (settings of ``--db``, the store, consoles,
  the progress line); the command modules import from it and never from each other.
- :mod:`api.cli.root`: the main app, its global options, the commands on the data (seed, ingest,
  export, status, analyze, villages, summary, demo), and the registration of the groups below.
- :mod:`api.cli.audit`, :mod:`api.cli.jobs` (``jobs``, ``scheduler``), :mod:`api.cli.maps` (``map``),
  :mod:`api.cli.plan` (``plan``, what-if), :mod:`api.cli.reports` (``report``, ``summary --history``),
  :mod:`api.cli.service` (``serve``, ``keys``).
"""

from api.cli.context import console, err_console, state
from api.cli.root import app, error_lines, main

__all__ = ["app", "console", "err_console", "error_lines", "main", "state"]
