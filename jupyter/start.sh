#!/usr/bin/env bash
# Start a command (JupyterLab) in the lab's Jupyter container with the stack's Spark secret.
# Spark's driver, for a standalone master, insists on finding spark.authenticate.secret in its
# configuration (the daemons read _SPARK_AUTH_SECRET from their environment instead), and a
# setting given on the command line is visible to every account. So the image's Spark defaults
# plus that one line go to SPARK_CONF_DIR, a folder only this user can read.
# It also links datasets/ in the workspace to the lab's dataset store and lays out the first
# screen (notebook 01 open).
set -euo pipefail

defaults=/opt/huntlab/spark-conf/spark-defaults.conf
conf_dir=${SPARK_CONF_DIR:?SPARK_CONF_DIR is not set}
if [[ -z ${_SPARK_AUTH_SECRET:-} ]]; then
  echo "start.sh: _SPARK_AUTH_SECRET is empty: run the lab with huntlab up --docker" >&2
  exit 1
fi
# The lab's recordings beside the notebooks, as the tutorial series keeps them: datasets/ in
# the workspace links to the dataset store (the huntlab-cache volume).
python3 - <<'PY'
import os
from pathlib import Path

from huntlab.lab.workspace import first_screen, link_datasets
from huntlab.settings import cache_dir

root = Path(os.environ.get("JUPYTER_ROOT_DIR") or Path.cwd())
if link_datasets(root, cache_dir() / "datasets") is None:
    print(f"start.sh: {root}/datasets is the user's own folder; left as it is")
# A first visit opens notebook 01 beside a file browser wide enough for full names.
first_screen(Path.home() / ".jupyter" / "lab" / "workspaces", root)
PY
umask 077
mkdir -p "$conf_dir"
chmod 700 "$conf_dir"
tmp=$(mktemp "$conf_dir/.spark-defaults.XXXXXX")
{
  cat "$defaults"
  # printf is the shell's builtin: the secret is in no process's argv.
  printf 'spark.authenticate.secret           %s\n' "$_SPARK_AUTH_SECRET"
} >"$tmp"
mv -f "$tmp" "$conf_dir/spark-defaults.conf"
exec "$@"
