"""Files that ship with the package: the embedded default config and the example configs.

The repository's ``config/`` is their one source. The wheel carries that directory as
``gateway/data/`` (pyproject.toml maps the package ``gateway.data`` onto ``config/``, so
the build copies it; nothing is kept twice). A source checkout, or an editable install of
one, has no ``gateway/data/`` and reads ``config/`` in place.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def config_dir() -> Path:
    """The directory holding ``gateway.toml`` and ``examples/``.

    The installed copy wins; the checkout's ``config/`` is used only beside a
    ``pyproject.toml``, so that a stray ``config/`` in site-packages is never taken.
    Should neither exist (a broken install), the installed path is returned and loading
    it fails with a ConfigError naming it.
    """
    installed = _PACKAGE / "data"
    if (installed / "gateway.toml").is_file():
        return installed
    checkout = _PACKAGE.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "config" / "gateway.toml").is_file():
        return checkout / "config"
    return installed


DEFAULT_CONFIG = config_dir() / "gateway.toml"
"""The embedded default: five senders, one per provider, all on the local emulator."""

EXAMPLES_DIR = config_dir() / "examples"
"""One config per provider and a multi-BSP routing example, to copy and edit."""
