"""The launcher grammar: where in a command line the engine starts, through the wrappers people put around it.

    [NAME=value …] [sudo|nohup|exec|env|time|nice|taskset|numactl|timeout|uv run|conda run …]
    [srun|mpirun|torchrun … | docker run [options] IMAGE] ENTRY [engine arguments]

ENTRY is `vllm serve`, `python -m vllm.entrypoints.openai.api_server` (or `.api_server`), `python -m
sglang.launch_server`, `sglang serve`, `python -m dynamo.{vllm,sglang,trtllm}`, `text-generation-launcher`,
`trtllm-serve [serve]`; or an image whose entrypoint is the engine (`vllm/vllm-openai`, TGI's). A
`trtllm-build` / `convert_checkpoint.py` / `quantize.py` step is a build, not a deployment. A project's own
`server.py` taking the usual parallelism flags is a wrapper, read with the common spellings when the command
or image names its engine. `sh -c "…"` hands its string back to be read as a script.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tpdoctor.manifests.words import Token
from tpdoctor.model.deployment import Origin

_PYTHON = re.compile(r"^(python[0-9.]*|pypy3?)$")
_MODULES = (("vllm.entrypoints.openai.api_server", "vllm"), ("vllm.entrypoints.api_server", "vllm"),
            ("sglang.launch_server", "sglang"), ("sglang_router.launch_server", "sglang"),
            ("dynamo.sglang", "sglang"), ("dynamo.vllm", "vllm"), ("dynamo.trtllm", "trtllm"),
            ("tensorrt_llm.commands.serve", "trtllm"))
_BUILD_SCRIPTS = ("convert_checkpoint.py", "quantize.py", "build.py", "trtllm-build", "convert_checkpoint")
# image name part -> (engine whose entrypoint it is, or None; accelerator when not an NVIDIA GPU)
IMAGES: tuple[tuple[str, str | None, str | None], ...] = (
    ("vllm-tpu", "vllm", "tpu"), ("vllm-fork-gaudi", "vllm", "hpu"), ("tgi-gaudi", "tgi", "hpu"),
    ("rocm/vllm", "vllm", "rocm"), ("vllm-openai", "vllm", None), ("vllm/vllm", "vllm", None),
    ("huggingface-pytorch-tgi-inference", "tgi", None), ("text-generation-inference", "tgi", None),
    ("lmsysorg/sglang", None, None), ("tensorrt-llm", None, None), ("tritonserver", None, None),
)
_HINTS = (("tensorrt", "trtllm"), ("trtllm", "trtllm"), ("sglang", "sglang"), ("text-generation", "tgi"),
          ("vllm", "vllm"))
# wrappers: name -> options that take a value (everything else starting with "-" is a switch)
_WRAPPERS: dict[str, set[str]] = {
    "sudo": {"-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U"}, "nohup": set(), "exec": set(), "time": set(),
    "nice": {"-n"}, "ionice": {"-c", "-n", "-p"}, "taskset": {"-c", "-p"}, "stdbuf": {"-i", "-o", "-e"},
    "numactl": {"-C", "-N", "-m", "-p", "-i", "--cpunodebind", "--membind", "--physcpubind", "--preferred",
                "--interleave"},
    "timeout": {"-s", "-k", "--signal", "--kill-after"}, "chrt": set(), "unbuffer": set(),
    "srun": {"-p", "-n", "-N", "-c", "-G", "-J", "-t", "-w", "-A", "-q", "--partition", "--ntasks", "--nodes",
             "--gres", "--gpus", "--gpus-per-node", "--gpus-per-task", "--cpus-per-task", "--job-name", "--time",
             "--account", "--qos", "--mem", "--ntasks-per-node", "--nodelist", "--container-image",
             "--container-mounts", "--export", "--mpi", "--quotatype"},
    "mpirun": {"-n", "-np", "-N", "-H", "-x", "--host", "--hostfile", "--map-by", "--bind-to", "--mca", "-mca"},
    "mpiexec": {"-n", "-np", "-N", "-H", "-x", "--host", "--hostfile", "--map-by", "--bind-to", "--mca"},
    "torchrun": {"--nproc-per-node", "--nproc_per_node", "--nnodes", "--node-rank", "--node_rank",
                 "--master-addr", "--master_addr", "--master-port", "--master_port", "--rdzv-backend",
                 "--rdzv_backend", "--rdzv-endpoint", "--rdzv_endpoint", "--rdzv-id", "--rdzv_id"},
    "trtllm-llmapi-launch": set(), "uv": {"--python", "--with", "--project", "--directory"}, "conda": {"-n",
    "--name", "-p", "--prefix"}, "micromamba": {"-n", "--name", "-p", "--prefix"}, "poetry": set(), "pipenv": set(),
}
_RUN_SUBCOMMAND = {"uv", "conda", "micromamba", "poetry", "pipenv"}
_DOCKER_SWITCHES = {"-d", "-i", "-t", "-it", "-ti", "-dit", "-itd", "--rm", "--privileged", "--init", "-P",
                    "--detach", "--interactive", "--tty", "--read-only", "--sig-proxy", "--no-healthcheck",
                    "--oom-kill-disable", "--publish-all", "-q", "--quiet"}


@dataclass
class Launch:
    engine: str | None  # vllm | sglang | tgi | trtllm (None: a shell string to read, see `script`)
    role: str  # serve | build | wrapper | script
    args: list[Token]
    entry: Token
    positional_model: bool = False
    image: str | None = None
    accelerator: str | None = None  # tpu | hpu | npu | rocm when not an NVIDIA GPU
    gpus: str | None = None  # docker --gpus, srun --gres/--gpus
    gpus_origin: Origin | None = None
    env: dict[str, str] = field(default_factory=dict)
    env_origins: dict[str, Origin] = field(default_factory=dict)
    env_unresolved: dict[str, tuple[str, ...]] = field(default_factory=dict)  # variable -> names it needs
    gpu_count: int | None = None
    note: str | None = None
    script: Token | None = None  # `sh -c STRING`: the string


def image_engine(image: str) -> tuple[str | None, str | None, bool]:
    """(engine, accelerator, the engine is the entrypoint) of a container image name."""
    low = image.lower()
    for part, engine, accel in IMAGES:
        if part in low:
            return engine, accel, engine is not None
    for word, engine in _HINTS:
        if word in low:
            return engine, None, False
    return None, None, False


def hint_engine(*texts: str) -> str | None:
    low = " ".join(texts).lower()
    return next((engine for word, engine in _HINTS if word in low), None)


def find(tokens: list[Token], *, image: str | None = None, hints: str = "") -> Launch | None:
    """The engine launch in one command (see the module docstring), or None."""
    i, n = 0, len(tokens)
    env: dict[str, str] = {}
    env_origins: dict[str, Origin] = {}
    extra: dict[str, object] = {}
    while i < n:
        word = tokens[i].text
        base = word.rsplit("/", 1)[-1]
        nxt = tokens[i + 1].text if i + 1 < n else ""
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", word, re.DOTALL)
        if m and i == 0 or m and tokens[i - 1].text in ("env", "-E") or m and all(
                re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", t.text) for t in tokens[:i]):
            assert m is not None
            env[m.group(1)] = m.group(2)
            env_origins[f"env.{m.group(1)}"] = tokens[i].origin
            i += 1
            continue
        if base in ("sh", "bash", "zsh", "dash") and nxt == "-c" and i + 2 < n:
            return Launch(None, "script", [], tokens[i], script=tokens[i + 2], env=env, env_origins=env_origins)
        if base in ("docker", "podman", "nvidia-docker") and nxt in ("run", "container"):
            return _docker(tokens, i, env, env_origins, hints)
        if base == "vllm" and nxt == "serve":
            return _made(Launch("vllm", "serve", tokens[i + 2:], tokens[i], True, image), env, env_origins, extra)
        if base == "sglang" and nxt in ("serve", "launch_server"):
            return _made(Launch("sglang", "serve", _sglang_serve(tokens[i + 2:]), tokens[i], False, image), env,
                         env_origins, extra)
        if base == "text-generation-launcher":
            return _made(Launch("tgi", "serve", tokens[i + 1:], tokens[i], False, image), env, env_origins, extra)
        if base == "trtllm-serve":
            skip = 2 if nxt == "serve" else 1
            return _made(Launch("trtllm", "serve", tokens[i + skip:], tokens[i], True, image), env, env_origins,
                         extra)
        if base in _BUILD_SCRIPTS or base.endswith(_BUILD_SCRIPTS):
            return Launch("trtllm", "build", tokens[i + 1:], tokens[i], note=f"{base} is a build step")
        if _PYTHON.match(base):
            return _python(tokens, i, image, hints, env, env_origins, extra)
        if word in ("-m", "--module") and i > 0 and tokens[i - 1].text.rsplit("/", 1)[-1] != "python":
            return _python(tokens, i - 1, image, hints, env, env_origins, extra)  # torchrun … -m module
        if base in _WRAPPERS:
            i = _skip_wrapper(tokens, i, base, extra)
            continue
        if base.endswith(".py"):
            return _wrapper(tokens, i, image, hints, env, env_origins, extra)
        return None
    return None


def _made(launch: Launch, env: dict[str, str], env_origins: dict[str, Origin], extra: dict[str, object]) -> Launch:
    launch.env.update(env)
    launch.env_origins.update(env_origins)
    if "gpus" in extra:
        launch.gpus = str(extra["gpus"])
        launch.gpus_origin = extra.get("gpus_origin")  # type: ignore[assignment]
    return launch


def _sglang_serve(args: list[Token]) -> list[Token]:
    """`sglang serve M …`: a first token that is not an option is the model path (python/sglang/cli/serve.py:62)."""
    if args and not args[0].text.startswith("-"):
        return [Token("--model-path", args[0].origin, args[0].in_string), *args]
    return args


def _skip_wrapper(tokens: list[Token], i: int, base: str, extra: dict[str, object]) -> int:
    valued = _WRAPPERS[base]
    i += 1
    if base in _RUN_SUBCOMMAND and i < len(tokens) and tokens[i].text == "run":
        i += 1
    if base == "timeout":
        while i < len(tokens) and tokens[i].text.startswith("-"):
            i += 2 if tokens[i].text in valued else 1
        return i + 1  # the duration
    while i < len(tokens) and tokens[i].text.startswith("-"):
        word = tokens[i].text
        name, eq, value = word.partition("=")
        if base == "torchrun" and name in ("-m", "--module"):
            break
        if base == "srun" and name in ("--gres", "--gpus", "--gpus-per-node", "-G"):
            raw = value if eq else (tokens[i + 1].text if i + 1 < len(tokens) else "")
            extra["gpus"] = raw
            extra["gpus_origin"] = tokens[i].origin
        i += 2 if name in valued and not eq else 1
    return i


def _python(tokens: list[Token], i: int, image: str | None, hints: str, env: dict[str, str],
            env_origins: dict[str, Origin], extra: dict[str, object]) -> Launch | None:
    j = i + 1
    while j < len(tokens) and tokens[j].text.startswith("-") and tokens[j].text != "-m":
        j += 2 if tokens[j].text in ("-X", "-W") else 1
    if j >= len(tokens):
        return None
    if tokens[j].text == "-m" and j + 1 < len(tokens):
        module = tokens[j + 1].text
        for prefix, engine in _MODULES:
            if module == prefix or module.startswith(prefix + "."):
                return _made(Launch(engine, "serve", tokens[j + 2:], tokens[i], False, image), env, env_origins,
                             extra)
        if module in ("torch.distributed.run", "torch.distributed.launch"):
            return find(tokens[j + 2:], image=image, hints=hints) if j + 2 < len(tokens) else None
        if module == "vllm.entrypoints.cli.main" and j + 2 < len(tokens) and tokens[j + 2].text == "serve":
            return _made(Launch("vllm", "serve", tokens[j + 3:], tokens[i], True, image), env, env_origins, extra)
        return None
    script = tokens[j].text.rsplit("/", 1)[-1]
    if script.endswith(_BUILD_SCRIPTS):
        return Launch("trtllm", "build", tokens[j + 1:], tokens[j], note=f"{script} is a build step")
    if script.endswith(".py"):
        return _wrapper(tokens, j, image, hints, env, env_origins, extra)
    return None


def _wrapper(tokens: list[Token], j: int, image: str | None, hints: str, env: dict[str, str],
             env_origins: dict[str, Origin], extra: dict[str, object]) -> Launch | None:
    """A project's own script: a deployment only when it takes a TP flag and its engine is named somewhere."""
    from tpdoctor.manifests import flags

    args = tokens[j + 1:]
    spellings = [a.text.partition("=")[0] for a in args if a.text.startswith("-")]
    if not any(flags.lookup("wrapper", s).option is not None and flags.lookup("wrapper", s).option.field == "tp"  # type: ignore[union-attr]
               for s in spellings):
        return None
    engine = hint_engine(" ".join(t.text for t in tokens), image or "", hints)
    if engine is None:
        engine = _engine_by_spelling(spellings)
    if engine is None:
        return None
    script = tokens[j].text.rsplit("/", 1)[-1]
    return _made(Launch(engine, "wrapper", args, tokens[j], False, image,
                        note=f"{script} is a launcher of its own: its flags are read with the usual spellings"),
                 env, env_origins, extra)


