"""Fuzzing the manifest readers: random YAML (anchors, aliases, merge keys, engine-shaped objects), random shell
scripts (variables, quotes, continuations, wrappers, docker run) and random engine flags with random values. The
only outcomes allowed are a reading (sane values) or one ManifestError/InputError line (exit 3): never another
exception."""

from __future__ import annotations

import string

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tpdoctor.cli import main
from tpdoctor.manifests import flags, loader
from tpdoctor.model.deployment import Deployment
from tpdoctor.model.errors import TpdError

FLAGS = sorted({n for e in ("vllm", "sglang", "tgi", "trtllm") for n in flags.table(e).options} | {
    "--served-model-name", "--port", "--host", "--gpus", "--unknown-flag", "--", "-"})
ENTRIES = ["vllm serve", "python -m vllm.entrypoints.openai.api_server", "python3 -m sglang.launch_server",
           "sglang serve", "text-generation-launcher", "trtllm-serve", "trtllm-serve serve", "python server.py",
           "python convert_checkpoint.py", "docker run --gpus all vllm/vllm-openai:latest",
           "docker run --gpus '\"device=0,1\"' -e NUM_SHARD=2 ghcr.io/huggingface/text-generation-inference:2",
           "srun --gres=gpu:4", "nohup", "sudo", "CUDA_VISIBLE_DEVICES=0,1", "bash -c", "echo"]
VALUES = st.one_of(
    st.integers(-3, 10 ** 6).map(str), st.sampled_from(["0", "-2", "abc", "9" * 5000, "1.5", "0.9", "90", "32k",
                                                         "32K", "auto", "-1", "{tp_size}", "<your value>", "true",
                                                         "$TP", "${TP:-2}", "$((A*B))", "$(nproc)", "\"$MODEL\"",
                                                         "'x y'", "m", "org/model", "0,1", "all", "GPU-abc"]),
    st.text(alphabet=string.printable, max_size=12))


def outcome(text: str, name: str) -> list[Deployment] | str:
    try:
        deps = loader.read_text(text, name)
    except TpdError as exc:
        assert exc.message and "\n" not in exc.message.strip(), exc.message
        return exc.message
    for d in deps:
        assert d.engine in ("vllm", "sglang", "tgi", "trtllm")
        assert d.tp >= 1 and d.pp >= 1 and d.replicas >= 1 and d.nodes >= 1 and d.dp >= 1
        assert d.gpus is None or all(0 <= g < 10000 for g in d.gpus) and len(set(d.gpus)) == len(d.gpus)
        assert d.ident
    assert len({d.ident for d in deps}) == len(deps)
    return deps


@st.composite
def shells(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["assign", "export", "command", "comment", "blank"]))
        if kind in ("assign", "export"):
            name = draw(st.sampled_from(["TP", "MODEL", "A", "B", "NUM_SHARD", "CUDA_VISIBLE_DEVICES"]))
            lines.append(("export " if kind == "export" else "") + f"{name}={draw(VALUES)}")
        elif kind == "command":
            parts = [draw(st.sampled_from(ENTRIES)), draw(st.sampled_from(["m", "$MODEL", "", "org/model"]))]
            for _ in range(draw(st.integers(0, 6))):
                flag = draw(st.sampled_from(FLAGS))
                sep = draw(st.sampled_from([" ", "=", " \\\n  "]))
                parts.append(flag + (sep + draw(VALUES) if draw(st.booleans()) else ""))
            if draw(st.booleans()):
                parts.append(draw(st.sampled_from(["> log 2>&1 &", "| tee x", "; echo done", "# comment"])))
            line = " ".join(p for p in parts if p)
            if line.startswith("bash -c"):
                line = "bash -c " + repr(line[8:] or "vllm serve m")
            lines.append(line)
        elif kind == "comment":
            lines.append("# " + draw(st.text(max_size=20)).replace("\n", " "))
        else:
            lines.append("")
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", " \\", "\\\n"]))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shells())
def test_random_shell_scripts(text: str) -> None:
    outcome(text, "run.sh")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(ENTRIES[:8]), st.lists(st.tuples(st.sampled_from(FLAGS), VALUES), max_size=8))
