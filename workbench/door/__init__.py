"""The rooms behind the ``Workbench`` door: one object per part of its surface.

``wb.conversations``, ``wb.imports``, ``wb.search``, ``wb.chat`` and ``wb.evals`` each get the
resources they need from the workbench that owns them, and own none themselves.
"""
