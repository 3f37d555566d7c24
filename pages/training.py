"""Training: launch SAE-Lens runs from a form, watch them live, cancel, resume, open the result."""

from __future__ import annotations

import time

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from explorer.backends import BACKEND_KINDS, BackendSpec, job_pending
from explorer.bundle import DEMO_MODEL_NAME
from explorer.devices import available_memory_bytes
from explorer.errors import ExplorerError
from explorer.paths import confine_paths, runs_dir
from explorer.training import (
    SPARSITY_PARAMETER,
    TrainSpec,
    cancel_run,
    create_run,
    default_sparsity,
    latest_checkpoint,
    list_runs,
    log_tail,
    read_metrics,
    read_status,
    resume_run,
    schedule,
    training_architectures,
    validate_resources,
    validate_spec,
)
from explorer.ui import ensure_entrypoint_ran, show_error

st.title("Train an SAE")
st.caption(
    "Runs train with SAE-Lens' LanguageModelSAETrainingRunner in their own process, one at a time per device; "
    f"their folders live in `{runs_dir()}` and survive app restarts. The defaults train a useful SAE on the "
    "demo model in one to two minutes on a CPU."
)
ensure_entrypoint_ran()
confine_paths()  # typed model and dataset paths stay under the allowed roots (app.py does it too)
defaults = TrainSpec()
loaded = st.session_state.get("explorer")


def kept(key: str) -> dict[str, object]:
    """Widget arguments that keep a form field's value for the whole session, across pages."""
    return {"key": f"train_{key}", "persist_state": "session"}


st.subheader("What to train")
architecture = st.selectbox(  # outside the form: the sparsity field below follows it at once
    "Architecture", training_architectures(), index=training_architectures().index(defaults.architecture),
    **kept("architecture"),
)  # fmt: skip
parameter = SPARSITY_PARAMETER.get(architecture, "l1_coefficient")
with st.form("train"):
    c1, c2, c3 = st.columns(3)
    model = c1.text_input(
        "Model",
        value=defaults.model,
        help=f"'{DEMO_MODEL_NAME}', a TransformerLens model name, or a local model directory.",
        **kept("model"),
    )
    if loaded is not None and model == loaded.model_name:
        hooks = [h for h in loaded.model.hook_dict if not h.endswith(("hook_sae_input", "hook_sae_acts_pre"))]
        hook_name = c2.selectbox(
            "Hook point", hooks, index=hooks.index(defaults.hook_name) if defaults.hook_name in hooks else 0,
            **kept("hook_select"),
        )  # fmt: skip
    else:
        hook_name = c2.text_input("Hook point", value=defaults.hook_name, **kept("hook_text"))
    dataset = c3.text_input("Dataset", value=defaults.dataset, **kept("dataset"),
                            help="demo-train (fresh demo stories), demo (held-out split), a local .txt/.jsonl/.parquet/.csv "
                            "file or saved dataset directory, or a hub dataset when the hub is reachable.")  # fmt: skip
    c1, c2 = st.columns(2)
    help_text = (
        f"{architecture}'s sparsity parameter in SAE-Lens ("
        + "; ".join(f"{a}: {p}" for a, p in SPARSITY_PARAMETER.items())
        + ")"
    )
    if parameter == "k":
        sparsity: float = c1.number_input(
            "k (active features per token)", 1, 2**22, int(default_sparsity(architecture)), step=1,
            help=help_text, **kept(f"sparsity_{architecture}"),
        )  # fmt: skip
    else:
        sparsity = c1.number_input(
            parameter, 0.0, 1e6, default_sparsity(architecture), format="%.4g", help=help_text,
            **kept(f"sparsity_{architecture}"),
        )  # fmt: skip
    d_sae = c2.number_input("Width d_sae", 1, 2**22, defaults.d_sae, **kept("d_sae"))
    st.subheader("Schedule")
    c1, c2, c3, c4 = st.columns(4)
    training_tokens = c1.number_input(
        "Training tokens", 1, 10**12, defaults.training_tokens, step=100_000, **kept("tokens")
    )
    lr = c2.number_input("Learning rate", 0.0, 1.0, defaults.lr, format="%.5f", **kept("lr"))
    warm_up = c3.number_input("LR warm-up steps", 0, 10**7, defaults.lr_warm_up_steps, **kept("warm_up"),
                              help="Steps are batches: training tokens / batch size.")  # fmt: skip
    decay = c4.number_input("LR decay steps", 0, 10**7, defaults.lr_decay_steps, **kept("decay"),
                            help="Warm-up + decay must fit in the run's steps.")  # fmt: skip
    c1, c2, c3, c4 = st.columns(4)
    batch_tokens = c1.number_input(
        "Batch size (tokens)", 1, 10**7, defaults.train_batch_size_tokens, **kept("batch_tokens")
    )
    context_size = c2.number_input("Context size", 1, 10**6, defaults.context_size, **kept("context"))
    buffer = c3.number_input("n_batches_in_buffer", 1, 10**5, defaults.n_batches_in_buffer, **kept("buffer"))
    store_batch = c4.number_input(
        "Store batch (prompts)", 1, 10**5, defaults.store_batch_size_prompts, **kept("store_batch")
    )
    c1, c2, c3, c4, c5 = st.columns(5)
    dtype = c1.selectbox("Dtype", ["float32", "bfloat16", "float16"], **kept("dtype"))
    device = c2.selectbox("Device", ["cpu", "cuda", "mps"], **kept("device"))
    n_checkpoints = c3.number_input("Checkpoints", 0, 1000, defaults.n_checkpoints, **kept("checkpoints"))
    seed = c4.number_input("Seed", 0, 2**31 - 1, defaults.seed, **kept("seed"))
    log_to_wandb = c5.toggle("Weights & Biases", value=False, **kept("wandb"))
    name = st.text_input("Run name (optional)", **kept("name"))
    st.subheader("Where it runs")
    backend_kind = st.radio(
        "Backend", BACKEND_KINDS, horizontal=True, **kept("backend"),
        format_func={"local": "This machine (a background process)", "slurm": "Slurm (sbatch)",
                     "ray": "Ray (Jobs API)"}.get,
        help="A cluster job runs the same worker and writes into the same runs folder, which the cluster must share.",
    )  # fmt: skip
    c1, c2, c3, c4, c5 = st.columns(5)
    partition = c1.text_input("Partition", placeholder="cluster default", **kept("partition"))
    time_limit = c2.text_input("Time limit", value=BackendSpec().time_limit, **kept("time_limit"),
                               help="Slurm's --time, e.g. 02:00:00 or 1-00:00:00.")  # fmt: skip
    gpus = c3.number_input("GPUs", 0, 64, 0, **kept("gpus"))
    cpus = c4.number_input("CPUs", 1, 1024, BackendSpec().cpus, **kept("cpus"))
    memory = c5.text_input(
        "Memory", placeholder="partition default", **kept("memory"), help="Slurm's --mem, e.g. 16G."
    )
    ray_address = st.text_input("Ray Jobs address", placeholder="http://HEAD:8265", **kept("ray_jobs"),
                                help="For the Ray backend: the head's dashboard address (GPUs and CPUs above apply).")  # fmt: skip
    submitted = st.form_submit_button("Launch", type="primary")

