"""The commands huntlab's messages suggest, and where the test suite runs each one in the
situation that prints it (tests/unit/cli/test_hint_commands.py checks this table is whole).

A message is a string of huntlab's code that is not a docstring; a suggestion is a backticked
`huntlab ...` in it. Each (file, command, the message's first words) names the test that makes
the situation, reads the message the user would read, and runs the command it suggests."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from tests.support.paths import REPO

SOURCE = REPO / "src" / "huntlab"
# On one line; a command computed in an f-string (`huntlab {command}`) is not a suggestion.
SUGGESTED = re.compile(r"`(huntlab (?!\{)[^`\n]+)`")
LEAD = 40  # characters of a message that tell it from the file's other messages


@dataclass(frozen=True, order=True)
class Hint:
    path: str  # under src/huntlab
    command: str  # as the message writes it, an f-string's fields as {}
    lead: str  # the message's first LEAD characters

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.path, self.command, self.lead)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def message_hints() -> list[Hint]:
    """Every suggestion in a message of huntlab's code (docstrings left out)."""
    hints = set()
    for path in sorted(SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        texts = []
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                parts = [v.value if isinstance(v, ast.Constant) else "{}" for v in node.values]
                texts.append("".join(str(p) for p in parts))
                skip.update(id(v) for v in node.values)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in skip
            ):
                texts.append(node.value)
        where = str(path.relative_to(SOURCE))
        for text in texts:
            for match in SUGGESTED.finditer(text):
                hints.add(Hint(where, match.group(1), text[:LEAD]))
    return sorted(hints)


def suggested(output: str, command: str) -> list[str]:
    """The words of the suggestion `command` (a prefix of it, such as "huntlab users reset")
    as ``output`` prints it, without the leading ``huntlab``; fails when it is not there."""
    for match in SUGGESTED.finditer(output):
        if match.group(1).startswith(command):
            return match.group(1).split()[1:]
    raise AssertionError(f"no `{command} ...` suggested in {output!r}")


_LAB = "tests/e2e/lab/test_lab_native.py::"
_DATASETS = "tests/unit/test_datasets.py::"
_DOCKER = "tests/e2e/docker/test_docker.py::"
_TEAM_DOCKER = "tests/e2e/docker/test_team_docker.py::"
_TEAM = "tests/e2e/team/test_team_native.py::"

_EXTERNAL_ES = "tests/e2e/lab/test_external_es.py::"
_EXTERNAL_SPARK = "tests/e2e/lab/test_external_spark.py::"

