"""Qt item models over service calls: the gallery (paged, keyset cursor), caption history, full images."""
