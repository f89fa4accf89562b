"""Exception classes of colorcli: the library raises these, the CLI reports them."""

from __future__ import annotations


class ColorcliError(Exception):
    """Base class of every error colorcli raises on purpose."""


class ImageError(ColorcliError):
    """An image could not be read, decoded or written."""


class OutputExistsError(ImageError):
    """An image was not written because its output name already exists (no ``overwrite``)."""


class VideoError(ColorcliError):
    """A video could not be read, decoded or written."""


class DeviceError(ColorcliError):
    """The requested compute device is not available."""


class UnknownDeviceError(DeviceError):
    """A device name that is none of auto, cpu, cuda, cuda:N, mps (a bad option value)."""


class ModelError(ColorcliError):
    """A model name, architecture or configuration is invalid."""


class UnknownModelError(ModelError):
    """A model name that is neither published nor a checkpoint file (a bad option value)."""


class CheckpointError(ColorcliError):
    """A checkpoint file is missing, corrupt, hostile or does not match its architecture."""


class DownloadError(ColorcliError):
    """A checkpoint could not be downloaded or failed verification."""


class DataError(ColorcliError):
    """A training or evaluation data set could not be found or read."""


class TrainingError(ColorcliError):
    """Training cannot go on (bad configuration, NaN loss, …)."""


class UsageError(ColorcliError):
    """Options that contradict each other or the file system (exit code 2 in the CLI)."""


class HintError(ColorcliError):
    """A colour hint, hint image or reference photo is malformed or does not fit the photo."""
