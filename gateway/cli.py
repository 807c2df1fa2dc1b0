"""The ``flowgateway`` command line."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import importlib.metadata
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from gateway import (
    cli_config,
    cli_manage,
    cli_outbox,
    cli_send_many,
    cli_senders,
    cli_store,
    demo,
)
from gateway.bundled import DEFAULT_CONFIG
from gateway.client import Gateway
from gateway.config import load_config
from gateway.errors import ConfigError, GatewayError, ProviderError
from gateway.events import InboundEvent
from gateway.extras import MissingExtra, extra_for_module, require
from gateway.log import configure_logging, get_logger, install_log_redaction
from gateway.model import FlowMessage
from providers import message_from_mapping

NEEDS: dict[str, tuple[str, str]] = {
    "demo": ("server", "the demo"),
    "emulator": ("server", "the emulator"),
    "serve": ("server", "the receiver"),
    "keygen": ("crypto", "keygen"),
    "senders": ("crypto", "the senders command"),
}
"""Command → (extra, what needs it): checked before the command starts."""


def _version() -> str:
    try:
        return importlib.metadata.version("flowgateway")
    except importlib.metadata.PackageNotFoundError:  # a checkout on sys.path, not installed
        from gateway import __version__

        return f"{__version__} (not installed)"


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: …)`` after an option's help, except where there is nothing to
    show: an unset option (None) or an off flag (False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default == []:
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """Every parser of the CLI: help shows each option's default, and a usage mistake is
    one line on stderr and exit 2 (``--help`` shows the usage)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


_SEND_FLAGS = {
    "to": "recipient: a phone number in E.164 or a business-scoped user id",
    "sender": "configured sender (default: routes, then the default sender)",
    "flow-id": "the published Flow's id",
    "flow-name": "the Flow's name, where the provider accepts it instead of an id",
    "flow-cta": "the button text that opens the Flow",
    "flow-token": "token echoed in the Flow's replies",
    "screen": "first screen (navigate)",
    "header": "header text",
    "body": "body text",
    "footer": "footer text",
    "template": "send this approved template (with a FLOW button) instead",
    "language": "the template's language (default: en_US)",
}
"""``send`` options that take a plain string, with their help."""


