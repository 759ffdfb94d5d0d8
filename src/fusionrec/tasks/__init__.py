"""Tasks that use what fusionrec learns: catalogue search, recommendations, sentiment."""
