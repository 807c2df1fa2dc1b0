"""Where the material published by others lives: read in place, never copied.

``$FLOWGATEWAY_REALWORLD``, else ``shared/realworld`` beside the checkout (where the
team's machines and CI keep it), else beside a clone made elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path


def realworld(part: str) -> Path:
    """``<realworld>/<part>``; it may not exist (tests then skip, saying so)."""
    top = Path(__file__).resolve().parents[1]
    candidates = [os.environ.get("FLOWGATEWAY_REALWORLD", ""), str(top.parent / "shared/realworld")]
    candidates.append("/work/shared/realworld")
    found = next((Path(c) for c in candidates if c and Path(c).is_dir()), Path(candidates[1]))
    return found / part
