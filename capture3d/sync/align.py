"""Synchronising cameras from what they all see move: people's keypoints or a board's corners.

1. Coarse: every camera's summed keypoint speed (:func:`signals.keypoint_speed`; person slots
   need not match between cameras) is correlated with the reference camera's at every lag
   within ``max_shift_s`` (:mod:`correlate`).
2. Fine, per window of the overlap: with a calibration, the offset that minimises the
   reprojection error of the camera's 2D (interpolated in time) against the points the other
   cameras triangulate (:mod:`refine`); without, the correlation peak again on a finer grid.
3. A line through the windows' offsets gives the start and the rate (clock drift):
   common time ``t = start_s + rate * tau`` for the camera's own frame times ``tau``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .clock import CameraClock, SyncResult
from .correlate import best_lag, on_grid
from .signals import is_variable_rate, keypoint_speed, nominal_fps
from .slots import link_person_slots

log = logging.getLogger("capture3d.sync")
# Each camera is refined against points the other cameras triangulate; those still carry their
# own offset errors (all but the reference), which shrinks the correction to about 2/3 of the
# error per round with 4 cameras. Over-relaxed rounds converge in 4 instead of 8-10 (measured:
# 0.005 frame left after 4 such rounds, 0.03 after 3 plain ones).
OVER_RELAX = 1.5
WEAK_CONFIDENCE = 0.25   # under min_confidence (refused anyway) with a margin
# A camera placed through a pair whose best lag has a rival this close (refine.Rival.margin) is
# refused: a repeating motion. Measured margins: 0.01-0.04 on a motion repeated every 2 s; 0.40-0.91
# on pose2sim_multiperson's pairs; 0.81-0.92 on the synthetic walk of tests/sync/test_align.py.
MIN_RIVAL_MARGIN = 0.2


@dataclass(frozen=True)
class SyncOptions:
    """Options of :func:`capture3d.sync.estimate_sync` and :func:`align_keypoints`."""

    max_shift_s: float | None = None  # largest offset searched, seconds; None: half the shortest recording
    reference: str | None = None      # camera whose clock is the common one; None: the first that can be
    min_score: float = 0.3            # keypoints / corners below this detector score are not used, [0, 1]
    min_correlation: float = 0.5      # a weaker best correlation is "no shared motion", Pearson r
    min_significance: float = 1.0     # ... and one less than this above chance (Fisher z, see correlate.Peak)
    min_confidence: float = 0.2       # a camera whose offset is less certain is reported, not written, 0..1
    min_overlap: float = 0.5          # lags must keep this fraction of the shorter signal, 0..1
    window_s: float = 2.0             # window of the fine step; several windows measure the rate, seconds
    min_rate_span_s: float = 6.0      # overlaps shorter than this keep the container's rate, seconds
    max_drift: float = 0.005          # a measured rate further than this from the container's is not kept, ratio
    search_frames: float = 1.5        # the fine step searches the coarse offset +- this, frames
    first_search_frames: float = 6.0  # ... and +- this in its first pass with a calibration, frames
    max_error_px: float = 20.0        # reprojection errors are capped here (robust mean), pixels
    camera_shift: bool = True         # with a calibration, each camera's constant 2D shift is fitted away first
    smooth_s: float = 0.03            # Gaussian sigma applied to the speed signals, seconds
    rounds: int = 4                   # fine passes with a calibration (each uses the others' last estimate)
    audio_rate_hz: int = 48000        # sound tracks are decoded at this rate, Hz
    min_flash_step: float = 8.0       # a brightness step smaller than this is "flat", grey levels
    whole_frames: bool = False        # the cameras share one frame clock (hardware trigger, genlock, videos cut
    #                                 from synced ones) and only started at different frames: each start is
    #                                 rounded to whole frames of the reference, its rate set to the reference's
    #                                 (clock.to_whole_frames)

    def __post_init__(self):
        if self.max_shift_s is not None and not self.max_shift_s > 0:
            raise ValueError(f"max_shift_s must be > 0 seconds, got {self.max_shift_s}")
        if not (0 <= self.min_score <= 1 and 0 <= self.min_correlation < 1 and 0 < self.min_overlap <= 1):
            raise ValueError("min_score must be in [0, 1], min_correlation in [0, 1), min_overlap in (0, 1]")
        if not (self.window_s > 0 and self.search_frames > 0 and self.max_error_px > 0 and self.audio_rate_hz > 0):
            raise ValueError("window_s, search_frames, max_error_px and audio_rate_hz must be > 0")


def _line_fit(tau_k, y_k, weights, frame_s: float):
    """``y = start + rate * tau`` through the windows' estimates, the farthest off (more than half
    a frame) dropped; returns ``(start, rate, kept fraction)``."""
    keep = np.ones(len(tau_k), bool)
    for _ in range(3):
        A = np.stack([np.ones(keep.sum()), tau_k[keep]], axis=1)
        w = np.sqrt(weights[keep])
        (start, rate), *_ = np.linalg.lstsq(A * w[:, None], y_k[keep] * w, rcond=None)
        res = np.abs(y_k - start - rate * tau_k)
        worst = int(np.argmax(np.where(keep, res, -1)))
        if res[worst] <= 0.5 * frame_s or keep.sum() <= 2:
            break
        keep[worst] = False
    return float(start), float(rate), float(keep.mean())


def _windows(tau, span, window_s):
    """Index ranges of the camera's own frames inside ``span`` (own seconds), ``window_s`` long."""
    lo, hi = span
    n = max(1, int((hi - lo) // window_s))
    edges = np.linspace(lo, hi, n + 1)
    return [np.flatnonzero((tau >= a) & (tau <= b)) for a, b in zip(edges[:-1], edges[1:])]


def align_keypoints(keypoints: dict, times_s: dict, *, rig=None, options: SyncOptions | None = None,
                    method: str = "motion") -> SyncResult:
    """Clocks of cameras that filmed the same motion, from their 2D keypoints.

    Parameters
    ----------
    keypoints : {camera: (F_c, P_c, J, 3) float}
        Pixels + score per own frame, person slot and joint (NaN where absent); the same joints
        in every camera (COCO-17 for people, corner ids for a board), slots need not match.
    times_s : {camera: (F_c,) float}
        Each camera's own frame times, seconds (container timestamps, or ``arange(F) / fps``).
    rig : Rig, optional
        The calibration, cameras by name: the fine step then minimises reprojection errors.

    Returns
    -------
    SyncResult
        ``failed[camera]`` says why a camera could not be synchronised (no confident keypoint,
        a flat signal, no shared motion, a recording shorter than the shift searched).
    """
    from .refine import coarse_by_reprojection, refine_window

    opts = options or SyncOptions()
    if method == "motion":   # sub-frame interpolation needs each slot to be one person over time
        keypoints = {n: link_person_slots(kp, min_score=opts.min_score) for n, kp in keypoints.items()}
    quiet = logging.getLogger("capture3d.reconstruct")
    level = quiet.level
    quiet.setLevel(logging.ERROR)   # trial offsets leave many points unreconstructed: expected
    try:
        return _align(keypoints, times_s, rig, opts, method)
    finally:
        quiet.setLevel(level)


def _place_by_pairs(names, reference, keypoints, times, rig, opts, max_shift, min_confidence: float = 0.05):
    """Coarse starts with a calibration: every pair's offset by reprojection
    (:func:`refine.coarse_by_reprojection`), then cameras placed from the reference outwards,
    each through the placed camera it agrees with most (a camera that shares little with the
    reference, e.g. sees one person of two, is placed through one that sees what it sees),
    preferring pairs whose best lag has no rival (:class:`refine.Rival`).
    Returns ``{camera: (start_s, confidence, through, rival)}``, ``rival`` the weakest
    placement on the way: ``(start_s of its rival on the common clock, margin)``."""
    from .refine import coarse_by_reprojection

    pair = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            found = coarse_by_reprojection(b, a, keypoints, times, rig, opts, max_shift)
            if found is not None and found[1] >= min_confidence:
                off, conf, rival = found
                pair[(a, b)] = (off, conf, rival.rival_s, rival.margin)      # start of b on a's clock
                pair[(b, a)] = (-off, conf, -rival.rival_s, rival.margin)
    placed = {reference: (0.0, 1.0, reference, (float("nan"), 1.0))}
    while True:
        edges = [(margin >= MIN_RIVAL_MARGIN, conf, m, c, off, rival, margin)
                 for (m, c), (off, conf, rival, margin) in pair.items() if m in placed and c not in placed]
        if not edges:
            return placed
        _, conf, m, c, off, rival, margin = max(edges, key=lambda e: e[:2])
        start = placed[m][0] + off
        # the weakest placement on the way decides: this pair's rival, or the one m was placed with
        weakest = (placed[m][0] + rival, margin) if margin < placed[m][3][1] else \
            (placed[m][3][0] + off, placed[m][3][1])
        placed[c] = (start, conf, m, weakest)


def _overlap(tau, clock, ref_tau) -> tuple[float, float]:
    """The part of a camera's recording (own seconds; frame times ``tau``, clock ``(start, rate)``)
    that the reference camera's (frame times ``ref_tau``) also covers."""
    start, rate = clock
    return max((ref_tau[0] - start) / rate, 0.0), min((ref_tau[-1] - start) / rate, tau[-1])


def _weak_cameras(n, synced, scores) -> set:
    """Cameras other than ``n`` whose coarse offset was barely better than chance: they do not
    make the 3D that ``n`` is refined against, while at least two others remain."""
    weak = {m for m in synced if m != n and scores[m] < WEAK_CONFIDENCE}
    return weak if len(synced) - 1 - len(weak) >= 2 else set()


def _agreement(n, synced, clocks, keypoints, speed, reference, rig, opts, fps, coarse) -> float:
    """With a calibration, a camera's confidence: how surely its final offset is right to a frame
    (:func:`refine.offset_agreement` over its whole overlap with the reference, against the
    cameras its offset was refined with), 0 at chance, 1 when every resample agrees. The
    pairwise coarse score measures two views only, and misses a camera that only the others'
    3D can place (pose2sim_multiperson's cam03: coarse 0.19, here 0.94 at 0.35 frame off)."""
    from .refine import offset_agreement, window_errors

    tau = speed[n][0]
    span = _overlap(tau, clocks[n], speed[reference][0])
    window = np.flatnonzero((tau >= span[0]) & (tau <= span[1]))
    lag_frames = int(max(opts.first_search_frames, 3))
    weak = _weak_cameras(n, synced, coarse)
    parts = window_errors(n, window, clocks, keypoints, speed, reference, rig, opts, 1.0 / fps, lag_frames, weak) \
        if len(window) >= 4 else None
    if parts is None:
        return 0.0
    chance = 3.0 / (2 * lag_frames + 1)
    return float(np.clip((offset_agreement(parts, 1.0 / fps, lag_frames) - chance) / (1 - chance), 0.0, 1.0))


def _align(keypoints, times_s, rig, opts, method):
    from .refine import refine_window

    names = list(keypoints)
    failed, speed = {}, {}
    for n in names:
        tau = np.asarray(times_s[n], float)
        tau = tau - tau[0]
        mid, s = keypoint_speed(keypoints[n], tau, min_score=opts.min_score, vertical=method != "board")
        seen = np.isfinite(s)
        if seen.sum() < 10:
            failed[n] = (f"{'no board corner' if method == 'board' else 'no person'} seen in two consecutive "
                         f"frames at score >= {opts.min_score} ({seen.sum()} of {len(s)} frame pairs)")
        elif np.nanstd(s) <= 1e-6 * max(np.nanmean(s), 1e-12):
            failed[n] = "flat signal: nothing moves"
        speed[n] = (tau, mid, s)
    usable = [n for n in names if n not in failed]
    if rig is not None:
        unknown = [n for n in names if n not in rig.names]
        if unknown:
            raise ValueError(f"calibration: no camera named {unknown} (calibration: {rig.names})")
    reference = opts.reference or (usable[0] if usable else names[0])
    if reference not in keypoints:
        raise ValueError(f"reference camera {reference!r} is not one of {names}")
    if reference in failed or not usable:
        return SyncResult(method, reference, {}, failed)
    fps = {n: nominal_fps(speed[n][0]) for n in names}
    step = 1.0 / (2 * max(fps.values()))
    durations = {n: speed[n][0][-1] for n in names}
    max_shift = opts.max_shift_s or 0.5 * min(durations.values())
    grids = {n: on_grid(speed[n][1] - speed[n][1][0], speed[n][2], step, opts.smooth_s) for n in usable}
    offsets = {reference: 0.0}   # own -> common, coarse; ref grid starts at its first mid-time
    r_peak = {reference: 1.0}
    for n in usable:
        if n == reference:
            continue
        if durations[n] < max_shift and opts.max_shift_s is not None:
            failed[n] = (f"its recording lasts {durations[n]:.2f} s, shorter than the {max_shift:g} s shift "
                         "searched (--max-shift)")
            continue
        if rig is not None:   # the geometry decides: a speed correlation of a short take can mislead
            continue
        min_overlap = int(opts.min_overlap * min(np.isfinite(grids[n]).sum(), np.isfinite(grids[reference]).sum()))
        peak = best_lag(grids[reference], grids[n], step, max_lag_s=max_shift, min_overlap=max(min_overlap, 8),
                        separation_s=0.2)
        if peak is None or not peak.r >= opts.min_correlation:
            best = "none" if peak is None else f"{peak.r:.2f}"
            failed[n] = (f"no shared motion with {reference}: best correlation {best} "
                         f"(< {opts.min_correlation}) within +-{max_shift:.2f} s")
            continue
        if peak.z - peak.z_chance < opts.min_significance:
            # a high r over few independent samples: the best of many lags reaches it by chance
            # (caliscope_4cam without a calibration: r = 0.81 at 20 frames off, on 8 independent
            # samples of the board seen in 23 frames)
            failed[n] = (f"too little shared motion with {reference}: the best correlation, {peak.r:.2f} at "
                         f"{peak.lag_s:+.2f} s, rests on {peak.n_eff:.0f} independent samples and is no better "
                         f"than chance over the lags searched (z {peak.z:.1f}, chance {peak.z_chance:.1f}); "
                         "record more motion, or give a calibration (-c)")
            continue
        # grids start at the first mid-time: shift back to first frames
        offsets[n] = peak.lag_s + (speed[reference][1][0] - speed[n][1][0])
        # a peak barely above the next one (periodic motion, little motion) is no evidence
        distinct = 1.0 if not np.isfinite(peak.r_second) else float(np.clip((peak.r - peak.r_second) / 0.2, 0, 1))
        r_peak[n] = peak.r * distinct
        log.info("%s: coarse start %.4f s (r = %.2f, next peak %.2f)", n, offsets[n], peak.r, peak.r_second)
    if rig is not None:
        placed = _place_by_pairs([n for n in usable if n not in failed], reference, keypoints,
                                 {m: speed[m][0] for m in names}, rig, opts, max_shift)
        for n in usable:
            if n in failed or n == reference:
                continue
            if n not in placed:
                failed[n] = (f"no shared motion: no offset within +-{max_shift:.2f} s makes its keypoints agree "
                             "with another camera's through the calibration")
                continue
            start, conf, via, (rival_s, margin) = placed[n]
            if margin < MIN_RIVAL_MARGIN:
                failed[n] = (f"its motion repeats: a start of {rival_s:+.3f} s fits almost as well as "
                             f"{start:+.3f} s (placed against {via}; margin {margin:.2f} < "
                             f"{MIN_RIVAL_MARGIN}); record motion that does not repeat, or search less (--max-shift)")
                continue
            offsets[n], r_peak[n] = start, conf
            log.info("%s: coarse start %.4f s by reprojection against %s (confidence %.2f)", n, offsets[n], via,
                     r_peak[n])
    synced = [n for n in usable if n in offsets]
    clocks = {n: [offsets[n], 1.0] for n in synced}
    details = {}
    if len(synced) > 1:
        rounds = opts.rounds if rig is not None else 1
        for k_round in range(rounds):
            for n in synced:
                if n == reference:
                    continue
                tau = speed[n][0]
                frame_s = 1.0 / fps[n]
                start, rate = clocks[n]
                span = _overlap(tau, clocks[n], speed[reference][0])
                # several windows measure the rate: with a calibration only (a correlation peak
                # over a short window is too broad to place to a fraction of a frame)
                long = rig is not None and span[1] - span[0] >= opts.min_rate_span_s
                wins = _windows(tau, span, opts.window_s) if long \
                    else [np.flatnonzero((tau >= span[0]) & (tau <= span[1]))]
                # the first pass with a calibration looks wider: a pairwise coarse offset of a
                # short, slow take can be a few frames off, the other cameras' 3D is sharper
                search = max(opts.search_frames, opts.first_search_frames) if k_round == 0 and rig is not None \
                    else opts.search_frames
                est = [refine_window(n, w, clocks, keypoints, speed, reference, rig, opts, frame_s, step, search,
                                     _weak_cameras(n, synced, r_peak)) for w in wins]
                est = [(tk, yk, wk) for tk, yk, wk in est if np.isfinite(yk)]
                if not est:
                    continue
                tk, yk, wk = (np.array(v, float) for v in zip(*est))
                if len(est) >= 2:
                    s_new, r_new, kept = _line_fit(tk, yk, wk, frame_s)
                else:
                    s_new, r_new, kept = float(yk[0] - rate * tk[0]), rate, 1.0
                if k_round:   # the others' errors pull each estimate back: over-relax
                    s_new, r_new = start + OVER_RELAX * (s_new - start), rate + OVER_RELAX * (r_new - rate)
                if abs(r_new - 1.0) > opts.max_drift:   # not a clock: noisy windows; keep the container's rate
                    log.info("%s: drift %.3f %% beyond max_drift, rate not kept", n, 100 * (r_new - 1))
                    r_new = 1.0
                    s_new = float(np.average(yk - tk, weights=wk))
                clocks[n] = [s_new, r_new]
                log.debug("%s round %d: start %.5f s, rate %.6f", n, k_round, s_new, r_new)
                details[n] = {"windows": len(est), "kept": kept}
    if rig is not None and len(synced) > 1:
        coarse = dict(r_peak)   # every camera judged against the cameras it was refined with
        for n in synced:
            if n != reference:
                r_peak[n] = _agreement(n, synced, clocks, keypoints, speed, reference, rig, opts, fps[n], coarse)
                details.setdefault(n, {})["agreement"] = r_peak[n]
    out = {}
    for n in synced:
        if n != reference and r_peak[n] < opts.min_confidence:
            failed[n] = (f"offset too uncertain (confidence {r_peak[n]:.2f} < {opts.min_confidence}; best start "
                         f"{clocks[n][0]:+.4f} s): record more shared motion, or check the calibration")
            continue
        start, rate = clocks[n]
        tau = speed[n][0]
        conf = float(np.clip(r_peak[n], 0, 1) * details.get(n, {}).get("kept", 1.0))
        vfr = is_variable_rate(tau)
        out[n] = CameraClock(start, fps[n] / rate, conf, "container" if vfr else "index", rate if vfr else 1.0,
                             len(tau), fps[n])
    signals = {n: (clocks[n][0] + clocks[n][1] * speed[n][1], speed[n][2]) for n in out}
    return SyncResult(method, reference, out, {n: failed[n] for n in names if n in failed}, signals, details)
