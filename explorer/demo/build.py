"""Rebuild the embedded demo bundle: corpus -> tokenizer -> language model -> SAEs -> quality figures.

    python -m explorer.demo.build            # everything (about 17 minutes on 2 CPU cores)
    python -m explorer.demo.build --saes     # keep the tokenizer and model, retrain the SAEs
    python -m explorer.demo.build --saes --only mlp0-standard
    python -m explorer.demo.build --quality  # only re-measure quality.json

Deterministic for a given seed: on the same machine and thread count, a rebuild writes the same tokenizer,
model, SAEs and held-out set, byte for byte (only the timings in quality.json differ). Other CPUs or
thread counts may change the last bits of the weights.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import datasets
import torch
from sae_lens import (
    LanguageModelSAERunnerConfig,
    LanguageModelSAETrainingRunner,
    LoggingConfig,
    StandardTrainingSAEConfig,
    TopKTrainingSAEConfig,
)
from sae_lens.evals import EvalConfig, run_evals
from sae_lens.training.activation_scaler import ActivationScaler
from sae_lens.training.activations_store import ActivationsStore
from safetensors.torch import save_file

from explorer import bundle
from explorer.demo.concepts import best_concept_features
from explorer.demo.corpus import LabeledStory, generate_stories
from explorer.demo.generalisation import model_loss, read_stories, splice_quality, unseen_word_share
from explorer.demo.train_lm import (
    LMTrainingConfig,
    mean_next_token_loss,
    model_config,
    packed_batches,
    train_language_model,
    train_tokenizer,
)
from explorer.models import HOOKED_CONFIG_FILE, MODEL_WEIGHTS_FILE, load_model
from explorer.paths import BUNDLE_DIR
from explorer.sae_loading import load_sae

SEED = 0
N_TRAIN_STORIES = 50_000
N_HELDOUT_STORIES = 2_000
# The language model sees only the first 3 M tokens of the training stories (the tokenizer and the SAEs see
# them all). Longer training fits the generator's habits and costs loss on hand-written stories: with the
# same corpus and tokenizer, 2 M tokens gave 3.64 (3 layers), 3 M 3.51, 4 M 3.52 and 9 M 3.56.
LM_TRAINING_TOKENS = 3_000_000
VOCAB_SIZE = 3072
SAE_CONTEXT_SIZE = 128
DATASET_FILE = "dataset/heldout.parquet"


@dataclass(frozen=True)
class DemoSaeSpec:
    """One demo SAE: its name, hook, architecture and training settings."""

    name: str
    hook_name: str
    architecture: str
    d_sae: int
    sparsity: float  # l1_coefficient for standard, k for topk
    lr: float
    training_tokens: int


DEMO_SAES = (
    DemoSaeSpec("mlp0-standard", "blocks.0.hook_mlp_out", "standard", 2048, 0.9, 1e-3, 7_000_000),
    DemoSaeSpec("resid1-topk", "blocks.1.hook_resid_pre", "topk", 2048, 32, 1e-3, 5_000_000),
)
DEFAULT_SAE = DEMO_SAES[0].name


def split_corpus() -> tuple[list[LabeledStory], list[LabeledStory]]:
    """The training and held-out stories (disjoint, deterministic)."""
    stories = generate_stories(N_TRAIN_STORIES + N_HELDOUT_STORIES, seed=SEED)
    return stories[:N_TRAIN_STORIES], stories[N_TRAIN_STORIES:]


def heldout_dataset(stories: list[LabeledStory]) -> datasets.Dataset:
    """Held-out stories as a datasets.Dataset with `text` and `spans` (concept spans as JSON)."""
    return datasets.Dataset.from_dict(
        {"text": [s.text for s in stories], "spans": [json.dumps(s.spans) for s in stories]}
    )


def build_language_model(train: list[LabeledStory], heldout: list[LabeledStory]) -> dict[str, Any]:
    """Train and save the tokenizer and the model; return their figures."""
    from sae_lens import HookedSAETransformer

    texts = [s.text for s in train]
    tokenizer = train_tokenizer(texts, VOCAB_SIZE, bundle.tokenizer_dir())
    lm_cfg = LMTrainingConfig(seed=SEED)
    cfg = model_config(lm_cfg, d_vocab=len(tokenizer), model_name=bundle.DEMO_MODEL_NAME)
    torch.manual_seed(SEED)
    model = HookedSAETransformer(cfg, tokenizer=tokenizer)
    rows = packed_batches(texts, tokenizer, lm_cfg.n_ctx)[: LM_TRAINING_TOKENS // lm_cfg.n_ctx]
    print(
        f"language model: {sum(p.numel() for p in model.parameters()):,} parameters, {rows.numel():,} tokens"
    )
    start = time.time()
    train_language_model(model, rows, lm_cfg)
    print(f"language model trained in {time.time() - start:.0f}s", flush=True)
    print(f"loss on the hand-written stories: {model_loss(model, read_stories()):.4f}", flush=True)
    model_dir = bundle.model_dir()
    model_dir.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(model_dir / MODEL_WEIGHTS_FILE))
    config = {
        "n_layers": cfg.n_layers, "d_model": cfg.d_model, "n_heads": cfg.n_heads, "d_head": cfg.d_head,
        "d_mlp": cfg.d_mlp, "n_ctx": cfg.n_ctx, "d_vocab": cfg.d_vocab, "act_fn": cfg.act_fn,
        "normalization_type": cfg.normalization_type, "positional_embedding_type": cfg.positional_embedding_type,
        "model_name": cfg.model_name, "default_prepend_bos": cfg.default_prepend_bos, "seed": cfg.seed,
        "dtype": "float32",
    }  # fmt: skip
    (model_dir / HOOKED_CONFIG_FILE).write_text(json.dumps(config, indent=2))
    return {
        "n_params": sum(p.numel() for p in model.parameters()),
        "train_tokens": rows.numel(),
        "train_seconds": round(time.time() - start, 1),
        "vocab_size": len(tokenizer),
    }


def heldout_lm_loss(heldout: list[LabeledStory]) -> float:
    """The demo model's mean next-token loss on the held-out stories, packed into 128-token rows."""
    model = load_model(bundle.DEMO_MODEL_NAME).model
    rows = packed_batches([s.text for s in heldout], model.tokenizer, SAE_CONTEXT_SIZE)
    return round(mean_next_token_loss(model, rows), 4)


