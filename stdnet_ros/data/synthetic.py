"""Procedural RGB-D video with a ToF-like low-resolution depth, for training, tests and the demo.

Scenes are ray cast, not painted, so depth, parallax and occlusion are
geometrically consistent: a box-shaped room (planes) holding spheres, boxes,
poles and (in the ``clutter`` preset) tables and chairs built of thin parts,
a camera that translates and pans, objects that move on their own, and a light
that changes and, optionally, casts shadows. Surfaces carry textures whose colour
edges sometimes coincide with depth edges and sometimes do not (decals,
stripes, objects coloured like the wall behind them), which is exactly what a
guided super-resolution network must learn to tell apart. The low-resolution
depth is degraded by a time-of-flight sensor model (``data.sensors``). Everything is drawn from one
seed, and a 256x256 frame renders in a few milliseconds of numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stdnet_ros.data.frames import Clip, Frame
from stdnet_ros.data.rig import BLOCK, RigView, random_rig
from stdnet_ros.data.sensors import DEFAULT_SENSOR, SENSORS, Sensor
from stdnet_ros.geometry.rig import Rig, pinhole

TEXTURE_SIZE = 128
MIP_LEVELS = 5
CUBE = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64)
MIP_OFFSETS = np.cumsum([0] + [(TEXTURE_SIZE >> k) ** 2 for k in range(MIP_LEVELS - 1)])
STAMP_EPOCH = 1.7e9  # seconds: stamps look like wall-clock ROS time


@dataclass(frozen=True)
class SceneSpec:
    """Ranges the random scene is drawn from."""

    objects: tuple[int, int] = (3, 9)
    wall_depth: tuple[float, float] = (3.0, 18.0)
    camera_speed: float = 0.6  # m/s scale of the camera's translation
    object_speed: float = 1.0  # m/s scale of independent motion
    fps: float = 30.0
    stamp_jitter: float = 0.0005  # s, std of the deviation from a regular frame period
    # surface look: None draws every colour channel freely (vivid); a number draws a grey level
    # tinted by at most that fraction, as most paint, wood, stone and fabric are
    chroma: float | None = None
    grain: float = 0.0  # amplitude of per-texel brightness variation (fine detail, print, wear)
    density_gain: float = 1.0  # texels per metre, times the default ranges: finer patterns
    thin: float = 0.2  # share of objects that are a pole or rail narrower than one LR pixel
    furniture: float = 0.0  # share of objects that are a table or chair of thin legs standing on the floor
    shadows: bool = False  # objects cast shadows: colour edges with no depth edge under them


SCENES = {
    "room": SceneSpec(),
    # a dToF sensor's indoor working range: a back wall 5-12 m away, so that (with the trainer's
    # depth rescaling of 0.8-1.3) the simulated LR spans about 2-12 m, as the DyDToF LR inputs do;
    # muted colours with fine detail, whose saturation and gradient statistics are those of a
    # photographed room rather than of random paint (model card, "Stage 3": set on input statistics)
    "indoor": SceneSpec(wall_depth=(5.0, 12.0), chroma=0.35, grain=0.1, density_gain=2.0),
    # the indoor look, furnished: DyDToF's RGB frames are full of chair and table frames, poles and
    # the shadows they cast, whose depth edges are thinner than one LR pixel (model card, "Stage 7":
    # set from what the inputs look like, never from their ground truth)
    "clutter": SceneSpec(
        objects=(6, 14), wall_depth=(5.0, 12.0), chroma=0.35, grain=0.1, density_gain=2.0,
        thin=0.3, furniture=0.35, shadows=True,
    ),
}


def _rotation(yaw: float, pitch: float) -> np.ndarray:
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return ry @ rx


def _colour(rng: np.random.Generator, low: float, high: float, chroma: float | None) -> np.ndarray:
    """An RGB albedo: three free channels (``chroma`` None), or a grey level tinted by <= chroma."""
    if chroma is None:
        return rng.uniform(low, high, 3).astype(np.float32)
    grey = rng.uniform(low, high)
    tint = rng.uniform(-1, 1, 3) * chroma * rng.random()
    return np.clip(grey * (1 + tint), 0, 1).astype(np.float32)


def _texture(rng: np.random.Generator, spec: SceneSpec, like: np.ndarray | None = None) -> np.ndarray:
    """A (S, S, 3) float32 albedo in [0, 1]: smooth noise, checker, stripes, decals or flat."""
    tex = _pattern(rng, spec.chroma, like)
    if spec.grain and like is None:
        grain = rng.normal(0, spec.grain * rng.random(), tex.shape[:2]).astype(np.float32)
        tex = np.clip(tex * (1 + grain[..., None]), 0, 1)
    return tex


def _pattern(rng: np.random.Generator, chroma: float | None, like: np.ndarray | None) -> np.ndarray:
    s = TEXTURE_SIZE
    base = _colour(rng, 0.1, 0.9, chroma)
    kind = rng.choice(["noise", "checker", "stripes", "decals", "flat"], p=[0.3, 0.15, 0.15, 0.25, 0.15])
    if like is not None:  # camouflage: a depth edge with (almost) no colour edge
        return np.broadcast_to(like + rng.normal(0, 0.02, 3).astype(np.float32), (s, s, 3)).copy()
    if kind == "flat":
        return np.broadcast_to(base, (s, s, 3)).copy()
    if kind == "noise":
        cells = int(rng.integers(2, 9))
        grid = rng.uniform(-0.35, 0.35, (cells, cells, 3)).astype(np.float32)
        if chroma is not None:  # brightness varies more than hue
            grid = grid.mean(axis=2, keepdims=True) + chroma * (grid - grid.mean(axis=2, keepdims=True))
        grid[-1], grid[:, -1] = grid[0], grid[:, 0]  # tiles without seams
        return np.clip(base + cv2.resize(grid, (s, s), interpolation=cv2.INTER_CUBIC), 0, 1)
    other = _colour(rng, 0.05, 0.95, chroma)
    if kind in ("checker", "stripes"):
        period = int(rng.choice([8, 16, 32, 64]))
        yy, xx = np.mgrid[0:s, 0:s]
        mask = (xx // period) % 2 == 0 if kind == "stripes" else ((xx // period) + (yy // period)) % 2 == 0
        return np.where(mask[..., None], base, other).astype(np.float32)
    tex = np.broadcast_to(base, (s, s, 3)).copy()
    for _ in range(int(rng.integers(2, 7))):
        colour = tuple(float(c) for c in _colour(rng, 0.05, 0.95, chroma))
        centre = tuple(int(c) for c in rng.integers(0, s, 2))
        if rng.random() < 0.5:
            cv2.circle(tex, centre, int(rng.integers(4, s // 3)), colour, -1)
        else:
            size = rng.integers(4, s // 2, 2)
            cv2.rectangle(tex, centre, (centre[0] + int(size[0]), centre[1] + int(size[1])), colour, -1)
    return tex


class _Surface:
    """Something a ray can hit, with an albedo texture mapped in metres.

    The texture is mip-mapped: where one pixel covers many texels (far or small
    surfaces) it reads a pre-filtered level, as a camera pixel averages what it
    sees, instead of aliasing into moire edges that no real image has.
    """

    def __init__(self, texture: np.ndarray, density: float) -> None:
        levels = [texture]
        while len(levels) < MIP_LEVELS:
            levels.append(cv2.pyrDown(levels[-1]))
        self.atlas = np.concatenate([level.reshape(-1, 3) for level in levels])  # all levels, one gather
        self.density = density  # texels per metre

    def albedo(self, u: np.ndarray, v: np.ndarray, texels_per_pixel: np.ndarray) -> np.ndarray:
        level = np.clip(np.log2(np.maximum(texels_per_pixel, 1e-6)) + 0.5, 0, MIP_LEVELS - 1).astype(np.int64)
        size = TEXTURE_SIZE >> level
        scale = self.density / (1 << level)
        iu = np.floor(u * scale).astype(np.int64) % size
        iv = np.floor(v * scale).astype(np.int64) % size
        return self.atlas[MIP_OFFSETS[level] + iv * size + iu]


class _Plane(_Surface):
    """n . X = dist, seen from the side the camera is on."""

    def __init__(self, normal: np.ndarray, dist: float, texture: np.ndarray, density: float) -> None:
        super().__init__(texture, density)
        self.normal = normal
        self.dist = dist
        axes = [i for i in range(3) if normal[i] == 0]
        self.axes = axes

    def hit(self, origin: np.ndarray, rays: np.ndarray) -> np.ndarray:
        """Depth along each ray (inf where the plane is behind or edge-on)."""
        denom = self.normal @ rays
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (self.dist - self.normal @ origin) / denom
        return np.where((denom > 1e-6) & (t > 0), t, np.inf)


class _Sphere(_Surface):
    def __init__(self, centre: np.ndarray, velocity: np.ndarray, radius: float, **kw: object) -> None:
        super().__init__(**kw)
        self.centre0, self.velocity, self.radius = centre, velocity, radius

    def at(self, time: float) -> tuple[np.ndarray, float]:
        return self.centre0 + self.velocity * time, self.radius

    def corners(self, time: float) -> np.ndarray:
        """The bounding cube's corners: the sphere lies inside their convex hull."""
        return self.at(time)[0] + self.radius * CUBE


