"""A real headless Chromium logs in to the native lab's JupyterLab with the token and opens
notebook 04; the screenshot is kept under test-artifacts/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import chromium
from tests.support.fixtures.lab import NativeLab

WAIT = 120


def _notebook_04() -> Path:
    from huntlab.resources import resource_dir

    found = sorted(resource_dir("notebooks").glob("04*.ipynb"))
    assert found, "notebook 04 is missing from jupyter/notebooks/"
    return found[0]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    driver = chromium(tmp_path / "chromium")
    try:
        yield driver
    finally:
        driver.quit()


def test_a_first_visit_opens_notebook_01_with_full_names_in_the_file_browser(
    native_lab: NativeLab, browser: object, artifacts_dir: Path
) -> None:
    """The lab's first screen (the URL `huntlab up` prints): notebook 01 open, where the
    series starts, and every notebook's whole name readable in the file browser. Runs first:
    later visits restore the user's own layout."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from huntlab.lab.workspace import FIRST_NOTEBOOK

    assert native_lab.install.returncode == 0, native_lab.install.stderr[-4000:]
    driver: WebDriver = browser  # type: ignore[assignment]
    wait = WebDriverWait(driver, WAIT)
    driver.get(f"{native_lab.jupyter}/lab?token={native_lab.token}")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".jp-Notebook .jp-Cell")))
    wait.until(lambda d: "Jupyter" in d.find_element(By.CSS_SELECTOR, ".jp-Notebook").text)
    # The file browser lists the workspace a moment after the notebook shows: wait for it.
    listing = ".jp-DirListing-item .jp-DirListing-itemText"
    wait.until(lambda d: sum(n.text.endswith(".ipynb")
                             for n in d.find_elements(By.CSS_SELECTOR, listing)) >= 8)  # fmt: skip
    driver.save_screenshot(str(artifacts_dir / "jupyterlab-first-screen.png"))
    current = driver.find_element(
        By.CSS_SELECTOR, "#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel"
    )
    assert current.text == FIRST_NOTEBOOK
    names = driver.find_elements(By.CSS_SELECTOR, listing)
    notebooks = [n for n in names if n.text.endswith(".ipynb")]
    assert len(notebooks) >= 8, [n.text for n in names]
    cut = [n.text for n in notebooks
           if driver.execute_script("return arguments[0].scrollWidth > arguments[0].clientWidth", n)]  # fmt: skip
    assert not cut, f"names cut short in the file browser: {cut}"


def test_browser_logs_in_with_the_token_and_opens_notebook_04(
    native_lab: NativeLab, browser: object, artifacts_dir: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    assert native_lab.install.returncode == 0, native_lab.install.stderr[-4000:]
    driver: WebDriver = browser  # type: ignore[assignment]
    wait = WebDriverWait(driver, WAIT)
    notebook = _notebook_04()

    # Without the token JupyterLab shows its login page and nothing else.
    driver.get(f"{native_lab.jupyter}/lab/tree/{notebook.name}")
    wait.until(ec.presence_of_element_located((By.ID, "password_input")))
    assert "/login" in driver.current_url
    # The login page says how to get this lab's token, and not Jupyter's stock advice.
    help_text = driver.find_element(By.ID, "huntlab-token-help").text
    assert "huntlab token" in help_text
    assert "jupyter server list" not in driver.page_source
    assert "enable a password" not in driver.page_source
    driver.save_screenshot(str(artifacts_dir / "lab-login-page.png"))

    field = driver.find_element(By.ID, "password_input")
    field.send_keys(native_lab.token)
    driver.find_element(By.ID, "login_submit").click()

    # After login we land on the notebook (the `next` parameter), rendered by JupyterLab.
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".jp-LabShell")))
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".jp-Notebook .jp-Cell")))
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    first_markdown = next(c for c in cells if c["cell_type"] == "markdown")
    heading = "".join(first_markdown["source"]).splitlines()[0].lstrip("# ").strip()
    # (The first visit's notebook 01 may be open too: read the notebook on show.)
    shown = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"
    wait.until(lambda d: heading in d.find_element(By.CSS_SELECTOR, shown).text)
    tabs = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".lm-TabBar-tabLabel")]
    assert notebook.name in tabs
    shot = artifacts_dir / "jupyterlab-notebook-04.png"
    assert driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def test_browser_starts_the_pyspark_kernel_from_the_launcher(
    native_lab: NativeLab, browser: object, artifacts_dir: Path
) -> None:
    """The launcher offers "PySpark (huntlab)"; its `spark` is connected to the lab's master."""
    import requests
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    assert native_lab.install.returncode == 0, native_lab.install.stderr[-4000:]
    driver: WebDriver = browser  # type: ignore[assignment]
    wait = WebDriverWait(driver, 240)
    # A reset workspace opens on the launcher.
    driver.get(f"{native_lab.jupyter}/lab?reset&token={native_lab.token}")
    card = (
        "//div[contains(@class,'jp-Launcher-section')][.//h2[text()='Notebook']]"
        "//div[contains(@class,'jp-LauncherCard')][.//p[text()='PySpark (huntlab)']]"
    )
    wait.until(ec.element_to_be_clickable((By.XPATH, card))).click()
    editor = (By.CSS_SELECTOR, ".jp-NotebookPanel .jp-Cell.jp-mod-active .cm-content")
    wait.until(ec.element_to_be_clickable(editor)).click()
    driver.find_element(*editor).send_keys("spark.range(10).count()")
    driver.find_element(*editor).send_keys(Keys.SHIFT, Keys.ENTER)
    result = (By.CSS_SELECTOR, ".jp-NotebookPanel .jp-OutputArea-executeResult")
    wait.until(ec.presence_of_element_located(result))
    assert driver.find_element(*result).text.strip().splitlines()[-1] == "10"
    driver.save_screenshot(str(artifacts_dir / "jupyterlab-pyspark-kernel.png"))
    # The kernel's application runs on the lab's master, not a local Spark.
    state = requests.get(f"{native_lab.spark_master_ui}/json/", timeout=30).json()
    assert "pyspark-kernel" in [app["name"] for app in state["activeapps"]], state["activeapps"]
    # Leave the shared lab as it was: the kernel (and its hold on the workers' cores) and the
    # new notebook go.
    api = f"{native_lab.jupyter}/api"
    auth = {"Authorization": f"token {native_lab.token}"}
    for session in requests.get(f"{api}/sessions", headers=auth, timeout=30).json():
        if session["path"].startswith("Untitled"):
            requests.delete(f"{api}/sessions/{session['id']}", headers=auth, timeout=60)
            requests.delete(f"{api}/contents/{session['path']}", headers=auth, timeout=30)
