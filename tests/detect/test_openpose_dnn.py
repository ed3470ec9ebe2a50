"""OpenCV-DNN OpenPose: peak finding and Part Affinity Field grouping on maps rendered for known
people, and a Caffe model written here (prototxt + binary caffemodel) whose output is such maps,
run through cv2.dnn by the detector from a manifest entry."""
import hashlib

import numpy as np
import pytest

from capture3d import cli
from capture3d.detect import make_detector, to_canonical
from capture3d.detect.manifest import ModelFileError
from capture3d.detect.openpose_dnn import PAF_LAYOUTS, OpenPoseOptions, decode_output, render_maps

COCO = PAF_LAYOUTS["coco18"]
INPUT = (496, 368)     # network input (W, H) of a 640 x 480 image: height 368, width a multiple of 16


def _person(x, y, height=250.0, arms_crossed=False):
    """COCO-18 keypoints (18, 2) of a standing person whose neck is at (x, y), in input pixels."""
    s = height / 250.0
    kp = np.array([
        (0, -30), (0, 0), (-30, 0), (-40, 45), (-45, 90), (30, 0), (40, 45), (45, 90),
        (-18, 95), (-20, 160), (-22, 225), (18, 95), (20, 160), (22, 225),
        (-8, -38), (8, -38), (-16, -32), (16, -32)], float) * s
    if arms_crossed:   # wrists reach across the body to the other side
        kp[4], kp[7] = (35 * s, 70 * s), (-35 * s, 70 * s)
    return kp + (x, y)


def _match(found, truth):
    """For each true person, the found person nearest to it and the per-joint distances."""
    dist = [[np.nanmean(np.linalg.norm(f[:, :2] - t, axis=1)) for f in found] for t in truth]
    best = np.argmin(dist, axis=1)
    return best, [np.linalg.norm(found[b][:, :2] - t, axis=1) for b, t in zip(best, truth)]


def test_three_people_are_found_whole_and_apart():
    # two people close together (shoulders 25 px apart), one with crossed arms, and a third one
    truth = np.stack([_person(110, 80), _person(195, 85, arms_crossed=True), _person(390, 100, height=200)])
    found = decode_output(render_maps(truth, COCO, INPUT), COCO, INPUT)
    assert found.shape == (3, 18, 3)
    best, errors = _match(found, truth)
    assert sorted(best) == [0, 1, 2]                      # one found person per true person
    for err in errors:
        assert np.isfinite(err).all() and err.max() < 0.05   # every joint, on the right person
    assert np.all(found[..., 2] > 0.9)


def test_a_hidden_joint_stays_nan_and_a_stray_peak_makes_no_person():
    truth = _person(200, 80)
    truth[7] = np.nan                               # left wrist not visible
    maps = render_maps(truth[None], COCO, INPUT)
    g = render_maps(np.full((1, 18, 2), np.nan), COCO, INPUT)   # empty maps
    assert np.all(g[:18] == 0)
    maps[0, 40, 55] = 1.0                           # a lone "nose" with no limb to anyone
    found = decode_output(maps, COCO, INPUT)
    assert len(found) == 1
    assert np.isnan(found[0, 7]).all()
    assert np.nanmax(np.linalg.norm(found[0, :, :2] - truth, axis=1)) < 0.05


def test_body25_limb_table_covers_every_paf_channel_once():
    for layout in PAF_LAYOUTS.values():
        channels = sorted(c for pair in layout.paf for c in pair)
        assert channels == list(range(2 * len(layout.limbs)))
        assert all(max(limb) < len(layout.joints) for limb in layout.limbs)
    assert PAF_LAYOUTS["body25"].channels == 78 and COCO.channels == 57


def test_the_wrong_layout_for_an_output_is_named():
    with pytest.raises(ValueError, match="57 channels.*78"):
        decode_output(np.zeros((78, 46, 62)), COCO, INPUT)


# --- a Caffe model file, written the way Caffe serialises NetParameter ---------------------------

def _varint(n):
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(number, data: bytes):          # a length-delimited protobuf field
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _blob(array):                         # BlobProto: shape (7) = BlobShape{dim (1)}, data (5)
    array = np.asarray(array, np.float32)
    return _field(7, _field(1, b"".join(_varint(d) for d in array.shape))) + _field(5, array.tobytes())


def _layer(name, kind, blobs):            # LayerParameter: name (1), type (2), blobs (7)
    return _field(1, name.encode()) + _field(2, kind.encode()) + b"".join(_field(7, _blob(b)) for b in blobs)


