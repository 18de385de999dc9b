"""Photo standardisation: quality gate, colour calibration, face geometry and regions.

``standardise(photo, protocol=...)`` turns a loaded :class:`~skinscan.io.Photo` into a
:class:`StandardPhoto`: an analysis-resolution copy in calibrated linear sRGB, the quality report,
the calibration, the face geometry (landmarks, pose, scale, canonical transform) and the region
masks the measures work on.
"""
