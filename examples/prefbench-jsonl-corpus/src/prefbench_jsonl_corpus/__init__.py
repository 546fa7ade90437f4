"""prefbench-jsonl-corpus: the `jsonl_articles` corpus, as a separate package.

Installing the package is all it takes: prefbench imports
`prefbench_jsonl_corpus.jsonl_articles` through the package's
`[project.entry-points.prefbench]` when it is asked for a corpus it does not know, or lists
its corpora.
"""
