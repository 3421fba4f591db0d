"""The `lotse` command line: ask, chat, train, content and catalog commands."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.engine.messages import Inbound, Reply
from bot.errors import LotseError
from bot.i18n.languages import LANGUAGES


def _quiet() -> None:
    """Rasa and TensorFlow are chatty; the CLI prints only answers unless LOTSE_DEBUG is set."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not os.environ.get("LOTSE_DEBUG"):
        logging.basicConfig(level=logging.ERROR)
        for name in ("rasa", "tensorflow", "absl", "alembic", "apscheduler"):
            logging.getLogger(name).setLevel(logging.ERROR)
    else:
        logging.basicConfig(level=logging.INFO)


def _now(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    moment = dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("Europe/Berlin"))


def _print_reply(reply: Reply, as_json: bool) -> None:
    if as_json:
        print(json.dumps(reply.to_json(), ensure_ascii=False), flush=True)
        return
    number = 0  # buttons are numbered across the whole reply, as the chat loop maps them
    for message in reply.messages:
        print(message.text)
        for button in message.buttons:
            number += 1
            print(f"  [{number}] {button.title}")
        print()


async def _ask(args: argparse.Namespace) -> int:
    from bot.app import build

    lotse = await build()
    try:
        town = _town_id(lotse.editions.content, args.town) if args.town else None
        reply = await lotse.engine.handle(
            Inbound(channel="cli", user_id=args.user or f"ask-{uuid.uuid4().hex[:12]}", text=args.text),
            now=_now(args.now),
            town=town,
            language=args.lang,
        )
        _print_reply(reply, args.json)
    finally:
        await lotse.close()
    return 0


def _town_id(content: object, name: str) -> str:
    from bot.knowledge.content import Content

    assert isinstance(content, Content)
    town = content.find_town(name)
    if town is None:
        raise LotseError(f"unknown town {name!r}; known: {', '.join(t.name for t in content.towns.values())}")
    return town.id


async def _chat(args: argparse.Namespace) -> int:
    from bot.app import build

    lotse = await build()
    user = args.user or f"chat-{uuid.uuid4().hex[:12]}"
    town = _town_id(lotse.editions.content, args.town) if args.town else None
    last_buttons: list[str] = []
    try:
        lines = (
            Path(args.script).read_text(encoding="utf-8").splitlines()
            if args.script
            else _interactive_lines()
        )
        first = True
        for line in lines:
            text = line.rstrip("\n")
            if args.script and not text.strip():
                continue
            payload = None
            if text.strip().isdigit() and 0 < int(text.strip()) <= len(last_buttons):
                payload = last_buttons[int(text.strip()) - 1]
                text = ""
            elif text.startswith("button:"):
                payload, text = text[len("button:") :].strip(), ""
            reply = await lotse.engine.handle(
                Inbound(channel="cli", user_id=user, text=text, payload=payload),
                now=_now(args.now),
                town=town if first else None,
                language=args.lang if first else None,
            )
            first = False
            last_buttons = [b.payload for m in reply.messages for b in m.buttons]
            _print_reply(reply, args.json)
    finally:
        await lotse.close()
    return 0


def _interactive_lines() -> Sequence[str]:
    class _Lines:
        def __iter__(self):  # type: ignore[no-untyped-def]
            print("Lotse – schreiben Sie eine Frage (Zahl = Knopf wählen, Strg+D = Ende)")
            while True:
                try:
                    yield input("> ")
                except EOFError:
                    return

    return _Lines()  # type: ignore[return-value]


def _train(args: argparse.Namespace) -> int:
    from bot.understanding.training import train

    result = train(Settings(), force=args.force)
    state = "trained" if result.trained else "up to date"
    print(f"{result.model_path}: {state} (data {result.data_hash[:12]})")
    return 0


