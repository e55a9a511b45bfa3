"""rgasc: relation-guided acoustic scene classification aided with event embeddings.

Public API (imported on first use, so ``import rgasc`` stays light: no torch)::

    import rgasc
    predictor = rgasc.load_model("runs/my-run")          # or a checkpoints/best.pt file
    pred = predictor.predict_file("street.wav")          # any rate, channels, length
    pred.scene, pred.scene_dict(), pred.evidence, pred.timeline
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from rgasc.inference.predict import Prediction, Predictor, load_model

# public name -> module that defines it
_LAZY = {
    "load_model": "rgasc.inference.predict",
    "Predictor": "rgasc.inference.predict",
    "Prediction": "rgasc.inference.predict",
}

__all__ = ["Prediction", "Predictor", "__version__", "load_model"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
