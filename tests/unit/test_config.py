"""Config loading, ${VAR} interpolation, routing and the registry."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
import respx

import providers
from gateway import ConfigError, FlowMessage, Gateway, UnsupportedFeature
from gateway.config import load_config, parse_config
from providers import adapter_names, get_adapter
from providers.meta_cloud import MetaCloudAdapter
from tests.conftest import META_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_ENV = {
    "META_PHONE_NUMBER_ID": "111",
    "META_GLOBAL_PHONE_NUMBER_ID": "111",
    "META_BR_PHONE_NUMBER_ID": "555",
    "META_WABA_ID": "999",
    "META_ACCESS_TOKEN": "tok-abcdef",
    "META_APP_SECRET": "sec-abcdef",
    "META_VERIFY_TOKEN": "ver-abcdef",
    "D360_API_KEY": "d360-abcdef",
    "D360_BR_API_KEY": "d360-br-abcdef",
    "D360_WEBHOOK_SECRET": "Basic abcdef",
    "D360_TEMPLATE_NAMESPACE": "ns_abcdef",
    "ONEMSG_INSTANCE_ID": "inst1",
    "ONEMSG_TOKEN": "onemsg-abcdef",
    "ONEMSG_TEMPLATE_NAMESPACE": "ns_abcdef",
    "ONEMSG_WEBHOOK_TOKEN": "hook-abcdef",
    "SINCH_PROJECT_ID": "proj",
    "SINCH_APP_ID": "app",
    "SINCH_KEY_ID": "kid",
    "SINCH_KEY_SECRET": "ksecret-abcdef",
    "SINCH_WEBHOOK_SECRET": "whsecret-abcdef",
}


def _msg(to: str, **kw: Any) -> FlowMessage:
    return FlowMessage(to=to, flow_id="1", flow_cta="Go", body="b", screen="S", **kw)


@pytest.mark.parametrize(
    "name", ["gateway.toml", "examples/meta_cloud.toml", "examples/routing.toml"]
)
def test_shipped_configs_load(name: str) -> None:
    gw = Gateway.from_config(ROOT / "config" / name, env=EXAMPLE_ENV)
    assert gw.senders
    gw.close()


def test_interpolation_and_fallback() -> None:
    cfg = load_config(ROOT / "config" / "gateway.toml", env={"META_ACCESS_TOKEN": "from-env"})
    meta = cfg.senders["meta"]
    assert meta["access_token"] == "from-env"
    assert meta["base_url"] == "http://127.0.0.1:8580/meta_cloud"


def test_missing_variable_names_key_and_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(ROOT / "config" / "examples" / "meta_cloud.toml", env={})
    assert info.value.key == "senders.main.phone_number_id"
    assert "META_PHONE_NUMBER_ID" in str(info.value)


@pytest.mark.parametrize(
    ("data", "key", "fragment"),
    [
        ({"senders": {}}, "senders", "at least one"),
        ({"senders": {"a": {"phone_number_id": "1"}}}, "senders", "provider"),
        (
            {"senders": {"a": {"provider": "meta_cloud"}}, "gateway": {"default_sender": "b"}},
            "",
            "default_sender",
        ),
        (
            {"senders": {"a": {"provider": "x"}}, "routes": [{"to_prefix": "+1", "sender": "zz"}]},
            "",
            "routes[0]",
        ),
        (
            {"senders": {"a": {"provider": "x"}}, "gateway": {"retry": {"max_attempts": 0}}},
            "gateway.retry.max_attempts",
            "",
        ),
        ({"senders": {"a": {"provider": "x"}}, "extra": 1}, "extra", "unknown key"),
    ],
)
def test_structural_errors_name_the_key(data: dict[str, Any], key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data, env={})
    assert info.value.key == key
    assert fragment in str(info.value)


def test_sender_settings_are_checked_by_the_adapter() -> None:
    base = {"provider": "meta_cloud", **META_SETTINGS}
    for bad, key in [
        ({**base, "phone_numbr_id": "1"}, "senders.m.phone_numbr_id"),
        ({k: v for k, v in base.items() if k != "access_token"}, "senders.m.access_token"),
        ({**base, "provider": "nope"}, "provider"),
    ]:
        with pytest.raises(ConfigError) as info:
            Gateway(parse_config({"senders": {"m": bad}}, env={}))
        assert info.value.key == key


def test_unknown_setting_lists_allowed_ones() -> None:
    with pytest.raises(ConfigError, match=r"allowed: .*phone_number_id"):
        get_adapter("meta_cloud", **META_SETTINGS, colour="red")


def test_routing_first_match_then_default_then_explicit() -> None:
    gw = Gateway.from_config(ROOT / "config" / "examples" / "routing.toml", env=EXAMPLE_ENV)
    core = gw._core
    assert core.router.sender_for(_msg("+5511999990000")) == "br"
    assert core.router.sender_for(_msg("5511999990000")) == "br"  # plus is optional
    assert core.router.sender_for(_msg("+351912345678")) == "br"
    assert core.router.sender_for(_msg("+14155550100")) == "global"
    assert core.router.sender_for(_msg("+4915112345678")) == "eu"
    assert gw.senders["eu"].provider == "onemsg"
    assert core.router.sender_for(_msg("+46732001122")) == "nordics"
    assert gw.senders["nordics"].tokens is not None  # OAuth: the gateway caches its token
    assert core.router.sender_for(_msg("+5511999990000", sender="global")) == "global"
    assert gw.build_send(_msg("+5511999990000")).url == "https://waba-v2.360dialog.io/messages"
    assert "/111/messages" in gw.build_send(_msg("+14155550100")).url
    with pytest.raises(ConfigError, match="no such sender"):
        gw.build_send(_msg("+14155550100", sender="nope"))
    gw.close()


def test_no_default_and_no_route_is_a_clear_error() -> None:
    meta = {"provider": "meta_cloud", **META_SETTINGS}
    data = {"senders": {"a": meta, "b": meta}, "routes": [{"to_prefix": "+55", "sender": "b"}]}
    gw = Gateway(parse_config(data, env={}))
    assert gw.build_send(_msg("+5511999990000")).url.endswith("/messages")
    with pytest.raises(ConfigError, match="no route matches"):
        gw.build_send(_msg("+14155550100"))
    gw.close()


def test_registry_lists_and_loads_lazily() -> None:
    assert "meta_cloud" in adapter_names()
    assert isinstance(get_adapter("meta_cloud", **META_SETTINGS), MetaCloudAdapter)
    with pytest.raises(ConfigError, match="unknown provider 'nope'"):
        get_adapter("nope")


class _NoFlowName(MetaCloudAdapter):
    name = "limited"
    capabilities = frozenset({"flow_id", "template_send"})


def test_entry_point_plugins_are_discovered(monkeypatch: pytest.MonkeyPatch) -> None:
    ep = EntryPoint(
        name="limited", value=f"{__name__}:_NoFlowName", group=providers.ENTRY_POINT_GROUP
    )
    bogus = EntryPoint(
        name="bogus", value=f"{__name__}:EXAMPLE_ENV", group=providers.ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(providers, "entry_points", lambda group: [ep, bogus])
    monkeypatch.setattr(providers, "_loaded", {})
    assert {"limited", "bogus", "meta_cloud"} <= set(adapter_names())
    adapter = get_adapter("limited", **META_SETTINGS)
    assert isinstance(adapter, _NoFlowName)
    with pytest.raises(ConfigError, match="not an Adapter"):
        get_adapter("bogus")


def test_unsupported_feature_raised_before_any_request() -> None:
    gw = Gateway({"main": _NoFlowName.from_settings(**META_SETTINGS)})
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route()
        with pytest.raises(UnsupportedFeature) as info:
            gw.send(
                FlowMessage(to="+14155550100", flow_name="n", flow_cta="Go", body="b", screen="S")
            )
        with pytest.raises(UnsupportedFeature, match="draft_mode"):
            gw.send(_msg("+14155550100", mode="draft"))
    assert route.call_count == 0
    assert (info.value.provider, info.value.feature) == ("limited", "flow_name")
    gw.close()


def test_create_template_without_waba_id_names_the_setting() -> None:
    settings = {k: v for k, v in META_SETTINGS.items() if k != "waba_id"}
    from gateway import FlowTemplate

    tpl = FlowTemplate(
        name="t",
        language="en_US",
        category="MARKETING",
        body="b",
        button_text="Go",
        flow_id="1",
        navigate_screen="S",
    )
    with pytest.raises(ConfigError, match="waba_id"):
        get_adapter("meta_cloud", **settings).build_create_template(tpl)


# -- hostile files and paths (issue 13): a ConfigError naming the problem, no traceback --

MINIMAL = '[senders.main]\nprovider = "meta_cloud"\n'


def _load_text(tmp_path: Path, text: str | bytes) -> ConfigError:
    path = tmp_path / "gateway.toml"
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    return info.value


@pytest.mark.parametrize(
    "extra",
    [
        "a = " + "[" * 2000 + "]" * 2000,  # tomllib itself recurses
        "a = " + "{a=" * 2000 + "1" + "}" * 2000,
    ],
    ids=["arrays", "inline tables"],
)
def test_toml_nested_past_the_parser_is_a_config_error(tmp_path: Path, extra: str) -> None:
    err = _load_text(tmp_path, f"{MINIMAL}[x]\n{extra}\n")
    assert err.key == str(tmp_path / "gateway.toml")
    assert "nested too deeply" in err.problem


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        # The first table 33 levels down is named (this one is in [senders.main]).
        (".".join(["a"] * 3000) + " = 1", "senders.main." + ".".join(["a"] * 31)),
        ("[" + ".".join(["t"] * 3000) + "]", ".".join(["t"] * 33)),
        ("a = " + "[" * 40 + "]" * 40, "senders.main.a" + "[0]" * 30),
    ],
    ids=["dotted key", "table header", "arrays"],
)
def test_deep_tables_name_the_key(tmp_path: Path, extra: str, key: str) -> None:
    """tomllib reads dotted keys without recursion; what comes after would overflow."""
    err = _load_text(tmp_path, f"{MINIMAL}{extra}\n")
    assert err.key == key
    assert "nested deeper than 32 levels" in err.problem


def test_an_integer_past_pythons_digit_limit(tmp_path: Path) -> None:
    err = _load_text(tmp_path, f"{MINIMAL}throughput = {'9' * 5000}\n")
    assert "invalid TOML" in err.problem


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    err = _load_text(tmp_path, b"\xff\xfe" + MINIMAL.encode())
    assert err.problem == "not UTF-8 text (byte 0)"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "is a directory"),
        ("a\x00b.toml", "embedded null byte"),
        ("a" * 300 + ".toml", "File name too long"),
        ("\ud800.toml", "surrogates not allowed"),
    ],
    ids=["directory", "NUL", "too long", "lone surrogate"],
)
def test_config_paths_that_cannot_be_read(tmp_path: Path, name: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(f"{tmp_path}/{name}", env={})
    assert problem in info.value.problem


@pytest.mark.parametrize(
    ("inbox", "problem"),
    [
        ("{tmp}", "is a directory"),
        ("", "must name a file"),
        ("  ", "must name a file"),
        ("a\\u0000b", "NUL"),
        ("{tmp}/" + "a" * 300, "File name too long"),
    ],
    ids=["a directory", "empty", "blank", "NUL", "too long"],
)
def test_an_inbox_the_receiver_could_not_open(tmp_path: Path, inbox: str, problem: str) -> None:
    text = f'{MINIMAL}[receiver]\ninbox = "{inbox.format(tmp=tmp_path)}"\n'
    err = _load_text(tmp_path, text)
    assert err.key == "receiver.inbox"
    assert problem.format(tmp=tmp_path) in err.problem


@pytest.mark.parametrize("where", ["inbox.db", "not-yet/inbox.db"])
def test_an_inbox_loads_whether_or_not_its_directory_exists_yet(tmp_path: Path, where: str) -> None:
    # a config shared by senders on hosts without the directory; the receiver creates it
    path = tmp_path / "gateway.toml"
    path.write_text(f'{MINIMAL}[receiver]\ninbox = "{tmp_path}/{where}"\n')
    assert load_config(path, env={}).receiver.inbox == f"{tmp_path}/{where}"
