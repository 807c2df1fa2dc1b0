"""Flow JSON validation speed on a maximal document (100 screens × 50 components).

    python benchmarks/bench_flowjson.py [--rounds 7]

Prints the median time of validate_flow_json on the decoded document and on the text,
next to json.loads of the same text (the floor: reading it at all).
"""

from __future__ import annotations

import argparse
import json
import statistics
import string
import time
from collections.abc import Callable
from typing import Any

from gateway.flowjson import validate_flow_json


def _screen_id(i: int) -> str:
    letters = string.ascii_uppercase
    return "SCREEN_" + letters[i // 26] + letters[i % 26]


def big_flow(screens: int = 100, per_screen: int = 50) -> dict[str, Any]:
    """A valid Flow JSON 7.3 of ``screens`` screens, ``per_screen`` components each."""
    out = []
    for i in range(screens):
        last = i == screens - 1
        children: list[dict[str, Any]] = []
        kinds = ["TextHeading", "TextBody", "TextInput", "Dropdown", "CheckboxGroup", "TextCaption"]
        for k in range(per_screen - 1):
            kind = kinds[k % len(kinds)]
            if kind in ("TextHeading", "TextBody", "TextCaption"):
                children.append({"type": kind, "text": f"Text {k} on screen {i}"})
            elif kind == "TextInput":
                children.append(
                    {
                        "type": kind,
                        "name": f"input_{k}",
                        "label": "Your answer",
                        "input-type": "text",
                        "required": True,
                        "helper-text": "Tell us",
                    }
                )
            else:
                items = [{"id": str(n), "title": f"Option {n}"} for n in range(5)]
                children.append(
                    {"type": kind, "name": f"choice_{k}", "label": "Pick one", "data-source": items}
                )
        action: dict[str, Any] = (
            {"name": "complete", "payload": {"answer": "${form.input_2}"}}
            if last
            else {
                "name": "navigate",
                "next": {"type": "screen", "name": _screen_id(i + 1)},
                "payload": {"previous": "${form.input_2}"},
            }
        )
        children.append({"type": "Footer", "label": "Continue", "on-click-action": action})
        screen: dict[str, Any] = {
            "id": _screen_id(i),
            "title": f"Step {i + 1}",
            "layout": {"type": "SingleColumnLayout", "children": children},
        }
        if i:
            screen["data"] = {"previous": {"type": "string", "__example__": "x"}}
        if last:
            screen["terminal"] = True
        out.append(screen)
    return {"version": "7.3", "screens": out}


def median_ms(fn: Callable[[], object], rounds: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds. On a shared machine the wall time also counts
    other processes; the CPU time is this one's own work."""
    wall, cpu = [], []
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(wall) * 1000, statistics.median(cpu) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    doc = big_flow()
    text = json.dumps(doc, indent=2)
    issues = validate_flow_json(doc)
    assert issues == [], issues[:3]  # a clean document: no position lookups in the timing
    floor = median_ms(lambda: json.loads(text), args.rounds)
    on_dict = median_ms(lambda: validate_flow_json(doc), args.rounds)
    on_text = median_ms(lambda: validate_flow_json(text), args.rounds)
    print(f"document: 100 screens x 50 components, {len(text) / 1024:.0f} KiB of JSON")
    print(f"{'':32} {'wall':>8}    {'cpu':>8}")
    for name, (wall, cpu) in (
        ("json.loads (floor)", floor),
        ("validate_flow_json(dict)", on_dict),
        ("validate_flow_json(text)", on_text),
    ):
        print(f"{name:32} {wall:8.1f} ms {cpu:8.1f} ms   ({wall / floor[0]:.1f}x json.loads)")
    print(f"target: under 100 ms -> {'met' if on_text[0] < 100 else 'NOT met'}")


if __name__ == "__main__":
    main()
