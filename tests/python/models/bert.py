"""A small BERT-style encoder that takes input_ids, token_type_ids and attention_mask by keyword."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class SelfAttention(nn.Module):
    def __init__(self, hidden, n_head, dropout):
        super().__init__()
        self.n_head = n_head
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)

    def split_heads(self, x):
        return x.view(x.size(0), x.size(1), self.n_head, -1).transpose(1, 2)

    def forward(self, x, attention_mask):
        q, k, v = self.split_heads(self.query(x)), self.split_heads(self.key(x)), self.split_heads(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.size(-1))
        # Each layer reads the raw mask itself, so the model input feeds every stage.
        blocked = (1.0 - attention_mask[:, None, None, :].to(scores.dtype)) * -10000.0
        probs = self.dropout(F.softmax(scores + blocked, dim=-1))
        context = (probs @ v).transpose(1, 2)
        return context.reshape(x.size())


class EncoderLayer(nn.Module):
    def __init__(self, hidden, n_head, dropout):
        super().__init__()
        self.attention = SelfAttention(hidden, n_head, dropout)
        self.attention_norm = nn.LayerNorm(hidden)
        self.feed_forward = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.GELU(), nn.Linear(2 * hidden, hidden))
        self.output_norm = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, attention_mask):
        x = self.attention_norm(x + self.dropout(self.attention(x, attention_mask)))
        return self.output_norm(x + self.dropout(self.feed_forward(x)))


class SmallBert(nn.Module):
    def __init__(self, vocab_size=30, max_length=16, hidden=32, n_head=4, n_layer=3, dropout=0.1):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, hidden)
        self.position_embeddings = nn.Embedding(max_length, hidden)
        self.token_type_embeddings = nn.Embedding(2, hidden)
        self.register_buffer("position_ids", torch.arange(max_length).unsqueeze(0), persistent=False)
        self.embedding_norm = nn.LayerNorm(hidden)
        self.layers = nn.ModuleList(EncoderLayer(hidden, n_head, dropout) for _ in range(n_layer))
        self.pooler = nn.Linear(hidden, hidden)
        self.mlm_head = nn.Linear(hidden, vocab_size)
        self.nsp_head = nn.Linear(hidden, 2)

    def forward(self, input_ids, token_type_ids, attention_mask):
        positions = self.position_ids[:, : input_ids.size(1)]
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)
        x = self.embedding_norm(x + self.token_type_embeddings(token_type_ids))
        for layer in self.layers:
            x = layer(x, attention_mask)
        pooled = torch.tanh(self.pooler(x[:, 0]))
        return {"mlm_logits": self.mlm_head(x), "nsp_logits": self.nsp_head(pooled)}
