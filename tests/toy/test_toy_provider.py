"""A sixth provider from the kit alone: proof that adding one touches only its own files.

The toy (this folder: ``adapter.py``, ``sim.py``, ``kit.py`` and its documented payloads)
is registered the documented way, through the ``flowgateway.providers`` and
``flowgateway.emulators`` entry-point groups of an installed distribution (a
``.dist-info`` written here, as ``pip install`` would), and its folder is handed to the
kit discovery (``$FLOWGATEWAY_KITS``). The shared suites then run, unchanged, in a fresh
interpreter: they must pick the toy up and pass it like the other five.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from providers import adapter_names
from tests.kits import KITS, KITS_ENV

ROOT = Path(__file__).resolve().parents[2]
TOY = Path(__file__).resolve().parent
ENTRY_POINTS = """\
[flowgateway.providers]
toy = tests.toy.adapter:ToyAdapter

[flowgateway.emulators]
toy = tests.toy.sim:ToySim
"""
SUITES = [
    "tests/contract/test_conformance.py",
    "tests/contract/test_conformance_identity.py",
    "tests/contract/test_contract.py",
    "tests/contract/test_robustness.py",
    "tests/unit/test_capabilities.py",
    "tests/unit/test_emulator.py",
    "tests/unit/test_emulator_failures.py",
    "tests/unit/test_hostile_input.py",
    "tests/unit/test_log_secrets.py",
    "tests/e2e/test_emulator_e2e.py",
    "tests/e2e/test_receiver.py",
    "tests/fuzz/test_webhooks.py",
    "tests/fuzz/test_responses.py",
]
# Every test parametrized with the toy, and the ones that loop over all providers.
ACROSS_PROVIDERS = {
    "test_every_registered_adapter_is_under_conformance",  # the registry and the kits agree
    "test_one_flow_completes_identically_everywhere",  # the same FlowCompleted as the others
    "test_only_providers_whose_api_predates_bsuids_cannot_reach_one",
    "test_every_provider_is_emulated",  # a simulator per registered adapter
    "test_the_table_covers_every_provider_and_fault",
    "test_sends_through_every_provider_log_no_secret",
}
FOR_THE_TOY = {
    # builds, and sends through both gateways (HTTP mocked)
    "test_adapter_declares_itself",
    "test_same_message_through_every_adapter",
    "test_outbound_body_matches_documented_request",
    "test_outbound_through_gateway",
    "test_declared_if_and_only_if_it_works",
    # reads its failures as typed errors
    "test_http_failures_read_alike",
    "test_error_body_maps_to_taxonomy",
    "test_error_through_gateway_retries_only_retryable",
    "test_a_closed_window_reads_like_the_failed_send",
    # its callbacks: authenticated, normalized, hostile ones refused
    "test_a_delivered_status_names_the_user_alike",
    "test_webhook_normalizes",
    "test_authentic_webhook_through_gateway",
    "test_forged_webhook_is_rejected",
    "test_unauthenticated_callbacks_are_refused",
    "test_malformed_callbacks_are_payload_errors",
    "test_webhook_junk_never_crashes",
    "test_response_junk_never_crashes",
    "test_parse_webhook_gives_events_or_payload_error",
    "test_parse_send_response_gives_receipt_or_provider_error",
    "test_documented_callbacks_stored_once",
    "test_forged_callbacks_are_401_and_store_nothing",
    # against its emulator simulator, over real HTTP, sync and async
    "test_window_closed_is_accepted_then_reported_by_webhook",
    "test_sync_round_trip",
    "test_async_round_trip",
    "test_transient_faults_are_retried",
    "test_transient_faults_exhaust_into_typed_errors",
    "test_ambiguous_faults_are_reported_not_resent",
    "test_a_closed_window_is_reported_where_the_provider_reports_it",
    "test_emulator_rejects_a_misspelled_field",
}
RESULT = re.compile(r"^\S+::(\w+)(\[[^\]]*\])? (PASSED|FAILED|ERROR|SKIPPED)", re.MULTILINE)


def test_the_toy_is_not_registered_unless_installed() -> None:
    assert "toy" not in adapter_names()
    assert "toy" not in KITS


def test_a_sixth_provider_passes_the_shared_suites(tmp_path: Path) -> None:
    dist = tmp_path / "flowgateway_toy-0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: flowgateway-toy\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        KITS_ENV: str(TOY),
    }
    select = " or ".join(["toy", *sorted(ACROSS_PROVIDERS)])
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", "-v"]
    run = subprocess.run(  # noqa: S603 - our own interpreter and test files
        [*cmd, "-k", select, *SUITES], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    out = run.stdout + run.stderr
    results = RESULT.findall(out)
    bad = [f"{name}{params}: {status}" for name, params, status in results if status != "PASSED"]
    assert not bad, "\n".join(bad)
    assert run.returncode == 0, out[-3000:]
    toy = {name for name, params, _ in results if re.search(r"\btoy\b", params)}
    assert not FOR_THE_TOY - toy, "not run for the toy"
    assert not ACROSS_PROVIDERS - {name for name, _, _ in results}, "not run"
