"""Reading FLAME's Python-2-era pickles without chumpy, scipy or arbitrary code.

FLAME's ``generic_model.pkl`` holds its arrays as chumpy ``Ch`` objects and its joint regressor
as a ``scipy.sparse`` CSC matrix; DECA's ``landmark_embedding.npy`` is a pickled dict that also
holds torch tensors. The unpickler here resolves only an allow-list of globals: numpy's array
reconstruction and a few builtins run for real; chumpy and scipy classes become stubs that
``to_numpy`` turns into plain arrays; torch objects become ``Opaque`` placeholders (the
embedding's dynamic contour tables, which facecodec does not use). Anything else is refused,
so a crafted file cannot run code.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import collections
import copyreg
import pickle
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

NUMPY_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): np.core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np.core.multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): np.core.multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): np.core.multiarray.scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
"""The numpy callables an array's pickle needs (``numpy._core`` is numpy 2's spelling)."""
BUILTIN_GLOBALS: dict[tuple[str, str], Any] = {
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "object"): object,
    ("copyreg", "_reconstructor"): copyreg._reconstructor,
    ("collections", "OrderedDict"): collections.OrderedDict,
    # Python 3 writes bytes as _codecs.encode(str, 'latin1') under protocols 0-2.
    ("_codecs", "encode"): codecs.encode,
}
CHUMPY_ARRAY_CLASS = "chumpy.ch.Ch"
"""The one chumpy class that is a plain array (its state's ``x``); others are expressions."""


class Stub:
    """Stands in for an object of a pickled class facecodec does not import; keeps the class
    name and the state (constructor arguments, when the pickle calls the class, are dropped:
    only plain arrays, which keep their data in the state, are ever read back)."""

    replaces = ""
    """The class it replaces (``module.name``), set on the subclass ``find_class`` makes."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.state = state


class ChumpyStub(Stub):
    """A chumpy object: ``chumpy.ch.Ch`` is a plain array, anything else an expression."""


class SparseStub(Stub):
    """A ``scipy.sparse`` matrix."""


class Opaque(Stub):
    """A torch object (or anything torch builds), which facecodec never reads."""


def _stub_class(base: type[Stub], module: str, name: str) -> type[Stub]:
    """A subclass of ``base`` remembering which class of the pickle it replaces."""
    return type(base.__name__, (base,), {"replaces": f"{module}.{name}"})


class LegacyUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` (latin-1 strings) that resolves only the allow-listed globals."""

    def __init__(self, file: BinaryIO) -> None:
        super().__init__(file, encoding="latin1")

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 module names (copy_reg, __builtin__) map to their Python 3 homes.
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        key = (module, name)
        if key in NUMPY_GLOBALS:
            return NUMPY_GLOBALS[key]
        if key in BUILTIN_GLOBALS:
            return BUILTIN_GLOBALS[key]
        root = module.split(".")[0]
        if root == "chumpy":
            return _stub_class(ChumpyStub, module, name)
        if root == "scipy" and module.startswith("scipy.sparse"):
            return _stub_class(SparseStub, module, name)
        if root == "torch":
            return _stub_class(Opaque, module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from this file")


def load_pickle(path: str | Path) -> Any:
    """Unpickle a FLAME-era file with ``LegacyUnpickler``; stubs are left in place."""
    with open(path, "rb") as fp:
        return LegacyUnpickler(fp).load()


def load_npy_object(path: str | Path) -> Any:
    """The Python object inside an object-dtype ``.npy`` file (such as DECA's
    ``landmark_embedding.npy``), unpickled with ``LegacyUnpickler``; plain arrays load as is."""
    with open(path, "rb") as fp:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            _, _, dtype = np.lib.format.read_array_header_1_0(fp)
        else:
            _, _, dtype = np.lib.format.read_array_header_2_0(fp)
        if not dtype.hasobject:
            fp.seek(0)
            return np.load(fp, allow_pickle=False)
        array = LegacyUnpickler(fp).load()
    return array.item() if isinstance(array, np.ndarray) and array.shape == () else array


def to_numpy(value: Any, name: str) -> np.ndarray:
    """A loaded value (ndarray, chumpy ``Ch`` stub, CSC stub, list) as a dense ndarray.

    Raises ValueError naming ``name`` when the value is something else, such as a chumpy
    expression that only chumpy could evaluate.
    """
    if isinstance(value, ChumpyStub):
        if value.replaces != CHUMPY_ARRAY_CLASS or "x" not in value.state:
            raise ValueError(
                f"{name!r} is a chumpy {value.replaces} expression, not a plain array: "
                "re-export the model with numpy arrays"
            )
        return np.asarray(value.state["x"])
    if isinstance(value, SparseStub):
        return _dense_from_csc(value, name)
    if isinstance(value, Opaque):
        raise ValueError(f"{name!r} is a torch {value.replaces}; expected an array")
    return np.asarray(value)


def _dense_from_csc(stub: SparseStub, name: str) -> np.ndarray:
    """Rebuild a pickled CSC matrix from its ``data``, ``indices``, ``indptr`` and shape."""
    if not stub.replaces.endswith("csc_matrix"):
        raise ValueError(f"{name!r} is a {stub.replaces}; only CSC matrices are supported")
    state = stub.state
    rows, cols = (int(n) for n in state["_shape"])
    indptr = np.asarray(state["indptr"], np.int64)
    if indptr.shape != (cols + 1,):
        raise ValueError(f"{name!r}: CSC indptr has {indptr.shape[0]} entries for {cols} columns")
    dense = np.zeros((rows, cols), np.float64)
    col_of_entry = np.repeat(np.arange(cols), np.diff(indptr))
    dense[np.asarray(state["indices"], np.int64), col_of_entry] = np.asarray(state["data"])
    return dense
