"""The site agent: the shell (shell.py) that runs the site's decisions (edge/site/)."""

from edge.agent.screen import STORE_REFUSAL, ScreenLine
from edge.agent.shell import SiteAgent
from edge.agent.snapshot import AGENT_VERSION
from edge.site.actions import CommandRefused, Refused
from edge.site.counter import SHELF

__all__ = [
    "AGENT_VERSION",
    "SHELF",
    "STORE_REFUSAL",
    "CommandRefused",
    "Refused",
    "ScreenLine",
    "SiteAgent",
]
