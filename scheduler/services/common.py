"""What every scheduler service module shares."""


def actor(user):
    """The user to record on a row: None for the system (beat, automation) and anonymous."""
    return user if user is not None and user.is_authenticated else None
