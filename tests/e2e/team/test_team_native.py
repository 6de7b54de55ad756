"""The native team server end to end: hunters log in through the hub in a real browser, their
kernels reach Elasticsearch as themselves and Spark within their caps, they share the team's
folders, a removed hunter is refused everywhere, and a restart keeps everything.

One lab for the module (``team_lab``: ``ALICE`` and ``BOB`` added); the tests run in file order, the
last one restarts the hub and brings the lab down. Where an error of the team server names a
command (`huntlab users ...`, `huntlab up`), the test that meets it runs that command there.
"""

from __future__ import annotations

import json
import pwd
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.support.fixtures.lab import run_in_kernel
from tests.support.fixtures.team import ALICE, BOB, CAROL, DAVE, TeamLab
from tests.support.hints import suggested
from tests.support.hub_checks import KERNEL_ES, KERNEL_SPARK, WAIT, pinned_chromium
from tests.support.hub_checks import login as _login
from tests.support.hub_checks import try_login as _try_login


def _ok(lab: TeamLab) -> None:
    assert lab.install.returncode == 0, lab.install.stderr[-6000:]


def _es_admin(lab: TeamLab) -> tuple[str, str]:
    password = (lab.home / "team" / "es-admin-password").read_text(encoding="ascii").strip()
    return ("huntlab-admin", password)


def _es_password(lab: TeamLab, name: str) -> str:
    store = json.loads((lab.home / "team" / "es-credentials.json").read_text(encoding="utf-8"))
    return str(store["hunters"][name])


def _shared_index(lab: TeamLab) -> str:
    answer = requests.get(
        f"{lab.es_url}/_cat/indices/huntlab-*?format=json", auth=_es_admin(lab), timeout=30
    )
    assert answer.status_code == 200, answer.text
    names = sorted(i["index"] for i in answer.json() if not i["index"].startswith("huntlab-user-"))
    assert names, "no shared huntlab-* index was loaded"
    return names[0]


