"""Newsletter tests reuse the alumni and event factories."""

from tests.alumni.conftest import actor_for, make_alumnus, make_course  # noqa: F401
from tests.events.conftest import make_event  # noqa: F401
