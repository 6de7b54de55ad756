"""Process trees and per-process timelines from Sysmon and Windows Security events.

A process tree links each process to the one that created it: Sysmon event 1 says so with
``ProcessGuid`` -> ``ParentProcessGuid``; Security event 4688 has no GUID, only process ids
(hex) and the creator's path, so its parent is the latest process on the same host with that
id and path created before it (as msticpy does). Parents that were never recorded (they
started before the recording) are inferred from what their children say of them, so every
recorded process hangs in a tree. The result follows msticpy's process tree for Sysmon data
(same roots, leaves, branches and depth; ``summary`` uses msticpy's names) without depending
on it.

Every function takes the canonical event table as pandas or Spark. With Spark, the filtering
runs on the cluster and only the matching events (process creations, or one process's
events) come to the driver, where the tree is built: a host's processes fit in memory.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from huntlab.errors import HuntlabError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

SYSMON = "Microsoft-Windows-Sysmon"
SECURITY = "Microsoft-Windows-Security-Auditing"

# Sysmon 1's fields that a process table keeps as they are.
_SYSMON_FIELDS = (
    "ProcessId",
    "ParentProcessId",
    "Image",
    "ParentImage",
    "CommandLine",
    "ParentCommandLine",
    "User",
    "LogonId",
)
# The columns of a process table (``processes``) and, with the tree's own, of ``build_tree``.
PROCESS_COLUMNS = (
    "@timestamp",
    "Hostname",
    "Source",
    "ProcessKey",
    "ParentKey",
    "ProcessGuid",
    *_SYSMON_FIELDS,
)
TREE_COLUMNS = (*PROCESS_COLUMNS, "Inferred", "Depth", "path", "IsRoot", "IsLeaf", "IsBranch")
TIMELINE_COLUMNS = ("@timestamp", "Hostname", "EventID", "Category", "Relation", "Image", "Detail")

# The event fields the functions read; the rest of an event never leaves Spark.
_PROCESS_FIELDS = (
    "@timestamp",
    "Hostname",
    "SourceName",
    "EventID",
    "ProcessGuid",
    "ParentProcessGuid",
    *_SYSMON_FIELDS,
    # Security 4688
    "NewProcessId",
    "NewProcessName",
    "ParentProcessName",
    "SubjectUserName",
    "SubjectDomainName",
    "SubjectLogonId",
    "TargetUserName",
    "TargetDomainName",
    "TargetLogonId",
)
_GUID_FIELDS = ("ProcessGuid", "ParentProcessGuid", "SourceProcessGUID", "TargetProcessGUID")
_TIMELINE_FIELDS = (
    "@timestamp",
    "Hostname",
    "SourceName",
    "EventID",
    *_GUID_FIELDS,
    "Image",
    "CommandLine",
    "SourceImage",
    "TargetImage",
    "GrantedAccess",
    "Protocol",
    "SourceIp",
    "SourcePort",
    "DestinationIp",
    "DestinationPort",
    "DestinationHostname",
    "ImageLoaded",
    "TargetFilename",
    "TargetObject",
    "EventType",
    "Details",
    "PipeName",
    "QueryName",
)

# What a Sysmon event id is about, for the timeline.
SYSMON_CATEGORIES = {
    1: "process",
    2: "file",
    3: "network",
    5: "process",
    6: "driver",
    7: "image load",
    8: "process access",
    9: "file",
    10: "process access",
    11: "file",
    12: "registry",
    13: "registry",
    14: "registry",
    15: "file",
    17: "pipe",
    18: "pipe",
    22: "dns",
    23: "file",
    26: "file",
}

# A 4688 event and a Sysmon 1 event for the same process are written a few ms apart.
_SAME_PROCESS_WITHIN = "2s"


# -- reading the events ------------------------------------------------------------------------


def _is_spark(table: Any) -> bool:
    return type(table).__module__.startswith("pyspark.")


def _spark_select(table: Any, fields: Iterable[str], condition: Any) -> pd.DataFrame:
    """Rows of a Spark table matching ``condition``, with ``fields`` (missing ones as null)."""
    import pandas as pd
    from pyspark.sql import functions as F

    present = set(table.columns)
    columns = [
        F.col(f"`{name}`") if name in present else F.lit(None).cast("string").alias(name)
        for name in fields
    ]
    selected = table.where(condition).select(*columns)
    frame = selected.toPandas()
    # Integer columns as the pandas reader gives them (Int64): toPandas hands one with gaps
    # over as floats, whose text ("50000.0") would differ from the pandas path's.
    for spec in selected.schema.fields:
        if spec.dataType.typeName() in ("integer", "long", "short", "byte"):
            values = [None if v is None or v != v else int(v) for v in frame[spec.name].tolist()]
            frame[spec.name] = pd.array(values, dtype="Int64")
    return frame


def _pandas_select(table: pd.DataFrame, fields: Iterable[str]) -> pd.DataFrame:
    frame = table.reindex(columns=list(fields))
    return frame.reset_index(drop=True)


def _text(column: pd.Series) -> pd.Series:
    """A column as plain strings, missing values as None (the readers return categoricals)."""
    as_text = column.astype("string")
    return as_text.astype(object).where(as_text.notna(), None)


def _process_creations(table: Any) -> pd.DataFrame:
    """Sysmon 1 and Security 4688 events of ``table`` (pandas or Spark) as pandas."""
    if _is_spark(table):
        from pyspark.sql import functions as F

        wanted = ((F.col("SourceName") == SYSMON) & (F.col("EventID") == 1)) | (
            (F.col("SourceName") == SECURITY) & (F.col("EventID") == 4688)
        )
        return _spark_select(table, _PROCESS_FIELDS, wanted)
    source, event_id = table["SourceName"].astype("string"), table["EventID"]
    wanted = ((source == SYSMON) & (event_id == 1)) | ((source == SECURITY) & (event_id == 4688))
    return _pandas_select(table[wanted.fillna(False)], _PROCESS_FIELDS)


# -- one table of processes from both event types ------------------------------------------------


def _pid(value: Any, base: int) -> Any:
    """A process id as an int (4688 writes hex, Sysmon decimal); None when absent."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    try:
        return int(str(value), base)
    except ValueError:
        return None


