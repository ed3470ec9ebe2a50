"""capture3d: multi-camera markerless 3D motion capture.

Data flows one way: sources -> frames -> 2D keypoints -> 3D points -> skeleton -> files and views.

>>> import capture3d
>>> rig = capture3d.synthetic.make_rig(4)
>>> len(rig), rig.names[0]
(4, 'cam01')
"""
__version__ = "0.1.0"

import os as _os

# Open3D ships an older TBB than numba accepts; prefer OpenMP so that numba never tries it.
_os.environ.setdefault("NUMBA_THREADING_LAYER_PRIORITY", "omp workqueue tbb")

from .camera import Camera  # noqa: E402
from .rig import Rig  # noqa: E402
from . import synthetic  # noqa: E402
from .reconstruct import TriangulationOptions, TriangulationResult, triangulate, triangulate_people  # noqa: E402

__all__ = ["Camera", "Rig", "triangulate", "triangulate_people", "TriangulationOptions", "TriangulationResult",
           "synthetic", "__version__"]
