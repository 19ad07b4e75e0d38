"""Request and response models of the audit routes (``/audits``): the contract the OpenAPI document states."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.models import IngestProblem, Link
from api.params import MAX_ID
from coverage.audit.sampling import MIN_MARGIN


class AuditRound(BaseModel):
    """One audit round (抽查轮次) as listed."""

    round: int
    created_at: dt.datetime = Field(description="When the round was drawn (UTC)")
    run_id: int | None = Field(description="The analysis run sampled")
    seed: int
    strata: Literal["city", "city-verdict"]
    population: str = Field(description="all, or the one verdict the population was limited to")
    method: Literal["cochran", "rate"]
    villages: int = Field(description="Villages on the main list (inside the key's region)")
    reserves: int
    tests: int = Field(description="Field tests stored")
    tested_villages: int
    offsets: int = Field(description="Calibration offsets stored for the round (all regions)")


class AuditRounds(BaseModel):
    """Every round, newest first."""

    rounds: list[AuditRound]
    links: list[Link]


class AuditRequest(BaseModel):
    """Parameters of a new sample round (the CLI's `village5g audit sample`)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "strata": "city", "confidence": 0.95, "margin": 0.05, "expected_pass": 0.9, "seed": 42}})

    strata: Literal["city", "city-verdict"] = Field(default="city", description="City, or city x the run's verdict")
    confidence: float = Field(default=0.95, gt=0, lt=1, description="Confidence level of Cochran's formula")
    margin: float = Field(default=0.05, ge=MIN_MARGIN, lt=1, description="Margin of error (proportion)")
    expected_pass: float | None = Field(default=None, ge=0, le=1,
                                        description="Expected pass rate p of Cochran's formula (default 0.9)")
    rate: float | None = Field(default=None, gt=0, le=1, description="Fixed sampling rate per stratum instead")
    minimum: int | None = Field(default=None, ge=0, le=100_000, description="Minimum per stratum with rate")
    reserve_share: float = Field(default=0.2, ge=0, le=1, description="Reserves as a share of each sample")
    reserve_min: int = Field(default=2, ge=0, le=10_000, description="At least this many reserves per stratum")
    exclude_rounds: int = Field(default=0, ge=0, le=1000, description="Leave out villages of the last K rounds")
    uncertain: int = Field(default=0, ge=0, le=10_000, description="Supplementary villages whose p_covered is "
                           "closest to 0.5 (stratum 'uncertain'), left out of the pass-rate estimate")
    uncertain_from: Literal["all", "flagged"] = Field(
        default="all", description="Where the supplementary villages are chosen: all villages, or the flagged "
                                   "ones only (verdict weak or uncovered: the list field teams verify before a "
                                   "site is built); fewer flagged villages than `uncertain` give fewer")
    population: Literal["all", "covered", "weak", "uncovered"] = Field(
        default="all", description="All villages of the run, or only those with this verdict")
    cities: list[str] = Field(default_factory=list, max_length=100,
                              description="Only these cities (codes or names); one of no stored village is "
                                          "refused (400) naming the closest; a region-limited key draws in its "
                                          "city by default")
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1,
                             description="Random seed (default: drawn at random and stored)")
    run: int | None = Field(default=None, ge=1, le=MAX_ID, description="Run to sample (default: latest published)")
    dry_run: bool = Field(default=False, description="Return the strata without storing a round")


class AuditPlan(BaseModel):
    """The sampling plan stored with a round."""

    strata: str
    confidence: float
    margin: float
    expected_pass: float
    rate: float | None
    minimum: int
    reserve_share: float
    reserve_min: int
    exclude_rounds: int
    population: str
    cities: list[str]
    seed: int
    uncertain: int = 0
    uncertain_from: Literal["all", "flagged"] = Field(default="all", description="Where the supplementary "
                                                      "villages were chosen: all villages, or the flagged ones")


class AuditStratum(BaseModel):
    """One stratum of a round: its population and the sizes drawn."""

    stratum: str
    city_code: str | None
    city_name: str | None
    verdict: str | None
    population: int = Field(description="N: villages of the stratum")
    excluded: int = Field(description="Left out as sampled in recent rounds")
    eligible: int
    required: int = Field(description="The formula's n for N")
    sample: int = Field(description="n drawn (below required only when too few were eligible)")
    reserve: int


