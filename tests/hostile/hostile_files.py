"""Files a hostile user would feed the importer, each with the problem its error line names.

They live in the package (``workbench bench hostile`` measures the same files).
"""

from workbench.bench.hostile import chatgpt, lying_zip, rejected_cases, write_json, zip_bomb

__all__ = ["chatgpt", "lying_zip", "rejected_cases", "write_json", "zip_bomb"]
