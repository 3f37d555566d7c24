"""The command line prints JSON on success and one clear line (exit 2, no traceback) on user errors.

Most commands run in this process through `explorer.__main__.main` (importing SAE-Lens costs a fresh
process about 12 s here); `run_process` runs `python -m explorer` for real where the process itself is
what is tested: JSON on stdout alone, exit status 2 without a traceback, the same text in two processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from explorer import bundle
from tests.conftest import CliResult

ROOT = Path(__file__).resolve().parent.parent
INFO_KEYS = {
    "model_name",
    "hook_name",
    "d_in",
    "d_sae",
    "architecture",
    "device",
    "dtype",
    "sae_path",
    "model_path",
}


def run_process(*args: str, env: dict[str, str] | None = None) -> CliResult:
    """Run `python -m explorer ARGS` in a fresh process, offline."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "explorer", *args], cwd=ROOT, env=full_env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    return CliResult(done.returncode, done.stdout, done.stderr)


def test_info_demo() -> None:
    result = run_process("info", "--sae", "demo", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert set(info) >= INFO_KEYS
    assert info["model_name"] == bundle.DEMO_MODEL_NAME
    assert (info["device"], info["dtype"]) == ("cpu", "float32")
    assert Path(info["sae_path"]).is_dir() and Path(info["model_path"]).is_dir()


def test_info_saved_directory_and_overrides(saved_sae_dir: Path, run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("info", "--sae", str(saved_sae_dir), "--device", "cpu", "--dtype", "bfloat16")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["sae_path"] == str(saved_sae_dir)
    assert info["dtype"] == "bfloat16"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sae", "/no/such/dir"], "does not exist"),
        (["--sae", "demo:nope"], "Unknown demo SAE"),
        (["--sae", "demo", "--model", "not-a-model"], "Unknown model 'not-a-model'"),
        (["--sae", "demo", "--dtype", "float8"], "Unknown dtype"),
        (["--sae", "gpt2-small-res-jb:blocks.8.hook_resid_pre"], "Hub is unreachable"),
    ],
)
def test_info_errors_are_one_clear_line(
    args: list[str], message: str, tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    hub = "Hub" in message  # huggingface_hub reads HF_HOME when imported: a fresh process with an empty one
    result = (run_process if hub else run_cli)("info", *args, env={"HF_HOME": str(tmp_path)})
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] != []