def _error_line(result: Any) -> str:
    """The one ``huntlab: error:`` line a failed command printed (no traceback)."""
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("huntlab: error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _listed(lab: TeamLab) -> dict[str, str]:
    """`huntlab users list`: each hunter's row by name."""
    listed = lab.huntlab("users", "list")
    assert listed.returncode == 0, listed.stderr
    return {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}


def _spawn_failure(lab: TeamLab, name: str) -> str:
    """Start ``name``'s server through the hub, which must fail: what the hub tells them (the
    message of their spawn page's progress stream)."""
    lab.hub_api("POST", f"/users/{name}/server")
    with lab.hub_api("GET", f"/users/{name}/server/progress", stream=True) as stream:
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("data:"):
                event = json.loads(line.removeprefix("data:"))
                assert not event.get("ready"), event
                if event.get("failed"):
                    return str(event["message"])
    raise AssertionError(f"{name}'s spawn neither failed nor became ready")


def _kernel(lab: TeamLab, name: str, code: str) -> str:
    url = lab.start_server(name)
    return run_in_kernel(url, lab.user_token(name), code, ca=lab.cert, timeout=600)


def test_install_brings_up_the_team_server_behind_one_https_door(team_lab: TeamLab) -> None:
    _ok(team_lab)
    out = team_lab.install.stdout
    assert "https://" in out and "/hub/" in out, out
    assert "each hunter's server is limited to 1.5 GB of memory and 1 CPU" in (
        team_lab.install.stderr
    ), team_lab.install.stderr[-3000:]
    assert "SHA-256" in out, out
    status = team_lab.huntlab("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "jupyterhub      up" in status.stdout, status.stdout
    assert "spark-worker-2  up" in status.stdout, status.stdout  # --spark-workers 2
    # The team's own files (logins, credentials, the hub's database and secrets) are root's
    # alone; only the hunters' folders and the two shared folders are open to them.
    team = team_lab.home / "team"
    shared = {team / "hunters", team / "datasets", team / "hunts"}
    for path in team.iterdir():
        if path not in shared:
            assert path.stat().st_mode & 0o077 == 0, f"{path} is open to others"
    # The summary names the next command; the fixture ran it (`huntlab users add NAME
    # --password-stdin`) for each hunter right after, as `huntlab up --team --help` says too.
    assert "huntlab users add NAME" in out, out
    rows = _listed(team_lab)
    assert set(rows) == {ALICE, BOB}, rows
    assert "password set" in rows[ALICE] and f"huntlab-{ALICE}" in rows[ALICE]
    # The node's roles file says it is edited with `huntlab users`: that command's list holds
    # exactly the hunters the file gives a role.
    roles_file = team_lab.home / "elasticsearch" / "config" / "roles.yml"
    text = roles_file.read_text(encoding="utf-8")
    assert text.startswith("# Written by huntlab"), text[:200]
    group = suggested(text.splitlines()[0], r"huntlab users")
    listed = team_lab.huntlab(*group, "list")
    assert listed.returncode == 0, listed.stderr
    in_file = {role.removeprefix("huntlab_user_") for role in yaml.safe_load(text)
               if role.startswith("huntlab_user_")}  # fmt: skip
    assert {line.split()[0] for line in listed.stdout.splitlines()[1:]} == in_file
    assert in_file == {ALICE, BOB}
    # Before the install the home was no team lab: `huntlab users` said how to make one,
    # which the fixture then did (`./install.sh --team`, the first way it names), over the
    # Elasticsearch a single analyst's lab runs (security off): restarted with security on.
    before = team_lab.before["users"]
    assert "is not a team lab: bring one up with `./install.sh --team`" in _error_line(before)
    assert suggested(before.stderr, r"huntlab up --team") == ["up", "--team"]
    assert team_lab.before["es"].returncode == 0, team_lab.before["es"].stderr
    assert "restarting Elasticsearch with security on" in team_lab.install.stderr
    anonymous = requests.get(f"{team_lab.es_url}/_security/_authenticate", timeout=30)
    assert anonymous.status_code == 401


def test_no_page_and_no_api_answers_without_a_login(team_lab: TeamLab) -> None:
    _ok(team_lab)
    for path in ("/hub/home", f"/user/{ALICE}/lab", f"/user/{ALICE}/api/contents"):
        answer = requests.get(f"{team_lab.url}{path}", verify=team_lab.cert, timeout=30)
        # Every page ends on the login form; nothing of a hunter's server is served.
        assert answer.url.startswith(f"{team_lab.url}/hub/login"), (path, answer.url)
        assert 'name="password"' in answer.text, path
    api = requests.get(f"{team_lab.url}/hub/api/users", verify=team_lab.cert, timeout=30)
    assert api.status_code == 403


@pytest.fixture
def browser(tmp_path: Path, team_lab: TeamLab) -> Iterator[Any]:
    driver = pinned_chromium(tmp_path, team_lab.cert)
    try:
        yield driver
    finally:
        driver.quit()


def test_hunters_log_in_in_a_browser_and_land_in_their_own_lab(
    team_lab: TeamLab, browser: Any, artifacts_dir: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    _ok(team_lab)
    wait = WebDriverWait(browser, WAIT)

    def log_in(name: str, password: str) -> None:
        browser.get(f"{team_lab.url}/hub/login")
        wait.until(ec.presence_of_element_located((By.ID, "username_input")))
        browser.find_element(By.ID, "username_input").send_keys(name)
        browser.find_element(By.ID, "password_input").send_keys(password)
        browser.find_element(By.ID, "login_submit").click()

    log_in(ALICE, "not-her-password")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".login_error, #login-main")))
    assert "/hub/login" in browser.current_url
    assert "Invalid username or password" in browser.page_source
    # The page says how a hunter gets in: the invite link, or a new one from the admin.
    assert "huntlab users reset" in browser.find_element(By.ID, "huntlab-login-help").text
    browser.save_screenshot(str(artifacts_dir / "team-login-refused.png"))

    log_in(ALICE, team_lab.passwords[ALICE])
    wait.until(lambda d: f"/user/{ALICE}/lab" in d.current_url)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".jp-LabShell")))
    # Her workspace: the tutorial notebooks and the team's two shared folders.
    for item in ("hunts", "datasets", "04-event-log-analysis-pandas.ipynb"):
        wait.until(
            ec.visibility_of_element_located(
                (By.XPATH, f"//li[contains(@class,'jp-DirListing-item')][@title and "
                           f"contains(@title, 'Name: {item}')]")
            )
        )  # fmt: skip
    browser.save_screenshot(str(artifacts_dir / "team-alice-lab.png"))

    # Alice's cookie does not open Bob's (running) server.
    team_lab.start_server(BOB)
    browser.get(f"{team_lab.url}/user/{BOB}/lab")
    wait.until(lambda d: "403" in d.find_element(By.TAG_NAME, "body").text)
    browser.save_screenshot(str(artifacts_dir / "team-alice-refused-bob.png"))
    # The hub refuses to hand Alice a login to Bob's server; no JupyterLab of his is shown.
    assert f"client_id=jupyterhub-user-{BOB}" in browser.current_url, browser.current_url
    assert not browser.find_elements(By.CSS_SELECTOR, ".jp-LabShell")