def _content_check(args: argparse.Namespace) -> int:
    """Exit 1 when content has errors (or, with --strict, warnings); every finding names file and line."""
    from bot.knowledge.check import check

    settings = Settings()
    max_age = args.max_age if args.max_age is not None else settings.content_max_age_days
    content, findings = check(settings.content_dir, settings.locales_dir, dt.date.today(), max_age)
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    failed = errors > 0 or (args.strict and warnings > 0)
    summary = (
        {
            "towns": len(content.towns),
            "teams": len(content.teams),
            "places": len(content.places),
            "topics": len(content.topics),
            "canned replies": len(content.canned),
        }
        if content is not None
        else None
    )
    if args.json:
        report = {
            "ok": not failed,
            "errors": errors,
            "warnings": warnings,
            "content": summary,
            "findings": [f.to_json() for f in findings],
        }
        print(json.dumps(report, ensure_ascii=False))
        return 1 if failed else 0
    for finding in findings:
        print(finding)
    if findings:
        print()
    if summary is None:
        print(
            f"content has {errors} error(s): fix them and check again; "
            "a running `lotse serve` keeps answering with the last good content until then"
        )
    else:
        counted = ", ".join(f"{v} {k}" for k, v in summary.items())
        print(f"content OK: {counted}; {warnings} warning(s)" if errors == 0 else counted)
    return 1 if failed else 0


def _content_stats(args: argparse.Namespace) -> int:
    """Per language: reviewed, unreviewed, machine-made, stale and missing translations."""
    from bot.i18n.coverage import coverage, table

    rows = coverage(Settings().locales_dir)
    if args.json:
        print(json.dumps([row.to_json() for row in rows], ensure_ascii=False))
    else:
        print(table(rows if args.domains else [row for row in rows if row.domain == "all"]))
    return 0


def _i18n(args: argparse.Namespace) -> int:
    from bot.i18n import catalog_tools

    settings = Settings()
    if args.action == "extract":
        for path in catalog_tools.extract(settings):
            print(f"wrote {path}")
    elif args.action == "update":
        for path in catalog_tools.update(settings, args.lang):
            print(f"updated {path}")
    elif args.action == "compile":
        for path in catalog_tools.compile_all(settings):
            print(f"compiled {path}")
    elif args.action == "translate":
        from bot.i18n import prefill
        from bot.i18n.errors import PrefillStopped

        if not args.lang:
            raise LotseError("i18n translate needs --lang (repeatable), e.g. --lang ar")
        try:
            tallies = prefill.run(settings, args.lang, args.provider)
        except PrefillStopped as stopped:
            print("\n".join(str(tally) for tally in stopped.tallies))  # what was saved, then the error
            raise
        print("\n".join(str(tally) for tally in tallies))
    return 0


def _read_new_password() -> str:
    """A new password from a prompt (typed twice, not echoed) or, when piped, the first line of stdin.

    Never from the command line: arguments show up in `ps`, in the shell history and in audit logs.
    """
    from bot.console.errors import InvalidAccount

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    password = getpass.getpass("new password: ")
    if getpass.getpass("repeat it: ") != password:
        raise InvalidAccount("the two passwords differ; nothing changed")
    return password


async def _staff(args: argparse.Namespace) -> int:
    """`lotse staff add|list|disable|enable|password`: accounts for the caseworker console.

    Changes are written to the console's audit log under `cli:<system user>`, like the console's own.
    """
    from bot.console.accounts import Accounts, Actor, generate_password
    from bot.knowledge.content import load_content
    from bot.storage.database import create_engine, upgrade

    settings = Settings()
    database = create_engine(settings.resolved_database_url())
    try:
        await upgrade(database)
        accounts = Accounts(database)
        by = Actor.command_line()
        if args.action == "add":
            known = load_content(settings.content_dir).teams
            generated = not args.password_stdin
            password = generate_password() if generated else sys.stdin.readline().rstrip("\r\n")
            account = await accounts.create(
                args.username, password, args.role, args.team or (), args.name, known_teams=known, by=by
            )
            print(f"created {account.username} ({account.role})")
            if generated:
                print(f"password: {password}  (shown once; pass it on in person)")
        elif args.action == "list":
            rows = [("username", "name", "role", "teams", "active")]
            for a in await accounts.list():
                rows.append(
                    (
                        a.username,
                        a.display_name,
                        a.role,
                        ",".join(a.teams) or "-",
                        "yes" if a.active else "no",
                    )
                )
            widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
            for row in rows:
                print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        elif args.action == "disable":
            await accounts.disable(args.username, by=by)
            print(f"disabled {args.username}; its sessions are ended")
        elif args.action == "enable":
            account = await accounts.enable(args.username, by=by)
            print(f"enabled {account.username}; if its password may have leaked: lotse staff password NAME")
        elif args.action == "password":
            account = await accounts.get(args.username)  # an unknown name fails before the prompt
            password = generate_password() if args.generate else _read_new_password()
            await accounts.set_password(account.username, password, by=by)
            print(f"new password set for {account.username}; its sessions are ended")
            if args.generate:
                print(f"password: {password}  (shown once; pass it on in person)")
    finally:
        await database.dispose()
    return 0


