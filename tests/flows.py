"""One small valid Flow, shared by the management tests: the smallest document Meta
publishes (one terminal screen with a Footer), its text, and the same text changed."""

from __future__ import annotations

import json
from typing import Any

FLOW: dict[str, Any] = {
    "version": "7.1",
    "screens": [
        {
            "id": "WELCOME",
            "title": "Welcome",
            "terminal": True,
            "layout": {
                "type": "SingleColumnLayout",
                "children": [
                    {"type": "TextHeading", "text": "Hello"},
                    {
                        "type": "Footer",
                        "label": "Done",
                        "on-click-action": {"name": "complete", "payload": {}},
                    },
                ],
            },
        }
    ],
}
TEXT = json.dumps(FLOW, indent=2)
"""As a user keeps it: indented, so positions have lines to point at."""
CHANGED = TEXT.replace('"Hello"', '"Hello again"')
"""One text changed: what a second deploy must upload."""
