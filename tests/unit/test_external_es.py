"""`huntlab up --es-url`: which URLs and option sets are refused before any request, and what
a refusal leaves (nothing). The cluster itself: tests/e2e/lab/test_external_es.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from huntlab.errors import HuntlabError
from huntlab.lab.native import external_es
from huntlab.settings import load_settings


@pytest.mark.parametrize(
    "url",
    ["https://es.example.org:9200", "https://es.example.org:9200/", "http://127.0.0.1:9200",
     "http://localhost:9200", "http://[::1]:9200"],
)  # fmt: skip
def test_https_anywhere_and_http_on_loopback_are_accepted(url: str) -> None:
    assert external_es.check_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://es.example.org:9200", "in clear"),
        ("http://10.0.0.5:9200", "in clear"),
        ("https://elastic:secret@es.example.org:9200", "must not hold credentials"),
        # Without a scheme it parses as a path: refused for its credentials all the same,
        # before any message could echo them.
        ("elastic:secret@es.example.org:9200", "must not hold credentials"),
        ("ftp://elastic:secret@es.example.org", "must not hold credentials"),
        ("es.example.org:9200", "not an Elasticsearch URL"),
        ("ftp://es.example.org", "not an Elasticsearch URL"),
    ],
)
def test_other_urls_are_refused_with_why(url: str, said: str) -> None:
    with pytest.raises(HuntlabError, match=said) as refused:
        external_es.check_url(url)
    assert "secret" not in str(refused.value)


def _choose(home: Path, url: str | None, user: str | None = None, password_file: str | None = None,
            ca: str | None = None) -> object:  # fmt: skip
    said: list[str] = []
    return external_es.choose(
        load_settings(home=home), url, user, password_file, ca, team=False, say=said.append
    )


def test_option_sets_that_cannot_work_are_refused_and_change_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="ascii")
    with pytest.raises(HuntlabError, match="--es-password-file"):
        _choose(tmp_path, "https://es.example.org:9200", user="elastic")
    with pytest.raises(HuntlabError, match="no Elasticsearch password on its first line"):
        _choose(tmp_path, "https://es.example.org:9200", "elastic", str(empty))
    with pytest.raises(HuntlabError, match="only with --es-url URL"):
        _choose(tmp_path, None, user="elastic")
    with pytest.raises(HuntlabError, match="not for `--es-url local`"):
        _choose(tmp_path, "local", password_file=str(empty))
    with pytest.raises(HuntlabError, match="no such file"):
        password = tmp_path / "password"
        password.write_text("pw\n", encoding="ascii")
        _choose(tmp_path, "https://es.example.org:9200", "elastic", str(password),
                str(tmp_path / "missing.crt"))  # fmt: skip
    assert external_es.external_url(tmp_path) is None
    assert not (tmp_path / "config.json").exists()
    assert not external_es.folder(tmp_path).exists()
