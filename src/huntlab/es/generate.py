"""Generate the Elasticsearch resources that restate the canonical mapping.

``src/huntlab/mapping.json`` is the one source of truth; this module writes from it the
mapping component template (text sub-fields for the free-text fields) and the ingest
pipeline that turns raw Mordor records into canonical events. Run
``python -m huntlab.es.generate`` after editing mapping.json; a test checks the committed
files equal the generated ones.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from huntlab.readers import mapping as m
from huntlab.resources import resource_dir

KEYWORD_IGNORE_ABOVE = 8191


def mappings_component() -> dict[str, Any]:
    fields = m.mapping()["fields"]
    text_fields = list(m.mapping()["text_fields"])
    free_text = {
        "type": "keyword",
        "ignore_above": KEYWORD_IGNORE_ABOVE,
        "fields": {"text": {"type": "text"}},
    }
    properties: dict[str, Any] = {
        fields["timestamp"]: {"type": "date"},
        fields["dataset"]: {"type": "keyword"},
    }
    for name in fields["integers"]:
        properties[name] = {"type": "integer"}
    for name in fields["core"]:
        if name not in properties:
            properties[name] = dict(free_text) if name in text_fields else {"type": "keyword"}
    return {
        "_meta": {
            "description": "huntlab canonical event fields (generated from huntlab/mapping.json "
            "by huntlab.es.generate: do not edit)",
            "managed_by": "huntlab es setup",
        },
        "template": {
            "mappings": {
                # The types are mapping.json's: never guess dates or numbers.
                "date_detection": False,
                "numeric_detection": False,
                "dynamic_templates": [
                    {
                        # Numeric fields, mapped when an index first holds one (as
                        # properties, all would show in every index, and in Spark's tables
                        # over them). The keyword twin holds the number's text: text
                        # matching (a Sigma modifier, a quoted value) needs no script, which
                        # the native lab's node cannot run.
                        "numbers": {
                            "match": list(fields["numbers"]),
                            "mapping": {"type": "long", "fields": {"keyword": {"type": "keyword"}}},
                        }
                    },
                    {
                        "free_text": {
                            "match_mapping_type": "string",
                            "match": text_fields,
                            "mapping": free_text,
                        }
                    },
                    {
                        "strings_as_keyword": {
                            "match_mapping_type": "string",
                            "mapping": {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE},
                        }
                    },
                ],
                "properties": properties,
            }
        },
    }


def generated() -> dict[str, dict[str, Any]]:
    """Relative path under ``elasticsearch/`` -> JSON document."""
    from huntlab.es.indices import PIPELINE
    from huntlab.es.pipeline import pipeline

    return {
        "component-templates/huntlab-mappings.json": mappings_component(),
        f"ingest-pipelines/{PIPELINE}.json": pipeline(),
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write(root: Path | None = None) -> list[Path]:
    root = root or resource_dir("elasticsearch")
    written = []
    for relative, document in generated().items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(document), encoding="utf-8")
        written.append(path)
    return written


def main() -> int:
    for path in write():
        print(path, file=sys.stderr)
    return 0


__all__ = ["generated", "main", "mappings_component", "render", "write"]

if __name__ == "__main__":
    raise SystemExit(main())
