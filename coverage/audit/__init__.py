"""Field audits (抽查): :mod:`~coverage.audit.sampling` (stratified samples, reserve lists),
:mod:`~coverage.audit.lists` (the list writers: CSV, XLSX, KML, GeoJSON),
:mod:`~coverage.audit.results` (reading field test files), :mod:`~coverage.audit.outcomes` (the pass
rule and each village's outcome), :mod:`~coverage.audit.stats` (pass rates with exact or Wilson
intervals, confusion matrices), :mod:`~coverage.audit.calibration` (measured-minus-predicted offsets
per band and area), :mod:`~coverage.audit.store` (reads and writes of the audit tables) and
:mod:`~coverage.audit.rounds` (a round from draw to report)."""
