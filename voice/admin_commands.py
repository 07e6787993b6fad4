"""Commands for the office's administrators: ``retention`` (delete old recordings and transcripts) and
``users`` (dashboard accounts)."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

from voice.command_root import (
    EXIT_OK,
    EXIT_USAGE,
)


def cmd_retention(args: Any, settings: Any) -> int:

    from pipeline.content import load_content
    from voice.storage.factory import make_store

    store = make_store(settings)
    store.warm_up()
    if args.delete_call:
        found = store.delete_call(args.delete_call)
        print(f"call {args.delete_call}: {'deleted' if found else 'not found'}")
        return EXIT_OK if found else EXIT_USAGE
    retention = load_content(settings.office_profile, settings.prompts_dir / "figures.yaml").office.get("retention", {})
    now = dt.datetime.now(dt.UTC)
    result = store.purge(
        transcripts_before=now - dt.timedelta(days=int(retention.get("transcripts_days", 90))),
        recordings_before=now - dt.timedelta(days=int(retention.get("recordings_days", 30))),
    )
    print(f"removed {result.transcripts} transcripts and {result.recordings} recordings past their retention period")
    return EXIT_OK


def _read_password() -> str:
    """From the terminal (asked twice), or the first line of stdin when it is not a terminal."""
    import getpass

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def cmd_users(args: Any, settings: Any) -> int:
    from voice.storage.accounts import AccountError, Accounts
    from voice.storage.factory import make_store

    store = make_store(settings)
    store.warm_up()
    accounts = Accounts(store.engine)
    try:
        if args.users_command == "add":
            accounts.add(args.name, _read_password(), args.role)
            print(f"user {args.name} added ({args.role})")
        elif args.users_command == "passwd":
            accounts.set_password(args.name, _read_password())
            print(f"password of {args.name} changed (their open sessions end)")
        elif args.users_command == "role":
            accounts.set_role(args.name, args.role)
            print(f"{args.name} is now {args.role}")
        elif args.users_command == "remove":
            found = accounts.remove(args.name)
            print(f"user {args.name}: {'removed' if found else 'not found'}")
            return EXIT_OK if found else EXIT_USAGE
        else:
            for user in accounts.all():
                last = user["last_login_at"].strftime("%Y-%m-%d %H:%M") if user["last_login_at"] else "never"
                print(f"{user['name']:<24}{user['role']:<8}last login {last}")
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK
