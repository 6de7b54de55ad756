"""End to end: ``./install.sh --native`` from a fresh home brings up the whole lab.

Real Elasticsearch, Spark master and worker, JupyterLab; data from ../shared/datasets through
HUNTLAB_DATASETS_MIRROR; every port picked free by the fixture (tests/support/fixtures/lab.py).
The tests run in file order against one lab: install, check, rerun, down, up again with TLS.
"""

from __future__ import annotations

import ipaddress
import json
import re
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.support.cli import sigint_at_default
from tests.support.fixtures.lab import NativeLab, alive, run_in_kernel
from tests.support.hints import suggested

SERVICES = ("elasticsearch", "spark-master", "spark-worker", "jupyter")


def _es_dataset_count(es_url: str, name: str) -> int:
    answer = requests.post(
        f"{es_url}/huntlab-*/_count",
        json={"query": {"term": {"Dataset": name}}},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return int(answer.json()["count"])


def _loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)  # a Java socket shows ::ffff:127.0.0.1
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def _status_rows(lab: NativeLab) -> dict[str, str]:
    done = lab.huntlab("status")
    rows = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if parts and parts[0] in SERVICES:
            rows[parts[0]] = parts[1]
    return rows


@pytest.fixture(scope="module")
def lab(native_lab: NativeLab) -> NativeLab:
    assert native_lab.install.returncode == 0, (
        f"./install.sh --native failed:\n{native_lab.install.stderr[-4000:]}"
    )
    return native_lab


@pytest.fixture(scope="module")
def file_counts(native_lab: NativeLab) -> dict[str, int]:
    """Events per default dataset as the pandas reader counts them from the mirror."""
    import huntlab
    from huntlab import datasets

    mirror = Path(native_lab.env["HUNTLAB_DATASETS_MIRROR"])
    counts = {}
    for name in datasets.DEFAULT_DATASETS:
        path = datasets.find_in_mirror(name, mirror)
        assert path is not None, f"{name} not in {mirror}"
        counts[name] = len(huntlab.read_events(path))
    return counts


def test_install_native_exits_zero_and_prints_url_and_token(lab: NativeLab) -> None:
    assert lab.install.returncode == 0
    assert "runtime: native" in lab.install.stderr
    assert f"127.0.0.1:{lab.ports['jupyter']}/lab?token={lab.token}" in lab.install.stdout
    # What the native node really gets: templates, and a note that it runs no pipeline.
    assert "huntlab: Elasticsearch set up (" in lab.install.stderr
    assert "no ingest pipeline huntlab-mordor" in lab.install.stderr, lab.install.stderr[-3000:]
    assert "`huntlab load` maps events itself" in lab.install.stderr
    # Quiet: no report of Spark's Ivy (the connector is resolved once, its output kept back).
    for noise in (":: loading settings ::", "resolving dependencies", "confs: [default]"):
        assert noise not in lab.install.stdout + lab.install.stderr, noise


def test_token_is_random_private_and_long(lab: NativeLab) -> None:
    path = lab.home / "jupyter_token"
    assert path.stat().st_mode & 0o777 == 0o600
    assert re.fullmatch(r"[0-9a-f]{64}", lab.token)
    assert lab.huntlab("token").stdout.strip() == lab.token


def test_jupyter_requires_the_token(lab: NativeLab) -> None:
    url = f"{lab.jupyter}/api/contents"
    ok = requests.get(url, headers={"Authorization": f"token {lab.token}"}, timeout=30)
    assert ok.status_code == 200
    assert requests.get(url, timeout=30).status_code in (401, 403)
    wrong = requests.get(url, headers={"Authorization": "token " + "0" * 64}, timeout=30)
    assert wrong.status_code in (401, 403)
    assert requests.get(url, params={"token": lab.token[:-1]}, timeout=30).status_code in (
        401,
        403,
    )


def test_status_shows_every_service_up(lab: NativeLab) -> None:
    done = lab.huntlab("status")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _status_rows(lab) == dict.fromkeys(SERVICES, "up")
    assert f"http://127.0.0.1:{lab.ports['es']}" in done.stdout
    assert "8.19." in done.stdout  # the Elasticsearch version it reports


