"""prefbench-length-judge: the `length_ratio` judge, as a separate package.

Installing the package is all it takes: prefbench imports `prefbench_length_judge.length_ratio`
through the package's `[project.entry-points.prefbench]` when a profile names a judge it does
not know, or when it lists its judges.
"""
