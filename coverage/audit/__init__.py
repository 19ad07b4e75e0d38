"""Field audits (抽查): :mod:`~coverage.audit.sampling` (stratified samples, reserve lists, list
writers), :mod:`~coverage.audit.results` (reading field test files), :mod:`~coverage.audit.stats`
(pass rates with exact or Wilson intervals, confusion matrices), :mod:`~coverage.audit.calibration`
(measured-minus-predicted offsets per band and area), :mod:`~coverage.audit.store` (the audit tables
and their store) and :mod:`~coverage.audit.rounds` (a round from draw to report)."""
