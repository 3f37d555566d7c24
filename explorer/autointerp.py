"""Optional explanations written by an LLM from a feature's top examples (Neuronpedia-style auto-interp).

Never required and never called unless the user sets an OpenAI-compatible endpoint:
`SAE_EXPLORER_LLM_URL` (the API base, e.g. `http://127.0.0.1:8000/v1`), `SAE_EXPLORER_LLM_MODEL`, and
optionally `SAE_EXPLORER_LLM_KEY`. The prompt lists the max-activating examples with the activating
token marked, as Neuronpedia's explainer does; the answer is stored as a label of kind "llm" (a user's
own label still wins).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass

from explorer.errors import ExplorerError
from explorer.feature_stats import FeatureStats, top_examples
from explorer.labels import sae_identity
from explorer.loading import Explorer
from explorer.store import MAX_LABEL, set_label

URL_ENV, MODEL_ENV, KEY_ENV = "SAE_EXPLORER_LLM_URL", "SAE_EXPLORER_LLM_MODEL", "SAE_EXPLORER_LLM_KEY"
SYSTEM_PROMPT = (
    "You explain features of a sparse autoencoder trained on a language model's activations. You see text "
    "excerpts where the feature fires, the token it fires on most marked as <<token>> and its activation. "
    "Answer with one short phrase (at most 12 words) naming what the feature detects. No preamble."
)


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible chat-completions endpoint."""

    url: str
    model: str
    key: str | None = None


def configured_endpoint() -> Endpoint | None:
    """The endpoint the environment names, or None when auto-interp is not set up."""
    url, model = os.environ.get(URL_ENV, "").strip(), os.environ.get(MODEL_ENV, "").strip()
    if not url:
        return None
    if not model:
        raise ExplorerError(
            f"{URL_ENV} is set but {MODEL_ENV} is not.", hint="Name the model the endpoint serves."
        )
    return Endpoint(url.rstrip("/"), model, os.environ.get(KEY_ENV) or None)


def explanation_prompt(explorer: Explorer, stats: FeatureStats, feature: int, n_examples: int = 12) -> str:
    """The user message: the feature's top examples, each with its activating token marked."""
    examples = top_examples(stats, explorer, feature)[:n_examples]
    if not examples:
        raise ExplorerError(f"Feature {feature} never fired on the sample: there is nothing to explain.")
    lines = []
    for i, example in enumerate(examples, start=1):
        tokens = list(example.tokens)
        tokens[example.position] = f"<<{tokens[example.position]}>>"
        lines.append(f"{i}. (activation {example.max_activation:.2f}) {''.join(tokens)!r}")
    return f"Feature {feature}. Excerpts where it fires most:\n" + "\n".join(lines)


def explain(
    explorer: Explorer, stats: FeatureStats, feature: int, endpoint: Endpoint, timeout_s: float = 60
) -> str:
    """Ask the endpoint to explain the feature; store and return the explanation (a label of kind "llm")."""
    body = {
        "model": endpoint.model,
        "temperature": 0,
        "max_tokens": 60,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": explanation_prompt(explorer, stats, feature)},
        ],
    }
    headers = {"Content-Type": "application/json"}
    if endpoint.key:
        headers["Authorization"] = f"Bearer {endpoint.key}"
    request = urllib.request.Request(
        f"{endpoint.url}/chat/completions", data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - the user's own endpoint
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise ExplorerError(
            f"The LLM endpoint {endpoint.url} answered {error.code} {error.reason}."
        ) from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ExplorerError(f"The LLM endpoint {endpoint.url} cannot be reached: {reason}.",
                            hint=f"Check {URL_ENV}.") from None  # fmt: skip
    except json.JSONDecodeError:
        raise ExplorerError(f"The LLM endpoint {endpoint.url} did not answer with JSON.") from None
    try:
        text = str(answer["choices"][0]["message"]["content"])
    except (KeyError, IndexError, TypeError):
        raise ExplorerError(f"The LLM endpoint {endpoint.url} gave no chat completion.") from None
    text = " ".join(text.split()).strip("\"'")[:MAX_LABEL]
    if not text:
        raise ExplorerError("The LLM endpoint gave an empty explanation.")
    set_label(sae_identity(explorer), feature, text, kind="llm")
    return text
