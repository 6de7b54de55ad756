"""The native team server end to end: hunters log in through the hub in a real browser, their
kernels reach Elasticsearch as themselves and Spark within their caps, they share the team's
folders, a removed hunter is refused everywhere, and a restart keeps everything.

One lab for the module (``team_lab``: ``ALICE`` and ``BOB`` added); the tests run in file order, the
last one restarts the hub and brings the lab down.
"""

from __future__ import annotations

import json
import pwd
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.fixtures.lab import run_in_kernel
from tests.support.fixtures.team import ALICE, BOB, CAROL, DAVE, TeamLab
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
    token = team_lab.huntlab("token")
    assert token.returncode != 0 and "no shared token" in token.stderr
    listed = team_lab.huntlab("users", "list")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert set(rows) == {ALICE, BOB}, listed.stdout
    assert "password set" in rows[ALICE] and f"huntlab-{ALICE}" in rows[ALICE]


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
    added = team_lab.huntlab("users", "add", DAVE)
    assert added.returncode == 0, added.stderr
    invite = added.stdout.strip()
    assert "/hub/invite/" in invite
    try:
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
        again = requests.get(invite, verify=team_lab.cert, timeout=30)
        assert again.status_code == 404  # used up
        _login(team_lab, DAVE, chosen)
    finally:
        team_lab.huntlab("users", "remove", DAVE)


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


def test_restart_keeps_users_and_files_and_down_leaves_nothing(team_lab: TeamLab) -> None:
    _ok(team_lab)
    from huntlab.lab import processes

    processes.stop(team_lab.home, "jupyterhub")
    again = team_lab.huntlab("up", "--no-data", timeout=900)
    assert again.returncode == 0, again.stderr[-4000:]
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
