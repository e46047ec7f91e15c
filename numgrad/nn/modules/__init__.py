"""numgrad.nn.modules: Module and the layers, one file per family."""
from .module import Module  # noqa: F401
from .activation import (CELU, ELU, GELU, GLU, Hardsigmoid,  # noqa: F401
                         Hardswish, Hardtanh, LeakyReLU, LogSigmoid,
                         LogSoftmax, Mish, PReLU, ReLU, ReLU6, SELU, SiLU,
                         Sigmoid, Softmax, Softmax2d, Softmin, Softplus,
                         Softsign, Tanh, Tanhshrink, Threshold)
from .container import (ModuleDict, ModuleList, ParameterDict,  # noqa: F401
                        ParameterList, Sequential)
from .conv import (Conv1d, Conv2d, ConvTranspose1d,  # noqa: F401
                   ConvTranspose2d)
from .dropout import Dropout, Dropout1d, Dropout2d, Dropout3d  # noqa: F401
from .flatten import Flatten, Unflatten  # noqa: F401
from .padding import (CircularPad2d, ConstantPad1d,  # noqa: F401
                      ConstantPad2d, ReflectionPad1d, ReflectionPad2d,
                      ReplicationPad1d, ReplicationPad2d, ZeroPad1d,
                      ZeroPad2d)
from .linear import Bilinear, Identity, Linear  # noqa: F401
from .loss import (BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss,  # noqa
                   CrossEntropyLoss, GaussianNLLLoss, HingeEmbeddingLoss,
                   HuberLoss, KLDivLoss, L1Loss, MarginRankingLoss, MSELoss,
                   NLLLoss, PoissonNLLLoss, SmoothL1Loss, SoftMarginLoss)
from .norm import (BatchNorm1d, BatchNorm2d, BatchNorm3d,  # noqa: F401
                   GroupNorm, InstanceNorm1d, InstanceNorm2d, LayerNorm,
                   RMSNorm)
from .pool import (AdaptiveAvgPool1d, AdaptiveAvgPool2d,  # noqa: F401
                   AdaptiveMaxPool1d, AdaptiveMaxPool2d, AvgPool1d,
                   AvgPool2d, MaxPool1d, MaxPool2d)
from .sparse import Embedding  # noqa: F401
from .upsampling import (Upsample, UpsamplingBilinear2d,  # noqa: F401
                         UpsamplingNearest2d)
