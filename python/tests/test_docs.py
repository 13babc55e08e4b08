"""The README's Python quick start runs as written (on a smaller world)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_quick_start(tmp_path, monkeypatch, capsys):
    text = README.read_text()
    marker = text.index("<!-- quick-start")
    code = re.search(r"```python\n(.*?)```", text[marker:], re.S).group(1)
    assert "recommend_next" in code and "result.ab()" in code
    code = code.replace("tracks=20_000, users=4_000", "tracks=3_000, users=600")
    code = code.replace("episodes=20_000", "episodes=3_000")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README quick start", "exec"), {})
    out = capsys.readouterr().out
    assert "mean_time_per_session" in out
