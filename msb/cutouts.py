"""Cutouts as one PNG: science, template and difference side by side.

Stamps arrive as (usually gzipped) FITS. Each is scaled on its own (percentile clip, then an
asinh stretch) because the difference image is centred on zero while the others are not.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

PANEL = 189  # 63-pixel ZTF stamps drawn 3x
LABEL_H = 16


def stamp_array(blob: bytes) -> np.ndarray:
    """The 2-D image inside one (gzipped) FITS stamp."""
    import warnings

    from astropy.io import fits
    from astropy.io.fits.verify import VerifyWarning

    if blob[:2] == b"\x1f\x8b":
        blob = gzip.decompress(blob)
    # ZTF's stamps carry a slightly non-standard SIMPLE card; the pixels are fine.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VerifyWarning)
        with fits.open(io.BytesIO(blob), memmap=False) as hdul:
            for hdu in hdul:
                if hdu.data is not None and getattr(hdu.data, "ndim", 0) == 2:
                    return np.asarray(hdu.data, dtype=np.float64)
    raise ValueError("FITS stamp holds no 2-D image")


def _to_gray(img: np.ndarray) -> Image.Image:
    finite = np.isfinite(img)
    if not finite.any():
        return Image.new("L", img.shape[::-1], 0)
    lo, hi = np.percentile(img[finite], [0.5, 99.5])
    scaled = np.clip((np.where(finite, img, lo) - lo) / max(hi - lo, 1e-12), 0, 1)
    scaled = np.arcsinh(10 * scaled) / np.arcsinh(10)
    # FITS rows run bottom-up; images top-down.
    return Image.fromarray((scaled[::-1] * 255).astype(np.uint8), mode="L")


def cutouts_png(stamps: dict[str, bytes | None], title: str) -> bytes:
    """One PNG with the three stamps; a missing or broken stamp is drawn as an empty panel."""
    kinds = ("science", "template", "difference")
    canvas = Image.new("L", (PANEL * 3 + 4 * 2, PANEL + 2 * LABEL_H), 32)
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 2), title, fill=255)
    for i, kind in enumerate(kinds):
        x = i * (PANEL + 4)
        blob = stamps.get(kind)
        label = kind
        if blob:
            try:
                panel = _to_gray(stamp_array(blob)).resize((PANEL, PANEL), Image.Resampling.NEAREST)
                canvas.paste(panel, (x, LABEL_H))
            except Exception as exc:  # noqa: BLE001 - a broken stamp must not lose the others
                label = f"{kind}: unreadable ({type(exc).__name__})"
        else:
            label = f"{kind}: missing"
        draw.text((x + 4, LABEL_H + PANEL + 2), label, fill=255)
    out = io.BytesIO()
    canvas.save(out, format="PNG")
    return out.getvalue()


def write_cutouts(directory: Path, object_id: str, candid: object, stamps: dict[str, bytes | None]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{object_id}_{candid}.png"
    path.write_bytes(cutouts_png(stamps, f"{object_id}  candid {candid}"))
    return path
