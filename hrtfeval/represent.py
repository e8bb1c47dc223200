"""Representations of an aligned HRTF set: impulse responses, spectra, the scored frequency band.

Everything here is a pure function of tensors / numpy arrays; nothing reads files or prints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import HrtfevalError
from .loss import linear_to_db
from .model import DB, IR, MAGNITUDE, TF, HRTFSet


def rfft_frequencies(n_fft: int, sampling_rate: float) -> np.ndarray:
    """Bin frequencies ``k * fs / n_fft`` in Hz of a real FFT of length ``n_fft``
    (k = 0 ... n_fft // 2)."""
    return np.arange(n_fft // 2 + 1, dtype=np.float64) * (float(sampling_rate) / n_fft)


def band_bins(
    frequencies: np.ndarray,
    freq_min: float,
    freq_max: float,
    sampling_rate: float | None,
    file: str | None = None,
) -> np.ndarray:
    """Indices of the bins scored by spectral metrics.

    A bin is scored when ``freq_min <= f <= freq_max`` and ``f < fs / 2``: the Nyquist bin is not
    used (the LAP challenge definition: bins ``k < N/2`` of an N-point FFT). Without a sampling
    rate, only the band limits apply. ``file`` names the file(s) in the error.

    Raises
    ------
    HrtfevalError
        When no bin falls inside the band.
    """
    f = np.asarray(frequencies, dtype=np.float64)
    keep = (f >= freq_min) & (f <= freq_max)
    if sampling_rate is not None:
        keep &= f < float(sampling_rate) / 2.0 * (1.0 - 1e-12)
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        nyq = "" if sampling_rate is None else f", Nyquist {float(sampling_rate) / 2:g} Hz"
        raise HrtfevalError(
            f"no frequency bin lies in the band {freq_min:g}-{freq_max:g} Hz "
            f"(bins span {f.min():g}-{f.max():g} Hz{nyq}); check --freq-min/--freq-max",
            file,
        )
    return idx


@dataclass
class SetTensors:
    """One aligned set (or a stack of equally shaped sets) as tensors on the scoring device.

    ``data`` has shape ``(..., M, 2, N)``: a leading axis stacks several pairs for batched scoring
    on a GPU. The spectrum is computed at most once and shared by every metric that needs it.
    """

    data: np.ndarray
    domain: str
    sampling_rate: float | None
    frequencies_hz: np.ndarray | None
    device: object
    n_fft: int | None = None
    path: str = ""
    _ir: object = None
    _spectrum: object = None

    @classmethod
    def from_set(cls, hrtf: HRTFSet, device, n_fft: int | None = None) -> SetTensors:
        return cls(
            hrtf.data, hrtf.domain, hrtf.sampling_rate, hrtf.frequencies, device, n_fft, hrtf.path
        )

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[-1])

    @property
    def ir(self):
        """Impulse responses ``(..., M, 2, N)`` float64, or None for frequency-domain sets."""
        if self.domain != IR:
            return None
        if self._ir is None:
            self._ir = _as_tensor(self.data, self.device)
        return self._ir

    @property
    def spectrum(self):
        """Complex (IR, TF) or real linear-magnitude (magnitude, dB) spectrum ``(..., M, 2, K)``."""
        if self._spectrum is None:
            import torch

            if self.domain == IR:
                self._spectrum = torch.fft.rfft(self.ir, n=self.fft_length, dim=-1)
            elif self.domain in (TF, MAGNITUDE):
                self._spectrum = _as_tensor(self.data, self.device)
            elif self.domain == DB:
                self._spectrum = torch.pow(10.0, _as_tensor(self.data, self.device) / 20.0)
            else:  # pragma: no cover - the readers only produce the four domains
                raise ValueError(f"unknown domain {self.domain!r}")
        return self._spectrum

    @property
    def fft_length(self) -> int:
        """FFT length behind the spectrum: ``--n-fft`` or the IR length for IRs; for spectra the
        even length ``2(K-1)`` when the last bin is at Nyquist (or the rate is unknown), else
        ``2K-1``."""
        if self.domain == IR:
            if self.n_fft is not None and self.n_fft < self.n_samples:
                # rfft(n=...) would silently cut the impulse responses.
                raise HrtfevalError(
                    f"--n-fft {self.n_fft} is shorter than the impulse responses "
                    f"({self.n_samples} samples): the FFT would drop samples; give --n-fft >= "
                    f"{self.n_samples} (larger zero-pads) or leave it out",
                    self.path or None,
                )
            return int(self.n_fft or self.n_samples)
        k = self.n_samples
        if self.sampling_rate and self.frequencies_hz is not None and k > 1:
            nyquist = float(self.sampling_rate) / 2.0
            if abs(float(self.frequencies_hz[-1]) - nyquist) > 1e-6 * nyquist:
                return 2 * k - 1
        return 2 * (k - 1)

    def frequencies(self) -> np.ndarray:
        """Bin frequencies (Hz) of :attr:`spectrum`."""
        if self.domain == IR:
            if self.sampling_rate is None:
                raise HrtfevalError(
                    "has no sampling rate, so its spectrum has no frequencies", self.path
                )
            return rfft_frequencies(self.fft_length, self.sampling_rate)
        if self.frequencies_hz is None:
            raise HrtfevalError("frequency-domain data without bin frequencies", self.path)
        return np.asarray(self.frequencies_hz, dtype=np.float64)

    def magnitude_db(self, bins, epsilon: float):
        """``20*log10(max(|H|, epsilon))`` at ``bins``, shape ``(..., M, 2, len(bins))``."""
        import torch

        if self.domain == DB:
            return _as_tensor(self.data, self.device)[..., bins]
        spectrum = self.spectrum[..., bins]
        return linear_to_db(torch, spectrum if spectrum.is_complex() else spectrum.abs(), epsilon)

    def check_rfft_grid(self, what: str) -> None:
        """Raise unless the spectrum's bins are those of an rfft (0 Hz, fs/n, ..., up to fs/2).

        Impulse responses (``irfft``) and the energy by Parseval need the whole grid; spectra on
        another grid (e.g. Mesh2HRTF output without a 0 Hz bin) still give spectral metrics.
        """
        if self.domain == IR:
            return
        if self.n_samples < 2:
            raise HrtfevalError(
                f"holds {self.n_samples} frequency bin; {what} needs the bins of a real FFT "
                "(0 Hz up to fs/2, at least 2); spectral metrics (lsd, rmse, mae) still work",
                self.path,
            )
        if self.frequencies_hz is None or not self.sampling_rate:
            return
        expected = rfft_frequencies(self.fft_length, self.sampling_rate)
        f = np.asarray(self.frequencies_hz, dtype=np.float64)
        if f.shape != expected.shape or not np.allclose(f, expected, rtol=1e-6, atol=1e-6):
            raise HrtfevalError(
                f"its {f.size} frequency bins ({f.min():g}-{f.max():g} Hz) are not the bins of a "
                f"real FFT at {float(self.sampling_rate):g} Hz (0 Hz, fs/n, ..., fs/2), so {what} "
                "cannot be computed from them; spectral metrics (lsd, rmse, mae) still work",
                self.path,
            )

    def impulse_responses(self):
        """IRs for time-domain cues: the data itself, or ``irfft`` of a complex spectrum.

        Raises HrtfevalError for magnitude-only data, which has no phase and so no ITD.
        """
        if self.domain == IR:
            return self.ir
        if self.domain == TF:
            import torch

            self.check_rfft_grid("impulse responses (and the ITD)")
            return torch.fft.irfft(self.spectrum, n=self.fft_length, dim=-1)
        raise HrtfevalError(
            f"holds {self.domain} spectra without phase, so no impulse response (and no ITD) "
            "can be derived; give complex HRTFs or HRIRs",
            self.path,
        )


def _as_tensor(array, device):
    import torch

    t = torch.from_numpy(np.ascontiguousarray(array))
    if not (t.is_complex() or t.dtype == torch.float64):
        t = t.to(torch.float64)
    return t.to(device)


def check_same_bins(pred: SetTensors, ref: SetTensors) -> np.ndarray:
    """Return the common bin frequencies, or raise when the two spectra are on different grids."""
    fp, fr = pred.frequencies(), ref.frequencies()
    if fp.shape != fr.shape or not np.allclose(fp, fr, rtol=1e-6, atol=1e-9):
        raise HrtfevalError(
            f"the spectra have different frequency bins: prediction {pred.path} {fp.size} bins "
            f"({fp.min():g}-{fp.max():g} Hz), reference {ref.path} {fr.size} bins "
            f"({fr.min():g}-{fr.max():g} Hz); use --n-fft to put impulse responses on the other "
            "set's grid"
        )
    return fr