def _account(domain: Any, user: Any) -> Any:
    if not user or user == "-":
        return None
    return f"{domain}\\{user}" if domain and domain != "-" else user


def _host_matches(hostnames: pd.Series, host: str) -> pd.Series:
    """``host`` names a computer by its full name or its first label, in any case."""
    full = hostnames.astype("string").str.lower()
    wanted = host.lower()
    return ((full == wanted) | (full.str.split(".").str[0] == wanted)).fillna(False)


def processes(table: Any, host: str | None = None) -> pd.DataFrame:
    """The processes created in ``table``: Sysmon 1 and Security 4688, one row per process.

    4688's fields are mapped onto Sysmon's: ``NewProcessId`` (hex) -> ``ProcessId``, the
    creator's ``ProcessId`` -> ``ParentProcessId``, ``NewProcessName`` -> ``Image``,
    ``ParentProcessName`` -> ``ParentImage``; its account is the target one when the event
    names a target logon (the new process runs under it), else the subject's, as msticpy's
    ``EffectiveLogonId``. A 4688 event for a process Sysmon also recorded (same host, id and
    path, within two seconds) is left out: Sysmon's has the GUIDs. ``host`` keeps one
    computer (``"HFDC01"`` or ``"HFDC01.shire.com"``).
    """
    import pandas as pd

    raw = _process_creations(table)
    if host is not None:
        raw = raw[_host_matches(raw["Hostname"], host)]
    text = {c: _text(raw[c]) for c in raw.columns if c not in ("@timestamp", "EventID")}
    when = pd.to_datetime(raw["@timestamp"], utc=True)
    is_sysmon = text["SourceName"] == SYSMON

    sysmon = pd.DataFrame(
        {
            "@timestamp": when,
            "Hostname": text["Hostname"],
            "Source": "Sysmon 1",
            "ProcessKey": text["ProcessGuid"].str.upper(),
            "ParentKey": text["ParentProcessGuid"].str.upper(),
            "ProcessGuid": text["ProcessGuid"],
            "ProcessId": [_pid(v, 10) for v in text["ProcessId"]],
            "ParentProcessId": [_pid(v, 10) for v in text["ParentProcessId"]],
            "Image": text["Image"],
            "ParentImage": text["ParentImage"],
            "CommandLine": text["CommandLine"],
            "ParentCommandLine": text["ParentCommandLine"],
            "User": text["User"],
            "LogonId": text["LogonId"],
        }
    )[is_sysmon.to_numpy()]

    targeted = text["TargetLogonId"].notna() & (text["TargetLogonId"] != "0x0")
    security = pd.DataFrame(
        {
            "@timestamp": when,
            "Hostname": text["Hostname"],
            "Source": "Security 4688",
            "ProcessKey": None,
            "ParentKey": None,
            "ProcessGuid": None,
            "ProcessId": [_pid(v, 16) for v in text["NewProcessId"]],
            "ParentProcessId": [_pid(v, 16) for v in text["ProcessId"]],
            "Image": text["NewProcessName"],
            "ParentImage": text["ParentProcessName"],
            "CommandLine": text["CommandLine"],
            "ParentCommandLine": None,
            "User": [
                _account(td, tu) if t else _account(sd, su)
                for t, td, tu, sd, su in zip(
                    targeted,
                    text["TargetDomainName"],
                    text["TargetUserName"],
                    text["SubjectDomainName"],
                    text["SubjectUserName"],
                    strict=True,
                )
            ],
            "LogonId": text["TargetLogonId"].where(targeted, text["SubjectLogonId"]),
        }
    )[(~is_sysmon).to_numpy()]
    security = security[~_seen_by_sysmon(security, sysmon)]
    security = security.assign(
        ProcessKey=pd.Series(
            [
                _pid_key(h, p, i, t)
                for h, p, i, t in zip(
                    security["Hostname"],
                    security["ProcessId"],
                    security["Image"],
                    security["@timestamp"],
                    strict=True,
                )
            ],
            index=security.index,
            dtype=object,
        )
    )
    frame = pd.concat([sysmon, security], ignore_index=True)
    frame = frame.astype({"ProcessId": "Int64", "ParentProcessId": "Int64"})
    return frame.sort_values(["Hostname", "@timestamp"], kind="stable").reset_index(drop=True)


