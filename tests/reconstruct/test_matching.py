"""The geometry of cross-view matching, checked against plain formulas."""
import numpy as np

from capture3d.reconstruct.matching import (MatchingOptions, cluster, group_detections, midpoint_triangulate,
                                            nan_median, point_ray_distances, ray_distances)


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_ray_distances_match_least_squares_between_lines():
    rng = np.random.default_rng(0)
    o1, o2 = rng.normal(size=3), rng.normal(size=3) + [3, 0, 0]
    d1, d2 = _unit(rng.normal(size=(50, 3))), _unit(rng.normal(size=(50, 3)))
    got = ray_distances(o1, d1, o2, d2)
    for k in range(50):
        A = np.stack([d1[k], -d2[k]], axis=1)
        (s, t), *_ = np.linalg.lstsq(A, o2 - o1, rcond=None)
        gap = np.linalg.norm(o1 + s * d1[k] - o2 - t * d2[k])
        if s > 0 and t > 0:
            assert abs(got[k] - gap) < 1e-9
        else:
            assert got[k] == np.inf                  # they meet behind a camera: not the same point
    assert np.isnan(ray_distances(o1, np.full(3, np.nan), o2, d2[0]))


def test_nan_median_equals_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 9))
    x[rng.random(x.shape) < 0.3] = np.nan
    x[5] = np.nan
    ours = nan_median(x)
    some = ~np.isnan(x).all(1)
    assert np.allclose(ours[some], np.nanmedian(x[some], axis=1))
    assert ours[5] == np.inf
    assert nan_median(np.array([1.0, np.inf, 2.0])) == 2.0
    assert nan_median(np.array([1.0, 2.0, np.nan]), min_count=3) == np.inf


def test_midpoint_triangulation_is_exact_and_weighted():
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(4, 3)) * 3
    X = rng.normal(size=(7, 3))
    dirs = _unit(X[None] - centres[:, None])                   # (V, J, 3)
    assert np.allclose(midpoint_triangulate(centres, dirs), X, atol=1e-9)
    dirs[0, 0] = np.nan                                          # a missing ray is left out
    dirs[1:, 1] = np.nan                                         # one ray only: no point
    out = midpoint_triangulate(centres, dirs)
    assert np.allclose(out[0], X[0]) and np.isnan(out[1]).all()
    assert np.allclose(point_ray_distances(centres[2], dirs[2], X)[2:], 0, atol=1e-9)


def test_cluster_is_a_partition_with_one_detection_per_camera():
    rng = np.random.default_rng(3)
    for trial in range(20):
        cameras = rng.integers(0, 4, 14)
        cost = rng.uniform(0, 0.3, (14, 14))
        cost = (cost + cost.T) / 2
        cost[cameras[:, None] == cameras[None]] = np.inf
        groups = cluster(cost, cameras, 0.15)
        members = sorted(i for g in groups for i in g)
        assert members == list(range(14))
        assert all(len(set(cameras[g])) == len(g) for g in groups)


def test_average_linkage_does_not_chain_two_people():
    # a~b and b~c closely, but a and c are far apart: one group may not hold both a and c
    cameras = np.array([0, 1, 2])
    cost = np.array([[np.inf, 0.05, 0.6], [0.05, np.inf, 0.08], [0.6, 0.08, np.inf]])
    groups = cluster(cost, cameras, 0.15)
    assert not any({0, 2} <= set(g) for g in groups)


def test_a_view_of_someone_else_leaves_the_group():
    rng = np.random.default_rng(4)
    centres = np.array([[4.0, 0, 1.5], [0, 4, 1.5], [-4, 0, 1.5], [0, -4, 1.5]])
    person = rng.normal(size=(12, 3)) * 0.3 + [0, 0, 1]
    other = person + [0.0, 0.0, 0.6]                              # same place, 0.6 m higher
    dirs = np.stack([_unit(person - c) for c in centres[:3]] + [_unit(other - centres[3])])
    people = group_detections(centres, dirs, np.arange(4), MatchingOptions())
    members, X = people[0]
    assert sorted(members) == [0, 1, 2]
    assert np.allclose(X, person, atol=1e-9)
