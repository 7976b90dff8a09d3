"""Console command ``chatgpt-compliance-simulator serve``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from dataclasses import fields
from types import FrameType
from typing import Any

from .config import Faults, Oddities, Quirks, SimulatorConfig
from .knobs import Inventory
from .server import Simulator


def _fault(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    known = {f.name for f in fields(Faults)}
    if not sep or name not in known:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE with NAME in {sorted(known)}")
    return name, value


def _oddity(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    types = {f.name: str(f.type) for f in fields(Oddities)}
    if name not in types:
        raise argparse.ArgumentTypeError(f"expected NAME[=VALUE] with NAME in {sorted(types)}")
    kind = types[name]
    try:
        if kind == "bool":
            if sep and value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(value)
            return name, not sep or value.lower() in ("1", "true", "yes", "on")
        if not sep:
            raise ValueError("a value is required")
        if kind == "int":
            return name, int(value)
        if kind == "float":
            return name, float(value)
        return name, tuple(v for v in value.split(",") if v)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"bad value for oddity {name} ({kind}): {e}") from None


def _inventory(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    types = {f.name: str(f.type) for f in fields(Inventory)}
    if not sep or name not in types:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE with NAME in {sorted(types)}")
    try:
        return name, int(value) if types[name] == "int" else float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bad value for inventory knob {name} ({types[name]}): {value!r}"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser."""
    parser = argparse.ArgumentParser(
        prog="chatgpt-compliance-simulator",
        description="Local simulator of OpenAI's ChatGPT Enterprise Compliance API.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser(
        "serve",
        help="serve the simulated API until SIGINT/SIGTERM",
        description="Serve the simulated Compliance API on loopback until SIGINT or SIGTERM.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    d = SimulatorConfig()
    s.add_argument("--host", default="127.0.0.1", help="address to bind both listeners to")
    s.add_argument("--port", type=int, default=8765, help="port of the API host (0 = any free)")
    s.add_argument(
        "--signed-port", type=int, default=0, help="port of the signed-URL host (0 = any free)"
    )
    s.add_argument("--seed", type=int, default=d.seed, help="seed of all generated data")
    s.add_argument("--tenants", type=int, default=d.tenants, help="number of workspaces")
    s.add_argument("--users", type=int, default=d.users, help="users per workspace")
    s.add_argument(
        "--conversations", type=int, default=d.conversations, help="initial conversations"
    )
    s.add_argument(
        "--messages-min",
        type=int,
        default=d.messages_per_conversation[0],
        help="minimum messages per conversation",
    )
    s.add_argument(
        "--messages-max",
        type=int,
        default=d.messages_per_conversation[1],
        help="maximum messages per conversation",
    )
    s.add_argument(
        "--attachment-rate",
        type=float,
        default=d.attachment_rate,
        help="probability that a user message carries an upload",
    )
    s.add_argument("--span-days", type=float, default=d.span_days, help="days of initial history")
    s.add_argument(
        "--speed",
        type=float,
        default=d.speed,
        help="scales rate-limit windows and the auto-advance clock (60 = 1 min per second)",
    )
    s.add_argument(
        "--signed-url-ttl",
        type=float,
        default=d.signed_url_ttl,
        help="real seconds a signed URL works",
    )
    s.add_argument(
        "--signed-url-sim-ttl",
        type=float,
        default=d.signed_url_sim_ttl,
        help="simulated seconds a signed URL works (reference: 1 hour; 0 = no bound)",
    )
    s.add_argument(
        "--log-window-minutes",
        type=int,
        default=d.log_window_minutes,
        help="log files are cut per event type per window of this many minutes",
    )
    s.add_argument(
        "--auto-advance",
        action="store_true",
        help="the simulated clock follows real time x speed and new activity appears",
    )
    s.add_argument(
        "--no-quirk",
        action="append",
        default=[],
        choices=Quirks.names(),
        metavar="NAME",
        help=f"switch a quirk off (repeatable): {', '.join(Quirks.names())}",
    )
    s.add_argument(
        "--fault",
        action="append",
        default=[],
        type=_fault,
        metavar="NAME=VALUE",
        help="enable a fault (repeatable): latency_ms, error_rate, error_burst, reset_rate, "
        "truncate_rate, expired_signed_url_rate, bad_sha_file_ids (comma-separated ids)",
    )
    s.add_argument(
        "--oddity",
        action="append",
        default=[],
        type=_oddity,
        metavar="NAME[=VALUE]",
        help="serve an odd but plausible shape (repeatable; booleans need no value): "
        "listing_without_end_time, listing_without_event_type, listing_new_fields, "
        "future_end_time, "
        "missing_event_id_rate=F, empty_message_id_rate=F, foreign_events_rate=F, "
        "invalid_utf8_lines=N, non_object_lines=N, event_id_clash_rate=F, "
        "extra_event_types=A,B, project_config_as_array, stuck_listing, out_of_order_listing, "
        "huge_message_bytes=N, nul_in_message_text, lone_surrogate_text",
    )
    s.add_argument(
        "--inventory",
        action="append",
        default=[],
        type=_inventory,
        metavar="NAME=VALUE",
        help="an Inventory knob (repeatable; issue 21): canvases, memories, automations, "
        "recordings, Codex tasks, library files, config history, e.g. heavy_user_canvases=300, "
        "config_versions_per_day=1 (see docs/simulator.md)",
    )
    s.add_argument("--no-rate-limits", action="store_true", help="disable the 429 rate limits")
    s.add_argument(
        "--admin-port",
        type=int,
        default=0,
        help="port of the admin API for `key` and `clock` at run time (0 = any free)",
    )
    _add_admin_commands(sub)
    return parser


def _add_admin_commands(sub: Any) -> None:
    """``key create|revoke|rotate`` and ``clock advance|show`` against a served simulator."""
    admin_help = "the admin_url printed by `serve`"
    key = sub.add_parser("key", help="create, revoke or rotate an API key of a served simulator")
    keys = key.add_subparsers(dest="action", required=True)
    for action, text in (
        ("create", "issue a new key (every read scope unless --scope is given)"),
        ("revoke", "revoke a key: it then gets HTTP 401"),
        ("rotate", "issue a new key and revoke the old one (default: the tenant's first key)"),
    ):
        p = keys.add_parser(action, help=text, description=text)
        p.add_argument("--admin", required=True, metavar="URL", help=admin_help)
        if action == "revoke":
            p.add_argument("api_key", help="the key to revoke")
        else:
            p.add_argument("--workspace", metavar="ID", help="default: the first tenant")
        if action == "create":
            p.add_argument("--scope", action="append", default=[], help="repeatable")
        if action == "rotate":
            p.add_argument("--old", metavar="KEY", help="the key to revoke")
    clock = sub.add_parser("clock", help="show or advance the simulated clock at run time")
    clocks = clock.add_subparsers(dest="action", required=True)
    adv = clocks.add_parser("advance", help="move the clock forward (new activity appears)")
    adv.add_argument("--admin", required=True, metavar="URL", help=admin_help)
    adv.add_argument("by", metavar="DURATION", help="e.g. 90s, 15m, 2h, 1d")
    show = clocks.add_parser("show", help="print the simulated now")
    show.add_argument("--admin", required=True, metavar="URL", help=admin_help)


def _admin_command(args: argparse.Namespace) -> int:
    """Run one ``key``/``clock`` command; one line on stdout, or one error line and exit 1."""
    from .admin import AdminError, call

    body: dict[str, Any] | None
    if args.command == "key":
        path = f"/keys/{args.action}"
        if args.action == "revoke":
            body = {"api_key": args.api_key}
        else:
            body = {"workspace_id": args.workspace}
            if args.action == "create" and args.scope:
                body["scopes"] = args.scope
            if args.action == "rotate" and args.old:
                body["api_key"] = args.old
    else:
        path, body = (
            ("/clock/advance", {"by": args.by})
            if args.action == "advance"
            else (
                "/clock",
                None,
            )
        )
    try:
        answer = call(args.admin, path, body)
    except AdminError as exc:
        print(f"chatgpt-compliance-simulator {args.command} {args.action}: {exc}", file=sys.stderr)
        return 1
    for name in ("api_key", "revoked", "now"):
        if name in answer:
            print(f"{name}: {answer[name]}")
    return 0


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """Turn parsed ``serve`` arguments into a SimulatorConfig."""
    quirks = Quirks()
    for name in args.no_quirk:
        setattr(quirks, name, False)
    faults = Faults()
    for name, value in args.fault:
        if name == "bad_sha_file_ids":
            faults.bad_sha_file_ids = {v for v in value.split(",") if v}
        elif name in ("error_burst", "trickle_bytes"):
            setattr(faults, name, int(value))
        elif name == "bad_shape":
            faults.bad_shape = value
        else:
            setattr(faults, name, float(value))
    oddities = Oddities()
    for name, value in args.oddity:
        setattr(oddities, name, value)
    inventory = Inventory()
    for name, value in args.inventory:
        setattr(inventory, name, value)
    return SimulatorConfig(
        seed=args.seed,
        tenants=args.tenants,
        users=args.users,
        conversations=args.conversations,
        messages_per_conversation=(args.messages_min, args.messages_max),
        attachment_rate=args.attachment_rate,
        span_days=args.span_days,
        speed=args.speed,
        signed_url_ttl=args.signed_url_ttl,
        signed_url_sim_ttl=args.signed_url_sim_ttl,
        log_window_minutes=args.log_window_minutes,
        quirks=quirks,
        faults=faults,
        oddities=oddities,
        inventory=inventory,
        rate_limits=not args.no_rate_limits,
        auto_advance=args.auto_advance,
        host=args.host,
        port=args.port,
        signed_port=args.signed_port,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``chatgpt-compliance-simulator``."""
    args = build_parser().parse_args(argv)
    if args.command in ("key", "clock"):
        return _admin_command(args)
    cfg = config_from_args(args)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sim = Simulator(cfg).start()
    out = sys.stdout
    print(f"ChatGPT Compliance API simulator listening on {sim.base_url}", file=out)
    print(f"base_url: {sim.base_url}", file=out)
    print(f"signed_base_url: {sim.signed_base_url}", file=out)
    print(f"simulated now: {sim.now().isoformat()}", file=out)
    from .admin import serve as serve_admin

    admin = serve_admin(sim, args.host, args.admin_port)
    print(f"admin_url: http://{args.host}:{admin.server_address[1]}", file=out)
    for i, t in enumerate(sim.tenants):
        print(f"tenant {i}: workspace_id: {t.workspace_id}", file=out)
        print(f"tenant {i}: api_key: {t.api_key}", file=out)
        print(f"tenant {i}: organization_id: {t.organization_id}", file=out)
    print("Press Ctrl-C to stop.", file=out, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        admin.shutdown()
        sim.stop()
        print("simulator stopped", file=out, flush=True)
    return 0


def _version() -> str:
    """Return the installed distribution's version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tap-chatgpt-compliance")
    except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
        return "unknown"


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
