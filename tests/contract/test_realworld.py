"""Payloads published by others, read in place from ``../shared/realworld`` (never copied).

Every real webhook, send answer and error body collected there (provider docs, SDK test
data, production captures; ``SOURCES.md`` cites each) goes through its provider's
adapter. All of them must parse without a crash; the ones below that show something
this gateway promises are checked against what their sources document.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from gateway import errors as gw_errors
from gateway.events import FlowCompleted, MessageStatus, UnhandledEvent, UserIdentityChanged
from gateway.http import HttpResponse
from providers import get_adapter
from providers.base import Adapter
from tests.conftest import PROVIDERS
from tests.kits import KITS
from tests.realworld import realworld

REALWORLD = realworld("webhooks")
pytestmark = pytest.mark.skipif(
    not REALWORLD.is_dir(), reason=f"the shared real-payload collection is absent ({REALWORLD})"
)


def _files(prefix: str) -> list[Any]:
    if not REALWORLD.is_dir():
        return []
    return [
        pytest.param(f.parent.name, f, id=f"{f.parent.name}-{f.stem}")
        for f in sorted(REALWORLD.glob(f"*/{prefix}*.json"))
    ]


def _adapter(provider: str, path: Path | None = None) -> Adapter:
    settings = {**PROVIDERS[provider], "allow_unsigned_webhooks": True}
    if path is not None:  # e.g. the account that payload came from
        settings |= KITS[provider].realworld_settings(json.loads(path.read_bytes()))
    return get_adapter(provider, **settings)


def _http_status(name: str) -> int:
    """The HTTP status SOURCES.md records for an answer ("… (HTTP 403)"), else 400."""
    for line in (REALWORLD / "SOURCES.md").read_text(encoding="utf-8").splitlines():
        if f"`{name}`" in line:
            found = re.search(r"HTTP (\d{3})", line)
            if found:
                return int(found.group(1))
    return 400


def _parse(provider: str, path: Path) -> list[Any]:
    events: list[Any] = _adapter(provider, path).parse_webhook(path.read_bytes(), {})
    return events


# Documentation samples whose user is a placeholder ("<USER_ACCOUNT_NUMBER>", "identity"):
# parsed all the same, with the value kept in ``raw``, rather than refusing the batch.
PLACEHOLDER_USERS = {
    "wh_flow_completion_photopicker_metadocs",
    "wh_inbound_flow_nfm_reply_nodesdk_composed",
}


@pytest.mark.parametrize(("provider", "path"), _files("wh_") + _files("derived_"))
def test_every_real_webhook_parses(provider: str, path: Path) -> None:
    for event in _parse(provider, path):
        assert event.provider == provider
        assert event.raw is not None
        if isinstance(event, FlowCompleted):
            assert bool(event.user) is (path.stem not in PLACEHOLDER_USERS)
            assert isinstance(event.response, dict)


@pytest.mark.parametrize(("provider", "path"), _files("send_ok_"))
def test_every_real_send_answer_is_a_receipt(provider: str, path: Path) -> None:
    resp = HttpResponse.of(200, {"content-type": "application/json"}, path.read_bytes())
    receipt = _adapter(provider).parse_send_response(resp)
    assert receipt.message_id or receipt.job_id
    assert receipt.raw == json.loads(path.read_bytes())


# The class each code belongs to, from ARCHITECTURE §6 and Meta's error-codes page.
ERROR_CLASSES = {
    "err_100_mmapi_metadocs": "InvalidRequest",
    "err_130429_courier": "RateLimited",
    "err_130429_metadocs": "RateLimited",
    "err_131000_tawn33y_issue": "ProviderUnavailable",
    "err_131009_restfb_issue": "InvalidRequest",
    "err_131053_courier": "InvalidRequest",
    "err_131056_courier": "RateLimited",
    "err_190_session_expired_issue": "AuthenticationError",
    "err_meta_wrapper_graph100_kairon": "InvalidRequest",  # Meta's code inside 360's wrapper
    "err_131056_courier_d3c": "RateLimited",
    "err_130429_courier_d3c": "RateLimited",
    "err_131009_courier_d3c": "InvalidRequest",
    "err_1006_unknown_contact_courier_legacy": "InvalidRequest",
    "err_too_many_requests_courier_legacy": "RateLimited",
    "err_invalid_argument_pysdk": "InvalidRequest",
    "err_permission_denied_java": "PermissionDenied",
    "err_not_found_java": "InvalidRequest",
    "err_wrong_token_openapi": "AuthenticationError",
}


@pytest.mark.parametrize(("provider", "path"), _files("err_"))
def test_every_real_error_is_typed(provider: str, path: Path) -> None:
    status = _http_status(path.name)
    resp = HttpResponse.of(status, {"content-type": "application/json"}, path.read_bytes())
    with pytest.raises(gw_errors.ProviderError) as info:
        _adapter(provider).parse_send_response(resp)
    exc = info.value
    assert exc.provider == provider
    expected = ERROR_CLASSES.get(path.stem)
    if expected is not None:
        assert type(exc).__name__ == expected, exc
    code = re.match(r"err_(\d+)_", path.name)
    if code:
        assert exc.code == int(code.group(1))


def _one(provider: str, name: str) -> Any:
    events = _parse(provider, REALWORLD / provider / f"{name}.json")
    assert len(events) == 1, events
    return events[0]


def test_a_username_users_flow_completion_is_a_flow_completion() -> None:
    # Meta: "from" empty, "from_user_id" set (DERIVED from pywa's completion with the
    # documented username changes): never a payload error refusing the batch.
    done = _one("meta_cloud", "derived_flow_completion_username_user")
    assert isinstance(done, FlowCompleted)
    assert (done.user.phone, done.user.user_id) == (None, "IL.13491208655302741918")
    assert done.user.username == "testname"  # published as "@testname"
    assert done.flow_token == "AQAAAAACS5FpgQ_cAAAAAD0QI3s."
    assert done.business_id == "1122334455667"


@pytest.mark.parametrize(
    ("name", "phone"),
    [
        ("wh_status_delivered_to_bsuid_metadocs", None),
        ("wh_status_delivered_username_phone_metadocs", "+16505551234"),
    ],
)
def test_statuses_of_username_users_name_them(name: str, phone: str | None) -> None:
    status = _one("meta_cloud", name)
    assert isinstance(status, MessageStatus)
    assert status.user.phone == phone
    assert status.user.user_id == (
        "user.9373795779eb6441c8adb2eaee5b848e7dd174ddd302d7db62142f4722d574b6"
    )
    assert status.user.username == "pablomorales"
    assert status.business_id == "106540352242922"


@pytest.mark.parametrize(
    ("provider", "name", "old", "new"),
    [
        ("meta_cloud", "wh_msg_system_number_change_pywa", "+972987654321", "+972912345678"),
        (
            "dialog360_onprem",
            "wh_msg_system_number_change_onprem_docs",
            "+16315558889",
            "+16315558890",
        ),
    ],
)
def test_number_changes_are_identity_changes(provider: str, name: str, old: str, new: str) -> None:
    change = _one(provider, name)
    assert isinstance(change, UserIdentityChanged)
    assert (change.change, change.previous.phone, change.user.phone) == ("number", old, new)


@pytest.mark.parametrize(
    ("provider", "name", "cls", "words"),
    [
        ("meta_cloud", "wh_status_failed_131047_zammad", "ServiceWindowClosed", "24 hours"),
        ("meta_cloud", "wh_status_failed_130472_kairon", "RecipientUnreachable", "experiment"),
        ("meta_cloud", "wh_status_failed_131026_restfb_issue", "RecipientUnreachable", "Undeliv"),
        ("meta_cloud", "wh_status_failed_131031_jaspers_issue", "PermissionDenied", "locked"),
        (
            "dialog360_onprem",
            "wh_status_failed_470_onprem_docs",
            "ServiceWindowClosed",
            "outside the support window",
        ),
        ("sinch", "wh_delivery_failed_outside_window_docs", "ServiceWindowClosed", "24 hours"),
        ("onemsg", "wh_ack_failed_experiment_ebor94", "RecipientUnreachable", "experiment"),
    ],
)
def test_failed_statuses_keep_their_words_and_read_like_failed_sends(
    provider: str, name: str, cls: str, words: str
) -> None:
    status = _one(provider, name)
    assert isinstance(status, MessageStatus)
    assert status.status == "failed"
    [error] = status.errors
    assert error.error_class is getattr(gw_errors, cls)
    assert words in " ".join(t for t in (error.title, error.message, error.details) if t)


def test_a_1msg_failed_ack_names_the_user_by_its_bsuid() -> None:
    ack = _one("onemsg", "wh_ack_failed_experiment_ebor94")
    assert (ack.user.phone, ack.user.user_id) == (None, "CO....")  # "<X>" is no phone
    assert ack.errors[0].code == 130472  # the code Meta gives these words


def test_sinch_callbacks_without_event_time_keep_a_timestamp() -> None:
    status = _one("sinch", "wh_delivery_read_whatsapp_sinchdocs")
    assert isinstance(status, MessageStatus)
    assert status.timestamp is not None
    assert status.timestamp.isoformat().startswith("2020-06-22T11:05:53")  # accepted_time
    assert status.user.phone == "+46702471483"


def test_a_send_to_a_bsuid_answers_with_its_user_id() -> None:
    path = REALWORLD / "meta_cloud" / "send_ok_bsuid_metadocs.json"
    resp = HttpResponse.of(200, {}, path.read_bytes())
    receipt = _adapter("meta_cloud").parse_send_response(resp)
    assert receipt.user.phone is None  # "wa_id": "" is absent
    assert receipt.user.user_id is not None
    assert receipt.user.user_id.startswith("user.93737957")


def test_unknown_content_is_passed_on() -> None:
    events = _parse("meta_cloud", REALWORLD / "meta_cloud" / "wh_echo_text_pywa.json")
    assert events
    assert all(isinstance(e, UnhandledEvent) for e in events)
