#!/usr/bin/env python3
"""PyTorch's time for the W1-W4 training steps that deepconv_cuda_test times.

Plain eager PyTorch, float32, cudnn.benchmark on, TF32 off (deepconv's cuBLAS calls are strict
fp32; pass --tf32 for PyTorch's own default, which lets cuDNN convolutions use TF32). One step is
forward + softmax cross-entropy + backward + Adam on a fixed random batch of 128 3x32x32 images;
the figure is the median of CUDA-event-timed steps after warm-up, as in the C++ program:

  BENCH workload=W1 images_per_s=... median_step_ms=... steps=... loss_first=... loss_last=...
"""
import argparse
import statistics
import sys

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print("torch_cuda_ref: PyTorch is not installed", file=sys.stderr)
    sys.exit(2)


def build(name):
    """The same networks as native/test/cuda_parity.cu's build()."""
    layers, c, h = [], 3, 32

    def conv(f, k, pad, bn):
        nonlocal c, h
        layers.append(nn.Conv2d(c, f, k, padding=pad))
        if bn:
            layers.append(nn.BatchNorm2d(f, eps=1e-5, momentum=0.1))  # deepconv's momentum 0.9
        layers.append(nn.ReLU())
        c, h = f, h + 2 * pad - k + 1

    def pool():
        nonlocal h
        layers.append(nn.MaxPool2d(2, 2))
        h //= 2

    if name in ("W1", "W2"):
        for f in (16, 32, 64):
            conv(f, 3, 1, name == "W2")
            pool()
        layers += [nn.Flatten(), nn.Linear(c * h * h, 10)]
    elif name == "W3":
        conv(32, 7, 3, False)
        pool()
        layers += [nn.Flatten(), nn.Linear(c * h * h, 100), nn.ReLU(), nn.Linear(100, 10)]
    elif name == "W4":
        for i, f in enumerate((64, 64, 128, 128, 256, 256)):
            conv(f, 3, 1, True)
            if i in (1, 3, 5):
                pool()
        layers += [nn.Flatten(), nn.Linear(c * h * h, 10)]
    else:
        raise ValueError(name)
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--tf32", action="store_true", help="allow TF32 (PyTorch's default for cuDNN convolutions)")
    ap.add_argument("workloads", nargs="*", default=["W1", "W2", "W3", "W4"])
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("torch_cuda_ref: no CUDA device visible to PyTorch", file=sys.stderr)
        return 2

    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    dev = torch.device("cuda")
    print(f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, {torch.cuda.get_device_name(0)}, "
          f"tf32={'on' if args.tf32 else 'off'}", flush=True)

    for name in args.workloads:
        torch.manual_seed(42)
        model = build(name).to(dev).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
        x = torch.randn(args.batch, 3, 32, 32, device=dev)
        y = torch.randint(0, 10, (args.batch,), device=dev)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        loss_first = step().item()
        for _ in range(args.warmup - 1):
            step()
        torch.cuda.synchronize()
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        times = []
        loss = None
        for _ in range(args.steps):
            start.record()
            loss = step()
            stop.record()
            stop.synchronize()
            times.append(start.elapsed_time(stop))
        med = statistics.median(times)
        print(f"BENCH workload={name} images_per_s={args.batch / (med / 1000.0):.1f} median_step_ms={med:.3f} "
              f"steps={args.steps} loss_first={loss_first:.4f} loss_last={loss.item():.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
