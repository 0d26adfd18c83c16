"""An engine's arguments -> deployment values, read as the engine's own parser reads them.

Input is a list of `Token`s (the arguments after the entry point, with their places); the flag table of the
engine (`flags.py`) says which spellings it accepts. Values are checked as the engine checks them: a TP
size of `0`, `-2`, `abc` or a 5,000-digit number, a fraction of `90`, a flag that needs a value and has
none, a spelling the engine rejects — each is a `ManifestError` naming file:line, as job.yaml refuses the
same values (the engine would exit; no verdict can rest on it). A value that needs a variable the file never
sets is not an error: it is unknown, with the variable's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tpdoctor.manifests import flags
from tpdoctor.manifests.flags import Option
from tpdoctor.manifests.words import Token
from tpdoctor.model.deployment import Origin
from tpdoctor.model.errors import ManifestError

__all__ = ["ParsedArgs", "Token", "convert", "flag_for", "parse_args"]

flag_for = flags.flag_for
_HUMAN = re.compile(r"^(\d{1,12})(\.\d+)?([kKmMgGtT]?)$")
_NEGATIVE = re.compile(r"^-\d+(\.\d+)?$")
_UNITS = {"": 1, "k": 10 ** 3, "m": 10 ** 6, "g": 10 ** 9, "t": 10 ** 12,
          "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_LIMITS = {"size": 1 << 20, "count": 1 << 40, "hint": 1 << 50, "int": 1 << 40}
_WHAT = {"size": "a positive integer", "count": "a positive integer", "hint": "a positive token count (e.g. 8192 "
         "or 32k)", "frac": "a fraction in (0, 1]", "float": "a number >= 0", "int": "an integer",
         "tf": "true or false"}


@dataclass
class ParsedArgs:
    engine: str
    values: dict[str, Any] = field(default_factory=dict)  # Deployment field (or table field) -> value
    origins: dict[str, Origin] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)  # field -> why the file does not determine it
    unresolved: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    positionals: list[Token] = field(default_factory=list)


def convert(kind: str, text: str) -> Any:
    """The value of `text` as an option of type `kind`; ValueError (with the reason) when the engine would
    refuse it. `hint` returns None for `auto` / `-1` (the engine picks)."""
    t = text.strip()
    if kind in ("str", "strs"):
        return t
    if kind == "tf":
        if t.lower() not in ("true", "false"):
            raise ValueError(_WHAT[kind])
        return t.lower() == "true"
    if kind in ("frac", "float"):
        if len(t) > 24:
            raise ValueError(_WHAT[kind])
        v = float(t)  # ValueError for text
        if v != v or v in (float("inf"), float("-inf")) or v < 0 or (kind == "frac" and not 0 < v <= 1):
            raise ValueError(_WHAT[kind])
        return v
    if kind == "hint" and t.lower() in ("auto", "-1"):
        return None
    m = _HUMAN.match(t) if kind == "hint" else (re.match(r"^(-?\d{1,15})()()$", t))
    if not m:
        raise ValueError(_WHAT.get(kind, kind))
    number = float(m.group(1) + (m.group(2) or "")) * _UNITS[m.group(3)] if kind == "hint" else int(m.group(1))
    value = int(number)
    if value < 1 and kind != "int" or value > _LIMITS.get(kind, 1 << 40):
        raise ValueError(_WHAT.get(kind, kind))
    return value


def _flag_origin(tok: Token, value_tok: Token | None, text: str) -> Origin:
    """Where "<flag> <value>" (or "<flag>=<value>") was written, rewritable as one piece when possible."""
    src = value_tok or tok
    if src.origin.fmt == "ref" or tok.origin.fmt == "ref":
        return Origin(src.origin.file, src.origin.line, src.origin.col, None, "ref")
    if value_tok is None:  # --flag=value in one word
        return Origin(tok.origin.file, tok.origin.line, tok.origin.col, tok.origin.text or text, "flag")
    if tok.in_string and value_tok.origin.line == tok.origin.line:
        return Origin(tok.origin.file, tok.origin.line, tok.origin.col, text, "flag")
    return value_tok.origin


def _value_tokens(tokens: list[Token], i: int, opt: Option) -> tuple[list[Token], int]:
    """The value tokens of the option at `tokens[i]` (argparse: a negative number is a value)."""
    if opt.type == "strs":
        j = i + 1
        while j < len(tokens) and not tokens[j].text.startswith("-"):
            j += 1
        return tokens[i + 1:j], j
    if i + 1 < len(tokens):
        nxt = tokens[i + 1].text
        if not nxt.startswith("-") or _NEGATIVE.match(nxt) or nxt == "-":
            return [tokens[i + 1]], i + 2
    return [], i + 1


def parse_args(engine: str, tokens: list[Token], *, positional_model: bool = True) -> ParsedArgs:
    """Values of an engine's arguments (see the module docstring)."""
    out = ParsedArgs(engine)
    table = flags.table(engine)
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        word = tok.text
        if word == "--":
            break
        if not word.startswith("-") or len(word) == 1 or _NEGATIVE.match(word):
            out.positionals.append(tok)
            i += 1
            continue
        name, eq, inline = word.partition("=")
        found = flags.lookup(engine, name)
        if found.status == "rejected":
            raise ManifestError(f"{tok.origin.where()}: {found.why}")
        if found.status == "ambiguous":
            out.notes.append(found.why)
            if found.option is not None:
                out.unknown[found.option.field] = found.why
        if found.option is None or found.status == "ambiguous":
            i += 1  # unknown to us: skip it and, when it has one, its value
            if not eq and i < len(tokens) and not tokens[i].text.startswith("-") and not _looks_like_model(
                    tokens, i, table.positional_model and positional_model and not out.positionals):
                i += 1
            continue
        opt = found.option
        if opt.type == "bool":
            value: Any = True
            if eq:
                value = convert("tf", inline) if inline.lower() in ("true", "false") else True
            _set(out, opt, value, _flag_origin(tok, None, word), tok)
            i += 1
            continue
        if eq:
            vtoks, value_tok, text = [tok], None, word
            raw_values = [inline]
            i += 1
        else:
            vtoks, i = _value_tokens(tokens, i, opt)
            if not vtoks:
                raise ManifestError(f"{tok.origin.where()}: {name} needs a value ({_WHAT.get(opt.type, 'text')}): "
                                    f"{flags.engine_title(engine)} exits without one")
            value_tok, text = vtoks[0], f"{word} {vtoks[0].text}"
            raw_values = [t.text for t in vtoks]
        _take(out, opt, name, raw_values, vtoks, _flag_origin(tok, value_tok, text))
    return out


