"""facecodec.bitrate: targets, the rate-distortion table, bundling and the controller.

How packets are built is not the controller's business (docs/transport.md, "Bit rate").

The names below load their module on first use: the bundler and the controller import the
transport (aiortc), which a receiver replaying a file (``facecodec decode``) must not need
just to use ``bitrate.window``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .bundler import Bundler, BundlingConfig
    from .controller import Controller, ControllerConfig, Decision
    from .log import DecisionLog, read_log
    from .table import DEFAULT_TABLE_PATH, RatePoint, RateTable, load_table
    from .target import BitrateError, bitrate_argument, parse_bitrate

_MODULES = {
    "Bundler": "bundler",
    "BundlingConfig": "bundler",
    "Controller": "controller",
    "ControllerConfig": "controller",
    "Decision": "controller",
    "DecisionLog": "log",
    "read_log": "log",
    "DEFAULT_TABLE_PATH": "table",
    "RatePoint": "table",
    "RateTable": "table",
    "load_table": "table",
    "BitrateError": "target",
    "bitrate_argument": "target",
    "parse_bitrate": "target",
}

__all__ = [
    "DEFAULT_TABLE_PATH",
    "BitrateError",
    "Bundler",
    "BundlingConfig",
    "Controller",
    "ControllerConfig",
    "Decision",
    "DecisionLog",
    "RatePoint",
    "RateTable",
    "bitrate_argument",
    "load_table",
    "parse_bitrate",
    "read_log",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_MODULES[name]}", __name__), name)