def test_notebooks_are_in_the_users_workspace(lab: NativeLab) -> None:
    from huntlab.resources import resource_dir

    shipped = sorted(p.name for p in resource_dir("notebooks").glob("*.ipynb"))
    workspace = sorted(p.name for p in (lab.home / "workspace").glob("*.ipynb"))
    assert shipped, "no notebook shipped in jupyter/notebooks"
    assert workspace == shipped
    listed = requests.get(
        f"{lab.jupyter}/api/contents",
        headers={"Authorization": f"token {lab.token}"},
        timeout=30,
    ).json()
    assert set(shipped) <= {item["name"] for item in listed["content"]}


def test_the_workspace_has_the_labs_recordings_in_datasets(
    lab: NativeLab, file_counts: dict[str, int]
) -> None:
    """As in the tutorial series: the recordings beside the notebooks, read by a relative path."""
    link = lab.home / "workspace" / "datasets"
    assert link.is_symlink(), "workspace/datasets is not the link to the dataset store"
    assert (link / "empire_invoke_wmi" / "empire_invoke_wmi.tar.gz").is_file()
    listed = requests.get(
        f"{lab.jupyter}/api/contents/datasets/empire_invoke_wmi",
        headers={"Authorization": f"token {lab.token}"},
        timeout=30,
    )
    assert listed.status_code == 200, listed.text
    assert "empire_invoke_wmi.tar.gz" in {item["name"] for item in listed.json()["content"]}
    code = (
        "import pandas as pd\n"
        "df = pd.read_json('datasets/empire_invoke_wmi/empire_invoke_wmi.tar.gz', lines=True)\n"
        "print(len(df))\n"
    )
    printed = run_in_kernel(lab.jupyter, lab.token, code).strip().splitlines()[-1]
    assert int(printed) == file_counts["empire_invoke_wmi"]


def test_elasticsearch_holds_the_default_datasets(
    lab: NativeLab, file_counts: dict[str, int]
) -> None:
    for name, expected in file_counts.items():
        assert _es_dataset_count(lab.es_url, name) == expected, name


def test_kernel_reads_elasticsearch_and_runs_a_spark_job_on_the_master(lab: NativeLab) -> None:
    code = """
import json, sys
from huntlab.settings import load_settings
from huntlab.es.client import client
import huntlab.spark

settings = load_settings()
es_count = client(settings).count(index="huntlab")["count"]
spark = huntlab.spark.session(app_name="huntlab-lab-e2e")
sysmon = huntlab.spark.read_es(spark, "huntlab-sysmon")
spark_count = sysmon.count()
by_id = sysmon.groupBy("EventID").count().count()
print(json.dumps({"python": sys.executable, "master": spark.sparkContext.master, "app": spark.sparkContext.applicationId,
                  "es_count": es_count, "spark_count": spark_count, "event_ids": by_id}))
spark.stop()
"""
    out = run_in_kernel(lab.jupyter, lab.token, code)
    result = json.loads(out.strip().splitlines()[-1])
    # The kernel is the lab's own interpreter (the venv with huntlab, pandas and pyspark).
    assert Path(result["python"]).parent == Path(lab.huntlab_bin).parent
    assert result["master"] == f"spark://127.0.0.1:{lab.ports['spark_master']}"
    sysmon = requests.post(f"{lab.es_url}/huntlab-sysmon/_count", timeout=30).json()["count"]
    assert result["spark_count"] == sysmon > 0
    assert result["es_count"] >= sysmon
    assert result["event_ids"] > 1
    master = requests.get(f"{lab.spark_master_ui}/json/", timeout=30).json()
    apps = {app["id"]: app for app in master["completedapps"] + master["activeapps"]}
    assert result["app"] in apps
    assert apps[result["app"]]["name"] == "huntlab-lab-e2e"


def test_everything_in_the_home_is_private(lab: NativeLab) -> None:
    """After `install.sh`, a notebook's Spark job and the data load: the home is 700 and
    nothing under it (logs, pid records, data, notebooks, secrets) is open to group or others;
    no lab process carries the Spark secret on its command line."""
    import psutil

    from huntlab.lab.home import MARKER
    from huntlab.spark.auth import read_secret
    from tests.support.private_files import open_to_others

    assert (lab.home / MARKER).is_file()
    assert open_to_others(lab.home) == []
    secret = read_secret(lab.home)
    assert secret is not None
    for pid in lab.pids():
        try:
            argv = " ".join(psutil.Process(pid).cmdline())
        except psutil.Error:
            continue
        assert secret not in argv, pid


