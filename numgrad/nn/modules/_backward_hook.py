"""Full backward hooks on a module's real inputs and outputs.

The module's tensor inputs and outputs pass through an identity autograd
Function.  The node behind the outputs sees the gradients w.r.t. the
outputs (``grad_output``) before anything inside the module runs; the node
behind the inputs runs once the gradients w.r.t. all inputs are complete
(``grad_input``).  So what the hook receives never depends on which op
``forward`` happens to end with."""
import warnings

from ...autograd import grad_mode
from ...autograd.function import Function
from ...tensor import Tensor


class BackwardHookFunction(Function):
    @staticmethod
    def forward(ctx, *args):
        ctx.mark_non_differentiable(*[a for a in args
                                      if not a.requires_grad])
        return args

    @staticmethod
    def backward(ctx, *grads):
        return grads


def _pack(indices, values, size):
    packed = [None] * size
    for index, value in zip(indices, values):
        packed[index] = value
    return tuple(packed)


class BackwardHook:
    """One module call's hooks: set up on the inputs before ``forward``
    and on the outputs after it."""

    def __init__(self, module, user_hooks, user_pre_hooks):
        self.module = module
        self.user_hooks = user_hooks
        self.user_pre_hooks = user_pre_hooks
        self.grad_outputs = None
        self.n_inputs = -1
        self.input_index = None
        self.n_outputs = -1
        self.output_index = None

    def _wrap(self, args, register):
        """Passes the tensors in ``args`` through the identity Function;
        returns the new args and the positions of the tensors."""
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        tensors = [args[i] for i in positions]
        if not (grad_mode.is_grad_enabled()
                and any(t.requires_grad for t in tensors)):
            return args, None
        wrapped = BackwardHookFunction.apply(*tensors)
        node = next(t.grad_fn for t in wrapped
                    if t.grad_fn is not None
                    and t.grad_fn.name() == "BackwardHookFunctionBackward")
        register(node)
        new_args = list(args)
        for i, t in zip(positions, wrapped):
            new_args[i] = t
        return tuple(new_args), positions

    # ---- inputs: the user hooks run when grad_input is complete ---------
    def setup_input_hook(self, args):
        new_args, positions = self._wrap(args, self._register_input_hook)
        self.n_inputs = len(args)
        self.input_index = positions
        return new_args

    def _register_input_hook(self, node):
        def hook(grad_inputs, _grad_outputs):
            if self.grad_outputs is None:
                # The gradient reached the inputs without passing through
                # the outputs (e.g. double backward): nothing to report.
                return None
            grad_input = _pack(self.input_index, grad_inputs, self.n_inputs)
            for user_hook in self.user_hooks:
                result = user_hook(self.module, grad_input,
                                   self.grad_outputs)
                if result is None:
                    continue
                if not isinstance(result, (tuple, list)):
                    result = (result,)
                if len(result) != len(grad_input):
                    raise RuntimeError(
                        "Backward hook returned an invalid number of "
                        f"grad_input, got {len(result)}, but expected "
                        f"{len(grad_input)}")
                grad_input = tuple(result)
            self.grad_outputs = None
            return tuple(grad_input[i] for i in self.input_index)
        node.register_hook(hook)

    # ---- outputs: grad_output is captured (and pre-hooks run) -------------
    def setup_output_hook(self, result):
        single = not isinstance(result, tuple)
        outputs = (result,) if single else result
        new_outputs, positions = self._wrap(outputs,
                                            self._register_output_hook)
        self.n_outputs = len(outputs)
        self.output_index = positions
        return new_outputs[0] if single else new_outputs

    def _register_output_hook(self, node):
        def prehook(grad_outputs):
            self.grad_outputs = _pack(self.output_index, grad_outputs,
                                      self.n_outputs)
            for user_pre_hook in self.user_pre_hooks:
                result = user_pre_hook(self.module, self.grad_outputs)
                if result is None:
                    continue
                if not isinstance(result, (tuple, list)):
                    result = (result,)
                if len(result) != len(self.grad_outputs):
                    raise RuntimeError(
                        "Backward pre hook returned an invalid number of "
                        f"grad_output, got {len(result)}, but expected "
                        f"{len(self.grad_outputs)}")
                self.grad_outputs = tuple(result)
            local = self.grad_outputs
            if self.input_index is None and self.user_hooks:
                # No input requires grad: report now, with None entries.
                warnings.warn(
                    "Full backward hook is firing when gradients are "
                    "computed with respect to module outputs since no "
                    "inputs require gradients. See https://docs.pytorch.org"
                    "/docs/main/generated/torch.nn.Module.html#torch.nn."
                    "Module.register_full_backward_hook for more details.",
                    stacklevel=2)
                grad_input = (None,) * self.n_inputs
                for user_hook in self.user_hooks:
                    out = user_hook(self.module, grad_input,
                                    self.grad_outputs)
                    if out is not None and not (
                            isinstance(out, tuple)
                            and all(g is None for g in out)):
                        raise RuntimeError(
                            "Backward hook for Modules where no input "
                            "requires gradient should always return None "
                            "or None for all gradients.")
                self.grad_outputs = None
            return tuple(local[i] for i in self.output_index)
        node.register_prehook(prehook)
