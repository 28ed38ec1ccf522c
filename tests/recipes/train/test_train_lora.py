"""End-to-end LoRA training of a tiny random model on real rows: adapter, GGUF, resume, manifest."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from legal_edge.backends.llamacpp.cpu_mode import open_llama
from legal_edge.models.manifest import ModelManifest
from legal_edge.settings.loader import load_config
from recipes.train import Config, run
from recipes.train.config import LoraSettings, TrainError

pytest.importorskip("peft")

REPO = Path(__file__).resolve().parents[3]


def tiny_config(tiny, data_dir: Path, tmp_path: Path, **kw) -> Config:
    base = dict(
        base_model=tiny.gguf,
        data_dir=data_dir,
        output_dir=tmp_path / "model",
        work_dir=tmp_path / "work",
        max_seq_len=384,
        batch_size=2,
        grad_accum=2,
        max_steps=6,
        lr=2e-2,
        warmup_steps=1,
        eval_every=3,
        save_every=2,
        precision="fp32",
        seed=3,
        lora=LoraSettings(r=4, alpha=8, dropout=0.1),
    )
    base.update(kw)
    return Config(**base)


def adapter_tensors(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(model_dir / "peft" / "adapter_model.safetensors")


@pytest.fixture(scope="module")
def trained(tiny, data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    # serving metadata the manifest must carry (a retrain once dropped the loop controls)
    cfg = tiny_config(
        tiny,
        data_dir,
        tmp,
        statutes_index="../index/statutes",
        generation={"repeat_penalty": 1.1, "end_bias": 0.05},
    )
    return cfg, run(cfg)


def test_training_writes_a_servable_model_directory(trained, tiny):
    cfg, out = trained
    m = ModelManifest.read(out)
    m.verify_files(check_hash=True)
    assert m.model_path == tiny.gguf.resolve()
    assert m.file("model").path == os.path.relpath(tiny.gguf.resolve(), out.resolve())
    assert m.adapter_path == (out / "adapter.gguf").resolve()
    assert m.stage == "train" and m.stop == ["<end_of_turn>"]
    assert m.statutes_index == "../index/statutes"
    assert m.generation == {"repeat_penalty": 1.1, "end_bias": 0.05}
    assert "<start_of_turn>" in m.chat_template
    t = m.training
    assert t["base"]["sha256"] and len(t["base"]["sha256"]) == 64
    # no path of this machine: the base relative to the model directory, no cache directory
    assert (out / t["base"]["gguf"]).resolve() == tiny.gguf.resolve()
    assert not Path(t["base"]["gguf"]).is_absolute() and t["base"]["hf_dir"] is None
    assert t["steps"] == t["total_steps"] == 6 and not t["stopped_early"]
    assert t["config"]["lora"]["r"] == 4
    report = t["data"]["train_report"]  # a row whose answer does not fit is counted, not lost
    assert report["read"] == 15 == t["data"]["train_examples"] + sum(report["rejected"].values())
    # the data manifest's per-file list stays in the data directory; its count comes along
    assert t["data"]["data_manifest"] == {"stage": "test", "sources": [], "inputs": {"files": 2}}
    assert t["data"]["licenses"] == m.extra["data_licenses"] == ["MIT", "research-only"]
    for key in ("final_train_loss", "final_val_loss", "initial_val_loss"):
        assert isinstance(t[key], float)
    assert {"torch", "transformers", "peft"} <= set(t["versions"])
    import torch

    assert t["device"]["type"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert t["device"]["name"] and t["device"]["processes"] == 1
    assert (out / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    lora = adapter_tensors(out)
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in lora.items())


def test_training_lowers_the_loss(trained):
    _, out = trained
    hist = json.loads((out / "manifest.json").read_text())["training"]
    assert hist["final_val_loss"] < hist["initial_val_loss"]


def test_gguf_adapter_changes_llama_cpp_output(trained, tiny):
    _, out = trained
    prompt = "<start_of_turn>user\n合同法规定<end_of_turn>\n<start_of_turn>model\n"

    def logits(**kw):
        # logits_all: with it off, llm.scores holds no row for the prompt's last token (the
        # row read stayed zero in a fresh process, so base and adapter "agreed" at 0.0)
        llm = open_llama(str(tiny.gguf), n_ctx=128, verbose=False, logits_all=True, **kw)
        toks = llm.tokenize(prompt.encode(), special=True)
        llm.eval(toks)
        return list(llm.scores[len(toks) - 1])

    base = logits()
    adapted = logits(lora_path=str(out / "adapter.gguf"))
    assert max(abs(a - b) for a, b in zip(base, adapted, strict=True)) > 1e-3


def test_interrupted_run_resumes_to_the_same_adapter(trained, tiny, data_dir, tmp_path):
    import torch

    cfg, out = trained
    cut = replace(
        cfg,
        output_dir=tmp_path / "model",
        work_dir=tmp_path / "work",
        time_budget_minutes=1e-6,
        convert_gguf=False,
    )
    first = run(cut)  # stops after the first step, as if killed, and says so
    t = ModelManifest.read(first).training
    assert t["stopped_early"] and t["steps"] == 1
    again = run(replace(cut, time_budget_minutes=0.0))
    t = ModelManifest.read(again).training
    assert t["steps"] == 6 and not t["stopped_early"]
    a, b = adapter_tensors(out), adapter_tensors(again)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=2e-3)


@pytest.mark.gpu
def test_cuda_training_picks_bf16_and_records_the_card(tiny, data_dir, tmp_path):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    out = run(tiny_config(tiny, data_dir, tmp_path, precision="auto", convert_gguf=False))
    t = ModelManifest.read(out).training
    assert t["precision"] == ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
    assert t["device"] == {"type": "cuda", "name": torch.cuda.get_device_name(0), "processes": 1}
    assert t["final_val_loss"] < t["initial_val_loss"]
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in adapter_tensors(out).items())


def test_llama_architecture_trains_with_only_a_config_change(tmp_path, data_dir):
    from tests.fixtures.tiny_hf import write_tiny_hf

    llama = write_tiny_hf(tmp_path / "llama", arch="llama")
    cfg = tiny_config(
        llama,
        data_dir,
        tmp_path,
        base_model=llama.hf_dir,
        max_steps=2,
        chat_template="gemma",
        convert_gguf=False,
    )
    out = run(cfg)
    m = ModelManifest.read(out)
    assert m.files == [] and not Path(m.training["base"]["hf_dir"]).is_absolute()
    assert (out / m.training["base"]["hf_dir"]).resolve() == llama.hf_dir.resolve()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"base_model": Path("/nonexistent/base.gguf")}, "base_model: base model GGUF not found"),
        ({"chat_template": "chatml"}, "chat_template uses <|im_end|>, <|im_start|>"),
        ({"train_file": Path("/nonexistent/train.jsonl")}, "data file not found"),
        ({"max_seq_len": 0}, "max_seq_len: must be >= 1"),
        ({"answer_letter_weight": 0.0}, "answer_letter_weight: must be > 0"),
        ({"answer_letter_weight": 4.0, "loss": "plain"}, "only with loss: answer_only"),
    ],
)
def test_bad_input_fails_before_training(tiny, data_dir, tmp_path, change, message):
    with pytest.raises(TrainError, match=message.replace("|", r"\|")):
        run(tiny_config(tiny, data_dir, tmp_path, **change))
    assert not (tmp_path / "work").exists()


def test_base_that_does_not_match_its_manifest_is_refused(tiny, data_dir, tmp_path):
    import shutil

    from legal_edge.models.manifest import ModelFile

    base = tmp_path / "base"
    base.mkdir()
    shutil.copy(tiny.gguf, base / "tiny.gguf")
    ModelManifest(
        name="base",
        base_model="tiny",
        chat_template="x",
        files=[ModelFile(role="model", path="tiny.gguf", sha256="0" * 64)],
    ).write(base)
    with pytest.raises(TrainError, match="does not match the 000000000000"):
        run(tiny_config(tiny, data_dir, tmp_path, base_model=base))


def test_wrong_data_format_names_file_and_line(tiny, tmp_path, legal_data):
    raw = legal_data / "mcq" / "lawbench_case_analysis.jsonl"  # raw rows, not prepared
    with pytest.raises(TrainError, match=r"lawbench_case_analysis.jsonl:1: not a prepared record"):
        run(tiny_config(tiny, None, tmp_path, train_file=raw))


def test_output_dir_of_a_different_run_is_refused(trained, tiny, data_dir):
    cfg, out = trained
    with pytest.raises(TrainError, match="already holds a different training run"):
        run(replace(cfg, lr=1e-3))


def test_every_train_config_loads():
    configs = sorted((REPO / "recipes" / "configs" / "train").glob("*.yaml"))
    assert {"smoke.yaml", "gemma3_270m_legal_cpu.yaml"} <= {p.name for p in configs}
    for p in configs:
        first = p.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("#"), f"{p.name} must start with the command that runs it"
        load_config(Config, p, ())


@pytest.mark.slow
def test_smoke_config_trains_the_real_base(default_base_gguf, data_dir, tmp_path):
    cfg = load_config(
        Config,
        REPO / "recipes" / "configs" / "train" / "smoke.yaml",
        (
            f"data_dir={data_dir}",
            f"output_dir={tmp_path / 'model'}",
            f"work_dir={tmp_path / 'work'}",
            f"base_model={default_base_gguf.parent}",
        ),
    )
    m = ModelManifest.read(run(cfg))
    m.verify_files(check_hash=True)
    assert m.training["steps"] == 3
    # three optimizer steps moved the adapter off zero: the next-token logits differ from the
    # base's (an adapter that did not train, or did not load, leaves them identical)
    prompt = "<start_of_turn>user\n什么是合同？<end_of_turn>\n<start_of_turn>model\n"
    logits = []
    for lora in (None, str(m.adapter_path)):
        llm = open_llama(str(m.model_path), lora_path=lora, n_ctx=256, logits_all=True)
        tokens = llm.tokenize(prompt.encode(), special=True)
        llm.eval(tokens)
        logits.append(llm.scores[len(tokens) - 1].copy())
        llm.close()
    assert float(abs(logits[0] - logits[1]).max()) > 1e-4


def test_a_run_continues_from_an_init_adapter_and_records_it(trained, tiny, data_dir, tmp_path):
    from safetensors.torch import load_file

    from recipes.train.plan import prepare

    _, first = trained
    start = load_file(first / "peft" / "adapter_model.safetensors")
    cfg = tiny_config(
        tiny, data_dir, tmp_path, init_adapter=first / "peft", max_steps=0, epochs=0.01, lr=1e-9
    )
    plan = prepare(cfg)
    from recipes.train.loop import build_model

    model = build_model(plan)
    got = {k: v for k, v in model.state_dict().items() if "lora_" in k}
    # the continued model starts from the first run's weights, not a fresh LoRA (B = 0)
    key = next(k for k in start if "lora_B" in k)
    mine = next(v for k, v in got.items() if k.replace(".default", "") == key)
    assert float(start[key].abs().sum()) > 0
    assert mine.half().equal(start[key])
    info = plan.data_info["init_adapter"]
    assert info["path"] == str(first / "peft") and len(info["sha256"]) == 64
    # a different starting adapter is a different run
    fresh = prepare(replace(cfg, init_adapter=None))
    assert fresh.fingerprint != plan.fingerprint


def test_an_init_adapter_of_another_shape_is_refused(trained, tiny, data_dir, tmp_path):
    _, first = trained
    cfg = tiny_config(
        tiny, data_dir, tmp_path, init_adapter=first / "peft", lora=LoraSettings(r=8, alpha=16)
    )
    with pytest.raises(TrainError, match=r"init_adapter: .*r=4 .*lora asks r=8"):
        run(cfg)
    with pytest.raises(TrainError, match=r"init_adapter: .*not a PEFT adapter"):
        run(replace(cfg, init_adapter=tmp_path))


def test_weighted_answer_letters_change_what_is_learnt(tiny, data_dir, tmp_path):
    """The same two steps with the exam letters weighted 8x end on a different adapter (the data
    holds six exam answers), and the weight is recorded with the run's config."""
    runs = {}
    for w in (1.0, 8.0):
        cfg = tiny_config(
            tiny,
            data_dir,
            tmp_path / f"w{w}",
            max_steps=2,
            convert_gguf=False,
            answer_letter_weight=w,
        )
        runs[w] = run(cfg)
    a, b = adapter_tensors(runs[1.0]), adapter_tensors(runs[8.0])
    assert any(not a[k].equal(b[k]) for k in a)
    assert ModelManifest.read(runs[8.0]).training["config"]["answer_letter_weight"] == 8.0
