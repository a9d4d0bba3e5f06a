"""How BERT's weights are updated: the LAMB optimizer and a linear warm-up, linear decay learning rate.

Both are handed to ravnest.Node as factories, which every node calls on its own stage's parameters:
`Node(optimizer=Lamb, optimizer_params={...}, lr_scheduler=linear_warmup_then_decay,
lr_scheduler_params={"warmup_steps": ..., "total_steps": ...}, lr_step_on_epoch_change=False)`; the
scheduler then steps after every optimizer update.
"""

import torch
from torch.optim.lr_scheduler import LambdaLR


class Lamb(torch.optim.Optimizer):
    """LAMB (You et al., "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes"): Adam's
    update plus weight decay, rescaled per tensor by the trust ratio ||weights|| / ||update||, so every layer
    moves by a similar share of its own size whatever its gradients' scale."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                state = self.state[parameter]
                if not state:
                    state["step"] = torch.zeros(())
                    state["exp_avg"] = torch.zeros_like(parameter)
                    state["exp_avg_sq"] = torch.zeros_like(parameter)
                state["step"] += 1
                step = state["step"].item()
                state["exp_avg"].mul_(beta1).add_(parameter.grad, alpha=1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(parameter.grad, parameter.grad, value=1 - beta2)
                mean = state["exp_avg"] / (1 - beta1 ** step)
                variance = state["exp_avg_sq"] / (1 - beta2 ** step)
                update = mean / (variance.sqrt() + group["eps"]) + group["weight_decay"] * parameter
                weight_norm, update_norm = parameter.norm(), update.norm()
                # A tensor at zero (a fresh bias) or without an update takes Adam's step unscaled.
                trust = (weight_norm / update_norm) if weight_norm > 0 and update_norm > 0 else 1.0
                parameter.add_(update, alpha=-group["lr"] * float(trust))
        return loss


def linear_warmup_then_decay(optimizer, warmup_steps, total_steps):
    """The learning rate rises linearly from 0 to the optimizer's over `warmup_steps` updates, then falls
    linearly to 0 at `total_steps` (BERT's schedule)."""
    def factor(step):
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return LambdaLR(optimizer, factor)
