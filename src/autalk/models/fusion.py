"""Temporal fusion of the per-frame features: the TCSAN (dilated non-causal temporal convolutions with
self-attention per level), the same without attention (TCN), and the BMVC 2021 predecessor's GRU.

Every module maps (B, T, D) -> (B, T, out_dim) and keeps the length. The convolutions are padded symmetrically,
so frame t sees frames t-R..t+R with R = (k-1)/2 * 2 * sum(dilations) (two convolutions per level); the
attention then widens that to the whole clip.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from autalk.config import ModelConfig


class SelfAttention(nn.Module):
    """Multi-head self-attention over tokens (B, N, dim) with a residual and layer norm (post-norm)."""

    def __init__(self, dim: int, heads: int, head_dim: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * heads * head_dim)
        self.out = nn.Linear(heads * head_dim, dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, n, _ = tokens.shape
        q, k, v = self.qkv(tokens).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)  # 3 x (B, h, N, dh)
        attended = F.scaled_dot_product_attention(q, k, v)                                 # (B, h, N, dh)
        return self.norm(tokens + self.out(attended.transpose(1, 2).reshape(b, n, -1)))


class TemporalLevel(nn.Module):
    """Two weight-normalised dilated convolutions (ReLU, dropout), optional self-attention, residual, ReLU.

    ``attention="channels"`` is the authors' code: each channel is a token whose features are the clip's time
    steps, so the layer's sizes depend on the clip length. ``"time"`` makes the time steps the tokens.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, dilation: int, dropout: float,
                 attention: str | None, heads: int, head_dim: int, clip_length: int):
        super().__init__()
        pad = dilation * (kernel_size - 1) // 2
        self.convs = nn.Sequential(
            weight_norm(nn.Conv1d(in_ch, out_ch, kernel_size, padding=pad, dilation=dilation)),
            nn.ReLU(inplace=True), nn.Dropout(dropout),
            weight_norm(nn.Conv1d(out_ch, out_ch, kernel_size, padding=pad, dilation=dilation)),
            nn.ReLU(inplace=True), nn.Dropout(dropout),
        )
        self.attention_over = attention
        if attention == "channels":
            self.attention = SelfAttention(clip_length, heads, head_dim)
        elif attention == "time":
            self.attention = SelfAttention(out_ch, heads, head_dim)
        self.residual = nn.Conv1d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C_in, T) -> (B, C_out, T)."""
        y = self.convs(x)
        if self.attention_over == "channels":
            y = self.attention(y)                                   # tokens = channels, features = T
        elif self.attention_over == "time":
            y = self.attention(y.transpose(1, 2)).transpose(1, 2)   # tokens = time steps
        return F.relu(y + self.residual(x))


class TCSAN(nn.Module):
    """The paper's temporal convolutional self-attention network (Chen et al. 2022): levels of dilated
    temporal convolutions, each followed by self-attention; with ``attention=None`` the plain TCN of the
    ``tcn`` ablation."""

    def __init__(self, in_dim: int, channels: list[int], kernel_size: int, dilations: list[int], dropout: float,
                 attention: str | None, heads: int, head_dim: int, clip_length: int):
        super().__init__()
        levels, in_ch = [], in_dim
        for out_ch, dilation in zip(channels, dilations):
            levels.append(TemporalLevel(in_ch, out_ch, kernel_size, dilation, dropout, attention, heads, head_dim,
                                        clip_length))
            in_ch = out_ch
        self.levels = nn.Sequential(*levels)
        self.out_dim = in_ch
        self.clip_length = clip_length if attention == "channels" else None
        self.receptive_radius = (kernel_size - 1) // 2 * 2 * sum(dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.clip_length is not None and x.shape[1] != self.clip_length:
            raise ValueError(f"channel attention is built for {self.clip_length}-frame clips, got {x.shape[1]} frames")
        return self.levels(x.transpose(1, 2)).transpose(1, 2)


class GRUFusion(nn.Module):
    """The BMVC 2021 generator's recurrent fusion: one GRU layer over time (causal, any length)."""

    def __init__(self, in_dim: int, hidden: int):
        super().__init__()
        self.gru = nn.GRU(in_dim, hidden, batch_first=True)
        self.out_dim = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gru(x)[0]


def build_fusion(model: ModelConfig, in_dim: int, clip_length: int) -> nn.Module:
    if model.fusion == "gru":
        return GRUFusion(in_dim, model.gru_hidden)
    attention = model.attention if model.fusion == "tcsan" else None
    return TCSAN(in_dim, model.channels, model.kernel_size, model.dilations, model.dropout, attention,
                 model.attention_heads, model.attention_head_dim, clip_length)
