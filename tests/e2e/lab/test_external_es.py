"""`huntlab up --es-url URL --es-user USER --es-password-file FILE --es-ca CA`: the native lab
uses an existing Elasticsearch cluster (security and TLS on) instead of running its own node:
its templates and data go there, its commands and notebooks' kernels read there, the password
never lands in config.json, and `--es-url local` returns to the lab's own node.

The "existing cluster" is the ``existing_es`` node (tests.support.es_secured), which huntlab did
not start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.es_secured import SecuredNode
from tests.support.fixtures.lab import LabHome, lab_home, run_in_kernel
from tests.support.hints import suggested

DATASET = "psh_lsass_memory_dump_comsvcs"

KERNEL = """
import json
import huntlab
from huntlab.es import search
from huntlab.es.client import client
settings = huntlab.load_settings()
es = client(settings)
frame = search('Dataset:"DATASET"', settings=settings)
print(json.dumps({"url": settings.es_url, "who": es.security.authenticate()["username"],
                  "rows": len(frame)}))
"""

# A notebook reading the dataset from Elasticsearch (huntlab.notebook, as notebooks 03-05 do).
NOTEBOOK = """
from huntlab import notebook
params = notebook.parameters(source="elasticsearch", dataset="DATASET")
print(len(notebook.events(params)))
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Iterator[LabHome]:
    lab = lab_home(tmp_path_factory.mktemp("external-es-home"))
    lab.env["HUNTLAB_DATASETS_MIRROR"] = str(datasets_dir)
    try:
        yield lab
    finally:
        lab.huntlab("down", timeout=300)


def _up(home: LabHome, node: SecuredNode, *extra: str) -> list[str]:
    return ["up", "--native", "--es-url", node.url, "--es-user", "elastic",
            "--es-password-file", str(node.password_file), *extra]  # fmt: skip


