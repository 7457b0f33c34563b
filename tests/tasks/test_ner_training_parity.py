"""Training parity: bertkit's Trainer on BertForTokenClassification against a plain loop over
transformers' BertForTokenClassification, from the same weights, on the same batches.

Both sides start from identical weights (dropout 0), see identical examples in identical
optimizer steps, and use AdamW (no decay on biases and LayerNorms, as transformers' Trainer
does) with the linear schedule and gradient clipping. The reference loop is deliberately
naive: one forward on the whole optimizer batch, `loss.backward()`, clip, step. bertkit
splits each step into micro-batches and re-weights them by their labelled-token counts, so
the per-step losses and the final weights agree only if that re-weighting gives exactly the
mean over the step's labelled tokens, and only if the loss, the no-decay groups, the
schedule and the clipping all match.

The reference uses transformers' own `get_linear_schedule_with_warmup`. With warmup the two
schedules differ on purpose during warmup (transformers' first step has learning rate 0,
bertkit's `(step + 1) / (warmup + 1)`), so the step-by-step runs use no warmup and a separate
test pins where the schedules agree and where they differ.
"""

from __future__ import annotations

import csv
import dataclasses
import random
from pathlib import Path

import pytest
import torch

from bertkit.checkpoint import load_config, load_model
from bertkit.model.heads import IGNORE_INDEX, BertForTokenClassification
from bertkit.tasks.ner.alignment import Collator, FeatureDataset, build_features
from bertkit.training import Trainer, TrainingConfig
from bertkit.training.optim import lr_multiplier
from bertkit.weight_names import to_hf

transformers = pytest.importorskip("transformers")

LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
WORDS = "the quick brown fox jumps over lazy dog paris london new york city hello world"
WORDS += " playing runs running jumped bert model"


class RecordingCollator(Collator):
    """The task's collator, keeping every micro-batch it built so a reference can replay it."""

    def __init__(self, pad_token_id: int):
        super().__init__(pad_token_id)
        self.examples: list[list[dict]] = []

    def __call__(self, examples):
        self.examples.append([{k: ex[k] for k in ("input_ids", "labels")} for ex in examples])
        return super().__call__(examples)


def random_sentences(count: int, seed: int) -> tuple[list[list[str]], list[list[int]]]:
    rng = random.Random(seed)
    vocabulary = WORDS.split()
    words, tags = [], []
    for _ in range(count):
        length = rng.randint(1, 14)
        words.append([rng.choice(vocabulary) for _ in range(length)])
        tags.append([rng.randrange(len(LABELS)) for _ in range(length)])
    return words, tags


