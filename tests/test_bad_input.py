"""Every kind of bad input gets a specific message, in the UI and from the CLI (exit 2, no traceback),
and the app keeps working afterwards.

The CLI is called in-process through `explorer.__main__.main` (the same function `python -m explorer`
runs; `tests/test_cli.py` checks the real subprocess); the UI through Streamlit's AppTest.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer import bundle
from explorer.__main__ import main

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
DEMO_SAE = bundle.BUNDLE_DIR / "saes" / "mlp0-standard"


# ----------------------------------------------------------------------------- bad SAE directories


def copy_demo_sae(directory: Path) -> Path:
    shutil.copytree(DEMO_SAE, directory)
    return directory


def edit_cfg(directory: Path, edit: Callable[[dict], None]) -> Path:
    cfg = json.loads((directory / "cfg.json").read_text())
    edit(cfg)
    (directory / "cfg.json").write_text(json.dumps(cfg))
    return directory


def make_bad_sae(kind: str, tmp: Path) -> str:
    """A source string for one kind of broken SAE."""
    if kind == "missing_path":
        return str(tmp / "no" / "such" / "sae")
    if kind == "no_cfg":
        (tmp / "empty").mkdir()
        return str(tmp / "empty")
    sae = copy_demo_sae(tmp / kind)
    weights = sae / "sae_weights.safetensors"
    if kind == "truncated_weights":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif kind == "corrupt_weights":
        weights.write_bytes(b"\x00garbage" * 100)
    elif kind == "unknown_architecture":
        edit_cfg(sae, lambda c: c.update(architecture="banana"))
    elif kind == "missing_fields":
        edit_cfg(sae, lambda c: (c.pop("d_sae"), c.pop("d_in")))
    elif kind == "d_in_mismatch":
        from sae_lens import SAE

        cfg = json.loads((sae / "cfg.json").read_text())
        shutil.rmtree(sae)
        SAE.from_dict({**cfg, "d_in": 64}).save_model(
            sae
        )  # a consistent SAE, but 64 wide for a 128-wide hook
    elif kind == "unknown_hook":
        edit_cfg(sae, lambda c: c["metadata"].update(hook_name="blocks.7.hook_resid_pre"))
    return str(sae)


SAE_CASES = {  # kind -> what the message must say
    "missing_path": "does not exist",
    "no_cfg": "has no cfg.json",
    "truncated_weights": "sae_weights.safetensors",
    "corrupt_weights": "sae_weights.safetensors",
    "unknown_architecture": "banana",
    "missing_fields": "missing required field(s): d_in, d_sae",
    "d_in_mismatch": "d_in",
    "unknown_hook": "blocks.7.hook_resid_pre",
}


@pytest.fixture(autouse=True)
def quiet_stale_log_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loggers set up during an earlier test may hold that test's closed capture stream; logging would print
    '--- Logging error ---' with a traceback into this test's stderr. Not the CLI's output, so silence it."""
    import logging

    monkeypatch.setattr(logging, "raiseExceptions", False)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_clear_cli_error(code: int, stdout: str, stderr: str, expected: str) -> None:
    assert code == 2, stderr
    assert stdout == ""
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and expected.lower() in last.lower(), last