async def _retention(args: argparse.Namespace) -> int:
    """`lotse retention [--dry-run]`: delete what is past its retention period, print the counts."""
    from bot.storage.database import create_engine, upgrade
    from bot.storage.retention import Retention, RetentionPolicy

    settings = Settings()
    database = create_engine(settings.resolved_database_url())
    try:
        await upgrade(database)
        report = await Retention(database, RetentionPolicy.from_settings(settings)).run(dry_run=args.dry_run)
    finally:
        await database.dispose()
    if report.skipped:
        print("another process is running the retention job right now; nothing done")
        return 0
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"retention: conversations after {settings.retention_days:g} days, closed handovers after "
        f"{settings.handover_retention_days:g} days, inbox/outbox after {settings.pipeline_retention_hours:g} hours"
    )
    width = max(len(name) for name in report.counts())
    for name, count in report.counts().items():
        label = name.replace("_", " ")
        print(f"  {label.ljust(width)}  {count}")
    print(f"({verb})")
    return 0


def _serve(args: argparse.Namespace) -> int:
    """One serving process, or with --workers N > 1 a parent that runs N of them on one socket."""
    from bot.logs import configure as configure_logging

    settings = Settings()
    workers = args.workers if args.workers is not None else settings.workers
    if workers < 1:
        raise LotseError(f"--workers must be at least 1, not {workers}")
    if workers > 1 and args.socket_fd is None:
        from bot.web.workers import supervise

        configure_logging(settings, tag="main")
        return supervise(settings, args.host, args.port, workers)
    return int(asyncio.run(_serve_one(args, settings, workers)))


