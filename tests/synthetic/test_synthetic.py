import numpy as np
import pytest

from capture3d.calibrate.boards import Board
from capture3d.synthetic import make_motion, make_rig, project_keypoints
from capture3d.synthetic.boards import BoardRenderer, board_trajectory


@pytest.mark.parametrize("layout", ["ring", "arc", "random"])
def test_every_camera_sees_the_skeleton(layout):
    rig = make_rig(6, layout=layout, seed=2)
    motion = make_motion(60, kind="mixed", seed=0)
    kp = project_keypoints(motion.points, rig)
    assert np.isfinite(kp[..., 0]).mean() > 0.95
    assert len({c.name for c in rig}) == 6 and rig.names[0] == "cam01"


def test_motion_stays_on_the_floor_with_realistic_sizes():
    m = make_motion(300, kind="mixed", feet=True)
    z = m.points[..., 2]
    assert z.min() > -0.01 and 1.4 < np.nanmax(z) < 2.2  # m: feet on the floor, head at standing height
    assert m.points.shape == (300, 21, 3) and m.joint_names[-1] == "right_foot_index"


def test_rendered_board_corners_land_where_the_camera_projects_them():
    board = Board(squares_x=7, squares_y=5, square_length_m=0.12, marker_length_m=0.09)
    cam = make_rig(4, radius_m=3.5, height_m=2.2, seed=1)[0]
    poses = board_trajectory(30, board, seed=1)
    renderer = BoardRenderer(board, cam)
    errs = []
    for T in poses:
        det = board.detect(renderer.render(T))
        if det.ok:
            X = board.object_points()[det.ids] @ T[:3, :3].T + T[:3, 3]
            errs.append(np.linalg.norm(cam.project(X) - det.corners, axis=1))
    e = np.concatenate(errs)
    assert len(errs) >= 10 and np.median(e) < 0.3 and e.max() < 2.0  # px; measured 0.10 / 1.6
