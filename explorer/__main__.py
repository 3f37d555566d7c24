"""Command line: `python -m explorer SUBCOMMAND [--sae SOURCE] [--model M] [--device D] [--dtype T]`.

Every subcommand prints JSON on stdout; progress and library chatter go to stderr. A problem the
user can fix prints one line `error: ...` on stderr and exits with status 2 (no traceback); set
SAE_EXPLORER_DEBUG=1 to see tracebacks of unexpected errors.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from collections.abc import Callable
from typing import Any

from explorer.errors import ExplorerError, out_of_memory_as_error

EXIT_USER_ERROR = 2
EXIT_UNEXPECTED = 1


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--sae", default="demo", help="SAE source: demo[:NAME], a directory, RELEASE:SAE_ID or run:ID"
    )
    common.add_argument("--model", default=None, help="override the model the SAE's metadata names")
    common.add_argument(
        "--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda[:N] or mps"
    )
    common.add_argument(
        "--dtype", default="auto", help="auto (bfloat16 on cuda, else float32), float32, bfloat16, float16"
    )
    return common


def _load(args: argparse.Namespace) -> Any:
    from explorer.loading import load_explorer

    return load_explorer(args.sae, model=args.model, device=args.device, dtype=args.dtype)


def cmd_info(args: argparse.Namespace) -> dict[str, Any]:
    """What is loaded: model, hook, widths, architecture, device, dtype and where it was read from."""
    return _load(args).info()


def cmd_releases(args: argparse.Namespace) -> dict[str, Any]:
    """SAE-Lens' pretrained releases (offline list) and the demo SAEs."""
    from explorer.bundle import read_manifest
    from explorer.sources import list_pretrained_releases

    releases = list_pretrained_releases()
    if args.release:
        if args.release not in releases:
            raise ExplorerError(f"'{args.release}' is not an SAE-Lens pretrained release.")
        return {"release": args.release, "sae_ids": releases[args.release]}
    return {"demo": [f"demo:{name}" for name in read_manifest().sae_names], "releases": sorted(releases)}


def cmd_prompt(args: argparse.Namespace) -> dict[str, Any]:
    """Tokens, the last token's top features, and each token's top features for a prompt."""
    from explorer.activations import analyze_prompt, top_features
    from explorer.features import direct_logit_effects

    explorer = _load(args)
    analysis = analyze_prompt(explorer, args.text, prepend_bos=args.prepend_bos)
    if analysis.tokens.truncated:
        n_ctx = explorer.model.cfg.n_ctx
        print(f"note: the prompt has {analysis.tokens.n_original} tokens; the model's context is {n_ctx}, "
              f"so only the first {n_ctx} are analysed.", file=sys.stderr)  # fmt: skip
    last = top_features(analysis.acts[-1], args.k)
    effects = (
        {e.feature: e for e in direct_logit_effects(explorer, [f.feature for f in last], n=5)} if last else {}
    )
    return {
        "tokens": analysis.tokens.strings,
        "truncated": analysis.tokens.truncated,
        "prepend_bos": analysis.tokens.prepend_bos,
        "top_features": [{**f.to_dict(), "promoted_tokens": effects[f.feature].top_tokens} for f in last],
        "per_token": [
            {"token": token, "top_features": [f.to_dict() for f in top_features(analysis.acts[i], args.k)]}
            for i, token in enumerate(analysis.tokens.strings)
        ],
    }


def _dataset_rows(args: argparse.Namespace, explorer: Any) -> Any:
    from explorer.data import sample_prompts

    dataset = f"file:{args.text_file}" if args.text_file else args.dataset
    return sample_prompts(explorer, dataset, args.n_prompts, args.context_size)


def cmd_metrics(args: argparse.Namespace) -> dict[str, Any]:
    """Sparsity and reconstruction metrics on a dataset sample."""
    from explorer.metrics import compute_metrics

    explorer = _load(args)
    rows = _dataset_rows(args, explorer)

    def progress(done: int, total: int) -> None:
        print(f"\r{done}/{total} prompts", end="", file=sys.stderr, flush=True)

    result = compute_metrics(
        explorer, rows, with_loss=not args.no_loss, batch_size=args.batch_size, progress=progress
    )
    print(file=sys.stderr)
    return result.to_dict()


