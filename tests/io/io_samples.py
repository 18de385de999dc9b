"""Synthetic photos written with real encoders (Pillow, OpenCV, tifffile, pillow-heif, pydicom).

Every maker returns the file's bytes; nothing is downloaded.
"""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pillow_heif
import tifffile
from numpy.typing import NDArray
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID, ExplicitVRLittleEndian, JPEGBaseline8Bit, RLELossless, generate_uid

VL_PHOTOGRAPHIC = "1.2.840.10008.5.1.4.1.1.77.1.4"

# The stored image that a given EXIF orientation turns into the upright one: 6 and 8 undo each
# other, the other six undo themselves.
INVERSE_ORIENTATION = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}


def upright_truth(orientation: int, image: NDArray) -> NDArray:
    """Apply EXIF ``orientation`` the way Pillow's ``ImageOps.exif_transpose`` does.

    Written independently of ``skinscan.io``: Pillow's transpose methods, per EXIF 2.32.
    """
    methods = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }
    if orientation == 1:
        return image
    channels = [
        np.asarray(Image.fromarray(image[:, :, c]).transpose(methods[orientation]))
        for c in range(image.shape[2])
    ]
    return np.stack(channels, axis=-1)


def stored_for(orientation: int, upright: NDArray) -> NDArray:
    """The pixels to store so that a viewer honouring ``orientation`` shows ``upright``."""
    return np.ascontiguousarray(upright_truth(INVERSE_ORIENTATION[orientation], upright))


def quadrants(height: int = 64, width: int = 96) -> NDArray[np.uint8]:
    """Four flat, distinct colours: every one of the 8 orientations rearranges them differently."""
    image = np.empty((height, width, 3), np.uint8)
    h2, w2 = height // 2, width // 2
    image[:h2, :w2] = (220, 30, 30)
    image[:h2, w2:] = (30, 200, 40)
    image[h2:, :w2] = (30, 40, 210)
    image[h2:, w2:] = (230, 220, 40)
    return image


def noise(height: int, width: int, dtype: type = np.uint8, *, seed: int = 0) -> NDArray:
    """Uniform random RGB over the dtype's full range."""
    top = np.iinfo(dtype).max
    return (
        np.random.default_rng(seed)
        .integers(0, top, (height, width, 3), endpoint=True)
        .astype(dtype)
    )


def smooth(height: int = 96, width: int = 128) -> NDArray[np.uint8]:
    """Gradients: what lossy codecs reproduce closely."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([xx / width, yy / height, 0.5 + 0.4 * np.sin(xx / 9 + yy / 13)], -1)
    return np.round(image * 255).astype(np.uint8)


def exif_block(orientation: int | None = None, *, gps: bool = False) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Canon"  # Make
    exif[0x0110] = "EOS Test"  # Model
    if orientation is not None:
        exif[0x0112] = orientation
    exif.get_ifd(0x8769)[0x829A] = 1 / 125  # ExposureTime
    if gps:
        gps_ifd = exif.get_ifd(0x8825)
        gps_ifd[1] = "N"
        gps_ifd[2] = (52.0, 22.0, 12.0)
        gps_ifd[3] = "E"
        gps_ifd[4] = (4.0, 53.0, 42.0)
    return exif


def jpeg(rgb: NDArray, *, exif: Image.Exif | None = None, quality: int = 95) -> bytes:
    out = io.BytesIO()
    extra = {"exif": exif} if exif is not None else {}
    Image.fromarray(rgb).save(out, "JPEG", quality=quality, **extra)
    return out.getvalue()


def png(image: NDArray, *, exif: Image.Exif | None = None) -> bytes:
    """8-bit through Pillow (which can add eXIf); 16-bit RGB through OpenCV."""
    if image.dtype == np.uint16 and image.ndim == 3:
        ok, encoded = cv2.imencode(".png", np.ascontiguousarray(image[:, :, ::-1]))
        assert ok
        return encoded.tobytes()
    out = io.BytesIO()
    extra = {"exif": exif} if exif is not None else {}
    Image.fromarray(image).save(out, "PNG", **extra)
    return out.getvalue()


def tiff(
    image: NDArray, *, orientation: int | None = None, compression: str | None = None
) -> bytes:
    out = io.BytesIO()
    tags = [(274, "H", 1, orientation, True)] if orientation is not None else []
    photometric = "rgb" if image.ndim == 3 else "minisblack"
    tifffile.imwrite(
        out, image, photometric=photometric, compression=compression, extratags=tags, metadata=None
    )
    return out.getvalue()


def heic(rgb: NDArray, *, orientation: int | None = None, quality: int = 95) -> bytes:
    """HEIC via libheif/x265; ``orientation`` becomes the container's irot/imir properties."""
    mode = "RGB;16" if rgb.dtype == np.uint16 else "RGB"
    heif = pillow_heif.from_bytes(mode, (rgb.shape[1], rgb.shape[0]), rgb.tobytes())
    if orientation is not None:
        heif.info["exif"] = exif_block(orientation).tobytes()
    out = io.BytesIO()
    heif.save(out, quality=quality)
    return out.getvalue()


