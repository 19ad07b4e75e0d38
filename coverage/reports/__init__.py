"""What the analyst hands on: :mod:`~coverage.reports.workbook` (the XLSX report of a published run
for the province or one city or county). The 通达率 and verdict counts per region it shows come
from :mod:`coverage.summary`, the one reach_rate() every interface uses."""
