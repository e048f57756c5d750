"""Reference pictures for the built-in guidelines: a person drawn facing the viewer with
one keypoint marked.

The pictures are generated, not hand-drawn, so that every keypoint of a schema gets one
in the same style and a schema change cannot leave a stale drawing behind: the shipped
files under ``pictures/<skeleton>/<keypoint>.svg`` are the output of :func:`write_all`
(``python -m posemark.schemas.picture_drawing``), and a test compares them with a fresh
run. The figure faces the viewer, so the person's left side is on the picture's right;
the drawings say so, because that is the mistake annotators make most.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from posemark.model.skeleton import Skeleton

WIDTH, HEIGHT = 200, 310

# The figure in picture coordinates (y down), facing the viewer.
FIGURE: dict[str, tuple[float, float]] = {
    "nose": (100, 46),
    "left_eye": (108, 37),
    "right_eye": (92, 37),
    "left_ear": (121, 42),
    "right_ear": (79, 42),
    "head_top": (100, 17),
    "upper_neck": (100, 66),
    "thorax": (100, 84),
    "left_shoulder": (130, 86),
    "right_shoulder": (70, 86),
    "left_elbow": (143, 135),
    "right_elbow": (57, 135),
    "left_wrist": (151, 181),
    "right_wrist": (49, 181),
    "pelvis": (100, 168),
    "left_hip": (117, 168),
    "right_hip": (83, 168),
    "left_knee": (121, 229),
    "right_knee": (79, 229),
    "left_ankle": (123, 285),
    "right_ankle": (77, 285),
}

# Limbs of the body outline: (from, to, width).
_LIMBS: tuple[tuple[str, str, float], ...] = (
    ("left_shoulder", "left_elbow", 17),
    ("left_elbow", "left_wrist", 14),
    ("right_shoulder", "right_elbow", 17),
    ("right_elbow", "right_wrist", 14),
    ("left_hip", "left_knee", 22),
    ("left_knee", "left_ankle", 17),
    ("right_hip", "right_knee", 22),
    ("right_knee", "right_ankle", 17),
    ("upper_neck", "thorax", 16),
)

HEAD = frozenset(
    {"nose", "left_eye", "right_eye", "left_ear", "right_ear", "head_top", "upper_neck"}
)
HEAD_ZOOM = 3.0

_OUTLINE = "#cbd5e1"
_BONE = "#64748b"
_MARK = "#dc2626"


def _line(a: tuple[float, float], b: tuple[float, float], attrs: str) -> str:
    return f'<line x1="{a[0]:g}" y1="{a[1]:g}" x2="{b[0]:g}" y2="{b[1]:g}" {attrs}/>'


def _body() -> list[str]:
    f = FIGURE
    parts = [
        f'<g fill="{_OUTLINE}" stroke="{_OUTLINE}" stroke-linecap="round">',
        '<ellipse cx="100" cy="41" rx="21" ry="25"/>',
        '<path d="M68 80 Q100 72 132 80 L124 176 Q100 182 76 176 Z"/>',
    ]
    for a, b, w in _LIMBS:
        parts.append(_line(f[a], f[b], f'stroke-width="{w:g}"'))
    for hand in ("left_wrist", "right_wrist"):
        x, y = f[hand]
        parts.append(f'<circle cx="{x:g}" cy="{y + 8:g}" r="8"/>')
    for foot, dx in (("left_ankle", 7), ("right_ankle", -7)):
        x, y = f[foot]
        parts.append(f'<ellipse cx="{x + dx:g}" cy="{y + 7:g}" rx="11" ry="5"/>')
    parts.append("</g>")
    return parts


def draw(skeleton: Skeleton, keypoint: str) -> str:
    """The SVG text of ``skeleton``'s figure with ``keypoint`` marked.

    Keypoints the figure has no place for are simply not drawn; the marked one must
    have a place (a ValueError otherwise, caught when the pictures are generated).
    """
    if keypoint not in FIGURE:
        raise ValueError(f"no figure position for keypoint {keypoint!r}")
    placed = {n: FIGURE[n] for n in skeleton.keypoints if n in FIGURE}
    label = keypoint.replace("_", " ")
    # head keypoints are a few pixels apart on the whole figure: show the head close up
    zoom = HEAD_ZOOM if keypoint in HEAD else 1.0
    if zoom == 1.0:
        view = ""
    else:
        view = f' transform="translate(100 150) scale({zoom:g}) translate(-100 -48)"'
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(skeleton.name)}: where the {escape(label)} goes">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<clipPath id="frame"><rect width="{WIDTH}" height="{HEIGHT - 20}"/></clipPath>',
        f'<g clip-path="url(#frame)"><g{view}>',
        *_body(),
        f'<g stroke="{_BONE}" stroke-width="{1.5 / zoom:g}" opacity="0.7">',
    ]
    for a, b in skeleton.edges:
        na, nb = skeleton.keypoints[a], skeleton.keypoints[b]
        if na in placed and nb in placed:
            parts.append(_line(placed[na], placed[nb], ""))
    parts.append("</g>")
    parts.append(f'<g fill="{_BONE}">')
    for name, (x, y) in placed.items():
        if name != keypoint:
            parts.append(f'<circle cx="{x:g}" cy="{y:g}" r="{2.5 / zoom:g}"/>')
    parts.append("</g>")
    x, y = FIGURE[keypoint]
    ring, dot, width = 9 / zoom, 3.5 / zoom, 2 / zoom
    parts += [
        f'<circle cx="{x:g}" cy="{y:g}" r="{ring:g}" fill="none" stroke="{_MARK}" '
        f'stroke-width="{width:g}"/>',
        f'<circle cx="{x:g}" cy="{y:g}" r="{dot:g}" fill="{_MARK}"/>',
        "</g></g>",
        '<g font-family="sans-serif" font-size="11" fill="#334155">',
        f'<text x="{WIDTH / 2:g}" y="303" text-anchor="middle" font-weight="bold">'
        f"{escape(label)}</text>",
        '<text x="6" y="14">person\'s right</text>',
        f'<text x="{WIDTH - 6}" y="14" text-anchor="end">person\'s left</text>',
        "</g>",
        "</svg>",
    ]
    return "\n".join(parts) + "\n"


def picture_name(skeleton: Skeleton, keypoint: str) -> str:
    """The name a guideline's ``picture`` field uses: ``<skeleton>/<keypoint>.svg``."""
    return f"{skeleton.name}/{keypoint}.svg"


def pictures_for(skeleton: Skeleton) -> dict[str, str]:
    """Picture name -> SVG text for every keypoint of ``skeleton`` the figure can show."""
    return {
        picture_name(skeleton, kp): draw(skeleton, kp) for kp in skeleton.keypoints if kp in FIGURE
    }


def write_all(out_dir: Path) -> list[Path]:
    """Writes the pictures of the built-in skeletons that carry guidelines."""
    from posemark.schemas.loader import list_builtin

    written = []
    for skeleton in list_builtin():
        if not skeleton.guidelines:
            continue
        for name, text in pictures_for(skeleton).items():
            path = out_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover - the generator of the shipped files
    for path in write_all(Path(__file__).resolve().parent / "pictures"):
        print(path)
