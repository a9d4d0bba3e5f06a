"""A synthetic corpus, generated here, and BERT's masked-language-model batches over it.

The "language": the words are split into TOPICS groups, and each sentence pair keeps to the words of one
topic, drawn with Zipf frequencies; after a word, the next word of its topic follows with probability FOLLOW.
A masked word can thus be guessed from the other words of the pair (which topic: learnt within a few updates),
from how common it is within its topic, and from its left neighbour (learnt with more training). Each example
is a sentence pair as BERT reads it: [CLS] sentence A [SEP] sentence B [SEP], padded to the sequence length,
with token_type_ids 0 for A and 1 for B and attention_mask 0 on the padding.

Masking as BERT's: 15% of the word positions are chosen; of these 80% become [MASK], 10% a random word, 10%
stay. `labels` holds the original word there and IGNORED elsewhere. Everything comes from a seeded generator,
so the root (inputs) and the leaf (labels) build the same batches.
"""

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset, default_collate

PAD, CLS, SEP, MASK = 0, 1, 2, 3
SPECIAL_TOKENS = 4
VOCAB_SIZE = 128  # special tokens, then words
TOPICS = 8
FOLLOW = 0.5      # probability that the next word of the topic comes next
MASKED_SHARE = 0.15
IGNORED = -100    # label of the positions the loss skips
SEED = 42
INPUT_NAMES = ("input_ids", "token_type_ids", "attention_mask")


class Language:
    """Word statistics fixed by SEED: which words make up each topic, in the order they follow each other."""

    def __init__(self, vocab_size=VOCAB_SIZE):
        per_topic = (vocab_size - SPECIAL_TOKENS) // TOPICS
        if per_topic < 2:
            raise ValueError(f"a vocabulary of {vocab_size} tokens is too small for {TOPICS} topics")
        words = np.random.default_rng(SEED).permutation(vocab_size - SPECIAL_TOKENS)
        self.topic_words = words[: TOPICS * per_topic].reshape(TOPICS, per_topic)
        frequencies = 1.0 / np.arange(1, per_topic + 1)
        self.frequencies = frequencies / frequencies.sum()  # of a topic's words, by rank
        self.vocab_size = vocab_size

    def texts(self, rng, count, length, sentence_starts):
        """[count, length] word ids (from 0): row r keeps to one topic, and its sentences begin where
        `sentence_starts` [count, length] is True (there the next word of the topic is not followed)."""
        per_topic = len(self.frequencies)
        ranks = rng.choice(per_topic, p=self.frequencies, size=(count, length))
        follows = (rng.random((count, length)) < FOLLOW) & ~sentence_starts
        for position in range(1, length):
            ranks[:, position] = np.where(follows[:, position], (ranks[:, position - 1] + 1) % per_topic,
                                          ranks[:, position])
        topics = rng.integers(TOPICS, size=(count, 1))
        return self.topic_words[topics, ranks]


def sentence_pairs(count, length, rng, language):
    """(input_ids, token_type_ids, attention_mask) int64 [count, length] before masking."""
    capacity = length - 3  # words that fit besides [CLS] and the two [SEP]
    used = rng.integers(capacity // 2, capacity + 1, size=(count, 1))  # words in the pair: some are padded
    first = rng.integers(1, used)                                       # words in sentence A
    word_position = np.arange(capacity)[None, :]
    words = language.texts(rng, count, capacity, word_position == first) + SPECIAL_TOKENS
    position = np.arange(length)[None, :]
    # Token position -> word index: sentence A sits after [CLS], sentence B after the first [SEP] too.
    word_index = np.clip(np.where(position <= first, position - 1, position - 2), 0, capacity - 1)
    input_ids = np.take_along_axis(words, word_index, axis=1)
    last = used + 2  # the second [SEP]
    input_ids = np.where(position == 0, CLS, input_ids)
    input_ids = np.where((position == first + 1) | (position == last), SEP, input_ids)
    input_ids = np.where(position > last, PAD, input_ids)
    token_type_ids = ((position >= first + 2) & (position <= last)).astype(np.int64)
    attention_mask = (position <= last).astype(np.int64)
    return input_ids.astype(np.int64), token_type_ids, attention_mask


def mask_words(input_ids, rng, vocab_size):
    """(masked input_ids, labels) as BERT's pretraining draws them."""
    is_word = input_ids >= SPECIAL_TOKENS
    chosen = is_word & (rng.random(input_ids.shape) < MASKED_SHARE)
    labels = np.where(chosen, input_ids, IGNORED)
    draw = rng.random(input_ids.shape)
    masked = input_ids.copy()
    masked[chosen & (draw < 0.8)] = MASK
    randomised = chosen & (draw >= 0.8) & (draw < 0.9)
    masked[randomised] = rng.integers(SPECIAL_TOKENS, vocab_size, size=randomised.sum())
    return masked, labels


def masked_examples(count, length, vocab_size, seed):
    """A dataset of `count` masked sentence pairs of `length` tokens: rows of (input_ids, token_type_ids,
    attention_mask, labels)."""
    rng = np.random.default_rng(seed)
    language = Language(vocab_size)
    input_ids, token_type_ids, attention_mask = sentence_pairs(count, length, rng, language)
    masked, labels = mask_words(input_ids, rng, language.vocab_size)
    return TensorDataset(*(torch.from_numpy(array) for array in (masked, token_type_ids, attention_mask, labels)))


def as_batch(rows):
    """Collates dataset rows into a dict: the model's keyword inputs, and `labels`."""
    return dict(zip(INPUT_NAMES + ("labels",), default_collate(rows)))


def pretraining_loader(batch_size, samples, length, vocab_size=VOCAB_SIZE, seed=SEED):
    """Batches (dicts, see as_batch) of `samples` masked sentence pairs, in a fixed order. Another `seed`
    draws other pairs from the same language: held-out data."""
    dataset = masked_examples(samples, length, vocab_size, seed)
    return DataLoader(dataset, batch_size=batch_size, collate_fn=as_batch)
