"""Every output that can carry a running group, from one real engine process tree whose command line and
environment hold secrets: none of the secrets comes out anywhere (health's Nagios text, JSON, Prometheus
and NFD files; scan's text and JSON; collect's files; the replay of them; check-deployment --running), the
JSON round-trips through the tpdoctor/v1 codec with its validation, and a collect directory replays the
running groups offline (`scan --from DIR`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLE, FAKESMI_BIN, FIXTURES, ROOT, cli_env
from tests.running.engines import start
from tpdoctor.model import contract
from tpdoctor.model.errors import ParseError
from tpdoctor.model.redact import REDACTED, redact_args, redact_env, redact_text

SECRETS = {
    "api key": "sk-live-0123456789abcdef",
    "hf token": "hf_" + "Zq7" * 12,
    "password in a url": "s3cr3t-p4ss",
    "a key in JSON": "json-held-secret-42",
    "env token": "env-token-value-77",
}
ARGV = ["vllm", "serve", "Qwen/Qwen3.5-27B-FP8", "--tensor-parallel-size", "2", "--api-key", SECRETS["api key"],
        f"--hf-token={SECRETS['hf token']}", "--kv-transfer-config",
        '{"kv_connector":"LMCacheConnectorV1","kv_role":"kv_both","api_key":"' + SECRETS["a key in JSON"] + '"}']
ENV = {"HF_TOKEN": SECRETS["hf token"], "VLLM_API_KEY": SECRETS["api key"], "NCCL_DEBUG": "INFO",
       "VLLM_CONFIG_URL": f"https://admin:{SECRETS['password in a url']}@config.internal/x",
       "SGLANG_AUTH_TOKEN": SECRETS["env token"]}
TREE = [{"title": "VLLM::EngineCore", "children": [{"title": "VLLM::Worker_TP0"}, {"title": "VLLM::Worker_TP1"}]}]


def test_redaction_rules() -> None:
    assert redact_args(["x", "--api-key", "a", "--api_key=b", "--token", "c", "--tokenizer", "t", "-p", "1"]) == (
        "x", "--api-key", REDACTED, f"--api_key={REDACTED}", "--token", REDACTED, "--tokenizer", "t", "-p", "1")
    assert redact_text("sh -c 'HF_TOKEN=abc vllm serve m --hf-token xyz --port 8'") == \
        f"sh -c 'HF_TOKEN={REDACTED} vllm serve m --hf-token {REDACTED} --port 8'"
    assert redact_text("postgres://u:p@db/x and Bearer abc.def") == f"postgres://{REDACTED}@db/x and Bearer {REDACTED}"
    assert redact_env({"MAX_TOTAL_TOKENS": "9", "DB_PASSWORD": "p", "NCCL_IB_HCA": "mlx5"}) == {
        "MAX_TOTAL_TOKENS": "9", "DB_PASSWORD": REDACTED, "NCCL_IB_HCA": "mlx5"}


class Node:
    """One running engine on the canonical fake-NVML node, and the environment to run tpdoctor on it."""

    def __init__(self, tmp: Path, pids: dict[str, int]) -> None:
        data = yaml.safe_load((FIXTURES / "nvml" / "h100nvl-4x-gpu01-nvlink-down.yaml").read_text())
        data["processes"] = [{"gpu": 0, "pid": pids["VLLM::Worker_TP0"]}, {"gpu": 1, "pid": pids["VLLM::Worker_TP1"]}]
        (tmp / "machine.yaml").write_text(yaml.safe_dump(data))
        self.tmp = tmp
        self.env = cli_env({"PYTHONPATH": f"{ROOT / 'tests' / 'fakenvml' / 'shim'}{os.pathsep}{ROOT}",
                            "TPD_FAKE_NVML": str(tmp / "machine.yaml"), "FAKESMI_DIR": str(EXAMPLE),
                            "TPDOCTOR_HOST": "gpu01"},
                           path=f"{FAKESMI_BIN}{os.pathsep}/usr/bin{os.pathsep}/bin")
        self.outputs: dict[str, str] = {}

    def run(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([sys.executable, "-m", "tpdoctor", *args], cwd=ROOT, env=self.env, capture_output=True,
                             text=True, timeout=60, check=False)
        self.outputs[f"{name} stdout"] = res.stdout
        self.outputs[f"{name} stderr"] = res.stderr
        return res


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    tmp = tmp_path_factory.mktemp("outputs")
    with start(ARGV, tmp, tree=TREE, env=ENV) as t:
        n = Node(tmp, t.pids)
        n.run("health json", "health", "--json", "--prometheus", str(tmp / "h.prom"), "--nfd", str(tmp / "nfd"))
        n.run("scan text", "scan")
        n.run("scan json", "scan", "--json")
        n.run("collect", "collect", str(tmp / "dump"))
        n.run("running text", "check-deployment", "--running")
        n.run("running json", "check-deployment", "--running", "--json")
    # the engine is gone now: what follows reads the capture only
    n.run("replay", "scan", "--from", str(tmp / "dump"), "--json")
    n.run("running replay", "check-deployment", "--running", "--topology", str(tmp / "dump"))
    for f in (tmp / "h.prom", tmp / "nfd", *sorted((tmp / "dump").iterdir())):
        n.outputs[str(f.relative_to(tmp))] = f.read_text()
    yield n


def test_no_secret_in_any_output(node: Node) -> None:
    assert len(node.outputs) >= 25
    leaks = [(where, what) for where, text in node.outputs.items() for what, secret in SECRETS.items()
             if secret in text]
    assert not leaks, leaks
    assert REDACTED in node.outputs["dump/running.json"] and REDACTED in node.outputs["health json stdout"]


def test_every_command_found_the_group(node: Node) -> None:
    for name in ("health json stdout", "scan json stdout", "running json stdout", "replay stdout"):
        groups = json.loads(node.outputs[name])["running"]["groups"]
        assert [(g["engine"], g["tp"], g["gpus"], g["status"]) for g in groups] == [("vllm", 2, [0, 1], "critical")]
    for name in ("health json stderr", "scan text stdout", "running text stdout", "running replay stdout"):
        assert "vllm (pid" in node.outputs[name] and "GPU0+GPU1" in node.outputs[name], name
    assert 'tpdoctor_running_group_status{group="vllm (pid' in node.outputs["h.prom"]
    assert "tpdoctor.io/running.misplaced=1" in node.outputs["nfd"]


def test_json_round_trips_and_is_validated(node: Node) -> None:
    data = json.loads(node.outputs["health json stdout"])
    data.pop("baseline", None)
    report = contract.report_from_data(data, "health --json")
    assert contract.report_to_data(report) == data
    bad = json.loads(node.outputs["health json stdout"])
    bad["running"]["groups"][0]["gpus"] = [0, 7]
    with pytest.raises(ParseError, match=r"\$\.running\.groups\[0\]\.gpus\[1\]: GPU7 is not a GPU of this report"):
        contract.report_from_data(bad, "edited")
    bad = json.loads(node.outputs["health json stdout"])
    bad["running"]["table"][0]["pid"] = 2**40
    with pytest.raises(ParseError, match=r"\$\.running\.table\[0\]\.pid"):
        contract.report_from_data(bad, "edited")


def test_a_capture_from_before_discovery_has_no_running_section() -> None:
    """An older capture (the bundled example) reads as before: no `running` key, no running check."""
    from tpdoctor.probes.replay import load_report

    data = json.loads(contract.render(load_report(EXAMPLE)))
    assert "running" not in data and all(c["name"] != "running" for c in data["coverage"])
