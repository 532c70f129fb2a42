# torch_loop.py - deterministic PyTorch training loop for the GPU validation
# (run.sh).  STEPS steps of a small MLP with a fixed seed; prints "step N" lines
# and finally "RESULT loss=<repr> weights=<sha256 of all parameters>", which
# must be bit-identical between an uninterrupted run and a checkpointed,
# killed and restored one.
#   python3 torch_loop.py STEPS MS
import hashlib, os, sys, time
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
import torch

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 60
ms = int(sys.argv[2]) if len(sys.argv) > 2 else 100
torch.manual_seed(1234)
torch.use_deterministic_algorithms(True)
dev = torch.device("cuda")
model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10)).to(dev)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
g = torch.Generator(device="cpu").manual_seed(99)
x = torch.randn(4096, 256, generator=g).to(dev)
y = torch.randint(0, 10, (4096,), generator=g).to(dev)
loss = None
for s in range(1, steps + 1):
    opt.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    torch.cuda.synchronize()
    print(f"step {s}", flush=True)
    time.sleep(ms / 1000)
h = hashlib.sha256()
for p in model.parameters():
    h.update(p.detach().cpu().numpy().tobytes())
print(f"RESULT loss={loss.item()!r} weights={h.hexdigest()} reserved={torch.cuda.memory_reserved()}", flush=True)
