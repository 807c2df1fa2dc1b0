"""Test endpoints (``FlowEndpoint``) for Meta's published example Flows, written here.

Each answers exactly the data its Flow's screens declare (the Flow JSON is read in place
from the shared real-world corpus; tests/realworld.py, ``SOURCES.md`` there cites it):

- ``loan``: Meta's "Pre-approved loan" template (meta_docs_pre_approved_loan.json, copy of
  https://developers.facebook.com/docs/whatsapp/flows/gettingstarted/pre-approved-loan/).
- ``greet`` (``greeter()`` for one with another answer): our own ``greet.json``.
- ``offer``: Meta's "Personalised offer" template (meta_docs_personalised_offer.json, copy of
  https://developers.facebook.com/docs/whatsapp/flows/gettingstarted/personalised-offer/).

Importable as ``tests.flowjson.player.endpoints:loan`` for ``flowgateway flows play --app``.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization

from gateway.endpoint import FlowEndpoint, FlowRequest, complete, load_private_key, next_screen
from tests.endpoint.whatsapp import FIXTURES, PASSPHRASE

KEY = load_private_key((FIXTURES / "private.pem").read_bytes(), PASSPHRASE)
PUBLIC_PEM = KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def _items(*pairs: str) -> list[dict[str, str]]:
    return [{"id": pairs[i], "title": pairs[i + 1]} for i in range(0, len(pairs), 2)]


# -- the pre-approved loan ----------------------------------------------------------------

loan = FlowEndpoint(KEY)
AMOUNTS = {"amount1": "₹ 7,20,000", "amount2": "₹ 3,20,000"}
TENURES = {"months12": "12 months", "months24": "24 months", "months36": "36 months"}


def _loan_screen(amount: str, tenure: str) -> dict[str, Any]:
    months = int(tenure.removeprefix("months"))
    emi = f"₹ {int(AMOUNTS[amount].replace('₹ ', '').replace(',', '')) // months:,}"
    return next_screen(
        "LOAN",
        {
            "amount": _items(*[x for kv in AMOUNTS.items() for x in kv]),
            "tenure": _items(*[x for kv in TENURES.items() for x in kv]),
            "emi": emi,
            "rate": "9% pa",
            "fee": "500",
            "selected_amount": amount,
            "selected_tenure": tenure,
        },
    )


@loan.on_init
def _loan_init(request: FlowRequest) -> dict[str, Any]:
    return _loan_screen("amount1", "months12")


@loan.on_data_exchange("LOAN")
def _loan_change(request: FlowRequest) -> dict[str, Any]:
    amount = request.data.get("amount") or "amount1"
    tenure = request.data.get("tenure") or "months12"
    if "emi" not in request.data:  # a dropdown changed: recompute the offer
        return _loan_screen(amount, tenure)
    return next_screen(
        "DETAILS",
        {
            "is_upi": False,
            "is_account": False,
            "emi": request.data["emi"],
            "tenure": TENURES[tenure],
            "amount": AMOUNTS[amount],
        },
    )


@loan.on_data_exchange("DETAILS")
def _loan_details(request: FlowRequest) -> dict[str, Any]:
    data = request.data
    if "payment_mode" in data:  # the radio's on-select-action: show the matching inputs
        upi = data["payment_mode"] == "UPI"
        return next_screen(
            "DETAILS", {"is_upi": upi, "is_account": not upi, "emi": "", "tenure": "", "amount": ""}
        )
    mode = (
        f"UPI {data['upi_id']}" if data.get("upi_id") else f"account {data.get('account_number')}"
    )
    return next_screen(
        "SUMMARY",
        {
            "amount": data.get("amount", ""),
            "tenure": data.get("tenure", ""),
            "rate": "9% pa",
            "emi": data.get("emi", ""),
            "fee": "₹ 500",
            "payment_mode": f"Transfer to {mode}",
        },
    )


@loan.on_data_exchange("SUMMARY")
def _loan_summary(request: FlowRequest) -> dict[str, Any]:
    return next_screen("COMPLETE", {})


# -- the personalised offer ---------------------------------------------------------------

offer = FlowEndpoint(KEY)


@offer.on_init
def _offer_init(request: FlowRequest) -> dict[str, Any]:
    return next_screen(
        "PRODUCT_SELECTOR", {"products": _items("phone", "Mobile phone", "tv", "TV")}
    )


@offer.on_data_exchange("PRODUCT_SELECTOR")
def _offer_options(request: FlowRequest) -> dict[str, Any]:
    phone = request.data.get("product_selection") == "phone"
    return next_screen(
        "OPTIONS",
        {
            "selected_product": request.data.get("product_selection", ""),
            "cta_label": "See offers",
            "screen_heading": "Tell us what you like",
            "phone_use_case": phone,
            "preferred_brands": _items("acme", "Acme", "globex", "Globex"),
            "phone_uses": _items("photos", "Photos", "games", "Games"),
            "phone_sim": _items("dual", "Dual SIM", "single", "Single SIM"),
            "preferred_budget": _items("low", "Under 300", "high", "300 and more"),
        },
    )


@offer.on_data_exchange("OPTIONS")
def _offer_devices(request: FlowRequest) -> dict[str, Any]:
    return next_screen(
        "OFFER",
        {
            "selected_product": request.data.get("selected_product", ""),
            "offer_label": "Our picks for you",
            "shortlisted_devices": _items("acme_x", "Acme X", "globex_9", "Globex 9"),
        },
    )


@offer.on_data_exchange("OFFER")
def _offer_detail(request: FlowRequest) -> dict[str, Any]:
    device = request.data.get("device", "")
    return next_screen(
        "PRODUCT_DETAIL",
        {
            "selected_device": device,
            "image_src": "",
            "product_name": device.upper(),
            "product_properties": "6.1 inch",
            "detail_1": "128 GB",
            "detail_2": "Black",
        },
    )


# -- faults (each finding kind the endpoint can cause) ----------------------------------------

faulty = FlowEndpoint(KEY)


@faulty.on_init
def _faulty_init(request: FlowRequest) -> dict[str, Any]:
    return complete(request.flow_token, via="init")


# -- our greet.json ---------------------------------------------------------------------

GREET_DATA = {"greeting": "Hi", "count": 2, "vip": False}


def greeter(answer: dict[str, Any] | None = None) -> FlowEndpoint:
    """ASK's data_exchange answers GREET (or ``answer``); BACK from GREET answers ASK."""
    endpoint = FlowEndpoint(KEY)

    @endpoint.on_data_exchange("ASK")
    def ask(request: FlowRequest) -> dict[str, Any]:
        return answer if answer is not None else next_screen("GREET", GREET_DATA)

    @endpoint.on_back("GREET")
    def back(request: FlowRequest) -> dict[str, Any]:
        return next_screen("ASK", {"heading": "Welcome back"})

    return endpoint


greet = greeter()
