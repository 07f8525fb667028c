"""The commissioners' notebook runs top to bottom on the offline data and is committed clean."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "compare_weightings.ipynb"


def test_notebook_is_committed_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.realdata
@pytest.mark.slow
def test_notebook_executes(mirror: Path, monkeypatch: pytest.MonkeyPatch, london_build) -> None:
    from nbclient import NotebookClient

    monkeypatch.setenv("CANRANK_MIRROR", str(mirror))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError on any failing cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "data mirror:" in text and "(found)" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)
    # the notebook's CANs are the published ones: the same names and members as the build
    from canrank.builds import open_build

    work = Path(re.search(r"builds and outputs: (\S+)", text).group(1))
    mine = open_build(work / "lcc-2017-proxies", geometry=False)
    assert mine.can_members() == london_build.can_members()
    assert mine.cans["name"].tolist() == london_build.cans["name"].tolist()
    assert "measure how stable the published CANs are under the *greedy*" in "".join(
        "".join(c.source) for c in nb.cells
    )