if submitted:
    spec = TrainSpec(
        model=model.strip(), hook_name=hook_name, dataset=dataset.strip(), architecture=architecture, sparsity=float(sparsity),
        d_sae=int(d_sae), lr=lr, lr_warm_up_steps=int(warm_up), lr_decay_steps=int(decay),
        training_tokens=int(training_tokens), train_batch_size_tokens=int(batch_tokens), context_size=int(context_size),
        n_batches_in_buffer=int(buffer), store_batch_size_prompts=int(store_batch), dtype=dtype, device=device,
        n_checkpoints=int(n_checkpoints), seed=int(seed), log_to_wandb=log_to_wandb, name=name,
        backend={"kind": backend_kind} if backend_kind == "local" else BackendSpec(
            backend_kind, partition.strip(), time_limit.strip(), int(gpus), int(cpus), memory.strip(),
            ray_address.strip()).to_dict(),
    )  # fmt: skip
    errors = validate_spec(spec, available_memory_bytes(spec.device) if device == "cpu" else None)
    if not errors:
        # Hook and context are checked against the loaded model when the spec names it (or the demo model,
        # which is cheap); any other model is checked by the run itself when it starts.
        model_for_checks = loaded.model if loaded is not None and spec.model == loaded.model_name else None
        with st.spinner("Checking the dataset…"):
            errors = validate_resources(spec, model_for_checks)
    if errors:
        st.error("The run was not launched:\n\n" + "\n".join(f"- **{e.field}**: {e.message}" for e in errors))
    else:
        try:
            run_dir = create_run(spec, check_resources=False)
            started = schedule()
            if backend_kind != "local":
                status = read_status(run_dir)
                if status is not None and status.job_id:
                    st.success(
                        f"Run `{run_dir.name}` submitted to {backend_kind.capitalize()} as job {status.job_id}."
                    )
                else:
                    st.error(status.error if status and status.error else "The run could not be submitted.")
            else:
                st.success(
                    f"Run `{run_dir.name}` "
                    + ("started." if run_dir.name in started else "queued behind the running one.")
                )
        except ExplorerError as error:
            show_error(error)


