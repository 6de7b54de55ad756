"""The ingest pipeline ``huntlab-mordor``, generated from ``huntlab/mapping.json``.

It does to a raw Mordor record (2019 Winlogbeat, 2020 NXLog, reduced 2020) what
``huntlab.readers.iter_events`` does in Python: one Painless script driven by the mapping as
parameters (detect the format, drop, rename, flatten, merge aliases, canonical channel,
``@timestamp`` as ISO UTC text with milliseconds, ``EventID`` as an integer, every other
value as text), then it routes the event to its family index: a record sent to index
``huntlab`` lands in ``huntlab-sysmon``, ``huntlab-security``, ... A ``Dataset`` field in
the raw record (set by the shipper) is kept as the dataset name.

A record the script cannot normalise fails the request for that document, with the reason
(the loader counts it as rejected), rather than landing somewhere unexpected.

Needs the ``ingest-common`` and ``lang-painless`` modules of a regular Elasticsearch
distribution (not in the integ-test-zip the native node runs: ``huntlab es setup`` skips the
pipeline there, and ``huntlab load`` never needs it). tests/integration/es/test_es_pipeline.py runs it on a
real node with those modules (Elasticsearch 7.10.2) against the readers. Painless string
literals know only the escapes ``\\\\`` and the quote, and ``String.format`` is not in its
allow-list: control characters are compared and written by code point.
"""

from __future__ import annotations

from typing import Any

from huntlab.es import indices
from huntlab.readers import mapping as m

NAME = indices.PIPELINE

# Painless; see the module docstring. Functions first (Painless requires it).
SCRIPT = r"""
String quote(String s) {
  StringBuilder sb = new StringBuilder();
  sb.append('"');
  for (int i = 0; i < s.length(); i++) {
    char c = s.charAt(i);
    if (c == (char) '"') { sb.append('\\"'); }
    else if (c == (char) '\\') { sb.append('\\\\'); }
    else if ((int) c == 10) { sb.append('\\n'); }
    else if ((int) c == 13) { sb.append('\\r'); }
    else if ((int) c == 9) { sb.append('\\t'); }
    else if ((int) c == 8) { sb.append('\\b'); }
    else if ((int) c == 12) { sb.append('\\f'); }
    else if ((int) c < 32) {
      String hex = Integer.toHexString((int) c);
      sb.append(hex.length() < 2 ? '\\u000' : '\\u00');
      sb.append(hex);
    }
    else { sb.append(c); }
  }
  sb.append('"');
  return sb.toString();
}
String toJson(def v) {
  if (v == null) { return 'null'; }
  if (v instanceof String) { return quote(v); }
  if (v instanceof Boolean || v instanceof Number) { return v.toString(); }
  if (v instanceof Map) {
    StringBuilder sb = new StringBuilder();
    sb.append('{');
    boolean first = true;
    for (def e : v.entrySet()) {
      if (!first) { sb.append(','); }
      first = false;
      sb.append(quote(e.getKey().toString()));
      sb.append(':');
      sb.append(toJson(e.getValue()));
    }
    sb.append('}');
    return sb.toString();
  }
  if (v instanceof List) {
    StringBuilder sb = new StringBuilder();
    sb.append('[');
    boolean first = true;
    for (def x : v) {
      if (!first) { sb.append(','); }
      first = false;
      sb.append(toJson(x));
    }
    sb.append(']');
    return sb.toString();
  }
  return quote(v.toString());
}
String toText(def v, Map p) {
  if (v instanceof String) { return v; }
  if (v instanceof Boolean) { return v ? p.boolean_true : p.boolean_false; }
  if (v instanceof Number) { return v.toString(); }
  return toJson(v);
}
String isoUtc(def value, String fmt, DateTimeFormatter out) {
  if (!(value instanceof String)) {
    throw new IllegalArgumentException('timestamp ' + value + ' is not text');
  }
  String s = value;
  if (s.length() == 24 && s.charAt(10) == (char) 'T' && s.charAt(23) == (char) 'Z'
      && s.charAt(19) == (char) '.') {
    return s;
  }
  String t = s.replace(' ', 'T');
  ZonedDateTime parsed = null;
  try {
    parsed = ZonedDateTime.parse(t);
  } catch (DateTimeParseException e) {
    try {
      parsed = LocalDateTime.parse(t).atZone(ZoneOffset.UTC);
    } catch (DateTimeParseException e2) {
      throw new IllegalArgumentException('timestamp ' + s + ' is not ' + fmt);
    }
  }
  return parsed.withZoneSameInstant(ZoneOffset.UTC).format(out);
}

Map p = params;
Map raw = new LinkedHashMap();
for (def k : new ArrayList(ctx.keySet())) {
  if (!p.metadata.contains(k)) { raw.put(k, ctx.remove(k)); }
}
def dataset = raw.remove(p.dataset_field);
String fmt = null;
for (def name : p.detect_order) {
  Map rule = p.formats[name].detect;
  boolean ok = true;
  for (def k : rule.all_of) { if (!raw.containsKey(k)) { ok = false; } }
  for (def k : rule.none_of) { if (raw.containsKey(k)) { ok = false; } }
  if (ok) { fmt = name; break; }
}
if (fmt == null) {
  throw new IllegalArgumentException('unknown record format (keys: ' + raw.keySet() + ')');
}
Map spec = p.formats[fmt];
Map out = new LinkedHashMap();
List objects = new ArrayList();
for (def e : raw.entrySet()) {
  String key = e.getKey();
  def value = e.getValue();
  if (value == null || spec.drop.contains(key)) { continue; }
  if (spec.flatten.contains(key) && value instanceof Map) { objects.add(value); continue; }
  Map sub = spec.nested_rename[key];
  if (sub != null && value instanceof Map) {
    Map rest = new LinkedHashMap();
    for (def e2 : value.entrySet()) {
      def target = sub[e2.getKey()];
      if (target == null) { rest.put(e2.getKey(), e2.getValue()); }
      else if (e2.getValue() != null) { out.put(target, toText(e2.getValue(), p)); }
    }
    if (!rest.isEmpty()) { out.put(key, toText(rest, p)); }
    continue;
  }
  String name = spec.rename.getOrDefault(key, key);
  out.put(name, toText(value, p));
}
for (def obj : objects) {
  for (def e : obj.entrySet()) {
    if (e.getValue() != null && !out.containsKey(e.getKey())) {
      out.put(e.getKey(), toText(e.getValue(), p));
    }
  }
}
for (def e : p.aliases.entrySet()) {
  if (out.containsKey(e.getKey())) {
    def value = out.remove(e.getKey());
    if (!out.containsKey(e.getValue())) { out.put(e.getValue(), value); }
  }
}
def channel = out.get('Channel');
if (channel != null) {
  out.put('Channel', p.channels.getOrDefault(channel.toLowerCase(), channel));
}
DateTimeFormatter stampFormat = DateTimeFormatter.ofPattern(p.timestamp_output);
String stamp = null;
for (def source : spec.timestamp) {
  def value = source.field == p.timestamp_field ? raw.get(source.field) : out.get(source.field);
  if (value != null) { stamp = isoUtc(value, source.format, stampFormat); break; }
}
if (stamp == null) { out.remove(p.timestamp_field); } else { out.put(p.timestamp_field, stamp); }
for (def name : p.integers) {
  def value = out.get(name);
  if (value != null) {
    try {
      out.put(name, Long.parseLong(value.toString()));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + ' ' + value + ' is not an integer');
    }
  }
}
if (dataset != null) { out.put(p.dataset_field, dataset.toString()); }
ctx.putAll(out);
String family = p.families.getOrDefault(channel == null ? '' : out.get('Channel').toLowerCase(), p.default_family);
String index = ctx._index;
boolean routed = false;
for (def f : p.family_names) { if (index.endsWith('-' + f)) { routed = true; } }
if (!routed) { ctx._index = index + '-' + family; }
""".strip()