@pytest.mark.parametrize("kind", list(SAE_CASES))
def test_bad_sae_cli(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = make_bad_sae(kind, tmp_path)
    assert_clear_cli_error(*run_cli(capsys, "info", "--sae", source), SAE_CASES[kind])


@pytest.mark.parametrize("kind", list(SAE_CASES))
def test_bad_sae_ui_and_the_app_keeps_working(kind: str, tmp_path: Path) -> None:
    source = make_bad_sae(kind, tmp_path)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["sae"] = source
    at.run()
    assert not at.exception, at.exception
    assert SAE_CASES[kind] in at.sidebar.error[0].value
    at.switch_page("pages/prompt.py").run()
    assert "Pick an SAE in the sidebar" in at.info[0].value  # the page says what to do, no traceback
    # Nothing half-loaded was cached: the next session on the demo works.
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/prompt.py").run()
    assert not at.exception and not at.sidebar.error
    assert "max activation" in " ".join(m.value for m in at.markdown)


# ----------------------------------------------------------------------------- prompts and features


def test_empty_prompt(capsys: pytest.CaptureFixture[str]) -> None:
    assert_clear_cli_error(*run_cli(capsys, "prompt", "--text", "   "), "The prompt is empty.")
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["prompt"] = " "
    at.run()
    for page in ("pages/prompt.py", "pages/top_features.py", "pages/generation.py", "pages/steering.py"):
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        assert "The prompt is empty." in at.error[0].value, page
    at.text_area[0].set_value("A red ball.").run()  # typing a prompt brings the page back
    assert not at.exception and not at.error


def test_overlong_prompt_is_cut_with_a_notice(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "prompt", "--text", "the cat sat. " * 400, "--k", "2")
    assert code == 0
    result = json.loads(out)
    assert result["truncated"] is True and len(result["tokens"]) == 256
    assert "only the first 256 are analysed" in err
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["prompt"] = "the cat sat. " * 400
    at.run()
    at.switch_page("pages/top_features.py").run()
    assert "only the first 256 are analysed" in at.warning[0].value


def test_feature_id_out_of_range(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("SAE_EXPLORER_CACHE", str(tmp_path))
    assert_clear_cli_error(
        *run_cli(capsys, "feature", "--id", "99999", "--n-tokens", "2048"), "Feature 99999 is out of range"
    )
    assert_clear_cli_error(
        *run_cli(capsys, "steer", "--text", "Hi", "--feature", "99999:4"), "Feature 99999 is out of range"
    )
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["steer"] = "99999:4"
    at.run()
    at.switch_page("pages/steering.py").run()
    at.button[0].click().run()
    assert "Feature 99999 is out of range" in at.error[0].value
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/logit_view.py").run()
    at.radio[0].set_value("Typed ids").run()
    at.text_input[0].set_value("3, 99999").run()
    assert not at.exception
    assert "Feature 99999 is out of range" in at.error[0].value


# ----------------------------------------------------------------------------- datasets


def test_dataset_missing_or_without_text(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    numbers = tmp_path / "numbers.jsonl"
    numbers.write_text('{"x": 1}\n{"x": 2}\n')
    assert_clear_cli_error(
        *run_cli(capsys, "metrics", "--dataset", str(tmp_path / "nope.jsonl")), "does not exist"
    )
    assert_clear_cli_error(*run_cli(capsys, "metrics", "--dataset", str(numbers)), "has no text column")
    assert_clear_cli_error(
        *run_cli(capsys, "stats", "--text-file", str(tmp_path / "nope.txt")), "does not exist"
    )
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/sparsity.py").run()
    for dataset, expected in (
        (str(tmp_path / "nope.jsonl"), "does not exist"),
        (str(numbers), "has no text column"),
    ):
        at.text_input[0].set_value(dataset)
        at.button[0].click().run()
        assert not at.exception
        assert expected in at.error[0].value
    at.text_input[0].set_value("demo")
    at.number_input[0].set_value(4)
    at.button[0].click().run()
    assert not at.error and "Mean L0" in [m.label for m in at.metric]


def test_text_files_that_are_not_text(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Binary, all-NUL and non-UTF-8 files, a directory, a symlink loop and a dangling link: each its own line."""
    (tmp_path / "zeros.txt").write_bytes(b"\0" * 4096)
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    (tmp_path / "loop.txt").symlink_to(tmp_path / "loop.txt")
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "gone.txt")
    (tmp_path / "folder.txt").mkdir()
    cases = {
        "zeros.txt": "is not text: it holds NUL bytes",
        "binary.txt": "is not text: it holds NUL bytes",
        "latin1.txt": "is not UTF-8 text",
        "loop.txt": "is a symlink loop",
        "dangling.txt": "is a symlink to a missing file",
        "folder.txt": "is a directory, not a text file",
    }
    for name, expected in cases.items():
        path = str(tmp_path / name)
        assert_clear_cli_error(*run_cli(capsys, "metrics", "--text-file", path, "--n-prompts", "2"), expected)
        dataset_expected = (
            "is not a dataset saved with Dataset.save_to_disk" if name == "folder.txt" else expected
        )
        assert_clear_cli_error(*run_cli(capsys, "stats", "--dataset", path), dataset_expected)


# ----------------------------------------------------------------------------- training specs


def test_invalid_training_spec(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("SAE_EXPLORER_RUNS", str(tmp_path / "runs"))
    spec = json.loads((ROOT / "examples" / "train-demo.json").read_text())
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**spec, "d_sae": -4, "n_batches_in_buffer": 1}))
    assert_clear_cli_error(*run_cli(capsys, "train", str(bad)), "d_sae: must be a positive whole number")
    bad.write_text(json.dumps({**spec, "hook_name": "blocks.9.hook_mlp_out"}))
    assert_clear_cli_error(
        *run_cli(capsys, "train", str(bad)), "hook_name: 'blocks.9.hook_mlp_out' is not a hook"
    )
    bad.write_text(json.dumps({**spec, "dataset": str(tmp_path / "missing.parquet")}))
    assert_clear_cli_error(*run_cli(capsys, "train", str(bad)), "dataset: The dataset path")
    bad.write_text("{not json")
    assert_clear_cli_error(*run_cli(capsys, "train", str(bad)), "not a valid spec")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing was started
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/training.py").run()
    form_inputs = {n.label: n for n in at.number_input}
    form_inputs["n_batches_in_buffer"].set_value(1)
    at.button[0].click().run()
    assert not at.exception
    message = at.error[0].value
    assert "The run was not launched" in message and "**n_batches_in_buffer**" in message
    form_inputs = {n.label: n for n in at.number_input}
    form_inputs["n_batches_in_buffer"].set_value(32)
    form_inputs["Context size"].set_value(512)
    at.button[0].click().run()
    assert "**context_size**" in at.error[0].value and "longer than the model's context" in at.error[0].value


# ----------------------------------------------------------------------------- the hub and memory


def test_hub_unreachable(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    source = "gpt2-small-res-jb:blocks.8.hook_resid_pre"
    code, out, err = run_cli(capsys, "info", "--sae", source)
    assert_clear_cli_error(code, out, err, "Hugging Face")
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["sae"] = source
    at.run()
    assert not at.exception
    assert "Hugging Face" in at.sidebar.error[0].value


def test_out_of_memory_is_caught_freed_and_explained(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sae_lens import HookedSAETransformer

    real = HookedSAETransformer.run_with_cache
    calls = {"n": 0}

    def exhausted(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        calls["n"] += 1
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["prompt"] = "A prompt nobody analysed before, about memory."
    at.run()  # the model and SAE load while memory is available
    monkeypatch.setattr(HookedSAETransformer, "run_with_cache", exhausted)
    code, out, err = run_cli(capsys, "prompt", "--text", "A red ball.")
    assert_clear_cli_error(code, out, err, "Out of memory while")
    assert "bfloat16" in err and "stop_at_layer" in err
    at.switch_page("pages/prompt.py").run()
    assert not at.exception
    assert "Out of memory while running the model to the hook" in at.error[0].value
    assert "smaller batch" in at.error[0].value
    monkeypatch.setattr(HookedSAETransformer, "run_with_cache", real)
    at.text_area[0].set_value("A blue ball.").run()  # memory is back: the same session works again
    assert not at.exception and not at.error
    assert calls["n"] >= 2


def test_paths_outside_the_allowed_roots_are_refused_in_the_app_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = copy_demo_sae(tmp_path / "outside")
    monkeypatch.setenv("SAE_EXPLORER_ROOTS", str(tmp_path / "allowed"))
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["sae"] = str(outside)
    at.run()
    assert "is outside the folders this app may open" in at.sidebar.error[0].value
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/sparsity.py").run()
    at.text_input[0].set_value("/etc/passwd")
    at.button[0].click().run()
    assert "'/etc/passwd' is outside the folders this app may open" in at.error[0].value
    link = tmp_path / "allowed" / "link"
    link.parent.mkdir()
    link.symlink_to(outside)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["sae"] = str(link)  # a symlink inside an allowed root that points outside it
    at.run()
    assert "is outside the folders this app may open" in at.sidebar.error[0].value
    code, out, _ = run_cli(capsys, "info", "--sae", str(outside))  # the CLI user owns their shell
    assert code == 0 and json.loads(out)["d_sae"] == 2048
