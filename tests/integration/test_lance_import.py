"""``import_lancedb`` leaves the REST namespace client's ``__init__`` unrun for a local folder,
and runs it the moment anything asks for one of its names. Each case runs in a fresh
interpreter, where the import state is what a one-shot command starts from."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json, sys
from workbench.search.lance_import import REST_CLIENT, import_lancedb

lancedb = import_lancedb()
table = lancedb.connect(sys.argv[1]).create_table(
    "t", [{"vector": [1.0, 0.0], "text": "a"}, {"vector": [0.0, 1.0], "text": "b"}])
found = table.search([0.9, 0.1]).limit(1).to_list()[0]["text"]
before = sorted(m for m in sys.modules if m.startswith(REST_CLIENT + "."))
client = sys.modules[REST_CLIENT].ApiClient  # a name the package's __init__ defines
after = sorted(m for m in sys.modules if m.startswith(REST_CLIENT + "."))
print(json.dumps({"found": found, "before": before, "after": after, "client": client.__name__}))
"""


def test_a_local_folder_works_without_the_rest_client_which_loads_when_asked(tmp_path: Path):
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "lancedb")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["found"] == "a"
    client = "lance_namespace_urllib3_client"
    # lance_namespace imports the models; the HTTP client and its API classes stay unloaded.
    assert f"{client}.models" in result["before"]
    assert not [m for m in result["before"] if m.startswith((f"{client}.api", f"{client}.rest"))]
    assert result["client"] == "ApiClient"
    assert {f"{client}.api_client", f"{client}.api.table_api"} <= set(result["after"])