def cmd_generate(args: argparse.Namespace) -> dict[str, Any]:
    """Continuations with and without the SAE, and the loss comparison on the prompt."""
    from explorer.generation import GenerationSettings, compare_loss, generate_pair

    explorer = _load(args)
    settings = GenerationSettings(args.max_new_tokens, args.temperature, args.seed, not args.no_stop_at_eos)
    pair = generate_pair(
        explorer, args.text, settings, use_error_term=args.use_error_term, ablate=args.ablate
    )
    loss = compare_loss(explorer, args.text)
    return {**pair.to_dict(), "loss": loss.to_dict()}


def cmd_steer(args: argparse.Namespace) -> dict[str, Any]:
    """Default and steered continuations of a prompt from the same seed."""
    from explorer.generation import GenerationSettings
    from explorer.steering import parse_steer, steer_generate

    steers = [parse_steer(t, "add") for t in args.feature] + [parse_steer(t, "clamp") for t in args.clamp]
    steers += [parse_steer(t, "ablate") for t in args.ablate]
    settings = GenerationSettings(args.max_new_tokens, args.temperature, args.seed, not args.no_stop_at_eos)
    return steer_generate(_load(args), args.text, steers, settings).to_dict()


def cmd_attribute(args: argparse.Namespace) -> dict[str, Any]:
    """Each active feature's attribution to a target token's logit (or log-probability) at one position."""
    from explorer.attribution import attribute

    return attribute(
        _load(args), args.text, position=args.position, target=args.target, contrast=args.contrast,
        metric=args.metric, top=args.top, check_ablation=args.check_ablation, ablate_at=args.ablate_at,
        prepend_bos=args.prepend_bos,
    ).to_dict()  # fmt: skip


def cmd_compare(args: argparse.Namespace) -> dict[str, Any]:
    """Two SAEs on the same model: metrics on one sample and, for `--feature`, its nearest features in B."""
    from explorer.compare import compare_metrics, nearest_by_correlation, nearest_by_decoder_across
    from explorer.loading import with_sae
    from explorer.sae_loading import load_sae

    a = _load(args)
    b = with_sae(a, load_sae(args.other, device=a.device, dtype=a.dtype))
    rows = _dataset_rows(args, a)
    metrics_a, metrics_b = compare_metrics(a, b, rows, with_loss=not args.no_loss)
    result: dict[str, Any] = {
        "a": {"source": args.sae, **a.info(), "metrics": metrics_a.to_dict()},
        "b": {"source": args.other, **b.info(), "metrics": metrics_b.to_dict()},
    }
    if args.feature is not None:
        result["feature"] = args.feature
        result["nearest_by_decoder"] = [m.to_dict() for m in nearest_by_decoder_across(a, b, args.feature)]
        result["nearest_by_correlation"] = [
            m.to_dict() for m in nearest_by_correlation(a, b, args.feature, rows)
        ]
    return result


def _stats(args: argparse.Namespace, explorer: Any) -> tuple[Any, bool]:
    from explorer.feature_stats import default_stats_tokens
    from explorer.stats_cache import get_feature_stats

    args.n_tokens = args.n_tokens or default_stats_tokens(explorer.device)
    dataset = f"file:{args.text_file}" if args.text_file else args.dataset

    def progress(done: int, total: int, rate: float) -> None:
        print(f"\r{done:,}/{total:,} tokens, {rate:,.0f} tokens/s", end="", file=sys.stderr, flush=True)

    address = getattr(args, "ray", None) or os.environ.get("SAE_EXPLORER_RAY") or None
    stats, cached = get_feature_stats(
        explorer, dataset, args.n_tokens, args.context_size, progress=progress, ray_address=address,
        ray_workers=getattr(args, "workers", 2),
    )  # fmt: skip
    if not cached:
        print(file=sys.stderr)
    return stats, cached


