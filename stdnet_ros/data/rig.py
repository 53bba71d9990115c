"""A separate ToF camera beside the RGB camera, for the synthetic generator's rig mode.

The ToF is rendered from its own pose, with its own intrinsics, lens distortion
and resolution: at ``block`` x its resolution (``CameraModel.resampled``), so each
ToF pixel is the sensor model's output for the ``block`` x ``block`` rays under
it (for the direct ToF: the histogram peak, weighted by what the ToF's own view
sees). Its depth is then registered into the RGB camera's network grid by the
package's own :class:`~stdnet_ros.geometry.registration.Registration`, exactly as
the node does, so a model trained on it learns the holes and resampling that
registration leaves. Which RGB pixels the ToF can see (inside its field of view,
not occluded from its pose) comes from the renderer, by casting a ray from the
ToF's centre to each RGB pixel's surface point: never from the registration
under test.

Rigs are drawn at random per clip around a 224x172 ToF beside a 640x480 RGB
camera (:func:`random_rig`); :func:`judge_rig` is that case, fixed, for held-out
evaluation and the demo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from stdnet_ros.data.sensors import Sensor
from stdnet_ros.geometry.camera import CameraModel
from stdnet_ros.geometry.pose import Pose
from stdnet_ros.geometry.registration import Registration
from stdnet_ros.geometry.rig import Rig, cropped, pinhole

if TYPE_CHECKING:
    from stdnet_ros.data.synthetic import SyntheticScene

# held-out rig clips start here: training draws (seed * 1000 + epoch) * 1000003 + i, validation 1e9 + i,
# tuning 2e9 + i
JUDGE_SEED = 3 * 10**9
TOF_PITCH = 224 / 640  # ToF pixels per RGB pixel across the field of view, the pair
BLOCK = 4  # rays per ToF pixel side: the sensor model's block
WINDOW_DEPTH_STEPS = 8  # depths (log-spaced) at which a crop's border rays are projected into the ToF
WINDOW_DEPTH_MARGIN = 0.9  # the crop's depth range widened by this factor each way
WINDOW_MARGIN = 2  # ToF pixels around a crop's footprint, so registration's triangles close at its edge
VISIBLE_TOLERANCE = 1e-3  # relative: an occluder nearer than this is the surface itself


def _quaternion(axis: np.ndarray, angle: float) -> list[float]:
    axis = axis / np.linalg.norm(axis)
    return [*(axis * np.sin(angle / 2)), float(np.cos(angle / 2))]


def judge_rig(rgb_width: int = 640) -> Rig:
    """A 640x480 RGB camera with a 224x172 ToF 4.5 cm to its right: plumb_bob lens (k1 -0.12,
    k2 0.035), a field of view about 10 % wider, rotated 1.5 degrees. Held-out sets and the demo
    (whose RGB is the same camera at ``rgb_width`` 320, so that a CPU keeps up)."""
    if rgb_width % 4:
        raise ValueError(f"the judge rig's RGB is 4:3; its width must be a multiple of 4, got {rgb_width}")
    full = pinhole(640, 480, 525.0, 525.0, 319.5, 239.5)
    rgb = full.resampled(rgb_width / 640, rgb_width, rgb_width * 3 // 4)
    tof = CameraModel(224, 172, np.array([[175.0, 0.0, 111.8], [0.0, 175.0, 86.3], [0.0, 0.0, 1.0]]),
                      np.array([-0.12, 0.035, 0.0004, -0.0003, 0.0]), "plumb_bob")  # fmt: skip
    quat = _quaternion(np.array([0.2, 1.0, 0.1]), np.radians(1.5))
    return Rig(rgb, tof, Pose.from_xyzquat([0.0443, -0.006, 0.004, *quat]))


def random_rig(rng: np.random.Generator, rgb: CameraModel) -> Rig:
    """A ToF drawn around the judge's: pixel pitch 0.8-1.25 x its share of the RGB's, field of view
    0.92-1.2 x the RGB's, plumb_bob k1 in [-0.2, 0], k2 in [-0.02, 0.05], small tangential terms,
    2-6 cm mostly sideways, rotated up to 2 degrees about a random axis."""
    pitch = TOF_PITCH * rng.uniform(0.8, 1.25)
    fov = rng.uniform(0.92, 1.2)
    width = max(8, round(rgb.width * pitch * fov))
    height = max(8, round(rgb.height * pitch * fov * rng.uniform(0.97, 1.05)))
    f = rgb.k[0, 0] * pitch
    cx, cy = (width - 1) / 2 + rng.normal(0, 1.5), (height - 1) / 2 + rng.normal(0, 1.5)
    d = np.array([rng.uniform(-0.2, 0.0), rng.uniform(-0.02, 0.05), *rng.normal(0, 5e-4, 2), 0.0])
    tof = CameraModel(width, height, np.array([[f, 0, cx], [0, f, cy], [0, 0, 1.0]]), d, "plumb_bob")
    side = rng.choice([-1.0, 1.0])
    direction = np.array([side, rng.normal(0, 0.25), rng.normal(0, 0.1)])
    t = direction / np.linalg.norm(direction) * rng.uniform(0.02, 0.06)
    quat = _quaternion(rng.normal(size=3), np.radians(rng.uniform(0, 2.0)))
    return Rig(rgb, tof, Pose.from_xyzquat([*t, *quat]))


def tof_window(
    rig: Rig, window: tuple[int, int, int, int], near: float, far: float
) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the ToF pixels that the RGB crop ``window`` (y, x, h, w) can see, given that its
    depth lies in [``near``, ``far``]: its border rays at depths over that range (widened by
    ``WINDOW_DEPTH_MARGIN``) projected into the ToF image, their bounding box plus a margin, clipped
    (at least 2 x 2 pixels, so a crop outside the ToF's view still has a camera).

    A point the ToF sees that projects into the crop lies on an RGB ray no nearer than the surface
    the RGB sees there, so ``near`` (the crop's nearest surface) bounds every one that matters; one
    beyond ``far`` is hidden from the RGB by the crop's own surfaces. A fixed 0.3-30 m range would
    render several times the pixels at a 5 cm baseline (parallax of ~50 ToF pixels at 0.3 m)."""
    y, x, h, w = window
    rays = cropped(rig.rgb, x, y, w, h).rays()
    border = np.concatenate([rays[0], rays[-1], rays[:, 0], rays[:, -1]])
    depths = np.geomspace(near * WINDOW_DEPTH_MARGIN, far / WINDOW_DEPTH_MARGIN, WINDOW_DEPTH_STEPS)
    points = border[None] * depths[:, None, None]
    uv = rig.tof.project((points - rig.pose.translation) @ rig.pose.rotation).reshape(-1, 2)
    uv = uv[np.isfinite(uv).all(axis=1)]
    tw, th = rig.tof.size
    if not len(uv):
        return 0, 0, 2, 2
    x0 = int(np.clip(np.floor(uv[:, 0].min()) - WINDOW_MARGIN, 0, tw - 2))
    y0 = int(np.clip(np.floor(uv[:, 1].min()) - WINDOW_MARGIN, 0, th - 2))
    x1 = int(np.clip(np.ceil(uv[:, 0].max()) + WINDOW_MARGIN + 1, x0 + 2, tw))
    y1 = int(np.clip(np.ceil(uv[:, 1].max()) + WINDOW_MARGIN + 1, y0 + 2, th))
    return x0, y0, x1 - x0, y1 - y0