def _parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="flowgateway",
        description="Send WhatsApp Flows through any BSP from one model.",
    )
    p.add_argument("--version", action="version", version=f"flowgateway {_version()}")
    p.add_argument(
        "--log-level", type=str.upper, choices=LOG_LEVELS, default="WARNING", help="log level"
    )
    p.add_argument(
        "--log-format", choices=["console", "json"], default="console", help="log line format"
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", help="round trip against the embedded emulator (no credentials)")
    d.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="config file")

    pr = sub.add_parser("providers", help="list the available provider adapters")
    pr.add_argument(
        "--capabilities",
        action="store_true",
        help="print what each adapter can express, as a Markdown table",
    )

    em = sub.add_parser("emulator", help="serve every provider locally (extra: server)")
    em.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="senders = accounts")
    em.add_argument("--host", default="127.0.0.1", help="address to listen on")
    em.add_argument("--port", type=int, default=8580, help="port to listen on")

    kg = sub.add_parser("keygen", help="create the Flow endpoint's RSA key pair (extra: crypto)")
    kg.add_argument(
        "--private", type=Path, default=Path("flow-private.pem"), help="private key file to create"
    )
    kg.add_argument(
        "--public", type=Path, default=Path("flow-public.pem"), help="public key file to create"
    )
    kg.add_argument(
        "--passphrase-env", metavar="VAR", help="read the passphrase from this variable"
    )
    kg.add_argument(
        "--force", action="store_true", help="replace existing key files (never symbolic links)"
    )
    rk = sub.add_parser("register-key", help="register the public key with a sender's provider")
    rk.add_argument("--config", type=Path, default=Path("config/gateway.toml"), help="config file")
    rk.add_argument(
        "--sender", help="sender whose provider gets the key (default: the default sender)"
    )
    rk.add_argument("--public", type=Path, default=Path("flow-public.pem"), help="public key file")

    va = sub.add_parser("validate", help="check Flow JSON files before uploading them")
    va.add_argument("files", nargs="+", type=Path, metavar="FILE", help="Flow JSON file")
    va.add_argument("--json", action="store_true", help="issues as JSON")
    va.add_argument(
        "--purpose",
        choices=["publish", "send"],
        default="publish",
        help="publish (Flow JSON 5.1+) or send an already published flow (2.1+)",
    )

    sv = sub.add_parser("serve", help="run the webhook receiver (extra: server)")
    sv.add_argument("--config", type=Path, default=Path("config/gateway.toml"), help="config file")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on")
    sv.add_argument("--port", type=int, default=8080, help="port to listen on")
    sv.add_argument("--inbox", help="SQLite inbox file (default: [receiver] inbox)")
    sv.add_argument("--store", metavar="URL", help="the store (default: [gateway] store)")
    sv.add_argument(
        "--handlers",
        metavar="MODULE:FUNCTION",
        help="a function called with the receiver to register handlers (default: log events)",
    )

    s = sub.add_parser("send", help="send one Flow message through a configured sender")
    s.add_argument("--config", type=Path, default=Path("config/gateway.toml"), help="config file")
    s.add_argument("--json", dest="json_file", type=Path, help="FlowMessage as a JSON file")
    s.add_argument("--dry-run", action="store_true", help="print the request; send nothing")
    for flag, text in _SEND_FLAGS.items():
        s.add_argument(f"--{flag}", help=text)
    s.add_argument(
        "--flow-action", choices=["navigate", "data_exchange"], help="what the CTA does first"
    )
    s.add_argument("--mode", choices=["draft", "published"], help="send a draft or published flow")
    s.add_argument("--data", help="first-screen data as a JSON object")
    s.add_argument("--button-index", type=int, help="the template's FLOW button (from 0)")
    cli_send_many.add_parser(sub)
    cli_manage.add_parsers(sub)
    cli_store.add_parsers(sub)
    cli_outbox.add_parsers(sub)
    cli_senders.add_parsers(sub)
    cli_config.add_parsers(sub)
    return p


def _message(args: argparse.Namespace) -> FlowMessage:
    fields: dict[str, Any] = {}
    if args.json_file is not None:
        fields = json.loads(args.json_file.read_text(encoding="utf-8"))
    for name in (
        "to",
        "sender",
        "flow_id",
        "flow_name",
        "flow_cta",
        "flow_token",
        "screen",
        "header",
        "body",
        "footer",
        "flow_action",
        "mode",
    ):
        value = getattr(args, name)
        if value is not None:
            fields[name] = value
    if args.data is not None:
        fields["data"] = json.loads(args.data)
    if args.template is not None:
        ref: dict[str, Any] = {"name": args.template, "language": args.language or "en_US"}
        if args.button_index is not None:
            ref["button_index"] = args.button_index
        fields["template"] = ref
    return message_from_mapping(fields)  # options {"sinch": {...}}: the adapters' own types


def _send(args: argparse.Namespace) -> int:
    msg = _message(args)
    with Gateway.from_config(args.config) as gw:
        if args.dry_run:
            print(json.dumps(gw.build_send(msg).masked(), indent=2, ensure_ascii=False))
            return 0
        receipt = gw.send(msg)
    print(
        json.dumps(
            {
                "provider": receipt.provider,
                "sender": receipt.sender,
                "business_id": receipt.business_id,
                "message_id": receipt.message_id,
                "user": asdict(receipt.user),
                "status": receipt.status,
            }
        )
    )
    return 0


