"""Events at embassies: kinds, scheduling in local time, visibility, calendar files."""
