"""The docs test's own helpers: results stated in comments become checks; notes are read."""

from __future__ import annotations

import subprocess
import sys

from tests.support.docs_examples import examples, with_stated_results


def test_a_stated_result_is_checked() -> None:
    code = 'x = (1, 2)\nx[:1]      # (1,)\nlen("ab")  # 3\nprint("ok")  # not a literal\n'
    checked = with_stated_results(code)
    assert "assert (x[:1]) == (1,)" in checked and "assert (len(\"ab\")) == 3" in checked
    done = subprocess.run([sys.executable, "-c", checked], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 1 and "len(\"ab\")" in done.stderr  # 2 != 3: the example lies


def test_the_catalog_example_states_its_result() -> None:
    catalog = next(e for e in examples() if "cat.get(" in e.code)
    assert "assert (cat.get(\"SDWIN-200921001437\").techniques) == ('T1047',)" in (
        with_stated_results(catalog.code)
    )


def test_a_printed_result_stated_with_dots_is_checked_as_a_beginning() -> None:
    checked = with_stated_results('print("read 3, kept 2")  # read 3, kept ...\n')
    assert subprocess.run([sys.executable, "-c", checked], check=False).returncode == 0
    wrong = with_stated_results('print("read 3, kept 2")  # read 4 ...\n')
    assert subprocess.run([sys.executable, "-c", wrong], capture_output=True,
                          check=False).returncode == 1  # fmt: skip
