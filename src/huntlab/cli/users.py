"""``huntlab users add|list|remove|reset``: a team server's hunters, from the shell (root).

A new hunter gets a one-time invite link to set their own password; ``--password-stdin``
sets it from standard input instead (scripts). See docs/team.md.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from huntlab.cli.lab import _settings
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


def _in_docker() -> bool:
    """The home's lab is the docker runtime's (its hub runs the commands in its container)."""
    from huntlab.lab.config import read_config

    return read_config(_settings().home).get("runtime") == "docker"


def _docker_users(*args: str, stdin: str | None = None) -> dict[str, Any]:
    from huntlab.lab import docker

    out = docker.users(list(args), stdin=stdin).strip().splitlines()
    return (
        dict(json.loads(out[-1]))
        if out and out[-1].startswith("{")
        else {"rows": json.loads(out[-1])}
    )


@click.group()
def users() -> None:
    """Manage the hunters of a team server (root)."""


@users.command()
@click.argument("name")
@click.option("--admin", is_flag=True, help="The hunter is a hub admin (manages servers).")
@click.option("--password-stdin", is_flag=True, help="Set the password from standard input.")
def add(name: str, admin: bool, password_stdin: bool) -> None:
    """Add hunter NAME: a unix account, a workspace, an Elasticsearch user; print the
    one-time link where they set their password."""
    password = _stdin_password() if password_stdin else None
    if _in_docker():
        flags = [*(["--admin"] if admin else []), *(["--password-stdin"] if password else [])]
        invite = _docker_users("add", name, *flags, stdin=f"{password}\n" if password else None)
        invite_url = invite.get("invite_url")
    else:
        from huntlab.lab.native.team import add_hunter

        invite_url = add_hunter(_settings(), name, admin=admin, password=password).invite_url
    if invite_url:
        click.echo(invite_url)
        _say(f"huntlab: added {name}; send them this link (valid 7 days, works once) to set "
             "their password")  # fmt: skip
    elif password:
        _say(f"huntlab: added {name} with the password given")
    else:  # a hunter who had a login: given back what they lacked, their password kept
        _say(f"huntlab: {name} is complete again; their password is unchanged")


@users.command(name="list")
def list_() -> None:
    """List the hunters: admin or not, login state, unix account, server."""
    if _in_docker():
        rows = _docker_users("list")["rows"]
    else:
        from huntlab.lab.native.team import list_hunters

        rows = list_hunters(_settings())
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
def remove(name: str, keep_files: bool) -> None:
    """Remove hunter NAME: stop their server, revoke their logins and Elasticsearch user,
    delete their account (and files, unless --keep-files)."""
    if _in_docker():
        _docker_users("remove", name, *(["--keep-files"] if keep_files else []))
        _say(f"huntlab: removed hunter {name}" + ("; their volume stays" if keep_files else ""))
        return
    from huntlab.lab.native.team import remove_hunter

    remove_hunter(_settings(), name, keep_files=keep_files, say=_say)


@users.command()
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Set the password from standard input.")
def reset(name: str, password_stdin: bool) -> None:
    """Forget NAME's password and print a new one-time invite link."""
    password = _stdin_password() if password_stdin else None
    if _in_docker():
        flags = ["--password-stdin"] if password else []
        answer = _docker_users("reset", name, *flags, stdin=f"{password}\n" if password else None)
        url = answer.get("invite_url")
    else:
        from huntlab.lab.native.team import reset_hunter

        url = reset_hunter(_settings(), name, password=password)
    if url:
        click.echo(url)
        _say(f"huntlab: {name}'s password is forgotten; send them this link to set a new one")
    else:
        _say(f"huntlab: {name}'s password is set")
