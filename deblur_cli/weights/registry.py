"""The weights registry: `deblur_cli/data/weights.toml` (or `$DEBLUR_WEIGHTS_REGISTRY`) parsed
and validated into `WeightsEntry` records; unknown or missing fields are errors."""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..defaults import NAME_SUGGESTION_CUTOFF
from ..errors import RegistryError, UnknownWeightsError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REGISTRY_ENV = "DEBLUR_WEIGHTS_REGISTRY"
UNKNOWN = "unknown"
CONTAINERS = ("params", "params_ema", "state_dict", "plain")
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".safetensors")
BUNDLED = "bundled:"  # `bundled:<file>`: shipped inside the package, in data/weights/<file>

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # also a file name in the cache
_SOURCE = re.compile(r"^(gdrive:|gdrive-folder:|https?://|bundled:)")
_TEXT_FIELDS: tuple[str, ...] = (
    *("name", "model", "dataset", "source", "url", "page"),
    *("reported", "licence", "citation", "notes"),
)


@dataclass(frozen=True)
class WeightsEntry:
    """One published checkpoint (fields as documented at the top of weights.toml)."""

    name: str
    model: str
    config: Mapping[str, Any]
    dataset: str  # the dataset's name only; remarks about it belong in `notes`
    source: str
    url: str
    page: str
    file: str | None  # None: "unknown", resolved from the Drive folder listing
    sha256: str | None  # None: "unknown", verified structurally
    container: str
    aux_head_keys: bool
    paper_psnr: float | None
    paper_ssim: float | None
    reported: str
    licence: str
    citation: str
    notes: str

    @property
    def suffix(self) -> str:
        return checkpoint_suffix(self.file)

    @property
    def cache_name(self) -> str:
        return self.name + self.suffix

    @property
    def bundled_file(self) -> str | None:
        """The file name inside the package's `data/weights/` for a `bundled:` source, else None."""
        return self.source.removeprefix(BUNDLED) if self.source.startswith(BUNDLED) else None


_FIELDS = {f.name for f in dataclasses.fields(WeightsEntry)}


def checkpoint_suffix(file: str | None) -> str:
    """The file's checkpoint suffix, `.pth` when it has none of the known ones."""
    suffix = Path(file).suffix if file else ""
    return suffix if suffix in CHECKPOINT_SUFFIXES else ".pth"


def is_valid_name(name: str) -> bool:
    """Letters, digits, '.', '_' and '-' (a weights name is also a file name in the cache)."""
    return bool(_NAME.match(name))


def registry_path() -> Path:
    """`$DEBLUR_WEIGHTS_REGISTRY` if set, else the packaged `deblur_cli/data/weights.toml`."""
    override = os.environ.get(REGISTRY_ENV)
    if override:
        return Path(override)
    return Path(str(resources.files("deblur_cli").joinpath("data").joinpath("weights.toml")))


