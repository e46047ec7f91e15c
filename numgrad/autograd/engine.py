"""The backward pass: dependency counting over the graph reachable from
the roots, then nodes in reverse creation order as their gradients
complete.  Broadcast reduction and dtype casts of gradients happen here,
once, for every op."""
import heapq
import sys

import numpy as np

from ..backends import copy_into
from . import grad_mode
from .node import AccumulateGrad, edge


def _collect(root_nodes):
    """Dependency counts and parent lists of every reachable node."""
    dependencies = {}
    parents = {}
    seen = set(root_nodes)
    stack = list(root_nodes)
    while stack:
        node = stack.pop()
        for child, _ in node.next_functions:
            if child is None:
                continue
            dependencies[child] = dependencies.get(child, 0) + 1
            parents.setdefault(child, []).append(node)
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return dependencies, parents


def _needed(targets, parents):
    """Nodes from which some target can be reached: only they must run."""
    needed = set(targets)
    stack = list(targets)
    while stack:
        for parent in parents.get(stack.pop(), ()):
            if parent not in needed:
                needed.add(parent)
                stack.append(parent)
    return needed


def _sum_to(grad, meta):
    shape, dtype = meta
    if grad._shape != shape:
        # The Tensor method: autograd sits below the op table.
        grad = grad.sum_to_size(shape)
    if grad._dtype is not dtype:
        grad = grad.to(dtype)
    return grad


def _apply_tensor_hooks(hooks, grad):
    for fn in list(hooks.values()):
        result = fn(grad)
        if result is not None:
            if result.shape != grad.shape:
                name = getattr(fn, "__name__", "hook")
                raise RuntimeError(
                    f"hook '{name}' has changed the size of value "
                    f"(expected {list(grad.shape)}, got "
                    f"{list(result.shape)})")
            grad = result
    return grad


def _accumulate(leaf, grad, create_graph):
    if create_graph:
        leaf._grad = grad if leaf._grad is None else leaf._grad + grad
    elif grad._data is None:
        # Still a pending fused value: left pending, so the gradients of
        # all leaves of one shape are computed by one kernel when read.
        from ..fusion import recorder
        grad = grad.detach() if leaf._grad is None else leaf._grad + grad
        recorder.track(grad)
        leaf._grad = grad
    elif leaf._grad is None:
        leaf._grad = grad if _adoptable(grad) else grad._alias_copy()
    else:
        current = leaf._grad
        if current.grad_fn is not None or current._requires_grad:
            leaf._grad = (current + grad).detach()
        else:
            arr = current._value()
            if type(arr) is np.ndarray:
                arr += grad._value()
            else:
                copy_into(arr, (current + grad)._value())
            current._version.value += 1
    hooks = leaf._post_accumulate_grad_hooks
    if hooks:
        for fn in list(hooks.values()):
            fn(leaf)


# References to a gradient tensor that only the engine holds, counted in
# _adoptable: the buffer slot, the _accumulate and _adoptable frames, and
# getrefcount's own argument.
_ENGINE_ONLY_REFS = 4


def _adoptable(grad):
    """A gradient nobody else holds can become ``.grad`` without a copy,
    as PyTorch's AccumulateGrad steals a buffer whose use count is one.
    Anything a user or a hook kept, a view, or a graph value is copied."""
    array = grad._data
    return (array is not None and array.base is None
            and array.flags.writeable and grad.grad_fn is None
            and sys.getrefcount(grad) <= _ENGINE_ONLY_REFS
            and sys.getrefcount(array) <= 2)


