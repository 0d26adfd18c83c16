"""Secrets never leave tpdoctor: the one redaction of what a process's command line and environment hold.

tpdoctor runs as root and reads other users' command lines and environments (docs/running.md). They carry
secrets: `--api-key`, `--hf-token`, `HF_TOKEN=…`, `OPENAI_API_KEY`, a database URL with a password. Every
value that could be one is replaced by `REDACTED` the moment it is read (`probes/procfs.py`), before it
reaches a report, a capture written by `collect`, a metric label or a terminal; the renderers and `collect`
apply the same functions again to whatever they print or save, so text that arrived any other way (a
replayed capture someone edited) is redacted too. What counts as secret:

- an option whose name has a secret word as a part (`--api-key`, `--hf-token`, `--password`, `--secret`,
  `--auth`, `--credentials`; parts are split at `-` and `_`, so `--tokenizer` and `--max-num-batched-tokens`
  stay): its value, as the next argument or after `=`;
- an environment variable whose name matches `SECRET_NAME` (`HF_TOKEN`, `*_TOKEN`, `*_KEY`, `*SECRET*`,
  `*PASSWORD*`, `*PASSWD*`, `*CREDENTIAL*`, `*_AUTH*`), whether in the environment or written `NAME=value` in
  an argument (`env HF_TOKEN=… vllm serve`, `sh -c "…"`);
- the user and password of a URL (`scheme://user:pass@host` keeps `scheme://<redacted>@host`);
- a Hugging Face token (`hf_` and 30+ letters or digits) and `Bearer <token>` anywhere in a value.
Over-redacting is allowed (a path after `--ssl-keyfile` would do no harm); leaking is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

REDACTED = "<redacted>"

# option names whose value is secret: a secret word as one of the name's parts
_SECRET_PARTS = frozenset({"token", "secret", "secrets", "password", "passwd", "pass", "key",
                           "apikey", "credential", "credentials", "auth", "bearer", "cookie", "signature"})
SECRET_NAME = re.compile(r"(^|_)(TOKEN|KEY|APIKEY|AUTH)(_|$)|SECRET|PASSWORD|PASSWD|CREDENTIAL|COOKIE",
                         re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")
_HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")
_BEARER = re.compile(r"(\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=")
_QUOTED_KEY = re.compile(r"([\"']([A-Za-z0-9_.-]+)[\"']\s*:\s*)([\"'][^\"']*[\"']|[^,}\s]+)")


def secret_option(word: str) -> bool:
    """`--api-key`, `--hf_token`, `-password`: an option whose value is a secret."""
    if not word.startswith("-"):
        return False
    name = word.lstrip("-").split("=", 1)[0].lower()
    parts = re.split(r"[-_.]", name)
    return any(p in _SECRET_PARTS for p in parts) or name in ("apikey", "hftoken")


def secret_name(name: str) -> bool:
    """An environment variable whose value is a secret (`HF_TOKEN`, `VLLM_API_KEY`, `DB_PASSWORD`)."""
    return bool(SECRET_NAME.search(name))


def redact_text(text: str) -> str:
    """One value or a whole command string with every secret in it replaced (see the module docstring).
    A string is split at white space: a secret option's next word, `--secret=…` and `SECRET_NAME=…`
    words, and `"secret_name": value` pairs (JSON or YAML in an argument) lose their value."""
    if not text:
        return text
    out = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    out = _HF_TOKEN.sub(REDACTED, out)
    out = _BEARER.sub(lambda m: f"{m.group(1)}{REDACTED}", out)
    out = _QUOTED_KEY.sub(lambda m: f"{m.group(1)}{REDACTED}" if secret_key(m.group(2)) else m.group(0), out)
    words = re.split(r"(\s+)", out)
    hide_next = False
    for i, word in enumerate(words):
        if not word or word.isspace():
            continue
        if hide_next:
            words[i], hide_next = REDACTED + word[len(word.rstrip("'\"")):], False
            continue
        words[i], hide_next = _word(word)
    return "".join(words)


def secret_key(name: str) -> bool:
    """A key of a JSON/YAML object or an option's name (without dashes) that names a secret."""
    return secret_name(name) or secret_option(f"--{name}")


def _word(word: str) -> tuple[str, bool]:
    """(the word redacted, whether the next word is a secret value)."""
    bare = word.strip("'\"")
    lead = word[:len(word) - len(word.lstrip("'\""))]
    trail = word[len(word.rstrip("'\"")):]
    if bare.startswith("-") and secret_option(bare):
        if "=" in bare:
            return word[:word.index("=") + 1] + REDACTED + trail, False
        return word, True
    m = _ASSIGNMENT.match(bare)
    if m and secret_name(m.group(1)):
        return f"{lead}{m.group(1)}={REDACTED}{trail}", False
    return word, False


def redact_args(argv: Iterable[str]) -> tuple[str, ...]:
    """A command line (one argument per item) with every secret replaced: the argument after a secret
    option, the part after `=` of `--secret=…` and of `SECRET_NAME=…`, and secrets inside any argument."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        if arg.startswith("-") and "=" not in arg and secret_option(arg):
            out.append(arg)
            hide_next = True
            continue
        out.append(redact_text(arg))
    return tuple(out)


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """Environment variables with secret ones (by name) replaced and secrets inside the others redacted."""
    return {k: (REDACTED if secret_name(k) else redact_text(v)) for k, v in env.items()}
