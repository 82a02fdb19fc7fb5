"""Streamlit pages over the Workbench API; ``app_streamlit.py`` wires them together.

Each page module has a ``render(wb, workspace, ...)`` function. Pages hold no SQL and no prompt
text: they call :class:`workbench.Workbench` (and :class:`workbench.chat.Chat`) only. Nothing
outside this package imports streamlit.
"""
