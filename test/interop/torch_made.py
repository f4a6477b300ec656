"""Networks made in PyTorch, written with save_for_deepconv for the import test: for each case,
<case>.safetensors (the model), <case>.io.safetensors (input "x" and PyTorch's scores "scores").
Usage: python3 torch_made.py OUT_DIR"""
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
from load_in_torch import save_for_deepconv, write_safetensors  # noqa: E402

torch.manual_seed(0)
CASES = {
    # bias=False before batchnorm, as PyTorch code often has it.
    "conv_bn": ((3, 8, 8), nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.Linear(8 * 2 * 2, 10))),
    "three_layer": ((3, 10, 10), nn.Sequential(
        nn.Conv2d(3, 4, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(4 * 5 * 5, 7), nn.ReLU(), nn.Linear(7, 3))),
    "fc_bn_dropout": ((20,), nn.Sequential(
        nn.Linear(20, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(16, 12), nn.BatchNorm1d(12), nn.ReLU(), nn.Dropout(0.2), nn.Linear(12, 5))),
    # Not something deepconv computes: import must name the argument.
    "dilated": ((3, 8, 8), nn.Sequential(nn.Conv2d(3, 4, 3, padding=2, dilation=2), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))),
}
DATA = {"dataset": "cifar10", "mean": [0.5, 0.4, 0.3], "std": [0.25, 0.25, 0.25],
        "classes": ["c%d" % i for i in range(10)], "shape": [3, 8, 8]}

out = sys.argv[1]
for name, (shape, net) in CASES.items():
    net.train()
    with torch.no_grad():  # a few batches: running statistics away from their initial values
        for _ in range(3):
            net(torch.randn(16, *shape) * 2 + 0.5)
    net.eval()
    x = torch.randn(6, *shape)
    with torch.no_grad():
        scores = net(x)
    save_for_deepconv(net, os.path.join(out, name + ".safetensors"), shape, data=DATA if name == "conv_bn" else None)
    write_safetensors(os.path.join(out, name + ".io.safetensors"), {"x": x, "scores": scores}, {})
try:
    save_for_deepconv(nn.Sequential(nn.Linear(4, 4), nn.Tanh()), os.path.join(out, "tanh.safetensors"), (4,))
except ValueError as e:
    print("refused:", e)
