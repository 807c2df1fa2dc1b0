"""The distribution as a user gets it: build the sdist and the wheel from a copy of the
tree, install the wheel into a fresh venv outside the repository, and run it there from
an empty directory — first without extras (one-line messages), then with ``[server]``
(the demo and the pytest plugin's ``emulator`` fixture), then with ``[server,crypto]``
(the demo's data-exchange row).

Marked ``wheel``: left out of the default ``pytest`` run (about a minute, and it installs
from the package registry); ``make test-wheel`` and ``.ci/run`` run it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tomllib
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis",
    "*.sqlite3*", "results",
)  # fmt: skip
INSTALL_TIMEOUT = 600  # a fresh machine downloads every dependency once


def _run(
    argv: Sequence[str | Path], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    # The environment of a user's shell: nothing pointing back at this checkout or venv.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(  # noqa: S603 - our own interpreter, venv and wheel
        [str(a) for a in argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sdist and wheel, built (sdist first, the wheel from it) from a copy of the tree, so
    that the build writes nothing into the checkout."""
    base = tmp_path_factory.mktemp("build")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=NOT_COPIED)
    out = base / "dist"
    _ok(_run([sys.executable, "-m", "build", "--outdir", out, source], base, INSTALL_TIMEOUT))
    return out


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, dist: Path) -> Path:
    """A fresh venv with the wheel and no extra."""
    where = tmp_path_factory.mktemp("user")
    _ok(_run([sys.executable, "-m", "venv", where / "venv"], where))
    [wheel] = dist.glob("*.whl")
    pip = [where / "venv/bin/python", "-m", "pip", "install", "-q"]
    _ok(_run([*pip, wheel], where, INSTALL_TIMEOUT))
    return where / "venv"


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    """An empty working directory: no config/, no checkout anywhere near."""
    work = tmp_path / "work"
    work.mkdir()
    return work


def test_sdist_and_wheel_carry_the_config_and_the_licence(dist: Path) -> None:
    [wheel] = dist.glob(f"flowgateway-{VERSION}-py3-none-any.whl")
    [sdist] = dist.glob(f"flowgateway-{VERSION}.tar.gz")
    configs = sorted(
        p.relative_to(ROOT / "config").as_posix() for p in ROOT.glob("config/**/*.toml")
    )
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = z.read(f"flowgateway-{VERSION}.dist-info/METADATA").decode()
        licence = z.read(f"flowgateway-{VERSION}.dist-info/licenses/LICENSE").decode()
    assert {f"gateway/data/{c}" for c in configs} <= names
    assert "License-Expression: Apache-2.0" in metadata.splitlines()
    assert "License-File: LICENSE" in metadata.splitlines()
    assert "Provides-Extra: all" in metadata.splitlines()
    assert licence == (ROOT / "LICENSE").read_text(encoding="utf-8")
    with tarfile.open(sdist) as t:
        members = set(t.getnames())
    top = f"flowgateway-{VERSION}"
    assert {f"{top}/config/{c}" for c in configs} | {f"{top}/LICENSE"} <= members


def test_without_extras_version_works_and_missing_extras_read_as_one_line(
    venv: Path, empty: Path
) -> None:
    bin_ = venv / "bin"
    assert _ok(_run([bin_ / "flowgateway", "--version"], empty)) == f"flowgateway {VERSION}\n"
    for command, feature in (("serve", "the receiver"), ("demo", "the demo")):
        result = _run([bin_ / "flowgateway", command], empty)
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr == (
            f"flowgateway: {feature} needs the 'server' extra: pip install 'flowgateway[server]'\n"
        )
    # From Python: typed errors; the core runs, from the installed copy, on httpx.
    script = """
import json, gateway, gateway.bundled as b
from gateway import AsyncGateway, GatewayError, load_config
out = {"file": gateway.__file__, "config": str(b.DEFAULT_CONFIG)}
out["is_file"] = b.DEFAULT_CONFIG.is_file()
for name in ("gateway.receiver", "gateway.endpoint", "gateway.transport_aiohttp"):
    try:
        __import__(name)
    except GatewayError as exc:
        out[name] = [type(exc).__name__, str(exc)]
gw = AsyncGateway(load_config(b.DEFAULT_CONFIG))
out["transport"] = type(gw._transport).__name__
print(json.dumps(out))
"""
    got = json.loads(_ok(_run([bin_ / "python", "-c", script], empty)))
    assert Path(got["file"]).is_relative_to(venv)
    assert Path(got["config"]).is_relative_to(venv)
    assert got["is_file"]
    hint = "needs the '{0}' extra: pip install 'flowgateway[{0}]'"
    assert got["gateway.receiver"] == ["MissingExtra", f"the receiver {hint.format('server')}"]
    assert got["gateway.endpoint"] == ["MissingExtra", f"the Flow endpoint {hint.format('crypto')}"]
    assert got["gateway.transport_aiohttp"] == [
        "MissingExtra",
        f"the aiohttp transport {hint.format('fast')}",
    ]
    assert got["transport"] == "AsyncHttpxTransport"  # auto, without aiohttp


