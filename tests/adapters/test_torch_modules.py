"""embedreg.adapters.torch_modules: the defect's closed-form gradient is autograd's."""

from __future__ import annotations

import pytest
import torch
from embedreg.adapters.torch_modules import defect_torch, lambda_penalty


def _plain(weight: torch.Tensor) -> torch.Tensor:
    gram = weight @ weight.T if weight.shape[0] <= weight.shape[1] else weight.T @ weight
    eye = torch.eye(gram.shape[0], dtype=gram.dtype)
    return torch.sqrt(((gram - eye) ** 2).sum() + 1e-12)


@pytest.mark.parametrize("shape", [(5, 5), (3, 7), (7, 3)])
def test_defect_and_its_gradient_match_autograd_through_the_gram_matrix(
    shape: tuple[int, int],
) -> None:
    torch.manual_seed(0)
    base = torch.randn(*shape, dtype=torch.float64)
    a = base.clone().requires_grad_()
    b = base.clone().requires_grad_()
    d_closed, d_plain = defect_torch(a), _plain(b)
    d_closed.backward()
    d_plain.backward()
    assert torch.allclose(d_closed, d_plain, rtol=1e-12)
    assert a.grad is not None and b.grad is not None
    assert torch.allclose(a.grad, b.grad, rtol=1e-10, atol=1e-12)


def test_the_penalty_gradient_flows_through_the_gate() -> None:
    torch.manual_seed(1)
    w = torch.eye(4, dtype=torch.float64) + 0.5 * torch.randn(4, 4, dtype=torch.float64)
    w.requires_grad_()
    assert torch.autograd.gradcheck(lambda t: lambda_penalty(t, 0.3, 30.0)[0], (w,))
