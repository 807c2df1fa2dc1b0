"""Flow JSON published by others, read in place from ``../shared/realworld/flowjson``
(never copied): Meta's templates and samples, SDK fixtures, public projects.

``SOURCES.md`` there cites each document. They may be used for what their version
allows — sent (any supported version) and, from 5.1, published — and for those purposes
the validator must find no error in them. The exceptions are named here with the rule
Meta documents and the code it gives: Meta's error-page samples, invalid by design, and
the few third-party documents that break a documented rule.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.flowjson import FlowJSON, validate_flow_json
from gateway.flowjson.issues import parse_version
from tests.realworld import realworld

REALWORLD = realworld("flowjson")
pytestmark = pytest.mark.skipif(
    not REALWORLD.is_dir(), reason=f"the shared real-world Flow JSON is absent ({REALWORLD})"
)

ERROR_PAGE = {  # meta_errdoc_<name>: the code Meta's error-codes page shows the sample for
    "complete_on_non_terminal": "INVALID_COMPLETE_ACTION",
    "data_exchange_without_data_api_version": "MISSING_REQUIRED_PROPERTY",
    "error_message_bound_to_boolean": "INVALID_SCREEN_DYNAMIC_DATA",
    "footer_in_one_switch_case": "MISSING_FOOTER_IN_SWITCH_BRANCHES",
    "footer_payload_outside_form": "INVALID_FOOTER_PAYLOAD_OUTSIDE_FORM",
    "missing_dynamic_data": "INVALID_SCREEN_DYNAMIC_DATA",
    "more_than_one_footer": "MORE_THAN_ONE_FOOTER",
    "terminal_without_footer": "MISSING_FOOTER_ON_TERMINAL_SCREEN",
}
KNOWN_INVALID = {  # third-party documents against a documented rule: the codes they give
    # A navigate without "next" (Flow JSON page, navigate action: {name, next, payload}),
    # and 96 options in a RadioButtonsGroup (components page: at most 20).
    "miimii_data_purchase": {"MISSING_REQUIRED_PROPERTY", "MAX_ITEMS_REQUIRED"},
    # "placeholder" on a TextInput: "Additional properties are not allowed" (error page).
    "miimii_login": {"INVALID_PROPERTY_KEY"},
    # ${screen.BINAFSI.jina_la_kwanza}: global references are
    # ${screen.<screen>.(form | data).<field>} (Flow JSON page).
    "misingo_azam_marines": {"INVALID_SCREEN_DATA"},
    # A pywa serialisation fixture: navigates to FOURTH_SCREEN, which does not exist, and
    # leaves FIFTH_SCREEN's data model out of two payloads (error page, navigate errors).
    "pywa_6_2_navigation_list": {
        "INVALID_NAVIGATE_ACTION_NEXT_SCREEN_NAME",
        "INVALID_NAVIGATE_ACTION_PAYLOAD",
    },
    # A CalendarPicker outside the screen's Form: the error page's own COMPONENTS_OUTSIDE_FORM.
    "senslyze_pgrs": {"COMPONENTS_OUTSIDE_FORM"},
    # Form init-values bound to ${data.init_values}, which the data model lacks.
    "treble_flow": {"INVALID_SCREEN_DYNAMIC_DATA"},
}


def _documents(*, valid_only: bool = False) -> list[Any]:
    if not REALWORLD.is_dir():
        return []
    return [
        pytest.param(path, id=path.stem)
        for path in sorted(REALWORLD.glob("*.json"))
        if not path.stem.startswith("meta_errdoc_")
        and not (valid_only and path.stem in KNOWN_INVALID)
    ]


def _errors(text: str, purpose: Any) -> set[str]:
    return {i.error for i in validate_flow_json(text, purpose=purpose) if i.severity == "error"}


@pytest.mark.parametrize("path", _documents())
def test_published_flows_have_no_errors(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    version = parse_version(json.loads(text).get("version"))
    assert version is not None
    expected = KNOWN_INVALID.get(path.stem, set())
    for purpose in ("send", "publish"):
        errors = _errors(text, purpose)
        if purpose == "publish" and version < (5, 1):  # frozen: sent, never published again
            assert errors >= {"UNSUPPORTED_FLOW_JSON_VERSION"}
        elif expected:
            assert errors >= expected, errors
        else:
            assert errors == set()


@pytest.mark.parametrize("path", _documents(valid_only=True))
def test_the_typed_model_takes_what_the_validator_takes(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert FlowJSON.model_validate(doc).to_json_dict() == doc


@pytest.mark.parametrize(("name", "code"), sorted(ERROR_PAGE.items()))
def test_error_page_samples_give_their_code(name: str, code: str) -> None:
    text = (REALWORLD / f"meta_errdoc_{name}.json").read_text(encoding="utf-8")
    assert code in _errors(text, "send")


def test_every_exception_is_in_the_collection() -> None:
    """A renamed or removed document must not leave a silent exception behind."""
    samples = {p.stem.removeprefix("meta_errdoc_") for p in REALWORLD.glob("meta_errdoc_*.json")}
    assert samples == set(ERROR_PAGE)
    assert {p.stem for p in REALWORLD.glob("*.json")} >= set(KNOWN_INVALID)
