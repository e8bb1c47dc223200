"""hrtfeval.datasets: the hrtf_loss training example, specs and shapes, splits, downloads,
collate_samples, and the loop from training to ``hrtfeval score``."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import shutil
import socket
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import sofar

from hrtfeval import synth
from hrtfeval.datasets import ARI, HUTUBS, SONICOM, HRTFSpec, SOFAFolder
from hrtfeval.datasets.splits import split_counts, split_subjects
from hrtfeval.errors import HrtfevalError

FS = 48000
N_TAPS = 128
N_DIRECTIONS = 64
SUBJECTS = tuple(f"pp{i}" for i in range(1, 11))


def make_subject(path: Path, seed: int) -> Path:
    positions = synth.sphere_grid(N_DIRECTIONS)
    ir = synth.spherical_head_hrirs(positions, FS, N_TAPS, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    return synth.write_sofa(path, ir, positions, FS, date="2020-01-01 00:00:00")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(root: Path, names) -> None:
    (root / "SHA256SUMS").write_text("".join(f"{sha256(root / n)}  {n}\n" for n in names))


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """Ten synthetic HUTUBS subjects (64 directions x 128 taps, 48 kHz) and a SHA256SUMS."""
    root = tmp_path_factory.mktemp("hutubs_source")
    for i in range(1, 11):
        make_subject(root / f"pp{i}_HRIRs_measured.sofa", seed=i)
    write_manifest(root, [f"pp{i}_HRIRs_measured.sofa" for i in range(1, 11)])
    return root


@pytest.fixture(scope="module")
def reference(source):
    """{subject: (Data_IR, positions)} read with sofar, independently of hrtfeval's readers."""
    out = {}
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for sid in ("pp1", "pp2"):
            sofa = sofar.read_sofa(str(source / f"{sid}_HRIRs_measured.sofa"), verify=False)
            out[sid] = (np.asarray(sofa.Data_IR), np.asarray(sofa.SourcePosition))
    return out


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models train fastest on one thread (and do not fight other processes for cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a URL fails the test."""
    import urllib.request

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access: {args[0]!r}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


# ----------------------------------------------------------------------------------------------
# The hrtf_loss documentation example, verbatim (hrtfpykit -> hrtfeval in the imports)

SEED_EXAMPLE = """
>>> import torch
>>> from torch import nn
>>> from torch.utils.data import DataLoader
>>> from hrtfeval.datasets import HUTUBS, HRTFSpec
>>> from hrtfeval.datasets.torch import collate_samples, hrtf_loss
>>> selected_subject_ids = tuple(f"pp{i}" for i in range(1, 11))
>>> train_dataset = HUTUBS(
...     root="datasets/hutubs",
...     download=True,
...     download_resources="hrtf",
...     download_hrtf_variant="measured",
...     download_server="sofacoustics",
...     dataset_hrtf_variant="measured",
...     download_subject_ids=selected_subject_ids,
...     subject_ids=selected_subject_ids,
...     verify_checksum=True,
...     inputs=HRTFSpec(
...         domain="time",
...         signal="ir",
...         ears="left",
...         index_by=("subject",),
...         name="hrir",
...     ),
...     target=HRTFSpec(
...         domain="frequency",
...         signal="tf_magnitude_db",
...         ears="left",
...         index_by=("subject",),
...         name="magnitude_db",
...     ),
...     split="train",
... )
>>> train_loader = DataLoader(
...     train_dataset,
...     batch_size=8,
...     collate_fn=collate_samples,
... )
>>> batch = next(iter(train_loader))
>>> class HRIRToMagnitudeModel(nn.Module):
...     def __init__(self, num_samples, num_frequencies):
...         super().__init__()
...         self.network = nn.Sequential(
...             nn.Linear(num_samples, 256),
...             nn.ReLU(),
...             nn.Linear(256, num_frequencies),
...         )
...     def forward(self, hrir):
...         return self.network(hrir)
>>> device = "cuda" if torch.cuda.is_available() else "cpu"
>>> num_samples = batch["inputs"]["hrir"].shape[-1]
>>> num_frequencies = batch["target"]["magnitude_db"].shape[-1]
>>> model = HRIRToMagnitudeModel(num_samples, num_frequencies).to(device)
>>> optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
>>> for epoch in range(10):
...     total_loss = 0.0
...     num_batches = 0
...     for batch in train_loader:
...         hrir = batch["inputs"]["hrir"].to(device)
...         target = batch["target"]["magnitude_db"].to(device)
...         prediction = model(hrir)
...         loss = hrtf_loss(
...             prediction,
...             target,
...             metric="lsd",
...             input_scale="db",
...         )
...         optimizer.zero_grad()
...         loss.backward()
...         optimizer.step()
...         total_loss += float(loss.detach().cpu())
...         num_batches += 1
...     print(f"epoch {epoch + 1:02d} lsd={total_loss / num_batches:.6f}")
"""


def example_source(doc: str) -> str:
    """The Python code of a doctest block (prompts stripped)."""
    lines = []
    for line in doc.strip("\n").splitlines():
        assert line.startswith((">>> ", "... ")) or line in (">>>", "..."), line
        lines.append(line[4:])
    return "\n".join(lines) + "\n"


def test_seed_example_trains_on_a_local_hutubs_copy(
    source, tmp_path, monkeypatch, capsys, no_network
):
    root = tmp_path / "datasets" / "hutubs"
    shutil.copytree(source, root)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "seed_example"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the manifest lists every file: nothing to warn about
        exec(compile(example_source(SEED_EXAMPLE), "seed_example", "exec"), namespace)
    lines = capsys.readouterr().out.splitlines()
    assert [line[:9] for line in lines] == [f"epoch {e:02d} " for e in range(1, 11)]
    losses = [float(line.split("lsd=")[1]) for line in lines]
    assert all(np.isfinite(losses)) and losses[0] > losses[-1]
    dataset = namespace["train_dataset"]
    assert dataset.subject_ids == ["pp5", "pp7", "pp3", "pp8", "pp4", "pp6", "pp10", "pp1"]
    batch = namespace["batch"]
    assert tuple(batch["inputs"]["hrir"].shape) == (8, N_DIRECTIONS, N_TAPS)
    assert tuple(batch["target"]["magnitude_db"].shape) == (8, N_DIRECTIONS, N_TAPS // 2 + 1)
    assert not any(p.name.endswith(".part") for p in root.iterdir())


# ----------------------------------------------------------------------------------------------
# Splits


def test_split_lists_of_the_issue():
    ids = list(SUBJECTS)
    assert split_subjects(ids, "train") == ["pp5", "pp7", "pp3", "pp8", "pp4", "pp6", "pp10", "pp1"]
    assert split_subjects(ids, "validation") == ["pp9"]
    assert split_subjects(ids, "test") == ["pp2"]
    # natural order first: the order given does not matter
    assert split_subjects(ids[::-1], "train") == split_subjects(ids, "train")
    assert split_subjects(ids[::-1], "all") == ids
    # the same algorithm written out: indices into the natural-order list
    perm = np.random.default_rng(0).permutation(10)
    assert split_subjects(ids, "train") == [ids[i] for i in perm[:8]]


def test_dataset_splits_partition_the_subjects(source):
    parts = {s: HUTUBS(source, split=s).subject_ids for s in ("train", "validation", "test")}
    assert parts == {
        "train": ["pp5", "pp7", "pp3", "pp8", "pp4", "pp6", "pp10", "pp1"],
        "validation": ["pp9"],
        "test": ["pp2"],
    }
    assert HUTUBS(source).subject_ids == list(SUBJECTS)
    other = HUTUBS(source, split="test", split_seed=1).subject_ids
    perm = np.random.default_rng(1).permutation(10)
    assert other == [SUBJECTS[perm[9]]]


@pytest.mark.parametrize(
    "n, ratio, counts",
    [
        (10, (0.8, 0.1, 0.1), (8, 1, 1)),
        (7, (0.8, 0.1, 0.1), (5, 1, 1)),  # 5.6, 0.7, 0.7: the two largest remainders
        (2, (0.5, 0.25, 0.25), (1, 1, 0)),  # 1, 0.5, 0.5: tie to the earlier split
        (5, (0.34, 0.33, 0.33), (2, 2, 1)),  # 1.7, 1.65, 1.65
        (96, (0.8, 0.1, 0.1), (77, 10, 9)),  # 76.8, 9.6, 9.6
        (100, (0.29, 0.71, 0.0), (29, 71, 0)),  # 0.29 * 100 is 28.999999999999996
        (3, (1 / 3, 1 / 3, 1 / 3), (1, 1, 1)),
    ],
)
def test_split_counts_largest_remainder(n, ratio, counts):
    assert split_counts(n, ratio) == counts


def test_empty_split_is_a_clear_error(source):
    with pytest.raises(
        ValueError, match=r"split 'validation' has no subjects: 3 subject\(s\).*\(3, 0, 0\)"
    ):
        HUTUBS(source, subject_ids=["pp1", "pp2", "pp3"], split="validation")


def test_exclude_subject_ids(source):
    ds = HUTUBS(source, exclude_subject_ids=["pp1", 10])
    assert ds.subject_ids == [f"pp{i}" for i in range(2, 10)]


# ----------------------------------------------------------------------------------------------
# Specs: shapes and values


def expected_signal(ir: np.ndarray, signal: str) -> np.ndarray:
    if signal == "ir":
        return ir
    x = np.fft.rfft(ir, axis=-1)
    return {
        "tf_complex": x,
        "tf_real": x.real,
        "tf_imag": x.imag,
        "tf_magnitude": np.abs(x),
        "tf_magnitude_db": 20 * np.log10(np.abs(x)),
        "tf_phase": np.degrees(np.angle(x)),
    }[signal]


INDEX_BY = [
    ("subject",),
    ("subject", "position"),
    ("subject", "ear"),
    ("subject", "position", "ear"),
]


@pytest.mark.parametrize("index_by", INDEX_BY, ids="-".join)
@pytest.mark.parametrize("ears", ["both", "left", "right"])
@pytest.mark.parametrize("domain, signal", [("time", "ir"), ("frequency", "tf_magnitude_db")])
def test_shapes_and_values_for_every_index_by_and_ears(
    source, reference, index_by, ears, domain, signal
):
    spec = HRTFSpec(domain=domain, signal=signal, ears=ears, index_by=index_by, name="x")
    ds = HUTUBS(source, subject_ids=["pp1", "pp2"], inputs=spec)
    P, K = N_DIRECTIONS, N_TAPS if domain == "time" else N_TAPS // 2 + 1
    ear_list = {"both": [0, 1], "left": [0], "right": [1]}[ears]
    E = len(ear_list)
    by_pos, by_ear = "position" in index_by, "ear" in index_by
    shape = {
        ("subject",): (P, 2, K) if E == 2 else (P, K),
        ("subject", "position"): (2, K) if E == 2 else (K,),
        ("subject", "ear"): (P, K),
        ("subject", "position", "ear"): (K,),
    }[tuple(index_by)]
    rows_per_subject = (P if by_pos else 1) * (E if by_ear else 1)
    assert len(ds) == 2 * rows_per_subject
    want_all = {s: expected_signal(reference[s][0], signal)[:, ear_list] for s in ("pp1", "pp2")}
    for i in sorted({0, 1, rows_per_subject - 1, rows_per_subject, len(ds) - 1}):
        sample = ds[i]
        sid = ("pp1", "pp2")[i // rows_per_subject]
        local = i % rows_per_subject
        p, e = divmod(local, E if by_ear else 1)
        want = want_all[sid]  # (P, E, K)
        want = want[p] if by_pos else want
        if by_ear:
            want = want[..., e, :]
        elif E == 1:
            want = want[..., 0, :]
        got = sample["inputs"]["x"]
        assert got.shape == shape and got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        assert sample["target"] == {}
        assert sample["meta"] == {
            "dataset": "HUTUBS",
            "subject_id": sid,
            "position_index": p if by_pos else None,
            "ear": ("left", "right")[ear_list[e]] if by_ear else None,
        }
    assert ds[-1]["meta"] == ds[len(ds) - 1]["meta"]
    with pytest.raises(IndexError):
        ds[len(ds)]


@pytest.mark.parametrize(
    "signal", ["tf_complex", "tf_real", "tf_imag", "tf_magnitude", "tf_magnitude_db", "tf_phase"]
)
def test_every_frequency_signal(source, reference, signal):
    ds = HUTUBS(source, subject_ids=["pp1"], inputs=HRTFSpec(domain="frequency", signal=signal))
    got = ds[0]["inputs"]["hrtf"]
    want = expected_signal(reference["pp1"][0], signal)
    assert got.shape == (N_DIRECTIONS, 2, N_TAPS // 2 + 1)
    assert got.dtype == (np.complex64 if signal == "tf_complex" else np.float32)
    if signal == "tf_phase":  # compare angles on the circle (the +-180 deg seam)
        got, want = np.exp(1j * np.radians(got)), np.exp(1j * np.radians(want))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_positions_and_frequency_bands(source, reference):
    spec = HRTFSpec(
        domain="frequency",
        signal="tf_magnitude",
        positions=[5, 2, 7],
        frequency_bands=(750.0, 1500.0),  # bins every 375 Hz: 750, 1125 and 1500 are inside
        index_by=("subject", "position"),
    )
    ds = HUTUBS(source, subject_ids=["pp1"], inputs=spec)
    assert len(ds) == 3
    assert [ds[i]["meta"]["position_index"] for i in range(3)] == [5, 2, 7]
    full = np.abs(np.fft.rfft(reference["pp1"][0], axis=-1))
    np.testing.assert_allclose(ds[1]["inputs"]["hrtf"], full[2][:, [2, 3, 4]], rtol=1e-5)
    two = HRTFSpec(domain="frequency", signal="tf_real", frequency_bands=[(0, 0), (23999, 24000)])
    assert HUTUBS(source, subject_ids=["pp1"], inputs=two)[0]["inputs"]["hrtf"].shape[-1] == 2
    np.testing.assert_allclose(
        HUTUBS(source, subject_ids=["pp1"]).subject_positions("pp1")[:, :2],
        reference["pp1"][1][:, :2],
        atol=1e-9,
    )


def test_several_input_specs_and_a_target(source):
    ds = HUTUBS(
        source,
        subject_ids=["pp1"],
        inputs=[HRTFSpec(name="ir"), HRTFSpec(domain="frequency", signal="tf_phase", name="phase")],
        target=HRTFSpec(domain="frequency", signal="tf_magnitude_db", ears="right", name="db"),
    )
    sample = ds[0]
    assert set(sample["inputs"]) == {"ir", "phase"}
    assert sample["target"]["db"].shape == (N_DIRECTIONS, N_TAPS // 2 + 1)


# ----------------------------------------------------------------------------------------------
# Bad arguments


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(domain="freq"), r"domain must be one of 'time', 'frequency'; got 'freq'"),
        (
            dict(domain="frequency", signal="ir"),
            r"signal for domain 'frequency' must be one of .*'tf_complex'.*got 'ir' "
            r"\(signal 'ir' belongs to the other domain\)",
        ),
        (
            dict(signal="tf_magnitude_db"),
            r"signal for domain 'time' must be one of 'ir'; got 'tf_magnitude_db'",
        ),
        (dict(signal="magnitude"), r"got 'magnitude'"),
        (dict(ears="middle"), r"ears must be one of 'both', 'left', 'right'; got 'middle'"),
        (
            dict(index_by=("position",)),
            r"index_by must be one of \('subject',\).*got \('position',\)",
        ),
        (dict(index_by=("subject", "ear", "position")), r"subject -> position -> ear order"),
        (dict(positions=[-1]), r"positions must be 'all' or .*got \[-1\]"),
        (dict(positions=[1, 1]), r"must not repeat"),
        (dict(positions="some"), r"got 'some'"),
        (dict(frequency_bands=(100, 200)), r"frequency_bands apply to domain 'frequency' only"),
        (dict(domain="frequency", frequency_bands=(300, 200)), r"0 <= lo <= hi"),
        (dict(name=""), r"name must be a non-empty string"),
    ],
)
def test_bad_spec_is_a_value_error_with_given_and_allowed(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HRTFSpec(**kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(split="dev"),
            r"split must be one of 'all', 'train', 'validation', 'test'; got 'dev'",
        ),
        (dict(split_ratio=(0.5, 0.5, 0.5)), r"sum to 1; got \(0.5, 0.5, 0.5\)"),
        (dict(split_ratio=(1.0, 0.0)), r"three numbers"),
        (dict(split_seed=-1), r"split_seed must be an integer >= 0; got -1"),
        (
            dict(subject_ids=["xx1"]),
            r"subject_ids: 'xx1' is not a HUTUBS subject id; expected 'pp1' ... 'pp96'",
        ),
        (dict(subject_ids=["pp97"]), r"the subjects are pp1 ... pp96"),
        (
            dict(dataset_hrtf_variant="foo"),
            r"dataset_hrtf_variant must be one of 'measured', 'simulated' for HUTUBS; got 'foo'",
        ),
        (dict(download_hrtf_variant="foo"), r"download_hrtf_variant must be one of"),
        (
            dict(download_server="ftp"),
            r"download_server must be one of 'sofacoustics' for HUTUBS; got 'ftp'",
        ),
        (dict(download_resources="mesh"), r"download_resources must be 'hrtf'.*got 'mesh'"),
        (
            dict(download_url="sofacoustics.org"),
            r"download_url must be an http\(s\):// or file:// URL",
        ),
        (dict(cache_size=0), r"cache_size must be an integer >= 1"),
        (dict(inputs="hrir"), r"inputs must be an HRTFSpec"),
        (
            dict(inputs=HRTFSpec(), target=HRTFSpec(index_by=("subject", "position"))),
            r"must share index_by",
        ),
        (dict(inputs=[HRTFSpec(), HRTFSpec()]), r"distinct names"),
        (dict(exclude_subject_ids=list(SUBJECTS)), r"no subjects left"),
    ],
)
def test_bad_dataset_argument_is_a_value_error(source, kwargs, message, no_network):
    with pytest.raises(ValueError, match=message):
        HUTUBS(source, **kwargs)


def test_unknown_keyword_and_sonicom_rate():
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        HUTUBS("nowhere", sampling_rate=48000)
    with pytest.raises(
        ValueError,
        match=r"sampling_rate must be 44100, 48000 or 96000 \(Hz\) for SONICOM; got 22050",
    ):
        SONICOM("nowhere", sampling_rate=22050)
    with pytest.raises(ValueError, match="download=True needs download_subject_ids"):
        ARI("nowhere", download=True)


def test_missing_files_are_clear_errors(source, tmp_path):
    with pytest.raises(
        HrtfevalError,
        match=r"no file for subject\(s\) pp11 .*pp1_HRIRs_measured.sofa .*download=True",
    ) as err:
        HUTUBS(source, subject_ids=["pp1", "pp11"])
    assert err.value.file == str(source)
    with pytest.raises(HrtfevalError, match="is not a directory"):
        HUTUBS(tmp_path / "missing")
    with pytest.raises(HrtfevalError, match="no HUTUBS files found"):
        HUTUBS(tmp_path)
    with pytest.raises(HrtfevalError, match="no HUTUBS files found"):
        HUTUBS(source, dataset_hrtf_variant="simulated")


def test_position_index_past_the_file_is_an_error_naming_it(source):
    ds = HUTUBS(source, subject_ids=["pp1"], inputs=HRTFSpec(positions=[N_DIRECTIONS]))
    with pytest.raises(
        HrtfevalError, match=f"index {N_DIRECTIONS}, but the file has {N_DIRECTIONS}"
    ) as err:
        ds[0]
    assert err.value.file.endswith("pp1_HRIRs_measured.sofa")


# ----------------------------------------------------------------------------------------------
# Layouts, lazy reading and the cache


def test_layouts_of_hutubs_sonicom_ari_and_sofa_folder(source, tmp_path):
    one = source / "pp1_HRIRs_measured.sofa"
    hut = tmp_path / "hut"
    (hut / "pp3").mkdir(parents=True)
    shutil.copy(one, hut / "pp3" / "pp3_HRIRs_measured.sofa")  # one folder per subject
    shutil.copy(one, hut / "pp12_HRIRs_measured.sofa")
    shutil.copy(one, hut / "pp2_HRIRs_simulated.sofa")
    assert HUTUBS(hut).subject_ids == ["pp3", "pp12"]
    assert HUTUBS(hut, dataset_hrtf_variant="simulated").subject_ids == ["pp2"]
    assert HUTUBS(hut).relative_reference("pp3") == "pp3/pp3_HRIRs_measured.sofa"

    son = tmp_path / "son"
    nested = son / "P0002" / "HRTF" / "HRTF" / "48kHz"
    nested.mkdir(parents=True)
    shutil.copy(one, nested / "P0002_FreeFieldComp_48kHz.sofa")
    shutil.copy(one, nested / "P0002_Windowed_NoITD_48kHz.sofa")
    shutil.copy(one, son / "P0010_FreeFieldComp_48kHz.sofa")
    shutil.copy(one, son / "P0011_FreeFieldComp_96kHz.sofa")
    assert SONICOM(son).subject_ids == ["P0002", "P0010"]
    assert SONICOM(son, sampling_rate=96).subject_ids == ["P0011"]
    windowed = SONICOM(son, dataset_hrtf_variant="windowed_noitd", subject_ids=[2])
    assert windowed.subject_ids == ["P0002"] and windowed[0]["meta"]["dataset"] == "SONICOM"

    ari = tmp_path / "ari"
    ari.mkdir()
    for name in ("hrtf_nh2.sofa", "hrtf b_nh4.sofa", "dtf b_nh4.sofa", "dtf b_nh10.sofa"):
        shutil.copy(one, ari / name)
    assert ARI(ari).subject_ids == ["NH2"]
    assert ARI(ari, dataset_hrtf_variant="dtf b").subject_ids == ["NH4", "NH10"]
    assert ARI(ari, dataset_hrtf_variant="hrtf_b", subject_ids=["nh4"]).subject_ids == ["NH4"]

    folder = tmp_path / "folder"
    for sid in ("s10", "s9"):
        (folder / sid).mkdir(parents=True)
        shutil.copy(one, folder / sid / "hrtf.sofa")
    shutil.copy(one, folder / "other.sofa")
    assert SOFAFolder(folder, pattern="{subject}/hrtf.sofa").subject_ids == ["s9", "s10"]
    flat = SOFAFolder(folder)
    assert flat.subject_ids == ["other"] and flat[0]["meta"]["dataset"] == "SOFAFolder"
    with pytest.raises(HrtfevalError, match="matches two files"):
        SOFAFolder(folder, pattern="**/*.sofa")


def test_reading_is_lazy_and_the_cache_is_bounded(source, monkeypatch):
    import hrtfeval.io as hio

    reads = []
    real = hio.read_hrtf
    monkeypatch.setattr(hio, "read_hrtf", lambda path: reads.append(Path(path).name) or real(path))
    ds = HUTUBS(source, inputs=HRTFSpec(index_by=("subject", "position")), cache_size=2)
    assert reads == [] and len(ds) == 10 * N_DIRECTIONS  # M came from the file header
    for i in range(0, len(ds), 7):
        ds[i]
    assert len(ds._cache) == 2
    assert len(reads) == 10  # each subject read once, in order: its rows are contiguous
    ds[0]
    assert len(reads) == 11  # pp1 had been dropped from the cache
    import pickle

    assert len(pickle.loads(pickle.dumps(ds))._cache) == 0


def test_importing_datasets_does_not_import_torch():
    code = "import sys, hrtfeval.datasets; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------------------------
# collate_samples and hrtf_loss


def test_collate_samples():
    import torch

    from hrtfeval.datasets.torch import collate_samples

    samples = [
        {
            "inputs": {"x": np.full((3, 4), i, dtype=np.float64), "c": np.ones(2, np.complex64)},
            "meta": {"subject_id": f"pp{i}", "position_index": i, "ear": None, "w": 0.5},
        }
        for i in range(3)
    ]
    batch = collate_samples(samples)
    assert batch["inputs"]["x"].dtype == torch.float32 and batch["inputs"]["x"].shape == (3, 3, 4)
    assert batch["inputs"]["x"][2, 0, 0] == 2
    assert batch["inputs"]["c"].dtype == torch.complex64
    assert batch["meta"]["subject_id"] == ["pp0", "pp1", "pp2"]
    assert batch["meta"]["ear"] == [None, None, None]
    assert torch.equal(batch["meta"]["position_index"], torch.tensor([0, 1, 2]))
    assert batch["meta"]["w"].dtype == torch.float32
    bad = [{"x": np.zeros(3)}, {"x": np.zeros(4)}]
    with pytest.raises(ValueError, match=r"batch\['x'\]: cannot stack arrays of different shapes"):
        collate_samples(bad)
    with pytest.raises(ValueError, match="different keys"):
        collate_samples([{"x": 1}, {"y": 1}])


def test_hrtf_loss_is_the_package_loss():
    import hrtfeval
    from hrtfeval.datasets.torch import hrtf_loss

    assert hrtf_loss is hrtfeval.hrtf_loss


# ----------------------------------------------------------------------------------------------
# Downloads against a loopback server


class _Server:
    """http.server on 127.0.0.1 (port 0) in a thread, serving ``files`` {url path: bytes}."""

    def __init__(self, files: dict[str, bytes], short: set[str] = frozenset()):
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                server.requests.append(self.path)
                body = files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # a "short" file sends half its bytes, then the connection closes
                self.wfile.write(body[: len(body) // 2] if self.path in short else body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_download_writes_part_then_renames_shows_progress_and_a_manifest(
    source, tmp_path, capfd, monkeypatch
):
    import hrtfeval.datasets.download as dl

    names = ["pp1_HRIRs_measured.sofa", "pp2_HRIRs_measured.sofa"]
    files = {f"/{n}": (source / n).read_bytes() for n in names}
    renames = []
    real_replace = dl.os.replace
    monkeypatch.setattr(
        dl.os,
        "replace",
        lambda a, b: renames.append((Path(a).name, Path(b).name)) or real_replace(a, b),
    )
    root = tmp_path / "new" / "hutubs"
    with _Server(files) as server:
        ds = HUTUBS(
            root, download=True, download_url=server.url, subject_ids=[1, 2], verify_checksum=True
        )
    assert sorted(server.requests) == sorted(files)
    assert ds.subject_ids == ["pp1", "pp2"]
    for n in names:
        assert (root / n).read_bytes() == files[f"/{n}"]
        assert (f"{n}.part", n) in renames
    assert not list(root.glob("*.part"))
    manifest = dict(
        line.split("  ")[::-1] for line in (root / "SHA256SUMS").read_text().splitlines()
    )
    assert manifest == {n: sha256(root / n) for n in names}
    err = capfd.readouterr().err
    assert "downloading pp1_HRIRs_measured.sofa" in err and "100%" in err

    # everything present: no request at all, even to a server that refuses connections
    again = HUTUBS(
        root,
        download=True,
        download_url=closed_port_url(),
        subject_ids=[1, 2],
        verify_checksum=True,
    )
    assert again.subject_ids == ["pp1", "pp2"]


def test_download_with_every_file_present_needs_no_network(source, no_network):
    ds = HUTUBS(source, download=True, download_subject_ids=SUBJECTS, subject_ids=SUBJECTS)
    assert len(ds.subject_ids) == 10


def test_offline_http_error_and_short_read_are_clear_errors(source, tmp_path):
    root = tmp_path / "hutubs"
    with pytest.raises(
        HrtfevalError,
        match=r"cannot download http://127\.0\.0\.1:\d+/pp1_HRIRs_measured\.sofa: "
        r".*(refused|offline)",
    ) as err:
        HUTUBS(root, download=True, download_url=closed_port_url(), subject_ids=["pp1"])
    assert err.value.file.endswith("pp1_HRIRs_measured.sofa")
    body = (source / "pp1_HRIRs_measured.sofa").read_bytes()
    with _Server({"/pp1_HRIRs_measured.sofa": body}, short={"/pp1_HRIRs_measured.sofa"}) as server:
        with pytest.raises(HrtfevalError, match="HTTP 404 Not Found"):
            HUTUBS(root, download=True, download_url=server.url, subject_ids=["pp2"])
        with pytest.raises(HrtfevalError, match=r"stopped after|cannot download"):
            HUTUBS(root, download=True, download_url=server.url, subject_ids=["pp1"])
    assert not root.exists() or not any(root.iterdir())  # no .part and no partial file left


def test_checksum_mismatch_names_the_file(source, tmp_path):
    root = tmp_path / "hutubs"
    root.mkdir()
    shutil.copy(source / "pp1_HRIRs_measured.sofa", root)
    shutil.copy(source / "SHA256SUMS", root)
    HUTUBS(root, verify_checksum=True)  # listed and intact
    with open(root / "pp1_HRIRs_measured.sofa", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(HrtfevalError, match="checksum mismatch") as err:
        HUTUBS(root, verify_checksum=True)
    assert err.value.file == str(root / "pp1_HRIRs_measured.sofa")
    HUTUBS(root)  # not asked to verify

    # a downloaded file that differs from the manifest
    body = (source / "pp2_HRIRs_measured.sofa").read_bytes() + b"x"
    with _Server({"/pp2_HRIRs_measured.sofa": body}) as server:
        with pytest.raises(HrtfevalError, match="checksum mismatch") as err:
            HUTUBS(
                root,
                download=True,
                download_url=server.url,
                subject_ids=["pp2"],
                verify_checksum=True,
            )
    assert err.value.file.endswith("pp2_HRIRs_measured.sofa")

    # no manifest: a warning says nothing could be verified
    (root / "SHA256SUMS").unlink()
    (root / "pp1_HRIRs_measured.sofa").unlink()
    with pytest.warns(UserWarning, match="could not be checked .*there is no SHA256SUMS"):
        HUTUBS(root, subject_ids=["pp2"], verify_checksum=True)


def test_download_url_template_and_sonicom_official_layout(source, tmp_path):
    body = (source / "pp1_HRIRs_measured.sofa").read_bytes()
    path = "/data/P0003/HRTF/HRTF/48kHz/P0003_Windowed_48kHz.sofa"
    with _Server({path: body}) as server:
        ds = SONICOM(
            tmp_path / "son",
            download=True,
            download_url=server.url + "data/{path}",
            subject_ids=["P0003"],
            dataset_hrtf_variant="Windowed",
        )
    assert server.requests == [path]
    assert ds.relative_reference("P0003") == "P0003/HRTF/HRTF/48kHz/P0003_Windowed_48kHz.sofa"
    with _Server({"/ari/hrtf%20b_nh5.sofa": body}) as server:
        ari = ARI(tmp_path / "ari", download=True, download_url=server.url + "ari",
                  download_subject_ids=[5], dataset_hrtf_variant="hrtf b")  # fmt: skip
    assert server.requests == ["/ari/hrtf%20b_nh5.sofa"]
    assert ari.subject_ids == ["NH5"] and (tmp_path / "ari" / "hrtf b_nh5.sofa").is_file()


# ----------------------------------------------------------------------------------------------
# From training to scoring


def test_train_save_predictions_and_score_them_with_the_cli(source, tmp_path):
    import torch
    from torch.utils.data import DataLoader
    from typer.testing import CliRunner

    from hrtfeval.cli import app
    from hrtfeval.datasets.torch import collate_samples, hrtf_loss
    from hrtfeval.io import read_hrtf

    spec = HRTFSpec(domain="time", signal="ir", ears="both", name="hrir")
    train = HUTUBS(source, inputs=spec, target=spec, split="train")
    test = HUTUBS(source, inputs=spec, target=spec, split="test")
    torch.manual_seed(0)
    model = torch.nn.Linear(N_TAPS, N_TAPS)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(2):
        for batch in DataLoader(train, batch_size=4, collate_fn=collate_samples):
            loss = hrtf_loss(model(batch["inputs"]["hrir"]), batch["target"]["hrir"], metric="rmse")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
    out = tmp_path / "predictions"
    with torch.no_grad():
        for i, sid in enumerate(test.subject_ids):
            written = test.save_prediction(
                sid, model(torch.as_tensor(test[i]["inputs"]["hrir"])), out
            )
            assert written == out / "pp2_HRIRs_measured.pt"
            back = read_hrtf(written)
            assert back.sampling_rate == FS and back.data.shape == (N_DIRECTIONS, 2, N_TAPS)
            np.testing.assert_allclose(back.positions, test.subject_positions(sid), atol=1e-9)
    runner = CliRunner()
    args = ["--preset", "lap", "--format", "json", "--workers", "0", "--device", "cpu"]
    # The issue's command as written: save_prediction named the test split's references in
    # predictions/hrtfeval-targets.txt, so the other subjects' files are out of scope.
    assert (out / "hrtfeval-targets.txt").read_text().splitlines()[1:] == ["pp2_HRIRs_measured"]
    result = runner.invoke(app, ["score", str(out), str(source), *args])
    assert result.exit_code in (0, 1), result.stderr
    doc = json.loads(result.stdout)
    assert [(p["prediction"], p["target"]) for p in doc["pairs"]] == [
        ("pp2_HRIRs_measured.pt", "pp2_HRIRs_measured.sofa")
    ]
    assert set(doc["pairs"][0]["scores"]) >= {"itd", "ild", "lsd"}
    assert doc["counts"]["unmatched"] == 0
    assert doc["spec"]["source"]["targets_out_of_scope"] == 9
    assert "9 reference file(s) not named in" in result.stderr
    # A test subject whose prediction is missing is still unmatched: exit 2.
    moved = out / "pp2_HRIRs_measured.pt"
    moved.rename(tmp_path / "aside.pt")
    (out / "other.pt").write_bytes((tmp_path / "aside.pt").read_bytes())
    result = runner.invoke(app, ["score", str(out), str(source), *args])
    assert result.exit_code == 2
    assert "pp2_HRIRs_measured.sofa" in result.stderr, result.stderr
    (out / "other.pt").unlink()
    (tmp_path / "aside.pt").rename(moved)
    # Without the list, the references of the other splits are unmatched (exit 2) ...
    (out / "hrtfeval-targets.txt").rename(tmp_path / "targets.txt")
    result = runner.invoke(app, ["score", str(out), str(source), *args])
    assert result.exit_code == 2 and len(json.loads(result.stdout)["unmatched"]["target"]) == 9
    result = runner.invoke(app, ["score", str(out), str(source), *args, "--ignore-unmatched"])
    assert result.exit_code in (0, 1), result.stderr
    (tmp_path / "targets.txt").rename(out / "hrtfeval-targets.txt")
    # ... and a pairs file lists exactly the test subjects
    pairs = test.write_pairs_csv(out)
    result = runner.invoke(app, ["score", "--pairs", str(pairs), *args])
    assert result.exit_code in (0, 1), result.stderr
    doc = json.loads(result.stdout)
    assert len(doc["pairs"]) == 1 and doc["counts"]["unmatched"] == 0
    target = (pairs.parent / doc["pairs"][0]["target"]).resolve()
    assert target == (source / "pp2_HRIRs_measured.sofa").resolve()


def test_prediction_writer_checks_and_sofa_output(source, tmp_path):
    import torch

    ds = HUTUBS(source, subject_ids=["pp1"])
    ir = ds[0]["inputs"]["hrtf"]
    sofa_path = ds.save_prediction("pp1", torch.as_tensor(ir), tmp_path, format="sofa")
    from hrtfeval.io import read_hrtf

    back = read_hrtf(sofa_path)
    np.testing.assert_allclose(back.data, ir, atol=1e-6)
    db = HRTFSpec(domain="frequency", signal="tf_magnitude_db")
    ds_db = HUTUBS(source, subject_ids=["pp1"], inputs=db)
    pred = ds_db[0]["inputs"]["hrtf"]
    back = read_hrtf(ds_db.save_prediction("pp1", pred - 1.0, tmp_path / "db"))
    assert back.domain == "db"
    np.testing.assert_allclose(back.frequencies, np.fft.rfftfreq(N_TAPS, 1 / FS))
    # 1 dB below the reference at every bin: the CLI's LSD is 1 dB
    from typer.testing import CliRunner

    from hrtfeval.cli import app

    pred_file = tmp_path / "db" / "pp1_HRIRs_measured.pt"
    result = CliRunner().invoke(
        app, ["score", str(pred_file), str(source / "pp1_HRIRs_measured.sofa"), "--metric", "lsd",
              "--format", "json", "--device", "cpu"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["scores"]["lsd"]["overall"] == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(ValueError, match=r"both ears .*got shape \(64, 128\)"):
        ds.save_prediction("pp1", ir[:, 0], tmp_path)
    with pytest.raises(ValueError, match="'tf_phase', which hrtfeval cannot score"):
        ds.save_prediction(
            "pp1", ir, tmp_path, spec=HRTFSpec(domain="frequency", signal="tf_phase")
        )
    banded = HRTFSpec(domain="frequency", signal="tf_magnitude_db", frequency_bands=(1000, 8000))
    with pytest.raises(
        ValueError, match=r"frequency_bands \[\(1000.0, 8000.0\)\].*predict every bin"
    ):
        ds_db.save_prediction("pp1", pred[..., :19], tmp_path, spec=banded)
    with pytest.raises(KeyError, match="'pp2' is not in this dataset"):
        ds.save_prediction("pp2", ir, tmp_path)


def test_save_prediction_never_writes_into_the_dataset(tmp_path):
    """out_dir = the dataset's root (or a folder in it) is refused; references stay as they were;
    an earlier prediction outside it is replaced; the plain writer refuses its inputs."""
    from hrtfeval.datasets.export import save_prediction

    ds_root = tmp_path / "ds"
    make_subject(ds_root / "s0.sofa", seed=1)
    make_subject(ds_root / "s1.sofa", seed=2)
    before = {p.name: p.read_bytes() for p in ds_root.iterdir()}
    ds = SOFAFolder(ds_root)
    ir = ds[0]["inputs"]["hrtf"]
    for out in (ds_root, ds_root / "preds", tmp_path / "link"):
        if out.name == "link":
            out.symlink_to(ds_root)
        with pytest.raises(HrtfevalError, match="dataset's root"):
            ds.save_prediction("s0", ir * 0.5, out, format="sofa")
    assert {p.name: p.read_bytes() for p in ds_root.iterdir()} == before
    first = ds.save_prediction("s0", ir * 0.5, tmp_path / "out", format="sofa")
    again = ds.save_prediction("s0", ir * 0.25, tmp_path / "out", format="sofa")
    assert first == again and not list((tmp_path / "out").glob("*.part"))
    from hrtfeval.io import read_hrtf

    np.testing.assert_allclose(read_hrtf(again).data, ir * 0.25, atol=1e-6)
    with pytest.raises(HrtfevalError, match="would overwrite an input"):
        save_prediction(
            ds_root / "s1.sofa",
            ir,
            spec=ds.inputs[0],
            sampling_rate=FS,
            positions=ds.subject_positions("s0"),
            inputs=[ds_root / "s1.sofa"],
        )
    assert (ds_root / "s1.sofa").read_bytes() == before["s1.sofa"]
    # The pairs CSV goes through the same checks: never over a reference.
    with pytest.raises(HrtfevalError, match="would overwrite an input"):
        ds.write_pairs_csv(tmp_path / "out", ds_root / "s1.sofa")
