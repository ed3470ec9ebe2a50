"""ONNX pose models: a small model built here with the onnx helper API runs through onnxruntime,
so that cropping, both decodings and the mapping back to image pixels run for real."""
import hashlib

import cv2
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from capture3d.detect import make_detector  # noqa: E402

W_IN, H_IN, J, STRIDE = 136, 128, 17, 4      # model input, joints, heatmap stride


def _model(path, decoding):
    """Joint j's heatmap = the image's brightness (max-pooled by STRIDE) inside vertical stripe
    j of the input; simcc = its row and column maxima at input resolution."""
    hh, hw = H_IN // STRIDE, W_IN // STRIDE
    mask = np.zeros((1, J, hh, hw), np.float32)
    for j in range(J):
        mask[0, j, :, 2 * j:2 * j + 2] = 1.0
    nodes = [helper.make_node("ReduceMean", ["image", "axes"], ["grey"], keepdims=1),
             helper.make_node("MaxPool", ["grey"], ["pooled"], kernel_shape=[STRIDE, STRIDE], strides=[STRIDE, STRIDE]),
             helper.make_node("Mul", ["pooled", "mask"], ["heatmaps"])]
    inits = [helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
             helper.make_tensor("mask", TensorProto.FLOAT, mask.shape, mask.ravel())]
    outputs = [helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT, [1, J, hh, hw])]
    if decoding == "simcc":
        full = np.repeat(np.repeat(mask, STRIDE, axis=2), STRIDE, axis=3)
        nodes = [helper.make_node("ReduceMean", ["image", "axes"], ["grey"], keepdims=1),
                 helper.make_node("Mul", ["grey", "mask"], ["masked"]),
                 helper.make_node("ReduceMax", ["masked", "axis_h"], ["simcc_x"], keepdims=0),
                 helper.make_node("ReduceMax", ["masked", "axis_w"], ["simcc_y"], keepdims=0)]
        inits = [helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
                 helper.make_tensor("axis_h", TensorProto.INT64, [1], [2]),
                 helper.make_tensor("axis_w", TensorProto.INT64, [1], [3]),
                 helper.make_tensor("mask", TensorProto.FLOAT, full.shape, full.ravel())]
        outputs = [helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT, [1, J, W_IN]),
                   helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT, [1, J, H_IN])]
    graph = helper.make_graph(nodes, "stripes", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, H_IN, W_IN])],
                              outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _scene():
    """A 544 x 512 image (4x the input, same aspect ratio after the 1.25 margin) with one bright
    dot per joint, each in its joint's stripe."""
    h, w = 512, 544
    image = np.zeros((h, w, 3), np.uint8)
    truth = []
    scale = 1.25 * w / W_IN / 1.25       # the whole image maps onto the input
    for j in range(J):
        x_in, y_in = 2 * j * STRIDE + STRIDE, 16 + 5 * j
        x, y = (x_in + 0.5) * scale, (y_in + 0.5) * scale
        cv2.circle(image, (int(x), int(y)), 3, (255, 255, 255), -1)
        truth.append((x, y))
    return image, np.array(truth)


@pytest.mark.parametrize("decoding", ["heatmap", "simcc"])
def test_a_built_model_finds_every_joint_where_it_was_drawn(tmp_path, decoding):
    sha = _model(tmp_path / "stripes.onnx", decoding)
    (tmp_path / "manifest.toml").write_text(
        f'[models.stripes]\nformat = "onnx"\nfile = "stripes.onnx"\nsha256 = "{sha}"\nlayout = "coco17"\n'
        f'input_size = [{W_IN}, {H_IN}]\ndecoding = "{decoding}"\nmode = "topdown"\nperson_boxes = "image"\n'
        f'mean = [0, 0, 0]\nstd = [255, 255, 255]\nsimcc_split_ratio = 1.0\n')
    det = make_detector("stripes", models_folder=tmp_path)
    image, truth = _scene()
    out = det(image)
    assert out.shape == (1, 17, 3)
    err = np.linalg.norm(out[0, :, :2] - truth, axis=1)
    # one heatmap pixel is 16 image pixels here; simcc works at input resolution (4 px)
    assert err.max() < (12.0 if decoding == "heatmap" else 5.0), err
    assert np.all(out[0, :, 2] > 0.5)


def test_manifest_entries_are_checked(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"x")
    sha = hashlib.sha256(b"x").hexdigest()
    (tmp_path / "manifest.toml").write_text(
        f'[models.bad]\nformat = "onnx"\nfile = "m.onnx"\nsha256 = "{sha}"\nlayout = "coco17"\ninput_size = [8, 8]\n')
    with pytest.raises(ValueError, match=r"\[models.bad\] lacks decoding, mode"):
        make_detector("bad", models_folder=tmp_path)
    with pytest.raises(ValueError, match="unknown detector 'nothing'"):
        make_detector("nothing", models_folder=tmp_path)