def train_demo_sae(spec: DemoSaeSpec, train_texts: list[str]) -> dict[str, Any]:
    """Train one demo SAE with SAE-Lens' own runner on the demo model and corpus; save it in the bundle."""
    model = load_model(bundle.DEMO_MODEL_NAME).model
    d_in = model.cfg.d_model
    common = {"d_in": d_in, "d_sae": spec.d_sae, "normalize_activations": "expected_average_only_in"}
    sae_cfg: Any
    if spec.architecture == "standard":
        sae_cfg = StandardTrainingSAEConfig(**common, l1_coefficient=spec.sparsity, l1_warm_up_steps=100)
    else:
        sae_cfg = TopKTrainingSAEConfig(**common, k=int(spec.sparsity))
    out_dir = BUNDLE_DIR / "saes" / spec.name
    shutil.rmtree(out_dir, ignore_errors=True)
    batch_tokens = 4096
    cfg = LanguageModelSAERunnerConfig(
        sae=sae_cfg,
        model_name=bundle.DEMO_MODEL_NAME,
        hook_name=spec.hook_name,
        dataset_path="demo",
        is_dataset_tokenized=False,
        streaming=False,
        context_size=SAE_CONTEXT_SIZE,
        prepend_bos=True,
        training_tokens=spec.training_tokens,
        train_batch_size_tokens=batch_tokens,
        n_batches_in_buffer=64,  # 64 x 128 >= 4096: SAE-Lens' own defaults fail this check
        store_batch_size_prompts=32,
        lr=spec.lr,
        lr_warm_up_steps=50,
        lr_decay_steps=spec.training_tokens // batch_tokens // 5,
        dead_feature_window=500,
        feature_sampling_window=500,
        device="cpu",
        seed=SEED,
        n_checkpoints=0,
        checkpoint_path=None,
        output_path=str(out_dir),
        logger=LoggingConfig(log_to_wandb=False),
        n_batches_for_norm_estimate=50,
        verbose=False,
    )
    start = time.time()
    dataset = datasets.Dataset.from_dict({"text": train_texts})
    LanguageModelSAETrainingRunner(cfg, override_model=model, override_dataset=dataset).run()
    normalise_json_files(out_dir, BUNDLE_DIR)
    return {"train_seconds": round(time.time() - start, 1), "training_tokens": spec.training_tokens}


def normalise_json_files(folder: Path, root: Path) -> None:
    """Rewrite each JSON file in `folder` with sorted keys, and paths under `root` relative to it.

    SAE-Lens writes some config keys in set order, which changes from one process to the next (hash
    randomisation), and records the absolute output folder; normalised, a rebuild's files are byte for
    byte those of the last build, wherever the checkout is.
    """

    def relative(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: relative(item) for key, item in value.items()}
        if isinstance(value, list):
            return [relative(item) for item in value]
        if isinstance(value, str) and Path(value).is_absolute() and Path(value).is_relative_to(root):
            return Path(value).relative_to(root).as_posix()
        return value

    for path in sorted(folder.glob("*.json")):
        content = relative(json.loads(path.read_text()))
        path.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")