def _same_process_key(host: Any, pid: Any, image: Any) -> tuple[str, Any, str]:
    return (str(host).lower(), pid, str(image).lower())


def _seen_by_sysmon(security: pd.DataFrame, sysmon: pd.DataFrame) -> pd.Series:
    import pandas as pd

    seen: dict[tuple[str, Any, str], list[Any]] = {}
    for row in sysmon.to_dict("records"):
        key = _same_process_key(row["Hostname"], row["ProcessId"], row["Image"])
        seen.setdefault(key, []).append(row["@timestamp"])
    within = pd.Timedelta(_SAME_PROCESS_WITHIN)
    flags = [
        any(
            abs(when - other) <= within
            for other in seen.get(_same_process_key(host, pid, image), [])
        )
        for host, pid, image, when in zip(
            security["Hostname"],
            security["ProcessId"],
            security["Image"],
            security["@timestamp"],
            strict=True,
        )
    ]
    return pd.Series(flags, index=security.index, dtype=bool)


def _pid_key(host: Any, pid: Any, image: Any, when: Any) -> str:
    """The key of a process known by its id only (msticpy: name|pid|time), per host."""
    stamp = "inferred" if _missing(when) else when.isoformat()
    return f"{str(host).lower()}|{pid}|{str(image).lower()}|{stamp}"


# -- the tree -----------------------------------------------------------------------------------


