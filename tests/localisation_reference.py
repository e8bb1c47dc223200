"""Independent plain-numpy/scipy reference of the sagittal-plane localisation model (issue 14).

Baumgartner, Majdak & Laback (2014), J. Acoust. Soc. Am. 136(2):791-802, with the erratum in
JASA 140(4):2456 (2016). Written from the issue's step-by-step definition ("The model,
exactly", steps 0-11) alone, without looking at hrtfeval's implementation or at the MATLAB
original, so that the tests can compare the two. It is deliberately slow and literal:
per-direction Python loops, scalar ``math`` for the coordinates, ``scipy.signal.lfilter`` with
the expanded 4th-order denominator ``np.poly([a, a, a, a])`` for the gammatone,
``scipy.interpolate.CubicSpline(bc_type="not-a-knot")`` and ``scipy.special.i0``.

Arrays: impulse responses ``(M, 2, N)`` (ear 0 = left), positions ``(M, >=2)`` with azimuth
and elevation in degrees as stored in the file, ``fs`` in Hz. All angles are in degrees.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

EPS = 2.220446049250313e-16
RESPONSE_ANGLES = np.arange(-90.0, 266.0, 5.0)  # 72 angles, exact multiples of 5


# -- step 0: directional transfer functions --------------------------------------------------


def dtf(ir: np.ndarray, fs: float) -> np.ndarray:
    """Step 0: divide each ear's IRs by the set's minimum-phase common transfer function."""
    ir = np.asarray(ir, dtype=float)
    m_dirs, n_ears, n = ir.shape
    out = np.empty_like(ir)
    k = np.arange(n)
    f = k * fs / n
    sel = (k <= n // 2) & (f >= 50.0) & (f <= 18000.0)
    kk = np.flatnonzero(sel)
    bins = np.union1d(kk, (n - kk) % n)
    for ear in range(n_ears):
        spectra = [np.fft.fft(ir[m, ear]) for m in range(m_dirs)]
        acc = np.zeros(n)
        for h in spectra:
            acc = acc + np.log(np.abs(h) + EPS)
        a = acc / m_dirs
        c = np.real(np.fft.ifft(a))
        fold = np.zeros(n)
        fold[0] = c[0]
        if n % 2 == 0:
            fold[1 : n // 2] = 2.0 * c[1 : n // 2]
            fold[n // 2] = c[n // 2]
        else:
            fold[1 : (n - 1) // 2 + 1] = 2.0 * c[1 : (n - 1) // 2 + 1]
        phi = np.angle(np.exp(np.fft.fft(fold)))
        ctf = np.exp(a) * np.exp(1j * phi)
        for m in range(m_dirs):
            h = spectra[m].copy()
            h[bins] = h[bins] / ctf[bins]
            out[m, ear] = np.real(np.fft.ifft(h))
    return out


# -- step 1: coordinates ---------------------------------------------------------------------


def lateral_polar(azimuth: float, elevation: float) -> tuple[float, float]:
    """Step 1 for one direction, in scalar IEEE double exactly in the written order."""
    phr = float(azimuth) * (math.pi / 180)
    thr = float(elevation) * (math.pi / 180)
    x = math.cos(thr) * math.cos(phr)
    y = math.cos(thr) * math.sin(phr)
    z = math.sin(thr)
    x = 0.0 if abs(x) < EPS else x
    y = 0.0 if abs(y) < EPS else y
    z = 0.0 if abs(z) < EPS else z
    lat = math.atan2(y, math.sqrt(x * x + z * z)) * (180 / math.pi)
    q = math.atan2(z, x) * (180 / math.pi) + 90
    pol = (q - 360 * math.floor(q / 360)) - 90
    return lat, pol


# -- step 2: sagittal plane ------------------------------------------------------------------


def sagittal_plane(positions: np.ndarray, lateral: float) -> tuple[list[int], list[float]]:
    """Step 2: file indices and polar angles of the plane at ``lateral``, sorted by polar."""
    coords = [lateral_polar(p[0], p[1]) for p in np.asarray(positions, dtype=float)]
    chosen = None
    for w in (1, 2, 3, 4, 5):
        tol = (w + 0.01) / 2
        idx = [m for m, (lat, _) in enumerate(coords) if abs(lat - lateral) <= tol]
        idx.sort(key=lambda m: coords[m][1])  # stable: file order among equal polar values
        uniq: list[int] = []
        for m in idx:
            if not uniq or coords[m][1] != coords[uniq[-1]][1]:
                uniq.append(m)
        chosen = uniq
        pol = [coords[m][1] for m in uniq]
        if pol and pol[0] <= -29.99 and pol[-1] >= 209.99:
            gaps = [pol[i + 1] - pol[i] for i in range(len(pol) - 1)]
            if all(g <= 30 for g in gaps):
                break
    if not chosen:
        raise ValueError(f"no direction near lateral angle {lateral}")
    return chosen, [coords[m][1] for m in chosen]


# -- step 3/4: band levels and gradients ------------------------------------------------------


def erb_rate(f: float) -> float:
    return 9.2645 * math.log(1 + 0.00437 * f)


def centre_frequencies() -> np.ndarray:
    lo, hi = erb_rate(700.0), erb_rate(18000.0)
    n = math.floor(hi - lo)
    r = hi - lo - n
    pts = [lo + r / 2 + j for j in range(n + 1)]
    return np.array([(math.exp(e / 9.2645) - 1) / 0.00437 for e in pts])


def gammatone_coefficients(fc: float, fs: float) -> tuple[float, complex]:
    erb = 24.7 + fc / 9.265
    beta = 1.0185916357881302 * erb
    a = np.exp(-2 * math.pi * beta / fs - 1j * 2 * math.pi * fc / fs)
    b = (1 - math.exp(-2 * math.pi * beta / fs)) ** 4
    return b, a


def poly_loop(root: complex, order: int = 4) -> np.ndarray:
    """Coefficients of (1 - root z^-1)^order built one root at a time, c[1:j+1] -= root*c[:j]."""
    c = np.zeros(order + 1, dtype=complex)
    c[0] = 1.0
    for j in range(1, order + 1):
        c[1 : j + 1] = c[1 : j + 1] - root * c[:j]
    return c


@functools.lru_cache(maxsize=16)
def _filters(fs: float, filt: str) -> tuple:
    """(fc, b, a, expanded denominator) per band; the denominator per ``filt`` (see below)."""
    out = []
    for fc in centre_frequencies():
        if fc >= fs / 2:
            raise ValueError(f"centre frequency {fc} Hz at or above fs/2")
        b, a = gammatone_coefficients(fc, fs)
        den = poly_loop(a) if filt == "loop" else np.poly([a, a, a, a])
        out.append((fc, b, a, den))
    return tuple(out)


def band_levels(x: np.ndarray, fs: float, filt: str = "poly") -> np.ndarray:
    """Step 3 for one real IR: the 28 gammatone band levels in dB.

    ``filt`` is the form of the 4th-order recursion, the one place where floating-point order
    may differ: ``"poly"`` (one ``lfilter`` with ``np.poly([a, a, a, a])``), ``"loop"`` (the
    same expanded denominator built root by root with ``c[1:j+1] -= a*c[:j]``) or
    ``"cascade"`` (four first-order complex ``lfilter`` sections, gain applied at the end).
    """
    from scipy.signal import lfilter

    n = len(x)
    levels = []
    for fc, b, a, den in _filters(fs, filt):
        if filt == "cascade":
            y = x.astype(complex)
            for _ in range(4):
                y = lfilter([1.0], [1.0, -a], y)
            y = b * y
        else:
            y = lfilter([b], den, x.astype(complex))
        u = 2 * np.real(y[:n])
        lev = 20 * np.log10(np.sqrt(np.sum(u * u) / n))
        if not np.isfinite(lev):
            raise ValueError("silent band")
        levels.append(lev)
    return np.array(levels)


def gradients(levels: np.ndarray) -> np.ndarray:
    """Step 4: positive spectral gradients, 27 values."""
    return np.maximum(levels[1:] - levels[:-1], 0.0)


# -- steps 5-11 ------------------------------------------------------------------------------


@dataclass
class Result:
    qe: float
    pe: float
    eb: float
    target_polar: np.ndarray
    response_polar: np.ndarray
    template_polar: np.ndarray
    probability: np.ndarray  # (72, n_targets)
    qe_i: np.ndarray
    pe_i: np.ndarray
    eb_i: np.ndarray  # NaN where tau >= 80


def vonmises_kernel(lateral: float) -> np.ndarray:
    eps_deg = 17 / math.cos(lateral * math.pi / 180)
    kappa = 1 / (eps_deg * math.pi / 180) ** 2
    from scipy.special import i0

    x = np.array([2 * math.pi * k / 72 for k in range(72)])
    return np.exp(kappa * np.cos(x)) / (2 * math.pi * i0(kappa))


def errors(p: np.ndarray, target_polar: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 11 per target: QE_i, PE_i, EB_i (NaN where tau >= 80)."""
    r = RESPONSE_ANGLES
    qe, pe, eb = [], [], []
    for i, tau in enumerate(target_polar):
        d = np.empty(72)
        for k in range(72):
            v = tau - r[k]
            if v < -180 or v > 180:
                v = ((v + 180) % 360) - 180
            d[k] = abs(v)
        col = p[:, i]
        far = d >= 90
        near = ~far
        qe.append(float(np.sum(col[far])))
        tot = np.sum(col[near])
        if not tot > 0:
            raise ValueError("no probability near the target")
        pt = col[near] / tot
        pe.append(math.sqrt(float(np.sum(pt * d[near] ** 2))))
        eb.append(float(np.sum(pt * r[near]) - tau) if tau < 80 else float("nan"))
    return np.array(qe), np.array(pe), np.array(eb)


