"""numgrad.onnx: importable, so model files that import it load, but
numgrad records no graph that could become an ONNX program."""

_NO_ONNX = (
    "numgrad.onnx.{name}: exporting to ONNX is not supported; numgrad "
    "runs eagerly and records no graph to export. Save the weights with "
    "numgrad.save(model.state_dict(), 'model.pth'), load them into the "
    "same model in PyTorch and export from there.")


def export(model, args=(), f=None, *, kwargs=None, **options):
    raise NotImplementedError(_NO_ONNX.format(name="export"))


def dynamo_export(model, *model_args, export_options=None,
                  **model_kwargs):
    # gone from torch 2.13, still called by code written for 2.1-2.5
    raise NotImplementedError(_NO_ONNX.format(name="dynamo_export"))


def is_in_onnx_export():
    """False: model code asks this to switch to export-friendly ops."""
    return False