def build_tree(table: Any, host: str | None = None) -> pd.DataFrame:
    """The process trees of ``table`` (pandas or Spark), one row per process, in tree order.

    Rows come depth first: a root, then its children by creation time, each followed by its
    own. Columns: those of ``processes`` plus ``Inferred`` (a parent rebuilt from its
    children's events), ``Depth`` (0 for a root), ``path`` (the positions of its ancestors
    and its own, joined by "/", as msticpy's), ``IsRoot``, ``IsLeaf`` and ``IsBranch``.
    """
    import pandas as pd

    procs = processes(table, host).assign(Inferred=False)
    procs = _add_parents(procs, procs["Source"] == "Sysmon 1")
    procs = _link_by_pid(procs)
    procs = _add_parents(procs, procs["Source"] == "Security 4688")
    if procs.empty:
        return procs.reindex(columns=list(TREE_COLUMNS))

    keys = list(procs["ProcessKey"])
    known = set(keys)
    children: dict[str, list[int]] = {}
    for position, parent in enumerate(procs["ParentKey"]):
        if parent in known:
            children.setdefault(parent, []).append(position)
    roots = [i for i, parent in enumerate(procs["ParentKey"]) if parent not in known]
    order: list[int] = []
    depth: dict[int, int] = {}
    path: dict[int, str] = {}
    stack = [(i, 0, "") for i in sorted(roots, key=lambda i: _sort_key(procs, i), reverse=True)]
    while stack:
        i, level, above = stack.pop()
        order.append(i)
        depth[i] = level
        path[i] = f"{above}/{i}" if above else str(i)
        below = sorted(children.get(keys[i], []), key=lambda c: _sort_key(procs, c), reverse=True)
        stack.extend((c, level + 1, path[i]) for c in below)
    tree = procs.iloc[order].copy()
    tree["Depth"] = [depth[i] for i in order]
    tree["path"] = [path[i] for i in order]
    tree["IsRoot"] = [i in roots for i in order]
    tree["IsLeaf"] = [keys[i] not in children for i in order]
    tree["IsBranch"] = ~tree["IsRoot"] & ~tree["IsLeaf"]
    return pd.DataFrame(tree[list(TREE_COLUMNS)]).reset_index(drop=True)


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))


def _sort_key(procs: pd.DataFrame, i: int) -> tuple[str, float, str]:
    row = procs.iloc[i]
    when = row["@timestamp"]
    # inferred parents have no time: they started before anything recorded, so they come first
    stamp = float("-inf") if _missing(when) else when.timestamp()
    return (str(row["Hostname"]).lower(), stamp, str(row["ProcessKey"]))


def _add_parents(procs: pd.DataFrame, among: pd.Series) -> pd.DataFrame:
    """Rows for the parents that ``among``'s processes name but the recording lacks."""
    import pandas as pd

    procs = procs.copy()
    unlinked = among & procs["ParentKey"].isna() & (procs["Source"] == "Security 4688")
    procs.loc[unlinked, "ParentKey"] = [
        _pid_key(host, pid, image, None)
        for host, pid, image in zip(
            procs.loc[unlinked, "Hostname"],
            procs.loc[unlinked, "ParentProcessId"],
            procs.loc[unlinked, "ParentImage"],
            strict=True,
        )
    ]
    known = set(procs["ProcessKey"])
    rows = []
    for record in procs[among.to_numpy()].to_dict("records"):
        parent_key = record["ParentKey"]
        if parent_key is None or parent_key in known:
            continue
        known.add(parent_key)
        rows.append(
            {
                "@timestamp": pd.NaT,
                "Hostname": record["Hostname"],
                "Source": record["Source"],
                "ProcessKey": parent_key,
                "ParentKey": None,
                "ProcessGuid": None,
                "ProcessId": record["ParentProcessId"],
                "ParentProcessId": None,
                "Image": record["ParentImage"],
                "ParentImage": None,
                "CommandLine": record["ParentCommandLine"],
                "ParentCommandLine": None,
                "User": None,
                "LogonId": None,
                "Inferred": True,
            }
        )
    if not rows:
        return procs
    inferred = pd.DataFrame(rows).astype({"ProcessId": "Int64", "ParentProcessId": "Int64"})
    inferred["ProcessGuid"] = [
        key if source == "Sysmon 1" else None
        for key, source in zip(inferred["ProcessKey"], inferred["Source"], strict=True)
    ]
    inferred["@timestamp"] = pd.to_datetime(inferred["@timestamp"], utc=True)
    return pd.concat([procs, inferred], ignore_index=True)


