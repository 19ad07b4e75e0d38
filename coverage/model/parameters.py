"""The model's parameters (:class:`ModelParameters`: resolution, path-loss model, heights, losses,
noise, load, calibration) and the per-band distance-dependent calibration curve they carry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coverage.errors import ConfigError, bi

__all__ = ["CALIBRATION_KNOTS_M", "DEFAULT_PARAMETERS", "ModelParameters", "band_calibration", "calibration_db",
           "log_distance"]

@dataclass(frozen=True)
class ModelParameters:
    """Propagation parameters of a prediction (everything but thresholds, which are in the rule set).

    Attributes
    ----------
    resolution_m
        Pixel size in metres (default 100 m; FCC requires 100 m or finer).
    model
        ``"rma"`` (3GPP TR 38.901 rural macro, default), ``"uma"`` or ``"hata"``.
    h_ut_m
        User terminal height (m).
    load
        Share (0-1) of neighbouring cells' power counted as interference in SS-SINR.
    noise_figure_db
        UE noise figure (dB).
    other_losses_db
        Body, cable and penetration losses subtracted from every link (dB).
    tile_px
        Tile edge in pixels; bounds memory, not results.
    workers
        Processes computing tiles in parallel (0: one per CPU core); results do not depend on it.
    calibration
        Path-loss corrections fitted on measurements (:mod:`coverage.model.calibration`): per band
        ``(band, values)``, the correction (dB, added to every link of the band's cells) at the
        distances :data:`CALIBRATION_KNOTS_M`, linear in ``log10(d)`` between them and constant
        beyond (``d`` the ground distance). Empty: the standard's model as it is.
    selection_offsets
        Per band ``(band, dB)`` added to its SS-RSRP when a phone's serving layer is chosen (not to the
        signal itself): idle-mode reselection priorities (TS 38.304) keep phones on a capacity layer
        (n41/n78) while it is usable, though a coverage layer (n28) is stronger; a negative offset on
        n28 says so. Empty: the strongest band serves. A calibration fits it from the serving bands
        the measurements report.
    area_offsets
        Calibrated location effect per area ``(county or city code, dB)``: the prior mean of the
        effect at a village's pixels (its county's, else its city's, else 0).
    class_offsets
        Calibrated location effect per land-cover code ``(code, dB)``, added to that prior at the
        pixels of the class when a land cover is stored (a calibration fits it where samples allow).
    sigma_db, correlation_m, nugget_db
        The location effect's variogram (:class:`coverage.model.fusion.Variogram`): standard deviation
        (dB; None: the rule set's ``shadow_sigma_db``, the TR 38.901 NLOS value, as prior),
        correlation length (m; prior 120 m, the TR 38.901 Table 7.5-6 RMa NLOS shadow-fading
        correlation distance) and the noise of one measured sample (dB). A calibration fits them.
    """

    resolution_m: float = 100.0
    model: str = "rma"
    h_ut_m: float = 1.5
    load: float = 0.5
    noise_figure_db: float = 7.0
    other_losses_db: float = 3.0
    tile_px: int = 512
    workers: int = 0
    calibration: tuple[tuple[str, tuple[float, ...]], ...] = ()
    area_offsets: tuple[tuple[str, float], ...] = ()
    selection_offsets: tuple[tuple[str, float], ...] = ()
    class_offsets: tuple[tuple[int, float], ...] = ()
    sigma_db: float | None = None
    correlation_m: float = 120.0
    nugget_db: float = 3.0

    def __post_init__(self) -> None:
        # stored runs give lists back from JSON: keep the tables hashable tuples
        object.__setattr__(self, "calibration", tuple((str(b), tuple(float(x) for x in v))
                                                      for b, v in self.calibration))
        if any(len(v) != len(CALIBRATION_KNOTS_M) for _b, v in self.calibration):
            raise ConfigError(bi(f"每个频段的校准应在每个距离点（{CALIBRATION_KNOTS_M} 米）各有一个值",
                                 f"a band's calibration has one value per distance of {CALIBRATION_KNOTS_M} m"))
        object.__setattr__(self, "area_offsets", tuple((str(c), float(o)) for c, o in self.area_offsets))
        object.__setattr__(self, "selection_offsets", tuple((str(b), float(o)) for b, o in self.selection_offsets))
        object.__setattr__(self, "class_offsets", tuple((int(c), float(o)) for c, o in self.class_offsets))
        if not 10.0 <= self.resolution_m <= 1000.0:
            raise ConfigError(bi("栅格分辨率 resolution_m 应在 10 到 1000 米之间",
                                 "resolution_m must be between 10 and 1000 metres"))
        if self.model not in ("rma", "uma", "hata"):
            raise ConfigError(bi("传播模型 model 应为 rma、uma 或 hata 之一", "model must be one of rma, uma, hata"))
        if not 0.0 <= self.load <= 1.0:
            raise ConfigError(bi("小区负荷 load 应在 0 到 1 之间", "load must be between 0 and 1"))


DEFAULT_PARAMETERS = ModelParameters()


#: Distances (m) at which a calibration gives its correction per band: closer than a pixel the
#: corrections would extrapolate without data, beyond 10 km the path-loss models are not valid. The
#: knots are dense near the site, where the antenna's vertical pattern (narrow beams of real
#: panels against the TR 38.901 element's 65 degrees) makes the model's error change fastest.
CALIBRATION_KNOTS_M = (100.0, 200.0, 400.0, 1000.0, 3000.0, 10_000.0)


_LOG_KNOTS = np.log10(np.array(CALIBRATION_KNOTS_M) / 1000.0)


def log_distance(distance_m: np.ndarray) -> np.ndarray:
    """``log10(d / 1 km)`` of ground distances (m), clamped to the calibration's knots."""
    d = np.clip(np.asarray(distance_m, dtype=float), CALIBRATION_KNOTS_M[0], CALIBRATION_KNOTS_M[-1])
    return np.log10(d / 1000.0)


def calibration_db(distance_m: np.ndarray, values: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """A band's calibration term (dB, added to received power) at ground distances (m): ``values``
    at :data:`CALIBRATION_KNOTS_M`, linear in ``log10(d)`` between them, constant beyond."""
    return np.interp(log_distance(distance_m), _LOG_KNOTS, np.asarray(values, dtype=float))


def band_calibration(params: ModelParameters, band: str) -> tuple[float, ...]:
    """The calibration values of ``band`` in ``params.calibration`` (zeros without)."""
    for name, values in params.calibration:
        if name == band:
            return tuple(values)
    return (0.0,) * len(CALIBRATION_KNOTS_M)
