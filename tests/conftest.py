"""Shared fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["h5py", "netCDF4"])
def both_sofa_readers(request, monkeypatch):
    """Run a test once per SOFA reader: the h5py path (the default for netCDF-4 files) and the
    netCDF4 library (the fallback for everything else), so that both give the same results."""
    if request.param == "netCDF4":
        import hrtfeval.io._h5sofa

        monkeypatch.setattr(hrtfeval.io._h5sofa, "open_dataset", lambda path: None)
    return request.param
