"""Command-line entry point: a thin layer. Each command lives in `tpdoctor/commands/<name>.py` and is
imported only when invoked, so `tpdoctor scan` never pays for what `tpdoctor bench` needs.

`main` is the one exception boundary: a TpdError is one line (and its hint); anything unexpected is one
line naming it as a bug, with where to report it. Both exit 3 (UNKNOWN), never 1: Nagios reads 1 as
WARNING, and a crash is not a verdict about the node. `--debug` adds the traceback.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

import click

from tpdoctor import __version__
from tpdoctor.commands._streams import StdoutError, prepare
from tpdoctor.model.errors import TpdError
from tpdoctor.model.exitcodes import ExitCode
from tpdoctor.model.safetext import clean

# command name -> "module:attribute" (a click.Command)
COMMANDS: dict[str, str] = {
    "scan": "tpdoctor.commands.scan:command",
    "collect": "tpdoctor.commands.collect:command",
    "demo": "tpdoctor.commands.demo:command",
    "health": "tpdoctor.commands.health:command",
    "bench": "tpdoctor.commands.bench:command",
    "check-deployment": "tpdoctor.commands.check_deployment:command",
    "predict": "tpdoctor.commands.predict:command",
    "fleet": "tpdoctor.commands.fleet:command",
    "rules": "tpdoctor.commands.rules:command",
    "explain": "tpdoctor.commands.explain:command",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        cmd = getattr(importlib.import_module(module), attr)
        assert isinstance(cmd, click.Command)
        return cmd


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tpdoctor")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """GPU-topology and NVLink doctor for tensor-parallel LLM inference.

    Exit codes (Nagios convention): 0 ok, 1 warning, 2 critical, 3 unknown (probe failed, bad input).
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def fail(error: TpdError) -> ExitCode:
    """Print a TpdError as one line (plus its hint) on stderr; the caller exits with the returned code."""
    click.echo(f"tpdoctor: error: {clean(error.message, 2000)}", err=True)
    if error.hint:
        click.echo(f"  hint: {clean(error.hint, 2000)}", err=True)
    return ExitCode.UNKNOWN


ISSUES = "https://github.com/tpdoctor/tpdoctor/issues"


def crash(exc: BaseException, debug: bool) -> ExitCode:
    """An exception nobody expected: one line that says so, and how to report it; exit 3."""
    if debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__)
    detail = clean(" ".join(str(exc).split()), 200)
    click.echo(f"tpdoctor: internal error: {type(exc).__name__}{': ' + detail if detail else ''}", err=True)
    click.echo(f"  hint: this is a bug in tpdoctor; please report it with the command line at {ISSUES}"
               + ("" if debug else " (run again with --debug for the traceback)"), err=True)
    return ExitCode.UNKNOWN


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (testable without a subprocess)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    prepare()
    try:
        code = _run(args, debug)
        sys.stdout.flush()
    except StdoutError as exc:  # /dev/full, a reader that went away (`| head -1`)
        return _stdout_failed(exc)
    return code


def _run(args: list[str], debug: bool) -> int:
    try:
        rv = cli.main(args=args, prog_name="tpdoctor", standalone_mode=False)
    except TpdError as exc:
        if debug:
            traceback.print_exception(type(exc), exc, exc.__traceback__)
        return int(fail(exc))
    except click.exceptions.Abort:
        click.echo("tpdoctor: aborted", err=True)
        return int(ExitCode.UNKNOWN)
    except click.ClickException as exc:
        exc.show()
        return int(ExitCode.UNKNOWN)  # usage errors are "unknown" for Nagios
    except KeyboardInterrupt:
        return int(ExitCode.UNKNOWN)
    except SystemExit:
        if type(sys.stdout).__name__.endswith("PacifyFlushWrapper"):  # click's own answer to EPIPE: exit 1 (WARNING)
            raise StdoutError(errno.EPIPE, os.strerror(errno.EPIPE)) from None
        raise
    except Exception as exc:  # noqa: BLE001 - the one boundary: a bug still ends as one line and exit 3
        if isinstance(exc, StdoutError):
            raise  # main says it in one line
        return int(crash(exc, debug))
    return int(rv) if isinstance(rv, int) else 0


def _stdout_failed(exc: OSError) -> int:
    """One line on stderr, exit 3. A closed pipe (`tpdoctor ... | head -1`) says so too: the exit code (3,
    not the verdict) would otherwise be unexplained. stdout then points at /dev/null, so Python's own
    flush at exit has nothing left to complain about."""
    with contextlib.suppress(OSError, ValueError), open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), sys.stdout.fileno())
    if exc.errno == errno.EPIPE:
        why = "the reader of stdout went away before everything was written (broken pipe)"
    else:
        why = f"cannot write to stdout: {exc.strerror or exc}"
    with contextlib.suppress(OSError, ValueError):
        click.echo(f"tpdoctor: error: {why}", err=True)
    return int(ExitCode.UNKNOWN)
