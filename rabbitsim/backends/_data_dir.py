"""Where a simulated broker keeps its durable state: the directory given, or a temporary one
that goes with the handle."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class DataDir:
    path: Path
    temporary: bool

    @classmethod
    def given(cls, data_dir: str | os.PathLike[str] | None) -> DataDir:
        """`data_dir`, or a fresh temporary directory when it is None."""
        if data_dir is None:
            return cls(Path(tempfile.mkdtemp(prefix="rabbitsim-")), True)
        return cls(Path(data_dir), False)

    def remove_if_temporary(self) -> None:
        if self.temporary:
            shutil.rmtree(self.path, ignore_errors=True)
