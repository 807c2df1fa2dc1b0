"""``flowgateway flows play`` and ``flows preview``: a Flow JSON walked offline, by a
scripted user or by you in a local web page.

``play`` prints the walk as a transcript (``--json``: the whole :class:`PlayResult`);
exit 0 when the Flow completes without a finding, 1 on findings, 2 for bad input.
``preview`` serves :mod:`gateway.preview` on loopback until Ctrl-C. The endpoint, if the
Flow has one, is an in-process ``FlowEndpoint`` (``--app module:attribute``) or a URL
with the business public key (``--endpoint URL --public-key PEM``).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from gateway.extras import require


def add_parser(flows_sub: Any) -> None:
    """Register ``play`` under ``flowgateway flows``."""
    p = flows_sub.add_parser("play", help="walk a Flow offline with scripted answers")
    p.add_argument("file", type=Path, metavar="FLOW.json", help="Flow JSON file")
    p.add_argument(
        "--answers",
        type=Path,
        required=True,
        metavar="ANSWERS.json",
        help='{screen_id: {field: value, "_action": "footer|<name>|back"}}',
    )
    p.add_argument(
        "--token",
        "--flow-token",
        dest="token",
        default=None,
        help="the flow_token (default: a fixed test token)",
    )
    _endpoint_arguments(p)
    p.add_argument(
        "--data",
        metavar="JSON|@FILE",
        help="the first screen's data (default: the script's _data, else its __example__s)",
    )
    p.add_argument("--screen", help="the first screen (default: the script's _screen)")
    p.add_argument("--init", action="store_true", help=_INIT_HELP)
    p.add_argument("--json", action="store_true", help="the whole result as JSON")


def add_preview_parser(flows_sub: Any) -> Any:
    """``flows preview``: a local FLOW.json in a page here, or (a FLOW_ID) Meta's web
    preview URL of a Flow at the provider; the caller adds the provider's options."""
    p = flows_sub.add_parser(
        "preview",
        help="click through FLOW.json in a local page, or get a FLOW_ID's web preview URL",
        description="With FLOW.json: serve a page on 127.0.0.1 that draws each screen and "
        "plays it as you click, endpoint exchanges included (Restart re-reads the file; no "
        "network needed). With a FLOW_ID: the provider's web preview URL.",
    )
    p.add_argument("flow_id", metavar="FLOW.json|FLOW_ID", help="a Flow JSON file, or a flow id")
    _endpoint_arguments(p)
    p.add_argument("--init", action="store_true", help=f"FLOW.json: {_INIT_HELP}")
    p.add_argument("--port", type=int, default=8765, help="FLOW.json: the port (0: a free one)")
    p.add_argument("--open", action="store_true", help="FLOW.json: open the page in a browser")
    return p


_INIT_HELP = "open with an INIT request to the endpoint (as flow_action data_exchange)"
LOCAL_ONLY = ("app", "endpoint", "public_key", "app_secret", "init", "open")


def is_local(target: str) -> bool:
    """Whether ``flows preview``'s argument names a Flow JSON file, not a flow id (a flow
    id has digits and no path separator: ``booking`` is a file whose ``.json`` was left
    off, and gets "no such file" rather than a provider's answer)."""
    path = Path(target)
    return (
        target.lower().endswith(".json")
        or path.is_file()
        or len(path.parts) > 1
        or not any(c.isdigit() for c in target)
    )


def _endpoint_arguments(p: Any) -> None:
    p.add_argument(
        "--app",
        metavar="MODULE[:ATTR]",
        help="an in-process FlowEndpoint (ATTR defaults to `endpoint`)",
    )
    p.add_argument("--endpoint", metavar="URL", help="the endpoint's URL")
    p.add_argument("--public-key", type=Path, metavar="PEM", help="the business public key")
    p.add_argument("--app-secret", help="sign requests with X-Hub-Signature-256")