def test_alice_cookie_gets_403_on_bob_server(team_lab: TeamLab) -> None:
    _ok(team_lab)
    team_lab.start_server(BOB)
    session = _login(team_lab, ALICE, team_lab.passwords[ALICE])
    answer = session.get(
        f"{team_lab.url}/user/{BOB}/api/contents", verify=team_lab.cert, timeout=60
    )
    assert answer.status_code == 403, (answer.status_code, answer.url)


def test_each_hunter_kernel_reads_elasticsearch_as_themselves(team_lab: TeamLab) -> None:
    _ok(team_lab)
    shared = _shared_index(team_lab)
    for name, other in ((ALICE, BOB), (BOB, ALICE)):
        code = KERNEL_ES.replace("SHARED", shared).replace("OTHER", other).replace("NAME", name)
        out = json.loads(_kernel(team_lab, name, code).strip().splitlines()[-1])
        assert out["who"] == name
        assert out["count"] > 0
        assert out["index_shared"] == 403
        assert out["delete_shared"] == 403
        assert out["index_other"] == 403
        assert out["own"] >= 1


def test_shared_folders_datasets_read_only_and_hunts_shared(team_lab: TeamLab) -> None:
    _ok(team_lab)
    wrote = _kernel(
        team_lab,
        ALICE,
        "import os, json\n"
        "os.chdir(os.path.expanduser('~/workspace'))\n"
        "out = {'datasets': sorted(os.listdir('datasets'))}\n"
        "try:\n"
        "    open('datasets/mine.txt', 'w').write('x')\n"
        "    out['write_datasets'] = 'written'\n"
        "except PermissionError:\n"
        "    out['write_datasets'] = 'refused'\n"
        "open('hunts/alice-hunt.md', 'w').write('# WMI lateral movement, by alice\\n')\n"
        "print(json.dumps(out))\n",
    )
    out = json.loads(wrote.strip().splitlines()[-1])
    assert "empire_invoke_wmi" in out["datasets"]
    assert out["write_datasets"] == "refused"
    hunt = team_lab.home / "team" / "hunts" / "alice-hunt.md"
    assert pwd.getpwuid(hunt.stat().st_uid).pw_name == f"huntlab-{ALICE}"  # the author
    read = _kernel(team_lab, BOB, "print(open('workspace/hunts/alice-hunt.md').read())")
    assert "by alice" in read


def test_two_hunters_run_spark_jobs_at_once_each_within_its_cap(team_lab: TeamLab) -> None:
    _ok(team_lab)
    results: dict[str, str] = {}
    errors: list[BaseException] = []
    apps: list[dict[str, Any]] = []

    def run(name: str) -> None:
        try:
            results[name] = _kernel(team_lab, name, KERNEL_SPARK.replace("NAME", name))
        except BaseException as exc:
            errors.append(exc)

    def watch() -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and len(results) + len(errors) < 2:
            state = requests.get(f"{team_lab.spark_master_ui}/json/", timeout=10).json()
            for app in state.get("activeapps", []):
                if app["name"].startswith("hunt-") and app["id"] not in {a["id"] for a in apps}:
                    apps.append(app)
            time.sleep(0.5)

    threads = [threading.Thread(target=run, args=(n,)) for n in (ALICE, BOB)]
    watcher = threading.Thread(target=watch)
    for thread in [*threads, watcher]:
        thread.start()
    for thread in [*threads, watcher]:
        thread.join()
    assert not errors, errors
    expected = str(sum(range(3_000_000)))
    # (Ivy's resolution of the connector prints before the answer.)
    for name in (ALICE, BOB):
        assert results[name].strip().splitlines()[-1] == expected, results[name]
    state = requests.get(f"{team_lab.spark_master_ui}/json/", timeout=10).json()
    assert len([w for w in state["workers"] if w["state"] == "ALIVE"]) == 2  # --spark-workers
    seen = {a["name"]: a for a in apps}
    assert {f"hunt-{ALICE}", f"hunt-{BOB}"} <= set(seen), apps
    for app in seen.values():
        assert app["cores"] <= 1, app  # the hunter's cap (spark.cores.max)
        assert app["memoryperexecutor"] <= 512, app


