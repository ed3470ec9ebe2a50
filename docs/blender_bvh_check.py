"""Check that Blender's own BVH importer reads a capture3d BVH (run by hand; Blender is not a
test dependency):

    blender -b --factory-startup --python docs/blender_bvh_check.py -- points3d.bvh

It prints the bone count and the world position of a few joints at frame 60, to compare with
``capture3d.export.read_bvh(path).forward_kinematics()`` (frame index 59; Blender's axes are
x, -z, y of the file's, in meters with the 0.01 scale). Measured on the demo's BVH with Debian's
Blender 3.4.1: the same positions to 0.1 mm.
"""
import bpy, sys, builtins
_open = builtins.open
builtins.open = lambda f, mode='r', *a, **k: _open(f, mode.replace('U', ''), *a, **k)  # Debian's Blender 3.4 + Python 3.11: 'rU' is gone
path = sys.argv[sys.argv.index("--") + 1]
bpy.ops.import_anim.bvh(filepath=path, axis_forward="-Z", axis_up="Y", global_scale=0.01)
arm = [o for o in bpy.data.objects if o.type == "ARMATURE"][0]
scene = bpy.context.scene
print("BLENDER_OK bones", len(arm.data.bones), "frames", scene.frame_start, scene.frame_end)
scene.frame_set(60)
for name in ("Hips", "LeftHand", "RightFoot", "Nose"):
    pb = arm.pose.bones.get(name)
    if pb is not None:
        print("BLENDER_POS", name, tuple(round(v, 4) for v in (arm.matrix_world @ pb.head)))