def test_releases_lists_demo_and_pretrained(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("releases")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert "gpt2-small-res-jb" in listing["releases"]
    assert listing["demo"][0].startswith("demo:")


def test_prompt_command_matches_the_library(demo, run_cli: Callable[..., CliResult]) -> None:  # noqa: ANN001
    from explorer.activations import analyze_prompt, top_features

    text = "Once upon a time, there was a little girl named Lily."
    result = run_cli("prompt", "--sae", "demo", "--device", "cpu", "--text", text, "--k", "5")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    analysis = analyze_prompt(demo, text)
    assert out["tokens"] == analysis.tokens.strings
    expected = top_features(analysis.acts[-1], 5)
    assert [f["feature"] for f in out["top_features"]] == [f.feature for f in expected]
    assert [f["activation"] for f in out["top_features"]] == pytest.approx(
        [f.activation for f in expected], rel=1e-5
    )
    assert len(out["per_token"]) == len(out["tokens"])


def test_metrics_command(tmp_path: Path, run_cli: Callable[..., CliResult]) -> None:
    text_file = tmp_path / "docs.txt"
    text_file.write_text("Tom had a red ball. He was happy.\nMia saw a cat in the garden.\n" * 40)
    result = run_cli(
        "metrics", "--sae", "demo", "--device", "cpu", "--text-file", str(text_file), "--n-prompts", "4"
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    keys = {"l0", "mse", "explained_variance", "cosine_similarity", "ce_loss_orig", "ce_loss_recon", "ce_loss_zero",
            "ce_loss_recovered", "kl_div", "dead_features", "n_tokens"}  # fmt: skip
    assert set(out) >= keys
    assert out["ce_loss_recovered"] == pytest.approx(
        (out["ce_loss_zero"] - out["ce_loss_recon"]) / (out["ce_loss_zero"] - out["ce_loss_orig"]), rel=1e-6
    )
    assert out["n_prompts"] == 4


def test_metrics_command_bad_dataset(tmp_path: Path, run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("metrics", "--sae", "demo", "--dataset", str(tmp_path / "missing.jsonl"))
    assert result.returncode == 2 and "does not exist" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "nums.jsonl").write_text('{"a": 1}\n{"a": 2}\n')
    result = run_cli("metrics", "--sae", "demo", "--dataset", str(tmp_path / "nums.jsonl"))
    assert result.returncode == 2 and "no text column" in result.stderr


def test_generate_command_is_reproducible(run_cli: Callable[..., CliResult]) -> None:
    args = ("generate", "--sae", "demo", "--device", "cpu", "--text", "Once upon a time", "--max-new-tokens", "10",
            "--seed", "7")  # fmt: skip
    first, second = run_process(*args), run_cli(*args)  # the same text in another process
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert out == json.loads(second.stdout)
    assert {"base", "with_sae", "loss"} <= set(out) and out["loss"]["ce_loss_recovered"] is not None


def test_stats_then_feature_reuses_the_cache(tmp_path: Path, run_cli: Callable[..., CliResult]) -> None:
    env = {"SAE_EXPLORER_CACHE": str(tmp_path)}
    first = run_cli("stats", "--sae", "demo", "--device", "cpu", "--n-tokens", "4096", env=env)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["from_cache"] is False and summary["n_tokens"] > 0 and Path(summary["cache_dir"]).is_dir()
    second = run_cli("stats", "--sae", "demo", "--device", "cpu", "--n-tokens", "4096", env=env)
    assert json.loads(second.stdout)["from_cache"] is True
    feature = run_cli(
        "feature", "--sae", "demo", "--device", "cpu", "--n-tokens", "4096", "--id", "3", env=env
    )
    assert feature.returncode == 0, feature.stderr
    out = json.loads(feature.stdout)
    assert {"density", "max_activation", "top_examples", "top_logits", "bottom_logits"} <= set(out)
    examples = out["top_examples"]
    assert [e["max_activation"] for e in examples] == sorted(
        (e["max_activation"] for e in examples), reverse=True
    )
    if examples:
        assert examples[0]["max_activation"] == pytest.approx(out["max_activation"])
        top = examples[0]
        assert top["activations"][top["position"]] == pytest.approx(top["max_activation"])
    bad = run_cli("feature", "--sae", "demo", "--id", "999999", env=env)
    assert bad.returncode == 2 and "out of range" in bad.stderr


def test_train_runs_and_cancel_commands(tmp_path: Path, run_cli: Callable[..., CliResult]) -> None:
    env = {"SAE_EXPLORER_RUNS": str(tmp_path)}
    spec = json.loads((ROOT / "examples" / "train-demo.json").read_text())
    spec.update(training_tokens=40_960, d_sae=256, sparsity=16, lr_warm_up_steps=2, lr_decay_steps=2)
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    result = run_cli("train", str(tmp_path / "spec.json"), env=env)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "succeeded" and Path(out["run_dir"]).parent == tmp_path
    listed = json.loads(run_cli("runs", env=env).stdout)
    assert [(r["id"], r["status"], r["progress"]) for r in listed] == [(out["id"], "succeeded", 1.0)]
    assert listed[0]["sae_path"] == out["sae_path"]
    info = run_cli("info", "--sae", f"run:{out['id']}", "--device", "cpu", env=env)
    assert info.returncode == 0 and json.loads(info.stdout)["d_sae"] == 256
    cancel = run_cli("cancel", out["id"], env=env)
    assert cancel.returncode == 2 and "only queued or running runs" in cancel.stderr
    spec["n_batches_in_buffer"] = 1
    (tmp_path / "bad.json").write_text(json.dumps(spec))
    bad = run_cli("train", str(tmp_path / "bad.json"), env=env)
    assert bad.returncode == 2 and "n_batches_in_buffer" in bad.stderr and "Traceback" not in bad.stderr
