"""The help screens: options in panels, plain metavariables, full command summaries.

The app renders its help without rich (``rich_markup_mode=None``: fast, no markup parsed from help
texts), and typer's plain renderer ignores ``rich_help_panel``. :class:`HelpCommand` groups the
options itself, under the panel named by the option's ``rich_help_panel`` or, when that is not
set, by :data:`PANELS` (one table for all commands: an option means the same everywhere). It also
shows arguments by their metavariable alone (typer adds the Python type: ``<list[Path]>``) and
writes the usage line as ``FILE`` / ``[PREDICTION]`` (typer writes ``{FILE}``).

Importing this module imports nothing outside the standard library and typer.
"""

from __future__ import annotations

from typer.core import TyperCommand

#: Panel of each option (by its long name), in the order the panels are shown.
PANEL_ORDER = (
    "What to score",
    "What to draw",
    "What to show",
    "Matching directions",
    "Batch",
    "CI gates",
    "Statistics",
    "Output",
    "Run",
)
PANELS = {
    # what to score: metrics and how they are computed
    "--metric": "What to score",
    "--preset": "What to score",
    "--freq-min": "What to score",
    "--freq-max": "What to score",
    "--n-fft": "What to score",
    "--domain": "What to score",
    "--reduction": "What to score",
    "--epsilon": "What to score",
    "--itd-method": "What to score",
    "--lateral": "What to score",
    "--sensitivity": "What to score",
    "--dtf": "What to score",
    "--weighting": "What to score",
    "--bands": "What to score",
    "--region": "What to score",
    "--region-tolerance": "What to score",
    "--ignore-delay": "What to score",
    # plot
    "--view": "What to draw",
    "--direction": "What to draw",
    "--dpi": "What to draw",
    # info
    "--cues": "What to show",
    # which directions take part
    "--position-tolerance": "Matching directions",
    "--allow-missing": "Matching directions",
    "--max-missing": "Matching directions",
    "--length-policy": "Matching directions",
    "--exclude-silent": "Matching directions",
    "--exclude": "Matching directions",
    # many pairs
    "--pairs": "Batch",
    "--ignore-unmatched": "Batch",
    "--workers": "Batch",
    "--shard": "Batch",
    "--allow-missing-shards": "Batch",
    # exit codes for CI
    "--fail-above": "CI gates",
    "--baseline": "CI gates",
    "--max-regression": "CI gates",
    "--junit": "CI gates",
    "--alpha": "CI gates",
    "--fail-if-worse": "CI gates",
    # compare
    "--resamples": "Statistics",
    "--seed": "Statistics",
    "--worst": "Statistics",
    # what is written where
    "--format": "Output",
    "--output": "Output",
    "--plot": "Output",
    "--per-ear": "Output",
    "--per-direction": "Output",
    "--quiet": "Output",
    # how the run goes
    "--device": "Run",
    "--max-memory": "Run",
    "--timeout": "Run",
    "--help": "Run",
}
#: Widest first column (option names and metavariables); longer names take a line of their own.
NAME_COLUMN = 28


def long_name(param) -> str:
    """The option's first long name (``--metric``), else its first name."""
    names = [*param.opts, *param.secondary_opts]
    return next((n for n in names if n.startswith("--")), names[0] if names else param.name)


def panel_of(param) -> str | None:
    """The panel an option is shown in: its ``rich_help_panel``, else :data:`PANELS`'s."""
    return getattr(param, "rich_help_panel", None) or PANELS.get(long_name(param))


def _argument_name(param) -> str:
    """An argument's metavariable as given (``DOC.json...``), else its name (``NAME...`` when it
    takes several values), without the Python type typer adds."""
    if param.metavar:
        return param.metavar
    name = param.name.upper()
    return name if param.nargs == 1 else name + "..."


class HelpCommand(TyperCommand):
    """A command whose ``--help`` shows its options in panels (see the module notes)."""

    def collect_usage_pieces(self, ctx):
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = _argument_name(param)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx, formatter) -> None:
        arguments: list[tuple[str, str]] = []
        panels: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((_argument_name(param), record[1]))
            else:
                panels.setdefault(panel_of(param) or "Options", []).append(record)
        rows = arguments + [r for group in panels.values() for r in group]
        width = min(max((len(name) for name, _ in rows), default=0), NAME_COLUMN)

        def write(title, records):
            with formatter.section(title):
                # Names padded to one width: the help texts of all panels start in one column.
                formatter.write_dl([(n.ljust(width), h) for n, h in records], col_max=width)

        if arguments:
            write("Arguments", arguments)
        order = [p for p in PANEL_ORDER if p in panels] + [
            p for p in panels if p not in PANEL_ORDER
        ]
        for title in order:
            write(title, panels[title])


def command_rows(group, ctx) -> list[tuple[str, str]]:
    """(name, summary) of each visible command: the first sentence of its help, in full."""
    rows = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is not None and not command.hidden:
            rows.append((name, command.get_short_help_str(limit=10_000)))
    return rows
