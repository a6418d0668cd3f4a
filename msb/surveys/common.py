"""What every survey's flat row shares: the previous detections' fields and the cutout columns."""

from __future__ import annotations

PRV_FIELDS = [("candid", "long"), ("jd", "double"), ("fid", "int"), ("magpsf", "float"), ("sigmapsf", "float"),
              ("diffmaglim", "float"), ("isdiffpos", "string"), ("rb", "float"), ("ra", "double"), ("dec", "double")]
CUTOUT_COLUMNS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")
# The columns msb.alert.summary() shows first, the same for every survey.
SUMMARY_FIELDS = ("survey", "objectId", "candid", "jd", "ra", "dec", "magpsf", "band", "reliability")