def _format_params(fmt: str) -> dict[str, Any]:
    spec = m.mapping()["formats"][fmt]
    rename, nested = m.split_renames(fmt)
    return {
        "detect": {
            "all_of": list(spec["detect"].get("all_of", [])),
            "none_of": list(spec["detect"].get("none_of", [])),
        },
        "drop": list(spec["drop"]),
        "rename": rename,
        "nested_rename": nested,
        "flatten": list(spec["flatten"]),
        "timestamp": [{"field": t["field"], "format": t["format"]} for t in spec["timestamp"]],
    }


def params() -> dict[str, Any]:
    mapping = m.mapping()
    return {
        "metadata": [
            "_index",
            "_id",
            "_routing",
            "_version",
            "_version_type",
            "_if_seq_no",
            "_if_primary_term",
            "_dynamic_templates",
            "_ingest",
            "_now",
        ],
        "detect_order": list(m.event_formats()),
        "formats": {name: _format_params(name) for name in m.event_formats()},
        "aliases": m.aliases(),
        "channels": m.channel_spellings(),
        "timestamp_field": m.timestamp_field(),
        "timestamp_output": mapping["types"]["timestamp_output"],
        "boolean_true": mapping["types"]["boolean_true"],
        "boolean_false": mapping["types"]["boolean_false"],
        "integers": list(m.integer_fields()),
        "dataset_field": m.dataset_field(),
        "families": dict(indices.CHANNEL_FAMILIES),
        "family_names": list(indices.FAMILIES),
        "default_family": indices.WINDOWS,
    }


def pipeline() -> dict[str, Any]:
    return {
        "description": "Raw Mordor records (2019 Winlogbeat, 2020 NXLog, reduced 2020) to "
        "huntlab canonical events, routed to huntlab-<family>. Generated from "
        "huntlab/mapping.json by huntlab.es.generate: do not edit.",
        "_meta": {"managed_by": "huntlab es setup", "mapping_version": m.mapping()["version"]},
        "processors": [
            {
                "script": {
                    "lang": "painless",
                    "tag": "normalise",
                    "source": SCRIPT,
                    "params": params(),
                }
            }
        ],
    }
