"""`python -m featureplex.pipelines.cli`: the `featureplex` command."""

from featureplex.pipelines.cli import main

main()