def cmd_stats(args: argparse.Namespace) -> dict[str, Any]:
    """Build (or reuse) the feature-statistics cache and summarise it (automatic labels written too)."""
    from explorer.labels import ensure_automatic_labels
    from explorer.stats_cache import entry_dir, stats_key

    explorer = _load(args)
    stats, cached = _stats(args, explorer)
    labelled = ensure_automatic_labels(explorer, stats, refresh=not cached)
    key = stats_key(explorer, stats.meta["key"]["dataset"], args.n_tokens, stats.context_size)
    density = stats.density
    return {
        "n_tokens": stats.n_tokens,
        "context_size": stats.context_size,
        "from_cache": cached,
        "seconds": round(stats.seconds, 3),
        "cache_dir": str(entry_dir(key)),
        "dead_features": int((density == 0).sum()),
        "mean_density": float(density.mean()),
        "max_activation": float(stats.max_acts.max()),
        "automatic_labels_written": labelled,
    }


def cmd_label(args: argparse.Namespace) -> dict[str, Any]:
    """Set a feature's label (empty text removes it), or import a Neuronpedia explanation export."""
    from explorer.labels import import_neuronpedia, sae_identity
    from explorer.store import set_label

    explorer = _load(args)
    if args.import_neuronpedia:
        return {"imported": import_neuronpedia(explorer, args.import_neuronpedia)}
    if args.explain is not None:
        from explorer.autointerp import URL_ENV, configured_endpoint, explain
        from explorer.features import check_feature_ids

        endpoint = configured_endpoint()
        if endpoint is None:
            raise ExplorerError("No LLM endpoint is set.", hint=f"Set {URL_ENV} and SAE_EXPLORER_LLM_MODEL.")
        feature = check_feature_ids(explorer, [args.explain])[0]
        stats, _ = _stats(args, explorer)
        return {"feature": feature, "label": explain(explorer, stats, feature, endpoint), "kind": "llm"}
    if args.feature is None or args.text is None:
        raise ExplorerError(
            'Give a feature and its label, e.g. `label 12 "colour words"`, or --import-neuronpedia FILE.'
        )
    set_label(sae_identity(explorer), args.feature, args.text)
    return {"feature": args.feature, "label": " ".join(args.text.split()), "kind": "user"}


def cmd_search(args: argparse.Namespace) -> dict[str, Any]:
    """Features whose labels (yours, imported or automatic) or notes contain the text."""
    from explorer.labels import sae_identity
    from explorer.store import search

    hits = search(sae_identity(_load(args)), args.text, limit=args.limit)
    return {
        "hits": [
            {"feature": h.feature, "label": h.label, "matched": h.matched, "field": h.field} for h in hits
        ]
    }


def cmd_export(args: argparse.Namespace) -> dict[str, Any]:
    """Export a feature or a list as one self-contained HTML file, or as JSON."""
    from pathlib import Path

    from explorer.export import export_html, feature_export, list_export

    if (args.feature is None) == (args.list is None):
        raise ExplorerError("Export either --feature F or --list NAME.")
    if args.format == "html" and not args.out:
        raise ExplorerError("HTML goes to a file: add --out FILE.html.")
    from explorer.labels import ensure_automatic_labels

    explorer = _load(args)
    stats, cached = _stats(args, explorer)
    ensure_automatic_labels(explorer, stats, refresh=not cached)
    if args.list is not None:
        data = list_export(explorer, stats, args.list)
        title, description, features = (
            f"Feature list: {data['list']['name']}",
            data["list"]["description"],
            data["features"],
        )
    else:
        data = feature_export(explorer, stats, args.feature)
        title, description, features = f"Feature {args.feature}", "", [data]
    text = json.dumps(data, indent=1) if args.format == "json" else export_html(title, features, description)
    if args.out:
        try:
            Path(args.out).write_text(text)
        except OSError as error:
            raise ExplorerError(f"Cannot write {args.out}: {error.strerror}.") from None
        return {
            "written": str(args.out),
            "format": args.format,
            "features": [int(f["index"]) for f in features],
        }
    return data


