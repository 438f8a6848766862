"""Build the API reference, HTML generated from the docstrings by pdoc: `make docs` writes docs/api/.

The four packages are documented whole, so a module added or moved is in the reference without a list
to keep up. The front page (api_templates/index.html.jinja2) lists the quickstart notebook's calls in
order, linked to their entries. A module that fails to import, or any pdoc warning (an annotation or a
docstring it cannot render), fails the build with one line each; tests/test_api_docs.py runs it.

    python docs/build_api.py [OUT]      # OUT defaults to docs/api
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

PACKAGES = ("featureplex.features", "featureplex.models", "featureplex.serving", "featureplex.pipelines")
TEMPLATES = Path(__file__).with_name("api_templates")


def build(out: Path, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """Write the reference of `packages` into `out`; the warnings pdoc raised, one line each (none: clean)."""
    # pdoc blocks subprocesses while it imports a module and warns; `platform.processor()` runs
    # `uname -p` when TensorFlow and Beam are imported, which is harmless.
    os.environ.setdefault("PDOC_ALLOW_EXEC", "1")
    import pdoc

    pdoc.render.configure(docformat="markdown", footer_text="featureplex API reference", template_directory=TEMPLATES)
    failure = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pdoc.pdoc(*packages, output_directory=out)
        except RuntimeError as error:  # pdoc's "Error importing <module>", the module's own error as cause
            failure.append(f"{error}: {type(error.__cause__).__name__}: {error.__cause__}")
    # Libraries' deprecation notices at import are theirs to fix; pdoc's own are User/RuntimeWarnings.
    return [
        f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}"
        for w in caught if issubclass(w.category, (UserWarning, RuntimeWarning))
    ] + failure


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else Path(__file__).with_name("api"))
    problems = build(out)
    for line in problems:
        print(f"warning: {line}", file=sys.stderr)
    if problems:
        print(f"error: the API reference in {out} built with {len(problems)} warning(s)", file=sys.stderr)
        return 1
    print(f"wrote {out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
