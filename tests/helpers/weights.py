"""Scaffolding for the weights and checkpoint tests: a local HTTP server (127.0.0.1, started by
the test), registry TOML builders, a private `DEBLUR_HOME`, and small real checkpoints."""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch

from deblur_cli.models import create, get_spec
from deblur_cli.weights import HOME_ENV, INDEX_NAME, REGISTRY_ENV

EVIL = b"\x80\x02cos\nsystem\n(S'true'\ntR."  # a pickle that would call os.system("true")


# --- HTTP ------------------------------------------------------------------------------------


@dataclass
class Server:
    """What the server serves and how it misbehaves; `requests` logs (path, Range header)."""

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    cut_after: int | None = None  # close the connection after this many body bytes
    ignore_range: bool = False  # answer a Range request with the whole file (200)
    pause: float = 0.0  # seconds to stall half way, so a progress bar gets drawn
    requests: list[tuple[str, str | None]] = field(default_factory=list)


def _handler(state: Server) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            rng = self.headers.get("Range")
            state.requests.append((self.path, rng))
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            start = 0
            if rng and not state.ignore_range:
                start = int(rng.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    self.send_error(416, "Range Not Satisfiable")
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            self._body(body[start:])

        def _body(self, payload: bytes) -> None:
            if state.cut_after is not None:
                payload = payload[: state.cut_after]
                self.close_connection = True
            if state.pause:
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                time.sleep(state.pause)
                payload = payload[len(payload) // 2 :]
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client hanging up mid-body is what some tests do on purpose


@contextmanager
def serve() -> Iterator[Server]:
    """A threaded HTTP server on 127.0.0.1 for the duration of the block."""
    state = Server()
    httpd = _QuietServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def closed_port() -> int:
    """A local port nobody listens on: connecting to it is what being offline looks like."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- registry and cache ----------------------------------------------------------------------


def entry_toml(
    name: str,
    source: str,
    *,
    sha: str = "unknown",
    model: str = "mlwnet",
    config: str = "{ dim = 4 }",
    container: str = "params",
    file: str = "m.pth",
    dataset: str = "TestSet",
) -> str:
    """One `[[weights]]` table with every required field."""
    return f"""
[[weights]]
name = "{name}"
model = "{model}"
config = {config}
dataset = "{dataset}"
source = "{source}"
url = "{source}"
page = "test"
file = "{file}"
sha256 = "{sha}"
container = "{container}"
aux_head_keys = false
paper_psnr = "unknown"
paper_ssim = 0.5
reported = "test"
licence = "test"
citation = "test"
notes = "test"
"""


def use_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *entries: str) -> Path:
    """Write `entries` to a registry file and make it the one `deblur` reads."""
    path = tmp_path / "registry.toml"
    path.write_text("".join(entries))
    monkeypatch.setenv(REGISTRY_ENV, str(path))
    return path


def use_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private `DEBLUR_HOME`; returns its weights cache folder (not created)."""
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    return tmp_path / "home" / "weights"


def leftovers(root: Path) -> list[str]:
    """Files in the cache folder besides the index."""
    if not root.exists():
        return []
    return sorted(p.name for p in root.glob("*") if p.name != INDEX_NAME)


# --- checkpoints -----------------------------------------------------------------------------


def tiny_state_dict(model: str = "mlwnet", **config: Any) -> dict[str, torch.Tensor]:
    """A seeded state dict of `model` at `config` (default: the registry's tiny test config)."""
    torch.manual_seed(0)
    return create(model, **(config or dict(get_spec(model).tiny_config))).state_dict()


def saved(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def checkpoint_bytes(model: str = "mlwnet", container: str = "params", **config: Any) -> bytes:
    """A `torch.save`d checkpoint of a tiny model, under `container` ("plain": none)."""
    sd = tiny_state_dict(model, **config)
    return saved(sd if container == "plain" else {container: sd})


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
