"""Event kinds: the shipped files, validation with one-line errors, and start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engage.errors import InvalidInput
from engage.events import kinds as kinds_module
from engage.events.kinds import (
    EventKind,
    KindError,
    KindTemplates,
    event_kinds,
    get_kind,
    install_kinds,
    load_kinds,
)
from engage.mail.render import template_names
from engage.resources import resource_dir
from engage.settings import load_settings

SHIPPED = load_kinds()
RECEPTION = (resource_dir("events") / "reception.toml").read_text(encoding="utf-8")


def test_the_shipped_kinds_load():
    assert set(SHIPPED) >= {"reception", "seminar", "course_reunion", "webinar"}
    for slug, kind in SHIPPED.items():
        assert kind.slug == slug
        assert kind.name
        assert kind.duration_minutes > 0


def test_reception_names_its_guests_and_has_a_dress_code():
    reception = SHIPPED["reception"]
    assert reception.guests_allowed >= 1
    assert reception.guests_named is True
    assert reception.dress_code
    assert reception.visibility == "invitation"
    assert {(r.before_minutes, r.to) for r in reception.reminders} == {
        (7 * 24 * 60, "unanswered"),
        (24 * 60, "coming"),
    }


def test_webinar_is_online_without_guests_or_dress_code():
    webinar = SHIPPED["webinar"]
    assert webinar.online is True
    assert webinar.guests_allowed == 0
    assert webinar.guests_named is False
    assert webinar.dress_code == ""
    assert (60, "coming") in {(r.before_minutes, r.to) for r in webinar.reminders}


def test_course_reunion_asks_for_the_class():
    questions = {q.id: q for q in SHIPPED["course_reunion"].questions}
    assert questions["class_year"].label == "Which class were you in?"
    assert questions["class_year"].required is True
    assert questions["course"].type == "choice"
    assert len(questions["course"].choices) >= 2


# Every template a shipped kind names must be a folder of emails/ with its three
# parts. The event emails (invitation, rsvp_confirmation, waitlist_promoted,
# event_reminder, event_changed, event_cancelled) are written alongside the kinds:
# this fails, naming the kind and the template, for as long as one of them is missing.
@pytest.mark.parametrize(
    ("slug", "role"),
    [(slug, role) for slug in sorted(SHIPPED) for role in KindTemplates.model_fields],
)
def test_every_kind_template_exists_in_emails(slug, role):
    name = getattr(SHIPPED[slug].templates, role)
    assert name in template_names(), f"events/{slug}.toml: templates.{role}: no emails/{name}/"
    folder = resource_dir("emails") / name
    for part in ("subject.txt", "body.txt", "body.html"):
        assert (folder / part).is_file(), f"emails/{name}/{part} is missing"


def test_templates_default_to_the_standard_names():
    assert KindTemplates().names() == [
        "invitation",
        "rsvp_confirmation",
        "waitlist_promoted",
        "event_reminder",
        "event_changed",
        "event_cancelled",
    ]


def _kind_dir(tmp_path: Path, text: str, name: str = "reception.toml") -> Path:
    folder = tmp_path / "kinds"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_a_minimal_kind_takes_the_defaults(tmp_path):
    folder = _kind_dir(tmp_path, 'name = "Briefing"\nduration_minutes = 45\n', "briefing.toml")
    kind = load_kinds(folder)["briefing"]
    assert kind == EventKind(slug="briefing", name="Briefing", duration_minutes=45)
    assert kind.capacity is None
    assert kind.questions == ()
    assert kind.templates.invitation == "invitation"


def test_reminder_offsets_become_minutes(tmp_path):
    text = (
        'name = "X"\nduration_minutes = 60\n'
        '[[reminders]]\ndays_before = 2\nto = "unanswered"\n'
        '[[reminders]]\nhours_before = 3\nto = "coming"\n'
    )
    kind = load_kinds(_kind_dir(tmp_path, text, "x.toml"))["x"]
    assert [(r.before_minutes, r.to) for r in kind.reminders] == [
        (2 * 24 * 60, "unanswered"),
        (3 * 60, "coming"),
    ]
    # What an event copies (model_dump) validates back to the same rules.
    assert EventKind.model_validate(kind.model_dump()) == kind


def _replace(old: str, new: str) -> str:
    assert old in RECEPTION, old
    return RECEPTION.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            _replace('type = "yes_no"', 'type = "number"'),
            "questions[1].type: Input should be 'text', 'choice' or 'yes_no'",
        ),
        (
            _replace("duration_minutes = 120", "duration_minutes ="),
            "invalid TOML: Invalid value (at line ",
        ),
        (
            _replace('id = "in_uniform"', 'id = "dietary"'),
            "questions: duplicate question id 'dietary'",
        ),
        (
            _replace('type = "yes_no"', 'type = "choice"'),
            "questions[1].choices: a choice question needs at least two choices",
        ),
        (
            _replace('type = "text"', 'type = "text"\nchoices = ["a", "b"]'),
            "questions[0].choices: only a question of type 'choice' has choices",
        ),
        (
            _replace('id = "in_uniform"', 'id = "in_uniform"\nhelp = "Say yes"'),
            "questions[1].help: unknown field",
        ),
        (_replace('name = "Reception"', 'title = "Reception"'), "name: required"),
        (_replace("guests_allowed = 1", "guest_allowed = 1"), "guest_allowed: unknown field"),
        (
            _replace("duration_minutes = 120", 'duration_minutes = "120"'),
            "duration_minutes: Input should be a valid integer",
        ),
        (_replace("capacity = 80", "capacity = 0"), "capacity: Input should be greater than 0"),
        (
            _replace("guests_named = true", 'guests_named = "yes"'),
            "guests_named: Input should be a valid boolean",
        ),
        (
            _replace("days_before = 7", "days_before = 7\nhours_before = 2"),
            "reminders[0]: give exactly one of days_before or hours_before",
        ),
        (
            _replace("days_before = 7", "days_before = 1.5"),
            "reminders[0]: days_before: must be a whole number",
        ),
        (
            _replace('to = "unanswered"', 'to = "everyone"'),
            "reminders[0].to: Input should be 'unanswered' or 'coming'",
        ),
        (
            _replace('days_before = 7\nto = "unanswered"', 'days_before = 1\nto = "coming"'),
            "reminders: the same reminder is given twice",
        ),
        (_replace("[templates]", '[templates]\nthanks = "thanks"'), "templates.thanks: unknown"),
        (
            _replace('invitation = "invitation"', 'invitation = "../secret"'),
            "templates.invitation: String should match pattern",
        ),
        ('slug = "party"\n' + RECEPTION, "slug: unknown field (the slug is the file name)"),
    ],
)
def test_a_bad_file_is_named_with_its_field_in_one_line(tmp_path, text, expected):
    folder = _kind_dir(tmp_path, text)
    with pytest.raises(KindError) as caught:
        load_kinds(folder)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{folder / 'reception.toml'}: "), message
    assert expected in message, message


def test_the_packaged_folder_is_named_as_events(monkeypatch, tmp_path):
    folder = _kind_dir(tmp_path, _replace('type = "yes_no"', 'type = "number"'))
    monkeypatch.setattr(kinds_module, "resource_dir", lambda name: folder)
    with pytest.raises(KindError) as caught:
        load_kinds()
    assert str(caught.value) == (
        "events/reception.toml: questions[1].type: Input should be 'text', 'choice' or 'yes_no'"
    )


def test_the_first_bad_file_in_name_order_is_reported(tmp_path):
    _kind_dir(tmp_path, "name = 1\nduration_minutes = 60\n", "b.toml")
    folder = _kind_dir(tmp_path, 'name = "A"\n', "a.toml")
    with pytest.raises(KindError, match=r"a\.toml: duration_minutes: required"):
        load_kinds(folder)


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda folder: None, "no such folder of event kinds"),
        (lambda folder: folder.mkdir(), "no event kind files (*.toml)"),
        (
            lambda folder: (folder.mkdir(), (folder / "Big Party.toml").write_text("")),
            "Big Party.toml: the file name must be lower-case letters, digits and _",
        ),
        (
            lambda folder: (folder.mkdir(), (folder / "x.toml").write_bytes(b"name = '\xff'")),
            "x.toml: not UTF-8 text",
        ),
    ],
)
def test_bad_folders_and_file_names(tmp_path, setup, expected):
    folder = tmp_path / "kinds"
    setup(folder)
    with pytest.raises(KindError) as caught:
        load_kinds(folder)
    assert expected in str(caught.value)


@pytest.fixture
def restore_kinds():
    yield
    kinds_module._installed = None


def test_installed_kinds_come_from_the_configured_folder(tmp_path, restore_kinds):
    folder = _kind_dir(tmp_path, 'name = "Briefing"\nduration_minutes = 45\n', "briefing.toml")
    settings = load_settings(environ={}, read_file=False, overrides={"app": {"events_dir": folder}})
    assert list(install_kinds(settings)) == ["briefing"]
    assert list(event_kinds()) == ["briefing"]
    assert get_kind("briefing").duration_minutes == 45
    with pytest.raises(InvalidInput) as caught:
        get_kind("reception")
    assert "kind" in caught.value.fields


def test_a_bad_folder_is_not_installed(tmp_path, restore_kinds):
    folder = _kind_dir(tmp_path, 'name = "Briefing"\n', "briefing.toml")
    settings = load_settings(environ={}, read_file=False, overrides={"app": {"events_dir": folder}})
    with pytest.raises(KindError):
        install_kinds(settings)
    assert set(event_kinds()) == set(SHIPPED)


def test_get_kind_refuses_an_unknown_slug(restore_kinds):
    assert get_kind("seminar") == SHIPPED["seminar"]
    with pytest.raises(InvalidInput) as caught:
        get_kind("garden_party")
    assert caught.value.fields["kind"] == "Unknown kind of event: garden_party."


def test_events_dir_setting_empty_means_the_packaged_folder(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text('[app]\nevents_dir = ""\n')
    assert load_settings(path, environ={}).app.events_dir is None
    env = {"ENGAGE_APP__EVENTS_DIR": str(tmp_path)}
    assert load_settings(path, environ=env).app.events_dir == tmp_path


def _run_engage(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("ENGAGE_")}
    return subprocess.run(
        [sys.executable, "-m", "engage", *args],
        cwd=tmp_path,
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("command", "extra"),
    [
        ("serve", ""),
        # A worker needs a relay and a secret; it checks the kinds before the database.
        (
            "worker",
            'secret_key = "0123456789abcdef0123456789abcdef"\n'
            '[smtp]\nhost = "smtp.example.org"\nport = 587\n',
        ),
    ],
)
def test_a_bad_kind_file_stops_start_up_with_one_line_and_status_2(tmp_path, command, extra):
    folder = _kind_dir(tmp_path, _replace('type = "yes_no"', 'type = "number"'))
    config = tmp_path / "settings.toml"
    config.write_text(
        f'[app]\nevents_dir = "{folder}"\nvar_dir = "{tmp_path / "var"}"\n{extra}',
        encoding="utf-8",
    )
    result = _run_engage(tmp_path, command, "--config", str(config))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"engage: {folder / 'reception.toml'}: questions[1].type: "
        "Input should be 'text', 'choice' or 'yes_no'"
    ]
    assert not (tmp_path / "var" / "engage.sqlite3").exists()  # stopped before the database
