"""facecodec.bitrate: targets, the rate-distortion table, bundling and the controller.

How packets are built is not the controller's business (docs/transport.md, "Bit rate").
"""

from .bundler import Bundler, BundlingConfig
from .controller import Controller, ControllerConfig, Decision
from .log import DecisionLog, read_log
from .table import DEFAULT_TABLE_PATH, RatePoint, RateTable, load_table
from .target import BitrateError, bitrate_argument, parse_bitrate

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
