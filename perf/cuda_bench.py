"""GPU benchmarks of the CUDA backend, against the device's own copy
bandwidth and PyTorch CUDA on the same GPU, in one run:

1. the fusion issue's chain ``(sigmoid(x)*tanh(y) + x*x*0.5 - exp(-y)) /
   (1 + y*y)``, ``f.sum().backward()``, float32, N=1e8: numgrad's time
   against a device copy moving the same bytes (x and y in, gx and gy out)
   (goal: within 1.5x);
2. a ResNet-50 Grad-CAM call (forward, backward to ``layer4``, weights
   and map) at 224x224, numgrad against PyTorch CUDA (goal: within 3x);
3. host<->device copies inside a training step of a small CNN with SGD
   (goal: none).

Run on a machine with a GPU::

    python perf/cuda_bench.py --out perf/results/cuda.json

``--smoke`` runs every case at toy sizes, on the CUDA simulator too
(``NUMBA_ENABLE_CUDASIM=1``), so the script is tested without a GPU; its
timings then mean nothing."""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

import numgrad as ng  # noqa: E402
from numgrad.backends.cuda import array as device_array  # noqa: E402


def _timed(fn, repeats):
    """Minimum wall time of ``fn`` over ``repeats`` runs after a warm-up,
    synchronising the device around each run."""
    fn()
    ng.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        ng.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def chain_case(n, repeats):
    rng = np.random.default_rng(0)
    x = ng.tensor(rng.uniform(-1, 1, n).astype(np.float32), device="cuda",
                  requires_grad=True)
    y = ng.tensor(rng.uniform(-1, 1, n).astype(np.float32), device="cuda",
                  requires_grad=True)

    def step():
        x.grad = y.grad = None
        f = (x.sigmoid() * y.tanh() + x * x * 0.5 - (-y).exp()) / (1 + y * y)
        f.sum().backward()
        x.grad._value()
        y.grad._value()
    numgrad_s = _timed(step, repeats)

    source = ng.empty(2 * n, device="cuda")._value()
    target = ng.empty(2 * n, device="cuda")._value()
    copy_s = _timed(lambda: device_array.copy_into(target, source), repeats)
    return {"n": n, "numgrad_s": numgrad_s, "copy_same_bytes_s": copy_s,
            "ratio_to_copy": numgrad_s / copy_s}


def _grad_cam(lib, model, image, layer):
    store = {}
    handle = layer.register_forward_hook(
        lambda m, i, o: store.__setitem__("a", o))
    try:
        out = model(image)
        activation = store["a"]
        score = out[0, int(out[0].argmax())]
        (grad,) = lib.autograd.grad(score, activation)
        weights = grad.mean((2, 3), keepdim=True)
        cam = (weights * activation).sum(1).clamp(min=0)
        return cam.detach().cpu()
    finally:
        handle.remove()


def grad_cam_case(size, repeats):
    from numgrad.models import resnet50
    model = resnet50().eval().to("cuda")
    image = ng.rand(1, 3, size, size, device="cuda")
    result = {"size": size}
    result["numgrad_s"] = _timed(
        lambda: _grad_cam(ng, model, image, model.layer4), repeats)
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and torch.cuda.is_available():
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from bench_cnn import torch_resnet50
        reference = torch_resnet50(torch)
        reference.load_state_dict({k: torch.from_numpy(v.cpu().numpy())
                                   for k, v in model.state_dict().items()})
        reference = reference.eval().cuda()
        timage = torch.rand(1, 3, size, size, device="cuda")

        def torch_call():
            _grad_cam(torch, reference, timage, reference.layer4)
            torch.cuda.synchronize()
        result["torch_s"] = _timed(torch_call, repeats)
        result["ratio_to_torch"] = result["numgrad_s"] / result["torch_s"]
    else:
        result["torch_s"] = None
    return result


def training_copies_case(batch, size):
    nn = ng.nn
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * (size // 2) ** 2, 10),
    ).to("cuda")
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    images = ng.randn(batch, 3, size, size, device="cuda")
    labels = ng.randint(0, 10, (batch,), device="cuda")
    loss_fn = nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss
    step()                          # optimiser state is created once
    counts = {"to_device": 0, "to_host": 0}
    real_from_host = device_array.DeviceArray.from_host.__func__
    real_to_host = device_array.DeviceArray.copy_to_host

    def from_host(cls, host):
        counts["to_device"] += 1
        return real_from_host(cls, host)

    def to_host(self):
        counts["to_host"] += 1
        return real_to_host(self)
    device_array.DeviceArray.from_host = classmethod(from_host)
    device_array.DeviceArray.copy_to_host = to_host
    try:
        step()
        ng.cuda.synchronize()
    finally:
        device_array.DeviceArray.from_host = classmethod(real_from_host)
        device_array.DeviceArray.copy_to_host = real_to_host
    return {"batch": batch, "size": size, **counts}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    if not ng.cuda.is_available():
        raise SystemExit("no CUDA device (set NUMBA_ENABLE_CUDASIM=1 for "
                         "--smoke without a GPU)")
    smoke = args.smoke
    results = {
        "device": ng.cuda.get_device_name(),
        "chain": chain_case(256 if smoke else 10**8, 1 if smoke else 5),
        "grad_cam": (None if smoke else grad_cam_case(224, 5)),
        "training_step_copies": training_copies_case(2 if smoke else 32,
                                                     4 if smoke else 32),
        "peak_memory_bytes": ng.cuda.max_memory_allocated(),
    }
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return results


if __name__ == "__main__":
    main()