def write_caffe_model(folder, maps):
    """A net whose output is ``maps (C, h, w)`` whatever the image: a 1x1 convolution to a
    constant 1, global average pooling, and a deconvolution whose kernel is the maps."""
    C, h, w = maps.shape
    (folder / "op.prototxt").write_text(f'''name: "rendered_openpose"
input: "image"
input_dim: 1
input_dim: 3
input_dim: {INPUT[1]}
input_dim: {INPUT[0]}
layer {{ name: "one" type: "Convolution" bottom: "image" top: "one"
  convolution_param {{ num_output: 1 kernel_size: 1 }} }}
layer {{ name: "pool" type: "Pooling" bottom: "one" top: "pool"
  pooling_param {{ pool: AVE global_pooling: true }} }}
layer {{ name: "maps" type: "Deconvolution" bottom: "pool" top: "net_output"
  convolution_param {{ num_output: {C} kernel_h: {h} kernel_w: {w} }} }}
''')
    net = (_field(1, b"rendered_openpose")
           + _field(100, _layer("one", "Convolution", [np.zeros((1, 3, 1, 1)), np.ones(1)]))
           + _field(100, _layer("maps", "Deconvolution", [maps[None], np.zeros(C)])))
    (folder / "op.caffemodel").write_bytes(net)
    return hashlib.sha256(net).hexdigest()


@pytest.fixture
def caffe_models(tmp_path):
    truth_in = np.stack([_person(120, 70), _person(330, 90, height=220)])   # input pixels
    digest = write_caffe_model(tmp_path, render_maps(truth_in, COCO, INPUT))
    (tmp_path / "manifest.toml").write_text(f'''
[models.openpose_coco]
format = "caffe"
file = "op.caffemodel"
config = "op.prototxt"
sha256 = "{digest}"
layout = "coco18"

[models.no_prototxt]
format = "caffe"
file = "op.caffemodel"
config = "missing.prototxt"
sha256 = "{digest}"
layout = "coco18"

[models.damaged]
format = "caffe"
file = "op.caffemodel"
config = "op.prototxt"
sha256 = "{'0' * 64}"
layout = "coco18"
''')
    # the test image is 640 x 480: input pixel -> image pixel by cv2.resize's centre mapping
    truth = (truth_in + 0.5) * (640 / INPUT[0], 480 / INPUT[1]) - 0.5
    return tmp_path, truth


def test_a_caffe_model_runs_through_opencv_dnn_and_lands_in_image_pixels(caffe_models):
    folder, truth = caffe_models
    detector = make_detector("openpose_coco", models_folder=folder, max_persons=3)
    image = np.full((480, 640, 3), 90, np.uint8)
    assert detector.input_size(640, 480) == INPUT
    out = detector(image)
    assert out.shape == (3, 18, 3)
    assert np.isnan(out[2]).all()                         # two people, three slots
    best, errors = _match(out[:2], truth)
    assert sorted(best) == [0, 1]
    assert max(e.max() for e in errors) < 0.05
    canonical, names = to_canonical(out, detector.joint_names)
    assert names[:3] == ("nose", "left_eye", "right_eye") and canonical.shape == (3, 17, 3)


def test_caffe_entries_with_bad_files_are_named(caffe_models):
    folder, _ = caffe_models
    with pytest.raises(ModelFileError, match="missing.prototxt"):
        make_detector("no_prototxt", models_folder=folder)
    with pytest.raises(ModelFileError, match="op.caffemodel: sha256"):
        make_detector("damaged", models_folder=folder)
    (folder / "op.prototxt").write_text("this is not a prototxt {")
    with pytest.raises(ModelFileError, match="OpenCV cannot read"):
        make_detector("openpose_coco", models_folder=folder)


def test_detect_with_a_damaged_model_names_it_and_writes_nothing(caffe_models, tmp_path_factory, capsys,
                                                                  monkeypatch):
    folder, _ = caffe_models
    import cv2
    session = tmp_path_factory.mktemp("session")
    for cam in ("cam0", "cam1"):
        writer = cv2.VideoWriter(str(session / f"{cam}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
        for _ in range(3):
            writer.write(np.zeros((48, 64, 3), np.uint8))
        writer.release()
    monkeypatch.setenv("CAPTURE3D_MODELS", str(folder))
    out = session / "pose2d"
    code = cli.main(["detect", str(session), "-o", str(out), "--detector", "damaged", "--workers", "1"])
    err = capsys.readouterr().err
    assert code != 0
    assert "op.caffemodel: sha256" in err and "'damaged'" in err
    assert not out.exists() or not any(out.iterdir())


def test_options_reach_the_decoder(caffe_models):
    folder, _ = caffe_models
    strict = make_detector("openpose_coco", models_folder=folder, max_persons=3)
    assert strict.options == OpenPoseOptions()
    text = (folder / "manifest.toml").read_text().replace('layout = "coco18"\n', 'layout = "coco18"\nmin_parts = 19\n', 1)
    (folder / "manifest.toml").write_text(text)
    none = make_detector("openpose_coco", models_folder=folder, max_persons=3)
    assert none.options.min_parts == 19
    assert np.isnan(none(np.zeros((480, 640, 3), np.uint8))).all()   # nobody has 19 of 18 joints