def dicom(
    pixels: NDArray,
    *,
    photometric: str = "RGB",
    rle: bool = False,
    bits_stored: int | None = None,
) -> bytes:
    """A VL Photographic Image object, uncompressed or RLE Lossless."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(VL_PHOTOGRAPHIC)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = UID(VL_PHOTOGRAPHIC)
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "XC"
    ds.PatientName = "Test^Patient"
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.SamplesPerPixel = 3 if pixels.ndim == 3 else 1
    ds.PhotometricInterpretation = photometric
    if pixels.ndim == 3:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = pixels.itemsize * 8
    ds.BitsStored = bits_stored or pixels.itemsize * 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    if rle:
        ds.compress(RLELossless, pixels, encoding_plugin="pydicom")
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def dicom_jpeg(rgb: NDArray[np.uint8], *, quality: int = 95) -> bytes:
    """A VL Photographic Image with JPEG Baseline pixel data (YBR_FULL_422), as cameras write."""
    ds = _read_dicom(dicom(rgb))
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PixelData = encapsulate([jpeg(rgb, quality=quality)])
    ds["PixelData"].VR = "OB"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _read_dicom(data: bytes) -> Dataset:
    from pydicom import dcmread

    return dcmread(io.BytesIO(data))


# sRGB (D65) XYZ -> linear sRGB, IEC 61966-2-1: as a DNG ColorMatrix1 it makes camera RGB equal
# to linear sRGB, so LibRaw's output can be checked against the scene that was written.
_XYZ_TO_SRGB = np.array(
    [
        [3.2404542, -1.5371385, -0.4985314],
        [-0.9692660, 1.8760108, 0.0415560],
        [0.0556434, -0.2040259, 1.0572252],
    ]
)
DNG_WHITE = 4095


def dng(scene: NDArray[np.floating], *, orientation: int = 1) -> bytes:
    """A minimal Bayer (RGGB) DNG of a linear scene in [0, 1], 12-bit, written with tifffile.

    The tags are those LibRaw needs to recognise and render a DNG (Adobe DNG Specification 1.4):
    DNGVersion, UniqueCameraModel, CFARepeatPatternDim, CFAPattern, CFAPlaneColor, CFALayout,
    BlackLevel, WhiteLevel, ColorMatrix1, CalibrationIlluminant1 and AsShotNeutral.
    """
    height, width = scene.shape[:2]
    mosaic = np.empty((height, width), np.uint16)
    for (dy, dx), channel in {(0, 0): 0, (0, 1): 1, (1, 0): 1, (1, 1): 2}.items():
        values = scene[dy::2, dx::2, channel] * DNG_WHITE
        mosaic[dy::2, dx::2] = np.round(values).astype(np.uint16)
    matrix: list[int] = []
    for value in _XYZ_TO_SRGB.ravel():
        matrix += [round(value * 10000), 10000]
    tags = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50708, "s", 0, "skinscan test camera", True),  # UniqueCameraModel
        (271, "s", 0, "skinscan", True),  # Make
        (272, "s", 0, "test camera", True),  # Model
        (274, "H", 1, orientation, True),  # Orientation
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern: R G / G B
        (50710, "B", 3, (0, 1, 2), True),  # CFAPlaneColor
        (50711, "H", 1, 1, True),  # CFALayout: rectangular
        (50714, "H", 1, 0, True),  # BlackLevel
        (50717, "H", 1, DNG_WHITE, True),  # WhiteLevel
        (50721, "2i", 9, tuple(matrix), True),  # ColorMatrix1 (SRATIONAL)
        (50778, "H", 1, 21, True),  # CalibrationIlluminant1: D65
        (50728, "2I", 3, (1, 1, 1, 1, 1, 1), True),  # AsShotNeutral
    ]
    out = io.BytesIO()
    tifffile.imwrite(out, mosaic, photometric=32803, subfiletype=0, extratags=tags, metadata=None)
    return out.getvalue()


def giant_png(width: int, height: int) -> bytes:
    """A valid 1-bit grey PNG of any size, streamed through zlib: a few hundred KB for 40k²."""
    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then all-black samples
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(height)]
    idat = b"".join(parts) + compressor.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
