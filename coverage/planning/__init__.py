"""Fill-in (补盲) site planning: :mod:`~coverage.planning.sites` (candidate sites, the greedy plan
of the sites that reach the most uncovered villages, and what-if runs of proposed sites)."""