def train_bertkit(model, features, pad_token_id, output_dir: Path, **settings):
    """Run the real Trainer; return its per-step losses and the batches it saw per step."""
    config = TrainingConfig(
        output_dir=str(output_dir),
        precision="fp32",
        save_every=0,
        log_every=1,
        **settings,
    )
    collator = RecordingCollator(pad_token_id)
    Trainer(model, config, FeatureDataset(features), collate_fn=collator).train()
    with open(output_dir / "metrics.csv", newline="") as handle:
        losses = [float(row["loss"]) for row in csv.DictReader(handle) if row["loss"]]
    accumulation = config.grad_accumulation_steps
    micro = collator.examples
    # Micro-batches of one optimizer step, regrouped (an epoch's last step may have fewer).
    steps, per_epoch = [], -(-len(features) // config.batch_size)
    for start in range(0, len(micro), per_epoch):
        epoch = micro[start : start + per_epoch]
        for index in range(0, len(epoch), accumulation):
            steps.append([ex for batch in epoch[index : index + accumulation] for ex in batch])
    return losses, steps


def train_reference(model, steps, pad_token_id, *, learning_rate, weight_decay, warmup_steps):
    """A plain transformers loop: one batch per step, mean loss, clip 1.0, AdamW, linear LR."""
    no_decay = ("bias", "LayerNorm.weight")
    named = list(model.named_parameters())
    groups = [
        {"params": [p for n, p in named if not n.endswith(no_decay)], "weight_decay": weight_decay},
        {"params": [p for n, p in named if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=learning_rate)
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, warmup_steps, len(steps))
    collate = Collator(pad_token_id)
    model.train()
    losses = []
    for examples in steps:
        batch = collate(examples)
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


def assert_same_weights(ours, theirs, atol):
    """Every trained weight agrees, except the attention key biases: adding a constant to one
    query's scores leaves its softmax unchanged, so their true gradient is 0 and AdamW, which
    divides by the gradient's own scale, turns each side's rounding noise into updates."""
    ours_hf = to_hf(ours.state_dict(), with_prefix=True)
    reference = theirs.state_dict()
    for name, tensor in ours_hf.items():
        if name.endswith("attention.self.key.bias"):
            continue
        torch.testing.assert_close(tensor, reference[name], atol=atol, rtol=0, msg=name)


def tiny_pair(make_hf_config, tiny_tokenizer, folder: Path):
    """transformers' tiny BertForTokenClassification, saved, and bertkit's load of it."""
    hf_config = make_hf_config(id2label=dict(enumerate(LABELS)))
    torch.manual_seed(0)
    theirs = transformers.BertForTokenClassification(hf_config)
    with torch.no_grad():  # non-zero biases and LayerNorms, so a misplaced one shows
        for parameter in theirs.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    theirs.save_pretrained(folder)
    tiny_tokenizer.save(folder)
    ours, report = load_model(folder, "token-classification")
    assert report.initialised_heads == [] and report.unexpected == []
    return ours, theirs


def test_trainer_steps_match_a_transformers_loop(make_hf_config, tiny_tokenizer, tmp_path):
    torch.set_num_threads(1)
    ours, theirs = tiny_pair(make_hf_config, tiny_tokenizer, tmp_path / "hf")
    words, tags = random_sentences(38, seed=1)
    # max_length 12 cuts the longer sentences into windows: more features, partial labels.
    features = build_features(tiny_tokenizer, words, 12, tags, overlap=4)
    assert len(features) > len(words)
    settings = dict(learning_rate=2e-3, weight_decay=0.01, warmup_steps=0, seed=7)
    ours_losses, steps = train_bertkit(
        ours,
        features,
        tiny_tokenizer.pad_token_id,
        tmp_path / "run",
        batch_size=4,
        grad_accumulation_steps=2,  # bertkit re-weights micro-batches; the reference does not
        num_epochs=2,
        max_grad_norm=1.0,
        **settings,
    )
    assert sum(len(step) for step in steps) == 2 * len(features)
    theirs_losses = train_reference(
        theirs,
        steps,
        tiny_tokenizer.pad_token_id,
        learning_rate=2e-3,
        weight_decay=0.01,
        warmup_steps=0,
    )

    assert len(ours_losses) == len(theirs_losses) == len(steps)
    torch.testing.assert_close(
        torch.tensor(ours_losses), torch.tensor(theirs_losses), atol=1e-5, rtol=0
    )
    assert abs(ours_losses[-1] - ours_losses[0]) > 1e-2  # training moved the model
    assert_same_weights(ours, theirs, atol=1e-5)


def test_micro_batch_reweighting_equals_the_mean_of_one_batch(tiny_config, tiny_tokenizer):
    """Two micro-batches with different labelled counts: the Trainer's weighting by
    num_loss_items equals the mean loss over the joined batch, as one big batch gives."""
    torch.manual_seed(3)
    model = BertForTokenClassification(tiny_config.with_labels(LABELS)).eval()
    words, tags = random_sentences(6, seed=4)
    features = build_features(tiny_tokenizer, words, 32, tags)
    examples = [{"input_ids": f.input_ids, "labels": f.labels} for f in features]
    collate = Collator(tiny_tokenizer.pad_token_id)
    with torch.no_grad():
        joined = model(**collate(examples))
        parts = [model(**collate(examples[:2])), model(**collate(examples[2:]))]
    counts = [int(part.num_loss_items) for part in parts]
    assert counts[0] != counts[1]
    weighted = sum(part.loss * part.num_loss_items for part in parts) / sum(counts)
    plain_mean = (parts[0].loss + parts[1].loss) / 2
    torch.testing.assert_close(weighted, joined.loss, atol=1e-6, rtol=0)
    assert abs(float(plain_mean - joined.loss)) > 1e-4  # the naive mean would be wrong
    labelled = sum(label != IGNORE_INDEX for f in features for label in f.labels)
    assert int(joined.num_loss_items) == labelled == sum(counts)


@pytest.mark.parametrize("warmup,total", [(0, 10), (3, 10), (12, 120)])
def test_schedule_matches_transformers_after_warmup(warmup, total):
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([parameter], lr=1.0)
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, warmup, total)
    theirs = []
    for _ in range(total):
        theirs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    ours = [lr_multiplier(step, "linear", warmup, total) for step in range(total)]
    for step in range(total):
        if step < warmup:
            # transformers starts at 0 (a wasted step); bertkit's first step already moves.
            assert theirs[step] == pytest.approx(step / warmup)
            assert ours[step] == pytest.approx((step + 1) / (warmup + 1))
        else:
            assert ours[step] == pytest.approx(theirs[step], abs=1e-12)


@pytest.mark.slow
def test_minilm_trainer_steps_match_transformers_on_wnut(minilm_folder, tmp_path):
    """MiniLM and the same fresh classifier on both sides, real WNUT tweets, dropout 0."""
    from bertkit.tasks.ner.data import label_set, read_ner_file
    from bertkit.tasks.ner.dataset import wnut_splits
    from bertkit.tokenization import Tokenizer

    torch.set_num_threads(2)
    sentences = read_ner_file(wnut_splits()["train"])[:48]
    labels = label_set(sentences)
    label_ids = {label: index for index, label in enumerate(labels)}
    tokenizer = Tokenizer.from_pretrained(minilm_folder)
    tag_ids = [[label_ids[tag] for tag in sentence.tags] for sentence in sentences]
    features = build_features(tokenizer, [s.words for s in sentences], 128, tag_ids)

    # Alignment: bertkit's first-piece labels equal transformers' word_ids recipe.
    reference_tokenizer = transformers.BertTokenizerFast.from_pretrained(str(minilm_folder))
    encoded = reference_tokenizer(
        [s.words for s in sentences], is_split_into_words=True, truncation=True, max_length=128
    )
    for index, feature in enumerate(features):
        assert feature.input_ids == encoded["input_ids"][index]
        previous, expected = None, []
        for word in encoded.word_ids(index):
            first = word is not None and word != previous
            expected.append(tag_ids[index][word] if first else IGNORE_INDEX)
            previous = word
        assert feature.labels == expected

    no_dropout = dataclasses.replace(
        load_config(minilm_folder), hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )
    torch.manual_seed(0)
    ours, _ = load_model(minilm_folder, "token-classification", labels=labels, config=no_dropout)
    theirs = transformers.BertForTokenClassification.from_pretrained(
        str(minilm_folder),
        num_labels=len(labels),
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    with torch.no_grad():  # the same fresh head on both sides
        theirs.classifier.weight.copy_(ours.classifier.weight)
        theirs.classifier.bias.copy_(ours.classifier.bias)

    ours_losses, steps = train_bertkit(
        ours,
        features,
        tokenizer.pad_token_id,
        tmp_path / "run",
        batch_size=8,
        grad_accumulation_steps=1,
        max_steps=6,
        learning_rate=1e-4,
        weight_decay=0.01,
        warmup_steps=0,
        seed=42,
    )
    theirs_losses = train_reference(
        theirs,
        steps,
        tokenizer.pad_token_id,
        learning_rate=1e-4,
        weight_decay=0.01,
        warmup_steps=0,
    )
    torch.testing.assert_close(
        torch.tensor(ours_losses), torch.tensor(theirs_losses), atol=2e-5, rtol=0
    )
    assert ours_losses[-1] < ours_losses[0] - 0.3  # the head learns the O-heavy prior
    assert_same_weights(ours, theirs, atol=1e-4)


def test_seed_decides_the_new_classifier(make_tiny_folder, tmp_path):
    """The head finetune_ner adds is drawn from --seed: the same seed twice in one process
    gives the same model, another seed another head (the reference seeds before its init)."""
    from bertkit.checkpoint import read_state_dict
    from bertkit.tasks.ner import finetune_ner
    from bertkit.tasks.ner.data import Sentence

    torch.set_num_threads(1)
    base = make_tiny_folder("encoder")
    words, tags = random_sentences(8, seed=5)
    sentences = [
        Sentence(w, [LABELS[t] for t in ts], "generated", list(range(1, len(w) + 1)))
        for w, ts in zip(words, tags, strict=True)
    ]

    def head(seed: int, name: str) -> torch.Tensor:
        config = TrainingConfig(
            output_dir=str(tmp_path / name), seed=seed, max_steps=1, batch_size=4,
            learning_rate=1e-12, precision="fp32", save_every=0,
        )  # fmt: skip
        result = finetune_ner(base, sentences, None, config, max_length=16)
        return read_state_dict(result.model_dir)["classifier.weight"]

    first, again, other = head(1, "a"), head(1, "b"), head(2, "c")
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)


def test_resumed_run_equals_an_uninterrupted_one(make_tiny_folder, tmp_path):
    """Stopping after 2 steps and resuming to 5 (checkpoints through the task's HF-folder
    save/load pair) gives the weights of 5 steps in one go."""
    from bertkit.checkpoint import read_state_dict
    from bertkit.tasks.ner import finetune_ner
    from bertkit.tasks.ner.data import Sentence

    torch.set_num_threads(1)
    base = make_tiny_folder("encoder")
    words, tags = random_sentences(12, seed=6)
    sentences = [
        Sentence(w, [LABELS[t] for t in ts], "generated", list(range(1, len(w) + 1)))
        for w, ts in zip(words, tags, strict=True)
    ]

    def run(folder: str, max_steps: int, resume: bool = False):
        config = TrainingConfig(
            output_dir=str(tmp_path / folder), seed=3, max_steps=max_steps, batch_size=4,
            learning_rate=1e-3, warmup_steps=2, precision="fp32", save_every=0, resume=resume,
        )  # fmt: skip
        return read_state_dict(finetune_ner(base, sentences, None, config).model_dir)

    straight = run("straight", 5)
    run("resumed", 2)
    resumed = run("resumed", 5, resume=True)
    assert straight.keys() == resumed.keys()
    for name, tensor in straight.items():
        torch.testing.assert_close(resumed[name], tensor, atol=0, rtol=0, msg=name)