def cmd_feature(args: argparse.Namespace) -> dict[str, Any]:
    """One feature's dashboard as JSON (statistics computed first if not cached)."""
    from explorer.feature_stats import histogram, nearest_by_decoder, quantile_examples, top_examples
    from explorer.features import check_feature_ids, direct_logit_effects

    explorer = _load(args)
    feature = check_feature_ids(explorer, [args.id])[0]
    stats, _ = _stats(args, explorer)
    effect = direct_logit_effects(explorer, [feature], n=10)[0].to_dict()
    centres, counts = histogram(stats, feature)
    from explorer.labels import label_map

    label = label_map(explorer, [feature]).get(feature)
    return {
        "feature": feature,
        "label": label.text if label else "",
        "label_kind": label.kind if label else None,
        "density": float(stats.density[feature]),
        "max_activation": float(stats.max_acts[feature]),
        "mean_activation_when_active": float(stats.mean_nonzero[feature]),
        "top_examples": [e.to_dict() for e in top_examples(stats, explorer, feature)],
        "quantile_examples": {
            label: [e.to_dict() for e in band] for label, band in quantile_examples(stats, explorer, feature)
        },
        "histogram": {"bin_centres": centres, "counts": counts},
        "top_logits": effect["top_logits"],
        "bottom_logits": effect["bottom_logits"],
        "nearest_features": [{"feature": f, "cosine": c} for f, c in nearest_by_decoder(explorer, feature)],
    }


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    """Create a run from a spec file, train it in its own process, stream progress to stderr."""
    import time
    from pathlib import Path

    from explorer.training import (
        TrainSpec,
        create_run,
        read_metrics,
        read_status,
        refresh,
        start_worker,
        submit_to_cluster,
    )

    try:
        spec = TrainSpec.from_dict(json.loads(Path(args.spec).read_text()))
    except OSError as error:
        raise ExplorerError(f"Cannot read the spec file: {error}.") from None
    except (json.JSONDecodeError, TypeError) as error:
        raise ExplorerError(f"The spec file is not a valid spec: {error}.") from None
    from explorer.bundle import DEMO_MODEL_NAME
    from explorer.models import load_model

    # The demo model is cheap to load for checking the hook and context; a large model is checked by the worker.
    model = load_model(spec.model).model if spec.model == DEMO_MODEL_NAME else None
    run_dir = create_run(spec, model=model)
    if spec.backend_spec.kind == "local":
        start_worker(run_dir)
        print(f"run {run_dir.name} started; log: {run_dir / 'log.txt'}", file=sys.stderr)
    else:  # the cluster's scheduler starts it; this command follows it as it would a local run
        try:
            job_id = submit_to_cluster(run_dir, spec)
        except ExplorerError as error:
            status = read_status(run_dir)
            if status is not None:
                status.state, status.ended, status.error = "failed", time.time(), str(error)
                from explorer.training import write_status

                write_status(run_dir, status)
            raise
        print(f"run {run_dir.name} submitted to {spec.backend_spec.kind} as job {job_id}; log: {run_dir / 'log.txt'}",
              file=sys.stderr)  # fmt: skip
    try:
        while (status := refresh(run_dir)) is not None and status.state in ("queued", "running"):
            metrics = read_metrics(run_dir)
            if metrics:
                done = metrics[-1]["tokens"]
                print(f"\r{done:,}/{spec.training_tokens:,} tokens", end="", file=sys.stderr, flush=True)
            time.sleep(1.0)
    except KeyboardInterrupt:
        from explorer.training import cancel_run

        status = cancel_run(run_dir)
    print(file=sys.stderr)
    assert status is not None
    if status.state == "failed":
        raise ExplorerError(f"Run {run_dir.name} failed: {status.error}")
    return {
        "run_dir": str(run_dir),
        "id": run_dir.name,
        "status": status.state,
        "sae_path": str(run_dir / "sae"),
    }


def cmd_runs(args: argparse.Namespace) -> list[dict[str, Any]]:  # noqa: ARG001
    """Every training run: id, status, progress, sae_path."""
    from explorer.training import list_runs

    return [info.to_dict() for info in list_runs()]


def cmd_cancel(args: argparse.Namespace) -> dict[str, Any]:
    """Cancel a queued or running run."""
    from explorer.paths import runs_dir
    from explorer.sources import parse_sae_source
    from explorer.training import cancel_run

    run_id = parse_sae_source(f"run:{args.id}").name  # validates the id
    if not (runs_dir() / run_id).is_dir():
        raise ExplorerError(f"No run '{run_id}' in {runs_dir()}.")
    return {"id": run_id, "status": cancel_run(runs_dir() / run_id).state}