class RigView:
    """One clip's ToF: renders its frames, registers them per scale, and finds what it sees.

    ``factor`` rescales the world's metres (the trainer's depth augmentation): the scene is rendered
    with the ToF at ``translation / factor`` and every depth multiplied by ``factor``, which is the
    world and the rig scaled about the RGB camera's centre, the rig then at its true size. Only the
    ToF pixels that a window of a larger camera can see (its scene depth within ``depth_range``) are
    rendered (:func:`tof_window`); without a window, the whole ToF image.
    """

    def __init__(
        self, scene: SyntheticScene, rig: Rig, scales: tuple[int, ...], sensor: Sensor, factor: float = 1.0,
        depth_range: tuple[float, float] = (0.3, 30.0), block: int = BLOCK,
    ) -> None:  # fmt: skip
        y, x, h, w = scene.window
        rgb = cropped(rig.rgb, x, y, w, h)
        self.scene, self.sensor, self.factor, self.block = scene, sensor, factor, block
        self.full_tof = rig.tof
        self.render_pose = Pose(rig.pose.rotation, rig.pose.translation / factor)
        tx, ty, tw, th = 0, 0, *rig.tof.size
        if scene.window != (0, 0, scene.height, scene.width):
            tx, ty, tw, th = tof_window(Rig(rig.rgb, rig.tof, self.render_pose), scene.window, *depth_range)
        tof = cropped(rig.tof, tx, ty, tw, th)
        self.rig = Rig(rgb, tof, rig.pose)  # what the clip's frames are: the crop and its ToF part
        fine = cropped(rig.tof.resampled(block, rig.tof.width * block, rig.tof.height * block),
                       tx * block, ty * block, tw * block, th * block)  # fmt: skip
        self.fine_rays = fine.rays().reshape(-1, 3).T
        self.fine_focal = float(fine.k[0, 0])
        self.registrations = {s: Registration(tof, rgb, s, rig.pose) for s in scales}

    def _tof_pose(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        origin, rot = self.scene.camera(index)
        return origin + rot @ self.render_pose.translation, rot @ self.render_pose.rotation

    def tof_depth(self, index: int, rng: np.random.Generator) -> np.ndarray:
        """The ToF's own image (h, w) float32 metres, NaN for no return."""
        hits = self.scene.trace(index, *self._tof_pose(index), self.fine_rays)
        radiance, lum = self.scene.shade(hits, self.fine_focal)
        size = (self.rig.tof.height * self.block, self.rig.tof.width * self.block)
        depth = (hits.depth * self.factor).reshape(size).astype(np.float32)
        weight = radiance.reshape(*size, 3) * 255  # what the ToF itself sees supplies the albedo
        return self.sensor.degrade(depth, weight, lum.reshape(size), self.block, rng)

    def registered(self, tof_depth: np.ndarray) -> dict[int, np.ndarray]:
        """Per scale, the ToF depth registered into the RGB crop's network grid (NaN where unseen)."""
        return {s: registration(tof_depth) for s, registration in self.registrations.items()}

    def visible(self, index: int, rgb_depth: np.ndarray) -> np.ndarray:
        """(H, W) bool: RGB pixels whose surface (``rgb_depth``, the scene's metres) the ToF sees."""
        rays = self.scene.rays_cam.astype(np.float64)
        points = (rays * rgb_depth.reshape(-1)).T
        pose = self.render_pose
        local = (points - pose.translation) @ pose.rotation  # the ToF's optical frame
        uv = self.full_tof.project(local)
        inside = ((uv[:, 0] >= -0.5) & (uv[:, 0] <= self.full_tof.width - 0.5)
                  & (uv[:, 1] >= -0.5) & (uv[:, 1] <= self.full_tof.height - 0.5))  # fmt: skip
        seen = np.zeros(len(local), dtype=bool)
        idx = np.flatnonzero(inside)
        z = local[idx, 2]
        hits = self.scene.trace(index, *self._tof_pose(index), (local[idx] / z[:, None]).T)
        seen[idx] = hits.depth >= z * (1 - VISIBLE_TOLERANCE)
        return seen.reshape(rgb_depth.shape)
