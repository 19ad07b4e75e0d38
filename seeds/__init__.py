"""The seed world: real Jiangsu divisions and boundaries, and a generator of the synthetic parts
(township and village polygons, 5G stations, drive-test measurements). See ``seeds/README.md``."""

from seeds.world import DEFAULT_SEED, METRIC_CRS, SeedWorld, build_world, world_checksums

__all__ = ["DEFAULT_SEED", "METRIC_CRS", "SeedWorld", "build_world", "world_checksums"]
