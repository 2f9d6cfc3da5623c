"""Paging a list whose total the page already knows."""

from django.core.paginator import Paginator
from django.utils.functional import cached_property


class CountedPaginator(Paginator):
    """A paginator told its total, for a page that has already counted the records (the expiry
    overview's counts per state, the fleet-health page's counts per code): the table does not
    count them a second time."""

    def __init__(self, object_list, per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self._known_count = count

    @cached_property
    def count(self) -> int:
        return self._known_count
