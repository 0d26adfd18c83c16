"""YAML with positions: plain Python data plus, for every scalar, where its text sits in the file.

Manifest readers need the line of each value for error messages and for `--fix`, which rewrites values in
place (same file, minimal diff) instead of re-dumping YAML and losing the user's comments and layout.

Other people's YAML, read as its authors meant it: merge keys (`<<: *anchor`, `<<: [*a, *b]`) are merged
with the mapping's own keys winning; a composed document is measured before it is expanded
(`files/yamlsafe.check_expansion`: alias bombs, recursive aliases, deep nesting); a Helm template or a file
with unresolved merge-conflict markers is named as what it is instead of "malformed YAML"; a placeholder
such as `{{HF_TOKEN}}` (a flow mapping used as a key) is kept as text, not a crash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

import yaml

from tpdoctor.files.yamlsafe import check_expansion
from tpdoctor.model.errors import ManifestError, NotADeployment

Path_ = tuple[Any, ...]  # keys and list indices from the document root


class Span(NamedTuple):
    """Where a scalar's text is: 1-based line, 0-based column range on that line (single-line scalars).
    A named tuple: a large job file has a million of them."""

    line: int
    col: int
    end_col: int | None  # None when the scalar spans several lines


@dataclass
class Document:
    data: Any
    index: int  # position in a multi-document file
    spans: dict[Path_, Span] = field(default_factory=dict)  # scalar and mapping/sequence start positions
    lines: list[str] | None = None  # the file's lines (to find words of a multi-line string in place)

    def line_of(self, path: Path_) -> int | None:
        """Line of `path`, or of its nearest ancestor that has one."""
        p = tuple(path)
        while True:
            span = self.spans.get(p)
            if span is not None:
                return span.line
            if not p:
                return None
            p = p[:-1]


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _convert(node: yaml.Node, path: Path_, spans: dict[Path_, Span]) -> Any:
    start, end = node.start_mark, node.end_mark
    spans[path] = Span(start.line + 1, start.column, end.column if end.line == start.line else None)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        merged: list[yaml.MappingNode] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged += _merge_sources(value_node)
                continue
            key = _key(key_node)
            out[key] = _convert(value_node, (*path, key), spans)
        # merge keys: the mapping's own keys win, then the sources in the order written (YAML merge spec)
        for source in merged:
            theirs: dict[Path_, Span] = {}
            for key, value in _convert(source, path, theirs).items():
                if key not in out:
                    out[key] = value
                    n = len(path)
                    spans.update((p, sp) for p, sp in theirs.items() if len(p) > n and p[n] == key)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), spans) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    return scalar(node)


def _merge_sources(node: yaml.Node) -> list[yaml.MappingNode]:
    if isinstance(node, yaml.MappingNode):
        return [node]
    if isinstance(node, yaml.SequenceNode) and all(isinstance(n, yaml.MappingNode) for n in node.value):
        return list(node.value)
    raise ManifestError(f"{node.start_mark.line + 1}: a `<<:` merge key needs a mapping or a list of mappings")


def _key(node: yaml.Node) -> Any:
    """A mapping key; a flow collection used as a key (`{{HF_TOKEN}}` read as YAML) becomes its text."""
    if isinstance(node, yaml.ScalarNode):
        key = scalar(node)
        try:
            hash(key)
        except TypeError:
            return str(key)
        return key
    return f"<{type(node).__name__[:-4].lower()} key at line {node.start_mark.line + 1}>"


# A Go template directive (Helm): `{{ .Values.x }}`, `{{- range … }}`, `{{ include … }}`; not `{{NAME}}`.
_HELM = re.compile(r"\{\{-?\s*(\.|\$|/\*|(if|else|end|range|with|include|template|define|toYaml|tpl|"
                   r"default|printf|quote|required|lookup|mul|add|sub|div|not|eq|ne|and|or)\b)")
_CONFLICT = re.compile(r"^(<{7}|>{7})( |$)", re.MULTILINE)


_ENGINE_WORDS = re.compile(r"vllm|sglang|text-generation|tgi|trtllm|tensorrt|triton|nvidia\.com/gpu|"
                           r"tensor.parallel|tp.size|num.shard", re.IGNORECASE)


def refuse_templates(text: str, source: str) -> None:
    """ManifestError for a Helm template or unresolved merge-conflict markers, naming the first line."""
    m = _CONFLICT.search(text)
    if m:
        line = text.count("\n", 0, m.start()) + 1
        raise ManifestError(f"{source}:{line}: unresolved git merge-conflict markers ({m.group(1)}): resolve the "
                            "conflict first")
    m = _HELM.search(text)
    if m:
        line = text.count("\n", 0, m.start()) + 1
        if not _ENGINE_WORDS.search(text):  # a Service's or a ConfigMap's template: nothing to check in it
            raise NotADeployment(f"{source}:{line}: a Helm template with no engine and no GPU in it")
        raise ManifestError(f"{source}:{line}: a Helm template: render it with `helm template` first "
                            "(then check the rendered manifests)")


_CONSTRUCTOR = yaml.constructor.SafeConstructor()
# libyaml's composer when PyYAML was built with it (10x faster on a 10,000-deployment job file); the nodes
# and their marks are the same as the pure-Python composer's.
_BASE_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAGS: dict[tuple[str, tuple[bool, bool]], str] = {}  # (plain scalar text, implicit) -> resolved tag


class _Loader(_BASE_LOADER):
    """Safe loader whose implicit scalar tags are memoised: a job file repeats the same few hundred
    values (model names, sizes, GPU indices) thousands of times, and PyYAML resolves each with regexes."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit is not None:
            key = (value, tuple(implicit))
            tag = _TAGS.get(key)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(_TAGS) < 100_000:
                    _TAGS[key] = tag
            return tag
        return super().resolve(kind, value, implicit)


