"""``load_config`` fuzzed: a GatewayConfig, or ConfigError — never a traceback.

Files: the shipped configs with one value replaced by a hostile TOML fragment (arrays or
inline tables 1500 levels deep, 5000-digit integers, nan, impossible dates, strings with
``${VAR}`` and escapes), 3000-level dotted keys and table headers appended, a
``[receiver] inbox`` path that cannot be used, invalid UTF-8, or any text. Paths: any
name, under a directory that exists (NUL, lone surrogates, 300 characters, a directory).
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from gateway.config import GatewayConfig, load_config
from gateway.errors import ConfigError
from tests.fuzz.strategies import CHARS, DEPTHS, default_stack, texts

ROOT = Path(__file__).resolve().parents[2]
BASES = [p.read_text() for p in sorted((ROOT / "config").rglob("*.toml"))]
ENV = {name: "value" for text in BASES for name in re.findall(r"\$\{(\w+)", text)}
_VALUE = re.compile(r"^(\s*[\w.\"-]+\s*=\s*)(.+)$", re.MULTILINE)


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'


FRAGMENTS = st.one_of(
    st.builds(lambda n: "[" * n + "]" * n, DEPTHS),
    st.builds(lambda n: "{a=" * n + "1" + "}" * n, DEPTHS),
    st.sampled_from(["9" * 5000, "nan", "-inf", "1e999", "1979-02-30", "0x", '"\\ud800"', "[1,"]),
    st.sampled_from(['"${UNSET}"', '"${UNSET:-}"', '"${"', '"$${X}"', '"${1}"', "''"]),
    texts().map(_toml_string),
    st.integers().map(str),
    st.booleans().map(str).map(str.lower),
)
WORK = Path(tempfile.mkdtemp(prefix="fuzz-config-"))
atexit.register(shutil.rmtree, WORK, True)
UNUSABLE = [str(WORK), "", "a\x00b", str(WORK / ("a" * 300))]
APPENDED = st.one_of(
    st.builds(lambda n: "\n" + ".".join(["a"] * n) + " = 1\n", DEPTHS),
    st.builds(lambda n: "\n[" + ".".join(["t"] * n) + "]\n", DEPTHS),
    st.builds(
        lambda p: f"\n[receiver]\ninbox = {_toml_string(p)}\n",
        st.one_of(texts(), st.sampled_from(UNUSABLE)),
    ),
    st.just(""),
)


@st.composite
def _files(draw: st.DrawFn) -> bytes:
    text = draw(st.sampled_from(BASES))
    values = list(_VALUE.finditer(text))
    for _ in range(draw(st.integers(0, 2))):
        m = draw(st.sampled_from(values))
        text = text.replace(m.group(0), m.group(1) + draw(FRAGMENTS), 1)
    text += draw(APPENDED)
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:
        raw = draw(st.sampled_from([b"\xff", b"\xef\xbb\xbf", b"\x00", b"\xed\xa0\x80"])) + raw
    return raw


def _load(path: str | Path) -> None:
    refused: ConfigError | None = None
    with default_stack():
        try:
            config = load_config(path, env=ENV)
        except ConfigError as exc:
            refused = exc
    if refused is None:
        assert isinstance(config, GatewayConfig)
    else:
        assert isinstance(refused.key, str)
        assert str(refused)


@given(raw=st.one_of(_files(), st.binary(max_size=64), st.text(CHARS).map(str.encode)))
def test_any_file_loads_or_names_the_problem(raw: bytes) -> None:
    path = WORK / "gateway.toml"
    path.write_bytes(raw)
    _load(path)


@given(name=st.one_of(texts(), st.just("a" * 300), st.just("")))
def test_any_path_loads_or_names_the_problem(name: str) -> None:
    _load(f"{WORK}/{name}")
