"""Progress of long native calls as tqdm bars (``tqdm.auto``: a widget in notebooks, text in a
terminal)."""

from __future__ import annotations

import sys
from typing import Any, Callable, Optional, Union

ProgressArg = Union[bool, Callable[[str, Any], None], None]


class Bars:
    """Shows stages and notes as lines and each counted piece of work as a bar."""

    def __init__(self) -> None:
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self._bar = None

    def __call__(self, kind: str, payload: Any) -> None:
        if kind == "start":
            label, total = payload
            self._close()
            self._bar = self._tqdm(total=total, desc=label, unit="it", leave=False)
        elif kind == "advance":
            if self._bar is not None:
                self._bar.update(payload)
        elif kind == "finish":
            self._close()
        elif kind == "stage":
            self._write(f"» {payload}")
        elif kind == "note":
            self._write(f"  {payload}")
        elif kind == "epoch":
            e = payload
            self._write(
                f"  {e['model']} {e['step']} {e['index']}/{e['total']}: "
                f"{e['metric']} {e['value']:.4f}, loss {e['train_loss']:.4f} ({e['seconds']:.2f}s)"
            )

    def _write(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text)
        else:
            print(text, file=sys.stderr)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def reporter(progress: ProgressArg) -> Optional[Callable[[str, Any], None]]:
    """``True``: tqdm bars; a callable: called as ``progress(kind, payload)``; else nothing."""
    if progress is True:
        return Bars()
    if callable(progress):
        return progress
    return None
