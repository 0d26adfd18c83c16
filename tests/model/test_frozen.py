"""`frozen.maker(cls)` builds what `cls(**kwargs)` builds: the same fields in the same order (`vars`), fresh
default_factory values, and the same TypeError for an unknown or a missing argument."""

from __future__ import annotations

import dataclasses

import pytest

from tpdoctor.model.deployment import Deployment, Origin
from tpdoctor.model.frozen import maker


def test_same_instance_as_init() -> None:
    make = maker(Deployment)
    assert make is not Deployment
    for kw in [dict(name="a", engine="vllm", model="m", kind="job", source="s"),
               dict(name="a", engine="sglang", model="m", kind="job", source="s", tp=4, gpus=(0, 1, 2, 3),
                    env={"A": "1"}, origins={"tp": Origin("s", 2, 4, "4")}, notes=("n",), placement="pinned")]:
        made, init = make(**kw), Deployment(**kw)  # type: ignore[arg-type]
        assert made == init and repr(made) == repr(init) and list(vars(made).items()) == list(vars(init).items())
        assert type(made) is Deployment and hash(made.gpus) == hash(init.gpus)
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.tp = 3  # type: ignore[misc]
    a, b = make(name="a", engine="vllm", model="m", kind="job", source="s"), \
        make(name="b", engine="vllm", model="m", kind="job", source="s")
    assert a.env is not b.env and a.origins is not b.origins  # fresh default_factory values


def test_errors_are_inits() -> None:
    make = maker(Deployment)
    with pytest.raises(TypeError, match="unexpected keyword"):
        make(name="a", engine="vllm", model="m", kind="job", source="s", typo=1)
    with pytest.raises(TypeError, match="missing"):
        make(name="a", engine="vllm", model="m", kind="job")


def test_classes_it_cannot_vouch_for_are_built_by_init() -> None:
    @dataclasses.dataclass(frozen=True)
    class Checked:
        x: int

        def __post_init__(self) -> None:
            if self.x < 0:
                raise ValueError("negative")

    assert maker(Checked) is Checked


def test_replacer_is_dataclasses_replace() -> None:
    from tpdoctor.model.frozen import replacer

    swap = replacer(Deployment)
    base = Deployment(name="a", engine="vllm", model="m", kind="job", source="s", tp=2, env={"A": "1"},
                      origins={"tp": Origin("s", 2, 4, "2")})
    for changes in [{}, {"node": None}, {"notes": ("x",), "gpus": (0, 1)}, {"tp": 4, "name": "b"}]:
        got, want = swap(base, **changes), dataclasses.replace(base, **changes)
        assert got == want and list(vars(got).items()) == list(vars(want).items()) and got is not base
    with pytest.raises(TypeError):
        swap(base, typo=1)
