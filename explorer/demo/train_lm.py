"""Train the demo bundle's tokenizer and language model on the synthetic story corpus.

The tokenizer is a byte-level BPE trained with Hugging Face `tokenizers` and saved in Hugging Face
format; the model is a small TransformerLens `HookedTransformer` trained from scratch on CPU.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from sae_lens.tokenization_and_batching import concat_and_batch_sequences
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformer_lens import HookedTransformer, HookedTransformerConfig
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

SPECIAL_TOKEN = "<|endoftext|>"  # BOS, EOS and padding, as in GPT-2


def train_tokenizer(texts: Sequence[str], vocab_size: int, out_dir: Path) -> PreTrainedTokenizerBase:
    """Train a byte-level BPE on `texts`, save it in Hugging Face format and load it back from disk."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[SPECIAL_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=SPECIAL_TOKEN,
        eos_token=SPECIAL_TOKEN,
        pad_token=SPECIAL_TOKEN,
        unk_token=SPECIAL_TOKEN,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out_dir))
    # Loaded from disk: HookedTransformer rebuilds tokenizers from `name_or_path`.
    return AutoTokenizer.from_pretrained(str(out_dir))


@dataclass(frozen=True)
class LMTrainingConfig:
    """Hyper-parameters of the demo language model and its training run."""

    n_layers: int = 2
    d_model: int = 128
    n_heads: int = 4
    d_mlp: int = 512
    n_ctx: int = 256
    # Many small steps: at this budget they beat fewer large ones. Loss on the hand-written stories after
    # 1.44 M tokens: 3.83 at 4 rows x lr 3e-3, 3.94 at 8 x 4e-3, 4.08 at 16 x 4e-3, 4.44 at 32 x 2e-3;
    # after 3 M tokens, 2 rows x 3e-3 (3.57) beat 4 x 3e-3 (3.60).
    batch_size: int = 2
    lr: float = 3e-3
    warmup_steps: int = 50
    weight_decay: float = 0.05
    # A little smoothing keeps predictions from the generator's certainty; loss on the hand-written stories
    # after 3 M tokens: 3.44 at 0.05, 3.44 at 0, 3.51 at 0.1, 3.61 at 0.2.
    label_smoothing: float = 0.05
    # The saved weights are an exponential moving average of the last steps' weights (half-life ~350
    # steps): at batch 2 the last few batches otherwise move the weights visibly. With the build's rows,
    # loss on the hand-written stories went 3.516 -> 3.501 and 3.451 -> 3.448 for two data orders.
    ema_decay: float | None = 0.998
    seed: int = 0


def model_config(cfg: LMTrainingConfig, d_vocab: int, model_name: str) -> HookedTransformerConfig:
    """The HookedTransformerConfig of the demo model."""
    return HookedTransformerConfig(
        n_layers=cfg.n_layers,
        d_model=cfg.d_model,
        n_heads=cfg.n_heads,
        d_head=cfg.d_model // cfg.n_heads,
        d_mlp=cfg.d_mlp,
        n_ctx=cfg.n_ctx,
        d_vocab=d_vocab,
        act_fn="gelu",
        normalization_type="LN",
        positional_embedding_type="standard",
        model_name=model_name,
        default_prepend_bos=True,
        seed=cfg.seed,
    )


def fast_logits(model: HookedTransformer, tokens: torch.Tensor) -> torch.Tensor:
    """The demo model's logits [batch, pos, d_vocab] for training, without TransformerLens' hook points.

    The same computation as ``model(tokens)`` on the model's own parameters (so gradients reach them),
    through fused LayerNorm and causal scaled-dot-product attention; only for the demo's architecture
    (LayerNorm, learned positions, GELU, no attention-only or rotary options).
    """
    cfg = model.cfg
    if (cfg.normalization_type, cfg.positional_embedding_type, cfg.act_fn) != ("LN", "standard", "gelu"):
        raise ValueError(f"fast_logits supports the demo architecture only, not {cfg.model_name}")
    n_batch, n_pos = tokens.shape
    width = (cfg.d_model,)
    x = model.embed.W_E[tokens] + model.pos_embed.W_pos[:n_pos]  # [batch, pos, d_model]
    for block in model.blocks:
        attn = block.attn
        h = torch.nn.functional.layer_norm(x, width, block.ln1.w, block.ln1.b, cfg.eps)
        weights = torch.cat([attn.W_Q, attn.W_K, attn.W_V])  # [3 * n_heads, d_model, d_head]
        biases = torch.cat([attn.b_Q, attn.b_K, attn.b_V])  # [3 * n_heads, d_head]
        qkv = torch.einsum("bpd,kdh->bkph", h, weights) + biases[None, :, None]
        q, k, v = qkv.split(cfg.n_heads, dim=1)  # each [batch, n_heads, pos, d_head]
        z = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + torch.einsum("bnph,nhd->bpd", z, attn.W_O) + attn.b_O
        h = torch.nn.functional.layer_norm(x, width, block.ln2.w, block.ln2.b, cfg.eps)
        hidden = torch.nn.functional.gelu(h @ block.mlp.W_in + block.mlp.b_in)
        x = x + hidden @ block.mlp.W_out + block.mlp.b_out
    x = torch.nn.functional.layer_norm(x, width, model.ln_final.w, model.ln_final.b, cfg.eps)
    return x @ model.unembed.W_U + model.unembed.b_U