def measure_quality(heldout: list[LabeledStory], n_eval_batches: int = 20) -> dict[str, Any]:
    """Per demo SAE: SAE-Lens evals on held-out text and each concept's best feature."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(bundle.tokenizer_dir()))
    model = load_model(bundle.DEMO_MODEL_NAME).model
    dataset = datasets.Dataset.from_dict({"text": [s.text for s in heldout]})
    results: dict[str, Any] = {}
    for spec in DEMO_SAES:
        loaded = load_sae(f"demo:{spec.name}")
        store = ActivationsStore.from_sae(
            model, loaded.sae, dataset, streaming=False, store_batch_size_prompts=16, n_batches_in_buffer=4
        )
        eval_cfg = EvalConfig(
            batch_size_prompts=16,
            n_eval_reconstruction_batches=n_eval_batches,
            n_eval_sparsity_variance_batches=n_eval_batches,
            compute_ce_loss=True,
            compute_kl=True,
            compute_l2_norms=True,
            compute_sparsity_metrics=True,
            compute_variance_metrics=True,
            compute_featurewise_density_statistics=True,
        )
        torch.manual_seed(SEED)
        metrics, feature_metrics = run_evals(loaded.sae, store, model, ActivationScaler(), eval_cfg)
        density = torch.tensor(feature_metrics["feature_density"])
        concepts = best_concept_features(model, loaded.sae, loaded.hook_name, tokenizer, heldout[:400])
        results[spec.name] = {
            "hook_name": spec.hook_name,
            "architecture": loaded.architecture,
            "d_sae": loaded.d_sae,
            "explained_variance": round(metrics["reconstruction_quality"]["explained_variance"], 4),
            "ce_loss_score": round(metrics["model_performance_preservation"]["ce_loss_score"], 4),
            "ce_loss_without_sae": round(metrics["model_performance_preservation"]["ce_loss_without_sae"], 4),
            "ce_loss_with_sae": round(metrics["model_performance_preservation"]["ce_loss_with_sae"], 4),
            "ce_loss_with_ablation": round(
                metrics["model_performance_preservation"]["ce_loss_with_ablation"], 4
            ),
            "kl_div_score": round(metrics["model_behavior_preservation"]["kl_div_score"], 4),
            "mean_l0": round(metrics["sparsity"]["l0"], 2),
            "dead_fraction": round(float((density == 0).float().mean()), 4),
            "eval_tokens": metrics["token_stats"]["total_tokens_eval_reconstruction"],
            "concepts": {name: match.to_dict() for name, match in concepts.items()},
        }
        print(
            f"{spec.name}: " + ", ".join(f"{k}={v}" for k, v in results[spec.name].items() if k != "concepts")
        )
    return results


def measure_generalisation(train: list[LabeledStory]) -> dict[str, Any]:
    """On the hand-written stories: the model's loss, the share of unseen words, each SAE spliced in."""
    stories = read_stories()
    model = load_model(bundle.DEMO_MODEL_NAME).model
    share, unseen = unseen_word_share(stories, (s.text for s in train))
    result: dict[str, Any] = {
        "n_stories": len(stories),
        "model_loss": round(model_loss(model, stories), 4),
        "unseen_word_share": round(share, 4),
        "unseen_words": unseen,
        "saes": {},
    }
    for spec in DEMO_SAES:
        loaded = load_sae(f"demo:{spec.name}")
        result["saes"][spec.name] = splice_quality(model, loaded.sae, loaded.hook_name, stories).to_dict()
    print("hand-written stories:", {k: v for k, v in result.items() if k != "unseen_words"})
    return result


def write_manifest() -> None:
    """Record what the bundle holds (read by `explorer.bundle.read_manifest`)."""
    manifest = {
        "model_name": bundle.DEMO_MODEL_NAME,
        "default_sae": DEFAULT_SAE,
        "saes": {s.name: asdict(s) for s in DEMO_SAES},
        "dataset_file": DATASET_FILE,
        "seed": SEED,
        "n_train_stories": N_TRAIN_STORIES,
        "n_heldout_stories": N_HELDOUT_STORIES,
    }
    (BUNDLE_DIR / bundle.MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
    bundle.read_manifest.cache_clear()


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--saes", action="store_true", help="keep tokenizer and model; retrain the SAEs")
    group.add_argument("--quality", action="store_true", help="only re-measure quality.json")
    parser.add_argument(
        "--only", choices=[s.name for s in DEMO_SAES], help="with --saes: retrain only this SAE"
    )
    args = parser.parse_args(argv)
    build_start = time.time()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    train, heldout = split_corpus()
    BUNDLE_DIR.mkdir(parents=True, exist_ok=True)
    write_manifest()
    quality_path = BUNDLE_DIR / "quality.json"
    quality = json.loads(quality_path.read_text()) if quality_path.exists() else {}
    if not (args.saes or args.quality):
        quality["language_model"] = build_language_model(train, heldout)
        (BUNDLE_DIR / DATASET_FILE).parent.mkdir(parents=True, exist_ok=True)
        heldout_dataset(heldout).to_parquet(str(BUNDLE_DIR / DATASET_FILE))
        print("language model:", quality["language_model"])
    if not args.quality:
        specs = [s for s in DEMO_SAES if args.only in (None, s.name)]
        trained = {s.name: train_demo_sae(s, [t.text for t in train]) for s in specs}
        quality["sae_training"] = {**quality.get("sae_training", {}), **trained}
    quality.setdefault("language_model", {})["heldout_loss"] = heldout_lm_loss(heldout)
    quality["saes"] = measure_quality(heldout)
    quality["handwritten_stories"] = measure_generalisation(train)
    if not (args.saes or args.quality):
        quality["build_seconds"] = round(time.time() - build_start)
    quality_path.write_text(json.dumps(quality, indent=2))
    print(f"wrote {quality_path}")


if __name__ == "__main__":
    main()
