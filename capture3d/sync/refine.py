"""The fine step of :func:`capture3d.sync.align.align_keypoints`, one window of one camera at a
time: where, to a fraction of a frame, the window's frames sit on the common clock.

With a calibration: the other cameras' 2D, interpolated to the reference camera's instants,
are matched to the reference camera's person slots (per instant, by two-view reprojection
error) and triangulated (:func:`capture3d.triangulate`); the camera's own 2D, interpolated to
the same instants for a trial offset, is compared with those points' projections, and the
offset of least (capped) mean pixel error wins. Without one: the speed signals' correlation
peak on a grid of a tenth of a frame.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment, minimize_scalar

from .correlate import best_lag, on_grid, parabolic_vertex
from .resample import resample

log = logging.getLogger("capture3d.sync")
#: Lags closer than this to the best one are its own peak, not a rival (seconds).
RIVAL_SEPARATION_S = 0.25
#: A fine search whose costs differ by less than this share of the least is flat: no estimate.
#: Measured on pose2sim_multiperson cut 0 / 7 / 13 / 22 frames late (offset search with
#: resample's on_frame rule): with the weak cam04 left out, cam02 was compared with cam01 and
#: cam03 only, which triangulate 3 % of the points; every error sat at the cap (cost 20.00 at
#: every lag), the first grid point won each round and the over-relaxed rounds walked cam02 to
#: -3.64 frames and cam04 with it to 17.62. Informative searches there vary by 2-10 %.
FLAT_COST = 1e-3


def _at(keypoints, tau, target_tau) -> np.ndarray:
    """A camera's ``(F, P, J, 3)`` keypoints at its own times ``target_tau`` (T,) -> (T, P, J, 3)."""
    return resample(np.asarray(keypoints, float)[None], np.asarray(tau, float)[None], target_tau, cubic=True)[0]