def _link_by_pid(procs: pd.DataFrame) -> pd.DataFrame:
    """Parents of 4688 processes: same host, the creator's id and path, created before."""
    procs = procs.copy()
    records = procs.to_dict("records")
    by_pid: dict[tuple[str, Any, str], list[dict[Any, Any]]] = {}
    for row in records:
        key = _same_process_key(row["Hostname"], row["ProcessId"], row["Image"])
        by_pid.setdefault(key, []).append(row)
    parent_keys = list(procs["ParentKey"])
    for i, row in enumerate(records):
        if row["Source"] != "Security 4688" or row["Inferred"]:
            continue
        key = _same_process_key(row["Hostname"], row["ParentProcessId"], row["ParentImage"])
        best, best_time = None, None
        for candidate in by_pid.get(key, []):
            started = candidate["@timestamp"]
            started_known = not _missing(started)
            if started_known and started > row["@timestamp"]:
                continue  # created after the child: a later process reusing the id
            if best is None or (started_known and (best_time is None or started > best_time)):
                best, best_time = candidate, started if started_known else None
        if best is not None:
            parent_keys[i] = best["ProcessKey"]
    procs["ParentKey"] = parent_keys
    return procs


def summary(tree: pd.DataFrame) -> dict[str, int]:
    """Counts of a tree, under the names msticpy's ``get_summary_info`` uses."""
    if tree.empty:
        return dict.fromkeys(
            (
                "Processes",
                "RootProcesses",
                "LeafProcesses",
                "BranchProcesses",
                "IsolatedProcesses",
                "LargestTreeDepth",
            ),
            0,
        )
    return {
        "Processes": len(tree),
        "RootProcesses": int(tree["IsRoot"].sum()),
        "LeafProcesses": int(tree["IsLeaf"].sum()),
        "BranchProcesses": int(tree["IsBranch"].sum()),
        "IsolatedProcesses": int((tree["IsRoot"] & tree["IsLeaf"]).sum()),
        "LargestTreeDepth": int(tree["Depth"].max()) + 1,
    }


def descendants_of(tree: pd.DataFrame, process_key: str) -> pd.DataFrame:
    """The rows of ``tree`` below the process ``process_key`` (a GUID for Sysmon), itself first."""
    match = tree[tree["ProcessKey"] == process_key.upper()]
    if match.empty:
        raise HuntlabError(f"no process {process_key} in this tree; pick one of its ProcessKey")
    own = str(match["path"].iloc[0])
    below = tree["path"].eq(own) | tree["path"].str.startswith(own + "/")
    return tree[below]


# -- showing it ---------------------------------------------------------------------------------


def tree_text(tree: pd.DataFrame, *, width: int = 100, command_line: int = 160) -> str:
    """The tree as indented text, one block per process (msticpy's ``tree_to_text`` layout).

    Command lines longer than ``command_line`` characters are cut, with their length said.
    """
    lines: list[str] = []
    for record in tree.to_dict("records"):
        depth = int(record["Depth"])
        header = "+ " if depth == 0 else "   " * depth + "+-- "
        indent = " " * len(header) + " "
        pid = record["ProcessId"]
        pid_text = "?" if _missing(pid) else f"{int(pid)} ({int(pid):#x})"
        lines.append(f"{header}Process: {record['Image']}  PID: {pid_text}")
        if record["Inferred"]:
            lines.append(f"{indent}Time: unknown (not recorded; named by its children)")
        else:
            lines.append(f"{indent}Time: {record['@timestamp']}  Source: {record['Source']}")
        cmd = record["CommandLine"]
        if cmd:
            cut = len(cmd) > command_line
            lines.extend(
                textwrap.wrap(
                    f"Cmdline: {cmd[:command_line]}{'...' if cut else ''}",
                    width=width,
                    initial_indent=indent,
                    subsequent_indent=indent + "   ",
                )
            )
            if cut:  # on a line of its own, so that wrapping never splits it
                lines.append(f"{indent}   ({len(cmd)} characters)")
        if record["User"] or record["LogonId"]:
            lines.append(f"{indent}Account: {record['User']}  LogonId: {record['LogonId']}")
    return "\n".join(lines) + ("\n" if lines else "")


