"""``twistd rpsa`` options from ``RPSA_*`` environment variables (for ``rpsa.tac`` and systemd).

Every option of :class:`rpsa.daemon.tap.Options` has a variable: ``RPSA_`` and the long
option name upper-cased with ``-`` as ``_`` (``--max-games`` is
``RPSA_MAX_GAMES``).  The names come from the Options class itself
(``optParameters``, ``optFlags`` and ``opt_*`` methods), so a new option has a
variable without any change here.  Three kinds:

* a parameter (``optParameters``) takes the value as it stands
  (``RPSA_TICK=0.5`` is ``--tick=0.5``); empty means the default;
* a flag (``optFlags``, or an ``opt_*`` method without an argument) is on
  for ``1``/``true``/``yes`` and off for ``0``/``false``/``no`` or empty
  (any case);
* a repeatable option (an ``opt_*`` method with an argument, like
  ``--listen``) takes whitespace-separated values, each given once
  (``RPSA_LISTEN="tcp:8080 unix:/run/rpsa.sock"``).

:func:`options_from_env` turns the variables into an argv and hands it to
``Options().parseOptions``, so values are checked exactly as on the command
line and fail with the same :class:`~twisted.python.usage.UsageError`.  An
``RPSA_*`` variable that names no option is an error too: a typo must not
quietly leave a setting at its default.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Dict, List, Mapping, Type

from twisted.python import reflect, usage

from rpsa.daemon.tap import Options

PREFIX = "RPSA_"
PARAMETER, FLAG, REPEATABLE = "parameter", "flag", "repeatable"
TRUE = ("1", "true", "yes")
FALSE = ("0", "false", "no", "")


@dataclass(frozen=True)
class EnvOption:
    """One option and the variable that sets it."""

    option: str  # the long option name, e.g. "max-games"
    variable: str  # e.g. "RPSA_MAX_GAMES"
    kind: str  # PARAMETER, FLAG or REPEATABLE

    def argv(self, value: str) -> List[str]:
        """The command-line arguments ``value`` of this variable stands for."""
        if self.kind == PARAMETER:
            return [] if not value.strip() else [f"{self._dashes}={value}"]
        if self.kind == REPEATABLE:
            return [f"{self._dashes}={item}" for item in value.split()]
        word = value.strip().lower()
        if word in TRUE:
            return [self._dashes]
        if word in FALSE:
            return []
        raise usage.UsageError(
            f"{self.variable}: expected 1/true/yes or 0/false/no (or empty), got {value!r}")

    @property
    def _dashes(self) -> str:
        return ("-" if len(self.option) == 1 else "--") + self.option


def variable_name(option: str) -> str:
    """The variable for long option ``option``: ``max-games`` -> ``RPSA_MAX_GAMES``."""
    return PREFIX + option.upper().replace("-", "_")


def env_options(options_class: Type[usage.Options] = Options) -> Dict[str, EnvOption]:
    """Every option of ``options_class`` (``--help`` and ``--version`` aside), by variable name."""
    found: List[EnvOption] = []
    parameters: list = []
    reflect.accumulateClassList(options_class, "optParameters", parameters)
    found += [EnvOption(p[0], variable_name(p[0]), PARAMETER) for p in parameters]
    flags: list = []
    reflect.accumulateClassList(options_class, "optFlags", flags)
    found += [EnvOption(f[0], variable_name(f[0]), FLAG) for f in flags]

    # opt_* methods, as usage.Options finds them; aliases of one method count once (the longest name).
    handlers: dict = {}
    reflect.addMethodNamesToDict(options_class, handlers, "opt_")
    builtin: dict = {}
    reflect.addMethodNamesToDict(usage.Options, builtin, "opt_")
    by_method: Dict[object, List[str]] = {}
    for name in handlers:
        method = getattr(options_class, "opt_" + name)
        if name in builtin and method is getattr(usage.Options, "opt_" + name):
            continue  # --help, --version: not settings
        by_method.setdefault(method, []).append(name)
    instance = options_class()
    for names in by_method.values():
        name = max(names, key=len)
        takes_arg = not usage.flagFunction(getattr(instance, "opt_" + name), name)
        option = name.replace("_", "-")
        found.append(EnvOption(option, variable_name(option), REPEATABLE if takes_arg else FLAG))

    table: Dict[str, EnvOption] = {}
    for entry in found:
        if entry.variable in table:
            raise ValueError(f"options --{table[entry.variable].option} and --{entry.option} "
                             f"both map to {entry.variable}")
        table[entry.variable] = entry
    return table


def argv_from_env(environ: Mapping[str, str], options_class: Type[usage.Options] = Options) -> List[str]:
    """The command line the ``RPSA_*`` variables of ``environ`` stand for (raises UsageError for unknown ones)."""
    table = env_options(options_class)
    unknown = sorted(name for name in environ if name.startswith(PREFIX) and name not in table)
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, table, n=1)
            hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
        raise usage.UsageError(
            f"unknown environment variable{'s' if len(unknown) > 1 else ''} {', '.join(hints)}; "
            f"known: {', '.join(sorted(table))}")
    argv: List[str] = []
    for name in sorted(table):  # a fixed order, so errors are reproducible
        if name in environ:
            argv += table[name].argv(environ[name])
    return argv


def options_from_env(environ: Mapping[str, str], options_class: Type[usage.Options] = Options) -> usage.Options:
    """Parsed options from the ``RPSA_*`` variables of ``environ``; raises UsageError like the command line."""
    options = options_class()
    options.parseOptions(argv_from_env(environ, options_class))
    return options


def explain(error: usage.UsageError, environ: Mapping[str, str]) -> str:
    """``error`` (from :func:`options_from_env`) for whoever set the variables: naming the one at fault."""
    named = re.match(r"--([a-z0-9-]+)", str(error))
    variable = variable_name(named.group(1)) if named else None
    if variable is not None and variable in environ:
        return f"{error} (set by {variable})"
    return str(error)
