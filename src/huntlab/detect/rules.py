"""Load Sigma rules (a file, a folder, a SigmaHQ release archive), filter them, compile them.

Every rule read ends up either compiled or in ``RuleSet.unsupported`` with its reason:
nothing is skipped silently. Filters (status, level, tags, logsource) only narrow what the
user asked for; they never hide a rule that failed to compile.
"""

from __future__ import annotations

import dataclasses
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from huntlab.detect import correlate
from huntlab.detect.compile import CompiledRule, Placeholders, RuleInfo, compile_rule, rule_info
from huntlab.detect.correlate import Correlation
from huntlab.detect.logsource import Unsupported
from huntlab.errors import HuntlabError

_SUFFIXES = (".yml", ".yaml")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Skipped:
    """A rule that huntlab cannot evaluate, and why."""

    info: RuleInfo
    reason: str


@dataclass(frozen=True)
class Filters:
    """Which rules to keep; empty means all. Tags match by prefix (``attack.t1047`` keeps
    ``attack.t1047.001`` too)."""

    status: Sequence[str] = ()
    level: Sequence[str] = ()
    tags: Sequence[str] = ()
    product: Sequence[str] = ()
    category: Sequence[str] = ()
    service: Sequence[str] = ()

    def keep(self, info: RuleInfo) -> bool:
        def one(wanted: Sequence[str], value: str | None) -> bool:
            return not wanted or (value or "").lower() in {w.lower() for w in wanted}

        if not (
            one(self.status, info.status)
            and one(self.level, info.level)
            and one(self.product, info.product)
            and one(self.category, info.category)
            and one(self.service, info.service)
        ):
            return False
        if not self.tags:
            return True
        tags = [t.lower() for t in info.tags]
        return any(t == w or t.startswith(w + ".") for w in map(str.lower, self.tags) for t in tags)


@dataclass
class RuleSet:
    rules: list[CompiledRule] = field(default_factory=list)
    unsupported: list[Skipped] = field(default_factory=list)
    correlations: list[Correlation] = field(default_factory=list)


def _documents(path: Path) -> Iterator[tuple[str, str]]:
    """(name, YAML text) of every rule file in ``path``."""
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.suffix.lower() in _SUFFIXES):
            yield str(file), file.read_text(encoding="utf-8")
    elif path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                for info in sorted(archive.infolist(), key=lambda i: i.filename):
                    if info.filename.lower().endswith(_SUFFIXES) and not info.is_dir():
                        text = archive.read(info).decode("utf-8")
                        yield f"{path}!{info.filename}", text
        except zipfile.BadZipFile as exc:
            raise HuntlabError(
                f"{path}: not a readable zip archive ({exc}); download the SigmaHQ release again"
            ) from exc
    elif path.is_file():
        yield str(path), path.read_text(encoding="utf-8")
    else:
        raise HuntlabError(f"{path}: no such rule file or folder; check the path")


def _unknown(path: str) -> RuleInfo:
    return RuleInfo("", Path(path.split("!")[-1]).stem, "", "", "", (), None, None, None, path)