def read_text_file(path: Path, what: str) -> str:
    """The UTF-8 text of `path`; an unreadable or binary file is a one-line RegistryError."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise RegistryError(f"cannot read {what} {path}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise RegistryError(
            f"{what} {path} is not a UTF-8 text file (byte 0x{e.object[e.start]:02x} at "
            f"offset {e.start})"
        ) from None


def _optional(value: Any, kind: type, where: str) -> Any:
    if value == UNKNOWN:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind):
        raise RegistryError(f'{where}: expected {kind.__name__} or "unknown", got {value!r}')
    return value


def _check_fields(raw: Any, where: str) -> None:
    if not isinstance(raw, Mapping):
        raise RegistryError(f"{where}: expected a table, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _FIELDS)
    missing = sorted(_FIELDS - set(raw))
    detail = "; ".join(
        text
        for text in (
            unknown and f"unknown field(s) {', '.join(unknown)}",
            missing and f"missing {', '.join(missing)}",
        )
        if text
    )
    if detail:
        raise RegistryError(f"{where}: {detail}")
    wrong = [k for k in _TEXT_FIELDS if not isinstance(raw[k], str)]
    if wrong:
        raise RegistryError(f"{where}: {', '.join(wrong)} must be text")


def _check_values(raw: Mapping[str, Any], where: str) -> None:
    if not is_valid_name(raw["name"]):
        raise RegistryError(f"{where}: name must be letters, digits, '.', '_' or '-'")
    sha = raw["sha256"].lower() if isinstance(raw["sha256"], str) else raw["sha256"]
    if sha != UNKNOWN and not (isinstance(sha, str) and _SHA256.match(sha)):
        raise RegistryError(f'{where}: sha256 must be 64 hex digits or "unknown"')
    if not _SOURCE.match(raw["source"]):
        raise RegistryError(
            f"{where}: source must start with gdrive:, gdrive-folder:, http(s):// or bundled:"
        )
    if raw["source"].startswith(BUNDLED):
        _check_bundled(raw, sha, where)
    if raw["container"] not in CONTAINERS:
        raise RegistryError(f"{where}: container must be one of {', '.join(CONTAINERS)}")
    if not isinstance(raw["config"], Mapping):
        raise RegistryError(f"{where}: config must be a table")
    if not isinstance(raw["aux_head_keys"], bool):
        raise RegistryError(f"{where}: aux_head_keys must be true or false")


def _check_bundled(raw: Mapping[str, Any], sha: Any, where: str) -> None:
    """A shipped file is never downloaded, so its hash is the only check it gets: required."""
    file = raw["source"].removeprefix(BUNDLED)
    if not is_valid_name(file) or Path(file).suffix not in CHECKPOINT_SUFFIXES:
        raise RegistryError(
            f"{where}: bundled:<file> must name a checkpoint file in deblur_cli/data/weights/ "
            f"(letters, digits, '.', '_', '-'; one of {', '.join(CHECKPOINT_SUFFIXES)})"
        )
    if sha == UNKNOWN:
        raise RegistryError(f"{where}: bundled weights need their sha256 (64 hex digits)")
    if raw["file"] != file:
        raise RegistryError(f'{where}: file must be "{file}", the name in source')


def _parse_entry(raw: Any, where: str) -> WeightsEntry:
    _check_fields(raw, where)
    _check_values(raw, where)
    sha = raw["sha256"].lower()
    return WeightsEntry(
        name=raw["name"],
        model=raw["model"],
        config=dict(raw["config"]),
        dataset=raw["dataset"],
        source=raw["source"],
        url=raw["url"],
        page=raw["page"],
        file=_optional(raw["file"], str, f"{where}.file"),
        sha256=None if sha == UNKNOWN else sha,
        container=raw["container"],
        aux_head_keys=raw["aux_head_keys"],
        paper_psnr=_optional(raw["paper_psnr"], float, f"{where}.paper_psnr"),
        paper_ssim=_optional(raw["paper_ssim"], float, f"{where}.paper_ssim"),
        reported=raw["reported"],
        licence=raw["licence"],
        citation=raw["citation"],
        notes=raw["notes"],
    )


def load_registry(path: str | os.PathLike[str] | None = None) -> dict[str, WeightsEntry]:
    """Parse a registry file (default: `registry_path()`); unknown or missing fields are errors."""
    path = Path(path) if path is not None else registry_path()
    try:
        data = tomllib.loads(read_text_file(path, "weights registry"))
    except tomllib.TOMLDecodeError as e:
        raise RegistryError(f"{path}: {e}") from None
    extra = sorted(set(data) - {"weights"})
    if extra:
        raise RegistryError(f"{path}: unknown top-level key(s) {', '.join(extra)}")
    tables = data.get("weights", [])
    if not isinstance(tables, list):
        raise RegistryError(f"{path}: 'weights' must be an array of [[weights]] tables")
    entries: dict[str, WeightsEntry] = {}
    for i, raw in enumerate(tables):
        entry = _parse_entry(raw, f"{path.name} [[weights]] #{i + 1}")
        if entry.name in entries:
            raise RegistryError(f"{path}: duplicate weights name '{entry.name}'")
        entries[entry.name] = entry
    return entries


def get_entry(name: str, registry: Mapping[str, WeightsEntry] | None = None) -> WeightsEntry:
    """The registry entry `name`; an unknown name suggests a close one, if any."""
    registry = load_registry() if registry is None else registry
    if name in registry:
        return registry[name]
    raise UnknownWeightsError(unknown_message(name, list(registry)))


def unknown_message(name: str, known: Sequence[str]) -> str:
    """`unknown weights 'x'`, with a suggestion only when a known name is a near-typo of it."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=NAME_SUGGESTION_CUTOFF)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown weights '{name}'{hint} (see `deblur weights list`)"