_LOADER = _Loader


@lru_cache(maxsize=1)
def _resolver() -> _Loader:
    return _Loader("")


@lru_cache(maxsize=1)
def str_first_chars() -> frozenset[str]:
    """Printable ASCII characters no implicit resolver starts with: a plain scalar starting with one is a
    string (`resolve_plain`'s first test), whatever follows."""
    resolver = _resolver()
    table = resolver.yaml_implicit_resolvers
    if None in table or resolver.yaml_path_resolvers:
        return frozenset()
    return frozenset(chr(c) for c in range(33, 127) if chr(c) not in table)


def resolve_plain(text: str) -> str:
    """The tag the composer gives a plain scalar of this text (`flowlist` reads without the composer): a
    string at once when no implicit resolver starts with its first character, as `Resolver.resolve` finds."""
    resolver = _resolver()
    table = resolver.yaml_implicit_resolvers
    if text and text[0] not in table and None not in table and not resolver.yaml_path_resolvers:
        return STR_TAG
    return str(resolver.resolve(yaml.ScalarNode, text, (True, False)))


STR_TAG = _STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"


def scalar(node: yaml.ScalarNode) -> Any:
    """The Python value of one resolved scalar (one shared constructor, its memo cleared each time); plain
    strings and decimal integers directly (most of a large job file)."""
    tag, value = node.tag, node.value
    if tag == _STR_TAG:
        return value
    if tag == _INT_TAG and value.isdigit() and (len(value) == 1 or value[0] != "0") and len(value) < 19:
        return int(value)
    try:
        return _CONSTRUCTOR.construct_object(node, deep=True)
    except (ValueError, OverflowError):
        shown = value if len(value) <= 24 else f"{value[:12]}…({len(value)} characters)"
        raise ManifestError(f"{node.start_mark.line + 1}: {shown!r} is not a value tpdoctor can read "
                            "(a number far too large to be a setting?)") from None
    finally:
        _CONSTRUCTOR.constructed_objects.clear()
        _CONSTRUCTOR.recursive_objects.clear()


def load_documents(text: str, source: str) -> list[Document]:
    """All documents of a YAML file with positions; malformed YAML is one ManifestError with its line."""
    refuse_templates(text, source)
    try:
        nodes = list(yaml.compose_all(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ManifestError(f"{source}{line}: malformed YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ManifestError(f"{source}: malformed YAML: {exc}") from None
    except RecursionError:
        raise ManifestError(f"{source}: YAML nested too deeply to read") from None
    docs: list[Document] = []
    lines = text.split("\n")
    for i, node in enumerate(nodes):
        if node is None:
            continue
        check_expansion(node, source, text)
        spans: dict[Path_, Span] = {}
        try:
            data = _convert(node, (), spans)
        except RecursionError:
            raise ManifestError(f"{source}:{node.start_mark.line + 1}: YAML nested too deeply to read") from None
        except ManifestError as exc:
            raise ManifestError(f"{source}:{exc.message}") from None
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            raise ManifestError(f"{source}:{node.start_mark.line + 1}: malformed YAML: {exc}") from None
        if data is None:
            continue
        docs.append(Document(data=data, index=i, spans=spans, lines=lines))
    return docs
