"""The house rules of DESIGN.md section 1, checked on the source: one `featureplex` namespace whose four
folders import only downward, stages and commands that do not import each other, TensorFlow only in
models and serving, and every package installed."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import REPO

LAYERS = ["features", "models", "serving", "pipelines"]  # each may import only itself and those before it


def imports(path: Path) -> list[str]:
    """The featureplex modules a file imports (anywhere in it, lazy imports included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return found


def sources(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


def test_layers_import_only_downward_and_features_only_itself():
    for position, layer in enumerate(LAYERS):
        allowed = {f"featureplex.{name}" for name in LAYERS[: position + 1]}
        for path in sources(layer):
            for module in imports(path):
                if module.startswith("featureplex."):
                    assert ".".join(module.split(".")[:2]) in allowed, f"{path.relative_to(REPO)} imports {module}"
                assert module.split(".")[0] not in LAYERS, f"{path.relative_to(REPO)}: `{module}` outside the namespace"


def test_no_stage_imports_another_and_no_command_imports_another():
    for kind, shared in (("stages", set()), ("cli", {"featureplex.pipelines.cli.options"})):
        for path in sources(f"pipelines/{kind}"):
            own = f"featureplex.pipelines.{kind}.{path.stem}"
            for module in imports(path):
                if module.startswith(f"featureplex.pipelines.{kind}.") and module not in shared:
                    assert module == own, f"{path.relative_to(REPO)} imports {module}"
            tree = ast.parse(path.read_text())
            names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                     and node.module == f"featureplex.pipelines.{kind}" for alias in node.names]
            assert kind != "cli" or names == [] or path.name == "__main__.py", f"{path.relative_to(REPO)} imports {names}"


def test_tensorflow_is_imported_only_by_models_and_serving():
    for layer in ("features", "pipelines"):
        for path in sources(layer):
            assert not [m for m in imports(path) if m.split(".")[0] in ("tensorflow", "tf_keras", "tensorflow_recommenders")], path


def test_every_package_folder_is_installed():
    packages = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {"featureplex." + ".".join(p.parent.relative_to(REPO).parts) for layer in LAYERS
               for p in (REPO / layer).rglob("__init__.py")}
    assert packages == folders


def test_the_namespace_imports_beside_a_users_own_models_package(tmp_path):
    """A user's project with its own `models` package: ours is featureplex.models, and Keras 2 is selected."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text("USERS = True\n")
    code = ("import models; assert models.USERS\n"
            "from featureplex.models.towers.dcn import DcnTower\n"
            "import tensorflow as tf\n"
            "assert tf.keras.__name__.startswith('tf_keras'), tf.keras.__name__\n"
            "print(DcnTower.__module__)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "featureplex.models.towers.dcn"
