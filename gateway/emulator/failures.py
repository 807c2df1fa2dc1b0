"""Where each provider reports each failure the emulator can inject: one table, read by
the simulators, the control API, the tests and the README.

``response``: the send's own HTTP answer says it failed (nothing is sent). ``webhook``: the
send is accepted (200 and a message id) and the failure arrives later as the provider's
failed-status callback, with nothing else for that message (no delivered/read, no Flow
completion). ``slow`` and ``drop`` are connection faults, not provider reports: every
provider has them and they are not in the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Where = Literal["response", "webhook"]
WHERE: tuple[Where, ...] = ("response", "webhook")
Confidence = Literal["confirmed", "likely", "unconfirmed"]
TRANSPORT_FAULTS = ("slow", "drop")

_META_131047 = (
    "realworld meta_cloud/wh_status_failed_131047_zammad.json (a failed status); Meta's "
    "error-codes page: errors come 'synchronously …, asynchronously via Webhook, or "
    "sometimes through both'; Turn.io KB: 200 for messages outside the window"
)


@dataclass(frozen=True)
class FailureSite:
    """Where a provider reports one failure by default, and what the emulator emits."""

    where: Where
    emits: str
    source: str
    confidence: Confidence
    # The other place, when the emulator can also report it there (a per-provider setting).
    alternative: tuple[Where, str] | None = None

    @property
    def settable(self) -> tuple[Where, ...]:
        return (self.where,) + ((self.alternative[0],) if self.alternative else ())


FAILURE_LOCATIONS: Mapping[str, Mapping[str, FailureSite]] = {
    "meta_cloud": {
        "window_closed": FailureSite(
            "webhook",
            "200 + wamid, then one `failed` status: `errors[0].code` 131047 "
            '"Re-engagement message", no `contacts`',
            _META_131047,
            "likely",
            ("response", "400 Graph error 131047"),
        ),
        "rate_limit": FailureSite(
            "response",
            "429 Graph error 130429 + `Retry-After`",
            "reference/providers.md §1.6, §1.8; realworld meta_cloud/err_130429_metadocs.json",
            "confirmed",
        ),
        "server_error": FailureSite(
            "response",
            "503 Graph error 2 (service temporarily unavailable)",
            "reference/providers.md §1.6 (1, 2, 131000: retry); "
            "realworld meta_cloud/err_131000_tawn33y_issue.json",
            "likely",
        ),
    },
    "dialog360_cloud": {
        "window_closed": FailureSite(
            "webhook",
            "as Meta: 200 + wamid, then one `failed` status with 131047",
            "reference/providers.md §2 (Meta's payloads, un-wrapped); "
            "realworld dialog360_cloud/wh_status_failed_131014_courier_d3c.json",
            "likely",
            ("response", "400 Graph error 131047"),
        ),
        "rate_limit": FailureSite(
            "response",
            "429 Graph error 130429 + `Retry-After`",
            "reference/providers.md §2; realworld dialog360_cloud/err_130429_courier_d3c.json",
            "confirmed",
        ),
        "server_error": FailureSite(
            "response",
            "503 `{meta: {success: false, http_code: 503}}`",
            "reference/providers.md §2 (360dialog error shapes)",
            "likely",
        ),
    },
    "dialog360_onprem": {
        "window_closed": FailureSite(
            "webhook",
            "200 + id, then one flat `failed` status: `errors[0].code` 470",
            "reference/providers.md §3 (470 = Cloud 131047); "
            "realworld dialog360_onprem/wh_status_failed_470_onprem_docs.json",
            "confirmed",
            ("response", "400 `errors[0].code` 470"),
        ),
        "rate_limit": FailureSite(
            "response",
            "429 `errors[0].code` 1015 + `Retry-After`",
            "reference/providers.md §3 (429, 1015); "
            "realworld dialog360_onprem/err_too_many_requests_courier_legacy.json",
            "likely",
        ),
        "server_error": FailureSite(
            "response",
            "500 `errors[0].code` 1014",
            "reference/providers.md §3 (1014 internal error)",
            "likely",
        ),
    },
    "sinch": {
        "window_closed": FailureSite(
            "webhook",
            "200 + message_id, then MESSAGE_DELIVERY `FAILED`, `reason.code` "
            "OUTSIDE_ALLOWED_SENDING_WINDOW, `channel_code` 131047",
            "reference/providers.md §4.5; "
            "realworld sinch/wh_delivery_failed_outside_window_docs.json",
            "confirmed",
        ),
        "rate_limit": FailureSite(
            "response",
            "429 `RESOURCE_EXHAUSTED` + `Retry-After`",
            "reference/providers.md §4.4",
            "likely",
        ),
        "server_error": FailureSite(
            "response",
            "503 `UNAVAILABLE`",
            "reference/providers.md §4.4 (500/501/503: retry)",
            "likely",
        ),
        "expire_token": FailureSite(
            "response",
            '401 `UNAUTHENTICATED`, `www-authenticate: …"expired"`; the token is revoked',
            "reference/providers.md §4.1 (the SDK refreshes once on 401 expired)",
            "confirmed",
        ),
    },
    "onemsg": {
        "window_closed": FailureSite(
            "response",
            '400 `{"message": "Dialog window is closed"}` (1msg checks the window itself)',
            "1msg's own client (github.com/1msg/1msg-n8n-nodes utils/errors.ts, "
            "test/waba.test.js: 400 'Dialog window is closed'); 1msg OpenAPI: sendFlow "
            "'Only if the dialogue has an Open Session'",
            "likely",
            (
                "webhook",
                '200 `sent: true` + id, then one `ack` with status "failed" and an `error` '
                'text "Re-engagement message: …" (should Meta refuse it later; realworld '
                "onemsg/wh_ack_failed_experiment_ebor94.json shows failed acks carry Meta's "
                "words)",
            ),
        ),
        "rate_limit": FailureSite(
            "response",
            '429 `{"error"}` + `Retry-After`',
            "reference/providers.md §5.5",
            "confirmed",
        ),
        "server_error": FailureSite(
            "response",
            '500 `{"error"}`',
            "reference/providers.md §5.2, §5.5 (500 `ErrorResponse`)",
            "confirmed",
        ),
    },
}


def failure_table_markdown() -> str:
    """The README table: one row per provider and fault, from :data:`FAILURE_LOCATIONS`."""
    rows = [
        "| provider | fault | reported in (default) | what the emulator emits | "
        "other setting | source / confidence |",
        "|---|---|---|---|---|---|",
    ]
    for provider, faults in FAILURE_LOCATIONS.items():
        for fault, site in faults.items():
            other = f"`{site.alternative[0]}`: {site.alternative[1]}" if site.alternative else "—"
            rows.append(
                f"| `{provider}` | `{fault}` | `{site.where}` | {site.emits} | {other} | "
                f"{site.source} — **{site.confidence}** |"
            )
    return "\n".join(rows) + "\n"
