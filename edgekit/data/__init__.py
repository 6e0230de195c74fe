"""Reading images and MVTec-layout datasets (numpy and OpenCV only; every stage may use it)."""

from edgekit.data.images import ImageConversion, read_image, resize_to, to_bgr
from edgekit.data.mvtec import IMAGE_SUFFIXES, Dataset, Sample, load_split, scan_dataset

__all__ = [
    "IMAGE_SUFFIXES",
    "Dataset",
    "ImageConversion",
    "Sample",
    "load_split",
    "read_image",
    "resize_to",
    "scan_dataset",
    "to_bgr",
]