def load_rules(
    paths: str | Path | Iterable[str | Path],
    filters: Filters | None = None,
    placeholders: Placeholders | None = None,
) -> RuleSet:
    """Parse (pySigma) and compile every rule under ``paths``, keeping those ``filters`` pass."""
    if isinstance(paths, str | Path):
        paths = [paths]
    filters = filters or Filters()
    out = RuleSet()
    # Every rule read, by name and by id, for correlations (which may name rules of other
    # files, and rules the filters leave out: those are their input, not reported alone).
    read: dict[str, tuple[SigmaRule, str]] = {}
    correlations: list[tuple[SigmaCorrelationRule, str]] = []
    origin: list[int] = []  # id() of the parsed rule each of out.rules comes from
    referenced: list[tuple[bool, list[int]]] = []  # (generate, id() of the rules) per correlation
    for path in paths:
        for name, text in _documents(Path(path).expanduser()):
            try:
                # libyaml's loader (same results as yaml.safe_load_all, which pySigma's
                # from_yaml uses) parses the YAML ten times faster.
                documents = list(yaml.load_all(text, Loader=_LOADER))
                # References are resolved below, across every file read.
                collection = SigmaCollection.from_dicts(
                    documents, collect_errors=True, resolve_references=False
                )
            except (SigmaError, yaml.YAMLError) as exc:
                out.unsupported.append(Skipped(_unknown(name), f"not a Sigma rule file: {exc}"))
                continue
            for error in collection.errors:
                out.unsupported.append(Skipped(_unknown(name), f"invalid rule: {error}"))
            for item in collection.rules:
                if isinstance(item, SigmaCorrelationRule):
                    correlations.append((item, name))
                    continue
                if not isinstance(item, SigmaRule):
                    out.unsupported.append(
                        Skipped(_unknown(name), f"{type(item).__name__} is not supported")
                    )
                    continue
                info = rule_info(item, name)
                for ref in (item.name, str(item.id) if item.id else None):
                    if ref:
                        read[ref] = (item, name)
                if not filters.keep(info):
                    continue
                try:
                    out.rules.append(compile_rule(item, name, placeholders))
                    origin.append(id(item))
                except Unsupported as exc:
                    out.unsupported.append(Skipped(info, str(exc)))
                except SigmaError as exc:
                    out.unsupported.append(Skipped(info, f"invalid rule: {exc}"))
    chained = {ref for item, _ in correlations for ref in (item.name, str(item.id or "")) if ref}
    for item, name in correlations:
        used = _add_correlation(out, item, name, read, chained, filters, placeholders)
        if used is not None:
            referenced.append((bool(item.generate), [id(rule) for rule in used]))

    # A rule referenced only by correlations with `generate: false` (the default) reports
    # no hits of its own: its matches are the correlation's input.
    # (Rules are told apart by the parsed rule they came from: many rules have no id.)
    quiet = {i for generate, items in referenced if not generate for i in items}
    quiet -= {i for generate, items in referenced if generate for i in items}
    out.rules = [r for r, i in zip(out.rules, origin, strict=True) if i not in quiet]
    return out


def _add_correlation(
    out: RuleSet,
    item: SigmaCorrelationRule,
    name: str,
    read: dict[str, tuple[SigmaRule, str]],
    chained: set[str],
    filters: Filters,
    placeholders: Placeholders | None,
) -> list[SigmaRule] | None:
    """``item`` compiled into ``out.correlations`` (its rules returned), or listed in
    ``out.unsupported`` (None)."""
    tags = tuple(str(t) for t in item.tags)
    level = item.level.name.lower() if item.level else ""
    status = item.status.name.lower() if item.status else ""
    info = RuleInfo(
        str(item.id or ""), item.title, level, status, item.author or "", tags,
        None, None, None, name,
    )  # fmt: skip
    refs = [r.reference for r in item.rules or []]
    found = [read.get(ref) for ref in refs]
    missing = [ref for ref, f in zip(refs, found, strict=True) if f is None]
    if any(ref in chained for ref in refs):
        names = ", ".join(ref for ref in refs if ref in chained)
        reason = (
            f"its rule {names} is a correlation: correlations of correlations are not evaluated"
        )
        out.unsupported.append(Skipped(info, reason))
        return None
    if missing or not refs:
        # Listed whatever the filters: they cannot be judged without the rules.
        out.unsupported.append(
            Skipped(info, f"correlation names rules not read: {', '.join(missing) or 'none'} "
                          "(give the files or folders that hold them too)")
        )  # fmt: skip
        return None
    # Filters on the logsource apply to the rules it correlates.
    if not any(
        filters.keep(dataclasses.replace(info, product=f[0].logsource.product,
                                         category=f[0].logsource.category,
                                         service=f[0].logsource.service))
        for f in found if f is not None
    ):  # fmt: skip
        return None
    compiled = []
    try:
        for ref, (rule, path) in zip(refs, [f for f in found if f is not None], strict=True):
            try:
                compiled.append(compile_rule(rule, path, placeholders))
            except Unsupported as exc:
                raise Unsupported(f"its rule {ref}: {exc}") from exc
        out.correlations.append(correlate.from_sigma(item, info, compiled))
        return [rule for rule, _ in (f for f in found if f is not None)]
    except Unsupported as exc:
        out.unsupported.append(Skipped(info, str(exc)))
    except SigmaError as exc:
        out.unsupported.append(Skipped(info, f"invalid rule: {exc}"))
    return None
