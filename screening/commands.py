"""Subcommands from other packages: the ``screening.commands`` entry-point group.

Each entry names a ``register(subparsers)`` function that adds its commands to the
``screening`` parser. An entry is named after the extra that installs what its commands
need (``api = "api.cli:register"`` needs ``pip install 'attitude-screening[api]'``), so a
plugin that cannot import, or a command of it that cannot, is one line naming that extra.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, NamedTuple, TypeAlias

__all__ = ["COMMAND_GROUP", "CommandPlugins", "Plugin", "load_command_plugins"]

if TYPE_CHECKING:
    Subcommands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

COMMAND_GROUP = "screening.commands"


class Plugin(NamedTuple):
    """One entry of the group: its name (the extra it needs) and the package declaring it."""

    name: str
    distribution: str

    @property
    def install_hint(self) -> str:
        """The command that installs what this plugin needs."""
        return f"pip install '{self.distribution}[{self.name}]'"


class CommandPlugins:
    """Which plugin added each command, and the plugins that could not load (with why)."""

    def __init__(self) -> None:
        self.commands: dict[str, Plugin] = {}
        self.failed: dict[Plugin, str] = {}

    def unavailable_command_error(self, argv: Sequence[str], subparsers: Subcommands) -> str | None:
        """One line when ``argv`` asks for a command nobody added while a plugin failed to load
        (the command is most likely that plugin's); else ``None``.
        """
        word = next((a for a in argv if not a.startswith("-")), None)
        if not self.failed or word is None or word in subparsers.choices:
            return None
        failed = "; ".join(f"{p.name!r} ({why})" for p, why in self.failed.items())
        hints = " or ".join(p.install_hint for p in self.failed)
        return f"no command {word!r}: the commands of {failed} could not load; install them with {hints}"

    def missing_extra_error(self, command: str, error: ImportError) -> str | None:
        """One line when a plugin's ``command`` fails on a missing module; ``None`` for the engine's own."""
        plugin = self.commands.get(command)
        if plugin is None:
            return None
        return f"{command!r} needs the {plugin.name!r} extra ({error}); install it with {plugin.install_hint}"


def load_command_plugins(subparsers: Subcommands, group: str = COMMAND_GROUP) -> CommandPlugins:
    """Add the commands of every plugin in ``group`` that imports; remember the others."""
    plugins = CommandPlugins()
    for entry in entry_points(group=group):
        plugin = Plugin(entry.name, entry.dist.name if entry.dist else "attitude-screening")
        before = set(subparsers.choices)
        try:
            entry.load()(subparsers)
        except ImportError as exc:
            plugins.failed[plugin] = str(exc)
        plugins.commands.update(dict.fromkeys(set(subparsers.choices) - before, plugin))
    return plugins