class AuditRoundDetail(BaseModel):
    """A round: what drew it and its strata."""

    round: int | None = Field(description="Round number (None for a dry run)")
    created_at: dt.datetime | None
    run_id: int | None
    seed: int
    plan: AuditPlan
    method: Literal["cochran", "rate"]
    excluded_rounds: list[int]
    villages: int = Field(description="Villages listed, not reserves (the supplementary villages included)")
    reserves: int
    supplementary: int = Field(description="Supplementary villages listed (stratum 'uncertain'); fewer than "
                                           "plan.uncertain when fewer were eligible")
    strata: list[AuditStratum]
    links: list[Link]


class AuditVillage(BaseModel):
    """One village of a sample list."""

    round: int | None
    stratum: str
    order: int = Field(description="Order within the stratum (reserves continue after the sample)")
    reserve: bool
    code: str
    name: str | None
    township_code: str | None
    township_name: str | None
    county_code: str | None
    county_name: str | None
    city_code: str | None
    city_name: str | None
    point_lon: float | None = Field(description="Committee point (村委会), WGS84")
    point_lat: float | None
    point_source: str | None
    gcj02_lon: float | None = Field(description="The same point in GCJ-02, for Chinese navigation apps")
    gcj02_lat: float | None
    verdict: str | None = Field(description="The run's verdict")
    p_covered: float | None = Field(default=None, description="The run's probability that the village is covered "
                                                              "(null for rounds drawn before probabilities)")
    nearest_site_id: str | None
    nearest_site_m: float | None
    predicted_rsrp_dbm: float | None
    predicted_sinr_db: float | None


class AuditVillages(BaseModel):
    """A round's sample list."""

    round: int
    numberReturned: int
    villages: list[AuditVillage]


class AuditUpload(BaseModel):
    """What a field-test upload stored."""

    round: int
    file_name: str
    rows: int
    villages: int = Field(description="Villages with tests in the file")
    replaced: bool
    crs: str
    sha256: str
    warnings: list[IngestProblem]


class AuditEstimate(BaseModel):
    """The overall stratified pass rate (weights N_h / N) and its interval."""

    pass_rate: float | None
    low: float | None
    high: float | None
    std_error: float | None
    effective_n: float
    effective_k: float
    tested: int
    passed: int
    population: int
    population_share: float
    method: Literal["exact", "wilson"]
    confidence: float


class AuditStratumEstimate(BaseModel):
    """Pass rate and interval of one stratum."""

    stratum: str
    city_code: str | None
    city_name: str | None
    verdict: str | None
    population: int
    weight: float | None
    sample: int
    reserve: int
    tested: int
    reserves_tested: int
    passed: int
    pass_rate: float | None
    low: float | None
    high: float | None


class AuditConfusionRow(BaseModel):
    """Predicted verdict against measured class (tested villages)."""

    predicted: str
    covered: int
    weak: int
    uncovered: int
    tested: int
    pass_rate: float | None


class AuditOutcome(BaseModel):
    """A listed village's field result under the pass rule."""

    model_config = ConfigDict(extra="allow")

    code: str
    name: str | None
    stratum: str
    order: int
    reserve: bool
    verdict: str | None
    n_tests: int
    n_pass: int
    pass_share: float | None
    tested: bool
    passed: bool | None
    measured_class: str | None


class AuditOffset(BaseModel):
    """A calibration offset: mean measured minus predicted median SS-RSRP (dB) per band and area."""

    model_config = ConfigDict(extra="allow")

    band: str
    city_code: str
    city_name: str | None
    n_tests: int
    offset_db: float | None
    usable: bool


class AuditReport(BaseModel):
    """Pass rates per stratum and overall, predicted vs measured, calibration offsets."""

    round: int
    rule: dict[str, Any] = Field(description="The pass rule applied")
    counts: dict[str, int]
    uncertain_from: Literal["all", "flagged"] | None = Field(
        default=None, description="Where the round's supplementary villages were chosen (null: none asked)")
    overall: AuditEstimate
    strata: list[AuditStratumEstimate]
    confusion: list[AuditConfusionRow]
    villages: list[AuditOutcome]
    offsets: list[AuditOffset] | None
    offsets_note: str | None
