"""`shift study`: the SSAE paper's studies beyond Bias in Bios on a subdomain of the preset's world
or on hub datasets (data selection, Pareto curves, tail concepts, Tilted ERM), as cached stages.

The analyses themselves are generic (ssae.studies); this package chooses the runs, caches them as
stages (shift.cache) and writes the reports.
"""
