"""The SSAE paper's studies beyond Bias in Bios (Muhamed, Diab & Smith 2024, arXiv 2411.00743),
built from the generic layer alone: any model, any general SAE, any subdomain given as text.

One module per analysis:
- `data`: a subdomain as documents (seeds, validation, in- and out-of-distribution test) and the
  token positions of named concepts in them;
- `selection`: the training data of an SSAE under a token budget: the full corpus, the seed
  examples repeated, BM25, dense retrieval, either re-ranked by TracIn (Sec. 3.1.1);
- `pareto`: Pareto fronts of spliced perplexity against L0 and the area under them (Sec. 3.1.2);
- `stats`: one pass over a token dataset collecting per-token and per-feature statistics of
  several dictionaries at one submodule;
- `tail`: logit-lens coverage of a subdomain's token-frequency buckets, feature activation counts,
  activation-count ratios, and recall of known (planted) concepts (Sec. 3.2);
- `objective`: what Tilted ERM changes in an SAE: reconstruction error by token rank, decoder
  similarity, PCA dimension, activation entropy (the paper's TinyStories study);
- `boost`: a residual SAE trained on a frozen SAE's error, the two summed (arXiv 2507.12990);
- `plots`: the figures, as PNG.
"""