class _Box(_Surface):
    def __init__(
        self, centre: np.ndarray, velocity: np.ndarray, half: np.ndarray, spin: float, yaw: float,
        **kw: object,
    ) -> None:  # fmt: skip
        super().__init__(**kw)
        self.centre0, self.velocity, self.half, self.spin, self.yaw0 = centre, velocity, half, spin, yaw

    def at(self, time: float) -> tuple[np.ndarray, float]:
        return self.centre0 + self.velocity * time, self.yaw0 + self.spin * time

    def corners(self, time: float) -> np.ndarray:
        centre, yaw = self.at(time)
        return centre + (CUBE * self.half) @ _rotation(yaw, 0.0).T


def _hit_sphere(
    sphere: _Sphere, time: float, origin: np.ndarray, rays: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Depth t, normals (3, n) and texture coordinates of the nearest hit (inf where missed)."""
    rays = rays.astype(np.float64)
    centre, radius = sphere.at(time)
    oc = origin - centre
    a = np.einsum("in,in->n", rays, rays)
    b = 2 * (oc @ rays)
    c = oc @ oc - radius**2
    disc = b * b - 4 * a * c
    t = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
    t = np.where((disc > 0) & (t > 0), t, np.inf)
    n = (origin[:, None] + rays * np.where(np.isfinite(t), t, 0) - centre[:, None]) / radius
    u = np.arctan2(n[0], n[2]) * radius
    v = np.arcsin(np.clip(n[1], -1, 1)) * radius
    return t, n, u, v


def _hit_box(
    box: _Box, time: float, origin: np.ndarray, rays: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Slab test in the box's own frame (it spins about the vertical axis)."""
    rays = rays.astype(np.float64)
    centre, yaw = box.at(time)
    rot = _rotation(yaw, 0.0)  # box frame -> world
    o = rot.T @ (origin - centre)
    d = rot.T @ rays
    d = np.where(np.abs(d) < 1e-9, 1e-9, d)
    t1 = (-box.half[:, None] - o[:, None]) / d
    t2 = (box.half[:, None] - o[:, None]) / d
    near = np.minimum(t1, t2)
    tnear = near.max(axis=0)
    tfar = np.maximum(t1, t2).min(axis=0)
    t = np.where((tnear <= tfar) & (tnear > 0), tnear, np.inf)
    axis = near.argmax(axis=0)
    local_n = np.zeros_like(d)
    np.put_along_axis(local_n, axis[None], -np.sign(np.take_along_axis(d, axis[None], 0)), 0)
    p = o[:, None] + d * np.where(np.isfinite(t), t, 0)
    # texture coordinates: the two local coordinates across the face that was hit
    u = np.where(axis == 0, p[2], p[0])
    v = np.where(axis == 1, p[2], p[1])
    return t, rot @ local_n, u, v


def _blocks_ray(obj: _Sphere | _Box, time: float, points: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """(n,) True where the ray from each point (3, n) along ``direction`` (unit, (3,)) hits ``obj``."""
    if isinstance(obj, _Sphere):
        centre, radius = obj.at(time)
        oc = points - centre[:, None]
        b = direction @ oc
        disc = b * b - (np.einsum("in,in->n", oc, oc) - radius**2)
        return (disc > 0) & (-b - np.sqrt(np.maximum(disc, 0)) > 1e-4)
    centre, yaw = obj.at(time)
    rot = _rotation(yaw, 0.0)
    o = rot.T @ (points - centre[:, None])
    d = rot.T @ direction
    d = np.where(np.abs(d) < 1e-9, 1e-9, d)[:, None]
    t1, t2 = (-obj.half[:, None] - o) / d, (obj.half[:, None] - o) / d
    tnear, tfar = np.minimum(t1, t2).max(axis=0), np.maximum(t1, t2).min(axis=0)
    return (tnear <= tfar) & (tnear > 1e-4)


@dataclass
class _Hits:
    """What each ray of one camera hits at one time (``SyntheticScene.trace``)."""

    time: float
    origin: np.ndarray  # (3,) the camera's centre, world frame
    rays: np.ndarray  # (3, n) world directions, camera-z 1
    depth: np.ndarray  # (n,) z along the camera's axis, inf where nothing is hit
    plane: np.ndarray  # (n,) the nearest plane
    owner: np.ndarray  # (n,) the object seen, -1 where a plane is
    normal: np.ndarray  # (3, n) the object's surface normal (world), where an object is seen
    u: np.ndarray  # (n,) the object's texture coordinates
    v: np.ndarray


class SyntheticScene:
    """One random scene; ``render(i)`` gives frame i (RGB, true depth, albedo luminance).

    ``window`` (y, x, h, w) casts only the rays of that part of the height x width image: a crop
    of a large camera at the cost of the crop, so objects span as many pixels as they would in a
    960-pixel-wide camera without rendering the other 90 % of it. ``focal`` fixes the focal length
    (pixels) instead of drawing it. ``trace`` and ``shade`` serve any other camera (a ToF beside
    this one, a ray from it to a seen point) with the same code.
    """

    def __init__(
        self, seed: int, height: int, width: int, spec: SceneSpec | None = None,
        window: tuple[int, int, int, int] | None = None, focal: float | None = None,
    ) -> None:  # fmt: skip
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.spec = spec or SceneSpec()
        self.height, self.width = height, width
        self.window = window or (0, 0, height, width)
        y0, x0, h, w = self.window
        if y0 < 0 or x0 < 0 or y0 + h > height or x0 + w > width:
            raise ValueError(f"window {self.window} does not fit in {height}x{width}")
        rng = self.rng
        f = width * rng.uniform(0.7, 1.1)  # drawn even when ``focal`` is given: one random stream
        f = focal or f
        self.intrinsics = (f, f, width / 2 - 0.5, height / 2 - 0.5)
        ys, xs = np.mgrid[y0 : y0 + h, x0 : x0 + w].astype(np.float64)
        self.rays_cam = np.stack(
            [(xs - self.intrinsics[2]) / f, (ys - self.intrinsics[3]) / f, np.ones_like(xs)]
        ).reshape(3, -1).astype(np.float32)
        self.planes = self._room(rng)
        wall_colour = self.planes[0].atlas[: TEXTURE_SIZE**2].mean(axis=0)
        self.objects: list[_Sphere | _Box] = []
        for _ in range(int(rng.integers(*self.spec.objects))):
            self.objects.extend(self._object(rng, wall_colour))
        # camera: smooth translation and pan; light: direction drifts, brightness changes
        self.cam_amp = rng.uniform(0, self.spec.camera_speed, 3) * np.array([1.0, 0.3, 1.0])
        self.cam_freq = rng.uniform(0.2, 1.0, 3)
        self.cam_phase = rng.uniform(0, 2 * np.pi, 3)
        self.pan_amp = rng.uniform(0, 0.15, 2)
        self.pan_freq = rng.uniform(0.1, 0.6, 2)
        self.light0 = rng.normal(size=3)
        self.light_spin = rng.uniform(-0.8, 0.8)
        self.ambient = rng.uniform(0.3, 0.6)
        self.flicker = rng.uniform(0, 0.15)
        self.switch_time = rng.uniform(0, 2.0) if rng.random() < 0.3 else None
        self.switch_gain = rng.uniform(0.6, 1.4)

    def _room(self, rng: np.random.Generator) -> list[_Plane]:
        """Back wall first (its colour is what camouflaged objects copy), then floor, walls, ceiling."""
        wall = rng.uniform(*self.spec.wall_depth)
        gain = self.spec.density_gain
        planes = [
            ((0, 0, 1), wall),
            ((0, 1, 0), rng.uniform(0.8, 2.0)),  # floor below the camera (y points down)
        ]
        if rng.random() < 0.7:
            planes.append(((1, 0, 0), rng.uniform(1.5, 8.0)))
        if rng.random() < 0.7:
            planes.append(((-1, 0, 0), rng.uniform(1.5, 8.0)))
        if rng.random() < 0.5:
            planes.append(((0, -1, 0), rng.uniform(1.0, 4.0)))
        return [
            _Plane(np.array(n, dtype=np.float64), d, _texture(rng, self.spec), rng.uniform(10, 80) * gain)
            for n, d in planes
        ]

    def _object(self, rng: np.random.Generator, wall_colour: np.ndarray) -> list[_Sphere | _Box]:
        """One free object, or the parts of one piece of furniture."""
        if self.spec.furniture and rng.random() < self.spec.furniture:
            return self._furniture(rng)
        depth = rng.uniform(0.8, self.planes[0].dist * 0.9)
        half_fov = 0.5 * self.width / self.intrinsics[0]
        centre = np.array([rng.uniform(-1, 1) * depth * half_fov, rng.uniform(-0.6, 0.8) * depth * half_fov,
                           depth])  # fmt: skip
        velocity = rng.normal(0, self.spec.object_speed / 2, 3) * (rng.random() < 0.6)
        size = rng.uniform(0.1, 0.25) * depth * half_fov + 0.05
        texture = _texture(rng, self.spec, wall_colour if rng.random() < 0.15 else None)
        kw = {"texture": texture, "density": rng.uniform(20, 200) * self.spec.density_gain}
        kind = rng.random()
        if kind < 0.35:
            return [_Sphere(centre, velocity, size, **kw)]
        if kind < 0.35 + self.spec.thin:  # a thin pole or rail: structure narrower than one LR pixel
            half = np.array([rng.uniform(0.01, 0.06), rng.uniform(0.5, 2.0), rng.uniform(0.01, 0.06)])
            if rng.random() < 0.3:
                half = half[[1, 0, 2]]
            return [_Box(centre, velocity, half, rng.uniform(-0.5, 0.5), rng.uniform(0, np.pi), **kw)]
        half = size * rng.uniform(0.3, 1.2, 3)
        return [_Box(centre, velocity, half, rng.uniform(-1.5, 1.5), rng.uniform(0, np.pi), **kw)]

    def _furniture(self, rng: np.random.Generator) -> list[_Box]:
        """A table (top on four legs) or a chair (and a back), standing on the floor.

        The parts share one velocity and yaw and never spin, so the piece moves rigidly.
        """
        floor = self.planes[1].dist  # y points down: the floor is the plane y = floor
        depth = rng.uniform(1.0, self.planes[0].dist * 0.9)
        half_fov = 0.5 * self.width / self.intrinsics[0]
        anchor = np.array([rng.uniform(-1, 1) * depth * half_fov, floor, depth])
        moves = rng.random() < 0.3  # along the floor only
        velocity = rng.normal(0, self.spec.object_speed / 4, 3) * np.array([1.0, 0.0, 1.0]) * moves
        yaw = rng.uniform(0, np.pi)
        width, length, height = rng.uniform(0.4, 1.4), rng.uniform(0.4, 1.0), rng.uniform(0.4, 1.0)
        top, leg = rng.uniform(0.015, 0.04), rng.uniform(0.012, 0.035)
        parts = [((0.0, -height, 0.0), (width / 2, top, length / 2))]  # (offset from the anchor, half size)
        for sx in (-1, 1):
            for sz in (-1, 1):
                foot = (sx * (width / 2 - leg), -height / 2, sz * (length / 2 - leg))
                parts.append((foot, (leg, height / 2, leg)))
        if rng.random() < 0.5:  # a chair: two posts and a back rest above the seat's rear edge
            back = rng.uniform(0.3, 0.6)
            rear = length / 2 - leg
            for sx in (-1, 1):
                parts.append(((sx * (width / 2 - leg), -height - back / 2, rear), (leg, back / 2, leg)))
            rest = rng.uniform(0.03, 0.15)
            parts.append(((0.0, -height - back + rest, rear), (width / 2, rest, leg)))
        frame = _texture(rng, self.spec)  # legs and top in one material
        density = rng.uniform(20, 200) * self.spec.density_gain
        rot = _rotation(yaw, 0.0)
        kw = {"texture": frame, "density": density}
        return [_Box(anchor + rot @ np.array(at), velocity, np.array(half), 0.0, yaw, **kw)
                for at, half in parts]  # fmt: skip

    def camera(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The RGB camera's pose at frame ``index``: origin (3,) and rotation (camera -> world)."""
        time = index / self.spec.fps
        origin = self.cam_amp * np.sin(self.cam_freq * time * 2 * np.pi / 3 + self.cam_phase)
        origin -= self.cam_amp * np.sin(self.cam_phase)  # start at the origin
        pan = self.pan_amp * np.sin(self.pan_freq * time * 2 * np.pi)
        return origin, _rotation(pan[0], pan[1])

    def _shadowed(self, time: float, points: np.ndarray, owner: np.ndarray, light: np.ndarray) -> np.ndarray:
        """(n,) True where another object stands between the seen point (3, n) and the light.

        The light shines from above (the sign of its direction is free in the shading); an object
        does not shadow itself here, its own shading already darkens the faces turned away.
        """
        towards = light if light[1] < 0 else -light  # y points down
        seen = np.isfinite(points).all(axis=0)
        shadow = np.zeros(points.shape[1], dtype=bool)
        for k, obj in enumerate(self.objects):
            idx = np.flatnonzero(seen & (owner != k) & ~shadow)
            if idx.size:
                shadow[idx[_blocks_ray(obj, time, points[:, idx], towards)]] = True
        return shadow

    def trace(self, index: int, origin: np.ndarray, rot: np.ndarray, rays: np.ndarray) -> _Hits:
        """The nearest surface along each ray of any camera at frame ``index``.

        ``rays`` (3, n) are directions in that camera's frame with z = 1 (so the depth is z along its
        axis), ``origin`` and ``rot`` (camera -> world) its pose. An object is tested only on the
        rays inside the bounding box of its corners' normalised image coordinates, which holds
        every ray that can hit it, whatever the lens.
        """
        time = index / self.spec.fps
        world = (rot @ rays).astype(np.float32)
        hits = np.stack([plane.hit(origin, world) for plane in self.planes])
        plane = hits.argmin(axis=0)
        depth = hits.min(axis=0)
        n = depth.size
        owner = np.full(n, -1)  # which object each ray sees (-1: a wall)
        normal, u, v = np.zeros((3, n)), np.zeros(n), np.zeros(n)
        for k, obj in enumerate(self.objects):
            pc = (obj.corners(time) - origin) @ rot  # camera coordinates, one row per corner
            if pc[:, 2].min() < 0.05:
                idx = np.arange(n)
            else:
                x, y = pc[:, 0] / pc[:, 2], pc[:, 1] / pc[:, 2]
                idx = np.flatnonzero((rays[0] >= x.min()) & (rays[0] <= x.max())
                                     & (rays[1] >= y.min()) & (rays[1] <= y.max()))  # fmt: skip
            if idx.size == 0:
                continue
            hit = _hit_sphere if isinstance(obj, _Sphere) else _hit_box
            t, nk, uk, vk = hit(obj, time, origin, world[:, idx])
            closer = t < depth[idx]
            sel = idx[closer]
            depth[sel], owner[sel] = t[closer], k
            normal[:, sel], u[sel], v[sel] = nk[:, closer], uk[closer], vk[closer]
        return _Hits(time, origin, world, depth, plane, owner, normal, u, v)

    def shade(self, hits: _Hits, focal: float) -> tuple[np.ndarray, np.ndarray]:
        """Radiance (n, 3) in [0, ~1.4] (albedo times light, before any camera noise) and albedo
        luminance (n,) of the traced rays; ``focal`` (pixels) sets each pixel's texture footprint."""
        time, origin, rays, depth = hits.time, hits.origin, hits.rays, hits.depth
        light = _rotation(self.light_spin * time, 0.0) @ self.light0
        light /= np.linalg.norm(light)
        cosine = np.abs(np.stack([plane.normal for plane in self.planes]) @ light)[hits.plane]
        albedo = np.empty((depth.size, 3), dtype=np.float32)
        for k, plane in enumerate(self.planes):
            sel = np.flatnonzero((hits.plane == k) & (hits.owner < 0))
            p = origin[:, None] + rays[:, sel] * depth[sel]
            r = rays[:, sel]
            slant = np.abs(plane.normal @ r) / np.sqrt(np.einsum("in,in->n", r, r))
            footprint = depth[sel] * plane.density / (focal * np.maximum(slant, 0.05))  # texels per pixel
            albedo[sel] = plane.albedo(p[plane.axes[0]], p[plane.axes[1]], footprint)
        for k, obj in enumerate(self.objects):
            sel = np.flatnonzero(hits.owner == k)
            cosine[sel] = np.abs(light @ hits.normal[:, sel])
            albedo[sel] = obj.albedo(hits.u[sel], hits.v[sel], depth[sel] * obj.density / focal)
        if self.spec.shadows:
            cosine[self._shadowed(time, origin[:, None] + rays * depth, hits.owner, light)] = 0.0
        gain = 1 + self.flicker * np.sin(2 * np.pi * 1.7 * time)
        if self.switch_time is not None and time >= self.switch_time:
            gain *= self.switch_gain
        shade = gain * (self.ambient + (1 - self.ambient) * cosine)
        return albedo * shade[:, None], albedo @ np.array([0.299, 0.587, 0.114])

    def render(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rgb uint8 (H,W,3), depth float32 (H,W) metres along the optical axis, albedo luminance)."""
        hits = self.trace(index, *self.camera(index), self.rays_cam)
        radiance, lum = self.shade(hits, self.intrinsics[0])
        shape = self.window[2:]
        sensor = np.random.default_rng([self.seed, 2, index])  # frame i is the same in any render order
        noise = sensor.standard_normal((*shape, 3), dtype=np.float32) * 2.0
        rgb = radiance.reshape(*shape, 3) * 255 + noise
        rgb = np.clip(cv2.GaussianBlur(rgb.astype(np.float32), (3, 3), 0.6), 0, 255).astype(np.uint8)
        return rgb, hits.depth.reshape(shape).astype(np.float32), lum.reshape(shape)


def generate_clips(
    seed: int,
    frames: int = 7,
    height: int = 256,
    width: int = 256,
    scales: tuple[int, ...] = (4,),
    max_depth: float = 40.0,
    spec: SceneSpec | None = None,
    sensor: Sensor | None = None,
    depth_scale: float = 1.0,
    window: tuple[int, int, int, int] | None = None,
    rig: Rig | str | None = None,
    tof_block: int = BLOCK,
) -> dict[int, Clip]:
    """One scene seen at several scales: the same RGB and truth, each scale's own ToF degradation.

    Rendering dominates the cost, so several scales come for the price of one. ``depth_scale``
    rescales the scene's metres before the sensor sees them (a uniformly scaled world looks the
    same in RGB), so the sensor's noise stays in metres. ``window`` (y, x, h, w) renders only that
    crop of the height x width camera (``SyntheticScene``); the sensor's blocks are the crop's.

    ``rig`` None: the depth is registered to the RGB (the sensor's blocks are the RGB's pixels). A
    ``Rig`` (whose RGB camera is this height x width pinhole with a centred principal point) or
    ``"random"`` (drawn from the seed, ``data.rig.random_rig``): a separate ToF camera, rendered
    from its own pose, degraded at its own resolution and registered into each scale's grid
    (``data.rig.RigView``); the frames then carry the ToF's image and the visible mask, the clip
    the rig. ``tof_block``: rays per ToF pixel side (the sensor model's block).
    """
    sensor = sensor or SENSORS[DEFAULT_SENSOR]
    for scale in scales:
        if any(n % scale or n % 4 for n in window or (height, width)):
            raise ValueError(f"{window or (height, width)} must be divisible by the scale {scale} and by 4")
    if isinstance(rig, Rig):
        expected = pinhole(width, height, rig.rgb.k[0, 0], rig.rgb.k[0, 0], width / 2 - 0.5, height / 2 - 0.5)
        if not expected.matches(rig.rgb, 1e-9, 1e-9):
            raise ValueError(f"the rig's RGB camera must be the {width}x{height} pinhole with a centred "
                             "principal point and square pixels")  # fmt: skip
    focal = rig.rgb.k[0, 0] if isinstance(rig, Rig) else None
    scene = SyntheticScene(seed, height, width, spec, window, focal)
    fx, fy, cx, cy = scene.intrinsics
    intrinsics = (fx, fy, cx - scene.window[1], cy - scene.window[0])
    stamp_rng = np.random.default_rng([seed, 1])
    noise_rngs = {scale: np.random.default_rng([seed, 3, scale]) for scale in scales}
    start = STAMP_EPOCH + (seed % 100_000) * 10.0
    clips = {s: Clip(f"synthetic-{seed}", s, max_depth, intrinsics=intrinsics) for s in scales}
    renders = [scene.render(i) for i in range(frames)]
    view = None
    if rig is not None:
        if rig == "random":
            rig = random_rig(np.random.default_rng([seed, 5]), pinhole(width, height, *scene.intrinsics))
        near_far = (min(float(d.min()) for _, d, _ in renders), max(float(d.max()) for _, d, _ in renders))
        view = RigView(scene, rig, tuple(scales), sensor, depth_scale, near_far, tof_block)
        for clip in clips.values():
            clip.rig = view.rig
    tof_rng = np.random.default_rng([seed, 6])
    for i, (rgb, depth, lum) in enumerate(renders):
        stamp = start + i / scene.spec.fps + float(stamp_rng.normal(0, scene.spec.stamp_jitter))
        if view is not None:
            tof = view.tof_depth(i, tof_rng)
            visible = view.visible(i, depth)
            depth = depth * np.float32(depth_scale)
            for scale, lr in view.registered(tof).items():
                clips[scale].frames.append(Frame(rgb=rgb, depth_lr=lr, stamp=stamp, depth_gt=depth,
                                                 depth_tof=tof, visible=visible))  # fmt: skip
            continue
        depth = depth * np.float32(depth_scale)
        for scale, clip in clips.items():
            lr = sensor.degrade(depth, rgb, lum, scale, noise_rngs[scale])
            clip.frames.append(Frame(rgb=rgb, depth_lr=lr, stamp=stamp, depth_gt=depth))
    return clips


def generate_clip(
    seed: int,
    frames: int = 7,
    height: int = 256,
    width: int = 256,
    scale: int = 4,
    max_depth: float = 40.0,
    spec: SceneSpec | None = None,
    sensor: Sensor | None = None,
) -> Clip:
    """A deterministic clip: same seed and arguments, same pixels."""
    return generate_clips(seed, frames, height, width, (scale,), max_depth, spec, sensor)[scale]