def test_install_again_keeps_token_and_counts(lab: NativeLab, file_counts: dict[str, int]) -> None:
    token = lab.token
    again = lab.install_sh()  # no flag: the runtime recorded in the home is reused
    assert again.returncode == 0, again.stderr[-4000:]
    assert "recorded" in again.stderr
    assert "runs; checking each service" in again.stderr, again.stderr[-3000:]
    assert "starting the native lab" not in again.stderr
    assert lab.token == token
    for name, expected in file_counts.items():
        assert _es_dataset_count(lab.es_url, name) == expected, name
    assert _status_rows(lab) == dict.fromkeys(SERVICES, "up")


def test_token_rotation_restarts_jupyter_with_only_the_new_token(lab: NativeLab) -> None:
    old = lab.token
    rotated = lab.huntlab("token", "--rotate")
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.strip()
    assert new != old and new == lab.token
    url = f"{lab.jupyter}/api/status"
    assert requests.get(url, headers={"Authorization": f"token {new}"}, timeout=30).ok
    refused = requests.get(url, headers={"Authorization": f"token {old}"}, timeout=30)
    assert refused.status_code in (401, 403)


def test_logs_show_each_service(lab: NativeLab) -> None:
    listed = lab.huntlab("logs")
    assert listed.returncode == 0
    for name in SERVICES:
        assert name in listed.stdout
    jupyter = lab.huntlab("logs", "jupyter", "-n", "200")
    assert jupyter.returncode == 0 and "Jupyter Server" in jupyter.stdout
    master = lab.huntlab("logs", "spark-master", "-n", "500")
    assert f"spark://127.0.0.1:{lab.ports['spark_master']}" in master.stdout
    unknown = lab.huntlab("logs", "kibana")
    assert unknown.returncode == 1 and "choose one of" in unknown.stderr


def test_logs_follow_prints_new_lines_until_interrupted(lab: NativeLab) -> None:
    import secrets
    import signal
    import threading

    follower = subprocess.Popen(
        [lab.huntlab_bin, "logs", "jupyter", "-f", "-n", "1"],
        env=lab.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_at_default,
    )
    seen: list[str] = []
    found = threading.Event()
    marker = f"huntlab-follow-{secrets.token_hex(4)}"

    def read() -> None:
        assert follower.stdout is not None
        for line in follower.stdout:
            seen.append(line)
            if marker in line:
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        # Bounded by the clock, generous for a loaded machine (the CLI's start-up included).
        deadline = time.monotonic() + 120
        while not found.is_set() and time.monotonic() < deadline:
            # Refused without the token: Jupyter logs the 403 with the path.
            requests.get(f"{lab.jupyter}/api/contents/{marker}", timeout=30)
            found.wait(0.5)
        assert found.is_set(), "".join(seen[-20:])
    finally:
        follower.send_signal(signal.SIGINT)
        try:
            code = follower.wait(timeout=60)
        except subprocess.TimeoutExpired:
            follower.kill()
            err = follower.stderr.read() if follower.stderr else ""
            raise AssertionError(
                f"huntlab logs -f did not end on SIGINT; it printed {''.join(seen[-20:])!r}, "
                f"stderr {err[-2000:]!r}, marker seen: {found.is_set()}"
            ) from None
    assert code == 0
    assert "Traceback" not in (follower.stderr.read() if follower.stderr else "")


