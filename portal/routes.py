"""URLs an app adds at the site's root (compute's /metrics), registered from its ready(), so
portal's URLconf names no app's views. Django loads the URLconf after every ready() has run."""

_patterns = []


def register(*patterns):
    _patterns.extend(patterns)


def patterns():
    return list(_patterns)
