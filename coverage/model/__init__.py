"""The coverage model: :mod:`~coverage.model.bands` (the per-band radio defaults, channels),
:mod:`~coverage.model.parameters` (the model's parameters), :mod:`~coverage.model.grid` (the raster
grid), :mod:`~coverage.model.propagation` (path loss), :mod:`~coverage.model.antenna` (the sector
pattern), :mod:`~coverage.model.link_budget` (RSRP, noise, SS-SINR, edge margin),
:mod:`~coverage.model.terrain` (diffraction over terrain, clutter loss) with
:mod:`~coverage.model.terrain_inputs` (DEM and land cover on the grid), :mod:`~coverage.model.predict`
(best-server RSRP and SINR rasters) giving a :class:`~coverage.model.prediction.Prediction`,
:mod:`~coverage.model.fusion` and :mod:`~coverage.model.mr_evidence` (measurements and MR grids
correcting the prediction), :mod:`~coverage.model.calibration` (path-loss fits per band and area),
:mod:`~coverage.model.rules` (named rule sets) and :mod:`~coverage.model.verdicts` (village verdicts
and reason codes)."""
