"""The shared recordings the reader tests use, and an independent way to read their raw lines.

The raw side uses only the standard library (tarfile, zipfile, json), so the tests compare
huntlab's readers with the files themselves rather than with huntlab's own code.
"""

from __future__ import annotations

import json
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

EMPIRE_2019 = "windows/empire_invoke_wmi/empire_invoke_wmi.tar.gz"
IWBEM_2020 = (
    "windows/empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod/host/"
    "empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod.zip"
)
LAUNCHER_VBS = "windows/empire_launcher_vbs/empire_launcher_vbs.zip"
FODHELPER = "windows/empire_uac_shellapi_fodhelper/empire_uac_shellapi_fodhelper.zip"
LSASS_REDUCED = "windows/psh_lsass_memory_dump_comsvcs/psh_lsass_memory_dump_comsvcs.zip"

# Every shared recording of Windows events, by the name its Dataset column gets.
EVENT_DATASETS = {
    "empire_invoke_wmi": EMPIRE_2019,
    "empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod": IWBEM_2020,
    "empire_launcher_vbs": LAUNCHER_VBS,
    "empire_uac_shellapi_fodhelper": FODHELPER,
    "psh_lsass_memory_dump_comsvcs": LSASS_REDUCED,
}

WMIPRVSE = r"C:\Windows\System32\wbem\WmiPrvSE.exe"


def raw_lines(archive: Path) -> Iterator[bytes]:
    """The lines of the single JSON file inside ``archive``."""
    if archive.name.endswith(".tar.gz"):
        with tarfile.open(archive) as tar:
            for info in tar:
                if info.isfile():
                    stream = tar.extractfile(info)
                    assert stream is not None
                    yield from stream
        return
    with zipfile.ZipFile(archive) as zipped:
        for name in zipped.namelist():
            with zipped.open(name) as stream:
                yield from stream


def raw_records(archive: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in raw_lines(archive) if line.strip()]
