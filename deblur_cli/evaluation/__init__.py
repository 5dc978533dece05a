"""Evaluation: score predictions (a folder, or a model run on the blurry inputs) against a
dataset under a published protocol, in worker processes, into a resumable results file and one
`EvaluationReport`. May import `datasets`, `metrics`, `files`, `defaults`, `errors` and (in
model mode only) `inference`.
"""

from .outputs import CSV_NAME, check_save_dir, save_prediction, save_report, write_metrics_csv
from .pipeline import PredictionSource, PredictionStream, evaluate
from .pool import worker_count
from .protocol import PROTOCOL_KEYS, Protocol, default_protocol
from .report import EvalProgress, EvaluationReport, ImageRecord, Means, ModelRun, StageSeconds
from .results import (
    RESULTS_NAME,
    check_results_file,
    default_results_path,
    read_results,
)
from .run import run_evaluation, run_label

__all__ = [
    "CSV_NAME",
    "PROTOCOL_KEYS",
    "RESULTS_NAME",
    "EvalProgress",
    "EvaluationReport",
    "ImageRecord",
    "Means",
    "ModelRun",
    "PredictionSource",
    "PredictionStream",
    "Protocol",
    "StageSeconds",
    "check_results_file",
    "check_save_dir",
    "default_protocol",
    "default_results_path",
    "evaluate",
    "read_results",
    "run_evaluation",
    "run_label",
    "save_prediction",
    "save_report",
    "worker_count",
    "write_metrics_csv",
]