_SOURCE_COLOURS = {"Sysmon 1": "#3b75af", "Security 4688": "#e1812c", "inferred": "#9e9e9e"}


def plot_tree(tree: pd.DataFrame, title: str = "Process tree") -> Axes:
    """The tree as a chart: one box per process, its depth across, tree order down, lines
    from each parent to its children (msticpy's process tree plot, drawn with matplotlib)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    height = 1.2 + 0.5 * max(len(tree), 1)
    fig, ax = plt.subplots(figsize=(11, height))
    records = tree.to_dict("records")
    place = {str(r["ProcessKey"]): (int(r["Depth"]), -y) for y, r in enumerate(records)}
    for y, record in enumerate(records):
        x = int(record["Depth"])
        parent = place.get(str(record["ParentKey"]))
        if parent is not None:  # elbow: down from the parent, then across
            ax.plot([parent[0], parent[0], x], [parent[1], -y, -y], color="#777777", lw=1)
        kind = "inferred" if record["Inferred"] else str(record["Source"])
        name = str(record["Image"]).replace("\\", "/").rsplit("/", 1)[-1]
        pid = record["ProcessId"]
        label = name if _missing(pid) else f"{name} ({int(pid)})"
        ax.text(
            x,
            -y,
            label,
            va="center",
            ha="left",
            fontsize=9,
            bbox={"boxstyle": "round", "fc": _SOURCE_COLOURS.get(kind, "#3b75af"), "ec": "none"},
            color="white",
        )
    depth = int(tree["Depth"].max()) if len(tree) else 0
    ax.set_xlim(-0.3, depth + 2.5)
    ax.set_ylim(-len(tree) + 0.5, 0.7)
    ax.set_xticks(range(depth + 1))
    ax.set_xlabel("depth (0: root)")
    ax.set_yticks([])
    ax.set_title(title)
    ax.legend(
        handles=[
            Line2D([], [], marker="s", ls="", color=colour, label=kind)
            for kind, colour in _SOURCE_COLOURS.items()
        ],
        loc="lower right",
        fontsize=8,
    )
    fig.tight_layout()
    return ax


# -- one process's timeline ------------------------------------------------------------------


def timeline(table: Any, process_guid: str) -> pd.DataFrame:
    """Everything one process did, in time order, across Sysmon event types.

    A row per event that names ``process_guid``: its creation (and the processes it created),
    its network connections, image loads, file, registry and pipe events, the processes it
    opened and the ones that opened it. ``Category`` groups the event ids (see
    ``SYSMON_CATEGORIES``), ``Relation`` says how the event names the process (``self``,
    ``child``, ``source`` or ``target``), ``Image`` is the process the event shows (the
    process itself, its child, or the other side of an access), ``Detail`` says what happened
    in one line.
    """
    import pandas as pd

    guid = process_guid.strip().upper()
    if _is_spark(table):
        from pyspark.sql import functions as F

        present = [f for f in _GUID_FIELDS if f in table.columns]
        if not present:
            raise HuntlabError("the table has no process GUID column (ProcessGuid, ...)")
        condition = F.upper(F.col(present[0])) == guid
        for field in present[1:]:
            condition = condition | (F.upper(F.col(field)) == guid)
        condition = (F.col("SourceName") == SYSMON) & condition
        raw = _spark_select(table, _TIMELINE_FIELDS, condition)
    else:
        sysmon = table[(table["SourceName"].astype("string") == SYSMON).fillna(False)]
        hit = pd.Series(False, index=sysmon.index)
        for field in _GUID_FIELDS:
            if field in sysmon.columns:
                hit |= sysmon[field].astype("string").str.upper().eq(guid).fillna(False)
        raw = _pandas_select(sysmon[hit], _TIMELINE_FIELDS)

    text = {c: _text(raw[c]) for c in raw.columns if c not in ("@timestamp", "EventID")}
    rows = []
    for i in range(len(raw)):
        event = {c: text[c].iloc[i] for c in text}
        event_id = int(raw["EventID"].iloc[i])
        relation = _relation(event, guid)
        rows.append(
            {
                "@timestamp": raw["@timestamp"].iloc[i],
                "Hostname": event["Hostname"],
                "EventID": event_id,
                "Category": SYSMON_CATEGORIES.get(event_id, "other"),
                "Relation": relation,
                "Image": _other_image(relation, event),
                "Detail": _detail(event_id, relation, event),
            }
        )
    frame = pd.DataFrame(rows, columns=list(TIMELINE_COLUMNS))
    frame["@timestamp"] = pd.to_datetime(frame["@timestamp"], utc=True)
    frame = frame.astype({"EventID": "int64"})
    return frame.sort_values(["@timestamp", "EventID"], kind="stable").reset_index(drop=True)


def _relation(event: dict[str, Any], guid: str) -> str:
    def same(field: str) -> bool:
        value = event.get(field)
        return bool(value) and str(value).upper() == guid

    if same("ProcessGuid"):
        return "self"
    if same("ParentProcessGuid"):
        return "child"
    if same("SourceProcessGUID"):
        return "source"
    return "target"


def _other_image(relation: str, event: dict[str, Any]) -> Any:
    """The image the event is about: the process itself, its child, or the other side."""
    if relation == "source":
        return event["TargetImage"]
    if relation == "target":
        return event["SourceImage"]
    return event["Image"]


def _detail(event_id: int, relation: str, e: dict[str, Any]) -> str:
    """One line saying what the event shows."""
    if event_id == 1:
        if relation == "child":
            return f"created {e['Image']}: {_cut(e['CommandLine'])}"
        return f"created: {_cut(e['CommandLine'])}"
    if event_id == 3:
        to = e["DestinationHostname"] or e["DestinationIp"]
        return f"{e['Protocol']} {e['SourceIp']}:{e['SourcePort']} -> {to}:{e['DestinationPort']}"
    if event_id in (8, 10):
        verb = "opened" if event_id == 10 else "created a thread in"
        access = f" ({e['GrantedAccess']})" if e["GrantedAccess"] else ""
        if relation == "source":
            return f"{verb} {e['TargetImage']}{access}"
        return f"{e['SourceImage']} {verb} it{access}"
    if event_id == 7:
        return f"loaded {e['ImageLoaded']}"
    if event_id in (2, 9, 11, 15, 23, 26):
        return f"{e['TargetFilename']}"
    if event_id in (12, 13, 14):
        value = f" = {_cut(e['Details'], 80)}" if event_id == 13 and e["Details"] else ""
        return f"{e['EventType']} {e['TargetObject']}{value}"
    if event_id in (17, 18):
        return f"pipe {e['PipeName']}"
    if event_id == 22:
        return f"DNS query {e['QueryName']}"
    if event_id == 5:
        return "terminated"
    return f"Sysmon event {event_id}"


def _cut(text: Any, limit: int = 120) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def plot_timeline(events: pd.DataFrame, title: str = "Process timeline") -> Axes:
    """A ``timeline`` as a chart: time across, one lane per category, one mark per event."""
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    lanes = sorted(events["Category"].unique())
    counts = events["Category"].value_counts()
    fig, ax = plt.subplots(figsize=(11, 1.2 + 0.5 * max(len(lanes), 1)))
    for lane, category in enumerate(lanes):
        picked = events[events["Category"] == category]
        ax.scatter(picked["@timestamp"], [lane] * len(picked), marker="|", s=300)
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels([f"{c} ({counts[c]})" for c in lanes])
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
    ax.set_xlabel("time (UTC)")
    ax.set_title(title)
    fig.tight_layout()
    return ax
