"""Parameters of the sagittal-plane localisation model (Baumgartner, Majdak & Laback 2014),
shared by its stages (:mod:`hrtfeval.localisation_spectra`, :mod:`hrtfeval.localisation_response`)
and re-exported by :mod:`hrtfeval.localisation`.
"""

from __future__ import annotations

import numpy as np

#: Machine epsilon of IEEE double, the model's regulariser.
EPS = 2.220446049250313e-16
#: Default sensitivity S of the similarity sigmoid.
SENSITIVITY = 0.7
#: Default lateral angle (degrees): the median plane.
LATERAL = 0.0
#: Band of the DTF normalisation (Hz).
DTF_BAND = (50.0, 18000.0)
#: Lowest and highest frequency (Hz) of the gammatone band centres.
BAND_LIMITS = (700.0, 18000.0)
#: Slope of the similarity sigmoid (per unit of distance).
SIMILARITY_SLOPE = 6.0
#: Binaural weighting constant (degrees).
BINAURAL_WEIGHTING = 13.0
#: Motor-response scatter at the median plane (degrees).
MOTOR_SCATTER = 17.0
#: Spacing (degrees) of the response polar angles, and their range (-90 ... 265).
RESPONSE_STEP = 5.0
RESPONSE_POLAR = np.arange(-90.0, 270.0, RESPONSE_STEP)  # 72 angles
#: Targets below this polar angle (degrees) count in the elevation bias.
EB_LIMIT = 80.0
#: Quadrant error: a response at least this far (degrees) from the target is a quadrant error.
QUADRANT = 90.0
#: Sagittal-plane widths tried (degrees) and their coverage criteria (degrees).
_WIDTHS = (1, 2, 3, 4, 5)
_COVER_LOW, _COVER_HIGH, _MAX_GAP = -29.99, 209.99, 30.0
#: (3!)^2 / (pi * 6! * 2^-6): the gammatone bandwidth factor of order 4.
_GAMMATONE_BW = 1.0185916357881302

MODEL = (
    "Baumgartner, Majdak & Laback (2014), J. Acoust. Soc. Am. 136(2):791-802, "
    "erratum 140(4):2456 (2016)"
)
