"""Profiling: parameter counts, MAC counts and timed forward passes of registered models.

May import `models`, `inference` (device, precision, channels_last), `defaults` and `errors`;
returns dataclasses and never prints.
"""

from ..errors import ProfileError
from .environment import Environment, environment
from .latency import Budget, LatencyStats, summarize_ms, time_cpu, time_cuda
from .macs import MacCounts, count_macs, torchinfo_macs
from .params import ParamCounts, count_parameters, parameter_counts
from .report import ProfileOptions, ProfileReport
from .run import check_request, profile_model, profile_models

__all__ = [
    "Budget",
    "Environment",
    "LatencyStats",
    "MacCounts",
    "ParamCounts",
    "ProfileError",
    "ProfileOptions",
    "ProfileReport",
    "check_request",
    "count_macs",
    "count_parameters",
    "environment",
    "parameter_counts",
    "profile_model",
    "profile_models",
    "summarize_ms",
    "time_cpu",
    "time_cuda",
    "torchinfo_macs",
]