async def _serve_one(args: argparse.Namespace, settings: Settings, workers: int) -> int:
    import socket

    import uvicorn

    from bot.app import build
    from bot.logs import configure as configure_logging
    from bot.web.server import build_service, create_app

    worker = args.worker_index if args.socket_fd is not None else 0
    tag = f"w{worker}" if workers > 1 else ""
    if args.socket_fd is not None and args.parent_pid is not None:
        from bot.web.workers import end_with_parent

        end_with_parent(args.parent_pid)
    level = configure_logging(settings, tag=tag)  # before anything logs: no personal data, no secrets
    lotse = await build(settings)
    configure_logging(settings, tag=tag)  # again: loading Rasa and TensorFlow may have installed handlers
    service = build_service(lotse, worker=worker, workers=workers)
    base = f"http://{args.host}:{args.port}"
    from bot.console.accounts import Accounts
    from bot.console.first_start import create_first_accounts, password_file

    # a fresh start: an admin and a demo team lead; their passwords go to a 0600 file, never to stdout.
    # Only worker 0 looks, so that two workers never create them at the same moment.
    created = (
        await create_first_accounts(Accounts(lotse.database), settings.var_dir) if worker == 0 else None
    )
    console_login = ""
    if created is not None:
        console_login = (
            f"\n    first login: the passwords of admin and leitung are in {created}"
            "\n    (readable only by this user); change them in the console, then delete the file"
        )
    elif password_file(settings.var_dir).exists():
        console_login = f"\n    {password_file(settings.var_dir)} still holds first passwords: delete it"

    def ready() -> None:
        if worker != 0:
            return  # one banner per installation
        database = lotse.database.url.render_as_string(hide_password=True)
        telegram = {
            "off": "off (set TELEGRAM_TOKEN to connect a bot)",
            "polling": f"long polling via {lotse.settings.telegram_api_base_url}",
            "webhook": f"webhook {lotse.settings.telegram_webhook_url}",
        }[service.telegram_mode]
        print(f"Lotse is serving the {lotse.editions.content.region.name} (database {database})", flush=True)
        print(f"  web chat   {base}/", flush=True)
        print(f"  in Arabic  {base}/?lang=ar", flush=True)
        print(f"  health     {base}/healthz", flush=True)
        print(f"  console    {base}/console/{console_login}", flush=True)
        print(f"  Telegram   {telegram}", flush=True)
        whatsapp = (
            f"webhook {base}/whatsapp/webhook, sending via {lotse.settings.whatsapp_api_base_url}"
            if service.whatsapp is not None
            else "off (set the WHATSAPP_* variables, see README)"
        )
        print(f"  WhatsApp   {whatsapp}", flush=True)
        live = (
            f"changes to {lotse.settings.content_dir} and {lotse.settings.locales_dir} go live"
            + (", nlu/ retrains in the background" if service.retrainer is not None else "")
            if service.reloader is not None
            else "read once at start (LOTSE_RELOAD_INTERVAL=0)"
        )
        print(f"  content    {live}", flush=True)
        if workers > 1:
            print(f"  workers    {workers} processes on one address, bridged by LISTEN/NOTIFY", flush=True)
        print("Press Ctrl+C to stop.", flush=True)

    config = uvicorn.Config(
        create_app(service, on_ready=ready),
        host=args.host,
        port=args.port,
        log_level=logging.getLevelName(level).lower(),
        log_config=None,  # uvicorn's lines go through bot.logs like every other line
        access_log=level <= logging.DEBUG,
        lifespan="on",
    )
    if args.socket_fd is None:
        await uvicorn.Server(config).serve()
    else:  # a worker of `--workers N`: the parent's socket, inherited (the family is read from it)
        await uvicorn.Server(config).serve(sockets=[socket.socket(fileno=args.socket_fd)])
    return 0