def run_backward(roots, root_grads, retain_graph, create_graph,
                 inputs=None, accumulate=True):
    """Returns the gradients of ``inputs`` when ``accumulate`` is False."""
    root_edges = [edge(r) for r in roots]
    root_nodes = list({n: None for n, _ in root_edges if n is not None})
    dependencies, parents = _collect(root_nodes)

    capture = {}
    input_edges = []
    if inputs is not None:
        for t in inputs:
            e = edge(t)
            input_edges.append(e)
            if e[0] is not None:
                capture[e] = None
        needed = _needed({n for n, _ in capture}, parents)
    else:
        needed = None

    buffers = {}
    for (node, nr), grad in zip(root_edges, root_grads):
        if node is None:
            continue
        slot = buffers.setdefault(node, [None] * node.num_outputs)
        slot[nr] = grad if slot[nr] is None else slot[nr] + grad

    ready = [(-n.sequence_nr, id(n), n) for n in root_nodes
             if dependencies.get(n, 0) == 0]
    heapq.heapify(ready)
    saved_mode = grad_mode.state.enabled
    grad_mode.state.enabled = create_graph
    try:
        while ready:
            _, _, node = heapq.heappop(ready)
            grads = buffers.pop(node, None)
            outputs = _run_node(node, grads, capture, needed, accumulate,
                                inputs, retain_graph, create_graph)
            for i, (child, nr) in enumerate(node.next_functions):
                if child is None:
                    continue
                grad = outputs[i] if outputs is not None else None
                if grad is not None:
                    grad = _sum_to(grad, node.input_meta[i])
                    slot = buffers.setdefault(child,
                                              [None] * child.num_outputs)
                    slot[nr] = grad if slot[nr] is None else slot[nr] + grad
                dependencies[child] -= 1
                if dependencies[child] == 0:
                    heapq.heappush(ready, (-child.sequence_nr, id(child),
                                           child))
            # Drop this frame's references, so _adoptable's count is
            # exact: only the buffer slot then holds a pending gradient.
            outputs = grad = None
    finally:
        grad_mode.state.enabled = saved_mode
    if not accumulate:
        return [capture.get(e) if e[0] is not None else None
                for e in input_edges]
    return None


def _run_node(node, grads, capture, needed, accumulate, inputs,
              retain_graph, create_graph):
    if grads is None or all(g is None for g in grads):
        return None
    if node.tensor_pre_hooks:
        for nr, hooks in node.tensor_pre_hooks.items():
            if grads[nr] is not None and hooks:
                grads[nr] = _apply_tensor_hooks(hooks, grads[nr])
    if isinstance(node, AccumulateGrad):
        leaf = node.variable
        if leaf._backward_hooks:
            grads[0] = _apply_tensor_hooks(leaf._backward_hooks, grads[0])
    if node.retain_grad_hooks:
        for nr, ref in node.retain_grad_hooks.items():
            t = ref()
            if t is not None and grads[nr] is not None:
                g = grads[nr]
                if t._grad is None:
                    t._grad = g if create_graph else g.detach()
                else:
                    t._grad = t._grad + g
    if capture:
        for nr in range(node.num_outputs):
            if (node, nr) in capture and grads[nr] is not None:
                previous = capture[(node, nr)]
                capture[(node, nr)] = grads[nr] if previous is None \
                    else previous + grads[nr]
    if node.pre_hooks:
        for fn in list(node.pre_hooks.values()):
            result = fn(tuple(grads))
            if result is not None:
                grads = list(result)
    if isinstance(node, AccumulateGrad):
        if accumulate and (inputs is None or (node, 0) in capture):
            _accumulate(node.variable, grads[0], create_graph)
        return None
    if needed is not None and node not in needed:
        return None
    if node.num_outputs > 1 and any(g is None for g in grads):
        from ..creation import zeros
        grads = [zeros(meta[0], dtype=meta[1]) if g is None else g
                 for g, meta in zip(grads, node.metadata.get(
                     "output_meta", [None] * node.num_outputs))]
    outputs = node.apply(grads)
    if node.post_hooks:
        for fn in list(node.post_hooks.values()):
            result = fn(tuple(outputs), tuple(grads))
            if result is not None:
                outputs = list(result)
    if not retain_graph:
        node.release()
    return outputs