def test_a_removed_hunter_is_refused_everywhere(team_lab: TeamLab) -> None:
    _ok(team_lab)
    added = team_lab.huntlab("users", "add", CAROL, "--password-stdin", stdin="carol-password-1\n")
    assert added.returncode == 0, added.stderr
    es_password = _es_password(team_lab, CAROL)
    who = requests.get(f"{team_lab.es_url}/_security/_authenticate",
                       auth=(CAROL, es_password), timeout=30)  # fmt: skip
    deadline = time.monotonic() + 60
    while who.status_code != 200 and time.monotonic() < deadline:
        time.sleep(1)
        who = requests.get(f"{team_lab.es_url}/_security/_authenticate",
                           auth=(CAROL, es_password), timeout=30)  # fmt: skip
    assert who.status_code == 200 and who.json()["username"] == CAROL
    _login(team_lab, CAROL, "carol-password-1")

    # The credential store loses her (restored from a backup older than her): her server
    # cannot start, and says how to give her the credential back.
    store = team_lab.home / "team" / "es-credentials.json"
    data = json.loads(store.read_text(encoding="utf-8"))
    del data["hunters"][CAROL]
    store.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    failed = _spawn_failure(team_lab, CAROL)
    assert f"no Elasticsearch credential for hunter '{CAROL}'" in failed, failed
    readded = team_lab.huntlab(*suggested(failed, rf"huntlab users add {CAROL}"))
    assert readded.returncode == 0, readded.stderr
    # She has a credential again and keeps her login; her server starts.
    es_password = _es_password(team_lab, CAROL)
    deadline = time.monotonic() + 60
    who = requests.get(f"{team_lab.es_url}/_security/_authenticate",
                       auth=(CAROL, es_password), timeout=30)  # fmt: skip
    while who.status_code != 200 and time.monotonic() < deadline:
        time.sleep(1)
        who = requests.get(f"{team_lab.es_url}/_security/_authenticate",
                           auth=(CAROL, es_password), timeout=30)  # fmt: skip
    assert who.status_code == 200 and who.json()["username"] == CAROL
    assert "password set" in _listed(team_lab)[CAROL]
    _login(team_lab, CAROL, "carol-password-1")
    team_lab.start_server(CAROL)

    removed = team_lab.huntlab("users", "remove", CAROL)
    assert removed.returncode == 0, removed.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        who = requests.get(f"{team_lab.es_url}/_security/_authenticate",
                           auth=(CAROL, es_password), timeout=30)  # fmt: skip
        if who.status_code == 401:
            break
        time.sleep(1)
    assert who.status_code == 401
    with pytest.raises(KeyError):
        pwd.getpwnam(f"huntlab-{CAROL}")
    assert team_lab.hub_api("GET", f"/users/{CAROL}").status_code == 404
    _, refused = _try_login(team_lab, CAROL, "carol-password-1")
    assert refused.status_code == 403


def test_an_invite_lets_a_new_hunter_set_their_password_once(team_lab: TeamLab) -> None:
    _ok(team_lab)
    # A team lab has no token; its error says how a hunter gets in: their invite link.
    token = _error_line(team_lab.huntlab("token"))
    assert "a team lab has no shared token" in token, token
    hint = suggested(token, r"huntlab users add NAME")
    added = team_lab.huntlab(*[DAVE if arg == "NAME" else arg for arg in hint])
    assert added.returncode == 0, added.stderr
    first = added.stdout.strip()
    assert re.fullmatch(rf"{re.escape(team_lab.url)}/hub/invite/\S+", first), added.stdout
    try:
        # Adding him again points at reset, which gives him a new invite; the first is dead.
        again = _error_line(team_lab.huntlab("users", "add", DAVE))
        assert f"hunter {DAVE} exists already" in again, again
        reset = team_lab.huntlab(*suggested(again, rf"huntlab users reset {DAVE}"))
        assert reset.returncode == 0, reset.stderr
        invite = reset.stdout.strip()
        assert "/hub/invite/" in invite and invite != first, reset.stdout
        assert requests.get(first, verify=team_lab.cert, timeout=30).status_code == 404
        session = requests.Session()
        page = session.get(invite, verify=team_lab.cert, timeout=30)
        assert page.status_code == 200 and DAVE in page.text
        xsrf = session.cookies.get("_xsrf")
        short = session.post(invite, data={"password": "short", "password2": "short",
                                           "_xsrf": xsrf}, verify=team_lab.cert, timeout=30)  # fmt: skip
        assert short.status_code == 400
        chosen = "dave-chose-this-1"
        done = session.post(invite, data={"password": chosen, "password2": chosen, "_xsrf": xsrf},
                            verify=team_lab.cert, timeout=30, allow_redirects=False)  # fmt: skip
        assert done.status_code == 302, done.text[-1000:]
        used = requests.get(invite, verify=team_lab.cert, timeout=30)
        assert used.status_code == 404  # used up
        _login(team_lab, DAVE, chosen)
    finally:
        removed = team_lab.huntlab("users", "remove", DAVE)
    assert removed.returncode == 0, removed.stderr
    # Gone: removing or resetting him again says who there is instead.
    for command in ("remove", "reset"):
        gone = _error_line(team_lab.huntlab("users", command, DAVE))
        assert f"no hunter {DAVE}" in gone, gone
        listed = team_lab.huntlab(*suggested(gone, r"huntlab users list"))
        assert listed.returncode == 0, listed.stderr
        assert {line.split()[0] for line in listed.stdout.splitlines()[1:]} == {ALICE, BOB}


