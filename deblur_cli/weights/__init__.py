"""Pretrained weights: the registry (`data/weights.toml`), the local cache and its index, HTTP and
Google Drive transfers, and the operations behind `deblur weights` and `--weights NAME|PATH`.
May import `checkpoints`, `models`, `files`, `defaults` and `errors`; nothing here prints.
"""

from ..errors import (
    ChecksumMismatchError,
    DownloadError,
    NotCachedError,
    RegistryError,
    UnknownWeightsError,
    WeightsError,
    WeightsExistError,
)
from .bundled import bundled_dir
from .downloads import ProgressCallback, download, download_many
from .importing import import_weights
from .index import (
    HOME_ENV,
    INDEX_NAME,
    REJECTED,
    IndexRecord,
    cache_dir,
    read_index,
    sha256_file,
)
from .inventory import list_weights, locate, remove, verify, weights_by_model
from .registry import (
    BUNDLED,
    REGISTRY_ENV,
    UNKNOWN,
    WeightsEntry,
    get_entry,
    load_registry,
    registry_path,
)
from .resolve import load_pretrained, resolve
from .results import (
    CachedWeights,
    DownloadReport,
    DownloadResult,
    ImportResult,
    RemoveResult,
    ResolvedWeights,
    VerifyReport,
    VerifyResult,
    WeightsList,
    WeightsStatus,
)
from .transport import DEFAULT_TIMEOUT, PART_SUFFIX

__all__ = [
    "BUNDLED",
    "DEFAULT_TIMEOUT",
    "HOME_ENV",
    "INDEX_NAME",
    "PART_SUFFIX",
    "REGISTRY_ENV",
    "REJECTED",
    "UNKNOWN",
    "CachedWeights",
    "ChecksumMismatchError",
    "DownloadError",
    "DownloadReport",
    "DownloadResult",
    "ImportResult",
    "IndexRecord",
    "NotCachedError",
    "ProgressCallback",
    "RegistryError",
    "RemoveResult",
    "ResolvedWeights",
    "UnknownWeightsError",
    "VerifyReport",
    "VerifyResult",
    "WeightsEntry",
    "WeightsError",
    "WeightsExistError",
    "WeightsList",
    "WeightsStatus",
    "bundled_dir",
    "cache_dir",
    "download",
    "download_many",
    "get_entry",
    "import_weights",
    "list_weights",
    "load_pretrained",
    "load_registry",
    "locate",
    "read_index",
    "registry_path",
    "remove",
    "resolve",
    "sha256_file",
    "verify",
    "weights_by_model",
]