PLUGIN_TEST = """
from gateway import FlowMessage


def test_send_to_the_emulator(emulator):
    with emulator.gateway() as gw:
        receipt = gw.send(
            FlowMessage(
                to="+16505551234", flow_id="1", flow_cta="Book", body="Pick a time",
                screen="START", sender="sinch",
            )
        )
    [sent] = emulator.sent("sinch")
    assert receipt.message_id and receipt.provider == "sinch"
"""


def test_with_the_server_extra_the_demo_and_the_emulator_fixture_work(
    venv: Path, dist: Path, empty: Path
) -> None:
    [wheel] = dist.glob("*.whl")
    pip = [venv / "bin/python", "-m", "pip", "install", "-q"]
    _ok(_run([*pip, f"{wheel}[server]", "pytest"], empty, INSTALL_TIMEOUT))
    out = _ok(_run([venv / "bin/flowgateway", "demo"], empty))
    assert "9 round trips over 5 providers" in out
    assert "the same FlowCompleted from each" in out
    # Without `crypto` the data-exchange row is left out, and one line says why.
    assert "demo-endpoint-3" not in out
    hint = "the demo's data-exchange row needs the 'crypto' extra: "
    hint += "pip install 'flowgateway[crypto]'"
    assert [line for line in out.splitlines() if "crypto" in line] == [hint]
    (empty / "test_plugin.py").write_text(PLUGIN_TEST)
    out = _ok(_run([venv / "bin/python", "-m", "pytest", "-q", "-p", "no:cacheprovider"], empty))
    assert "1 passed" in out
    assert sorted(p.name for p in empty.iterdir()) == ["test_plugin.py"]  # the demo left nothing
    _preview_from_the_wheel(venv, empty)
    # With `crypto` (last: it changes the module's venv): the row, played from the Flow
    # the wheel ships, through an endpoint whose key is made in memory (nothing left).
    _ok(_run([*pip, f"{wheel}[server,crypto]"], empty, INSTALL_TIMEOUT))
    out = _ok(_run([venv / "bin/flowgateway", "demo"], empty))
    [row] = [line for line in out.splitlines() if "demo-endpoint-3" in line]
    assert "+16505551234 via endpoint" in row
    assert row.endswith('{"booking_ref": "CE-1201-1030-2", "date": "2026-12-01", '
                        '"party_size": 2, "slot": "10:30"}')  # fmt: skip
    assert "(2 encrypted exchanges: INIT, data_exchange)" in out
    assert "crypto" not in out
    assert sorted(p.name for p in empty.iterdir()) == ["test_plugin.py"]


HELLO = {
    "version": "7.3",
    "screens": [{
        "id": "HELLO", "title": "Hello", "terminal": True,
        "layout": {"type": "SingleColumnLayout", "children": [
            {"type": "TextInput", "name": "name", "label": "Name", "required": True},
            {"type": "Footer", "label": "Send", "on-click-action": {
                "name": "complete", "payload": {"name": "${form.name}"}}},
        ]},
    }],
}  # fmt: skip


def _preview_from_the_wheel(venv: Path, cwd: Path) -> None:
    """``flows preview`` from the installed package (its page is package data), without
    the crypto extra: a Flow with no endpoint, pressed to its completion over HTTP."""
    flow = cwd.parent / "hello.json"  # beside the working directory: it stays empty
    flow.write_text(json.dumps(HELLO))
    argv = [venv / "bin/flowgateway", "flows", "preview", flow, "--port", "0"]
    pipe = subprocess.PIPE
    with subprocess.Popen(argv, cwd=cwd, stdout=pipe, stderr=pipe, text=True) as proc:  # noqa: S603
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().split(" at ")[1].split(" ")[0]
            with urllib.request.urlopen(url, timeout=10) as page:  # noqa: S310
                assert 'id="phone"' in page.read().decode()
            press = urllib.request.Request(  # noqa: S310
                f"{url}api/press",
                json.dumps({"form": {"name": "Ann"}}).encode(),
                {"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(press, timeout=10) as got:  # noqa: S310
                done = json.load(got)
            assert done["completion"]["response_json"]["name"] == "Ann"
        finally:
            proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
