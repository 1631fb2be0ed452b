"""The Link cell of the ports list and of a router's interfaces follows the ports' status
events: rows join `network.port.<pk>` and the page listens for the event status.py publishes."""

import pytest
from django.conf import settings

from network import services
from network.tasks import status
from portal import realtime


@pytest.fixture
def router(nb, alice, project_a, port, run_tasks):
    with run_tasks():
        router, _ = services.create_router(alice, project_a, name="edge")
    with run_tasks():
        services.add_interface(alice, router, port.network.subnets.get())
    return router


def live_row(page, port_pk):
    return f'data-port="{port_pk}" data-subscribe="network.port.{port_pk}"' in page


def test_the_ports_list_rows_follow_their_ports_status_events(browser, port):
    page = browser.get("/network/ports/").content.decode()
    assert live_row(page, port.pk)
    assert f'<td data-field="link">{port.get_status_display()}</td>' in page
    assert f'data-live-events="{status.PORT_EVENT}"' in page  # static/js/lists.js reads the rows again


def test_a_routers_interface_rows_follow_their_ports_too(browser, router):
    interface = router.interfaces.get()
    page = browser.get(f"/network/routers/{router.pk}/").content.decode()
    assert live_row(page, interface.port_id) and "js/live_ports.js" in page
    # The listener is a static file now (the Content-Security-Policy refuses inline scripts).
    listener = (settings.BASE_DIR / "static" / "js" / "live_ports.js").read_text()
    assert f'addEventListener("nubes:{status.PORT_EVENT}"' in listener


def test_other_lists_do_not_join_port_groups(browser, router):
    assert "network.port." not in browser.get("/network/routers/").content.decode()


def test_a_reader_may_join_the_groups_the_page_asks_for_and_an_outsider_may_not(port, bob, charlie):
    assert realtime.may_join(bob, f"network.port.{port.pk}")
    assert not realtime.may_join(charlie, f"network.port.{port.pk}")
