# PyTorch twin of C2OT's SimpleNet (our own code, written from its description in hkchengrex/C2OT
# c2ot/utils/playground_utils.py) with deterministic weights: prints the parameter count, names and
# the outputs that tests/flows/continuous/test_velocity.cpp holds ResMLPVelocity to.
#   /usr/bin/python3 tools/c2ot_simplenet_twin.py   (Debian python3-torch 1.13)
import torch, math
torch.set_default_dtype(torch.float64)
class MLP(torch.nn.Module):
    def __init__(s, dim):
        super().__init__(); s.linear1 = torch.nn.Linear(dim, 4*dim); s.linear2 = torch.nn.Linear(4*dim, dim); s.act = torch.nn.GELU()
    def forward(s, x): return s.linear2(s.act(s.linear1(x)))
class SimpleNet(torch.nn.Module):
    def __init__(s, in_dim, dim, depth):
        super().__init__()
        s.input_proj = torch.nn.Linear(in_dim, dim); s.time_emb = torch.nn.Linear(1, dim)
        s.blocks = torch.nn.ModuleList([MLP(dim) for _ in range(depth)]); s.output_proj = torch.nn.Linear(dim, in_dim)
    def forward(s, x, t):
        x = s.input_proj(x) + s.time_emb(t)
        for b in s.blocks: x = b(x) + x
        return s.output_proj(x)
net = SimpleNet(2, 128, 3)
print("params", sum(p.numel() for p in net.parameters()))
with torch.no_grad():
    for p_i, (name, p) in enumerate(net.named_parameters()):
        k = torch.arange(p.numel(), dtype=torch.float64)
        p.copy_((0.08 * torch.sin(0.37 * k + 1.1 * p_i)).reshape(p.shape))
        print(name, tuple(p.shape))
x = torch.tensor([[0.5, -1.2], [3.0, 0.7], [-2.0, -0.4]]); t = torch.tensor([[0.0], [0.3], [1.0]])
print(["%.15g" % v for v in net(x, t).flatten().tolist()])
