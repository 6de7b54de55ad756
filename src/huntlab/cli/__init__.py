"""The ``huntlab`` command: a thin entry point; each command group lives in its own module.

Commands are imported only when run, so ``huntlab --help`` stays fast and importing the
package does no I/O.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from typing import Any, ClassVar

import click

# command name -> ("module:attribute", one-line help shown by `huntlab --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "datasets": ("huntlab.cli.datasets:datasets", "List, show, download and import datasets."),
    "read": ("huntlab.cli.read:read", "Read a dataset or file into the event table."),
    "es": ("huntlab.cli.es:es", "Run and set up the Elasticsearch node."),
    "load": ("huntlab.cli.es:load", "Load a dataset or file into Elasticsearch."),
    "query": ("huntlab.cli.es:query", "Search Elasticsearch from the shell."),
    "detect": ("huntlab.cli.detect:detect", "Run Sigma rules on events; list unsupported rules."),
    "hunts": ("huntlab.cli.hunts:hunts", "List the playbook's hunts; get them as notebooks."),
    "up": ("huntlab.cli.lab:up", "Bring the lab up (docker or native)."),
    "down": ("huntlab.cli.lab:down", "Stop everything the lab started."),
    "status": ("huntlab.cli.lab:status", "Show each lab service: up or down, URL, version."),
    "token": ("huntlab.cli.lab:token", "Print (or rotate) the JupyterLab token."),
    "logs": ("huntlab.cli.lab:logs", "Show a lab service's log."),
    "logstash": ("huntlab.cli.logstash:logstash", "Check the live-data path (docker Logstash)."),
    "users": ("huntlab.cli.users:users", "Manage a team server's hunters (add, list, remove)."),
    "fetch": ("huntlab.cli.fetch:fetch", "Download what the native engines need into the cache."),
}


def hoist_options(args: list[str], options: Mapping[str, str]) -> list[str]:
    """Take ``options`` (a group's folder options that hold for every command under it) out of
    ``args`` wherever the user typed them, before the command name or after it, and put
    their values in the environment variables the settings read (``--home X`` sets
    ``HUNTLAB_HOME``). Nothing after ``--`` is touched."""
    out: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            out.extend(args[index:])
            break
        name, eq, value = arg.partition("=")
        if name in options:
            if not eq:
                if index + 1 >= len(args) or args[index + 1].startswith("-"):
                    raise click.UsageError(f"{name} needs a value")
                value = args[index + 1]
                index += 1
            if not value:
                raise click.UsageError(f"{name} needs a value")
            # Both are folders: made absolute here, so every command reads the same one.
            os.environ[options[name]] = os.path.abspath(os.path.expanduser(value))
        else:
            out.append(arg)
        index += 1
    return out


class HoistingGroup(click.Group):
    """A group whose ``hoisted`` options (option -> environment variable) work in every
    position: `huntlab --home X token` and `huntlab token --home X` are the same command;
    likewise its ``flags`` (set to 1)."""

    hoisted: ClassVar[Mapping[str, str]] = {}
    flags: ClassVar[Mapping[str, str]] = {}

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        args = hoist_options(list(args), self.hoisted)
        cut = args.index("--") if "--" in args else len(args)
        for flag, variable in self.flags.items():
            if flag in args[:cut]:
                os.environ[variable] = "1"
                args = [a for i, a in enumerate(args) if a != flag or i >= cut]
                cut = args.index("--") if "--" in args else len(args)
        return super().parse_args(ctx, args)


class LazyGroup(HoistingGroup):
    hoisted: ClassVar[Mapping[str, str]] = {"--home": "HUNTLAB_HOME"}
    flags: ClassVar[Mapping[str, str]] = {"-v": "HUNTLAB_VERBOSE", "--verbose": "HUNTLAB_VERBOSE"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, _, attr = entry[0].partition(":")
        module = importlib.import_module(module_name)
        command: click.Command = getattr(module, attr)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # The reader went away (`huntlab read ... | head`): normal use, exit 0 as other
            # Unix tools do. stdout goes to /dev/null so the final flush cannot fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(0) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="huntlab")
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    expose_value=False,
    help="The lab's home for any command, in any position (default $HUNTLAB_HOME or ~/.huntlab).",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    expose_value=False,
    help="Details, in any position: each process started (command, log) and the output of "
    "tools huntlab otherwise runs quietly.",
)
def cli() -> None:
    """huntlab: a threat-hunting lab (Elasticsearch, Spark, JupyterLab, Security-Datasets).

    \b
    Exit status:
      0    done
      1    an error huntlab explains on one line (huntlab: error: ... and what to do)
      2    a usage error: an unknown option or command, a missing or bad argument
      3    status: a service is down
      130  interrupted (Ctrl-C)
    """


def _for_the_shell(exc: Exception, argv: list[str] | None) -> str:
    """The error as the shell user should read it: a bad line that the library would set
    aside with errors='skip' names the flag of the command that was run."""
    from huntlab.errors import DataFormatError

    if not (isinstance(exc, DataFormatError) and exc.skippable):
        return str(exc)
    args = sys.argv[1:] if argv is None else argv
    command = next((a for a in args if a in COMMANDS), "read")
    hint = f"rerun `huntlab {command}` with --errors skip to set such lines aside and go on"
    return str(DataFormatError(exc.path, exc.line, exc.problem, hint))


# Click 8.2 raises this for a group typed alone (8.1 printed its help itself): nothing to catch
# where it does not exist.
_NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())


def main(argv: list[str] | None = None) -> Any:
    from huntlab.errors import HuntlabError

    try:
        return cli.main(args=argv, prog_name="huntlab", standalone_mode=False)
    except HuntlabError as exc:
        click.echo(f"huntlab: error: {_for_the_shell(exc, argv)}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("huntlab: aborted", err=True)
        sys.exit(130)
    except _NO_ARGS_IS_HELP as exc:
        # A group typed alone (`huntlab`, `huntlab users`): its help is the answer, not an error.
        click.echo(exc.ctx.get_help() if exc.ctx is not None else exc.format_message())
        sys.exit(0)
    except click.UsageError as exc:
        # One line, like every other error: what was wrong, and where the help is.
        where = exc.ctx.command_path if exc.ctx is not None else "huntlab"
        message = exc.format_message().rstrip(".")
        click.echo(f"{where}: error: {message} (see `{where} --help`)", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"huntlab: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
