"""What the analyst hands on: :mod:`~coverage.reports.summary` (the one reach_rate(), 通达率 and
verdict counts per region) and :mod:`~coverage.reports.workbook` (the XLSX report of a published
run for the province or one city or county)."""
