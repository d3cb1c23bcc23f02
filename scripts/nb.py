"""Write a clean .ipynb from a percent-format script (``# %%`` code cells, ``# %% [markdown]``).

    python scripts/nb.py draft.py notebooks/02_text.ipynb

The cell tagged ``# %% tags=["parameters"]`` becomes papermill's parameters cell. Outputs are never
written: source notebooks stay clean; executed copies are DVC outputs under artifacts/.
"""
import re
import sys

import nbformat


def convert(text: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    blocks = re.split(r"^# %%(.*)$", text, flags=re.M)
    if blocks[0].strip():
        nb.cells.append(nbformat.v4.new_code_cell(blocks[0].strip()))
    for header, body in zip(blocks[1::2], blocks[2::2]):
        body = body.strip("\n")
        if "[markdown]" in header:
            lines = [re.sub(r"^# ?", "", ln) for ln in body.splitlines()]
            nb.cells.append(nbformat.v4.new_markdown_cell("\n".join(lines).strip()))
        else:
            cell = nbformat.v4.new_code_cell(body)
            if "parameters" in header:
                cell.metadata["tags"] = ["parameters"]
            nb.cells.append(cell)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    return nb


if __name__ == "__main__":
    src, dst = sys.argv[1], sys.argv[2]
    nbformat.write(convert(open(src, encoding="utf-8").read()), dst)
    print(dst)
