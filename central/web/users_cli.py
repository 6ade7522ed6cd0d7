"""`lockernet users`: the console's and the operator API's logins.

    lockernet users add NAME --role operator|technician|viewer [--password-file FILE]
    lockernet users list
    lockernet users disable NAME

A password is read from a prompt (asked twice) or from the first line of --password-file,
never from the command line (where `ps` and the shell's history would keep it). Every
command reads central's config (--config, else $LOCKERNET_CENTRAL_CONFIG, else
./central.toml) for the store. Exit status: 0 done, 2 bad input (nothing written).
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from central.store import CentralStore

CONFIG_ENV = "LOCKERNET_CENTRAL_CONFIG"
EXIT_BAD_INPUT = 2
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
# NIST SP 800-63B's floor for a password a person chose.
PASSWORD_MIN_CHARS = 8
PASSWORD_MAX_CHARS = 1024


class UserInputError(Exception):
    """Bad input to a users command; the message names what was wrong."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `lockernet users` and its actions."""
    users = commands.add_parser("users", help="console and API logins, with their roles")
    sub = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add a login")
    add.add_argument("name", help="login name: lowercase letters, digits, '.', '_' or '-'")
    add.add_argument(
        "--role", required=True, choices=["operator", "technician", "viewer"], help="its role"
    )
    add.add_argument(
        "--password-file", type=Path, help="read the password from this file's first line"
    )
    _config_option(add)
    add.set_defaults(handler=_guarded(_add))
    listing = sub.add_parser("list", help="every login, its role and whether it is disabled")
    _config_option(listing)
    listing.set_defaults(handler=_guarded(_list))
    disable = sub.add_parser("disable", help="disable a login (signed out at its next request)")
    disable.add_argument("name")
    _config_option(disable)
    disable.set_defaults(handler=_guarded(_disable))


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ.get(CONFIG_ENV, "central.toml")),
        help=f"central's config file (default: ${CONFIG_ENV} or ./central.toml)",
    )


def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Errors a user can act on become one line on stderr and exit status 2."""
    from central.errors import CentralError

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (UserInputError, CentralError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT

    return run


def read_password(password_file: Path | None) -> str:
    """The new password: the file's first line, or typed twice at a prompt.
    UserInputError if the file cannot be read, the two differ or it is too short."""
    if password_file is not None:
        try:
            lines = password_file.read_text().splitlines()
        except OSError as exc:
            raise UserInputError(f"--password-file {password_file}: {exc.strerror}") from None
        password = lines[0] if lines else ""
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise UserInputError("the two passwords differ; nothing was written")
    if not PASSWORD_MIN_CHARS <= len(password) <= PASSWORD_MAX_CHARS:
        raise UserInputError(
            f"the password must be {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters, "
            f"this one is {len(password)}"
        )
    return password


def _add(args: argparse.Namespace) -> int:
    from central.store.queries.users import UserRecord
    from central.web.auth import hash_password

    if not NAME.fullmatch(args.name):
        raise UserInputError(
            f"login name {args.name!r}: 1-32 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    password = read_password(args.password_file)
    store = _store(args)
    try:
        with store.transaction() as session:
            record = UserRecord(args.name, args.role, hash_password(password), time.time())
            if not session.add_user(record):
                raise UserInputError(f"login {args.name!r} exists already; nothing was written")
    finally:
        store.close()
    print(f"added {args.name} ({args.role})")
    return 0


def _list(args: argparse.Namespace) -> int:
    from central.service.config import load_config
    from central.store.open import open_reader, store_location
    from protocols.localtime import timestamp

    with open_reader(store_location(load_config(args.config).store)) as reader:
        users = reader.view.list_users()
    if not users:
        print("no logins (lockernet users add NAME --role operator)")
    for user in users:
        state = "active" if user.disabled_at is None else f"disabled {timestamp(user.disabled_at)}"
        print(f"{user.name:<32} {user.role:<10} {state}")
    return 0


def _disable(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        with store.transaction() as session:
            if not session.disable_user(args.name, time.time()):
                found = session.get_user(args.name)
                why = "no such login" if found is None else "it is disabled already"
                raise UserInputError(f"login {args.name!r}: {why}; nothing was changed")
    finally:
        store.close()
    print(f"disabled {args.name}")
    return 0


def _store(args: argparse.Namespace) -> CentralStore:
    from central.service.config import load_config
    from central.store.open import open_store

    return open_store(load_config(args.config).store)