def packed_batches(
    texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, context_size: int
) -> torch.Tensor:
    """Tokenize, concatenate with BOS separators and cut into rows of `context_size`, as SAE-Lens does."""
    bos = tokenizer.bos_token_id

    def token_iter() -> Iterator[torch.Tensor]:
        for text in texts:
            yield torch.tensor(tokenizer(text)["input_ids"], dtype=torch.long)

    rows = list(
        concat_and_batch_sequences(
            token_iter(),
            context_size=context_size,
            begin_batch_token_id=bos,
            sequence_separator_token_id=bos,
        )
    )
    return torch.stack(rows)  # [n_rows, context_size]


@contextlib.contextmanager
def deterministic_algorithms() -> Iterator[None]:
    """Run the block (or the decorated function) with `torch.use_deterministic_algorithms(True)`; restore
    the caller's setting after.

    On the CPU, some backward kernels otherwise sum in an order that depends on thread timing, so two
    trainings of the demo model from the same seed end with different last bits.
    """
    enabled, warn_only = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


@deterministic_algorithms()
def train_language_model(
    model: HookedTransformer,
    train_rows: torch.Tensor,
    cfg: LMTrainingConfig,
    log_every: int = 500,
) -> list[float]:
    """Train `model` for one epoch over `train_rows` with AdamW, warm-up + cosine decay and label smoothing.

    With `cfg.ema_decay`, the model ends with the exponential moving average of its weights over the steps.
    Bitwise reproducible on a given machine and thread count. Returns the training losses
    (label-smoothed cross-entropy).
    """
    torch.manual_seed(cfg.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    averaged = (
        torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(cfg.ema_decay)
        )
        if cfg.ema_decay is not None
        else None
    )
    order = torch.randperm(len(train_rows))
    n_steps = len(train_rows) // cfg.batch_size

    def lr_at(step: int) -> float:
        if step < cfg.warmup_steps:
            return cfg.lr * (step + 1) / cfg.warmup_steps
        progress = (step - cfg.warmup_steps) / max(1, n_steps - cfg.warmup_steps)
        return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))

    losses: list[float] = []
    model.train()
    start = time.time()
    for step in range(n_steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        batch = train_rows[order[step * cfg.batch_size : (step + 1) * cfg.batch_size]]
        logits = fast_logits(model, batch)  # [batch, pos, d_vocab]
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]),
            batch[:, 1:].reshape(-1),
            label_smoothing=cfg.label_smoothing,
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if averaged is not None:
            averaged.update_parameters(model)
        losses.append(loss.item())
        if step % log_every == 0 or step == n_steps - 1:
            print(
                f"  lm step {step + 1}/{n_steps} loss {loss.item():.3f} ({time.time() - start:.0f}s)",
                flush=True,
            )
    if averaged is not None:
        model.load_state_dict(averaged.module.state_dict())
    model.eval()
    return losses


@torch.no_grad()
def mean_next_token_loss(model: HookedTransformer, rows: torch.Tensor, batch_size: int = 32) -> float:
    """Mean next-token cross-entropy of `model` over all positions of `rows`."""
    total, count = 0.0, 0
    for i in range(0, len(rows), batch_size):
        batch = rows[i : i + batch_size]
        loss = model(batch, return_type="loss", loss_per_token=True)  # [batch, pos-1]
        total += loss.sum().item()
        count += loss.numel()
    return total / count
