"""Pieces of the UI shell that apps contribute to: dashboard cards."""

_cards = []


def register_card(build):
    """build(request) -> dict(title, value, detail, url) or None; one per app."""
    _cards.append(build)


def dashboard_cards(request):
    return [card for card in (build(request) for build in _cards) if card]