# (file, command, lead) -> the test that runs the command where the message is printed.
IN_SITU: dict[tuple[str, str, str], str] = {
    # datasets
    ("cli/datasets.py", "huntlab datasets get {}", "mirror: in HUNTLAB_DATASETS_MIRROR (read"):
        _DATASETS + "test_show_names_the_command_that_stores_a_dataset_and_it_does",
    ("cli/datasets.py", "huntlab datasets get {}", "no (`huntlab datasets get {}` downloads "):
        _DATASETS + "test_show_names_the_command_that_stores_a_dataset_and_it_does",
    ("cli/datasets.py", "huntlab datasets get {}", "partial: some files stored in {} (`huntl"):
        _DATASETS + "test_show_names_the_command_that_stores_a_dataset_and_it_does",
    ("cli/read.py", "huntlab datasets get --verify {}", "check the stored copy: `huntlab datasets"):
        _DATASETS + "test_a_stored_copy_with_no_events_names_get_verify_which_repairs_it",
    ("dataset_catalog.py", "huntlab datasets list --metadata DIR",
     "{}. Point huntlab at a local copy of the"):
        _DATASETS + "test_the_catalogs_hints_work_where_they_are_printed",
    ("dataset_catalog.py", "huntlab datasets list -q WORD", " (`huntlab datasets list -q WORD` search"):
        _DATASETS + "test_the_catalogs_hints_work_where_they_are_printed",
    ("datasets.py", "huntlab datasets import FILE --name {}", "download the file some other way and run"):
        _DATASETS + "test_what_is_local_and_what_an_offline_get_says",
    # detections
    ("detect/alerts.py", "huntlab detect ... --alerts", "{} was not made from huntlab's {} templa"):
        "tests/integration/detect/test_alerts.py::"
        "test_an_alerts_index_made_without_the_template_is_named_and_the_rerun_fills_it",
    ("detect/es_engine.py", "huntlab load", "no index {} in Elasticsearch: give the l"):
        _EXTERNAL_ES + "test_the_lab_runs_on_the_existing_cluster_then_on_its_own_node_again",
    ("detect/run.py", "huntlab load NAME", "no index {} with events in Elasticsearch"):
        _EXTERNAL_ES + "test_the_lab_runs_on_the_existing_cluster_then_on_its_own_node_again",
    ("notebook.py", "huntlab load {}", "{} in {} at {}; load them with `huntlab "):
        _EXTERNAL_ES + "test_the_lab_runs_on_the_existing_cluster_then_on_its_own_node_again",
    # hunts
    ("hunts/check.py", "huntlab load {}", "`huntlab load {}`"):  # in "no events of {} in {} ..."
        "tests/integration/hunts/test_check_es.py::"
        "test_a_dataset_not_loaded_is_an_error_naming_the_load",
    # the parameters cell of a converted hunt: the lab's `huntlab load` of the hunt's
    # recording, then the notebook with source="elasticsearch"
    ("hunts/convert.py", "huntlab load <dataset>", '# "elasticsearch": its events in the lab'):
        "tests/e2e/lab/test_hunts_in_lab.py::runs",  # the fixture runs it
    # Elasticsearch
    ("es/client.py", "huntlab es start", "Elasticsearch at {} does not answer ({})"):
        _LAB + "test_the_hint_of_a_stopped_node_brings_it_back",
    ("es/client.py", "huntlab up", "Elasticsearch at {} does not answer ({})"):
        _LAB + "test_the_hint_of_a_stopped_node_brings_it_back",
    ("es/client.py", "huntlab es start", "the server at {} is older than 8.0 or no"):
        "tests/integration/es/test_es_pipeline.py::test_an_older_cluster_is_named_as_such",
    ("es/setup.py", "huntlab load", "no ingest pipeline {}: this Elasticsearc"):
        _LAB + "test_up_without_data_or_with_logstash_says_how_to_load_and_that_works",
    ("lab/native/external_es.py", "huntlab status", "--es-url must not hold credentials (they"):
        _EXTERNAL_ES + "test_a_cluster_that_does_not_answer_as_it_should_changes_nothing",
    # the native lab
    ("lab/native/__init__.py", "huntlab load", "huntlab: Logstash runs in the docker run"):
        _LAB + "test_up_without_data_or_with_logstash_says_how_to_load_and_that_works",
    ("lab/native/__init__.py", "huntlab load NAME", "huntlab: no data loaded (--no-data); loa"):
        _LAB + "test_up_without_data_or_with_logstash_says_how_to_load_and_that_works",
    ("lab/native/__init__.py", "huntlab up", "no token in {} yet: run `huntlab up` fir"):
        _EXTERNAL_ES + "test_the_lab_runs_on_the_existing_cluster_then_on_its_own_node_again",
    ("lab/native/data.py", "huntlab load {}", "huntlab: {}: not loaded ({}).\n  The lab "):
        _LAB + "test_a_dataset_that_cannot_be_had_leaves_the_lab_up_and_says_how_to_load_it",
    ("lab/token.py", "huntlab token --rotate", "delete it and run `huntlab up` (a new to"):
        _LAB + "test_an_emptied_token_names_two_ways_out_and_each_works",
    ("lab/token.py", "huntlab up", "delete it and run `huntlab up` (a new to"):
        _LAB + "test_an_emptied_token_names_two_ways_out_and_each_works",
    ("spark/auth.py", "huntlab up", "delete it and run `huntlab up` to make a"):
        _LAB + "test_an_emptied_spark_secret_is_made_anew_by_up_as_the_message_says",
    ("spark/kernel.py", "huntlab status", "the PySpark (huntlab) kernel could not o"):
        _LAB + "test_a_pyspark_kernel_without_its_master_says_to_check_status_which_shows_why",
    # the native team server
    ("cli/lab.py", "huntlab users add", "A team server: JupyterHub over HTTPS, ea"):
        _TEAM + "test_install_brings_up_the_team_server_behind_one_https_door",
    ("lab/native/team.py", "huntlab up --team", "{} is not a team lab: bring one up with "):
        _TEAM + "test_install_brings_up_the_team_server_behind_one_https_door",
    ("lab/team/es_realm.py", "huntlab users", "# Written by huntlab (huntlab.lab.team.e"):
        _TEAM + "test_install_brings_up_the_team_server_behind_one_https_door",
    ("lab/native/__init__.py", "huntlab users add NAME", "a team lab has no shared token: each hun"):
        _TEAM + "test_an_invite_lets_a_new_hunter_set_their_password_once",
    ("lab/native/team.py", "huntlab users reset {}", "hunter {} exists already: `huntlab users"):
        _TEAM + "test_an_invite_lets_a_new_hunter_set_their_password_once",
    ("lab/native/team.py", "huntlab users list", "no hunter {}: `huntlab users list` shows"):
        _TEAM + "test_an_invite_lets_a_new_hunter_set_their_password_once",
    ("lab/team/logins.py", "huntlab users list", "no hunter {}: `huntlab users list` shows"):
        _TEAM + "test_an_invite_lets_a_new_hunter_set_their_password_once",
    # (reached by the library alone: both CLIs refuse a known hunter before it)
    ("lab/team/logins.py", "huntlab users reset {}", "hunter {} exists already: `huntlab users"):
        "tests/unit/test_team_logins.py::test_adding_a_hunter_again_points_at_a_reset_that_invites_them",
    ("lab/team/es_realm.py", "huntlab users add {}", "no Elasticsearch credential for hunter {"):
        _TEAM + "test_a_removed_hunter_is_refused_everywhere",
    ("lab/team/hub.py", "huntlab up", "delete {} and run `huntlab up`"):
        _TEAM + "test_restart_keeps_users_and_files_and_down_leaves_nothing",
    # the docker runtime
    ("cli/logstash.py", "huntlab up --docker", "{} not found: bring the lab up with `hun"):
        _DOCKER + "stack",
    ("lab/live.py", "huntlab status", "Logstash's HTTP input at {} does not ans"):
        _DOCKER + "test_logstash_check_finds_the_lab_and_says_what_logstash_lacks",
    ("lab/docker.py", "huntlab logs SERVICE", "the lab is not healthy ({}); read `huntl"):
        _DOCKER + "test_a_failed_setup_names_its_log",
    ("lab/docker.py", "huntlab up --docker", "no JUPYTER_TOKEN in {}: bring the lab up"):
        _DOCKER + "test_an_env_file_without_the_token_gets_one_from_up",
    ("lab/docker.py", "huntlab up --docker --spark-workers N", "SPARK_WORKERS={} in {}: give a whole num"):
        _DOCKER + "test_rerun_keeps_env_and_data",
    # the docker team server
    ("lab/docker.py", "huntlab users add NAME", "a team lab has no shared token: each hun"):
        _TEAM_DOCKER + "test_an_invite_link_names_the_door_and_works_once",
    ("lab/team/docker_hub.py", "huntlab users reset {}", "hunter {} exists already: `huntlab users"):
        _TEAM_DOCKER + "test_an_invite_link_names_the_door_and_works_once",
    ("lab/team/docker_hub.py", "huntlab logs hub", "the hub answered {} adding {}: `huntlab "):
        _TEAM_DOCKER + "test_a_hub_refusing_huntlab_users_names_its_log",
    ("lab/team/docker_hub.py", "huntlab users list", "no hunter {}: `huntlab users list` shows"):
        _TEAM_DOCKER + "test_a_removed_hunter_is_refused_everywhere",
    ("lab/team/docker_spawner.py", "huntlab users add {}", "{} has no number in the team's logins: `"):
        _TEAM_DOCKER + "test_a_removed_hunter_is_refused_everywhere",
    ("lab/docker.py", "huntlab up", "the team server's hub is not running: `h"):
        _TEAM_DOCKER + "test_restart_keeps_users_and_files_and_down_leaves_nothing",
    # Spark: an existing cluster
    ("lab/native/spark.py", "huntlab up --spark-master URL --spark-secret-file FILE",
     "the Spark master {} does not answer ({})"):
        _EXTERNAL_SPARK + "test_the_lab_runs_on_the_existing_cluster_then_on_its_own_again",
    ("lab/native/spark.py", "huntlab up --spark-master local", "the Spark master {} does not answer ({})"):
        _EXTERNAL_SPARK + "test_the_lab_runs_on_the_existing_cluster_then_on_its_own_again",
    ("lab/native/spark.py", "huntlab up --spark-master local", "an existing cluster (`huntlab up --spark"):
        _EXTERNAL_SPARK + "test_the_lab_runs_on_the_existing_cluster_then_on_its_own_again",
    ("spark/master.py", "huntlab up --spark-master local", "Spark master {}: no route from this host"):
        _EXTERNAL_SPARK + "test_the_lab_runs_on_the_existing_cluster_then_on_its_own_again",
}  # fmt: skip