def run(args: argparse.Namespace) -> int:
    from gateway.flowjson.player import DEFAULT_TOKEN, play

    try:
        flow = _read(args.file).decode("utf-8", "replace")
        answers = _json_object(_read(args.answers), str(args.answers))
        data = read_data(args.data)
        exchange = _exchange(args)
    except ValueError as exc:
        print(f"flowgateway flows play: {exc}", file=sys.stderr)
        return 2
    opening = {"_data": data, "_screen": args.screen, "_init": args.init or None}
    answers.update({k: v for k, v in opening.items() if v is not None})
    result = play(flow, answers, exchange=exchange, flow_token=args.token or DEFAULT_TOKEN)
    if args.json:
        print(json.dumps(result.to_json_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        print(result.transcript())
    return 1 if result.findings else 0


def run_preview(args: argparse.Namespace) -> int:
    require("server", "flows preview")
    from gateway.emulator.server import LoopbackServer
    from gateway.flowjson.player import DEFAULT_TOKEN
    from gateway.flowjson.player_session import FlowSession
    from gateway.preview import preview_app

    file = Path(args.flow_id)
    try:
        _read(file)  # a missing file is an error now, not a page later
        remote = [f"--{k}" for k in ("interactive", "sender", "json") if getattr(args, k)]
        if remote:
            raise ValueError(f"{', '.join(remote)}: only for a FLOW_ID at the provider")
        data = read_data(args.data)
        exchange = _exchange(args)
        server = _bind(LoopbackServer, args.port)
    except ValueError as exc:
        print(f"flowgateway flows preview: {exc}", file=sys.stderr)
        return 2
    session = FlowSession(
        file.read_bytes,
        exchange=exchange,
        flow_token=args.flow_token or DEFAULT_TOKEN,
        data=data,
        screen=args.screen,
        init=args.init,
    )
    url = f"{server.url}/"
    server.listen()  # the URL works as soon as it is printed
    print(f"Previewing {file} at {url} (Ctrl-C to stop)", flush=True)
    for finding in session.findings:  # the page shows them too; fix the file, press ↻
        print(f"FINDING {finding}", file=sys.stderr, flush=True)
    if args.open:
        import webbrowser

        if not webbrowser.open(url):
            print(f"no browser to open here: open {url} yourself", file=sys.stderr)
    server.run(preview_app(session, title=f"{file.name} — Flow preview"))
    return 0


def read_data(value: str | None) -> dict[str, Any] | None:
    """``--data``: a JSON object, inline or ``@file``; ValueError naming what is wrong."""
    if value is None:
        return None
    if value.startswith("@"):
        try:
            raw = _read(Path(value[1:]))
        except ValueError as exc:
            raise ValueError(f"--data {exc}") from None
        return _json_object(raw, f"--data {value}")
    return _json_object(value.encode(), "--data")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or exc}") from None


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise ValueError(f"{what}: not JSON ({exc.msg} at {where})") from None
    except ValueError as exc:  # not UTF-8
        raise ValueError(f"{what}: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object")
    return value


def _bind(server: Any, port: int) -> Any:
    try:
        return server(port=port)
    except OSError as exc:
        why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
        raise ValueError(f"port {port} {why}: --port 0 takes a free one") from None


def _exchange(args: argparse.Namespace) -> Any:
    if args.app and args.endpoint:
        raise ValueError("give --app or --endpoint, not both")
    if not (args.app or args.endpoint):
        return None
    require("crypto", "flows play with an endpoint")
    from gateway.flowjson import player_exchange as px

    if args.app:
        module_name, _, attr = args.app.partition(":")
        if "" not in sys.path and "." not in sys.path:  # as uvicorn's --app-dir ".": the
            sys.path.insert(0, "")  # module is found from the directory the command runs in
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"--app {args.app}: {exc}") from exc
        except Exception as exc:  # the module's own code failed: one line, not a traceback
            why = f"{type(exc).__name__}: {exc}"
            raise ValueError(f"--app {args.app}: importing {module_name} failed: {why}") from exc
        try:
            endpoint = getattr(module, attr or "endpoint")
        except AttributeError as exc:
            raise ValueError(f"--app {args.app}: {exc}") from exc
        from gateway.endpoint import FlowEndpoint

        if not isinstance(endpoint, FlowEndpoint):
            raise ValueError(f"--app {args.app} is not a FlowEndpoint")
        return px.endpoint_exchange(endpoint, app_secret=args.app_secret)
    if args.public_key is None:
        raise ValueError("--endpoint needs --public-key")
    try:
        key = px.load_public_key(_read(args.public_key))
    except ValueError as exc:
        if str(exc).startswith(str(args.public_key)):  # no such file
            raise
        raise ValueError(f"--public-key {args.public_key}: not an RSA public key in PEM") from exc
    return px.http_exchange(args.endpoint, key, app_secret=args.app_secret)
