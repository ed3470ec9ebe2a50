"""OpenPose's Caffe or TensorFlow models run with OpenCV's DNN module, for users who have them.

The network sees the whole image, resized to ``input_height`` rows (368 by default) and a width
that keeps the aspect ratio (a multiple of 16, as OpenPose picks it). Its one output is
``(1, C, h, w)`` at a stride of 8: ``J`` joint heatmaps, a background map, then the Part
Affinity Fields (PAFs), two channels (x, y) per limb. Several people are found bottom-up, the way
Cao et al.'s reference code does it:

1. **Peaks**: local 3x3 maxima of each heatmap above ``peak_threshold`` are the joint
   candidates, placed and scored at the vertex of a parabola through the log scores around them
   (sub-cell; upsampling every map to the input size first, as OpenPose does, made the whole
   decoding 16x slower here).
2. **Limbs**: for every pair of candidates of a limb's two joints, the PAF is sampled at
   ``paf_samples`` points along the segment and projected on its direction. A pair is a
   candidate limb when at least ``paf_min_above`` of the samples exceed ``paf_threshold`` and the
   mean, less a penalty for segments longer than half the input height, is positive. Limbs are
   then taken greedily by score, each joint candidate at most once per limb type.
3. **Persons**: limbs are joined into persons through the joints they share; two partial
   persons that meet on a limb and share no joint are merged. Persons with fewer than
   ``min_parts`` joints or a mean score below ``min_person_score`` are dropped.

Persons are returned best first (sum of joint and limb scores), with no tracking from frame to
frame: :func:`capture3d.reconstruct.association.associate_person` picks one consistently.

Layouts: ``body25`` (OpenPose's default model, 78 channels) and ``coco18`` (57 channels; also the
TensorFlow "graph_opt.pb" ports). The limb tables are OpenPose's own (``poseParameters.cpp``).
The MPI models have no face joints and cannot be mapped to COCO-17, so they are not offered.

Manifest keys (``models/manifest.toml``): ``format = "caffe"`` with ``file`` the ``.caffemodel``
and ``config`` the ``.prototxt``, or ``format = "tensorflow"`` with ``file`` the frozen ``.pb``;
``layout``; optional ``input_height`` (368), ``input_width`` (from the aspect ratio),
``input_scale`` (1/256), ``input_mean`` (128: OpenPose feeds ``(pixel - 128) / 256``),
``swap_rb`` (false), and any field of :class:`OpenPoseOptions`.

:func:`render_maps` draws the network output a perfect model would give for known people: the
tests use it, and it shows which channel holds what.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import cv2
import numpy as np

from ..skeleton import LAYOUTS
from .base import Detector, check_image
from .manifest import ModelEntry, ModelFileError


@dataclass(frozen=True)
class PafLayout:
    """Joints and limbs of an OpenPose model: ``limbs[k] = (a, b)`` joint indices whose PAF is
    channels ``paf[k] = (x, y)`` counted from the first PAF channel; ``spawn[k]`` says whether
    limb ``k`` may start a new person (OpenPose's redundant ear-shoulder limbs may not)."""

    joints: tuple[str, ...]
    limbs: tuple[tuple[int, int], ...]
    paf: tuple[tuple[int, int], ...]
    redundant: tuple[tuple[int, int], ...] = ()

    @property
    def channels(self) -> int:
        """Output channels: heatmaps, background, PAFs."""
        return len(self.joints) + 1 + 2 * len(self.limbs)

    def spawn(self, k: int) -> bool:
        return self.limbs[k] not in self.redundant


def _pairs(flat):
    return tuple(zip(flat[::2], flat[1::2]))


#: OpenPose's POSE_BODY_PART_PAIRS and POSE_MAP_INDEX (include/openpose/pose/poseParameters.cpp).
PAF_LAYOUTS = {
    "body25": PafLayout(
        LAYOUTS["body25"],
        _pairs((1, 8, 1, 2, 1, 5, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9, 9, 10, 10, 11, 8, 12, 12, 13, 13, 14, 1, 0,
                0, 15, 15, 17, 0, 16, 16, 18, 2, 17, 5, 18, 14, 19, 19, 20, 14, 21, 11, 22, 22, 23, 11, 24)),
        _pairs((0, 1, 14, 15, 22, 23, 16, 17, 18, 19, 24, 25, 26, 27, 6, 7, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13,
                30, 31, 32, 33, 36, 37, 34, 35, 38, 39, 20, 21, 28, 29, 40, 41, 42, 43, 44, 45, 46, 47,
                48, 49, 50, 51)),
        redundant=((2, 17), (5, 18))),
    "coco18": PafLayout(
        LAYOUTS["coco18"],
        _pairs((1, 2, 1, 5, 2, 3, 3, 4, 5, 6, 6, 7, 1, 8, 8, 9, 9, 10, 1, 11, 11, 12, 12, 13, 1, 0, 0, 14,
                14, 16, 0, 15, 15, 17, 2, 16, 5, 17)),
        _pairs((12, 13, 20, 21, 14, 15, 16, 17, 22, 23, 24, 25, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 28, 29,
                30, 31, 34, 35, 32, 33, 36, 37, 18, 19, 26, 27)),
        redundant=((2, 16), (5, 17))),
}


@dataclass(frozen=True)
class OpenPoseOptions:
    """Decoding thresholds (Cao et al.'s reference values); scores are in [0, 1]."""

    peak_threshold: float = 0.1     # a heatmap peak below this is no joint candidate
    paf_threshold: float = 0.05     # a PAF sample counts as "on the limb" above this
    paf_min_above: float = 0.8      # share of the samples that must be on the limb
    paf_samples: int = 10           # samples along a candidate limb
    min_parts: int = 4              # a person needs this many joints
    min_person_score: float = 0.4   # and this mean score per joint


def find_peaks(heatmaps, threshold: float) -> list[np.ndarray]:
    """Joint candidates of ``(J, h, w)`` heatmaps: per joint a ``(K, 3)`` array x, y (cells of
    the heatmap, sub-cell), score; local 3x3 maxima above ``threshold``.

    The sub-cell position is the vertex of the parabola through the log scores of the peak and
    its two neighbours, per axis: exact for a Gaussian blob, which is what OpenPose's heatmaps
    are trained to be, and much cheaper than upsampling every map to the input size first.
    """
    heatmaps = np.asarray(heatmaps, np.float32)
    _, h, w = heatmaps.shape
    js, ys, xs = np.nonzero(heatmaps > threshold)       # few cells: test only these
    # the 3x3 neighbourhood, edges repeated
    patches = np.stack([heatmaps[js, np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)]
                        for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=1)
    keep = patches[:, 4] >= patches.max(axis=1)
    js, ys, xs = js[keep], ys[keep], xs[keep]
    logs = np.log(np.clip(patches[keep], 1e-6, None))

    def vertex(minus, centre, plus):
        """Offset of the parabola's vertex and how much higher it is than the centre."""
        curvature = minus - 2 * centre + plus
        bent = curvature < -1e-9
        offset = np.where(bent, np.clip(0.5 * (minus - plus) / np.where(bent, curvature, -1.0), -0.5, 0.5), 0.0)
        return offset, offset * (plus - minus) / 2 + offset ** 2 * curvature / 2

    dx, rise_x = vertex(logs[:, 3], logs[:, 4], logs[:, 5])
    dy, rise_y = vertex(logs[:, 1], logs[:, 4], logs[:, 7])
    score = np.clip(np.exp(logs[:, 4] + rise_x + rise_y), 0.0, 1.0)
    peaks = np.stack([xs + dx, ys + dy, score], axis=1).astype(np.float32)
    return [peaks[js == j] for j in range(len(heatmaps))]


def _bilinear(image, x, y):
    """Sample a ``(H, W)`` map at float pixel positions (clamped to the map)."""
    h, w = image.shape
    x = np.clip(x, 0, w - 1)
    y = np.clip(y, 0, h - 1)
    x0 = np.minimum(x.astype(np.intp), w - 2) if w > 1 else np.zeros_like(x, np.intp)
    y0 = np.minimum(y.astype(np.intp), h - 2) if h > 1 else np.zeros_like(y, np.intp)
    fx, fy = x - x0, y - y0
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    return ((image[y0, x0] * (1 - fx) + image[y0, x1] * fx) * (1 - fy)
            + (image[y1, x0] * (1 - fx) + image[y1, x1] * fx) * fy)


def connect_limbs(a, b, paf_x, paf_y, stride: float, height: float, options: OpenPoseOptions) -> np.ndarray:
    """Limbs between candidates ``a (Ka, 3)`` and ``b (Kb, 3)`` (input pixels) through one PAF
    (``(h, w)`` maps at ``stride`` input pixels per cell). Returns ``(L, 3)``: index in ``a``,
    index in ``b``, limb score; each candidate in at most one limb, best limbs first."""
    if not len(a) or not len(b):
        return np.empty((0, 3))
    d = b[None, :, :2] - a[:, None, :2]                                 # (Ka, Kb, 2)
    norm = np.linalg.norm(d, axis=2)
    unit = d / np.maximum(norm, 1e-6)[..., None]
    t = np.linspace(0.0, 1.0, options.paf_samples)
    pts = a[:, None, None, :2] + t[:, None] * d[:, :, None, :]          # (Ka, Kb, S, 2)
    # input pixel -> PAF cell: cell centres sit at stride * (i + 0.5) - 0.5
    u = (pts[..., 0] + 0.5) / stride - 0.5
    v = (pts[..., 1] + 0.5) / stride - 0.5
    along = _bilinear(paf_x, u, v) * unit[..., None, 0] + _bilinear(paf_y, u, v) * unit[..., None, 1]
    score = along.mean(axis=2) + np.minimum(0.5 * height / np.maximum(norm, 1e-6) - 1.0, 0.0)
    ok = ((along > options.paf_threshold).mean(axis=2) >= options.paf_min_above) & (score > 0) & (norm > 1e-6)
    ia, ib = np.nonzero(ok)
    order = np.argsort(-score[ia, ib], kind="stable")
    used_a, used_b, limbs = set(), set(), []
    for i, j in zip(ia[order], ib[order]):
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            limbs.append((i, j, score[i, j]))
    return np.asarray(limbs, float).reshape(-1, 3)


def group_persons(peaks: list[np.ndarray], limbs: list[np.ndarray], layout: PafLayout,
                  options: OpenPoseOptions) -> np.ndarray:
    """Join limbs into persons: ``(P, J, 3)`` x, y, score (NaN where a person lacks a joint), best
    person first. ``peaks`` from :func:`find_peaks`, ``limbs[k]`` from :func:`connect_limbs` for
    ``layout.limbs[k]``."""
    J = len(layout.joints)
    members: list[np.ndarray] = []   # per person: candidate index per joint, -1 for none
    scores: list[float] = []
    for k, ((ja, jb), found) in enumerate(zip(layout.limbs, limbs)):
        for ia, ib, s in found:
            ia, ib = int(ia), int(ib)
            owners = [p for p, m in enumerate(members) if m[ja] == ia or m[jb] == ib]
            if len(owners) == 1:
                p = owners[0]
                if members[p][jb] != ib:
                    if members[p][jb] >= 0:
                        continue   # the person already has a different jb: keep it
                    members[p][jb] = ib
                    scores[p] += peaks[jb][ib, 2] + s
                if members[p][ja] < 0:
                    members[p][ja] = ia
                    scores[p] += peaks[ja][ia, 2]
            elif len(owners) == 2:
                p, q = owners
                if not np.any((members[p] >= 0) & (members[q] >= 0)):
                    members[p] = np.maximum(members[p], members[q])
                    scores[p] += scores[q] + s
                    del members[q], scores[q]
            elif layout.spawn(k):
                m = np.full(J, -1, np.intp)
                m[ja], m[jb] = ia, ib
                members.append(m)
                scores.append(peaks[ja][ia, 2] + peaks[jb][ib, 2] + s)
    persons = []
    for m, score in zip(members, scores):
        count = int((m >= 0).sum())
        if count < options.min_parts or score / count < options.min_person_score:
            continue
        kp = np.full((J, 3), np.nan, np.float32)
        for j in np.nonzero(m >= 0)[0]:
            kp[j] = peaks[j][m[j]]
        persons.append((score, kp))
    persons.sort(key=lambda sp: -sp[0])
    return np.stack([kp for _, kp in persons]) if persons else np.empty((0, J, 3), np.float32)


def decode_output(output, layout: PafLayout, input_size, options: OpenPoseOptions = OpenPoseOptions()) -> np.ndarray:
    """The network's ``(C, h, w)`` output -> persons ``(P, J, 3)`` in network-input pixels
    (``input_size = (W, H)``), best first."""
    output = np.asarray(output, np.float32)
    if output.ndim != 3 or output.shape[0] != layout.channels:
        raise ValueError(f"an OpenPose {len(layout.joints)}-joint model outputs {layout.channels} channels, "
                         f"got an output of shape {output.shape}; is `layout` in the manifest right?")
    w_in, h_in = input_size
    J = len(layout.joints)
    stride = w_in / output.shape[2]
    peaks = find_peaks(output[:J], options.peak_threshold)
    for p in peaks:   # cell -> input pixel: cell centres sit at stride * (i + 0.5) - 0.5
        p[:, :2] = (p[:, :2] + 0.5) * stride - 0.5
    pafs = output[J + 1:]
    limbs = [connect_limbs(peaks[a], peaks[b], pafs[cx], pafs[cy], stride, h_in, options)
             for (a, b), (cx, cy) in zip(layout.limbs, layout.paf)]
    return group_persons(peaks, limbs, layout, options)


def render_maps(persons, layout: PafLayout, input_size, *, stride: int = 8, sigma: float = 7.0,
                limb_width: float = 1.0) -> np.ndarray:
    """The ``(C, H/stride, W/stride)`` output of a perfect model for ``persons`` ``(P, J, 2)`` in
    input pixels (NaN: joint not visible): Gaussian heatmaps of ``sigma`` input pixels, the
    background as one minus their maximum, and unit vectors along each limb within
    ``limb_width`` cells of it (averaged where people overlap), as OpenPose is trained."""
    w_in, h_in = input_size
    h, w = h_in // stride, w_in // stride
    J = len(layout.joints)
    out = np.zeros((layout.channels, h, w), np.float32)
    gx, gy = np.meshgrid((np.arange(w) + 0.5) * stride - 0.5, (np.arange(h) + 0.5) * stride - 0.5)
    persons = np.asarray(persons, float).reshape(-1, J, 2)
    for kp in persons:
        for j in range(J):
            if np.isfinite(kp[j]).all():
                g = np.exp(-((gx - kp[j, 0]) ** 2 + (gy - kp[j, 1]) ** 2) / (2 * sigma ** 2))
                out[j] = np.maximum(out[j], g)
    out[J] = 1.0 - out[:J].max(axis=0)
    for (a, b), (cx, cy) in zip(layout.limbs, layout.paf):
        count = np.zeros((h, w))
        for kp in persons:
            if not (np.isfinite(kp[a]).all() and np.isfinite(kp[b]).all()):
                continue
            d = (kp[b] - kp[a]) / stride
            length = np.linalg.norm(d)
            if length < 1e-6:
                continue
            unit = d / length
            rx, ry = (gx - kp[a, 0]) / stride, (gy - kp[a, 1]) / stride
            along = rx * unit[0] + ry * unit[1]
            on = (along >= 0) & (along <= length) & (np.abs(rx * unit[1] - ry * unit[0]) <= limb_width)
            out[J + 1 + cx][on] += unit[0]
            out[J + 1 + cy][on] += unit[1]
            count += on
        many = count > 0
        out[J + 1 + cx][many] /= count[many]
        out[J + 1 + cy][many] /= count[many]
    return out


def _load_net(entry: ModelEntry):
    """``cv2.dnn.Net`` of a caffe or tensorflow entry (files checked); OpenCV 5's new engine does
    not run these graphs, so the classic one is asked for where it exists."""
    weights = entry.check()
    engine = {"engine": cv2.dnn.ENGINE_CLASSIC} if hasattr(cv2.dnn, "ENGINE_CLASSIC") else {}
    if entry.format == "caffe":
        if "config" not in entry.options:
            raise ValueError(f"models/manifest.toml [models.{entry.name}]: a caffe model needs "
                             "`config`, the .prototxt next to the .caffemodel")
        config = entry.path.parent / entry.options["config"]
        if not config.is_file():
            raise ModelFileError(f"{config}: the .prototxt of {entry.name!r} is missing")
        read = lambda: cv2.dnn.readNetFromCaffe(str(config), str(weights), **engine)  # noqa: E731
    else:
        read = lambda: cv2.dnn.readNetFromTensorflow(str(weights), **engine)  # noqa: E731
    try:
        return read()
    except cv2.error as exc:
        raise ModelFileError(f"{weights}: OpenCV cannot read this {entry.format} model: "
                             f"{str(exc).strip().splitlines()[-1]}") from None


class OpenPoseDnn(Detector):
    """A manifest ``caffe`` or ``tensorflow`` OpenPose entry as a detector (module docstring)."""

    def __init__(self, entry: ModelEntry, *, max_persons: int = 1, threads: int = 1):
        if entry.layout not in PAF_LAYOUTS:
            raise ValueError(f"models/manifest.toml [models.{entry.name}]: layout {entry.layout!r} is not an "
                             f"OpenPose layout; one of {sorted(PAF_LAYOUTS)}")
        o = entry.options
        known = {f.name for f in fields(OpenPoseOptions)}
        self.options = OpenPoseOptions(**{k: v for k, v in o.items() if k in known})
        self.layout = PAF_LAYOUTS[entry.layout]
        self.name = entry.name
        self.joint_names = self.layout.joints
        self.max_persons = max_persons
        self.input_height = int(o.get("input_height", 368))
        self.input_width = o.get("input_width")
        self.scale = float(o.get("input_scale", 1 / 256))
        self.mean = float(o.get("input_mean", 128.0))
        self.swap_rb = bool(o.get("swap_rb", False))
        self.net = _load_net(entry)
        self._threads = threads

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """Network input ``(W, H)`` for an image: the configured height, and the configured width
        or the one that keeps the aspect ratio, rounded to a multiple of 16."""
        if self.input_width:
            return int(self.input_width), self.input_height
        return max(16, int(round(width * self.input_height / height / 16)) * 16), self.input_height

    def persons(self, image) -> np.ndarray:
        """Every person found, ``(P, J, 3)`` in image pixels, best first."""
        image = check_image(image)
        h, w = image.shape[:2]
        w_in, h_in = self.input_size(w, h)
        cv2.setNumThreads(self._threads)
        self.net.setInput(cv2.dnn.blobFromImage(image, self.scale, (w_in, h_in), (self.mean,) * 3,
                                                swapRB=self.swap_rb, crop=False))
        found = decode_output(self.net.forward()[0], self.layout, (w_in, h_in), self.options)
        # input pixel -> image pixel (cv2.resize's pixel-centre mapping)
        found[..., 0] = (found[..., 0] + 0.5) * w / w_in - 0.5
        found[..., 1] = (found[..., 1] + 0.5) * h / h_in - 0.5
        return found

    def __call__(self, image) -> np.ndarray:
        found = self.persons(image)[:self.max_persons]
        out = self.empty()
        out[:len(found)] = found
        return out