# (file, command, lead) -> why no test can make its situation, and where the command is run.
NOT_IN_SITU: dict[tuple[str, str, str], str] = {
    ("datasets.py", "huntlab datasets get --verify", "{}: fetched, but the store at {} holds n"):
        "a guard after a get that succeeded: the store then holds the files the get stored, so "
        "only a store changed under huntlab at that instant reaches it; the command is run in "
        "situ for cli/read.py's damaged copy (test_datasets.py)",
    ("es/client.py", "huntlab es start", "Elasticsearch at {} is older than 8.0 (i"):
        "needs Elasticsearch 7.14 to 7.17 (which send the product header but refuse the 8.x "
        "API); the suite's older node is 7.10.2, which reaches the message beside it, whose "
        "same command test_es_pipeline.py runs in situ",
    ("lab/native/elasticsearch.py", "huntlab es stop", "Elasticsearch already runs in {} with se"):
        "a guard: `huntlab up` restarts the lab's own node with the security the lab needs "
        "(test_team_native.py: a single analyst's node made a team's) and `huntlab es start` "
        "starts it as the home's kind (the same file: a stopped team node comes back with "
        "security on), so only a node started by hand in the home reaches it",
    ("cli/logstash.py", "huntlab up --logstash", "Logstash is off in this lab (`huntlab up"):
        "bringing Logstash up needs its image, which this machine cannot have (no registry; "
        "the stack's test substitutions leave Logstash out): test_docker.py reads the message "
        "in situ and checks the command; the live-data path is tested through its pipeline",
    ("cli/logstash.py", "huntlab logs logstash", "the event from host {} was taken by Logs"):
        "needs a running Logstash container (its image cannot be had here, as above); "
        "`huntlab logs SERVICE` is run in situ for the setup container (test_docker.py)",
    ("lab/docker.py", "huntlab up --docker", "{} not found: bring the lab up with `hun"):
        "`huntlab token --rotate` of a docker lab whose env file was deleted: the same "
        "message and command as a home with no lab, which the stack fixture (test_docker.py) "
        "meets and follows; deleting a running lab's env file would lose its passwords",
    ("lab/docker.py", "huntlab logs SERVICE", "the lab did not become healthy within {}"):
        "Compose 2.40 exits 0 when a service fails to become healthy, so `up` reports the "
        "message beside it (the lab is not healthy), whose same `huntlab logs SERVICE` "
        "test_docker.py runs in situ; test_a_failed_setup_names_its_log accepts either",
    ("lab/docker.py", "huntlab up --docker --team", "{} is not a team lab: bring one up with "):
        "test_docker.py reads it on the single analyst's stack; following it there would turn "
        "that stack into a team server, which test_team_docker.py brings up with "
        "./install.sh --docker --team (the same command)",
    ("lab/team/docker_hub.py", "huntlab up --docker --team", "{} is not set in the hub container: brin"):
        "inside the hub's container, for a variable Compose always sets there: only a "
        "container started by hand, outside `huntlab up`, lacks it",
    ("hunts/load.py", "huntlab load {}", "no events of {} in {} at {}; load them w"):
        "what a notebook's spark_table(es=) or pandas_frame_es says for a dataset not loaded: "
        "`huntlab hunts check` asks first and says the same (hunts/check.py), which "
        "test_check_es.py follows in situ; test_check.py reads this one for a name no "
        "recording has, which no load can put there",
    ("hunts/load.py", "huntlab load {}", "{}: {} records spelled {} but {} of thei"):
        "a guard: the index holds another load of the recording than the file read (a load "
        "with --errors skip, or a recording changed since), which huntlab's own loads of one "
        "recording never make; the same command is run in situ for hunts/check.py's message",
    ("lab/native/team.py", "huntlab up --team", "a team lab (`huntlab up --team`)"):
        "the refusal of `huntlab up --team` to a user who is not root names that very command, "
        "to be run with sudo; the team suites run it as root",
}
