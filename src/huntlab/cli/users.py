"""``huntlab users add|list|remove|reset``: a team server's hunters, from the shell (root).

A new hunter gets a one-time invite link to set their own password; ``--password-stdin``
sets it from standard input instead (scripts). See docs/team.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from huntlab.cli.lab import _settings, home_option
from huntlab.errors import HuntlabError


def _stdin_password() -> str:
    if sys.stdin.isatty():
        raise HuntlabError("--password-stdin reads the password from standard input: pipe it")
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise HuntlabError("--password-stdin: standard input held no password")
    return value


def _say(message: str) -> None:
    click.echo(message, err=True)


@click.group()
def users() -> None:
    """Manage the hunters of a team server (root)."""


@users.command()
@click.argument("name")
@click.option("--admin", is_flag=True, help="The hunter is a hub admin (manages servers).")
@click.option("--password-stdin", is_flag=True, help="Set the password from standard input.")
@home_option
def add(name: str, admin: bool, password_stdin: bool, home: Path | None) -> None:
    """Add hunter NAME: a unix account, a workspace, an Elasticsearch user; print the
    one-time link where they set their password."""
    from huntlab.lab.native.team import add_hunter

    password = _stdin_password() if password_stdin else None
    added = add_hunter(_settings(home), name, admin=admin, password=password)
    if added.invite_url:
        click.echo(added.invite_url)
        _say(f"huntlab: added {name}; send them this link (valid 7 days, works once) to set "
             "their password")  # fmt: skip
    else:
        _say(f"huntlab: added {name} with the password given")


@users.command(name="list")
@home_option
def list_(home: Path | None) -> None:
    """List the hunters: admin or not, login state, unix account, server."""
    from huntlab.lab.native.team import list_hunters

    rows = list_hunters(_settings(home))
    if not rows:
        _say("huntlab: no hunters yet: huntlab users add NAME")
        return
    click.echo(f"{'NAME':<24} {'ADMIN':<5} {'LOGIN':<12} {'ACCOUNT':<32} SERVER")
    for r in rows:
        click.echo(f"{r['name']:<24} {'yes' if r['admin'] else 'no':<5} {r['login']:<12} "
                   f"{r['account']:<32} {r['server']}")  # fmt: skip


@users.command()
@click.argument("name")
@click.option("--keep-files", is_flag=True, help="Keep the hunter's files (their workspace).")
@home_option
def remove(name: str, keep_files: bool, home: Path | None) -> None:
    """Remove hunter NAME: stop their server, revoke their logins and Elasticsearch user,
    delete their account (and files, unless --keep-files)."""
    from huntlab.lab.native.team import remove_hunter

    remove_hunter(_settings(home), name, keep_files=keep_files, say=_say)


@users.command()
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Set the password from standard input.")
@home_option
def reset(name: str, password_stdin: bool, home: Path | None) -> None:
    """Forget NAME's password and print a new one-time invite link."""
    from huntlab.lab.native.team import reset_hunter

    password = _stdin_password() if password_stdin else None
    url = reset_hunter(_settings(home), name, password=password)
    if url:
        click.echo(url)
        _say(f"huntlab: {name}'s password is forgotten; send them this link to set a new one")
    else:
        _say(f"huntlab: {name}'s password is set")