def _match_slots(rig, ref, cam, kp_ref, kp_cam, opts) -> np.ndarray:
    """For each instant and reference slot, the slot of ``cam`` showing the same person
    (``(T, P_ref)`` int, -1 for none), by the median two-view reprojection error of their joints."""
    from .. import triangulate

    T, P, J, _ = kp_ref.shape
    Q = kp_cam.shape[1]
    if P == 1 and Q == 1:
        return np.zeros((T, 1), np.int64)
    pair = np.stack([np.repeat(kp_ref[:, :, None], Q, axis=2), np.repeat(kp_cam[:, None], P, axis=1)])
    res = triangulate(pair.reshape(2, T * P * Q, J, 3), rig.subset([ref, cam]), robust=False,
                      min_score=opts.min_score, min_ray_angle_deg=0.0, refine_iterations=0)
    err = res.reprojection_error_px.reshape(T, P, Q, J)
    enough = (np.isfinite(err).sum(-1) >= 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cost = np.where(enough, np.nanmedian(err, axis=-1), np.inf)
    out = np.full((T, P), -1, np.int64)
    for t in range(T):
        c = np.where(np.isfinite(cost[t]), cost[t], 1e9)
        rows, cols = linear_sum_assignment(c)
        good = c[rows, cols] <= 4 * opts.max_error_px
        out[t, rows[good]] = cols[good]
    return out


def coarse_by_reprojection(name, reference, keypoints, times, rig, opts, max_shift_s, max_frames: int = 60):
    """With a calibration, the coarse offset too: at every lag of one reference frame within
    ``+-max_shift_s``, the two-view reprojection error of this camera's people against the
    reference camera's (each person matched to the nearest, capped at ``max_error_px``);
    the lag of least mean error, refined by a parabola. Returns ``(start_s, confidence)`` or
    None when no lag keeps enough overlap."""
    from .. import triangulate

    tau, rtau = times[name], times[reference]
    ref_step = float(np.median(np.diff(rtau)))
    kp_c = np.asarray(keypoints[name], float)
    seen = np.flatnonzero((kp_c[..., 2] >= opts.min_score).sum(axis=(1, 2)) >= 3)
    if len(seen) < 4:
        return None
    pick = seen[np.linspace(0, len(seen) - 1, min(max_frames, len(seen))).astype(int)]
    lags = np.arange(-int(max_shift_s / ref_step), int(max_shift_s / ref_step) + 1) * ref_step
    P, Q, J = keypoints[reference].shape[1], kp_c.shape[1], kp_c.shape[2]
    own = kp_c[pick]
    batches, owners = [], []
    targets = (lags[:, None] + tau[pick][None, :]).ravel()
    ref_all = resample(np.asarray(keypoints[reference], float)[None], rtau[None], targets)[0]
    ref_all = ref_all.reshape((len(lags), len(pick)) + ref_all.shape[1:])
    for k, lag in enumerate(lags):
        ref_at = ref_all[k]
        ok = np.isfinite(ref_at[..., 0]).any(axis=(1, 2))
        if ok.mean() < opts.min_overlap * min(1.0, len(rtau) / len(tau)) or ok.sum() < 4:
            continue
        pair = np.stack([np.repeat(ref_at[ok][:, :, None], Q, axis=2), np.repeat(own[ok][:, None], P, axis=1)])
        batches.append(pair.reshape(2, -1, J, 3))
        owners.append((k, int(ok.sum())))
    if not batches:
        return None
    res = triangulate(np.concatenate(batches, axis=1), rig.subset([reference, name]), robust=False,
                      min_score=opts.min_score, min_ray_angle_deg=0.0, refine_iterations=0)
    err = res.reprojection_error_px
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        per_pair = np.nanmedian(err, axis=-1)   # (points,) = frames x P x Q, per lag
    cost = np.full(len(lags), np.nan)
    at = 0
    for k, n in owners:
        c = per_pair[at: at + n * P * Q].reshape(n, P, Q)
        e = err[at: at + n * P * Q].reshape(n, P, Q, J)
        at += n * P * Q
        c = np.where(np.isfinite(c), c, np.inf)
        q = np.argmin(c, axis=2)                     # each reference person's nearest, by median
        has = np.isfinite(np.min(c, axis=2))
        joints = np.take_along_axis(e, q[:, :, None, None], axis=2)[:, :, 0][has]
        joints = np.minimum(joints[np.isfinite(joints)], opts.max_error_px)
        cost[k] = float(np.mean(joints)) if len(joints) >= 8 else np.nan
    if not np.isfinite(cost).any():
        return None
    k = int(np.nanargmin(cost))
    frac = parabolic_vertex(cost, k, maximum=False)
    typical = float(np.nanmedian(cost))
    confidence = float(np.clip(1.0 - cost[k] / typical, 0.0, 1.0)) if typical > 0 else 0.0
    # a motion that repeats (a treadmill, a looped scene) fits as well one period away: the
    # best lag must stand out from every lag farther than RIVAL_SEPARATION_S from it
    far = np.abs(lags - lags[k]) > RIVAL_SEPARATION_S
    rival = Rival(float(lags[k] + frac * ref_step), float("nan"), 1.0)
    if np.isfinite(cost[far]).any() and typical > cost[k]:
        j = int(np.nanargmin(np.where(far, cost, np.nan)))
        rival = Rival(rival.best_s, float(lags[j]), float((cost[j] - cost[k]) / (typical - cost[k])))
    log.debug("%s vs %s: best %.3f s, rival %.3f s, margin %.2f (cost %.2f, typical %.2f)", name, reference,
             rival.best_s, rival.rival_s, rival.margin, cost[k], typical)
    return float(lags[k] + frac * ref_step), confidence, rival


@dataclass(frozen=True)
class Rival:
    """The best lag of a pair and its strongest rival at least ``RIVAL_SEPARATION_S`` away:
    ``margin`` is the rival's cost above the best's as a share of the way from the best to the
    typical lag's (1: no lag far away comes close; 0: one fits as well)."""

    best_s: float
    rival_s: float
    margin: float


def _reorder(kp, match) -> np.ndarray:
    """``kp (T, Q, J, 3)`` into the reference's slots ``(T, P, J, 3)`` by ``match (T, P)``."""
    T, P = match.shape
    out = np.full((T, P) + kp.shape[2:], np.nan)
    ok = match >= 0
    t_idx = np.repeat(np.arange(T)[:, None], P, axis=1)
    out[ok] = kp[t_idx[ok], match[ok]]
    return out


def _search(cost, frame_s, search_frames):
    """The offset (s) of least ``cost(offset)`` within ``+-search_frames`` frames: a grid of a
    quarter frame (half a frame for wide searches), then Brent's method around its best."""
    spacing = 0.25 if search_frames <= 2 else 0.5   # the cost is smooth over a frame
    grid = np.arange(-search_frames, search_frames + 1e-9, spacing) * frame_s
    values = np.array([cost(d) for d in grid])
    if not np.isfinite(values).any():
        return float("nan")
    finite = values[np.isfinite(values)]
    if finite.max() - finite.min() <= FLAT_COST * finite.min():
        # every offset costs the same (e.g. every error at the cap): nothing tells them apart,
        # and an argmin here is arbitrary (it once walked a camera 11 frames off, see FLAT_COST)
        return float("nan")
    k = int(np.nanargmin(values))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    sol = minimize_scalar(cost, bounds=(lo, hi), method="bounded", options={"xatol": 1e-3 * frame_s})
    return float(sol.x) if sol.fun <= values[k] else float(grid[k])


def refine_window(name, window, clocks, keypoints, speed, reference, rig, opts, frame_s, step, search_frames,
                  exclude=()):
    """Common-clock time of a window's first own frame: ``(tau_k, y_k, weight)``; ``y_k`` NaN
    when the window holds nothing to compare."""
    tau, mid, sig = speed[name]
    start, rate = clocks[name]
    if len(window) < 4:
        return 0.0, float("nan"), 0.0
    if rig is None:
        fine = step / 5
        rtau, rmid, rsig = speed[reference]
        ref_grid = on_grid(rmid - rmid[0], rsig, fine, opts.smooth_s)
        m = (mid >= tau[window[0]]) & (mid <= tau[window[-1]])
        if m.sum() < 4:
            return 0.0, float("nan"), 0.0
        own = on_grid(mid[m] - mid[m][0], sig[m], fine, opts.smooth_s)
        guess = start + rate * mid[m][0] - rmid[0]
        peak = best_lag(ref_grid, own, fine, max_lag_s=search_frames * frame_s, around_s=guess,
                        min_overlap=max(4, int(0.8 * len(own))), separation_s=frame_s)
        if peak is None:
            return 0.0, float("nan"), 0.0
        return float(mid[m][0]), float(rmid[0] + peak.lag_s), float(m.sum())
    delta = float("nan")
    # the weak cameras are left out while the others suffice; when the others alone give no
    # estimate (too little in common, a flat cost), the window is refined against everyone
    for leave_out in ([exclude, ()] if exclude else [()]):
        parts = window_errors(name, window, clocks, keypoints, speed, reference, rig, opts, frame_s,
                              search_frames, leave_out)
        if parts is None:
            continue

        def cost(delta, parts=parts):
            sums, counts = parts(delta)
            return float(sums.sum() / counts.sum()) if counts.sum() >= 3 else float("inf")

        delta = _search(cost, frame_s, search_frames)
        if np.isfinite(delta):
            break
        log.debug("%s: no fine offset against %s (flat or no cost)", name,
                  [n for n in clocks if n != name and n not in leave_out])
    if not np.isfinite(delta):
        return 0.0, float("nan"), 0.0
    # with a rate still a little off, the offset found fits the window's middle best
    tk = float(0.5 * (tau[window[0]] + tau[window[-1]]))
    return tk, float(start + delta + rate * tk), float(len(window))


def window_errors(name, window, clocks, keypoints, speed, reference, rig, opts, frame_s, search_frames,
                  exclude=()):
    """The reprojection errors of camera ``name``'s frames ``window`` for a trial change of its
    start: a function ``parts(delta_s) -> (sums (F_w,), counts (F_w,))``, per own frame the sum
    of its joints' errors capped at ``max_error_px`` and their number, or None when the window
    shares too little with the other cameras. The search covers ``+-search_frames`` frames.

    With two other cameras or more: against the points they triangulate (interpolated in time),
    each of this camera's people against the nearest triangulated person, and with
    ``camera_shift`` after taking away the camera's median 2D residual. Otherwise: the two-view
    reprojection error against the reference camera."""
    from .. import triangulate

    tau = speed[name][0]
    start, rate = clocks[name]
    # reference instants covering this window, with a margin for the search
    rtau = speed[reference][0]
    margin = (search_frames + 2) * frame_s
    t0, t1 = start + rate * tau[window[0]] - margin, start + rate * tau[window[-1]] + margin
    T = rtau[(rtau >= t0) & (rtau <= t1)]
    others = [n for n in clocks if n != name and n not in exclude]
    for n in others:
        s, r = clocks[n]
        T = T[(T >= s + r * speed[n][0][0]) & (T <= s + r * speed[n][0][-1])]
    if len(T) < 4:
        return None
    kp_ref = _at(keypoints[reference], rtau, T)
    raw = np.asarray(keypoints[name], float)[window]
    P, J = kp_ref.shape[1], kp_ref.shape[2]
    cap = opts.max_error_px

    def per_frame(e):   # (F_w, ..., J) pixel errors -> capped sums and counts per frame
        e = e.reshape(len(window), -1)
        ok = np.isfinite(e)
        return np.where(ok, np.minimum(e, cap), 0.0).sum(axis=1), ok.sum(axis=1).astype(float)

    if len(others) < 2:
        # this camera's slots matched to the reference's at its own frames (current estimate)
        match_self = _match_slots(rig, reference, name,
                                  _at(keypoints[reference], rtau, start + rate * tau[window]), raw, opts)
        own = _reorder(raw, match_self)
        sub = rig.subset([reference, name])

        def pair_parts(delta):
            ref_i = _at(keypoints[reference], rtau, start + delta + rate * tau[window])
            pair = np.stack([ref_i, own]).reshape(2, len(window) * P, J, 3)
            return per_frame(triangulate(pair, sub, robust=False, min_score=opts.min_score, min_ray_angle_deg=0.0,
                                         refine_iterations=3).reprojection_error_px)

        return pair_parts
    raw_xy = np.where(raw[..., 2:] >= opts.min_score, raw[..., :2], np.nan)   # (F_w, Q, J, 2)
    matched = []
    for n in others:
        s, r = clocks[n]
        kp = kp_ref if n == reference else _at(keypoints[n], speed[n][0], (T - s) / r)
        matched.append(kp if n == reference else _reorder(kp, _match_slots(rig, reference, n, kp_ref, kp, opts)))
    stack = np.stack(matched).reshape(len(others), len(T) * P, J, 3)
    # Without the suspect-view pass: on the looped synthetic motion of tests/sync the starts come
    # out within 0.02 frame without it, 0.11 with it. Not looked into further; likely because a
    # view off here is one still placed at the wrong time, and dropping it for some points and
    # lags but not others makes the cost uneven between lags.
    X = triangulate(stack, rig.subset(others), min_score=opts.min_score,
                    suspect_views=False).points.reshape(len(T), P, J, 3)
    # Smoothed over about a frame, so that interpolating it has the same noise at every
    # phase between instants; the camera's own 2D is never interpolated (an interpolated
    # noisy sample is less noisy between frames, which would pull offsets to half frames).
    X = smooth_along_time(X, 1.0)
    cam = rig[name]

    def parts(delta):
        # each of this camera's people against the nearest triangulated person (no slot
        # matching needed on this side: it sees whom it sees)
        # both neighbours needed even on an instant exactly (a frame next to a gap would
        # count at whole-frame offsets only, and favour them: seen on pose2sim_multiperson)
        Xi = resample(X[None], T[None], start + delta + rate * tau[window], score_last=False, cubic=True,
                      exact=False)[0]
        d = raw_xy[:, None] - cam.project(Xi)[:, :, None]                          # (F_w, P, Q, J, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(np.linalg.norm(d, axis=-1), axis=-1)                # (F_w, P, Q)
        med = np.where(np.isfinite(med), med, np.inf)
        p = np.argmin(med, axis=1)                                                 # (F_w, Q)
        best = np.take_along_axis(d, p[:, None, :, None, None], axis=1)[:, 0]      # (F_w, Q, J, 2)
        best = np.where(np.isfinite(med.min(axis=1))[:, :, None, None], best, np.nan)
        if opts.camera_shift and np.isfinite(best).any():
            # a calibration a fraction of a degree off shifts every keypoint of a camera
            # alike; left in, that shift outweighs the motion on a slow take and pulls the
            # offset frames away (pose2sim_multiperson's cam03: best 5 frames off without it,
            # within 1 with it)
            best = best - np.nanmedian(best.reshape(-1, 2), axis=0)
        return per_frame(np.linalg.norm(best, axis=-1))

    return parts


def offset_agreement(parts, frame_s: float, lag_frames: int, *, rounds: int = 200, block: int = 10,
                     seed: int = 0) -> float:
    """How surely the offset is right to a frame: the share of block-bootstrap resamples of the
    frames whose least-error whole-frame lag, within ``+-lag_frames`` of the estimate, lies
    within one frame of the full recording's (``parts`` from :func:`window_errors`, at the
    estimate). 1.0: every resample agrees; near ``3 / (2 lag_frames + 1)``: chance. Blocks of
    ``block`` frames keep the motion's own correlation in each resample."""
    lags = np.arange(-lag_frames, lag_frames + 1)
    sums, counts = zip(*(parts(k * frame_s) for k in lags))
    sums, counts = np.array(sums), np.array(counts)                       # (L, F)
    F = sums.shape[1]
    if F < 2 * block or counts.sum() == 0:
        return 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        best = int(np.nanargmin(np.where(counts.sum(1) > 0, sums.sum(1) / counts.sum(1), np.nan)))
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, F - block + 1, size=(rounds, int(np.ceil(F / block))))
    idx = (starts[:, :, None] + np.arange(block)).reshape(rounds, -1)[:, :F]            # (B, F)
    s, c = sums[:, idx].sum(axis=2), counts[:, idx].sum(axis=2)                          # (L, B)
    with np.errstate(invalid="ignore", divide="ignore"):
        cost = np.where(c > 0, s / c, np.inf)
    return float(np.mean(np.abs(np.argmin(cost, axis=0) - best) <= 1))


def smooth_along_time(X, sigma_frames: float) -> np.ndarray:
    """NaN-aware Gaussian smoothing of ``X (T, ...)`` along its first axis."""
    from scipy.ndimage import gaussian_filter1d

    m = np.isfinite(X)
    num = gaussian_filter1d(np.where(m, X, 0.0), sigma_frames, axis=0, mode="constant")
    den = gaussian_filter1d(m.astype(float), sigma_frames, axis=0, mode="constant")
    with np.errstate(all="ignore"):
        return np.where(m, num / den, np.nan)