def _count(node: SecuredNode, dataset: str) -> int:
    answer = requests.post(
        f"{node.url}/huntlab-*/_count",
        json={"query": {"term": {"Dataset": dataset}}},
        auth=("elastic", node.settings.es_password or ""),
        verify=str(node.ca_file),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return int(answer.json()["count"])


def test_a_cluster_that_does_not_answer_as_it_should_changes_nothing(
    home: LabHome, existing_es: SecuredNode, tmp_path: Path
) -> None:
    # Its certificate is not trusted without the CA: refused, with what to pass.
    done = home.huntlab(*_up(home, existing_es, "--no-data"))
    assert done.returncode != 0
    assert "--es-ca" in done.stderr, done.stderr
    # A wrong password: 401, said so.
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n", encoding="ascii")
    done = home.huntlab("up", "--native", "--no-data", "--es-url", existing_es.url,
                        "--es-user", "elastic", "--es-password-file", str(wrong),
                        "--es-ca", str(existing_es.ca_file))  # fmt: skip
    assert done.returncode != 0 and "401" in done.stderr, done.stderr
    # Plain HTTP beyond loopback would send the password in clear: refused before any request.
    done = home.huntlab("up", "--native", "--no-data", "--es-url", "http://192.0.2.1:9200",
                        "--es-user", "elastic", "--es-password-file", str(wrong))  # fmt: skip
    assert done.returncode != 0 and "https://" in done.stderr, done.stderr
    # Without credentials: refused, the lab only uses a cluster with security on.
    done = home.huntlab("up", "--native", "--no-data", "--es-url", existing_es.url)
    assert done.returncode != 0 and "--es-password-file" in done.stderr, done.stderr
    # Credentials inside the URL would be kept in config.json and shown by `huntlab status`:
    # refused; the status the message names shows no password.
    password = existing_es.settings.es_password or ""
    inside = existing_es.url.replace("https://", f"https://elastic:{password}@")
    done = home.huntlab("up", "--native", "--no-data", "--es-url", inside,
                        "--es-ca", str(existing_es.ca_file))  # fmt: skip
    assert done.returncode != 0 and "must not hold credentials" in done.stderr, done.stderr
    assert password not in done.stderr
    status = home.huntlab(*suggested(done.stderr, "huntlab status"))
    assert "Traceback" not in status.stderr and "elasticsearch" in status.stdout, status
    assert password not in status.stdout + status.stderr
    config = home.path / "config.json"
    assert not config.exists() or "es_external" not in json.loads(config.read_text())


def test_the_lab_runs_on_the_existing_cluster_then_on_its_own_node_again(
    home: LabHome, existing_es: SecuredNode, sigma_dir: Path
) -> None:
    password = existing_es.settings.es_password or ""
    # Nothing is up yet: `huntlab token` says to run `huntlab up` first, which is done here
    # with the options that name the cluster.
    none = home.huntlab("token")
    assert none.returncode == 1 and "no token in" in none.stderr, none.stderr
    up = home.huntlab(*suggested(none.stderr, "huntlab up"),
                      *_up(home, existing_es, "--es-ca", str(existing_es.ca_file),
                           "--datasets", DATASET)[1:])  # fmt: skip
    assert up.returncode == 0, up.stderr[-4000:]
    assert f"Elasticsearch  {existing_es.url}  (an existing cluster, as 'elastic')" in up.stdout
    # The data went to the existing cluster; the lab runs no node of its own.
    loaded = _count(existing_es, DATASET)
    assert loaded > 0
    from huntlab.lab import processes

    assert processes.running(home.path, "elasticsearch") is None
    # The password is in a private file of the home, never in config.json.
    config_text = (home.path / "config.json").read_text(encoding="utf-8")
    assert password not in config_text
    config = json.loads(config_text)
    assert config["es_external"] == existing_es.url and config["es_user"] == "elastic"
    kept = Path(config["es_password_file"])
    assert kept.is_relative_to(home.path) and kept.stat().st_mode & 0o077 == 0
    status = home.huntlab("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "an existing cluster, health" in status.stdout, status.stdout
    # Commands read it with nothing but the home.
    query = home.huntlab("query", f'Dataset:"{DATASET}"', "--format", "csv", "--limit", "5")
    assert query.returncode == 0, query.stderr
    assert DATASET in query.stdout
    # So do the notebooks' kernels, as the lab's user.
    env = home.jupyter_env()
    assert env["HUNTLAB_ES_URL"] == existing_es.url
    assert password not in "\0".join(f"{k}={v}" for k, v in env.items())
    port = home.env["HUNTLAB_JUPYTER_PORT"]
    token = (home.path / "jupyter_token").read_text(encoding="ascii").strip()
    out = run_in_kernel(f"http://127.0.0.1:{port}", token, KERNEL.replace("DATASET", DATASET))
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen == {"url": existing_es.url, "who": "elastic", "rows": loaded}
    # A rerun keeps the choice and does not load the dataset again.
    again = home.huntlab("up", "--native", "--datasets", DATASET)
    assert again.returncode == 0, again.stderr[-4000:]
    assert "already loaded" in again.stderr, again.stderr[-3000:]
    assert _count(existing_es, DATASET) == loaded
    # Back to the lab's own node, whose URL the kernels get; the kept password is gone.
    back = home.huntlab("up", "--native", "--no-data", "--es-url", "local")
    assert back.returncode == 0, back.stderr[-4000:]
    assert "back to the lab's own Elasticsearch node" in back.stderr
    assert processes.running(home.path, "elasticsearch") is not None
    assert not kept.exists()
    assert home.jupyter_env()["HUNTLAB_ES_URL"] == f"http://127.0.0.1:{home.env['HUNTLAB_ES_PORT']}"
    config = json.loads((home.path / "config.json").read_text(encoding="utf-8"))
    assert "es_external" not in config and "es_user" not in config
    # The existing cluster was not touched by `down`/`local`: its data is still there.
    assert os.environ.get("HUNTLAB_HOME") != str(home.path)
    assert _count(existing_es, DATASET) == loaded

    # The lab's own node holds nothing yet (--no-data): a detection on it and a notebook's
    # read say what to load; `huntlab load NAME`, run as written, loads the dataset, and
    # the detection then finds what the pandas engine finds in the recording.
    rules = str(sigma_dir / "rules" / "windows" / "process_creation")
    detect = ["detect", rules, "--tag", "attack.t1003.001", "--format", "json"]
    on_es = [*detect, "--engine", "elasticsearch"]
    no_index = home.huntlab(*detect[:2], "huntlab-mine", *on_es[2:])  # made by no load
    assert no_index.returncode == 1 and "Traceback" not in no_index.stderr, no_index.stderr
    assert suggested(no_index.stderr, "huntlab load") == ["load"]
    no_events = home.huntlab(*on_es)  # SOURCE: the alias huntlab, over empty indexes
    assert no_events.returncode == 1 and "no index 'huntlab' with events" in no_events.stderr
    hint = suggested(no_events.stderr, "huntlab load NAME")
    read = subprocess.run([sys.executable, "-c", NOTEBOOK.replace("DATASET", DATASET)],
                          env=home.env, capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert read.returncode == 1 and suggested(read.stderr, "huntlab load") == ["load", DATASET]
    loaded_here = home.huntlab(*[DATASET if word == "NAME" else word for word in hint])
    assert loaded_here.returncode == 0, loaded_here.stderr[-3000:]
    read = subprocess.run([sys.executable, "-c", NOTEBOOK.replace("DATASET", DATASET)],
                          env=home.env, capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert read.returncode == 0 and int(read.stdout.split()[-1]) == loaded, read.stderr[-3000:]
    found = home.huntlab(*on_es)
    assert found.returncode == 0, found.stderr[-3000:]
    expected = home.huntlab(*detect[:2], DATASET, *detect[2:])
    assert expected.returncode == 0, expected.stderr[-3000:]
    titles = [Counter(h["title"] for h in json.loads(d.stdout)["hits"]) for d in (found, expected)]
    assert titles[0] == titles[1] and sum(titles[0].values()) > 0