def _pseudonym(args: argparse.Namespace) -> int:
    """Logs name people by a keyed pseudonym; with the server's key, this finds one person's lines."""
    from bot.pseudonyms import load_key, pseudonym

    settings = Settings()
    print(pseudonym(args.channel, args.user, load_key(settings.log_key, settings.var_dir)))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="lotse", description="Lotse – multilingual assistant for refugees")
    sub = root.add_subparsers(dest="command", required=True)

    ask = sub.add_parser("ask", help="send one message through the full engine")
    ask.add_argument("text")
    ask.add_argument("--lang", choices=sorted(LANGUAGES), help="the user's chosen language")
    ask.add_argument("--user", help="user id; reuse it to continue a conversation (default: a new user)")
    ask.add_argument("--town", help="the user's town (name, any spelling)")
    ask.add_argument("--json", action="store_true", help="print JSON")
    ask.add_argument("--now", help="pretend it is this time (ISO, Europe/Berlin if no zone)")
    ask.set_defaults(func=_ask, is_async=True)

    chat = sub.add_parser("chat", help="chat in the terminal, or run a script of messages")
    chat.add_argument(
        "--script", help="file with one user message per line ('button:PAYLOAD' presses a button)"
    )
    chat.add_argument("--json", action="store_true", help="JSON lines out")
    chat.add_argument("--lang", choices=sorted(LANGUAGES))
    chat.add_argument("--user")
    chat.add_argument("--town")
    chat.add_argument("--now")
    chat.set_defaults(func=_chat, is_async=True)

    train = sub.add_parser("train", help="train the NLU model if nlu/, config.yml or towns changed")
    train.add_argument("--force", action="store_true")
    train.set_defaults(func=_train, is_async=False)

    serve = sub.add_parser("serve", help="run the web chat, Telegram and the message pipeline")
    serve.add_argument("--host", default=os.environ.get("LOTSE_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("LOTSE_PORT", "8000")))
    serve.add_argument(
        "--workers",
        type=int,
        help="processes serving one address (PostgreSQL only; default: LOTSE_WORKERS or 1)",
    )
    # set by `--workers N` for the processes it starts, not by people
    serve.add_argument("--socket-fd", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    serve.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    serve.set_defaults(func=_serve, is_async=False)

    pseudonym = sub.add_parser("pseudonym", help="the pseudonym a user has in the log (to find their lines)")
    pseudonym.add_argument("--channel", required=True, choices=["telegram", "whatsapp", "web"])
    pseudonym.add_argument("--user", required=True, help="Telegram chat id, WhatsApp wa_id or web chat id")
    pseudonym.set_defaults(func=_pseudonym, is_async=False)

    retention = sub.add_parser(
        "retention", help="delete conversations and records past their retention period (RETENTION_DAYS)"
    )
    retention.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    retention.set_defaults(func=_retention, is_async=True)

    content = sub.add_parser("content", help="content commands")
    content_sub = content.add_subparsers(dest="action", required=True)
    check = content_sub.add_parser(
        "check", help="validate content/ and locales/: errors, out-of-date items, missing and stale translations"
    )
    check.add_argument("--json", action="store_true")
    check.add_argument(
        "--max-age",
        type=int,
        metavar="DAYS",
        help="warn about items last checked longer ago (default: LOTSE_CONTENT_MAX_AGE_DAYS or 180)",
    )
    check.add_argument("--strict", action="store_true", help="fail on warnings too")
    check.set_defaults(func=_content_check, is_async=False)
    stats = content_sub.add_parser("stats", help="how far each language's translation is")
    stats.add_argument("--json", action="store_true")
    stats.add_argument("--domains", action="store_true", help="a row per catalog (messages, content)")
    stats.set_defaults(func=_content_stats, is_async=False)

    staff = sub.add_parser("staff", help="caseworker console accounts")
    staff_sub = staff.add_subparsers(dest="action", required=True)
    staff_add = staff_sub.add_parser("add", help="create an account (prints a generated password once)")
    staff_add.add_argument("username")
    staff_add.add_argument("--role", required=True, help="caseworker, lead, editor or admin")
    staff_add.add_argument("--team", action="append", help="team id from content/teams.yml (repeatable)")
    staff_add.add_argument("--name", help="display name (default: the username)")
    staff_add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    staff_sub.add_parser("list", help="list accounts")
    staff_disable = staff_sub.add_parser("disable", help="disable an account and end its sessions")
    staff_disable.add_argument("username")
    staff_enable = staff_sub.add_parser("enable", help="enable a disabled account again (clears a lockout)")
    staff_enable.add_argument("username")
    staff_password = staff_sub.add_parser(
        "password", help="set a new password (prompted twice, or stdin's first line); ends its sessions"
    )
    staff_password.add_argument("username")
    staff_password.add_argument(
        "--generate", action="store_true", help="generate a random password and print it once"
    )
    staff.set_defaults(func=_staff, is_async=True)

    i18n = sub.add_parser("i18n", help="gettext catalog commands (Babel)")
    i18n.add_argument("action", choices=["extract", "update", "compile", "translate"])
    i18n.add_argument("--lang", action="append", help="only this language (repeatable)")
    i18n.add_argument(
        "--provider",
        help="translate: libre, google, deepl or microsoft (default: LOTSE_TRANSLATION)",
    )
    i18n.set_defaults(func=_i18n, is_async=False)

    from bot.demo.command import register as register_demo
    from bot.stats.command import register as register_stats

    register_stats(sub)  # `lotse stats`
    register_demo(sub)  # `lotse demo traffic`
    return root


def main(argv: Sequence[str] | None = None) -> int:
    _quiet()
    args = parser().parse_args(argv)
    try:
        if args.is_async:
            return int(asyncio.run(args.func(args)))
        return int(args.func(args))
    except LotseError as exc:
        print(f"lotse: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
