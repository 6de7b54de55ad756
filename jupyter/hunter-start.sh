#!/usr/bin/env bash
# Start a hunter's JupyterLab in the docker runtime's team server (the hub's DockerSpawner runs
# this image's containers as root with few capabilities, see huntlab.lab.team.docker_hub):
#  1. name the team's uids (HUNTLAB_TEAM_NAMES, "name:uid,..."), so the authors of the shared
#     hunts show as huntlab-NAME;
#  2. give the hunter's uid (HUNTLAB_HUNTER_UID) their home and their workspace volume; the
#     read-only datasets volume and the shared hunts volume are left as they are;
#  3. write the drivers' private Spark configuration: the image's defaults, the hunter's caps
#     (HUNTLAB_SPARK_CAPS, "key value;...") and the stack's Spark secret (as start.sh does);
#  4. run the command as the hunter, group huntlab, umask 002, with no capability left.
set -euo pipefail

die() { echo "hunter-start.sh: $*" >&2; exit 1; }

home=/home/huntlab
work=$home/work
gid=1000
uid=${HUNTLAB_HUNTER_UID:-}
name=${HUNTLAB_HUNTER:-}
[[ $(id -u) -eq 0 ]] || die "must start as root (the hub's spawner does) to take the hunter's uid"
[[ $uid =~ ^[0-9]+$ && $uid -ge 10000 ]] || die "HUNTLAB_HUNTER_UID is not a hunter's uid: '$uid'"
[[ $name =~ ^[a-z][a-z0-9_-]{0,31}$ ]] || die "HUNTLAB_HUNTER is not a hunter's name: '$name'"
[[ -n ${_SPARK_AUTH_SECRET:-} ]] || die "_SPARK_AUTH_SECRET is empty: the hub passes the stack's"

IFS=',' read -r -a pairs <<<"${HUNTLAB_TEAM_NAMES:-}"
pairs+=("$name:$uid")
for pair in "${pairs[@]}"; do
  who=${pair%%:*}
  id=${pair##*:}
  if [[ $who =~ ^[a-z][a-z0-9_-]{0,31}$ && $id =~ ^[0-9]+$ ]] && ! getent passwd "$id" >/dev/null; then
    echo "huntlab-$who:x:$id:$gid::$home:/bin/bash" >>/etc/passwd
  fi
done

# A first visit opens notebook 01 beside a file browser wide enough for full names.
python3 -c 'import sys; from pathlib import Path; from huntlab.lab.workspace import first_screen; first_screen(Path(sys.argv[1]), Path(sys.argv[2]))' \
  "$home/.jupyter/lab/workspaces" "$work"

own() {
  # Everything under $1 on its own file system that is not the hunter's yet (the first start,
  # or a hunter added again), except the two team volumes mounted inside the workspace.
  find "$1" -xdev \( -path "$work/datasets" -o -path "$work/hunts" \) -prune \
    -o ! -user "$uid" -print0 | xargs -0r chown -h "$uid:$gid"
}
own "$home"
own "$work"

conf_dir=$home/.config/huntlab-spark
umask 077
mkdir -p "$conf_dir"
{
  cat /opt/huntlab/spark-conf/spark-defaults.conf
  IFS=';' read -r -a caps <<<"${HUNTLAB_SPARK_CAPS:-}"
  for cap in "${caps[@]}"; do
    [[ $cap =~ ^spark\.[A-Za-z.]+\ [0-9A-Za-z]+$ ]] && printf '%s\n' "$cap"
  done
  # printf is the shell's builtin: the secret is in no process's argv.
  printf 'spark.authenticate.secret           %s\n' "$_SPARK_AUTH_SECRET"
} >"$conf_dir/spark-defaults.conf"
chown -R "$uid:$gid" "$home/.config"
chmod 700 "$conf_dir"
unset _SPARK_AUTH_SECRET

export HOME=$home USER=huntlab-$name SPARK_CONF_DIR=$conf_dir
umask 002
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups --no-new-privs "$@"