def _looks_like_model(tokens: list[Token], i: int, model_slot_open: bool) -> bool:
    return False if not model_slot_open else "/" in tokens[i].text and i == 0


def _take(out: ParsedArgs, opt: Option, name: str, raw_values: list[str], vtoks: list[Token],
          origin: Origin) -> None:
    missing = [n for t in vtoks for n in t.unresolved]
    if missing and opt.field == "name":  # a served name is a label: nothing judged needs it
        return
    if missing:
        shown = ", ".join(dict.fromkeys(missing))
        out.unknown[opt.field] = f"{name} comes from {shown}, which this file does not set"
        out.unresolved += [m for m in missing if m not in out.unresolved]
        out.values.pop(opt.field, None)
        out.origins[opt.field] = origin
        return
    raw = " ".join(raw_values) if opt.type == "strs" else raw_values[0]
    try:
        value = convert(opt.type, raw)
    except ValueError as exc:
        why = "a template placeholder, not a value: render the template first" if re.search(r"[{}<>]", raw) \
            else f"not {exc}"
        raise ManifestError(f"{origin.where()}: {name} {raw[:60]!r}: {why} "
                            f"({flags.engine_title(out.engine)} refuses it)") from None
    if opt.type == "hint" and value is None:
        out.notes.append(f"{name} {raw}: the engine picks the longest length that fits")
        return
    _set(out, opt, value, origin, vtoks[0] if vtoks else None)


def _set(out: ParsedArgs, opt: Option, value: Any, origin: Origin, tok: Token | None) -> None:
    if opt.field in out.values and out.values[opt.field] != value:
        out.notes.append(f"{opt.name} given twice ({out.values[opt.field]!r}, then {value!r}): the last one wins")
    out.values[opt.field] = value
    out.unknown.pop(opt.field, None)
    out.origins[opt.field] = origin


def apply_env(parsed: ParsedArgs, env: dict[str, str], env_origins: dict[str, Origin],
              env_unresolved: dict[str, tuple[str, ...]] | None = None) -> None:
    """TGI: options not on the command line come from their UPPER_SNAKE variables (clap: CLI > env)."""
    table = flags.table(parsed.engine)
    for var, opt in table.env_names().items():
        if opt.field in parsed.values or opt.field in parsed.unknown:
            continue
        if env_unresolved and var in env_unresolved:
            names = ", ".join(env_unresolved[var])
            parsed.unknown[opt.field] = f"{var} comes from {names}, which this file does not set"
            parsed.unresolved += [n for n in env_unresolved[var] if n not in parsed.unresolved]
            continue
        if var not in env:
            continue
        origin = env_origins.get(f"env.{var}") or Origin("")
        tok = Token(env[var], origin)
        _take(parsed, opt, var, [env[var]], [tok], origin)
    if "model" not in parsed.values and "model" not in parsed.unknown:
        parsed.unknown["model"] = ("TGI reads the model from --model-id or MODEL_ID, and this file sets neither "
                                   "(TGI's own default is bigscience/bloom-560m)")
        parsed.unresolved.append("MODEL_ID")
