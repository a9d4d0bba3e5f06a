"""A BERT for masked-language-model pretraining, in plain PyTorch (Hugging Face's `transformers` is optional).

The layout follows BERT's: embeddings (word + position + token type, LayerNorm, dropout), post-norm encoder
layers (self-attention, then a GELU feed-forward, each with a residual connection and LayerNorm) and the
masked-language-model head (a dense transform, then scores over the vocabulary). Inputs come by keyword:
`input_ids`, `token_type_ids`, `attention_mask`; the output is `{"prediction_logits": [batch, length, vocab]}`,
the key Hugging Face's BertForPreTraining uses, so one loss serves both.

The head's decoder has its own weights instead of sharing the word embeddings' (BERT ties them): the first and
the last stage of the pipeline would both hold that one tensor, and ravnest does not keep copies of a tied
parameter in sync across nodes.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# (layers, hidden width, attention heads, feed-forward width) of the sizes cluster_formation.py offers:
# tiny trains in a minute or two on a laptop; mini and base are Google's BERT-Mini and BERT-Base.
SIZES = {"tiny": (2, 64, 4, 256), "mini": (4, 256, 4, 1024), "base": (12, 768, 12, 3072)}
TYPE_VOCAB_SIZE = 2  # sentence A and sentence B
MASKED_OUT = -10000.0  # added to the attention scores of padding positions


class Embeddings(nn.Module):
    def __init__(self, vocab_size, hidden, max_positions, dropout):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, hidden)
        self.position_embeddings = nn.Embedding(max_positions, hidden)
        self.token_type_embeddings = nn.Embedding(TYPE_VOCAB_SIZE, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(dropout)
        # 0 .. max_positions - 1, rebuilt by the constructor: not part of the state dict (as in BERT).
        self.register_buffer("position_ids", torch.arange(max_positions).unsqueeze(0), persistent=False)

    def forward(self, input_ids, token_type_ids):
        positions = self.position_ids[:, : input_ids.size(1)]
        summed = (self.word_embeddings(input_ids) + self.position_embeddings(positions)
                  + self.token_type_embeddings(token_type_ids))
        return self.dropout(self.LayerNorm(summed))


class SelfAttention(nn.Module):
    def __init__(self, hidden, heads, dropout):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)

    def split_heads(self, x):
        """[batch, length, hidden] -> [batch, heads, length, hidden / heads]"""
        return x.view(x.size(0), x.size(1), self.heads, -1).transpose(1, 2)

    def forward(self, x, additive_mask):
        q, k, v = self.split_heads(self.query(x)), self.split_heads(self.key(x)), self.split_heads(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.size(-1)) + additive_mask
        context = self.dropout(F.softmax(scores, dim=-1)) @ v
        return context.transpose(1, 2).reshape(x.shape)


class EncoderLayer(nn.Module):
    def __init__(self, hidden, heads, feed_forward, dropout):
        super().__init__()
        self.attention = SelfAttention(hidden, heads, dropout)
        self.attention_output = nn.Linear(hidden, hidden)
        self.attention_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.intermediate = nn.Linear(hidden, feed_forward)
        self.output = nn.Linear(feed_forward, hidden)
        self.output_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, additive_mask):
        x = self.attention_norm(x + self.dropout(self.attention_output(self.attention(x, additive_mask))))
        return self.output_norm(x + self.dropout(self.output(F.gelu(self.intermediate(x)))))


class MaskedLanguageModelHead(nn.Module):
    def __init__(self, hidden, vocab_size):
        super().__init__()
        self.transform = nn.Linear(hidden, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=1e-12)
        self.decoder = nn.Linear(hidden, vocab_size)

    def forward(self, x):
        return self.decoder(self.LayerNorm(F.gelu(self.transform(x))))


class BertForMaskedLM(nn.Module):
    def __init__(self, vocab_size, size="tiny", max_positions=512, dropout=0.1):
        super().__init__()
        layers, hidden, heads, feed_forward = SIZES[size]
        self.embeddings = Embeddings(vocab_size, hidden, max_positions, dropout)
        self.layers = nn.ModuleList(EncoderLayer(hidden, heads, feed_forward, dropout) for _ in range(layers))
        self.head = MaskedLanguageModelHead(hidden, vocab_size)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module):
        # BERT's initialisation: normal weights (std 0.02), zero biases.
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear):
            nn.init.zeros_(module.bias)

    def forward(self, input_ids, token_type_ids, attention_mask):
        # [batch, 1, 1, length]: 0 where a position may be attended to, MASKED_OUT at padding. Computed once,
        # it travels down the pipeline to every layer.
        additive_mask = (1.0 - attention_mask[:, None, None, :].float()) * MASKED_OUT
        x = self.embeddings(input_ids, token_type_ids)
        for layer in self.layers:
            x = layer(x, additive_mask)
        return {"prediction_logits": self.head(x)}


def hugging_face_bert(vocab_size, size, max_positions):
    """Hugging Face's BertForPreTraining of the same size, untied (see the module docstring). Needs
    `transformers`, which this example does not install."""
    try:
        from transformers import BertConfig, BertForPreTraining
    except ImportError as error:
        raise SystemExit(f"--hugging-face needs the transformers package ({error}); without the flag the example "
                         "uses its own BERT") from error
    layers, hidden, heads, feed_forward = SIZES[size]
    config = BertConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=feed_forward,
                        max_position_embeddings=max_positions, tie_word_embeddings=False)
    return BertForPreTraining(config)