def _engine_by_spelling(spellings: list[str]) -> str | None:
    if any(s.startswith("--tensor-parallel-size") or s.startswith("--tensor_parallel_size") for s in spellings):
        return "vllm"
    if "--tp-size" in spellings:
        return "sglang"
    if "--num-shard" in spellings:
        return "tgi"
    if "--tp_size" in spellings:
        return "trtllm"
    return None


def _docker(tokens: list[Token], i: int, env: dict[str, str], env_origins: dict[str, Origin],
            hints: str) -> Launch | None:
    """`docker run [options] IMAGE [command…]`: GPUs and env from the options, the engine from the command or
    the image's entrypoint."""
    j = i + 2 if tokens[i + 1].text == "run" else i + 3
    gpus: str | None = None
    gpus_origin: Origin | None = None
    entrypoint: str | None = None
    d_env, d_origins = dict(env), dict(env_origins)
    d_unres: dict[str, tuple[str, ...]] = {}
    while j < len(tokens) and tokens[j].text.startswith("-"):
        word = tokens[j].text
        name, eq, value = word.partition("=")
        if name in _DOCKER_SWITCHES or (name.startswith("-") and not name.startswith("--") and len(name) > 2
                                        and set(name[1:]) <= set("dit")):
            j += 1
            continue
        if not eq:
            value = tokens[j + 1].text if j + 1 < len(tokens) else ""
        if name == "--gpus":
            gpus, gpus_origin = value, tokens[j + (0 if eq else 1)].origin
        elif name in ("-e", "--env"):
            k, has, v = value.partition("=")
            vtok = tokens[j + (0 if eq else 1)]
            if not has:  # `-e NAME`: from the calling environment, which the file does not show
                d_unres[k] = (k,)
            elif vtok.unresolved:
                d_unres[k] = vtok.unresolved
            else:
                d_env[k] = v
            d_origins[f"env.{k}"] = vtok.origin
        elif name == "--entrypoint":
            entrypoint = value
        j += 1 if eq else 2
    if j >= len(tokens):
        return None
    image = tokens[j].text
    rest = tokens[j + 1:]
    engine, accel, is_entry = image_engine(image)
    launch: Launch | None = None
    if entrypoint:
        rest = [Token(entrypoint, tokens[j].origin), *rest]
    if rest and not rest[0].text.startswith("-"):
        launch = find(rest, image=image, hints=hints)
    elif is_entry and engine is not None:
        launch = Launch(engine, "serve", rest, tokens[j], engine in ("vllm",), image)
    if launch is None:
        return None
    launch.image, launch.accelerator = image, launch.accelerator or accel
    launch.gpus = gpus if gpus is not None else launch.gpus
    launch.gpus_origin = gpus_origin or launch.gpus_origin
    launch.env = {**d_env, **launch.env}
    launch.env_origins = {**d_origins, **launch.env_origins}
    launch.env_unresolved = {**d_unres, **launch.env_unresolved}
    return launch


_GRES = re.compile(r"^(?:gpu|gres/gpu)(?::[A-Za-z0-9_.-]+)?:(\d+)$")


def gpu_request(spec: str) -> tuple[tuple[int, ...] | None, int | None, str | None]:
    """docker `--gpus` / SLURM `--gres` / `--gpus` -> (pinned GPUs, count, note). `all` is neither."""
    t = spec.strip().strip("'\"").strip()
    low = t.lower()
    if low in ("all", ""):
        return None, None, None
    if low.isdigit():
        return None, int(low) if len(low) < 5 else None, None
    m = _GRES.match(low)
    if m:
        return None, int(m.group(1)) if len(m.group(1)) < 5 else None, None
    for part in t.split(","):
        if part.startswith("device="):
            from tpdoctor.model.deployment import parse_gpu_list

            ids = t[t.index("device=") + 7:].split('"')[0].strip("'\"")
            gpus, _uuids, why = parse_gpu_list(ids)
            return gpus, len(gpus) if gpus else None, why
        if part.startswith("count="):
            c = part[6:]
            return None, (int(c) if c.isdigit() and len(c) < 5 else None), None
    return None, None, f"cannot read GPU request {t!r}"
