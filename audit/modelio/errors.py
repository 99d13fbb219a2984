"""The errors of model loading: a file Assay refuses, and a model that breaks the contract."""

from __future__ import annotations

__all__ = ["ACCEPTED_FORMATS", "CLASSIFIER_FORMATS", "FORMATS", "ModelContractError", "ModelFormatError"]

FORMATS = ("torch-zoo", "torch-export", "onnx", "sklearn", "gguf")
# The classifier formats: audits, DP training and scheduled audits read these; gguf is a generative model.
CLASSIFIER_FORMATS = FORMATS[:4]

ACCEPTED_FORMATS = (
    "torch-zoo (zip: config.json + weights.safetensors), torch-export (.pt2), "
    "onnx (.onnx), sklearn (skops .skops), gguf (.gguf, a generative language model)"
)


class ModelFormatError(ValueError):
    """A model file Assay will not load: a pickle, a format mismatch, a malformed or unsafe file.

    The message always ends with the list of accepted formats, so an API error built from it
    tells the uploader what to send instead.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"{reason.rstrip('.')}. Accepted formats: {ACCEPTED_FORMATS}.")


class ModelContractError(ValueError):
    """A model that loads but does not honour the model contract (inputs, outputs, classes)."""
