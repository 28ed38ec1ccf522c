"""The statute books: the index the server retrieves from, the prompt that carries the retrieved
articles, and the citation checks (numbers, names, flags) run on every grounded answer."""
