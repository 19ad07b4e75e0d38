"""Seeded point sampling in polygons and Voronoi tessellation of many parents at once.

Everything works in a metric CRS (metres) and is vectorised over all parents with shapely 2 array
functions: one call samples, tessellates or relaxes every parent of a level.
"""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import NDArray

_POLYGON = 3
_MULTIPOLYGON = 6


def sample_points(
    rng: np.random.Generator,
    parents: NDArray[np.object_],
    pidx: NDArray[np.intp],
    *,
    disc: NDArray[np.float64] | None = None,
    exclude: NDArray[np.float64] | None = None,
    batch: int = 8,
    strict_rounds: int = 30,
    max_rounds: int = 200,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One point strictly inside ``parents[pidx[i]]`` for each ``i``.

    Parameters
    ----------
    rng : numpy Generator, the only source of randomness.
    parents : shapely polygons (metric CRS), prepared or not.
    pidx : parent index of each requested point.
    disc : optional ``(n, 3)`` array ``cx, cy, r``: draw uniformly in that disc (rows of NaN: draw
        uniformly in the parent's bounding box).
    exclude : optional ``(n, k, 3)`` discs the point must avoid.
    strict_rounds : rounds of rejection sampling honouring ``disc``/``exclude``; after that the
        point is drawn uniformly in the parent (a disc may lie mostly outside a small parent).

    Returns
    -------
    x, y : coordinates in the parents' CRS.
    """
    n = len(pidx)
    shapely.prepare(parents)
    bounds = shapely.bounds(parents)[pidx]
    use_disc = np.zeros(n, bool) if disc is None else np.isfinite(disc[:, 2])
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    pending = np.arange(n)
    for rnd in range(max_rounds):
        if pending.size == 0:
            break
        strict = rnd < strict_rounds
        m = pending.size
        u = rng.random((m, batch))
        v = rng.random((m, batch))
        b = bounds[pending]
        cx = b[:, [0]] + u * (b[:, [2]] - b[:, [0]])
        cy = b[:, [1]] + v * (b[:, [3]] - b[:, [1]])
        if strict and disc is not None:
            d = disc[pending]
            sel = use_disc[pending]
            r = d[sel, 2:3] * np.sqrt(u[sel])
            t = 2.0 * np.pi * v[sel]
            cx[sel] = d[sel, 0:1] + r * np.cos(t)
            cy[sel] = d[sel, 1:2] + r * np.sin(t)
        ok = shapely.contains_xy(np.repeat(parents[pidx[pending]], batch).reshape(m, batch), cx, cy)
        if strict and exclude is not None:
            e = exclude[pending]  # (m, k, 3)
            for k in range(e.shape[1]):
                ex = e[:, k, :]
                active = np.isfinite(ex[:, 2])
                dist2 = (cx - ex[:, [0]]) ** 2 + (cy - ex[:, [1]]) ** 2
                ok &= ~(active[:, None] & (dist2 < ex[:, [2]] ** 2))
        hit = ok.any(axis=1)
        first = ok.argmax(axis=1)
        rows = np.nonzero(hit)[0]
        x[pending[rows]] = cx[rows, first[rows]]
        y[pending[rows]] = cy[rows, first[rows]]
        pending = pending[~hit]
    if pending.size:
        # Degenerate parents only: fall back to a point on the surface (deterministic).
        pts = shapely.point_on_surface(parents[pidx[pending]])
        x[pending] = shapely.get_x(pts)
        y[pending] = shapely.get_y(pts)
    return x, y


def polygonal(geoms: NDArray[np.object_]) -> NDArray[np.object_]:
    """Keep only the polygonal part of each geometry (Polygon or MultiPolygon; empty if none)."""
    out = geoms.copy()
    tid = shapely.get_type_id(out)
    bad = np.nonzero((tid != _POLYGON) & (tid != _MULTIPOLYGON))[0]
    for i in bad:
        parts = shapely.get_parts(out[i])
        keep = [p for p in parts if shapely.get_type_id(p) in (_POLYGON, _MULTIPOLYGON)]
        polys: list[shapely.Geometry] = []
        for p in keep:
            polys.extend(shapely.get_parts(p))
        if not polys:
            out[i] = shapely.Polygon()
        elif len(polys) == 1:
            out[i] = polys[0]
        else:
            out[i] = shapely.MultiPolygon(polys)
    return out


def separate(
    pidx: NDArray[np.intp], x: NDArray[np.float64], y: NDArray[np.float64], *, tol: float = 1e-3
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Nudge seeds that coincide (within ``tol`` metres) with an earlier seed of the same parent.

    GEOS refuses an ordered Voronoi diagram of repeated points; the nudge (``k * 10 * tol``
    metres east for the k-th repeat) is deterministic and far below any cell size.
    """
    key = np.column_stack([pidx, np.round(x / tol), np.round(y / tol)])
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    dup = np.nonzero(first[inverse.ravel()] != np.arange(len(x)))[0]
    if dup.size == 0:
        return x, y
    x = x.copy()
    rank = np.zeros(len(x), np.int64)
    for i in dup:  # few or none
        rank[i] = rank[first[inverse.ravel()[i]]] = rank[first[inverse.ravel()[i]]] + 1
        x[i] += rank[i] * 10 * tol
    return x, y


def voronoi_cells(
    parents: NDArray[np.object_],
    pidx: NDArray[np.intp],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
) -> NDArray[np.object_]:
    """Voronoi cell of each seed, computed per parent and clipped to it.

    Seeds must be grouped by parent (``pidx`` non-decreasing) and strictly inside their parent;
    then every cell contains its seed and is non-empty, and the cells of a parent tile it.
    """
    if np.any(np.diff(pidx) < 0):
        raise ValueError("seeds must be grouped by parent")
    n_par = len(parents)
    counts = np.bincount(pidx, minlength=n_par)
    if np.any(counts == 0):
        raise ValueError("every parent needs at least one seed")
    x, y = separate(pidx, x, y)
    mp = shapely.multipoints(np.column_stack([x, y]), indices=pidx)
    multi = counts >= 2
    cells = np.empty(len(pidx), dtype=object)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    if multi.any():
        vor = shapely.voronoi_polygons(mp[multi], extend_to=parents[multi], ordered=True)
        parts, part_of = shapely.get_parts(vor, return_index=True)
        got = np.bincount(part_of, minlength=int(multi.sum()))
        multi_idx = np.nonzero(multi)[0]
        good = got == counts[multi_idx]
        # Parents whose diagram came back in one piece per seed: scatter in seed order.
        sel_parts = good[part_of]
        dest = np.concatenate([np.arange(starts[j], starts[j] + counts[j]) for j in multi_idx[good]]
                              ) if good.any() else np.empty(0, np.intp)
        cells[dest] = parts[sel_parts]
        for j in multi_idx[~good]:
            # Duplicate seeds collapse in GEOS; match cells to seeds by containment instead.
            sl = np.arange(starts[j], starts[j] + counts[j])
            vj = shapely.get_parts(shapely.voronoi_polygons(mp[j], extend_to=parents[j]))
            pts = shapely.points(x[sl], y[sl])
            tree = shapely.STRtree(vj)
            for k, p in zip(sl, pts, strict=True):
                hits = tree.query(p, predicate="intersects")
                cells[k] = vj[hits[0]] if len(hits) else shapely.Polygon()
    single = np.nonzero(counts == 1)[0]
    cells[starts[single]] = parents[single]
    # Only cells reaching the parent's boundary need the (costly) overlay.
    shapely.prepare(parents)
    inside = shapely.contains_properly(parents[pidx], cells)
    inside[starts[single]] = True
    clipped = cells.copy()
    cut = np.nonzero(~inside)[0]
    clipped[cut] = shapely.intersection(cells[cut], parents[pidx[cut]])
    return polygonal(clipped)


def tessellate(
    parents: NDArray[np.object_],
    pidx: NDArray[np.intp],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    *,
    alpha: NDArray[np.float64],
    iterations: int = 2,
) -> tuple[NDArray[np.object_], NDArray[np.float64], NDArray[np.float64]]:
    """Clipped Voronoi tessellation with damped Lloyd relaxation.

    Each iteration moves seed ``i`` by ``alpha[i]`` of the way to its cell's centroid (1 = plain
    Lloyd, 0 = fixed), keeping it inside its parent. Returns the cells and the final seeds (each
    seed lies inside its own cell).
    """
    shapely.prepare(parents)
    x = x.copy()
    y = y.copy()
    for _ in range(iterations):
        cells = voronoi_cells(parents, pidx, x, y)
        c = shapely.centroid(cells)
        nx = x + alpha * (shapely.get_x(c) - x)
        ny = y + alpha * (shapely.get_y(c) - y)
        ok = shapely.contains_xy(parents[pidx], nx, ny)
        x = np.where(ok, nx, x)
        y = np.where(ok, ny, y)
    cells = voronoi_cells(parents, pidx, x, y)
    return cells, x, y


def blob_polygons(
    rng: np.random.Generator,
    cx: NDArray[np.float64],
    cy: NDArray[np.float64],
    radius: NDArray[np.float64],
    *,
    vertices: int = 32,
    roughness: float = 0.2,
) -> NDArray[np.object_]:
    """Irregular star-shaped blobs (town cores, development zones) of about ``pi r^2`` area.

    The radius varies with angle as ``r exp(roughness * s(theta))``, ``s`` a random sum of
    harmonics 2-4 with unit variance.
    """
    n = len(cx)
    theta = np.linspace(0.0, 2.0 * np.pi, vertices, endpoint=False)
    k = np.arange(2, 5)
    a = rng.standard_normal((n, 3))
    b = rng.standard_normal((n, 3))
    s = (a[:, :, None] * np.cos(k[None, :, None] * theta) +
         b[:, :, None] * np.sin(k[None, :, None] * theta)).sum(axis=1) / np.sqrt(3.0)
    r = radius[:, None] * np.exp(roughness * s)
    ring = np.stack([cx[:, None] + r * np.sin(theta), cy[:, None] + r * np.cos(theta)], axis=2)
    ring = np.concatenate([ring, ring[:, :1]], axis=1)
    return shapely.polygons(ring)


def tile_groups(
    rng: np.random.Generator,
    parents: NDArray[np.object_],
    pidx: NDArray[np.intp],
    group: NDArray[np.intp],
    cores: list[NDArray[np.object_]],
    *,
    iterations: int = 2,
) -> tuple[NDArray[np.object_], NDArray[np.float64], NDArray[np.float64]]:
    """Tile each parent with its children, children of group ``g < len(cores)`` inside the core
    polygon ``cores[g][parent]`` and the others (group ``len(cores)``) in the rest of the parent.

    A core is cut out only where its group and the rest group both have children; cores are
    carved in order (a later core never overlaps an earlier one). Seeds are uniform in their
    piece and relaxed by plain Lloyd. Returns cells and final seeds in the input order.
    """
    n_par = len(parents)
    k = len(cores)
    has = np.zeros((n_par, k + 1), bool)
    has[pidx, group] = True
    remaining = parents.copy()
    pieces = np.full((n_par, k + 1), None, dtype=object)
    for g in range(k):
        use = np.nonzero(has[:, g] & has[:, k] & ~shapely.is_missing(cores[g]))[0]
        if use.size == 0:
            continue
        core = polygonal(shapely.intersection(remaining[use], cores[g][use]))
        rest = polygonal(shapely.difference(remaining[use], cores[g][use]))
        # A sliver core or rest cannot hold its children: keep the parent whole there.
        ok = (shapely.area(core) > 1e-3 * shapely.area(parents[use])) & (
            shapely.area(rest) > 1e-2 * shapely.area(parents[use]))
        pieces[use[ok], g] = core[ok]
        remaining[use[ok]] = rest[ok]
    pieces[:, k] = remaining
    # Children of a group without a piece join the rest of their parent.
    eff = np.where(shapely.is_missing(pieces[pidx, group]), k, group)
    used = np.zeros((n_par, k + 1), bool)
    used[pidx, eff] = True
    # A carved piece always has children (cores are cut only for groups with children).
    sub_id = np.full((n_par, k + 1), -1, np.intp)
    sub_id[used] = np.arange(int(used.sum()))
    subs = pieces[used]
    cidx = sub_id[pidx, eff]
    order = np.argsort(cidx, kind="stable")
    x, y = sample_points(rng, subs, cidx[order])
    cells, sx, sy = tessellate(subs, cidx[order], x, y, alpha=np.ones(len(order)),
                               iterations=iterations)
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    return cells[back], sx[back], sy[back]
