"""The evaluation notebooks as committed: declared parameters, literals only, no outputs."""

from __future__ import annotations

import ast

import nbformat
import papermill
import pytest

from conftest import NOTEBOOK_PARAMETERS as EXPECTED
from conftest import read_notebook as _notebook
from workbench.evaluation.batches import NOTEBOOKS_DIR


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_declares_its_parameters(name):
    declared = papermill.inspect_notebook(str(NOTEBOOKS_DIR / f"{name}.ipynb"))
    assert list(declared) == EXPECTED[name]
    cell = next(c for c in _notebook(name).cells if "parameters" in c.metadata.get("tags", []))
    # Literals only: papermill appends overrides after this cell, so it must hold no logic.
    for statement in ast.parse(cell.source).body:
        assert isinstance(statement, ast.Assign), ast.dump(statement)
        ast.literal_eval(statement.value)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_is_committed_without_outputs(name):
    book = _notebook(name)
    nbformat.validate(book)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert code[0].metadata.get("tags") == ["parameters"]
    assert sum("parameters" in c.metadata.get("tags", []) for c in book.cells) == 1
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
        assert "import sqlite" not in cell.source and "SELECT " not in cell.source