def test_repeated_failed_logins_are_throttled(team_lab: TeamLab) -> None:
    _ok(team_lab)
    session = requests.Session()
    codes = []
    for _ in range(7):
        session, answer = _try_login(team_lab, BOB, "guess-guess", session)
        codes.append(answer.status_code)
    assert codes[:5] == [403] * 5, codes
    assert codes[-1] == 429, codes
    # Even the right password waits out the lockout (it is per name and per address).
    _, right = _try_login(team_lab, BOB, team_lab.passwords[BOB], session)
    assert right.status_code == 429


def test_a_stopped_node_comes_back_with_security_on_by_the_command_its_error_names(
    team_lab: TeamLab,
) -> None:
    """The team's node stopped: a command that reads it names `huntlab es start`; run as
    written, the node comes back as the team's (security on: anonymous refused, each hunter
    as themselves), never as a single analyst's open node."""
    stopped = team_lab.huntlab("es", "stop")
    assert stopped.returncode == 0, stopped.stderr
    failed = _error_line(team_lab.huntlab("query", "EventID:1"))
    assert "does not answer" in failed, failed
    started = team_lab.huntlab(*suggested(failed, r"huntlab es start"), timeout=600)
    assert started.returncode == 0, started.stderr[-3000:]
    url = f"{team_lab.es_url}/_security/_authenticate"
    assert requests.get(url, timeout=30).status_code == 401
    who = requests.get(url, auth=(ALICE, _es_password(team_lab, ALICE)), timeout=30)
    assert who.status_code == 200 and who.json()["username"] == ALICE
    status = team_lab.huntlab("status")
    assert status.returncode == 0, status.stdout + status.stderr


def test_restart_keeps_users_and_files_and_down_leaves_nothing(team_lab: TeamLab) -> None:
    _ok(team_lab)
    from huntlab.lab import processes

    # The hub's API token file is emptied (a full disk): `huntlab users` says to delete it and
    # run `huntlab up`, which makes a new token and restarts the running hub with it.
    token_file = team_lab.home / "team" / "hub-api-token"
    token_file.write_text("", encoding="ascii")
    hub_before = processes.running(team_lab.home, "jupyterhub")
    broken = _error_line(team_lab.huntlab("users", "list"))
    found = re.search(r"delete (\S+) and run `(huntlab up)`", broken)
    assert found is not None and Path(found.group(1)) == token_file, broken
    Path(found.group(1)).unlink()
    # --no-data: the session's datasets are loaded; up would fetch the default ones.
    again = team_lab.huntlab(*found.group(2).split()[1:], "--no-data", timeout=900)
    assert again.returncode == 0, again.stderr[-4000:]
    hub_after = processes.running(team_lab.home, "jupyterhub")
    assert hub_before is not None and hub_after is not None
    assert hub_after.pid != hub_before.pid, again.stderr[-3000:]
    assert team_lab.hub_api("GET", "/users").status_code == 200  # the new token
    # Alice's password, her files and the team's hunts survived the restart.
    _login(team_lab, ALICE, team_lab.passwords[ALICE])
    assert (
        team_lab.home / "team" / "hunters" / ALICE / "workspace" / "hunts" / "alice-hunt.md"
    ).is_file()
    listed = team_lab.huntlab("users", "list")
    assert {line.split()[0] for line in listed.stdout.splitlines()[1:]} == {ALICE, BOB}
    team_lab.start_server(ALICE)
    team_lab.remember_pids()

    down = team_lab.huntlab("down", timeout=300)
    assert down.returncode == 0, down.stderr
    import psutil

    ours = {f"huntlab-{name}" for name in (ALICE, BOB)}
    left = [p.pid for p in psutil.process_iter(["username"]) if p.info.get("username") in ours]
    assert not left, left
    assert not [pid for pid in team_lab.seen_pids if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]  # fmt: skip