def predict(
    template_ir,
    template_pos,
    target_ir,
    target_pos,
    fs: float,
    lateral: float = 0.0,
    sensitivity: float = 0.7,
    compute_dtf: bool = True,
    filt: str = "poly",
) -> Result:
    """Steps 0-11 for one lateral angle; template = REF (the listener), targets = PRED."""
    from scipy.interpolate import CubicSpline

    template_ir = np.asarray(template_ir, dtype=float)
    target_ir = np.asarray(target_ir, dtype=float)
    if compute_dtf:
        template_ir = dtf(template_ir, fs)
        target_ir = dtf(target_ir, fs)
    tem_idx, tem_pol = sagittal_plane(template_pos, lateral)
    tar_idx, tar_pol = sagittal_plane(target_pos, lateral)

    def grads(irs, idx):
        return [[gradients(band_levels(irs[m, ear], fs, filt)) for m in idx] for ear in (0, 1)]

    g_tem = grads(template_ir, tem_idx)
    g_tar = grads(target_ir, tar_idx)
    nj, ni = len(tem_idx), len(tar_idx)
    wl = 1 / (1 + math.exp(-lateral / 13))
    s = np.empty((nj, ni))
    for j in range(nj):
        for i in range(ni):
            se = []
            for ear in (0, 1):
                sigma = np.mean(np.abs(g_tar[ear][i] - g_tem[ear][j]))
                se.append(1 + EPS - 1 / (1 + math.exp(-6 * (sigma - sensitivity))))
            s[j, i] = wl * se[0] + (1 - wl) * se[1]

    tem_pol_a = np.array(tem_pol)
    r0 = math.ceil(min(tem_pol) / 5) * 5
    resp = []
    v = float(r0)
    while v <= max(tem_pol):
        resp.append(v)
        v += 5
    resp = np.array(resp)
    col_grid = np.zeros((72, ni))
    start = round((r0 + 90) / 5)
    for i in range(ni):
        spl = CubicSpline(tem_pol_a, s[:, i], bc_type="not-a-knot")
        vals = spl(resp)
        vals[vals < 0] = 0.0
        col_grid[start : start + len(resp), i] = vals

    kern = vonmises_kernel(lateral)
    conv = np.zeros_like(col_grid)
    for i in range(ni):
        for n in range(72):
            conv[n, i] = sum(col_grid[(n - k) % 72, i] * kern[k] for k in range(72))
    p = conv / (np.sum(conv, axis=0, keepdims=True) + EPS)

    tau = np.array(tar_pol)
    qe_i, pe_i, eb_i = errors(p, tau)
    front = tau < 80
    return Result(
        qe=100 * float(np.mean(qe_i)),
        pe=float(np.mean(pe_i)),
        eb=float(np.mean(eb_i[front])) if front.any() else float("nan"),
        target_polar=tau,
        response_polar=RESPONSE_ANGLES.copy(),
        template_polar=tem_pol_a,
        probability=p,
        qe_i=qe_i,
        pe_i=pe_i,
        eb_i=eb_i,
    )
