"""The small hand-made worlds of the tests, one module each, their answers checkable by hand.

- :mod:`tests.worlds.contract`: two villages, a shared site, three samples (the canonical contracts).
- :mod:`tests.worlds.boxes`: villages as boxes and sites placed by hand (verdicts, fusion, planning).
- :mod:`tests.worlds.row`: eight villages in a row, one site (API, CLI, history, refresh, scheduler).
- :mod:`tests.worlds.two_cities`: two cities of 40 villages each (audits).
"""
