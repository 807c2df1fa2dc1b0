"""What the distribution declares matches what the code and the tree hold (no build here:
tests/e2e/test_wheel.py builds and installs the wheel)."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import gateway
from gateway import bundled, cli
from gateway.extras import EXTRAS

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
# distribution → module, where they differ
IMPORT_NAMES = {
    "pyjwt": "jwt",
    "psycopg-pool": "psycopg_pool",
    "opentelemetry-api": "opentelemetry",
    "opentelemetry-sdk": "opentelemetry.sdk",
    "opentelemetry-exporter-prometheus": "opentelemetry.exporter.prometheus",
}


def _package_dirs() -> set[str]:
    """Every package the wheel must carry: directories with an ``__init__.py`` under
    gateway/ and providers/, and config/ with its subdirectories as gateway.data."""
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("gateway", "providers")
        for init in (ROOT / top).rglob("__init__.py")
    }
    config = ROOT / "config"
    found |= {
        ".".join(("gateway", "data", *d.relative_to(config).parts))
        for d in (config, *config.rglob("*"))
        if d.is_dir() and any(d.glob("*.toml"))
    }
    return found


def test_every_package_directory_is_listed_and_every_listed_one_exists() -> None:
    listed = set(SETUPTOOLS["packages"])
    assert listed == _package_dirs(), (
        "[tool.setuptools] packages in pyproject.toml must list exactly the package "
        f"directories: missing {sorted(_package_dirs() - listed)}, "
        f"stale {sorted(listed - _package_dirs())}"
    )


def test_the_shipped_config_is_config_itself() -> None:
    assert SETUPTOOLS["package-dir"] == {"gateway.data": "config"}
    data = PYPROJECT["tool"]["setuptools"]["package-data"]
    assert data["gateway.data"] == data["gateway.data.examples"] == ["*.toml"]
    assert bundled.config_dir() == ROOT / "config"  # a checkout reads config/ in place
    assert bundled.DEFAULT_CONFIG == ROOT / "config" / "gateway.toml"
    assert sorted(p.name for p in bundled.EXAMPLES_DIR.glob("*.toml")) == [
        "dialog360_cloud.toml",
        "dialog360_onprem.toml",
        "meta_cloud.toml",
        "onemsg.toml",
        "routing.toml",
        "sinch.toml",
    ]


def test_an_installed_copy_wins_and_a_stray_config_dir_is_never_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site-packages" / "gateway"
    (package / "data").mkdir(parents=True)
    stray = tmp_path / "site-packages" / "config"  # another distribution's directory
    stray.mkdir()
    (stray / "gateway.toml").write_text("")
    monkeypatch.setattr(bundled, "_PACKAGE", package)
    assert bundled.config_dir() == package / "data"  # missing: loading it will say so
    (package / "data" / "gateway.toml").write_text("")
    assert bundled.config_dir() == package / "data"


def test_extras_match_what_the_code_checks() -> None:
    extras = PROJECT["optional-dependencies"]
    for extra, modules in EXTRAS.items():
        declared = {Requirement(r).name.lower() for r in extras[extra]}
        imports = {IMPORT_NAMES.get(name, name) for name in declared}
        assert set(modules) <= imports, f"{extra}: checks {modules}, declares {declared}"
    [everything] = extras["all"]
    assert Requirement(everything).extras == set(EXTRAS)
    assert "flowgateway[all]" in extras["dev"]


def test_licence_is_declared_the_pep_639_way_and_is_apache_2() -> None:
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    [setuptools] = [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
    assert setuptools.name == "setuptools"
    assert not setuptools.specifier.contains("76.9"), "PEP 639 needs setuptools>=77"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    for part in ("TERMS AND CONDITIONS FOR USE", "END OF TERMS AND CONDITIONS"):
        assert part in text
    assert len(re.findall(r"^\s+\d\. ", text, flags=re.M)) == 9  # all nine sections


def test_version_is_one_number_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    version = PROJECT["version"]
    Version(version)  # a valid PEP 440 version
    assert gateway.__version__ == version
    assert importlib.metadata.version("flowgateway") == version, "reinstall: make install"
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"flowgateway {version}\n"


def test_changelog_has_an_unreleased_section_and_the_current_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\]", text, flags=re.M)
    assert headings[0] == "Unreleased"
    assert PROJECT["version"] in headings


def test_the_wheel_test_is_kept_out_of_the_default_run() -> None:
    options = PYPROJECT["tool"]["pytest"]["ini_options"]
    assert any(m.startswith("wheel:") for m in options["markers"])
    assert "-m 'not wheel'" in options["addopts"]
    assert "pytest -m wheel" in (ROOT / "Makefile").read_text(encoding="utf-8")
