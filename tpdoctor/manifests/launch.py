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
    container: bool = False  # started by `docker run`: the host's variables do not reach it (only -e does)
    passthrough: list[str] = field(default_factory=list)  # `-e NAME`: the host's value, when the file sets one
    devices: list[str] = field(default_factory=list)  # `docker run --device …`
    runtime_nvidia: bool = False  # `docker run --runtime nvidia`: NVIDIA_VISIBLE_DEVICES picks the GPUs
    slurm: bool = False  # under `srun`
    gpus_unresolved: tuple[str, ...] = ()  # variables the `--gpus` value needs that the file never sets
    prebuilt: str | None = None  # a prebuilt TensorRT-LLM engine (its directory): TP is fixed inside it
    detached: bool = False  # `docker run -d`: the script goes on while it runs


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
            lc = Launch("trtllm", "serve", tokens[i + skip:], tokens[i], True, image)
            first = next((t.text for t in lc.args if not t.text.startswith("-")), "")
            lc.prebuilt = first if _ENGINE_DIR.search(first) else None
            return _made(lc, env, env_origins, extra)
        if base == "tritonserver" and any(t.text.startswith("--model-repository") for t in tokens[i + 1:]):
            repo = _option_value(tokens[i + 1:], "--model-repository")
            lc = Launch("trtllm", "serve", [repo], tokens[i], True, image, note="Triton Inference Server over a "
                        "model repository: with the TensorRT-LLM backend it serves a prebuilt engine")
            lc.prebuilt = repo.text
            return _made(lc, env, env_origins, extra) if "trt" in (image or hints or "").lower() or "tensorrt" in \
                (image or hints or "").lower() else None
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


_ENGINE_DIR = re.compile(r"(^|[/_.-])(engines?|engine_dir|tllm_engine\w*|trt_engines?)([/_.-]|$)", re.I)


def _option_value(tokens: list[Token], name: str) -> Token:
    """The value of `--name VALUE` / `--name=VALUE` as a token (its unresolved variables kept)."""
    for k, t in enumerate(tokens):
        opt, eq, value = t.text.partition("=")
        if opt == name:
            if eq:
                return Token(value, t.origin, t.in_string, t.unresolved)
            return tokens[k + 1] if k + 1 < len(tokens) else Token("", t.origin)
    return Token("", tokens[0].origin if tokens else Origin(""))


def _made(launch: Launch, env: dict[str, str], env_origins: dict[str, Origin], extra: dict[str, object]) -> Launch:
    launch.env.update(env)
    launch.env_origins.update(env_origins)
    if "gpus" in extra:
        launch.gpus = str(extra["gpus"])
        launch.gpus_origin = extra.get("gpus_origin")  # type: ignore[assignment]
    launch.slurm = launch.slurm or bool(extra.get("slurm"))
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
        if base == "srun":
            extra["slurm"] = True
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
    if "openai_frontend" in tokens[j].text and "--model-repository" in spellings and "trt" in (image or hints).lower():
        repo = _option_value(args, "--model-repository")
        lc = Launch("trtllm", "serve", [repo], tokens[j], True, image,
                    note="Triton's OpenAI frontend over a TensorRT-LLM model repository")
        lc.prebuilt = repo.text
        return _made(lc, env, env_origins, extra)
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
    """`docker run [options] IMAGE [command…]`: GPUs, devices and the container's env (`-e` only: variables set
    before `docker` are the docker client's, not the container's) from the options, the engine from the command
    or the image's entrypoint."""
    j = i + 2 if tokens[i + 1].text == "run" else i + 3
    opts: dict[str, object] = {"gpus": None, "gpus_origin": None, "entrypoint": None, "runtime": ""}
    d_env: dict[str, str] = {}
    d_origins: dict[str, Origin] = {}
    d_unres: dict[str, tuple[str, ...]] = {}
    passthrough: list[str] = []
    devices: list[str] = []
    while j < len(tokens) and tokens[j].text.startswith("-"):
        word = tokens[j].text
        name, eq, value = word.partition("=")
        if name in _DOCKER_SWITCHES or (name.startswith("-") and not name.startswith("--") and len(name) > 2
                                        and set(name[1:]) <= set("dit")):
            opts["detached"] = opts.get("detached") or name == "--detach" or (name[1:2] != "-" and "d" in name)
            j += 1
            continue
        if not eq:
            value = tokens[j + 1].text if j + 1 < len(tokens) else ""
        vtok = tokens[j + (0 if eq else 1)] if j + (0 if eq else 1) < len(tokens) else tokens[j]
        if name == "--gpus":
            opts["gpus"], opts["gpus_origin"], opts["gpus_unres"] = value, vtok.origin, vtok.unresolved
        elif name in ("-e", "--env"):
            k, has, v = value.partition("=")
            if not has:  # `-e NAME`: the calling environment's value (script.walk looks it up)
                passthrough.append(k)
                d_unres[k] = (k,)
            elif vtok.unresolved:
                d_unres[k] = vtok.unresolved
            else:
                d_env[k] = v
            d_origins[f"env.{k}"] = vtok.origin
        elif name == "--device":
            devices.append(value)
        elif name == "--runtime":
            opts["runtime"] = value
        elif name == "--entrypoint":
            opts["entrypoint"] = value
        j += 1 if eq else 2
    if j >= len(tokens):
        return None
    launch = _docker_command(tokens, j, str(opts["entrypoint"] or ""), hints)
    if launch is None:
        return None
    launch.container, launch.devices, launch.passthrough = True, devices, passthrough
    launch.runtime_nvidia, launch.detached = opts["runtime"] == "nvidia", bool(opts.get("detached"))
    launch.gpus_unresolved = tuple(opts.get("gpus_unres") or ())  # type: ignore[arg-type]
    launch.gpus = opts["gpus"] if opts["gpus"] is not None else launch.gpus  # type: ignore[assignment]
    launch.gpus_origin = opts["gpus_origin"] or launch.gpus_origin  # type: ignore[assignment]
    launch.env = {**d_env, **launch.env}
    launch.env_origins = {**d_origins, **launch.env_origins}
    launch.env_unresolved = {**d_unres, **launch.env_unresolved}
    return launch


def _docker_command(tokens: list[Token], j: int, entrypoint: str, hints: str) -> Launch | None:
    """The launch inside `docker run … IMAGE [command…]`: the command, or the image's entrypoint with flags."""
    from tpdoctor.manifests.engines import by_flags

    image = tokens[j].text
    rest = tokens[j + 1:]
    engine, accel, is_entry = image_engine(image)
    launch: Launch | None = None
    if entrypoint:
        rest = [Token(entrypoint, tokens[j].origin), *rest]
    if rest and not rest[0].text.startswith("-") and (entrypoint or not is_entry or _is_program(rest[0].text)):
        launch = find(rest, image=image, hints=hints)
    elif is_entry and engine is not None:
        launch = Launch(engine, "serve", rest, tokens[j], engine in ("vllm",), image)
    else:
        guess = by_flags(rest)
        if guess is not None:
            launch = Launch(guess, "serve", rest, tokens[j], guess == "vllm", image,
                            note=f"image {image} is not one tpdoctor knows: its engine is read from the flags")
    if launch is None:
        return None
    launch.image, launch.accelerator = image, launch.accelerator or accel
    return launch


def _is_program(word: str) -> bool:
    base = word.rsplit("/", 1)[-1]
    return bool(_PYTHON.match(base)) or base in ("vllm", "sglang", "text-generation-launcher", "trtllm-serve", "sh",
                                                 "bash", "exec", "env", "nohup", "torchrun", "mpirun")


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
