"""The CLI shell: --help, --version, `deblur models`, and the import-time budget of --help."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from deblur_cli import __version__
from deblur_cli.cli.app import app
from deblur_cli.models import list_models

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"deblur {__version__}"


def test_help_lists_subcommands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "models" in result.stdout


@pytest.mark.parametrize("args", [["--help"], ["restore", "--help"]])
def test_help_does_not_import_torch(args: list[str]) -> None:
    code = (
        "import sys\n"
        "from deblur_cli.cli.app import app\n"
        f"try:\n    app({args!r})\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'numpy', 'cv2', 'skimage') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY=\n" in out.stdout or out.stdout.rstrip().endswith("HEAVY=")


def test_python_dash_m_runs_the_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "deblur_cli", "--help"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "Usage:" in out.stdout and "restore" in out.stdout
    version = subprocess.run(
        [sys.executable, "-m", "deblur_cli", "--version"], capture_output=True, text=True
    )
    assert version.returncode == 0 and version.stdout.strip() == f"deblur {__version__}"


def test_models_json_lists_every_model_with_contract() -> None:
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == list_models()
    by_name = {r["name"]: r for r in rows}
    assert by_name["fftformer"]["params"] == 16_560_474
    assert by_name["ce-mlwnet"]["params"] == 20_330_531
    assert by_name["hybridnet"]["size_multiple"] == 64
    assert by_name["mlwnet-local"]["tlc"] is True


def test_models_table() -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    for name in list_models():
        assert name in result.stdout
    assert "24,109,164" in result.stdout
