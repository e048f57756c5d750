"""Which pose models exist: the built-in ones and any installed plugin.

Third parties add a model with an entry point in the ``posemark.pose_models`` group whose
value is a factory ``(**options) -> PoseModel``; posemark's own models are declared the
same way in pyproject.toml, and also listed here so a source checkout that was never
installed still finds them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points

from posemark.assist.protocol import PoseModel, UnknownModelError

ENTRY_POINT_GROUP = "posemark.pose_models"

#: built-in name -> "module:factory"
BUILTIN: dict[str, str] = {
    "mediapipe": "posemark.assist.factories:mediapipe",
    "mediapipe-fast": "posemark.assist.factories:mediapipe_fast",
    "onnx": "posemark.assist.factories:onnx",
    "trained": "posemark.assist.factories:trained",
    "ultralytics": "posemark.assist.factories:ultralytics",
    "yolo": "posemark.assist.factories:yolo",
}
DEFAULT = "default"
TRAINED_PREFIX = "trained:"


def is_known_model(name: str) -> bool:
    """A registered name, ``default``, or ``trained:MODEL_DIR``."""
    return name.startswith(TRAINED_PREFIX) or name in available_models()


def default_model() -> str:
    """What ``default`` means here: ``yolo`` (single-shot multi-person, about 10x faster
    and more accurate than BlazePose, benchmarks/RESULTS.md) when its weights are
    installed (the README's install, ``yolo_model.INSTALL_HINT``) and ONNX Runtime is
    importable; otherwise ``mediapipe``, whose models ship inside its own wheel. The
    check imports nothing heavy, so asking costs microseconds."""
    from posemark.assist.yolo_model import yolo_available

    return "yolo" if yolo_available() else "mediapipe"


def _targets() -> dict[str, str]:
    found = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def available_models() -> list[str]:
    """Every model name ``get_model`` accepts (aliases included), sorted."""
    return sorted(set(_targets()) | {DEFAULT})


def _load(target: str, name: str) -> Callable[..., PoseModel]:
    module_name, _, attr = target.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UnknownModelError(
            f"pose model {name!r}: its factory {target!r} cannot be loaded ({exc})"
        ) from exc
    return factory  # type: ignore[no-any-return]


def get_model(name: str = "default", **options: object) -> PoseModel:
    """Build the model called ``name`` with backend ``options`` (e.g. ``path=`` for ONNX).

    Unknown names fail listing the known ones, so a typo is fixed at once.
    """
    if name.startswith(TRAINED_PREFIX):
        # ``trained:MODEL_DIR``: a folder written by ``posemark train``, named by one string
        # so a project's model travels wherever a model name does (operation params, caches)
        return _load(_targets()["trained"], name)(path=name[len(TRAINED_PREFIX) :], **options)
    key = default_model() if name == DEFAULT else name
    targets = _targets()
    if key not in targets:
        raise UnknownModelError(
            f"unknown pose model {name!r}; available: {', '.join(available_models())} "
            f"(plugins register more in the entry-point group {ENTRY_POINT_GROUP!r})"
        )
    return _load(targets[key], name)(**options)