def _dataset_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--dataset",
        default="demo",
        help="demo, a .txt/.jsonl/.parquet/.csv file, a saved dataset dir, or a hub name",
    )
    group.add_argument("--text-file", default=None, help="a text file with one document per line")
    parser.add_argument("--n-prompts", type=int, default=64, help="rows of context_size tokens to sample")
    parser.add_argument(
        "--context-size", type=int, default=None, help="default: the SAE's metadata context_size"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subcommand per capability."""
    parser = argparse.ArgumentParser(
        prog="python -m explorer", description="SAE Feature Explorer command line"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    common = _common_options()
    info = sub.add_parser("info", parents=[common], help="print what a source loads, as JSON")
    info.set_defaults(handler=cmd_info)
    prompt = sub.add_parser("prompt", parents=[common], help="feature activations on a prompt")
    prompt.add_argument("--text", required=True)
    prompt.add_argument("--k", type=int, default=10)
    prompt.add_argument("--prepend-bos", action=argparse.BooleanOptionalAction, default=None)
    prompt.set_defaults(handler=cmd_prompt)
    metrics = sub.add_parser(
        "metrics", parents=[common], help="sparsity and reconstruction metrics on a dataset"
    )
    _dataset_options(metrics)
    metrics.add_argument("--batch-size", type=int, default=None, help="default: sized to free memory")
    metrics.add_argument(
        "--no-loss", action="store_true", help="skip CE loss and KL (runs the model only to the hook)"
    )
    metrics.set_defaults(handler=cmd_metrics)
    generate = sub.add_parser("generate", parents=[common], help="generate with and without the SAE")
    generate.add_argument("--text", required=True)
    generate.add_argument("--max-new-tokens", type=int, default=40)
    generate.add_argument("--temperature", type=float, default=0.8)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--no-stop-at-eos", action="store_true")
    generate.add_argument("--use-error-term", action="store_true", help="splice with the SAE's error term")
    generate.add_argument(
        "--ablate", type=int, nargs="*", default=[], help="feature ids to zero in the spliced run"
    )
    generate.set_defaults(handler=cmd_generate)
    steer = sub.add_parser(
        "steer", parents=[common], help="generate with features steered, beside the default"
    )
    steer.add_argument("--text", required=True)
    steer.add_argument(
        "--feature",
        action="append",
        default=[],
        metavar="F:STRENGTH",
        help="add STRENGTH x W_dec[F] at the hook (repeatable)",
    )
    steer.add_argument(
        "--clamp",
        action="append",
        default=[],
        metavar="F:VALUE",
        help="clamp feature F's activation to VALUE (SAE spliced with its error term)",
    )
    steer.add_argument("--ablate", action="append", default=[], metavar="F", help="set feature F to zero")
    steer.add_argument("--max-new-tokens", type=int, default=40)
    steer.add_argument("--temperature", type=float, default=0.8)
    steer.add_argument("--seed", type=int, default=0)
    steer.add_argument("--no-stop-at-eos", action="store_true")
    steer.set_defaults(handler=cmd_steer)
    attribute = sub.add_parser(
        "attribute", parents=[common], help="which features made the model predict a token at a position"
    )
    attribute.add_argument("--text", required=True)
    attribute.add_argument("--position", type=int, default=-1, help="token index (default: the last, -1)")
    target = attribute.add_mutually_exclusive_group()
    target.add_argument(
        "--target", default=None, help="the token (' red', red or #ID); default: top prediction"
    )
    target.add_argument("--contrast", default=None, help="A:B, for logit(A) - logit(B)")
    attribute.add_argument("--metric", choices=["logit", "logprob"], default="logit")
    attribute.add_argument("--top", type=int, default=20, help="features to list (by |attribution|)")
    attribute.add_argument(
        "--check-ablation",
        action="store_true",
        help="also zero each listed feature and record the real effect",
    )
    attribute.add_argument(
        "--ablate-at", choices=["position", "all"], default="position",
        help="list (feature, position) pairs, or features summed over positions and ablated at all of them",
    )  # fmt: skip
    attribute.add_argument("--prepend-bos", action=argparse.BooleanOptionalAction, default=None)
    attribute.set_defaults(handler=cmd_attribute)
    label = sub.add_parser(
        "label", parents=[common], help="label a feature, or import Neuronpedia explanations"
    )
    label.add_argument("feature", type=int, nargs="?")
    label.add_argument("text", nargs="?", help="the label (empty removes it)")
    label.add_argument("--import-neuronpedia", metavar="FILE", help="a Neuronpedia explanation export (JSON)")
    label.add_argument(
        "--explain",
        type=int,
        metavar="F",
        help="have the LLM endpoint (SAE_EXPLORER_LLM_URL) explain feature F",
    )
    _dataset_options(label)
    label.add_argument("--n-tokens", type=int, default=None, help="statistics sample for --explain")
    label.set_defaults(handler=cmd_label)
    search = sub.add_parser("search", parents=[common], help="search features by their labels and notes")
    search.add_argument("text")
    search.add_argument("--limit", type=int, default=50)
    search.set_defaults(handler=cmd_search)
    export = sub.add_parser("export", parents=[common], help="export a feature or a list (HTML or JSON)")
    export.add_argument("--feature", type=int)
    export.add_argument("--list", help="a list's name")
    export.add_argument("--format", choices=["html", "json"], default="html")
    export.add_argument("--out", help="the file to write (HTML must go to a file; JSON prints without it)")
    _dataset_options(export)
    export.add_argument("--n-tokens", type=int, default=None, help="default: 1,048,576 on CUDA, else 65,536")
    export.set_defaults(handler=cmd_export)
    compare = sub.add_parser("compare", parents=[common], help="compare --sae with --other on the same model")
    compare.add_argument("--other", required=True, help="the second SAE's source")
    compare.add_argument("--feature", type=int, default=None, help="a feature of --sae to match in --other")
    compare.add_argument("--no-loss", action="store_true", help="skip CE loss and KL")
    _dataset_options(compare)
    compare.set_defaults(handler=cmd_compare)
    stats = sub.add_parser("stats", parents=[common], help="compute (or reuse) every feature's statistics")
    _dataset_options(stats)
    stats.add_argument("--n-tokens", type=int, default=None, help="default: 1,048,576 on CUDA, else 65,536")
    stats.add_argument(
        "--ray", metavar="ADDRESS", help="shard the pass over a Ray cluster (or SAE_EXPLORER_RAY)"
    )
    stats.add_argument("--workers", type=int, default=2, help="Ray tasks (one GPU each on CUDA)")
    stats.set_defaults(handler=cmd_stats)
    feature = sub.add_parser("feature", parents=[common], help="one feature's dashboard as JSON")
    feature.add_argument("--id", type=int, required=True)
    _dataset_options(feature)
    feature.add_argument("--n-tokens", type=int, default=None, help="default: 1,048,576 on CUDA, else 65,536")
    feature.set_defaults(handler=cmd_feature)
    train = sub.add_parser("train", help="train an SAE from a spec file (see examples/train-demo.json)")
    train.add_argument("spec")
    train.set_defaults(handler=cmd_train)
    sub.add_parser("runs", help="list training runs").set_defaults(handler=cmd_runs)
    cancel = sub.add_parser("cancel", help="cancel a training run")
    cancel.add_argument("id")
    cancel.set_defaults(handler=cmd_cancel)
    releases = sub.add_parser("releases", help="list demo SAEs and SAE-Lens pretrained releases")
    releases.add_argument("release", nargs="?", help="list the SAE ids of this release")
    releases.set_defaults(handler=cmd_releases)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; return the process exit status."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], Any] = args.handler
    try:
        # Libraries print progress to stdout; keep stdout for the JSON answer alone.
        with contextlib.redirect_stdout(sys.stderr), out_of_memory_as_error("running the command"):
            result = handler(args)
    except ExplorerError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as error:  # an unexpected failure: still one clear line unless debugging
        if os.environ.get("SAE_EXPLORER_DEBUG"):
            raise
        print(
            f"error: unexpected {type(error).__name__}: {error} (set SAE_EXPLORER_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return EXIT_UNEXPECTED
    bad = first_non_finite(result)
    if bad is not None:
        print(
            f"error: the result holds a number that cannot be right ({bad}); nothing was printed.",
            file=sys.stderr,
        )
        return EXIT_USER_ERROR
    json.dump(result, sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")
    return 0


def first_non_finite(value: Any, path: str = "result") -> str | None:
    """The path and value of the first NaN or infinite float in a JSON-like result, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{path} = {value}"
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = first_non_finite(item, f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]")
        if found:
            return found
    return None


if __name__ == "__main__":
    sys.exit(main())