def metric_chart(rows: list[dict]) -> go.Figure:
    """MSE, L0, explained variance and dead features against training tokens (axes from 0, whole numbers)."""
    panels = [("losses/mse_loss", "MSE"), ("metrics/l0", "L0"), ("metrics/explained_variance", "explained variance"),
              ("sparsity/dead_features", "dead features")]  # fmt: skip
    fig = make_subplots(rows=1, cols=4, subplot_titles=[title for _, title in panels])
    tokens = [r["tokens"] for r in rows]
    for column, (key, title) in enumerate(panels, start=1):
        fig.add_trace(
            go.Scatter(x=tokens, y=[r.get(key) for r in rows], mode="lines+markers", name=title),
            row=1, col=column,
        )  # fmt: skip
        fig.update_yaxes(title_text=title, rangemode="tozero", row=1, col=column)
    fig.update_xaxes(title_text="training tokens", range=[0, max(tokens) * 1.05 or 1], tickformat="~s")
    fig.update_layout(height=260, showlegend=False, margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig


def openable_state(runs: list) -> list[str]:
    """What the "Trained SAEs" list shows: each run that has an SAE to open, and whether it is the final one."""
    return [
        f"{info.id}:{info.status.state}:{'final' if info.sae_path else 'checkpoint'}"
        for info in runs
        if info.sae_path or latest_checkpoint(runs_dir() / info.id)
    ]


def open_trained_saes() -> None:
    """One "Open in explorer" button per run with an SAE (final or checkpoint), outside the refreshing fragment.

    A link inside a `run_every` fragment can vanish under the pointer when the fragment redraws; these
    are drawn by the page itself, which the fragment reruns once whenever the set of openable runs changes.
    """
    runs = list_runs()
    openable = [info for info in runs if info.sae_path or latest_checkpoint(runs_dir() / info.id)]
    st.session_state["openable_runs"] = openable_state(runs)
    if not openable:
        return
    st.subheader("Trained SAEs")
    for info in openable[:5]:
        c1, c2 = st.columns([4, 1])
        what = "final SAE" if info.sae_path else "latest checkpoint"
        c1.markdown(
            f"`{info.id}` · {info.status.state} · {what}"
            + (f" · {info.spec.name}" if info.spec and info.spec.name else "")
        )
        # A link, not a button: the browser switches pages itself, so no refresh of the runs panel that
        # it sent before the switch can land after it. The URL names the run, and the sidebar opens an
        # SAE that a page switch names (ui.follow_url_source).
        c2.page_link("pages/home.py", label="Open in explorer", icon=":material/open_in_new:",
                     query_params={"sae": f"run:{info.id}"})  # fmt: skip


@st.fragment(run_every=2)
def runs_panel() -> None:
    """The runs list, refreshed every two seconds without rerunning the page."""
    schedule()  # start whatever is queued when a slot is free
    runs = list_runs()
    openable = openable_state(runs)
    if openable != st.session_state.get("openable_runs", openable):
        st.rerun()  # the whole page, so its "Open in explorer" buttons show the new run or its final SAE
    st.subheader(f"Runs ({len(runs)})")
    if not runs:
        st.caption("No runs yet.")
    for info in runs[:20]:
        spec = info.spec
        title = f"`{info.id}` · **{info.status.state}**" + (f" · {spec.name}" if spec and spec.name else "")
        with st.container(border=True):
            st.markdown(title)
            if spec is not None:
                st.caption(f"{spec.architecture} · d_sae {spec.d_sae} · {spec.sparsity_parameter} {spec.sparsity} · "
                           f"{spec.hook_name} · {spec.training_tokens:,} tokens on {spec.device}")  # fmt: skip
            if info.status.job_id and spec is not None:
                kind = spec.backend_spec.kind
                waiting = None
                if info.status.state == "queued":
                    try:
                        waiting = job_pending(spec.backend_spec, info.status.job_id)
                    except ExplorerError as error:
                        waiting = str(error)
                st.caption(f"{kind.capitalize()} job {info.status.job_id}"
                           + (f" · on {info.status.host}" if info.status.host else "")
                           + (f" · waiting in the queue: {waiting}" if waiting else ""))  # fmt: skip
            st.progress(info.progress, text=f"{info.progress:.0%}")
            rows = read_metrics(runs_dir() / info.id)
            if rows:
                last = rows[-1]
                st.caption(f"{last['tokens']:,} tokens · {last.get('tokens_per_s', 0):,.0f} tokens/s · "
                           f"MSE {last.get('losses/mse_loss', float('nan')):.3f} · L0 {last.get('metrics/l0', float('nan')):.1f}")  # fmt: skip
                st.plotly_chart(metric_chart(rows), width="stretch", key=f"chart-{info.id}-{len(rows)}")
            if info.status.error:
                st.error(info.status.error)
            c1, c2, c3 = st.columns(3)
            if info.status.state in ("queued", "running") and c1.button("Cancel", key=f"cancel-{info.id}"):
                cancel_run(runs_dir() / info.id)
                st.rerun(scope="fragment")
            if info.status.state in ("cancelled", "failed") and c2.button("Resume", key=f"resume-{info.id}"):
                try:
                    resume_run(runs_dir() / info.id)
                except ExplorerError as error:
                    show_error(error)
            with c3.popover("Log"):
                st.code(log_tail(runs_dir() / info.id, 40) or "(empty)", language=None, wrap_lines=True)
    st.caption(f"Refreshed {time.strftime('%H:%M:%S')} (every 2 s).")


open_trained_saes()
runs_panel()
