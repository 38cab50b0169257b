"""What the page, the API and the CLI say of how a moment matches the query: a member should know
whether the words they typed are there or only something like them. Its own module, importing
nothing, so that ``archive search`` can label a running server's answer without loading the
searcher's modules (385 ms of imports, against the 0.27 s such a search takes)."""

MATCH_LABELS = {
    "words": "says these words",
    "name": "named in the talk's details",
    "close": "says words close to these",
    "meaning": "similar in meaning",
}
