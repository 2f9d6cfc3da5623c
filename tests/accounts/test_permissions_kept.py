"""Each person's permissions kept in the cache between requests (``accounts.backends``, issue
24): read once, not per request, and taken away at once when their groups or their groups'
permissions change."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from certadmin.accounts.roles import MANAGE_FLEET, VIEW_CERTIFICATES

pytestmark = pytest.mark.django_db


@pytest.fixture
def kept(settings):
    settings.PERMISSIONS_CACHED = True


def _permission_queries(client, url: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        status = client.get(url).status_code
    table = Permission._meta.db_table
    return status, sum(table in query["sql"] for query in queries.captured_queries)


def test_a_persons_permissions_are_read_once_not_on_every_page(kept, client_for, viewer):
    client = client_for(viewer)
    assert _permission_queries(client, reverse("jobs:list")) == (200, 2)
    assert _permission_queries(client, reverse("jobs:list")) == (200, 0)
    assert _permission_queries(client, reverse("devices:expiry")) == (200, 0)


def test_without_a_shared_cache_every_request_reads_them(settings, client_for, viewer):
    settings.PERMISSIONS_CACHED = False
    client = client_for(viewer)
    for _ in range(2):
        assert _permission_queries(client, reverse("jobs:list")) == (200, 2)


def test_leaving_a_group_takes_its_permissions_away_at_once(kept, client_for, viewer):
    client = client_for(viewer)
    assert client.get(reverse("jobs:list")).status_code == 200
    viewer.groups.remove(Group.objects.get(name="Viewer"))
    assert client.get(reverse("jobs:list")).status_code == 403


def test_a_groups_permission_taken_away_is_gone_at_once(kept, client_for, viewer):
    client = client_for(viewer)
    assert client.get(reverse("jobs:list")).status_code == 200
    app_label, codename = VIEW_CERTIFICATES.split(".")
    Group.objects.get(name="Viewer").permissions.remove(
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
    )
    assert client.get(reverse("jobs:list")).status_code == 403


def test_a_group_deleted_takes_its_permissions_away(kept, client_for, make_user):
    person = make_user(None)
    group = Group.objects.create(name="Readers")
    app_label, codename = VIEW_CERTIFICATES.split(".")
    group.permissions.add(
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
    )
    person.groups.add(group)
    client = client_for(person)
    assert client.get(reverse("jobs:list")).status_code == 200
    group.delete()
    assert client.get(reverse("jobs:list")).status_code == 403


def test_a_permission_given_is_there_on_the_next_page(kept, client_for, viewer):
    client = client_for(viewer)
    assert client.get(reverse("notifications:routes")).status_code == 403
    viewer.groups.add(Group.objects.get(name="Fleet manager"))
    assert viewer.__class__.objects.get(pk=viewer.pk).has_perm(MANAGE_FLEET)
    assert client.get(reverse("notifications:routes")).status_code == 200


def test_a_superuser_made_an_ordinary_user_loses_every_permission(kept, client_for, superuser):
    client = client_for(superuser)
    assert client.get(reverse("notifications:routes")).status_code == 200
    # Saving a person sends no permission signal: whether they are a superuser is in the key.
    superuser.is_superuser = False
    superuser.save(update_fields=["is_superuser"])
    assert client.get(reverse("notifications:routes")).status_code == 403