def test_a_dataset_that_cannot_be_had_leaves_the_lab_up_and_says_how_to_load_it(
    lab: NativeLab, tmp_path: Path
) -> None:
    env = {k: v for k, v in lab.env.items() if k != "HUNTLAB_DATASETS_MIRROR"}
    env["HUNTLAB_CACHE"] = str(tmp_path / "empty-cache")  # nothing stored, nothing mirrored
    done = subprocess.run(
        [lab.huntlab_bin, "up", "--datasets", "empire_launcher_vbs"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "huntlab load empire_launcher_vbs" in done.stderr
    assert "HUNTLAB_DATASETS_MIRROR" in done.stderr
    assert _status_rows(lab) == dict.fromkeys(SERVICES, "up")
    # The hint, as written, with the mirror set: loaded, and recorded, so that the next `up`
    # that asks for it does not load it again.
    loaded = lab.huntlab("load", "empire_launcher_vbs", timeout=600)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    count = _es_dataset_count(lab.es_url, "empire_launcher_vbs")
    assert count > 0
    again = lab.huntlab("up", "--datasets", "empire_launcher_vbs", timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"empire_launcher_vbs: already loaded ({count} events)" in again.stderr, again.stderr


def test_the_hint_of_a_stopped_node_brings_it_back(
    lab: NativeLab, file_counts: dict[str, int]
) -> None:
    """The situation that prints `huntlab es start`: the node is down. The hint, run as
    written, brings it back with its data, and the command that failed then works."""
    stopped = lab.huntlab("es", "stop")
    assert stopped.returncode == 0, stopped.stderr
    failed = lab.huntlab("query", "EventID:1", "--index", "huntlab-sysmon")
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    hint = re.search(r"`(huntlab es start)`", failed.stderr)
    assert hint is not None, failed.stderr
    started = lab.huntlab(*hint.group(1).split()[1:], timeout=300)
    assert started.returncode == 0, started.stderr[-3000:]
    again = lab.huntlab("query", "EventID:1", "--index", "huntlab-sysmon")
    assert again.returncode == 0, again.stderr[-3000:]
    for name, expected in file_counts.items():
        assert _es_dataset_count(lab.es_url, name) == expected, name
    assert _status_rows(lab) == dict.fromkeys(SERVICES, "up")
    # Its other way out, `huntlab up`, brings the node back too.
    assert lab.huntlab("es", "stop").returncode == 0
    failed = lab.huntlab("query", "EventID:1", "--index", "huntlab-sysmon")
    assert failed.returncode == 1, failed.stderr
    up = lab.huntlab(*suggested(failed.stderr, "huntlab up"), timeout=600)
    assert up.returncode == 0, up.stderr[-3000:]
    assert lab.huntlab("query", "EventID:1", "--index", "huntlab-sysmon").returncode == 0
    for name, expected in file_counts.items():
        assert _es_dataset_count(lab.es_url, name) == expected, name


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one error line of a failed command (after any progress it printed)."""
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(lines) == 1 and lines[0].startswith("huntlab: error: "), done.stderr
    return lines[0]


def _jupyter_takes(lab: NativeLab, token: str) -> bool:
    answer = requests.get(f"{lab.jupyter}/api/status", timeout=30,
                          headers={"Authorization": f"token {token}"})  # fmt: skip
    return answer.status_code == 200


def test_an_emptied_token_names_two_ways_out_and_each_works(lab: NativeLab) -> None:
    """An emptied jupyter_token: `huntlab token` says to run `huntlab up` (after deleting it)
    or `huntlab token --rotate`; each, run as written, gives a new token Jupyter takes."""
    path = lab.home / "jupyter_token"
    old = lab.token
    path.write_text("\n", encoding="ascii")
    message = _one_error_line(lab.huntlab("token"))
    rotated = lab.huntlab(*suggested(message, "huntlab token --rotate"))
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.strip()
    assert new == lab.token and new != old
    assert _jupyter_takes(lab, new) and not _jupyter_takes(lab, old)

    path.write_text("\n", encoding="ascii")
    message = _one_error_line(lab.huntlab("token"))
    path.unlink()  # "delete it and run `huntlab up`"
    up = lab.huntlab(*suggested(message, "huntlab up"))
    assert up.returncode == 0, up.stderr[-3000:]
    made = lab.token
    assert made not in (new, old) and (path.stat().st_mode & 0o077) == 0
    assert _jupyter_takes(lab, made) and not _jupyter_takes(lab, new)
    assert lab.huntlab("token").stdout.strip() == made


def test_an_emptied_spark_secret_is_made_anew_by_up_as_the_message_says(lab: NativeLab) -> None:
    """An emptied Spark secret: `huntlab up` refuses it and says to delete it and run
    `huntlab up`; done, the master, worker and kernels share the new secret (a job runs)."""
    from huntlab.spark.auth import secret_path

    path = secret_path(lab.home)
    old = path.read_text(encoding="ascii").strip()
    path.write_text("\n", encoding="ascii")
    message = _one_error_line(lab.huntlab("up"))
    assert str(path) in message
    path.unlink()
    up = lab.huntlab(*suggested(message, "huntlab up"))
    assert up.returncode == 0, up.stderr[-3000:]
    new = path.read_text(encoding="ascii").strip()
    assert new and new != old
    code = """
import json
import huntlab.spark
spark = huntlab.spark.session(app_name="huntlab-new-secret")
print(json.dumps({"rows": spark.range(1000).selectExpr("sum(id)").first()[0]}))
spark.stop()
"""
    out = run_in_kernel(lab.jupyter, lab.token, code)
    assert json.loads(out.strip().splitlines()[-1]) == {"rows": 499500}
    assert _status_rows(lab) == dict.fromkeys(SERVICES, "up")


def test_a_pyspark_kernel_without_its_master_says_to_check_status_which_shows_why(
    lab: NativeLab,
) -> None:
    """The PySpark (huntlab) kernel's start (huntlab.spark.kernel.start, what its kernel.json
    runs) with the master down: `spark` raises at first use and names `huntlab status`, which
    shows the master down; after `huntlab up` the same start opens the session."""
    import os
    import signal

    from huntlab.lab import processes

    master = processes.running(lab.home, "spark-master")
    assert master is not None
    os.kill(master.pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while alive(master.pid):
        assert time.monotonic() < deadline, "the Spark master did not stop"
        time.sleep(0.5)
    code = (
        "from huntlab.spark.kernel import start\n"
        "spark, sc = start()\n"
        "print('COUNT', spark.range(10).count())\n"
    )
    python = str(Path(lab.huntlab_bin).parent / "python")

    def kernel_start() -> subprocess.CompletedProcess[str]:
        return subprocess.run([python, "-c", code], env=lab.env, capture_output=True,
                              text=True, timeout=600, check=False)  # fmt: skip

    failed = kernel_start()
    assert failed.returncode == 1 and "could not open the lab's Spark session" in failed.stderr
    status = lab.huntlab(*suggested(failed.stderr, "huntlab status"))
    assert _status_rows(lab)["spark-master"] == "down", status.stdout
    assert status.returncode != 0 and "spark-master" in status.stdout
    up = lab.huntlab("up")
    assert up.returncode == 0, up.stderr[-3000:]
    done = kernel_start()
    assert "COUNT 10" in done.stdout, done.stderr[-3000:]
    assert _status_rows(lab) == dict.fromkeys(SERVICES, "up")

def test_up_without_data_or_with_logstash_says_how_to_load_and_that_works(
    lab: NativeLab, datasets_dir: Path
) -> None:
    """`up --no-data` (and `--logstash`, which the native runtime has not, and the node's
    missing ingest pipeline) each point to `huntlab load`; run with a dataset, it loads it."""
    name = "psh_lsass_memory_dump_comsvcs"
    assert _es_dataset_count(lab.es_url, name) == 0
    up = lab.huntlab("up", "--no-data", "--logstash")
    assert up.returncode == 0, up.stderr[-3000:]
    for said in ("no data loaded (--no-data)", "Logstash runs in the docker runtime only",
                 "no ingest pipeline huntlab-mordor"):  # fmt: skip
        assert said in up.stderr, up.stderr[-3000:]
    assert suggested(up.stderr, "huntlab load NAME") == ["load", "NAME"]
    loaded = lab.huntlab(*suggested(up.stderr, "huntlab load")[:1], name)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    import huntlab

    expected = len(huntlab.read_events(datasets_dir / "windows" / name / f"{name}.zip"))
    assert _es_dataset_count(lab.es_url, name) == expected > 0


def test_listen_beyond_loopback_without_tls_is_refused(lab: NativeLab) -> None:
    done = lab.huntlab("up", "--native", "--listen", "0.0.0.0")
    assert done.returncode != 0
    assert "TLS" in done.stderr
    assert "Traceback" not in done.stderr


def test_down_leaves_no_process_behind(lab: NativeLab) -> None:
    pids = lab.pids()
    assert len(pids) >= 4  # Elasticsearch, master, worker, Jupyter (and their children)
    done = lab.huntlab("down")
    assert done.returncode == 0, done.stderr
    assert [pid for pid in pids if alive(pid)] == []
    assert _status_rows(lab) == dict.fromkeys(SERVICES, "down")
    assert lab.pids() == []


def test_up_again_as_a_team_server_with_tls(lab: NativeLab, file_counts: dict[str, int]) -> None:
    import psutil

    done = lab.huntlab("up", "--listen", "0.0.0.0", "--tls")
    assert done.returncode == 0, done.stderr[-4000:]
    lab.pids()
    printed = re.search(r"SHA-256\s+((?:[0-9A-F]{2}:){31}[0-9A-F]{2})", done.stdout)
    assert printed, done.stdout
    port = lab.ports["jupyter"]
    served = ssl.get_server_certificate(("127.0.0.1", port))
    from huntlab.lab.tls import der_fingerprint

    assert der_fingerprint(ssl.PEM_cert_to_DER_cert(served)) == printed.group(1)
    cert = lab.home / "tls" / "jupyter.crt"
    https = f"https://127.0.0.1:{port}/api/status"
    ok = requests.get(
        https, headers={"Authorization": f"token {lab.token}"}, verify=str(cert), timeout=30
    )
    assert ok.status_code == 200
    assert requests.get(https, verify=str(cert), timeout=30).status_code in (401, 403)
    # Only Jupyter goes beyond loopback; Elasticsearch and Spark stay on 127.0.0.1.
    listening = {
        c.laddr.port: c.laddr.ip
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }
    assert listening[port] in ("0.0.0.0", "::")
    for name in ("es", "spark_master", "spark_master_ui", "spark_worker_ui"):
        assert _loopback(listening[lab.ports[name]]), (name, listening[lab.ports[name]])
    # The data survived down and up.
    for name, expected in file_counts.items():
        assert _es_dataset_count(lab.es_url, name) == expected, name
    assert _status_rows(lab) == dict.fromkeys(SERVICES, "up")


def test_team_server_with_the_users_own_certificate(lab: NativeLab, tmp_path: Path) -> None:
    """`up --tls-cert/--tls-key` with a certificate from the team's CA: Jupyter restarts with
    it, clients verify it against that CA, and a key that does not match is refused."""
    from huntlab.lab.tls import der_fingerprint, fingerprint
    from tests.support.pki import make_ca, make_node_cert, pem

    ca_cert, ca_key = make_ca("team CA")
    cert_pem, key_pem = make_node_cert(ca_cert, ca_key)
    ca, cert, key = tmp_path / "ca.crt", tmp_path / "lab.crt", tmp_path / "lab.key"
    ca.write_bytes(pem(ca_cert))
    cert.write_bytes(cert_pem)
    key.write_bytes(key_pem)
    key.chmod(0o600)

    done = lab.huntlab("up", "--listen", "0.0.0.0", "--tls-cert", str(cert), "--tls-key", str(key))
    assert done.returncode == 0, done.stderr[-4000:]
    assert fingerprint(cert) in done.stdout
    port = lab.ports["jupyter"]
    served = ssl.get_server_certificate(("127.0.0.1", port))
    assert der_fingerprint(ssl.PEM_cert_to_DER_cert(served)) == fingerprint(cert)
    https = f"https://127.0.0.1:{port}/api/status"
    auth = {"Authorization": f"token {lab.token}"}
    assert requests.get(https, headers=auth, verify=str(ca), timeout=30).status_code == 200
    assert requests.get(https, verify=str(ca), timeout=30).status_code in (401, 403)

    _, other_key = make_node_cert(ca_cert, ca_key)
    wrong = tmp_path / "other.key"
    wrong.write_bytes(other_key)
    refused = lab.huntlab(
        "up", "--listen", "0.0.0.0", "--tls-cert", str(cert), "--tls-key", str(wrong)
    )
    assert refused.returncode != 0
    assert "are not a PEM certificate and its private key" in refused.stderr
    assert "Traceback" not in refused.stderr
    # The refused request changed nothing: the lab still serves the team's certificate.
    served = ssl.get_server_certificate(("127.0.0.1", port))
    assert der_fingerprint(ssl.PEM_cert_to_DER_cert(served)) == fingerprint(cert)