def test_random_flags(entry: str, pairs: list[tuple[str, str]]) -> None:
    outcome(entry + " m " + " ".join(f"{f} {v!r}" for f, v in pairs) + "\n", "run.sh")


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 10 ** 9), st.floats(allow_nan=False),
                    st.sampled_from(["vllm/vllm-openai", "lmsysorg/sglang", "2", "two", "many", "0,0", "{{X}}",
                                     "{{ .Values.x }}", "vllm serve m -tp 2", "--tensor-parallel-size", "-tp", "8",
                                     "nvidia.com/gpu", "$(MODEL_ID)", "${TP:-2}", "hf://org/m", "all"]),
                    st.text(max_size=10))
KEYS = st.sampled_from(["apiVersion", "kind", "metadata", "name", "spec", "template", "containers", "image",
                        "command", "args", "env", "value", "resources", "limits", "nvidia.com/gpu", "replicas",
                        "services", "deploy", "devices", "device_ids", "count", "model", "tp", "gpus", "deployments",
                        "serveConfigV2", "run", "resources", "accelerators", "engine_kwargs", "leaderWorkerTemplate",
                        "size", "x"])
TREES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(KEYS, inner, max_size=5)), max_leaves=25)
KINDS = st.sampled_from(["Pod", "Deployment", "LeaderWorkerSet", "RayService", "Model", "LLMInferenceService",
                         "DynamoGraphDeployment", "Widget"])


def with_anchors(text: str, draw: st.DrawFn) -> str:
    """Turn some repeated values into anchors and aliases (and a merge key) the way people write them."""
    lines = text.splitlines()
    if len(lines) > 2 and draw(st.booleans()):
        i = draw(st.integers(0, len(lines) - 1))
        if lines[i].rstrip().endswith(":"):
            lines[i] = lines[i].rstrip() + " &a"
            lines.append("alias: *a")
            lines.append("merged:\n  <<: *a\n  x: 1")
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from(["bomb: &b [x, x, x]\nb2: &c [*b, *b, *b]\nb3: [*c, *c, *c]",
                                           "self: &s\n  me: *s", "dup: [*nope]", "---\n- 1", "{{HF_TOKEN}}: 1"])))
    return "\n".join(lines) + "\n"


@st.composite
def yamls(draw: st.DrawFn) -> str:
    tree = draw(st.dictionaries(KEYS, TREES, min_size=1, max_size=6))
    if draw(st.booleans()):
        tree = {"apiVersion": "v1", "kind": draw(KINDS), "metadata": {"name": "x"}, **tree}
    return with_anchors(yaml.safe_dump(tree, default_flow_style=draw(st.booleans())), draw)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(yamls())
def test_random_yaml(text: str) -> None:
    outcome(text, "x.yaml")


def _skeletons() -> list[object]:
    """Real manifests (the corpus and the fixtures) as data, to mutate."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "fixtures" / "deployments"
    out: list[object] = []
    for p in sorted(root.rglob("*.yaml")):
        if p.name.endswith(".meta.yaml"):
            continue
        try:
            out += [d for d in yaml.safe_load_all(p.read_text()) if isinstance(d, dict)]
        except yaml.YAMLError:
            continue
    return out


SKELETONS = _skeletons()


def mutate(data: object, draw: st.DrawFn, depth: int = 0) -> object:
    """Replace one subtree of a real manifest by a random one (a list where a mapping was, "two" for 2 …)."""
    if depth > 12 or not isinstance(data, (dict, list)) or not data or draw(st.integers(0, 9)) == 0:
        return draw(TREES)
    if isinstance(data, dict):
        key = draw(st.sampled_from(sorted(data, key=str)))
        return {**data, key: mutate(data[key], draw, depth + 1)}
    i = draw(st.integers(0, len(data) - 1))
    return [*data[:i], mutate(data[i], draw, depth + 1), *data[i + 1:]]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_real_manifests(data: st.DataObject) -> None:
    skeleton = data.draw(st.sampled_from(SKELETONS))
    text = yaml.safe_dump(mutate(skeleton, data.draw), sort_keys=False)
    outcome(text, "x.yaml")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(shells(), yamls()))
def test_the_command_exits_with_a_reading_or_3(tmp_path_factory, text: str) -> None:  # type: ignore[no-untyped-def]
    from tpdoctor.probes.replay import example_path

    path = tmp_path_factory.mktemp("fuzz") / ("x.yaml" if text.lstrip().startswith(("api", "{", "-", "[")) or ":\n"
                                              in text else "run.sh")
    path.write_text(text)
    assert main(["check-deployment", str(path), "--topology", str(example_path()), "--json"]) in (0, 1, 2, 3)
