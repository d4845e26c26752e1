"""The behaviour encoder: all-MiniLM-L6-v2 fine-tuned on the default rubric's own anchors.

Frozen MiniLM similarities track topic and style as much as behaviour. Fine-tuning on
pairs of reference responses of one (question, dimension), with a cosine target of
``1 - |level difference| / span``, pulls answers that *do* the same thing together and
pushes different actions apart, whatever their wording. The anchors vary style within
each level, and augmented pairs teach the rest: an anchor and the same anchor padded with
generic filler or politeness, or with typos, are the same (target 1); an anchor whose
actions are negated reads at the mirrored level.

The model is **built, not shipped**: :func:`ensure_behaviour_model` trains it once from a
:class:`Recipe` (base weights hash, rubric fingerprint, seed, hyper-parameters; about five
minutes on two CPU cores) into ``<cache>/models/``, under a file lock so concurrent
workers build it once. Training is seeded and deterministic on one machine; the built
weights' sha256 goes into every score's provenance.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
import shutil
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import msgspec

from screening.augment import FILLER, negate_actions, restated_scenario, with_typos
from screening.rubric import Rubric, rubric_fingerprint

__all__ = [
    "BEHAVIOUR_MODEL",
    "Recipe",
    "behaviour_model_dir",
    "default_recipe",
    "ensure_behaviour_model",
    "training_pairs",
]

BEHAVIOUR_MODEL = "attitude-screening/minilm-behaviour-v1"


class Recipe(msgspec.Struct, frozen=True, kw_only=True):
    """Everything that determines the built weights."""

    base_model: str
    base_weights_sha256: str
    rubric_id: str
    rubric_version: str
    rubric_fingerprint: str
    pairs_per_measure: int = 40
    augmented_per_measure: int = 6
    epochs: int = 1
    batch_size: int = 16
    learning_rate: float = 2e-5
    warmup_share: float = 0.1
    seed: int = 0
    threads: int = 2

    @property
    def key(self) -> str:
        """sha256 of the recipe's canonical JSON."""
        return hashlib.sha256(msgspec.json.encode(self, order="sorted")).hexdigest()


def default_recipe(rubric: Rubric, base_model: str, base_weights_sha256: str) -> Recipe:
    """The recipe of the shipped behaviour encoder for ``rubric`` (the default rubric)."""
    return Recipe(
        base_model=base_model,
        base_weights_sha256=base_weights_sha256,
        rubric_id=rubric.id,
        rubric_version=rubric.version,
        rubric_fingerprint=rubric_fingerprint(rubric),
    )


def behaviour_model_dir(cache_dir: Path, recipe: Recipe) -> Path:
    """Where the model built from ``recipe`` lives."""
    return cache_dir / "models" / f"{BEHAVIOUR_MODEL.rsplit('/', 1)[-1]}-{recipe.key[:16]}"


def training_pairs(rubric: Rubric, recipe: Recipe) -> list[tuple[str, str, float]]:
    """``(text, text, target cosine)`` pairs, in a seeded order."""
    rng = random.Random(recipe.seed)
    scale = rubric.scale
    by_measure: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for reference in rubric.references:
        by_measure[(reference.question, reference.dimension)].append((reference.text, reference.level))
    pairs: list[tuple[str, str, float]] = []
    for key in sorted(by_measure):
        references = by_measure[key]
        candidates = [(a, b) for i, a in enumerate(references) for b in references[i + 1 :]]
        rng.shuffle(candidates)
        pairs += [(a, b, 1 - abs(la - lb) / scale.span) for (a, la), (b, lb) in candidates[: recipe.pairs_per_measure]]
        scenario = restated_scenario(rubric.question(key[0]).prompt)
        denials = [d for d in (negate_actions(t) for t, lv in references if lv <= scale.min + 0.25 * scale.span) if d]
        for text, level in rng.sample(references, min(recipe.augmented_per_measure, len(references))):
            # style: filler and politeness, typos, the scenario restated: none of them changes the level
            pairs.append((text, f"{text} {rng.choice(FILLER)} {rng.choice(FILLER)}", 1.0))
            pairs.append((text, with_typos(text, rng), 1.0))
            if scenario:
                pairs.append((text, f"So {scenario} {text}", 1.0))
            # denying a weak behaviour costs nothing; denying a strong one mirrors the level
            if denials and level > scale.min:
                pairs.append((text, f"{text} {rng.choice(denials)}", 1.0))
            negated = negate_actions(text) if level >= scale.min + 0.75 * scale.span else None
            if negated:
                mirrored = scale.min + scale.max - level
                pairs.append((text, negated, 1 - abs(level - mirrored) / scale.span))
    rng.shuffle(pairs)
    return pairs


def _train(rubric: Rubric, recipe: Recipe, base_path: str, out: Path, log: Callable[[str], None]) -> None:
    """Fine-tune the base model on the recipe's pairs and save it to ``out``."""
    import torch
    from sentence_transformers import SentenceTransformer

    random.seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    torch.set_num_threads(recipe.threads)
    torch.use_deterministic_algorithms(True)
    pairs = training_pairs(rubric, recipe)
    model = SentenceTransformer(base_path, device="cpu")
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate)
    steps = recipe.epochs * -(-len(pairs) // recipe.batch_size)
    warmup = max(1, int(steps * recipe.warmup_share))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (steps - step) / max(steps - warmup, 1))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

    def embed(texts: list[str]) -> torch.Tensor:
        features = dict(model.tokenize(texts))
        return torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=-1)

    log(f"building the behaviour encoder: {len(pairs)} pairs, {steps} steps (recipe {recipe.key[:16]})")
    for _ in range(recipe.epochs):
        for start in range(0, len(pairs), recipe.batch_size):
            batch = pairs[start : start + recipe.batch_size]
            left, right = embed([p[0] for p in batch]), embed([p[1] for p in batch])
            target = torch.tensor([p[2] for p in batch], dtype=torch.float32)
            loss = torch.nn.functional.mse_loss((left * right).sum(-1), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
    model.eval()
    model.save(str(out))


def ensure_behaviour_model(
    cache_dir: Path,
    rubric: Rubric,
    base_model: str,
    base_path: str,
    base_weights_sha256: str,
    log: Callable[[str], None] | None = None,
) -> Path:
    """The built behaviour encoder's folder, building it first if it is not there yet."""
    recipe = default_recipe(rubric, base_model, base_weights_sha256)
    target = behaviour_model_dir(cache_dir, recipe)
    if (target / "recipe.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    say = log or (lambda message: print(message, file=sys.stderr, flush=True))
    with open(target.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "recipe.json").is_file():
            return target
        staging = target.with_name(target.name + f".building-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        _train(rubric, recipe, base_path, staging, say)
        (staging / "recipe.json").write_text(json.dumps(msgspec.to_builtins(recipe), indent=2, sort_keys=True))
        os.replace(staging, target)
        say(f"behaviour encoder built in {target}")
    return target