def _emulator(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.emulator import Emulator

    url = f"http://{args.host}:{args.port}"
    emulator = Emulator.from_config(load_config(args.config, {"FLOWGATEWAY_EMULATOR_URL": url}))
    for provider in emulator.sims:
        print(f"{provider}: base_url = {url}/{provider}", file=sys.stderr)
    for name, (provider, number) in emulator.senders.items():
        # What the emulator accepts from each configured sender (credentials: those of
        # its config, never printed).
        served = f"number {number}" if number else "refused: not an account it serves"
        print(f"  sender {name} ({provider}): {served}", file=sys.stderr)
    routes = "faults|failure_locations|users|identity|webhooks|complete|messages"
    print(f"control: {url}/_emulator/({routes})", file=sys.stderr)
    install_log_redaction()  # the emulator has no gateway to install it
    uvicorn.run(emulator.asgi, host=args.host, port=args.port, log_level="warning")
    return 0


def _validate(args: argparse.Namespace) -> int:
    """Report like a compiler: ``file:line:col: severity: CODE message``."""
    from gateway.flowjson import validate_flow_json

    report: list[dict[str, Any]] = []
    errors = 0
    for path in args.files:
        try:
            issues = validate_flow_json(path.read_bytes(), purpose=args.purpose)
        except OSError as exc:
            print(f"flowgateway: {path}: {exc.strerror}", file=sys.stderr)
            return 2
        errors += sum(i.severity == "error" for i in issues)
        for i in issues:
            entry = {"file": str(path), **dataclasses.asdict(i)}
            report.append(entry)
            if not args.json:
                where = f"{i.line}:{i.column}" if i.line is not None else "-"
                tag = " ".join(part for part in (i.rule, i.path) if part)
                print(f"{path}:{where}: {i.severity}: {i.error} {i.message} [{tag}]")
    if args.json:
        print(json.dumps(report, indent=2))
    elif not report:
        print(f"{len(args.files)} file(s): no issues")
    return 1 if errors else 0


def _keygen(args: argparse.Namespace) -> int:
    """RSA-2048, private key PKCS#8 encrypted with a passphrase, public key SubjectPublicKeyInfo."""
    import getpass
    import os

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    # Checked before asking for a passphrase: a refusal writes nothing and costs nothing.
    refusal = _keygen_refusal(args.private, args.public, force=args.force)
    if refusal:
        print(f"flowgateway: {refusal} (nothing was written)", file=sys.stderr)
        return 2
    if args.passphrase_env:
        passphrase = os.environ.get(args.passphrase_env, "")
    elif sys.stdin.isatty():
        passphrase = getpass.getpass("passphrase: ")
        if getpass.getpass("again: ") != passphrase:
            print("flowgateway: the passphrases differ", file=sys.stderr)
            return 2
    else:
        print("flowgateway: give --passphrase-env VAR (no terminal to ask)", file=sys.stderr)
        return 2
    if len(passphrase) < 8:
        held, var = "", args.passphrase_env
        if var:
            held = (
                f" (${var} holds {len(passphrase)})"
                if var in os.environ
                else f" (${var} is not set)"
            )
        print(f"flowgateway: the passphrase needs at least 8 characters{held}", file=sys.stderr)
        return 2
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    files = ((args.private, private, 0o600), (args.public, public, 0o644))
    try:
        _write_key_files(files, force=args.force)
    except FileExistsError as exc:  # created by someone else since the check
        print(f"flowgateway: {exc.filename} appeared (nothing was written)", file=sys.stderr)
        return 2
    print(f"private key (encrypted, mode 600): {args.private}\npublic key: {args.public}")
    print("register it: flowgateway register-key --config … --sender … --public", args.public)
    return 0


def _keygen_refusal(private: Path, public: Path, *, force: bool) -> str | None:
    """Why keygen may not write these paths, or None. Symbolic links are refused even with
    ``force``: writing through one would put the key wherever the link points."""
    import os
    import stat

    if os.path.abspath(private) == os.path.abspath(public):
        return "--private and --public name the same file"
    for path in (private, public):
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(mode):
            return f"{path} is a symbolic link, which keygen never writes through"
        if not stat.S_ISREG(mode):
            return f"{path} exists and is not a regular file"
        if not force:
            return f"{path} exists; give --force to replace the key pair"
    return None


def _write_key_files(files: Sequence[tuple[Path, bytes, int]], *, force: bool) -> None:
    """Create every file or none. With ``force`` each is written to a new file beside it,
    then renamed over the old one: the key never inherits the old file's mode, and a
    rename replaces a link that appeared meanwhile instead of following it."""
    import os
    import secrets

    written: list[Path] = []
    try:
        for path, data, mode in files:
            target = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp") if force else path
            _create_exclusively(target, data, mode)
            written.append(target)
        if force:
            for (path, _, _), temporary in zip(files, written, strict=True):
                os.replace(temporary, path)
    except BaseException:
        for path in written:  # ours: O_EXCL created them (renamed ones are gone already)
            path.unlink(missing_ok=True)
        raise


def _create_exclusively(path: Path, data: bytes, mode: int) -> None:
    """Write a file that did not exist (never through a link), with exactly ``mode``."""
    import os

    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(fd, mode)  # the umask may have taken bits away from ``mode``
            f.write(data)
            f.flush()
            os.fsync(fd)
    except BaseException:
        path.unlink(missing_ok=True)  # ours: O_EXCL created it
        raise


def _register_key(args: argparse.Namespace) -> int:
    pem = args.public.read_text(encoding="utf-8")
    with Gateway.from_config(args.config) as gw:
        gw.register_public_key(pem, sender=args.sender)
    print("the business public key was registered")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from gateway.receiver import WebhookReceiver

    config = load_config(args.config)
    if args.inbox:
        config = config.model_copy(
            update={
                "receiver": config.receiver.model_copy(update={"inbox": args.inbox}),
                "gateway": config.gateway.model_copy(update={"store": None}),
            }
        )
    if args.store:
        config = config.model_copy(
            update={"gateway": config.gateway.model_copy(update={"store": args.store})}
        )
    receiver = WebhookReceiver(config)
    if args.handlers:
        module_name, _, attr = args.handlers.partition(":")
        getattr(importlib.import_module(module_name), attr or "register")(receiver)
    else:
        log = get_logger(component="handler")

        @receiver.on(name="flowgateway.log")
        def log_event(event: InboundEvent) -> None:
            log.info(
                "event",
                type=type(event).__name__,
                provider=event.provider,
                sender=event.sender,
                business_id=event.business_id,
            )

    prefix = config.receiver.path_prefix
    base = f"http://{args.host}:{args.port}{prefix}"
    for name in receiver.core.senders:
        print(f"receiving {name}: {base}/{name}", file=sys.stderr)
    for provider in sorted({s.provider for s in receiver.core.senders.values()}):
        print(f"receiving every {provider} sender: {base}/{provider}", file=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl-C after its stop
        receiver.run(args.host, args.port)
    return 0


def _providers(args: argparse.Namespace) -> int:
    from providers import adapter_names, capability_matrix_markdown

    if args.capabilities:
        print(capability_matrix_markdown(), end="")
    else:
        print("\n".join(adapter_names()))
    return 0


# Looked up when called (lambdas), so that tests can replace a command's function.
_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": lambda args: demo.run(args.config),
    "providers": lambda args: _providers(args),
    "emulator": lambda args: _emulator(args),
    "keygen": lambda args: _keygen(args),
    "register-key": lambda args: _register_key(args),
    "validate": lambda args: _validate(args),
    "serve": lambda args: _serve(args),
    "send": lambda args: _send(args),
    "send-many": cli_send_many.run,
    "flows": cli_manage.run_flows,
    "templates": cli_manage.run_templates,
    "store": cli_store.run_store,
    "inbox": cli_store.run_inbox,
    "worker": cli_outbox.run_worker,
    "outbox": cli_outbox.run_outbox,
    "senders": cli_senders.run,
    "config": cli_config.run,
}
"""Command → what runs it; every command of :func:`_parser` has exactly one entry."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``flowgateway`` console script."""
    args = _parser().parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    try:
        if args.command in NEEDS:
            require(*NEEDS[args.command])
        run = _COMMANDS.get(args.command)
        if run is None:  # registered in _parser() but not here: a bug, never a send
            raise AssertionError(f"command {args.command!r} has no handler")
        return run(args)
    except MissingExtra as exc:
        print(f"flowgateway: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # an extra's module imported past the checks
        extra = extra_for_module(exc.name or "")
        if extra is None:
            raise
        print(f"flowgateway: {MissingExtra(extra, args.command, exc.name or '')}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"flowgateway: invalid message:\n{exc}", file=sys.stderr)
        return 2
    except (ConfigError, json.JSONDecodeError, OSError) as exc:
        print(f"flowgateway: {exc}", file=sys.stderr)
        return 2
    except ProviderError as exc:
        print(f"flowgateway: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except GatewayError as exc:
        print(f"flowgateway: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
