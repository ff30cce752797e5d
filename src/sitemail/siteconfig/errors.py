"""The one error the site configuration service raises: a save refused, with every problem."""

from __future__ import annotations

from collections.abc import Iterable


class SiteConfigError(Exception):
    """The configuration was not saved; `problems` lists every reason, each led by its path."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))
