"""What the list-page tests share: a signed-in Django client and the ids of the rows a page shows."""

import re

from django.test import Client

DATA_ID = re.compile(r'<tr[^>]*data-id="(\d+)"')


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


def row_ids(client, url, pattern=DATA_ID):
    response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return {int(pk) for pk in pattern.findall(response.content.decode())}
