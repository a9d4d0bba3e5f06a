"""A minGPT-style causal transformer: token ids in, next-token logits out."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head, block_size, dropout):
        super().__init__()
        self.n_head = n_head
        self.n_embd = n_embd
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)
        self.attn_dropout = nn.Dropout(dropout)
        mask = torch.tril(torch.ones(block_size, block_size)).view(1, 1, block_size, block_size)
        self.register_buffer("causal_mask", mask, persistent=False)

    def forward(self, x):
        # Indexing, not unpacking: fx cannot iterate over traced sizes or tuples.
        batch, length, channels = x.size(0), x.size(1), self.n_embd
        qkv = self.qkv(x).split(channels, dim=2)
        q, k, v = qkv[0], qkv[1], qkv[2]
        heads = channels // self.n_head
        q = q.view(batch, length, self.n_head, heads).transpose(1, 2)
        k = k.view(batch, length, self.n_head, heads).transpose(1, 2)
        v = v.view(batch, length, self.n_head, heads).transpose(1, 2)
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(heads))
        scores = scores.masked_fill(self.causal_mask[:, :, :length, :length] == 0, float("-inf"))
        attention = self.attn_dropout(F.softmax(scores, dim=-1))
        y = (attention @ v).transpose(1, 2).contiguous().view(batch, length, channels)
        return self.proj(y)


class Block(nn.Module):
    def __init__(self, n_embd, n_head, block_size, dropout):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, block_size, dropout)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd), nn.Dropout(dropout)
        )

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class MiniGPT(nn.Module):
    def __init__(self, vocab_size=16, block_size=12, n_layer=3, n_head=2, n_embd=32, dropout=0.1,
                 tie_weights=False):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Parameter(torch.randn(1, block_size, n_embd) * 0.02)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(n_embd, n_head, block_size, dropout) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab_size, bias=False)
        if tie_weights:
            self.head.weight = self.wte.weight

    def forward(self, idx):
        length = idx.size(1)
        x = self.drop(self.wte(idx) + self.wpe[:, :length, :])
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))
