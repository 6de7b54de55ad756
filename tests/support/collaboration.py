"""Two hunters on one notebook at the same time, the same check for both runtimes' team
servers: the owner shares their server with a teammate (JupyterHub's shares), both open the
same notebook of the team's hunts/ folder through jupyter-collaboration's room websocket, each
with their own hub token, and each sees the other's edit. The Y protocol is spoken for real
(pycrdt's sync messages, jupyter-ydoc's notebook model) over the hunter's server behind the
hub's HTTPS proxy; without the share, the room is refused (403).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
import websocket
from jupyter_ydoc import YNotebook
from pycrdt import (
    Doc,
    YMessageType,
    create_sync_message,
    create_update_message,
    handle_sync_message,
)

WAIT = 60


class Peer:
    """One hunter's copy of the notebook, kept in sync over the room's websocket."""

    def __init__(self, ws: websocket.WebSocket) -> None:
        self.ws = ws
        self.doc = Doc()
        self.notebook = YNotebook(self.doc)
        ws.send_binary(create_sync_message(self.doc))

    def source(self, index: int = 0) -> str:
        return str(self.notebook.get_cell(index)["source"])

    def wait_for(self, what: str, done: Callable[[], bool]) -> None:
        """Apply the server's messages until ``done()``."""
        deadline = time.monotonic() + WAIT
        while not done():
            assert time.monotonic() < deadline, f"never saw {what}"
            message = self.ws.recv()
            if not isinstance(message, bytes) or not message:
                continue
            if message[0] == YMessageType.SYNC:
                reply = handle_sync_message(message[1:], self.doc)
                if reply is not None:
                    self.ws.send_binary(reply)

    def append(self, text: str, index: int = 0) -> None:
        """Edit the cell's source here and send the change as a Y update."""
        before = self.doc.get_state()
        source = self.notebook.ycells[index]["source"]
        source.insert(len(source), text)
        self.ws.send_binary(create_update_message(self.doc.get_update(before)))


def _room(lab: Any, owner: str, token: str, path: str) -> tuple[str, str]:
    """The notebook's collaboration room on ``owner``'s server: (websocket URL, room id)."""
    answer = requests.put(
        f"{lab.url}/user/{owner}/api/collaboration/session/{path}",
        json={"format": "json", "type": "notebook"},
        headers={"Authorization": f"token {token}"}, verify=lab.cert, timeout=60,
    )  # fmt: skip
    assert answer.status_code in (200, 201), (answer.status_code, answer.text)
    session = answer.json()
    room = f"json:notebook:{session['fileId']}"
    ws_url = lab.url.replace("https", "wss", 1) + f"/user/{owner}/api/collaboration/room/{room}"
    return f"{ws_url}?sessionId={session['sessionId']}", room


def _connect(lab: Any, ws_url: str, token: str) -> websocket.WebSocket:
    return websocket.create_connection(
        ws_url, header=[f"Authorization: token {token}"], timeout=WAIT,
        sslopt={"ca_certs": lab.cert},
    )  # fmt: skip


@contextmanager
def _peer(lab: Any, ws_url: str, token: str) -> Iterator[Peer]:
    ws = _connect(lab, ws_url, token)
    try:
        yield Peer(ws)
    finally:
        ws.close()


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


def two_hunters_edit_one_notebook(
    lab: Any, owner: str, teammate: str, saved: Callable[[str], str],
    check_author: Callable[[str], None] | None = None,
) -> None:
    """``owner`` makes a notebook in hunts/, shares their server with ``teammate``; both edit
    it at once through the collaboration room and each sees the other's edit; the room saves
    the merged notebook (``saved(path)`` reads it back, ``check_author(path)`` checks its
    owner). Without the share, the teammate is refused (403). ``lab``: a team lab fixture of
    either runtime (``url``, ``cert``, ``start_server``, ``user_token``, ``hub_api``)."""
    server = lab.start_server(owner)
    alice, unshared = lab.user_token(owner), lab.user_token(teammate)
    path = f"hunts/wmi-together-{secrets.token_hex(4)}.ipynb"
    notebook = {
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [{"id": "c0", "cell_type": "code", "source": "hits = 0", "metadata": {},
                   "outputs": [], "execution_count": None}],
    }  # fmt: skip
    made = requests.put(f"{server}/api/contents/{path}", headers=_as(alice), verify=lab.cert,
                        json={"type": "notebook", "content": notebook}, timeout=60)  # fmt: skip
    assert made.status_code == 201, made.text
    ws_url, _room_id = _room(lab, owner, alice, path)

    # Without a share, bob (like anyone but alice) cannot open her notebook's room.
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        _connect(lab, ws_url, unshared)
    assert refused.value.status_code == 403
    contents = requests.get(f"{server}/api/contents/{path}", headers=_as(unshared),
                            verify=lab.cert, timeout=60)  # fmt: skip
    assert contents.status_code == 403

    # Alice shares her server with bob, with her own token (the `user` role's shares!user).
    shared = requests.post(f"{lab.url}/hub/api/shares/{owner}/", json={"user": teammate},
                           headers=_as(alice), verify=lab.cert, timeout=60)  # fmt: skip
    assert shared.status_code == 200, shared.text
    # (A fresh token: alice's server remembers what a token it has seen may do for a while.)
    bob = lab.user_token(teammate)
    try:
        # On her server bob is still himself (the name shown beside his cursor).
        me = requests.get(f"{server}/api/me", headers=_as(bob), verify=lab.cert, timeout=60)
        assert me.status_code == 200, me.text
        assert me.json()["identity"]["username"] == teammate

        with _peer(lab, ws_url, alice) as a, _peer(lab, ws_url, bob) as b:
            a.wait_for("the notebook at alice's", lambda: a.notebook.cell_number == 1)
            b.wait_for("the notebook at bob's", lambda: b.notebook.cell_number == 1)
            assert a.source() == b.source() == "hits = 0"

            a.append("  # alice: filter on wmiprvse.exe")
            b.wait_for("alice's edit at bob's", lambda: "alice:" in b.source())
            b.append("\n# bob: and its children")
            a.wait_for("bob's edit at alice's", lambda: "bob:" in a.source())
            expected = "hits = 0  # alice: filter on wmiprvse.exe\n# bob: and its children"
            assert a.source() == b.source() == expected

        # The room saves the merged notebook into the team's folder, as alice's file.
        deadline = time.monotonic() + WAIT
        while "bob:" not in saved(path):
            assert time.monotonic() < deadline, saved(path)
            time.sleep(0.5)
        stored: dict[str, Any] = json.loads(saved(path))
        assert "".join(stored["cells"][0]["source"]) == expected
        if check_author is not None:
            check_author(path)
    finally:
        # Leave alice's server hers alone again, and the team's folder as it was.
        requests.delete(f"{lab.url}/hub/api/shares/{owner}/", headers=_as(alice),
                        verify=lab.cert, timeout=60)  # fmt: skip
        requests.delete(f"{server}/api/contents/{path}", headers=_as(alice),
                        verify=lab.cert, timeout=60)  # fmt: skip
        _stop_server(lab, owner)


def _stop_server(lab: Any, name: str) -> None:
    """Stop ``name``'s server, as the team's other tests expect to find it (not running)."""
    lab.hub_api("DELETE", f"/users/{name}/server")
    deadline = time.monotonic() + WAIT
    while (lab.hub_api("GET", f"/users/{name}").json().get("servers") or {}).get(""):
        assert time.monotonic() < deadline, f"{name}'s server did not stop"
        time.sleep(0.5)
