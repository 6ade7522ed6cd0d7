"""`lockernet sim --console`: the operator console served on the running day's store, so a
new user watches the network's day live in a browser.

The console is central's own HTTP app (central/web/app.py), served in a thread of the
simulator's process by uvicorn, on the day's store (reads through the read path, writes such
as an acknowledgement or a badge through the store), with the day's clock (times shown are
the simulated day's) and central's signing key (a badge issued on the console opens the
day's lockers). Diagnostics reach a site over the day's broker, as `lockernet diag` does. A
login with the operator role is made for the run, with a random password, and printed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from central.errors import ConfigError as CentralConfigError
from central.service.config import parse_config
from central.store import CentralStore
from central.store.open import open_store
from central.store.queries.users import UserRecord
from central.web.app import create_app
from central.web.auth import Role, hash_password
from central.web.console.live import close_streams
from central.web.serve import ApiServer, bind, linked_request, web_context
from hw_sim.errors import ConfigError
from protocols.clock import Clock
from protocols.tokens import TokenSigner

LOGIN_NAME = "sim-operator"
# Random bytes of the run's password (URL-safe base64: 16 characters).
PASSWORD_BYTES = 12
SESSION_KEY_FILE = "console-session.key"


def check_listen(listen: str) -> None:
    """Fail before the day is built if `listen` ("HOST:PORT") is malformed or taken:
    ConfigError naming it. (The console binds it again once the store exists.)"""
    try:
        bind(listen).close()
    except CentralConfigError as exc:
        raise ConfigError(f"--console: {exc}") from None


@dataclass
class SimConsole:
    """The console of one day: started once the day's store exists, stopped with the day."""

    listen: str
    url: str
    login: str
    password: str
    _app: FastAPI
    _server: ApiServer
    _store: CentralStore

    @classmethod
    def start(
        cls,
        listen: str,
        central: dict[str, Any],
        workdir: Path,
        signer: TokenSigner,
        clock: Clock,
    ) -> SimConsole:
        """Serve the console on `listen` for the day whose central configuration is
        `central` (its store, brokers and topics), with a new operator login. ConfigError
        naming host:port if it cannot listen there."""
        sections = dict(central)
        sections["api"] = {"listen": listen, "session_secret_file": str(workdir / SESSION_KEY_FILE)}
        config = parse_config(sections, "the simulation's console", environ={})
        store = open_store(config.store)
        try:
            password = secrets.token_urlsafe(PASSWORD_BYTES)
            login = UserRecord(
                LOGIN_NAME, Role.OPERATOR.value, hash_password(password), time.time()
            )
            with store.transaction() as session:
                session.add_user(login)
            ctx = web_context(config, store, signer, clock, linked_request(config, store, signer))
            app = create_app(ctx)
            server = ApiServer(app, listen)
            server.start()
        except CentralConfigError as exc:
            store.close()
            raise ConfigError(f"--console: {exc}") from None
        except BaseException:
            store.close()
            raise
        host, _, port = listen.rpartition(":")
        return cls(
            listen, f"http://{host}:{port}/console/", LOGIN_NAME, password, app, server, store
        )

    def announce(self, say: Callable[[str], None]) -> None:
        """Tell the user where the console is and how to log in."""
        say(
            f"console: {self.url}  user {self.login}  password {self.password}  "
            "(served until the day ends)"
        )

    def stop(self) -> None:
        """Stop serving (ending the pages' live streams first, which would hold the
        server up) and let the store go."""
        try:
            close_streams(self._app)
            self._server.stop()
        finally:
            self._store.close()
