"""Index names: one index per data-source family, a pattern and an alias over all of them.

"All Sysmon events" is the one index ``huntlab-sysmon``; "everything" is the alias
``huntlab`` (or the pattern ``huntlab-*``). The ingest pipeline routes with the same rule.
"""

from __future__ import annotations

# The ingest pipeline that turns raw Mordor records into canonical events (es/pipeline.py).
PIPELINE = "huntlab-mordor"
PREFIX = "huntlab"
ALIAS = PREFIX
PATTERN = f"{PREFIX}-*"

SYSMON = "sysmon"
SECURITY = "security"
POWERSHELL = "powershell"
WINDOWS = "windows"
FAMILIES = (SYSMON, SECURITY, POWERSHELL, WINDOWS)

SYSMON_INDEX = f"{PREFIX}-{SYSMON}"
SECURITY_INDEX = f"{PREFIX}-{SECURITY}"
POWERSHELL_INDEX = f"{PREFIX}-{POWERSHELL}"
WINDOWS_INDEX = f"{PREFIX}-{WINDOWS}"
ALL_INDEXES = (SYSMON_INDEX, SECURITY_INDEX, POWERSHELL_INDEX, WINDOWS_INDEX)

# Lower-cased channel -> family; any other channel is "windows".
CHANNEL_FAMILIES: dict[str, str] = {
    "microsoft-windows-sysmon/operational": SYSMON,
    "security": SECURITY,
    "windows powershell": POWERSHELL,
    "microsoft-windows-powershell/operational": POWERSHELL,
    "powershellcore/operational": POWERSHELL,
}


def family(channel: str | None) -> str:
    """The data-source family of a Windows channel (case-insensitive)."""
    if not channel:
        return WINDOWS
    return CHANNEL_FAMILIES.get(channel.lower(), WINDOWS)


def index_for(channel: str | None, prefix: str = PREFIX) -> str:
    """The index an event of ``channel`` goes to, e.g. ``huntlab-sysmon``."""
    return f"{prefix}-{family(channel)}"


def indexes(prefix: str = PREFIX) -> tuple[str, ...]:
    return tuple(f"{prefix}-{name}" for name in FAMILIES)
